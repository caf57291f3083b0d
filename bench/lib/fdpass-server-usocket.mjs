// usocket server half of bench/fdpass.mjs: counts 64-byte records, closes every fd it receives
// (usocket leaves that to the application, and marks none close-on-exec), and acks every
// `record[0]` records with [records, fds received] as two u32s. argv: <socket path>.
import * as fs from 'node:fs'
import { serveUntilParentExits } from './common.mjs'
import { loadUsocket } from './peers.mjs'

const RECORD = 64
const usocket = loadUsocket({ install: false })
const server = new usocket.UServer()
server.on('connection', (socket) => {
  let pending = Buffer.alloc(0)
  let unacked = 0
  let fdsReceived = 0
  socket.on('readable', () => {
    for (let got; (got = socket.read(null, null)) !== null; ) {
      for (const fd of got.fds ?? []) fs.closeSync(fd)
      fdsReceived += got.fds?.length ?? 0
      if (got.data) pending = Buffer.concat([pending, got.data])
      if (!got.data && !got.fds?.length) break
    }
    while (pending.length >= RECORD) {
      const ackEvery = pending[0]
      pending = pending.subarray(RECORD)
      if (++unacked < ackEvery) continue
      const ack = Buffer.alloc(8)
      ack.writeUInt32LE(unacked)
      ack.writeUInt32LE(fdsReceived, 4) // fds that really arrived: usocket drops those past its limit
      socket.write(ack)
      unacked = 0
      fdsReceived = 0
    }
  })
  socket.read(0) // usocket starts reading only when asked
})
server.listen(process.argv[2], () => serveUntilParentExits())
