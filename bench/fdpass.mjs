// fd-passing rate: messages carrying 0, 1, 16 or 253 fds, pipelined with backpressure, to a server
// in a child process that lets the library close them.
import * as path from 'node:path'
import { closeFd, connect, pipe } from '../dist/index.js'
import { environment, fmt, median, printHeader, printTable, startServer, tempDir, writeResults } from './lib/common.mjs'
import { loadUsocket } from './lib/peers.mjs'

const FDS_PER_MESSAGE = [0, 1, 16, 253]
const ROUNDS = 3
const SECONDS_PER_RUN = 1.5
const PAYLOAD = Buffer.alloc(64, 0x42)
// In-flight fds are charged to the sender (Linux refuses more than RLIMIT_NOFILE with
// ETOOMANYREFS), so the window is counted in fds as well as in messages.
const MAX_IN_FLIGHT_MESSAGES = 256
const MAX_IN_FLIGHT_FDS = 8192

/**
 * One transport under test: open(socketPath) resolves to a client with
 * send(fds, ackEvery) -> boolean (false: wait for drain), onAck(messages acked), onDrain(), close().
 */
const SYSTEMS = [
  {
    name: 'fdwire',
    server: 'fdpass-server.mjs',
    async open(socketPath) {
      const connection = await connect(socketPath)
      const client = {
        onAck: null,
        send: (fds, ackEvery) => connection.send(PAYLOAD, { fds, type: ackEvery }),
        onDrain: (listener) => connection.once('drain', listener),
        close: () => connection.destroy(),
      }
      connection.on('message', (m) => client.onAck(m.id, m.payload.readUInt32LE(0)))
      return client
    },
  },
  {
    // usocket has no framing: a byte stream and, beside it, a queue of fds detached from message
    // boundaries. Each message is a 64-byte record (its first byte the ack interval) sent with its
    // fds; the server counts records, closes every fd it receives, and acks with 4-byte counts.
    name: 'usocket',
    server: 'fdpass-server-usocket.mjs',
    available: () => loadUsocket() !== null,
    async open(socketPath) {
      const usocket = loadUsocket()
      const socket = new usocket.USocket()
      await new Promise((resolve, reject) => {
        socket.once('error', reject)
        socket.connect(socketPath, resolve)
      })
      let pending = Buffer.alloc(0)
      const client = {
        onAck: null,
        send: (fds, ackEvery) => {
          const record = Buffer.from(PAYLOAD)
          record[0] = ackEvery
          // write({ data, fds }) returns nothing (only plain writes report backpressure).
          return socket.write(fds ? { data: record, fds } : record) !== false
        },
        onDrain: (listener) => socket.once('drain', listener),
        close: () => socket.destroy(),
      }
      socket.on('readable', () => {
        for (let chunk; (chunk = socket.read()) !== null; ) pending = Buffer.concat([pending, chunk])
        while (pending.length >= 8) {
          client.onAck(pending.readUInt32LE(0), pending.readUInt32LE(4))
          pending = pending.subarray(8)
        }
      })
      socket.read(0) // usocket starts reading only when asked
      return client
    },
  },
]

function windowFor(fdsPerMessage) {
  const messages = Math.min(MAX_IN_FLIGHT_MESSAGES, Math.floor(MAX_IN_FLIGHT_FDS / Math.max(1, fdsPerMessage)))
  return { messages, ackEvery: messages / 4 }
}

