// The two ends of one layer of scripts/perf/breakdown.mjs, each layer one step above the one
// before, all doing the same round trip: the bench/roundtrip.mjs request (~1.4 KB), a small reply,
// one request in flight.
//
//   node peers.mjs server LAYER DIR      listens in DIR, prints "ready"; on a stdin line "cpu"
//                                        prints process.cpuUsage() as JSON; exits at stdin's end
//   node peers.mjs client LAYER DIR      on a stdin line "run WARMUP COUNT": WARMUP untimed round
//                                        trips, then COUNT timed ones; prints {p50, p90, cpu} as JSON
//   node peers.mjs client LAYER DIR WARMUP COUNT [IN_FLIGHT]   the same once, then exits (under
//                                        strace); with IN_FLIGHT > 1 (also a 4th word after "run"),
//                                        that many requests are outstanding at a time, and p50/p90
//                                        are the nanoseconds per message
//
// LAYER:
//   addon        the addon's native handles on both sides (native.Connection, raw bytes): libuv,
//                Node-API and the kernel, no JS object of ours
//   connection   fdwire's Connection on both sides, the same raw bytes ('message' events, Message)
//   json         Connection carrying JSON: JSON.stringify + Buffer.from, JSON.parse both ways
//   flatbuffers  Connection carrying the FlatBuffers envelope: encode, verify, read in place
//   server       Server with a handler that returns a canned body, and Client.request()
//   net-raw      Node's net with the same raw bytes: what Node's own streams cost
//   net-json     Node's net with JSON lines: the baseline
import * as net from 'node:net'
import * as path from 'node:path'
import * as readline from 'node:readline'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const { native } = await import(path.join(root, 'dist', 'binding.js'))
const { Client, Server, connect, listen, protocol } = await import(path.join(root, 'dist', 'index.js'))
const rush = await import(path.join(root, 'dist', 'rush', 'protocol', 'messages.js'))
const { makeRequest } = await import(path.join(root, 'bench', 'lib', 'request.mjs'))
const { serveJsonLines } = await import(path.join(root, 'bench', 'lib', 'json-lines.mjs'))

const [role, layer, dir, warmupArg, countArg, inFlightArg] = process.argv.slice(2)
const socketPath = path.join(dir ?? '.', `${layer}.sock`)
const rawRequest = Buffer.from(JSON.stringify(makeRequest(0)))
const rawReply = Buffer.from(JSON.stringify({ id: 0, status: 0 }))
const okResult = Buffer.from(rush.encodeResult(0, 0))

// The addon layer's connections: the addon's own handle, frame records in its frameMeta.
const addonMeta = native.Connection.frameMeta
// The addon calls one pair of callbacks with the native connection as `this`: each connection
// carries its own handlers.
const addonCallbacks = native.Connection.callbacks(
  function (_buffer, frames) {
    this.onFrames(frames)
  },
  function (kind) {
    this.onEvent(kind)
  },
)
const addonConnection = (fd, onFrames, onEvent) => {
  const connection = new native.Connection(fd, 1 << 24, 0, 65536, addonCallbacks)
  connection.onFrames = onFrames
  connection.onEvent = onEvent
  return connection
}

// Each server: start() resolves once it listens.
const servers = {
  addon: async () => {
    const listenFd = native.listen(Buffer.from(socketPath), false, 16, 0o600)
    if (listenFd < 0) throw new Error(`listen: errno ${-listenFd}`)
    new native.Listener(
      listenFd,
      (fd) => {
        const connection = addonConnection(
          fd,
          (frames) => {
            for (let i = 0; i < frames; i++) connection.send(rawReply, addonMeta[i * 5 + 2], 0, null, false)
          },
          (kind) => {
            if (kind !== 4) connection.close()
          },
        )
      },
      () => {},
    )
  },
  connection: async () => {
    listen(socketPath).on('connection', (c) => c.on('message', (m) => c.send(rawReply, { id: m.id })))
  },
  json: async () => {
    listen(socketPath).on('connection', (c) =>
      c.on('message', (m) => {
        const request = JSON.parse(m.payload.toString('utf8'))
        c.send(JSON.stringify({ id: request.id, status: 0 }), { id: request.id })
      }),
    )
  },
  flatbuffers: async () => {
    listen(socketPath).on('connection', (c) =>
      c.on('message', (m) => {
        const request = protocol.readEnvelope(m.payload)
        if (request.kind !== 'request' || request.method !== 'run') throw new Error('unexpected message')
        c.send(protocol.encodeResponse(request.id, { body: okResult }), { id: request.id })
      }),
    )
  },
  server: async () => {
    const server = new Server({ runtimeDir: dir, socketName: `${layer}.sock`, pidFile: false, handleSignals: false, socketCheckInterval: 0 })
    server.handle('run', () => okResult)
    await server.listen()
  },
  'net-raw': async () => {
    // Fixed-size requests, so no framing is needed: reply once a whole request is in.
    const server = net.createServer((socket) => {
      let have = 0
      socket.on('data', (chunk) => {
        for (have += chunk.length; have >= rawRequest.length; have -= rawRequest.length) socket.write(rawReply)
      })
    })
    await new Promise((resolve) => server.listen(socketPath, resolve))
  },
  'net-json': async () => {
    const server = net.createServer(serveJsonLines)
    await new Promise((resolve) => server.listen(socketPath, resolve))
  },
}

