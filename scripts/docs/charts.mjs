#!/usr/bin/env node
// Draws the README's charts and tables from bench/results/*.json (run `npm run bench` first): plain
// SVG, no dependencies, no hand edits. `npm run charts` rewrites docs/charts/*.svg and the README's
// benchmark section.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const results = (name) => JSON.parse(fs.readFileSync(path.join(root, 'bench', 'results', `${name}.json`), 'utf8'))
const out = path.join(root, 'docs', 'charts')
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#9c755f']
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const font = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"'

function frame(width, height, title, subtitle, body) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${font}>
<rect width="${width}" height="${height}" fill="#ffffff"/>
<text x="16" y="26" font-size="16" font-weight="600" fill="#222">${esc(title)}</text>
<text x="16" y="46" font-size="11" fill="#666">${esc(subtitle)}</text>
${body}
</svg>
`
}

/** Cumulative distribution of start-up times: one line per command. */
function startupChart() {
  const data = results('startup')
  const names = ['do-nothing static binary', 'rush -c exit', 'dash -c exit', 'bash -c exit', 'rush -c /bin/true', 'sh -c /bin/true']
  const series = names
    .filter((n) => data.distributions[n])
    .map((n) => ({ name: n, times: [...data.distributions[n]].sort((a, b) => a - b).map((s) => s * 1000) }))
  const W = 760,
    H = 420,
    left = 60,
    right = 220,
    top = 64,
    bottom = 52
  const xmax = Math.max(...series.map((s) => s.times[Math.floor(s.times.length * 0.95)]))
  const x = (ms) => left + (Math.min(ms, xmax) / xmax) * (W - left - right)
  const y = (q) => top + (1 - q) * (H - top - bottom)
  let body = ''
  for (let i = 0; i <= 5; i++) {
    const ms = (xmax * i) / 5
    body += `<line x1="${x(ms)}" y1="${top}" x2="${x(ms)}" y2="${H - bottom}" stroke="#eee"/>`
    body += `<text x="${x(ms)}" y="${H - bottom + 16}" font-size="11" text-anchor="middle" fill="#555">${ms.toFixed(2)}</text>`
  }
  for (const q of [0, 0.5, 0.9, 1]) {
    body += `<line x1="${left}" y1="${y(q)}" x2="${W - right}" y2="${y(q)}" stroke="${q === 0.5 || q === 0.9 ? '#ccc' : '#eee'}" ${q === 0.5 || q === 0.9 ? 'stroke-dasharray="4 3"' : ''}/>`
    body += `<text x="${left - 8}" y="${y(q) + 4}" font-size="11" text-anchor="end" fill="#555">${q === 0.5 ? 'p50' : q === 0.9 ? 'p90' : `${q * 100}%`}</text>`
  }
  body += `<text x="${(left + W - right) / 2}" y="${H - 14}" font-size="12" text-anchor="middle" fill="#333">milliseconds from exec to exit (hyperfine -N)</text>`
  series.forEach((s, i) => {
    const n = s.times.length
    const step = Math.max(1, Math.floor(n / 400))
    let d = ''
    for (let k = 0; k < n; k += step) d += `${k === 0 ? 'M' : 'L'}${x(s.times[k]).toFixed(1)},${y((k + 1) / n).toFixed(1)}`
    const width = s.name.startsWith('rush') ? 3 : 1.8
    body += `<path d="${d}" fill="none" stroke="${COLORS[i]}" stroke-width="${width}"/>`
    const p50 = s.times[Math.floor(n / 2)]
    body += `<rect x="${W - right + 16}" y="${top + i * 24}" width="14" height="4" fill="${COLORS[i]}" transform="translate(0,6)"/>`
    body += `<text x="${W - right + 36}" y="${top + i * 24 + 12}" font-size="12" fill="#222">${esc(s.name)}</text>`
    body += `<text x="${W - right + 36}" y="${top + i * 24 + 24}" font-size="10" fill="#666">p50 ${p50.toFixed(3)} ms</text>`
  })
  const env = data.env
  return frame(
    W,
    H,
    'rush start-up latency: cumulative distribution',
    `${data.runs} runs each, one hyperfine run; ${env.cpu}, ${env.cpus} cpus, node ${env.node}, ${env.date.slice(0, 10)}`,
    body,
  )
}

/** Round-trip latency (p50, p99) per system, with the baseline first. */
function roundtripChart() {
  const data = results('roundtrip')
  const rows = data.results
  const W = 760,
    rowH = 52,
    left = 210,
    right = 130,
    top = 70
  const H = top + rows.length * rowH + 40
  const xmax = Math.max(...rows.map((r) => r.p99)) / 1000
  const x = (us) => left + (us / xmax) * (W - left - right)
  let body = ''
  rows.forEach((r, i) => {
    const y0 = top + i * rowH
    body += `<text x="${left - 10}" y="${y0 + 18}" font-size="12" text-anchor="end" fill="#222">${esc(r.system)}</text>`
    body += `<rect x="${left}" y="${y0 + 6}" width="${x(r.p50 / 1000) - left}" height="16" fill="${COLORS[i]}"/>`
    body += `<text x="${x(r.p50 / 1000) + 6}" y="${y0 + 19}" font-size="11" fill="#222">p50 ${(r.p50 / 1000).toFixed(1)} µs (${(r.p50 / rows[0].p50).toFixed(2)}×)</text>`
    body += `<rect x="${left}" y="${y0 + 26}" width="${x(r.p99 / 1000) - left}" height="8" fill="${COLORS[i]}" opacity="0.45"/>`
    body += `<text x="${x(r.p99 / 1000) + 6}" y="${y0 + 34}" font-size="10" fill="#555">p99 ${(r.p99 / 1000).toFixed(1)} µs</text>`
  })
  const env = data.env
  return frame(
    W,
    H,
    'Round trip, one request in flight (lower is better)',
    `~1.4 KB request, server in another process; median of interleaved rounds; ${env.cpu}, ${env.cpus} cpus, ${env.date.slice(0, 10)}`,
    body,
  )
}

/** The README's benchmark tables, from the same results (between the bench markers). */
function readmeTables() {
  const parts = []
  const ratio = (x) => `${x.toFixed(2)}×`
  try {
    const st = results('startup')
    const by = st.startup
    const rows = Object.keys(by).map(
      (name) => `| ${name} | ${(by[name].p50 * 1000).toFixed(3)} | ${(by[name].p90 * 1000).toFixed(3)} | ${ratio(by[name].p50 / by['dash -c exit'].p50)} |`,
    )
    const warmed = st.daemonWarmup ? `, rushd warmed by ${st.daemonWarmup.toLocaleString('en-US')} requests first` : ''
    parts.push(
      `**rush start-up** (hyperfine -N, ${st.runs} runs each, one run${warmed}; ${st.env.date.slice(0, 10)}):\n\n| command | p50 ms | p90 ms | p50 vs dash -c exit |\n|---|---:|---:|---:|\n${rows.join('\n')}\n\n![rush start-up latency](docs/charts/startup.svg)`,
    )
    const l = st.ladder
    if (l) {
      const base = l['do-nothing static binary'].p50
      const rows = Object.keys(l).map(
        (name) =>
          `| ${name} | ${(l[name].p50 * 1000).toFixed(3)} | ${(l[name].p90 * 1000).toFixed(3)} | ${Math.round((l[name].p50 - base) * 1e6)} | ${ratio(l[name].p50 / l['dash -c exit'].p50)} | ${ratio(l[name].p50 / l['bash -c exit'].p50)} | ${ratio(l[name].p90 / l['do-nothing static binary'].p90)} |`,
      )
      parts.push(
        `**Where the time goes** (the same run, interleaved: \`bench/floor/interleave.c\` starts each command in turn, round after round, every daemon warmed alike). ` +
          `The floor daemons answer at once: in C (\`bench/floor/rushd-floor.c\`), in Node on the addon's handles alone, on fdwire's public \`listen()\` and \`Connection\` sending a canned reply, and on fdwire's public \`Server\` with a handler returning one (\`bench/floor/node-floor.mjs\`). ` +
          `They show the least a daemon of each kind cost on this machine.\n\n| command | p50 ms | p90 ms | p50 above do-nothing µs | p50 vs dash -c exit | p50 vs bash -c exit | p90 vs do-nothing |\n|---|---:|---:|---:|---:|---:|---:|\n${rows.join('\n')}`,
      )
    }
    if (st.goals) {
      const interleaved = st.goalsInterleaved
      const met = (value, limit) => (value <= limit ? 'yes' : 'no')
      const rows = st.goals.map(
        ({ goal, value, limit }, i) =>
          `| ${goal} | ${ratio(value)} (${met(value, limit)}) | ${interleaved ? `${ratio(interleaved[i].value)} (${met(interleaved[i].value, limit)})` : '—'} |`,
      )
      parts.push(`**The start-up goals**, from both runs above:\n\n| goal | hyperfine run | interleaved run |\n|---|---:|---:|\n${rows.join('\n')}`)
    }
  } catch (error) {
    console.error(`a README table left out: ${error.message}`)
  }
  try {
    const rt = results('roundtrip')
    const base = rt.results[0]
    const rows = rt.results.map(
      (r) =>
        `| ${r.system} | ${(r.p50 / 1000).toFixed(1)} | ${(r.p99 / 1000).toFixed(1)} | ${ratio(r.p50 / base.p50)} | ${r.throughput === null ? '—' : Math.round(r.throughput).toLocaleString('en-US')} | ${r.throughput === null ? '—' : ratio(r.throughput / base.throughput)} |`,
    )
    parts.push(
      `**Round trip** (~1.4 KB request, server in another process, median of interleaved rounds):\n\n| system | p50 µs | p99 µs | p50 vs net+JSON | msg/s pipelined | vs net+JSON |\n|---|---:|---:|---:|---:|---:|\n${rows.join('\n')}\n\n![round-trip latency](docs/charts/roundtrip.svg)`,
    )
  } catch (error) {
    console.error(`a README table left out: ${error.message}`)
  }
  try {
    const fp = results('fdpass')
    const share = (r) => (r.fdsSent ? `${((100 * r.fdsDelivered) / r.fdsSent).toFixed(1)}%` : '—')
    const rows = fp.results.map(
      (r) =>
        `| ${r.system} | ${r.fdsPerMessage} | ${Math.round(r.messagesPerSecond).toLocaleString('en-US')} | ${Math.round(r.fdsPerSecond).toLocaleString('en-US')} | ${share(r)} |`,
    )
    parts.push(
      `**fd passing** (pipelined, server in another process; "delivered" counts the fds the receiver actually got — usocket silently drops those past 64 per message):\n\n| system | fds/message | messages/s | fds delivered/s | delivered / sent |\n|---|---:|---:|---:|---:|\n${rows.join('\n')}`,
    )
  } catch (error) {
    console.error(`a README table left out: ${error.message}`)
  }
  try {
    const m = results('memory')
    const mb = (kb) => (kb / 1024).toFixed(1)
    const moments = [
      ['idle, right after start', m.start],
      [`right after ${m.concurrent} concurrent sessions`, m.burst],
      [`after ${m.sessions.toLocaleString('en-US')} sessions`, m.end],
      ['after the idle workers retired', m.rested],
    ]
    const rows = moments.map(
      ([moment, x]) => `| ${moment} | ${mb(x.daemon)} | ${x.workers.length} | ${mb(x.workers.reduce((a, b) => a + b, 0))} | ${mb(x.total)} |`,
    )
    parts.push(
      `**Memory of rushd** (resident set size, MB, of the daemon and its pool workers; an idle Node process measured in the same run: ${mb(m.idleNodeKb)} MB):\n\n| moment | daemon | workers | workers' RSS | all of rushd |\n|---|---:|---:|---:|---:|\n${rows.join('\n')}`,
    )
  } catch (error) {
    console.error(`a README table left out: ${error.message}`)
  }
  try {
    const se = results('serialize')
    const cell = (c) => (c ? `${c.ns} ns (${ratio(c.ratio)})` : '—')
    const rows = se.results.map((r) => `| ${r.name} | ${cell(r.cases.json)} | ${cell(r.cases.fb)} | ${cell(r.cases.msgpackr)} | ${cell(r.cases.protobufjs)} |`)
    parts.push(
      `**Serialize / deserialize** (median ns/op, ratio to JSON in the same run):\n\n| case | JSON | FlatBuffers | msgpackr | protobufjs |\n|---|---:|---:|---:|---:|\n${rows.join('\n')}`,
    )
  } catch (error) {
    console.error(`a README table left out: ${error.message}`)
  }
  return parts.join('\n\n')
}

function updateReadme() {
  const file = path.join(root, 'README.md')
  const readme = fs.readFileSync(file, 'utf8')
  const start = '<!-- bench:start -->'
  const end = '<!-- bench:end -->'
  const i = readme.indexOf(start)
  const j = readme.indexOf(end)
  if (i < 0 || j < i) return
  fs.writeFileSync(file, `${readme.slice(0, i + start.length)}\n${readmeTables()}\n${readme.slice(j)}`)
  console.log('updated the benchmark section of README.md')
}

fs.mkdirSync(out, { recursive: true })
for (const [file, draw] of [
  ['startup.svg', startupChart],
  ['roundtrip.svg', roundtripChart],
]) {
  try {
    fs.writeFileSync(path.join(out, file), draw())
    console.log(`wrote docs/charts/${file}`)
  } catch (error) {
    console.error(`charts: ${file}: ${error.message} (run npm run bench first)`)
    process.exitCode = 1
  }
}
updateReadme()
