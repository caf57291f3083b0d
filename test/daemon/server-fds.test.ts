// fds passed with requests and replies: both directions through a Server, and a request carrying
// a closed fd failing alone.
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { closeFd, pipe } from '../../src/index.js'
import { native } from '../../src/binding.js'
import { leakTest, tempDir, until } from '../helpers.js'
import { client, openLazyFds, startServer } from './lib.js'

t.before(openLazyFds)

leakTest(t, 'fds go both ways: the daemon writes into our pipe and returns a file it opened', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'data.txt')
  fs.writeFileSync(file, 'contents of the daemon-opened file')
  const server = await startServer(t, {}, (s) => {
    s.handle('write', (request) => {
      const fd = request.takeFd()
      fs.writeSync(fd, request.body)
      fs.closeSync(fd)
      return 'written'
    })
    s.handle('open', (request) => ({ body: 'here', fds: [fs.openSync(request.body.toString(), 'r')], closeFds: true }))
  })
  const c = await client(t, server)
  const [r, w] = pipe()
  t.equal((await c.request('write', 'through your pipe', { fds: [w], closeFds: true })).text(), 'written')
  t.equal(fs.readFileSync(r, 'utf8'), 'through your pipe', 'the daemon wrote into the pipe we sent and closed its copy')
  closeFd(r)

  const reply = await c.request('open', file)
  t.equal(reply.text(), 'here')
  t.equal(reply.fds.length, 1)
  const fd = reply.takeFd()
  t.equal(fs.readFileSync(fd, 'utf8'), 'contents of the daemon-opened file', 'we read through the fd the daemon opened')
  closeFd(fd)
})

leakTest(t, 'a request with a closed fd rejects with EBADF alone: other requests and the connection go on', async (t) => {
  let release: (() => void) | undefined
  const server = await startServer(t, {}, (s) => {
    s.handle('wait', () => new Promise<string>((resolve) => (release = () => resolve('waited'))))
    s.handle('echo', (request) => request.body)
  })
  const c = await client(t, server)
  const waiting = c.request('wait')
  t.ok(await until(() => release !== undefined), 'the first request is being handled')
  const [r, w] = pipe()
  closeFd(r)
  const bad = r
  await t.rejects(c.request('echo', 'x', { fds: [w, bad] }), { code: 'EBADF', syscall: 'fcntl', message: new RegExp(`fd ${bad}\\)`) })
  t.ok(native.isCloexec(w) >= 0, "the caller's good fd is still open")
  t.equal(c.pending, 1, 'the failed request left nothing pending')
  release!()
  t.equal((await waiting).text(), 'waited', 'the pending request was answered')
  t.equal((await c.request('echo', 'later')).text(), 'later', 'a later request works')
  t.notOk(c.closed)
  closeFd(w)
})
