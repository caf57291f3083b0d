// `breakdown.mjs --perf LAYER`: perf record on both sides of one layer, and the share of CPU
// samples by part. Needs perf(1) and, for a non-root user, kernel.perf_event_paranoid <= 1 (see
// perf_event_open(2)); node runs with --perf-basic-prof so that JIT'd functions have names in
// /tmp/perf-PID.map.
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'

// Where a sample's symbol (or its DSO) belongs, first match wins.
const PARTS = [
  ['kernel', (dso) => dso === '[kernel.kallsyms]' || dso.startsWith('[kernel')],
  ['fdwire addon', (dso) => dso.endsWith('fdwire.node')],
  ['libuv', (dso, sym) => dso === 'node' && /^uv_|^uv__/.test(sym)],
  ['Node-API / node', (dso, sym) => dso === 'node' && /napi_|node::|v8impl/.test(sym)],
  ['V8 builtins', (dso, sym) => dso === 'node' && /^Builtins_/.test(sym)],
  ['V8 runtime / GC', (dso) => dso === 'node'],
  ['JIT JS', (dso) => dso.startsWith('[JIT]') || dso.startsWith('perf-') || dso.startsWith('/tmp/perf-')],
  ['libc', (dso) => /libc\.so|libc-/.test(dso)],
  ['other', () => true],
]

function summarize(file) {
  const report = spawnSync('perf', ['report', '-i', file, '--no-children', '--sort', 'dso,sym', '--stdio', '-g', 'none', '--percent-limit', '0'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  })
  const shares = new Map(PARTS.map(([name]) => [name, 0]))
  const top = []
  for (const line of report.stdout.split('\n')) {
    const match = /^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)$/.exec(line)
    if (!match) continue
    const [, percent, dso, sym] = match
    const part = PARTS.find(([, test]) => test(dso, sym.trim()))[0]
    shares.set(part, shares.get(part) + Number(percent))
    if (top.length < 12) top.push(`${Number(percent).toFixed(1)}% ${dso} ${sym.trim()}`)
  }
  return { shares, top }
}

export async function perfProfile({ layer, dir, startPeer, count, warmup }) {
  const files = { server: path.join(dir, 'perf-server.data'), client: path.join(dir, 'perf-client.data') }
  // startPeer runs `node peers.mjs ARGS` after this prefix; --perf-basic-prof reaches that node
  // through NODE_OPTIONS, which the children inherit.
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --perf-basic-prof`.trim()
  const record = (file) => ['perf', 'record', '-F', '4999', '-g', '-o', file, '--']
  const server = await startPeer(['server', layer, dir], record(files.server))
  const client = await startPeer(['client', layer, dir], record(files.client))
  const result = await client.ask(`run ${warmup} ${count}`)
  await client.stop()
  await server.stop()
  console.log(`\n### perf: ${layer}, ${count} round trips, p50 ${(result.p50 / 1000).toFixed(1)} µs (perf running)\n`)
  for (const side of ['client', 'server']) {
    const { shares, top } = summarize(files[side])
    const parts = [...shares].filter(([, p]) => p >= 0.5).map(([name, p]) => `${name} ${p.toFixed(1)}%`)
    console.log(`${side}: ${parts.join(', ')}`)
    for (const line of top) console.log(`    ${line}`)
    console.log()
  }
}
