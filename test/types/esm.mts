// Type test (ESM consumer: .mts, so ESM whatever the project's "type"): compiled with `tsc --noEmit`
// against the installed tarball by scripts/ci/pack-test.sh. It checks that `import 'fdwire'` resolves to the package's types.
import { socketPair, pipe, closeFd, FdwireError, MAX_FDS_PER_MESSAGE, protocol } from 'fdwire'
import type { Connection, Message, SendOptions, PeerCredentials } from 'fdwire'

const [a, b]: [Connection, Connection] = socketPair()
const [r, w]: [number, number] = pipe()
const options: SendOptions = { fds: [w], closeFds: true, id: 1, type: 2 }
const sent: boolean = a.send('hello', options)
b.once('message', (m: Message) => {
  const fd: number = m.takeFd(0)
  const text: string = m.payload.toString()
  closeFd(fd)
  void text
  // A received fd as a stream that owns it: typed on Message (and Reply, RequestContext...).
  const socket: import('node:net').Socket = m.takeSocket(1, { readable: true, allowHalfOpen: false })
  const stream: import('fdwire').FdStream = m.takeStream(2, { mode: 'r' })
  // @ts-expect-error mode is 'r' or 'w'
  m.takeStream(3, { mode: 'rw' })
  void [socket, stream]
})
const max: 253 | number = MAX_FDS_PER_MESSAGE
const err: Error = new FdwireError('ERR_FDWIRE_STATE', 'x')
let creds: PeerCredentials | undefined
void [sent, max, err, creds, r, protocol]
// @ts-expect-error send() takes a payload
a.send()

// Events are typed on every emitter, for every way of adding or removing a listener.
import { type Client, type Server, type WorkerPool, listen } from 'fdwire'
declare const client: Client
declare const server: Server
declare const pool: WorkerPool
const listener = listen('/tmp/never-bound.sock')
const onClose = (reason: Error | undefined): void => void reason
client.on('close', onClose).off('close', onClose)
server.once('connection', (c: Connection) => c.destroy())
server.prependListener('handlerError', (error: unknown) => void error)
pool.addListener('workerExit', (info) => void info.pid)
b.removeListener('drain', () => {})
listener.prependOnceListener('refused', (peer: PeerCredentials) => void peer.uid)
// @ts-expect-error Client has no 'nonsense' event
client.on('nonsense', () => {})
// @ts-expect-error Server has no 'nonsense' event
server.off('nonsense', () => {})
// @ts-expect-error a Connection's 'message' listener gets a Message, not a string
b.addListener('message', (m: string) => void m)
// @ts-expect-error WorkerPool has no 'nonsense' event
pool.prependListener('nonsense', () => {})
// @ts-expect-error Listener has no 'message' event
listener.removeListener('message', () => {})
// @ts-expect-error Client has no 'nonsense' event
client.once('nonsense', () => {})