/** Sends for about `seconds`, in whole ack batches; resolves to { messages/s, fds delivered/s }. */
function run(client, fds, seconds) {
  const { messages: window, ackEvery } = windowFor(fds.length)
  const options = fds.length > 0 ? fds : undefined
  return new Promise((resolve) => {
    const start = process.hrtime.bigint()
    const deadline = start + BigInt(Math.round(seconds * 1e9))
    let sent = 0
    let acked = 0
    let delivered = 0
    let target = Infinity
    let blocked = false
    const pump = () => {
      blocked = false
      while (sent < target && sent - acked < window) {
        sent++
        if (sent % ackEvery === 0 && process.hrtime.bigint() >= deadline) target = sent
        if (!client.send(options, ackEvery)) {
          blocked = true
          client.onDrain(pump)
          return
        }
      }
    }
    client.onAck = (count, fdsArrived) => {
      acked += count
      delivered += fdsArrived
      if (acked === target) {
        const seconds = Number(process.hrtime.bigint() - start) / 1e9
        return resolve({ messagesPerSecond: acked / seconds, fdsPerSecond: delivered / seconds, delivered, sent: acked * fds.length })
      }
      if (!blocked) pump()
    }
    pump()
  })
}

async function measure(system, socketPath, writeEnd) {
  const client = await system.open(socketPath)
  const rounds = FDS_PER_MESSAGE.map(() => [])
  await run(client, [writeEnd], 0.3) // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, count] of FDS_PER_MESSAGE.entries()) {
      // The same fd, again and again: the kernel installs a new one at the receiver each time.
      rounds[i].push(await run(client, new Array(count).fill(writeEnd), SECONDS_PER_RUN))
    }
  }
  client.close()
  return FDS_PER_MESSAGE.map((fdsPerMessage, i) => {
    const messagesPerSecond = median(rounds[i].map((r) => r.messagesPerSecond))
    const fdsPerSecond = median(rounds[i].map((r) => r.fdsPerSecond))
    const sent = rounds[i].reduce((a, r) => a + r.sent, 0)
    const delivered = rounds[i].reduce((a, r) => a + r.delivered, 0)
    return {
      system: system.name,
      fdsPerMessage,
      messagesPerSecond,
      fdsPerSecond,
      fdsDelivered: delivered,
      fdsSent: sent,
      rounds: rounds[i],
      ...windowFor(fdsPerMessage),
    }
  })
}

function report(env, results) {
  printHeader(`fd passing: ${PAYLOAD.length} B messages with n fds each, server in a child process closing them`, env)
  console.log(
    `Pipelined with backpressure, acked in batches (window: ≤${MAX_IN_FLIGHT_MESSAGES} messages and ≤${MAX_IN_FLIGHT_FDS} fds in flight). ` +
      `${SECONDS_PER_RUN} s per run, median of ${ROUNDS} rounds. The 0-fd row is the same loop without fds, for scale.\n`,
  )
  printTable(
    ['system', 'fds/message', 'messages/s', 'fds delivered/s', 'fds delivered / sent', 'messages/s vs 0 fds'],
    results.map((r) => {
      const base = results.find((b) => b.system === r.system && b.fdsPerMessage === 0)
      const share = r.fdsSent === 0 ? '—' : `${((100 * r.fdsDelivered) / r.fdsSent).toFixed(1)}%`
      return [r.system, r.fdsPerMessage, fmt.int(r.messagesPerSecond), fmt.int(r.fdsPerSecond), share, fmt.ratio(r.messagesPerSecond / base.messagesPerSecond)]
    }),
  )
  writeResults('fdpass', {
    env,
    config: {
      fdsPerMessage: FDS_PER_MESSAGE,
      rounds: ROUNDS,
      secondsPerRun: SECONDS_PER_RUN,
      payloadBytes: PAYLOAD.length,
      maxInFlightMessages: MAX_IN_FLIGHT_MESSAGES,
      maxInFlightFds: MAX_IN_FLIGHT_FDS,
    },
    unit: { messagesPerSecond: 'messages/s', fdsPerSecond: 'fds/s' },
    results,
  })
}

const env = environment()
const dir = tempDir()
const [readEnd, writeEnd] = pipe()
const results = []
for (const system of SYSTEMS.filter((s) => s.available?.() ?? true)) {
  const socketPath = path.join(dir, `${system.name}.sock`)
  const server = await startServer(system.server, [socketPath])
  results.push(...(await measure(system, socketPath, writeEnd)))
  await server.stop()
}
closeFd(readEnd)
closeFd(writeEnd)
report(env, results)
