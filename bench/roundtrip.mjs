// Round-trip latency (one request in flight) and pipelined throughput of a ~1.4 KB request and a
// small reply: fdwire against Node `net` with JSON lines, server in a child process.
import { execFileSync } from 'node:child_process'
import * as net from 'node:net'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect, protocol } from '../dist/index.js'
import * as rush from '../dist/rush/protocol/messages.js'
import { environment, fmt, median, printHeader, printTable, quantile, startServer, tempDir, writeResults } from './lib/common.mjs'
import { loadUsocket } from './lib/peers.mjs'
import { makeRequest } from './lib/request.mjs'
import { MESSAGE_FLATBUFFERS, MESSAGE_JSON, MESSAGE_RAW } from './lib/roundtrip-protocol.mjs'

// The machine is shared and noisy: each system runs in several rounds, interleaved with the
// others, and the table shows the median over rounds.
const ROUNDS = 5
const WARMUP = 2_000
const ROUND_TRIPS = 20_000
const PIPELINE_MESSAGES = 50_000
const IN_FLIGHT = 64

const now = process.hrtime.bigint

/** Each system: send(id) sends one request; replies go to onReply(id). */
async function netJsonLines(socketPath) {
  const socket = net.connect(socketPath)
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.setEncoding('utf8')
  const system = {
    name: 'net + JSON lines',
    onReply: null,
    send: (id) => socket.write(`${JSON.stringify(makeRequest(id))}\n`),
    close: () => socket.destroy(),
  }
  let pending = ''
  socket.on('data', (chunk) => {
    pending += chunk
    let start = 0
    for (let end; (end = pending.indexOf('\n', start)) !== -1; start = end + 1) {
      system.onReply(JSON.parse(pending.slice(start, end)).id)
    }
    pending = pending.slice(start)
  })
  return system
}

/** usocket (the npm fd-passing package) carrying the same JSON lines: it has no framing of its own. */
async function usocketJsonLines(socketPath) {
  const usocket = loadUsocket()
  const socket = new usocket.USocket()
  await new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.connect(socketPath, resolve)
  })
  const system = {
    name: 'usocket + JSON lines',
    onReply: null,
    send: (id) => socket.write(Buffer.from(`${JSON.stringify(makeRequest(id))}\n`)),
    close: () => socket.destroy(),
  }
  let pending = ''
  socket.on('readable', () => {
    for (let chunk; (chunk = socket.read()) !== null; ) pending += chunk.toString('utf8')
    let start = 0
    for (let end; (end = pending.indexOf('\n', start)) !== -1; start = end + 1) system.onReply(JSON.parse(pending.slice(start, end)).id)
    pending = pending.slice(start)
  })
  socket.read(0) // usocket starts reading only when asked
  return system
}

async function fdwireJson(socketPath) {
  const connection = await connect(socketPath)
  const system = {
    name: 'fdwire + JSON',
    onReply: null,
    send: (id) => connection.send(Buffer.from(JSON.stringify(makeRequest(id))), { id, type: MESSAGE_JSON }),
    close: () => connection.destroy(),
  }
  connection.on('message', (m) => system.onReply(JSON.parse(m.payload.toString('utf8')).id))
  return system
}

/** fdwire with its own messages: the same request as a FlatBuffers envelope, encoded per request
 *  with the documented fast paths (one reused encoder, a session's strings pre-encoded). */
async function fdwireFlatBuffers(socketPath) {
  const connection = await connect(socketPath)
  const cache = new protocol.StringCache(256)
  const sample = makeRequest(0)
  const envEntries = Object.entries(sample.env).map(([k, v]) => `${k}=${v}`)
  const system = {
    name: 'fdwire + FlatBuffers',
    onReply: null,
    send: (id) => {
      const r = makeRequest(id)
      const body = rush.encodeExecRequest({ argv: r.argv, cwd: r.cwd, env: envEntries, umask: 0o022, fdRoles: [0, 1, 2] }, cache)
      connection.send(protocol.encodeRequest(id, r.method, body), { id, type: MESSAGE_FLATBUFFERS })
    },
    close: () => connection.destroy(),
  }
  connection.on('message', (m) => system.onReply(protocol.readEnvelope(m.payload).id))
  return system
}

async function fdwireRaw(socketPath) {
  const connection = await connect(socketPath)
  const request = Buffer.from(JSON.stringify(makeRequest(0)))
  const system = {
    name: 'fdwire, raw bytes (no JSON)',
    onReply: null,
    send: (id) => connection.send(request, { id, type: MESSAGE_RAW }),
    close: () => connection.destroy(),
  }
  connection.on('message', (m) => system.onReply(m.id))
  return system
}

/** Nanoseconds of each of `count` round trips, one request in flight. */
function roundTrips(system, count) {
  const samples = new Float64Array(count)
  return new Promise((resolve) => {
    let done = 0
    let start = now()
    system.onReply = () => {
      const end = now()
      samples[done++] = Number(end - start)
      if (done === count) return resolve(samples.sort())
      start = now()
      system.send(done)
    }
    system.send(0)
  })
}

/** Messages per second with `IN_FLIGHT` requests outstanding. */
function pipelined(system, count) {
  return new Promise((resolve) => {
    let sent = 0
    let received = 0
    const start = now()
    system.onReply = () => {
      if (++received === count) return resolve(count / (Number(now() - start) / 1e9))
      if (sent < count) system.send(sent++)
    }
    while (sent < IN_FLIGHT) system.send(sent++)
  })
}

/**
 * The floor: bench/floor/pingpong.c, two C processes doing the same round trips with blocking
 * read/write (no event loop, no encoding). Undefined without a C compiler.
 */
