// Where a round trip's time goes, layer by layer: the same ~1.4 KB request and small reply, one
// request in flight, client and server in separate processes, at each layer of fdwire from the
// C floor up to Server/Client, against Node's net + JSON lines in the same run. See
// docs/performance.md for what the numbers say.
//
//   node scripts/perf/breakdown.mjs [--rounds N] [--count N] [--layers a,b,...] [--no-strace]
//                                   [--in-flight N] [--perf LAYER] [--connections] [--instructions]
//                                   [--idle [--pauses US,...]]
//
// Timing: every layer's server and client stay up for the whole run; each round runs every layer
// once, in a rotated order (the machine is shared: only medians of interleaved rounds compare).
// CPU: each side's process.cpuUsage() (getrusage(2)) over the timed round trips, user and system.
// Syscalls: `strace -f -c` on both sides, for two runs of different length; the difference divided
// by the difference in round trips is the count per round trip, start-up cancelled out.
// --in-flight N: N requests outstanding at a time instead of one (a client that pipelines): the
// time column is then µs per message (elapsed / messages), CPU and syscalls per message, no C floor.
// --perf LAYER: `perf record -g` on both sides of one layer (node --perf-basic-prof, so JIT code
// has names) and the share of samples per part: kernel, V8, libuv, the addon, JIT'd JS, libc.
// --connections: instead, what a daemon spends per connection (connections.mjs), after --warmup
// connections (default 50: a daemon just started, whose per-connection code V8 has not optimized
// yet; some 5000 show it once optimized).
// --instructions: instead, the instructions a daemon executes per connection (instructions.mjs,
// under valgrind's callgrind), at each level and in rushd, after --warmup connections (default 3000);
// --only LEVEL,... picks levels (addon, connection, server, rushd), --top N lists each one's N
// costliest functions, JIT code by name; the lowest of --rounds (default 2) counts.
// --idle: instead, `rush -c exit` against those levels (idle.mjs) with the machine left idle
// --pauses µs,... (default 0,1000,3000) after each command, --count rounds (default 1000).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { perConnection, readStrace } from './connections.mjs'
import { idleCost } from './idle.mjs'
import { perConnectionInstructions } from './instructions.mjs'
import { perfProfile } from './perf-record.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')
const peers = path.join(here, 'peers.mjs')

// Each layer and the one it adds to (the difference between their rows is what the layer costs).
const LAYERS = [
  { name: 'addon', label: 'addon handles (native.Connection), raw', below: 'floor' },
  { name: 'connection', label: 'Connection, raw bytes', below: 'addon' },
  { name: 'json', label: 'Connection + JSON', below: 'connection' },
  { name: 'flatbuffers', label: 'Connection + FlatBuffers envelope', below: 'connection' },
  { name: 'server', label: 'Server + Client (canned handler)', below: 'connection' },
  { name: 'net-raw', label: 'net, raw bytes', below: 'floor' },
  { name: 'net-json', label: 'net + JSON lines (baseline)', below: 'floor' },
]

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string' },
    count: { type: 'string' },
    warmup: { type: 'string' },
    layers: { type: 'string' },
    'no-strace': { type: 'boolean', default: false },
    perf: { type: 'string' },
    connections: { type: 'boolean', default: false },
    instructions: { type: 'boolean', default: false },
    idle: { type: 'boolean', default: false },
    pauses: { type: 'string', default: '0,1000,3000' },
    only: { type: 'string' },
    top: { type: 'string', default: '0' },
    'in-flight': { type: 'string', default: '1' },
  },
})
const IN_FLIGHT = Number(options['in-flight'])
const ROUNDS = Number(options.rounds ?? 5)
const COUNT = Number(options.count ?? (options.instructions ? 2000 : 10000))
const WARMUP = Number(options.warmup ?? (options.instructions ? 3000 : options.connections ? 50 : 2000))
const layers = options.layers ? LAYERS.filter((l) => options.layers.split(',').includes(l.name)) : LAYERS
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-breakdown-'))
if (!process.env.FDWIRE_BREAKDOWN_KEEP) process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))