// Each client: returns send(id, onReply).
const clients = {
  addon: async () => {
    const fd = native.connect(Buffer.from(socketPath), false)
    if (fd < 0) throw new Error(`connect: errno ${-fd}`)
    let onReply
    const connection = addonConnection(
      fd,
      (frames) => {
        for (let i = 0; i < frames; i++) onReply()
      },
      () => {},
    )
    return (id, callback) => {
      onReply = callback
      connection.send(rawRequest, id, 0, null, false)
    }
  },
  connection: async () => {
    const c = await connect(socketPath)
    let onReply
    c.on('message', () => onReply())
    return (id, callback) => {
      onReply = callback
      c.send(rawRequest, { id })
    }
  },
  json: async () => {
    const c = await connect(socketPath)
    let onReply
    c.on('message', (m) => onReply(JSON.parse(m.payload.toString('utf8')).id))
    return (id, callback) => {
      onReply = callback
      c.send(Buffer.from(JSON.stringify(makeRequest(id))), { id })
    }
  },
  flatbuffers: async () => {
    const c = await connect(socketPath)
    const cache = new protocol.StringCache(256)
    const sample = makeRequest(0)
    const env = Object.entries(sample.env).map(([k, v]) => `${k}=${v}`)
    let onReply
    c.on('message', (m) => onReply(protocol.readEnvelope(m.payload).id))
    return (id, callback) => {
      onReply = callback
      const r = makeRequest(id)
      const body = rush.encodeExecRequest({ argv: r.argv, cwd: r.cwd, env, umask: 0o022, fdRoles: [0, 1, 2] }, cache)
      c.send(protocol.encodeRequest(id, r.method, body), { id })
    }
  },
  server: async () => {
    const client = await Client.connect(socketPath)
    return (_id, callback) => {
      client.request('run', rawRequest).then((reply) => callback(reply.body))
    }
  },
  'net-raw': async () => {
    const socket = net.connect(socketPath)
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    let onReply
    let have = 0
    socket.on('data', (chunk) => {
      for (have += chunk.length; have >= rawReply.length; have -= rawReply.length) onReply()
    })
    return (_id, callback) => {
      onReply = callback
      socket.write(rawRequest)
    }
  },
  'net-json': async () => {
    const socket = net.connect(socketPath)
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    socket.setEncoding('utf8')
    let onReply
    let pending = ''
    socket.on('data', (chunk) => {
      pending += chunk
      let start = 0
      for (let end; (end = pending.indexOf('\n', start)) !== -1; start = end + 1) onReply(JSON.parse(pending.slice(start, end)).id)
      pending = pending.slice(start)
    })
    return (id, callback) => {
      onReply = callback
      socket.write(`${JSON.stringify(makeRequest(id))}\n`)
    }
  },
}

/** `count` round trips, one in flight; nanoseconds of each, ascending, and this side's CPU µs. */
function roundTrips(send, count) {
  const samples = new Float64Array(count)
  const cpu = process.cpuUsage()
  return new Promise((resolve) => {
    let done = 0
    let start = process.hrtime.bigint()
    const onReply = () => {
      samples[done++] = Number(process.hrtime.bigint() - start)
      if (done === count) return resolve({ samples: samples.sort(), cpu: process.cpuUsage(cpu) })
      start = process.hrtime.bigint()
      send(done, onReply)
    }
    send(0, onReply)
  })
}

/** `count` requests with `inFlight` outstanding at a time: nanoseconds per message, and this side's CPU µs. */
function pipelined(send, count, inFlight) {
  const cpu = process.cpuUsage()
  const start = process.hrtime.bigint()
  return new Promise((resolve) => {
    let sent = 0
    let received = 0
    const onReply = () => {
      if (++received === count) return resolve({ perMessage: Number(process.hrtime.bigint() - start) / count, cpu: process.cpuUsage(cpu) })
      if (sent < count) send(sent++, onReply)
    }
    while (sent < Math.min(inFlight, count)) send(sent++, onReply)
  })
}

async function run(send, warmup, count, inFlight = 1) {
  if (inFlight > 1) {
    if (warmup > 0) await pipelined(send, warmup, inFlight)
    const { perMessage, cpu } = await pipelined(send, count, inFlight)
    return { p50: perMessage, p90: perMessage, user: cpu.user / count, system: cpu.system / count }
  }
  if (warmup > 0) await roundTrips(send, warmup)
  const { samples, cpu } = await roundTrips(send, count)
  const at = (q) => samples[Math.min(count - 1, Math.ceil(q * count) - 1)]
  return { p50: at(0.5), p90: at(0.9), user: cpu.user / count, system: cpu.system / count }
}

if (servers[layer] === undefined || (role !== 'server' && role !== 'client')) {
  console.error(`usage: node peers.mjs server|client ${Object.keys(servers).join('|')} DIR [WARMUP COUNT]`)
  process.exit(2)
}
if (role === 'server') {
  await servers[layer]()
  const lines = readline.createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    if (line === 'cpu') console.log(JSON.stringify(process.cpuUsage()))
  })
  lines.on('close', () => process.exit(0))
  console.log('ready')
} else {
  const send = await clients[layer]()
  if (countArg !== undefined) {
    console.log(JSON.stringify(await run(send, Number(warmupArg), Number(countArg), Number(inFlightArg ?? 1))))
    process.exit(0)
  }
  const lines = readline.createInterface({ input: process.stdin })
  lines.on('line', async (line) => {
    const [command, warmup, count, inFlight] = line.split(' ')
    if (command === 'run') console.log(JSON.stringify(await run(send, Number(warmup), Number(count), Number(inFlight ?? 1))))
  })
  lines.on('close', () => process.exit(0))
  console.log('ready')
}