function floorBinary(dir) {
  const source = path.join(path.dirname(fileURLToPath(import.meta.url)), 'floor', 'pingpong.c')
  const binary = path.join(dir, 'pingpong')
  try {
    execFileSync('cc', ['-O2', '-o', binary, source], { stdio: 'ignore' })
    return binary
  } catch {
    return undefined
  }
}

function floorRound(binary, requestBytes) {
  const out = execFileSync(binary, [String(requestBytes), '40', String(WARMUP), String(ROUND_TRIPS)], { encoding: 'utf8' })
  return JSON.parse(out)
}

async function measure(systems, floor, requestBytes) {
  const rounds = systems.map(() => [])
  const floorRounds = []
  for (let round = 0; round < ROUNDS; round++) {
    if (floor) floorRounds.push(floorRound(floor, requestBytes))
    // Rotate the order so that no system always runs first (or right after another's GC debt).
    for (let k = 0; k < systems.length; k++) {
      const i = (k + round) % systems.length
      await roundTrips(systems[i], WARMUP)
      const latency = await roundTrips(systems[i], ROUND_TRIPS)
      const throughput = await pipelined(systems[i], PIPELINE_MESSAGES)
      rounds[i].push({
        p50: quantile(latency, 0.5),
        p90: quantile(latency, 0.9),
        p99: quantile(latency, 0.99),
        throughput,
      })
    }
  }
  const results = systems.map((system, i) => ({
    system: system.name,
    p50: median(rounds[i].map((r) => r.p50)),
    p90: median(rounds[i].map((r) => r.p90)),
    p99: median(rounds[i].map((r) => r.p99)),
    throughput: median(rounds[i].map((r) => r.throughput)),
    rounds: rounds[i],
  }))
  if (floorRounds.length > 0) {
    results.push({
      system: FLOOR_NAME,
      p50: median(floorRounds.map((r) => r.p50)),
      p90: median(floorRounds.map((r) => r.p90)),
      p99: median(floorRounds.map((r) => r.p99)),
      throughput: null,
      rounds: floorRounds,
    })
  }
  return results
}

const FLOOR_NAME = 'floor: C, 2 processes, blocking read/write'

function report(env, results) {
  const requestBytes = Buffer.byteLength(JSON.stringify(makeRequest(ROUND_TRIPS)))
  printHeader(`Round trip: ${requestBytes} B JSON request, small JSON reply, server in a child process`, env)
  console.log(
    `Latency: one request in flight, ${ROUND_TRIPS.toLocaleString('en-US')} round trips after ${WARMUP.toLocaleString('en-US')} warm-up. ` +
      `Throughput: ${PIPELINE_MESSAGES.toLocaleString('en-US')} requests, ${IN_FLIGHT} in flight. ` +
      `Median of ${ROUNDS} interleaved rounds. Both JSON rows encode and parse the same JSON at both ends, ` +
      'so they differ only in transport; the FlatBuffers row is fdwire as designed (the request as a verified envelope, routed on fields read in place); the raw row sends the same bytes without any encoding.\n',
  )
  const [base] = results
  printTable(
    ['system', 'p50 µs', 'p90 µs', 'p99 µs', 'p50 vs net+JSON', 'throughput msg/s', 'throughput vs net+JSON'],
    results.map((r) => [
      r.system,
      fmt.us(r.p50),
      fmt.us(r.p90),
      fmt.us(r.p99),
      fmt.ratio(r.p50 / base.p50),
      r.throughput === null ? '—' : fmt.int(r.throughput),
      r.throughput === null ? '—' : fmt.ratio(r.throughput / base.throughput),
    ]),
  )
  const floor = results.find((r) => r.system === FLOOR_NAME)
  if (floor) {
    console.log(
      `\nThe floor row is what two C processes need for the same round trip here (bench/floor/pingpong.c): ` +
        `${fmt.ratio(floor.p50 / base.p50)} of net + JSON. No transport can go below it on this machine. ` +
        (floor.p50 >= 0.5 * base.p50
          ? `The goal of ${fmt.ratio(0.5)} net + JSON (${fmt.us(0.5 * base.p50)} µs) is below it: out of reach here.`
          : `The goal of ${fmt.ratio(0.5)} net + JSON (${fmt.us(0.5 * base.p50)} µs) leaves ${fmt.us(0.5 * base.p50 - floor.p50)} µs above it ` +
            'for everything both event loops and their JS do per round trip.'),
    )
  }
  writeResults('roundtrip', {
    env,
    config: { rounds: ROUNDS, warmup: WARMUP, roundTrips: ROUND_TRIPS, pipelineMessages: PIPELINE_MESSAGES, inFlight: IN_FLIGHT, requestBytes },
    unit: { latency: 'ns', throughput: 'messages/s' },
    results,
  })
}

const env = environment()
const dir = tempDir()
const netPath = path.join(dir, 'net.sock')
const fdwirePath = path.join(dir, 'fdwire.sock')
const usocketPath = path.join(dir, 'usocket.sock')
const haveUsocket = loadUsocket() !== null
const server = await startServer('roundtrip-server.mjs', [netPath, fdwirePath, haveUsocket ? usocketPath : ''])
const systems = [
  await netJsonLines(netPath),
  ...(haveUsocket ? [await usocketJsonLines(usocketPath)] : []),
  await fdwireJson(fdwirePath),
  await fdwireFlatBuffers(fdwirePath),
  await fdwireRaw(fdwirePath),
]
const requestBytes = Buffer.byteLength(JSON.stringify(makeRequest(ROUND_TRIPS)))
const results = await measure(systems, floorBinary(dir), requestBytes)
for (const system of systems) system.close()
await server.stop()
report(env, results)
