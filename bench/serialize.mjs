// Serialize/deserialize microbenchmark: FlatBuffers (our encoders and views) vs JSON vs msgpackr
// vs protobufjs, in the same run. The machine is shared and noisy, so the systems of a case are
// interleaved: each round runs every system once (in a rotating order) for ~BENCH_ROUND_MS; the
// rounds of a case are spread over BENCH_PASSES passes over all cases; and
// we report the median ns/op across rounds and the median across rounds of the per-round ratio to
// JSON (a slow patch of the machine hits both sides of a ratio). Encoded sizes too.
// Run `npx tsc -p tsconfig.json` first (imports the compiled protocol layer from dist/).
// Writes bench/results/serialize.json.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Packr } from 'msgpackr'
import protobuf from 'protobufjs'
import { Encoder, StringCache, readEnvelope, rush } from '../dist/protocol/index.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 45)
const PASSES = Number(process.env.BENCH_PASSES ?? 5)
const ROUND_NS = Number(process.env.BENCH_ROUND_MS ?? 2) * 1e6

// --- inputs ---------------------------------------------------------------------------------
const env = []
const typical = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'HOME=/home/builder',
  'LANG=C.UTF-8',
  'SHELL=/bin/bash',
  'USER=builder',
  'TERM=xterm-256color',
  'PWD=/home/builder/src/project',
  'EDITOR=vim',
  'LOGNAME=builder',
  'MAKEFLAGS=-j2',
]
for (let i = 0; i < 30; i++) env.push(typical[i] ?? `VAR_${i}=/opt/tool-${i}/share/value-${i}`)
const exec = {
  argv: ['make', '-C', 'build', '-j2', 'all'],
  cwd: '/home/builder/src/project',
  env,
  umask: 0o022,
  fdRoles: [1, 2],
}
const ID = 12345
const errorInfo = { code: 'ENOENT', message: 'spawn make: no such file or directory' }

// --- codecs -----------------------------------------------------------------------------------
const encoder = new Encoder()
const cache = new StringCache()
const fbEncodeRequest = () => encoder.request(ID, 'rush.exec', rush.encodeExecRequest(exec, cache))
const fbEncodeOk = () => encoder.response(ID, { body: rush.encodeResult(0, 0) })
const fbEncodeErr = () => encoder.response(ID, { error: errorInfo })

const jsonRequest = { id: ID, method: 'rush.exec', body: exec }
const jsonOk = { id: ID, status: 0, body: { status: 0, signal: 0 } }
const jsonErr = { id: ID, status: 1, error: errorInfo }
// Received payloads are bytes, so JSON and the others decode from a Buffer (JSON via toString).
const jsonEncode = (v) => Buffer.from(JSON.stringify(v))
const jsonDecode = (b) => JSON.parse(b.toString())

const packr = new Packr({ useRecords: false })

const root = protobuf.parse(`
syntax = "proto3";
message Exec { repeated string argv = 1; string cwd = 2; repeated string env = 3; uint32 umask = 4; uint32 stdin_mode = 5; repeated uint32 fd_roles = 6; }
message Result { int32 status = 1; int32 signal = 2; }
message Error { string code = 1; string message = 2; }
message Request { uint32 id = 1; string method = 2; Exec body = 3; }
message Response { uint32 id = 1; uint32 status = 2; Error error = 3; Result body = 4; }
`).root
const PbRequest = root.lookupType('Request')
const PbResponse = root.lookupType('Response')
const pbReq = PbRequest.fromObject({ id: ID, method: 'rush.exec', body: { ...exec, stdin_mode: 0, fd_roles: exec.fdRoles } })
const pbOk = PbResponse.fromObject({ id: ID, status: 0, body: { status: 0, signal: 0 } })
const pbErr = PbResponse.fromObject({ id: ID, status: 1, error: errorInfo })

// Decoding inputs: owned copies placed at an odd offset, like a transport receive buffer.
function received(bytes) {
  const big = Buffer.alloc(bytes.length + 16)
  big.set(bytes, 5)
  return big.subarray(5, 5 + bytes.length)
}
const wire = {
  fb: { req: received(fbEncodeRequest()), ok: received(fbEncodeOk()), err: received(fbEncodeErr()) },
  json: { req: received(jsonEncode(jsonRequest)), ok: received(jsonEncode(jsonOk)), err: received(jsonEncode(jsonErr)) },
  msgpackr: { req: received(packr.pack(jsonRequest)), ok: received(packr.pack(jsonOk)), err: received(packr.pack(jsonErr)) },
  protobufjs: {
    req: received(PbRequest.encode(pbReq).finish()),
    ok: received(PbResponse.encode(pbOk).finish()),
    err: received(PbResponse.encode(pbErr).finish()),
  },
}

