/**
 * `npm start` (until rushd lands): shows fd passing between two real processes.
 *
 * The daemon listens on a socket in a private temp dir and starts a client process. The daemon
 * passes the client two fds in one message: its own stdout, and the write end of a pipe it reads.
 * The client writes a line straight to the daemon's terminal through the first and a reply through
 * the second — neither byte crosses the socket.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { closeFd, listen, pipe, type Connection } from '../index.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-demo-'))
const socket = path.join(dir, 'demo.sock')
const listener = listen(socket)
console.log(`daemon  pid ${process.pid} listening on ${socket} (mode ${(fs.statSync(socket).mode & 0o777).toString(8)})`)

const client = spawn(process.execPath, [fileURLToPath(new URL('./pass-fd-client.js', import.meta.url)), socket], {
  stdio: ['ignore', 'ignore', 'inherit'],
})

const [connection] = (await once(listener, 'connection')) as [Connection]
listener.close()
const { pid, uid } = connection.peer
console.log(`daemon  accepted pid ${pid} (uid ${uid}) — the kernel says so, not the client`)

const [readEnd, writeEnd] = pipe()
connection.send('here are your fds: [0] my stdout, [1] a pipe back to me', { fds: [1, writeEnd] })
closeFd(writeEnd) // the client holds the only write end now: EOF comes when it closes it
console.log('daemon  sent 2 fds in one message; reading the pipe...')

const reply = await new Promise<string>((resolve, reject) => {
  let text = ''
  fs.createReadStream('', { fd: readEnd })
    .setEncoding('utf8')
    .on('data', (chunk: string | Buffer) => (text += chunk.toString()))
    .on('end', () => resolve(text))
    .on('error', reject)
})
console.log(`daemon  read from the pipe: ${JSON.stringify(reply.trim())}`)

connection.end()
const [code] = (await once(client, 'exit')) as [number]
fs.rmSync(dir, { recursive: true, force: true })
console.log(code === 0 ? 'demo    ok: fds passed and used across processes' : `demo    client failed (${code})`)
process.exitCode = code === 0 ? 0 : 1
