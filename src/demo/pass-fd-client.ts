/** The client half of the `npm start` demo: receives two fds and writes through them. */
import * as fs from 'node:fs'
import { connect } from '../index.js'

const socketPath = process.argv[2]
if (!socketPath) throw new TypeError('usage: pass-fd-client <socket>')
const connection = await connect(socketPath)
for await (const message of connection) {
  const [terminal, pipeBack] = message.takeFds()
  if (terminal === undefined || pipeBack === undefined) throw new Error('expected two fds')
  fs.writeSync(terminal, `client  pid ${process.pid} writing through the daemon's own stdout (passed fd ${terminal})\n`)
  fs.writeSync(pipeBack, `hello from pid ${process.pid} through the passed pipe\n`)
  fs.closeSync(terminal)
  fs.closeSync(pipeBack)
}