let sink = 0
const fbRoute = (b) => {
  const m = readEnvelope(b)
  sink += m.kind === 'request' ? m.id + m.method.length : 1
}
const fbRequestAll = (b) => {
  const m = readEnvelope(b)
  if (m.kind !== 'request') throw new Error('not a request')
  const x = rush.readExecRequest(m.body)
  sink += m.id + m.method.length + x.argv.length + x.cwd.length + x.env.length + x.umask + x.fdRoles.length
}
const fbResponseAll = (b) => {
  const m = readEnvelope(b)
  if (m.kind !== 'response') throw new Error('not a response')
  if (m.ok) {
    const r = rush.readExecReply(m.body)
    sink += m.id + (r.kind === 'result' ? r.status + r.signal : 0)
  } else {
    const e = m.error
    sink += m.id + e.code.length + e.message.length
  }
}

// --- harness ----------------------------------------------------------------------------------
// One timing loop per case, compiled from its own source text so that V8 keeps separate feedback
// for each: a shared `for (...) fn()` loop sees every case's function, and which of them its
// optimized code inlines then depends on timing, making a whole process 2-5x slow on some case.
const loopFor = () => new Function('fn', 'n', 'for (let i = 0; i < n; i++) fn()')

/** Iterations of `fn` that take about ROUND_NS. */
function calibrate(fn, loop) {
  let n = 16
  for (;;) {
    const t0 = process.hrtime.bigint()
    loop(fn, n)
    const dt = Number(process.hrtime.bigint() - t0)
    if (dt > ROUND_NS / 4) return Math.max(1, Math.round((n * ROUND_NS) / dt))
    n *= 4
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/**
 * Measures the cases of one group interleaved: each call runs `rounds` rounds, each running every
 * case once in a rotating order, and appends to `state` (created on the first call: iterations
 * per case, samples). Calling it again later spreads a group's rounds over the whole run, so a
 * burst of load from other processes hits only some of them.
 */
function measureRounds(cases, rounds, state) {
  const names = Object.keys(cases)
  if (state === undefined) {
    const loops = Object.fromEntries(names.map((k) => [k, loopFor()]))
    state = { loops, iters: Object.fromEntries(names.map((k) => [k, calibrate(cases[k], loops[k])])), samples: Object.fromEntries(names.map((k) => [k, []])) }
  }
  for (let r = 0; r < rounds; r++) {
    const first = state.samples[names[0]].length
    for (let j = 0; j < names.length; j++) {
      const k = names[(first + j) % names.length]
      const fn = cases[k]
      const n = state.iters[k]
      const loop = state.loops[k]
      const t0 = process.hrtime.bigint()
      loop(fn, n)
      state.samples[k].push(Number(process.hrtime.bigint() - t0) / n)
    }
  }
  return state
}

/** Per case: the median ns/op and the median of its per-round ratio to case `base`. */
function summarize(state, base) {
  const s = state.samples
  return Object.fromEntries(Object.keys(s).map((k) => [k, { ns: median(s[k]), ratio: median(s[k].map((x, r) => x / s[base][r])) }]))
}

const groups = [
  {
    name: 'Request encode (rush exec, 30 env)',
    size: (f) => wire[f].req.length,
    cases: {
      json: () => jsonEncode(jsonRequest),
      fb: fbEncodeRequest,
      msgpackr: () => packr.pack(jsonRequest),
      protobufjs: () => PbRequest.encode(pbReq).finish(),
    },
  },
  {
    name: 'Request decode: routing fields (kind, id, method)',
    size: (f) => wire[f].req.length,
    cases: { json: () => jsonDecode(wire.json.req), fb: () => fbRoute(wire.fb.req) },
  },
  {
    name: 'Request decode: every field',
    size: (f) => wire[f].req.length,
    cases: {
      json: () => jsonDecode(wire.json.req),
      fb: () => fbRequestAll(wire.fb.req),
      msgpackr: () => packr.unpack(wire.msgpackr.req),
      protobufjs: () => PbRequest.decode(wire.protobufjs.req),
    },
  },
  ...['ok', 'err'].flatMap((k) => [
    {
      name: `Response (${k === 'ok' ? 'ok + Result' : 'error'}) encode`,
      size: (f) => wire[f][k].length,
      cases: {
        json: () => jsonEncode(k === 'ok' ? jsonOk : jsonErr),
        fb: k === 'ok' ? fbEncodeOk : fbEncodeErr,
        msgpackr: () => packr.pack(k === 'ok' ? jsonOk : jsonErr),
        protobufjs: () => PbResponse.encode(k === 'ok' ? pbOk : pbErr).finish(),
      },
    },
    {
      name: `Response (${k === 'ok' ? 'ok + Result' : 'error'}) decode, every field`,
      size: (f) => wire[f][k].length,
      cases: {
        json: () => jsonDecode(wire.json[k]),
        fb: () => fbResponseAll(wire.fb[k]),
        msgpackr: () => packr.unpack(wire.msgpackr[k]),
        protobufjs: () => PbResponse.decode(wire.protobufjs[k]),
      },
    },
  ]),
]

// Byte payload decode should be O(1) in the payload size: the body is a view, never copied.
const small = received(encoder.streamItem(1, 0, Buffer.alloc(64, 1)))
const large = received(encoder.streamItem(1, 0, Buffer.alloc(1 << 20, 1)))
const bodyLen = (b) => {
  const m = readEnvelope(b)
  sink += m.kind === 'streamItem' ? m.body.length : 0
}

const t0 = Date.now()
// Each measurement runs in BENCH_PROCESSES fresh child processes, one after the other, and the
// report takes the median across them of every cell: on a shared machine a whole process now and
// then runs one case 3-5x slower for its whole life (JIT or scheduling luck), which rounds within
// that process cannot see.
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 3)
const child = process.env.BENCH_CHILD === '1'
let results
let bytes
if (!child) {
  const runs = []
  for (let i = 0; i < PROCESSES; i++) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_CHILD: '1' }, encoding: 'utf8', maxBuffer: 1 << 24 })
    if (r.status !== 0) throw new Error(`bench child failed: ${r.stderr}`)
    runs.push(JSON.parse(r.stdout))
  }
  results = runs[0].results.map((row, i) => ({
    name: row.name,
    cases: Object.fromEntries(
      Object.keys(row.cases).map((f) => {
        const cells = runs.map((run) => run.results[i].cases[f])
        return [
          f,
          {
            ns: Math.round(median(cells.map((c) => c.ns))),
            ratio: +median(cells.map((c) => c.ratio)).toFixed(3),
            bytes: row.cases[f].bytes,
            perProcessRatios: cells.map((c) => c.ratio),
          },
        ]
      }),
    ),
  }))
  bytes = {
    small: Math.round(median(runs.map((r) => r.bytes.small))),
    large: Math.round(median(runs.map((r) => r.bytes.large))),
    ratio: +median(runs.map((r) => r.bytes.ratio)).toFixed(3),
    perProcessRatios: runs.map((r) => r.bytes.ratio),
  }
} else {
  for (const g of groups) for (const fn of Object.values(g.cases)) for (let i = 0; i < 2000; i++) fn() // warm up
  const bodyCases = { small: () => bodyLen(small), large: () => bodyLen(large) }
  for (let i = 0; i < 2000; i++) {
    bodyLen(small)
    bodyLen(large)
  }
  // One discarded pass first, so that every function has seen every call pattern (and been
  // re-optimized after any deopt) before timing starts; then PASSES passes over every group,
  // ROUNDS / PASSES rounds each time.
  const warm = new Map()
  for (const g of [...groups, { cases: bodyCases }]) warm.set(g, measureRounds(g.cases, 3, warm.get(g)))
  const states = new Map()
  const perPass = Math.max(1, Math.round(ROUNDS / PASSES))
  for (let p = 0; p < PASSES; p++) {
    for (const g of groups) states.set(g, measureRounds(g.cases, perPass, states.get(g)))
    states.set(bodyCases, measureRounds(bodyCases, perPass, states.get(bodyCases)))
  }
  results = []
  for (const g of groups) {
    const row = { name: g.name, cases: {} }
    const m = summarize(states.get(g), 'json')
    for (const format of Object.keys(g.cases)) {
      row.cases[format] = { ns: Math.round(m[format].ns), ratio: +m[format].ratio.toFixed(3), bytes: g.size(format) }
    }
    results.push(row)
  }
  const mb = summarize(states.get(bodyCases), 'small')
  bytes = { small: Math.round(mb.small.ns), large: Math.round(mb.large.ns), ratio: +mb.large.ratio.toFixed(3) }
  process.stdout.write(JSON.stringify({ results, bytes }))
  process.exit(0)
}

