// Server half of bench/roundtrip.mjs, in its own process so that client and server really cross a
// socket and do not share an event loop. argv: <net socket path> <fdwire socket path> [<usocket path>].
import * as net from 'node:net'
import { listen, protocol } from '../../dist/index.js'
import * as rush from '../../dist/rush/protocol/messages.js'
import { serveUntilParentExits } from './common.mjs'
import { serveJsonLines } from './json-lines.mjs'
import { loadUsocket } from './peers.mjs'
import { MESSAGE_FLATBUFFERS, MESSAGE_JSON, MESSAGE_RAW, RAW_REPLY } from './roundtrip-protocol.mjs'

const okResult = Buffer.from(rush.encodeResult(0, 0))

const [netPath, fdwirePath, usocketPath] = process.argv.slice(2)

function serveFdwire(connection) {
  connection.on('message', (m) => {
    if (m.type === MESSAGE_RAW) {
      connection.send(RAW_REPLY, { id: m.id, type: MESSAGE_RAW })
      return
    }
    if (m.type === MESSAGE_FLATBUFFERS) {
      // Verify, then route on the fields a daemon needs (kind, id, method), read in place.
      const request = protocol.readEnvelope(m.payload)
      if (request.kind !== 'request' || request.method !== 'run') throw new Error('unexpected message')
      connection.send(protocol.encodeResponse(request.id, { body: okResult }), { id: request.id, type: MESSAGE_FLATBUFFERS })
      return
    }
    const request = JSON.parse(m.payload.toString('utf8'))
    connection.send(JSON.stringify({ id: request.id, status: 0 }), { id: request.id, type: MESSAGE_JSON })
  })
}

/** usocket gives a byte stream like net's: the same JSON lines, read the way usocket wants. */
function serveUsocketJsonLines(socket) {
  let pending = ''
  socket.on('readable', () => {
    for (let chunk; (chunk = socket.read()) !== null; ) pending += chunk.toString('utf8')
    let start = 0
    for (let end; (end = pending.indexOf('\n', start)) !== -1; start = end + 1) {
      const request = JSON.parse(pending.slice(start, end))
      socket.write(Buffer.from(`${JSON.stringify({ id: request.id, status: 0 })}\n`))
    }
    pending = pending.slice(start)
  })
  socket.read(0)
}

net.createServer(serveJsonLines).listen(netPath, () => {
  listen(fdwirePath).on('connection', serveFdwire)
  if (usocketPath) {
    const server = new (loadUsocket({ install: false }).UServer)()
    server.on('connection', serveUsocketJsonLines)
    server.listen(usocketPath, () => serveUntilParentExits())
  } else serveUntilParentExits()
})
