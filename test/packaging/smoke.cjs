// Smoke test of an installed fdwire (CommonJS): a socketPair round trip that passes a pipe's write end
// with a message, and the receiver writes through it. Run by scripts/ci/pack-test.sh.
const fs = require('node:fs')
const { socketPair, pipe, closeFd } = require('fdwire')

async function main() {
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
    console.error('smoke (cjs): unexpected', m.payload, text)
    process.exit(1)
  }
  console.log('smoke (cjs): socketPair round trip with an fd: ok')
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