/** A child speaking line by line; resolves once it printed "ready". */
async function startPeer(args, prefix = []) {
  const [command, ...rest] = [...prefix, process.execPath, peers, ...args]
  const child = spawn(command, rest, { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = readline.createInterface({ input: child.stdout })
  const queue = []
  lines.on('line', (line) => queue.shift()?.(line))
  const next = () => new Promise((resolve) => queue.push(resolve))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const ready = await Promise.race([next(), exited.then((code) => `exited (${code})`)])
  if (ready !== 'ready') throw new Error(`peers.mjs ${args.join(' ')}: ${ready}`)
  return {
    ask: (line) => {
      const answer = next()
      child.stdin.write(`${line}\n`)
      return answer.then(JSON.parse)
    },
    next,
    stop: () => {
      child.stdin.end()
      return exited
    },
  }
}

/** bench/floor/pingpong.c compiled into `dir`, or undefined without a C compiler. */
function floorBinary() {
  const binary = path.join(dir, 'pingpong')
  try {
    execFileSync('cc', ['-O2', '-o', binary, path.join(root, 'bench', 'floor', 'pingpong.c')], { stdio: 'ignore' })
    return binary
  } catch {
    return undefined
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]

async function measureTimes(floor) {
  const running = []
  for (const layer of layers) {
    const server = await startPeer(['server', layer.name, dir])
    const client = await startPeer(['client', layer.name, dir])
    running.push({ layer, server, client, rounds: [] })
  }
  const floorRounds = []
  for (let round = 0; round < ROUNDS; round++) {
    if (floor) floorRounds.push(JSON.parse(execFileSync(floor, ['1387', '40', String(WARMUP), String(COUNT)], { encoding: 'utf8' })))
    for (let k = 0; k < running.length; k++) {
      const entry = running[(k + round) % running.length]
      const before = await entry.server.ask('cpu')
      const result = await entry.client.ask(`run ${WARMUP} ${COUNT} ${IN_FLIGHT}`)
      const after = await entry.server.ask('cpu')
      // The server's CPU over the client's warm-up and timed runs, per round trip.
      const n = WARMUP + COUNT
      result.serverUser = (after.user - before.user) / n
      result.serverSystem = (after.system - before.system) / n
      entry.rounds.push(result)
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`)
  }
  for (const entry of running) await Promise.all([entry.client.stop(), entry.server.stop()])
  const times = new Map()
  if (floorRounds.length > 0) times.set('floor', { p50: median(floorRounds.map((r) => r.p50)) })
  for (const { layer, rounds } of running) {
    const pick = (key) => median(rounds.map((r) => r[key]))
    times.set(layer.name, {
      p50: pick('p50'),
      p90: pick('p90'),
      clientUser: pick('user'),
      clientSystem: pick('system'),
      serverUser: pick('serverUser'),
      serverSystem: pick('serverSystem'),
    })
  }
  return times
}

const strace = (file) => ['strace', '-f', '-c', '-U', 'name,calls', '-o', file]

/** Syscalls of both sides (client + server) over `count` round trips of `layer`, start-up included. */
async function traceRun(layer, count) {
  const serverFile = path.join(dir, `strace-${layer}-${count}-server`)
  const clientFile = path.join(dir, `strace-${layer}-${count}-client`)
  if (layer === 'floor') {
    execFileSync(strace(clientFile)[0], [...strace(clientFile).slice(1), path.join(dir, 'pingpong'), '1387', '40', '0', String(count)])
    return { client: readStrace(clientFile), server: new Map() }
  }
  const runDir = fs.mkdtempSync(path.join(dir, 'run-')) // a fresh socket path for each run
  const server = await startPeer(['server', layer, runDir], strace(serverFile))
  const [command, ...args] = [...strace(clientFile), process.execPath, peers, 'client', layer, runDir, '0', String(count), String(IN_FLIGHT)]
  const client = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] })
  await server.stop()
  if (client.status !== 0) throw new Error(`peers.mjs client ${layer} under strace: exit ${client.status}`)
  return { client: readStrace(clientFile), server: readStrace(serverFile) }
}

// What the syscall table shows in its own columns; everything else is "other".
const SYSCALL_GROUPS = [
  ['recv', ['recvmsg', 'recvfrom', 'read', 'readv']],
  ['send', ['sendmsg', 'sendto', 'write', 'writev']],
  ['epoll_wait', ['epoll_wait', 'epoll_pwait', 'epoll_pwait2']],
  ['epoll_ctl', ['epoll_ctl']],
]

async function measureSyscalls(names) {
  const N1 = 1000
  const N2 = 3000
  const perTrip = new Map()
  for (const name of names) {
    const [a, b] = [await traceRun(name, N1), await traceRun(name, N2)]
    const sides = {}
    for (const side of ['client', 'server']) {
      const diff = new Map()
      for (const [call, count] of b[side]) {
        const d = (count - (a[side].get(call) ?? 0)) / (N2 - N1)
        if (d >= 0.05) diff.set(call, d)
      }
      sides[side] = diff
    }
    perTrip.set(name, sides)
  }
  return perTrip
}

function grouped(calls) {
  const out = { total: 0, other: 0, otherNames: [] }
  for (const [group] of SYSCALL_GROUPS) out[group] = 0
  for (const [call, n] of calls) {
    out.total += n
    const group = SYSCALL_GROUPS.find(([, members]) => members.includes(call))
    if (group) out[group[0]] += n
    else {
      out.other += n
      out.otherNames.push(`${call} ${n.toFixed(1)}`)
    }
  }
  return out
}

function table(columns, rows) {
  const cells = [columns, ...rows].map((row) => row.map(String))
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)))
  const line = (row) => `| ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`
  console.log(line(cells[0]))
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`)
  for (const row of cells.slice(1)) console.log(line(row))
  console.log()
}

const us = (ns) => (ns / 1000).toFixed(1)
const f1 = (x) => (x === undefined ? '—' : x.toFixed(1))

if (options.perf) {
  await perfProfile({ layer: options.perf, dir, startPeer, count: COUNT, warmup: WARMUP })
  process.exit(0)
}

if (options.instructions) {
  await perConnectionInstructions({
    root,
    dir,
    count: COUNT,
    warmup: WARMUP,
    table,
    only: options.only?.split(','),
    top: Number(options.top),
    rounds: Number(options.rounds ?? 2),
  })
  process.exit(0)
}

if (options.idle) {
  await idleCost({
    root,
    dir,
    pauses: options.pauses.split(',').map(Number),
    runs: Number(options.count ?? 1000),
    warmup: Number(options.warmup ?? 3000),
    table,
  })
  process.exit(0)
}

if (options.connections) {
  await perConnection({ root, dir, count: COUNT, warmup: WARMUP, table })
  process.exit(0)
}

const floor = IN_FLIGHT === 1 ? floorBinary() : undefined // the C floor has one request in flight
const times = await measureTimes(floor)
const base = times.get('net-json')
const env = `node ${process.version}, ${new Date().toISOString()}, ${os.cpus()[0]?.model} (${os.cpus().length} cpus), ${os.platform()} ${os.release()}, load ${os.loadavg()[0].toFixed(1)}`
const pipelining = IN_FLIGHT > 1
console.log(`\n### Per ${pipelining ? `message, ${IN_FLIGHT} in flight` : 'round trip'}, by layer (${env})\n`)
console.log(
  `${COUNT} timed ${pipelining ? 'messages' : 'round trips'} after ${WARMUP} warm-up, median of ${ROUNDS} interleaved rounds. CPU: µs per ${pipelining ? 'message' : 'round trip'}, user+system (system in brackets).\n`,
)
const rows = []
if (times.has('floor'))
  rows.push(['floor: C, blocking read/write', us(times.get('floor').p50), base ? (times.get('floor').p50 / base.p50).toFixed(2) : '—', '—', '—', '—'])
for (const layer of layers) {
  const t = times.get(layer.name)
  const below = times.get(layer.below)
  rows.push([
    layer.label,
    us(t.p50),
    base ? (t.p50 / base.p50).toFixed(2) : '—',
    below ? `${us(t.p50 - below.p50)} over ${layer.below}` : '—',
    `${f1(t.clientUser + t.clientSystem)} (${f1(t.clientSystem)})`,
    `${f1(t.serverUser + t.serverSystem)} (${f1(t.serverSystem)})`,
  ])
}
table(['layer', pipelining ? 'µs per message' : 'p50 µs', 'vs net+JSON', 'layer adds µs', 'client CPU µs', 'server CPU µs'], rows)

if (!options['no-strace'] && spawnSync('strace', ['-V']).status === 0) {
  const names = [...(floor ? ['floor'] : []), ...layers.map((l) => l.name)]
  const perTrip = await measureSyscalls(names)
  console.log(`### Syscalls per ${pipelining ? 'message' : 'round trip'} (client + server), strace -f -c, difference of two run lengths\n`)
  const syscallRows = []
  for (const name of names) {
    const { client, server } = perTrip.get(name)
    const c = grouped(client)
    const s = grouped(server)
    const both = (key) => `${f1(c[key] + s[key])} (${f1(c[key])}+${f1(s[key])})`
    syscallRows.push([
      name,
      both('total'),
      both('recv'),
      both('send'),
      both('epoll_wait'),
      both('epoll_ctl'),
      [...c.otherNames.map((n) => `c:${n}`), ...s.otherNames.map((n) => `s:${n}`)].join(', ') || '—',
    ])
  }
  table(['layer', 'total (client+server)', 'recvmsg/read', 'sendmsg/write', 'epoll_wait', 'epoll_ctl', 'other'], syscallRows)
}