// --- report -----------------------------------------------------------------------------------
const formats = ['json', 'fb', 'msgpackr', 'protobufjs']
const lines = [
  `| case | ${formats.map((f) => `${f} ns/op (×JSON)`).join(' | ')} | sizes B (${formats.join('/')}) |`,
  `|---|${formats.map(() => '---:').join('|')}|---|`,
]
for (const r of results) {
  const cells = formats.map((f) => (r.cases[f] ? `${r.cases[f].ns} (${r.cases[f].ratio.toFixed(2)}×)` : '—'))
  lines.push(`| ${r.name} | ${cells.join(' | ')} | ${formats.map((f) => (r.cases[f] ? r.cases[f].bytes : '—')).join('/')} |`)
}
lines.push(
  '',
  `StreamItem body decode (verify + view): 64 B body ${bytes.small} ns/op, 1 MiB body ${bytes.large} ns/op (median per-round ratio ${bytes.ratio.toFixed(2)}).`,
)

const cell = (g, f = 'fb') => results.find((r) => r.name.startsWith(g)).cases[f]
const ratio = (g) => cell(g).ratio
const perProcess = (g) => cell(g).perProcessRatios
const goals = [
  ['routing fields ≤ 0.1× JSON', ratio('Request decode: routing'), 0.1],
  ['Request encode ≤ 1.5× JSON', ratio('Request encode'), 1.5],
  ['Response ok encode ≤ 1.0× JSON', ratio('Response (ok + Result) encode'), 1.0],
  ['Response ok decode ≤ 1.0× JSON', ratio('Response (ok + Result) decode'), 1.0],
  ['Response error encode ≤ 1.0× JSON', ratio('Response (error) encode'), 1.0],
  ['Response error decode ≤ 1.0× JSON', ratio('Response (error) decode'), 1.0],
  ['byte payload decode O(1) (1 MiB / 64 B ≤ 2)', bytes.ratio, 2],
].map(([goal, value, limit], i) => ({
  goal,
  value,
  perProcess:
    i === 6
      ? bytes.perProcessRatios
      : perProcess(
          [
            'Request decode: routing',
            'Request encode',
            'Response (ok + Result) encode',
            'Response (ok + Result) decode',
            'Response (error) encode',
            'Response (error) decode',
          ][i],
        ),
  met: value <= limit,
}))
lines.push(
  '',
  '| goal | measured (median) | per process | met |',
  '|---|---:|---|---|',
  ...goals.map((g) => `| ${g.goal} | ${g.value} | ${g.perProcess ? g.perProcess.join(', ') : '—'} | ${g.met ? 'yes' : 'NO'} |`),
)
console.log(lines.join('\n'))
console.log(
  `\n(${PROCESSES} processes × ${Math.max(1, Math.round(ROUNDS / PASSES)) * PASSES} interleaved rounds of ~${ROUND_NS / 1e6} ms per case in ${PASSES} passes; medians across processes of medians; ratios are medians of per-round ratios; node ${process.version}; ${((Date.now() - t0) / 1000).toFixed(1)} s; sink ${sink % 7})`,
)

const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'serialize.json')
mkdirSync(dirname(out), { recursive: true })
writeFileSync(
  out,
  `${JSON.stringify(
    {
      node: process.version,
      date: new Date().toISOString(),
      processes: PROCESSES,
      rounds: Math.max(1, Math.round(ROUNDS / PASSES)) * PASSES,
      passes: PASSES,
      roundMs: ROUND_NS / 1e6,
      method: 'median across processes of: interleaved rounds spread over passes; median ns/op; median of per-round ratio to JSON',
      results,
      byteBody: bytes,
      goals,
    },
    null,
    2,
  )}\n`,
)
