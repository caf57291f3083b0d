// Node daemons that answer every `rush -c` request at once with a Result(0), each with one layer
// more of fdwire than the one before, for bench/startup.mjs: the real rush client against them
// shows what each layer costs, down to what any daemon written in Node must pay on this machine.
//
//   node node-floor.mjs LEVEL RUNTIME_DIR      prints "ready" once it listens; runs until killed
//
// LEVEL:
//   addon      the addon's native listener and connection handles, one JS callback per frame; no
//              verification, no JS objects of ours (the least a Node daemon on fdwire can do)
//   server     fdwire's public Server, with a `rush.exec` handler that returns the canned Result
//              (Listener, Connection, Session, envelope verification, the handler call)
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const { native } = await import(path.join(root, 'dist', 'binding.js'))
const { NativeEvent } = await import(path.join(root, 'dist', 'native.js'))
const { Server, protocol } = await import(path.join(root, 'dist', 'index.js'))
const rush = await import(path.join(root, 'dist', 'rush', 'protocol', 'messages.js'))

const [level, runtimeDir] = process.argv.slice(2)
const result = Buffer.from(rush.encodeResult(0, 0))

if (level === 'addon') {
  const hello = Buffer.from(protocol.encodeHello(protocol.PROTOCOL_VERSION, 'node-floor'))
  const response = Buffer.from(protocol.encodeResponse(1, { body: result }))
  const meta = new Uint32Array(256 * 5)
  const fdsOut = new Int32Array(1024)
  const listenFd = native.listen(Buffer.from(path.join(runtimeDir, 'daemon.sock')), false, 511, 0o600)
  if (listenFd < 0) throw new Error(`listen failed: errno ${-listenFd}`)
  new native.Listener(
    listenFd,
    (fd) => {
      const connection = new native.Connection(
        fd,
        1 << 24,
        253,
        16384,
        meta,
        fdsOut,
        (_buffer, _frames, fdCount) => {
          for (let i = 0; i < fdCount; i++) native.close(fdsOut[i])
          connection.cork()
          connection.send(hello, 0, 0, null, false)
          connection.send(response, 1, 0, null, false)
          connection.uncork()
          connection.shutdown()
        },
        (kind) => {
          if (kind !== NativeEvent.drain) connection.close() // the peer ended, or failed
        },
      )
      connection.readNow()
    },
    () => {},
  )
} else if (level === 'server') {
  const server = new Server({ runtimeDir, buildId: 'node-floor', handleSignals: false, maxFdsPerFrame: 8 })
  server.handle(rush.RushMethod.exec, () => result)
  await server.listen()
} else {
  console.error('usage: node node-floor.mjs addon|server RUNTIME_DIR')
  process.exit(2)
}
process.on('SIGTERM', () => process.exit(0))
console.log('ready')
