// Server half of bench/fdpass.mjs. It takes no fds: the library closes them once the 'message'
// listener returns, which is the cost a daemon pays for fds it does not want. Every `ackEvery`
// messages (given in each message's type field) it acks them, the count in the id field.
// argv: <socket path>.
import { listen } from '../../dist/index.js'
import { serveUntilParentExits } from './common.mjs'

const ACK = Buffer.alloc(0)

listen(process.argv[2]).on('connection', (connection) => {
  let unacked = 0
  connection.on('message', (m) => {
    if (++unacked < m.type) return
    connection.send(ACK, { id: unacked })
    unacked = 0
  })
})
serveUntilParentExits()
