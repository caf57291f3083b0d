// Smoke test of an installed fdwire (ESM): a socketPair round trip that passes a pipe's write end
// with a message, and the receiver writes through it. Run by scripts/ci/pack-test.sh.
import fs from 'node:fs'
import { socketPair, pipe, closeFd } from 'fdwire'

const [a, b] = socketPair()
const [r, w] = pipe()
const got = new Promise((resolve) => b.once('message', (m) => resolve({ payload: m.payload.toString(), fd: m.takeFd(0) })))
a.send('take this fd', { fds: [w], closeFds: true })
const m = await got
const fd = m.fd
fs.writeSync(fd, 'through the passed fd')
closeFd(fd)
const buf = Buffer.alloc(64)
const n = fs.readSync(r, buf)
closeFd(r)
a.destroy()
b.destroy()
const text = buf.subarray(0, n).toString()
if (m.payload !== 'take this fd' || text !== 'through the passed fd') {
  console.error('smoke (esm): unexpected', m.payload, text)
  process.exit(1)
}
console.log('smoke (esm): socketPair round trip with an fd: ok')
