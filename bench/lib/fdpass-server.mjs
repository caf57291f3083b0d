// Server half of bench/fdpass.mjs. It takes no fds: the library closes them once the 'message'
// listener returns, which is the cost a daemon pays for fds it does not want. Every `ackEvery`
// messages (given in each message's type field) it acks them, the count in the id field and the
// number of fds that arrived with them in the payload.
// argv: <socket path>.
import { listen } from '../../dist/index.js'
import { serveUntilParentExits } from './common.mjs'

listen(process.argv[2]).on('connection', (connection) => {
  let unacked = 0
  let fds = 0
  connection.on('message', (m) => {
    fds += m.fdCount // the fds that really arrived (an ack reports them: nothing is assumed)
    if (++unacked < m.type) return
    const ack = Buffer.alloc(4)
    ack.writeUInt32LE(fds)
    connection.send(ack, { id: unacked })
    unacked = 0
    fds = 0
  })
})
serveUntilParentExits()
