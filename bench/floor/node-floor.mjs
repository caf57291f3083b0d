// Node daemons that answer every `rush -c` request at once with a Result(0), each with one layer
// more of fdwire than the one before, for bench/startup.mjs: the real rush client against them
// shows what each layer costs, down to what any daemon written in Node must pay on this machine.
//
//   node node-floor.mjs LEVEL RUNTIME_DIR      prints "ready" once it listens; runs until killed
//
// LEVEL:
//   addon      the addon's native listener and connection handles, one JS callback per frame; no
//              verification, no JS objects of ours (the least a Node daemon on fdwire can do)
//   connection fdwire's public listen() and Connection: the same canned Hello and Response sent
//              from a 'message' listener, then end() (Listener, Connection, Message; no protocol)
//   server     fdwire's public Server, with a `rush.exec` handler that returns the canned Result
//              (Listener, Connection, Session, envelope verification, the handler call)
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const { native } = await import(path.join(root, 'dist', 'binding.js'))
const { NativeEvent } = await import(path.join(root, 'dist', 'native.js'))
const { listen, Server, protocol } = await import(path.join(root, 'dist', 'index.js'))
const rush = await import(path.join(root, 'dist', 'rush', 'protocol', 'messages.js'))
const { tierUpSooner } = await import(path.join(root, 'dist', 'rush', 'tiering.js'))

// Every level lets V8 optimize its per-connection code as soon as rushd does (rush/src/tiering.ts):
// a floor is the least a daemon of its kind costs, and with V8's default budget these would still
// run partly unoptimized after the warm-up that bench/startup.mjs gives every daemon alike.
// NODE_FLOOR_V8_DEFAULTS=1 keeps V8's default, to see what that costs.
if (process.env.NODE_FLOOR_V8_DEFAULTS !== '1') tierUpSooner()

const [level, runtimeDir] = process.argv.slice(2)
const result = Buffer.from(rush.encodeResult(0, 0))
// The addon and connection levels send these bytes as they are: a Hello, then a Response to request 1.
const hello = Buffer.from(protocol.encodeHello(protocol.PROTOCOL_VERSION, 'node-floor'))
const response = Buffer.from(protocol.encodeResponse(1, { body: result }))

if (level === 'addon') {
  const fdsOut = native.Connection.frameFds
  // The addon calls these with the native connection as `this`.
  const callbacks = native.Connection.callbacks(
    function (_buffer, _frames, fdCount) {
      for (let i = 0; i < fdCount; i++) native.close(fdsOut[i])
      this.cork()
      this.send(hello, 0, 0, null, false)
      this.send(response, 1, 0, null, false)
      this.uncork()
      this.shutdown()
    },
    function (kind) {
      if (kind !== NativeEvent.drain) this.close() // the peer ended, or failed
    },
  )
  const listenFd = native.listen(Buffer.from(path.join(runtimeDir, 'daemon.sock')), false, 511, 0o600)
  if (listenFd < 0) throw new Error(`listen failed: errno ${-listenFd}`)
  new native.Listener(
    listenFd,
    (fd) => {
      const connection = new native.Connection(fd, 1 << 24, 253, 16384, callbacks)
      connection.readNow()
    },
    () => {},
  )
} else if (level === 'connection') {
  const listener = listen(path.join(runtimeDir, 'daemon.sock'), { maxFdsPerFrame: 8 })
  listener.on('connection', (connection) => {
    // One reply, to the first message (rush -c sends one request). Its fds are closed with the
    // message once the listener returns: none is taken.
    connection.once('message', () => {
      connection.cork()
      connection.send(hello)
      connection.send(response, { id: 1 })
      connection.uncork()
      connection.end()
    })
  })
} else if (level === 'server') {
  const server = new Server({ runtimeDir, buildId: 'node-floor', handleSignals: false, maxFdsPerFrame: 8 })
  server.handle(rush.RushMethod.exec, () => result)
  await server.listen()
} else {
  console.error('usage: node node-floor.mjs addon|connection|server RUNTIME_DIR')
  process.exit(2)
}
process.on('SIGTERM', () => process.exit(0))
console.log('ready')
