// A daemon that fails the client: refuses it, goes away before or while a command runs, frames its
// replies oddly, or sends garbage. Never a crash: a message, and a local run where one is safe.
import { protocol } from 'fdwire'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { frame, tempDir, until } from '../../../test/helpers.js'
import { fake, raw, requireClient, run, rush, rushC, startDaemon, type Test } from './lib.js'

requireClient()

t.test('a refused connection (id 0 error): message, then runs locally', async (t) => {
  const dir = tempDir(t)
  await raw(t, dir, 'refuse')
  const r = await rushC(dir, ['echo ran; exit 3'])
  t.equal(r.stdout, 'ran\n')
  t.equal(r.code, 3)
  t.match(r.stderr, /^rush: too many sessions \(limit 1\)/)
})

// Daemons that go away with our request unread, in python (it can wait for bytes without reading
// them: MSG_PEEK). `backlog`: listens, never accepts; once a connection waits, closes, as a daemon
// killed while a client connects (the kernel resets it). `hello`: accepts, sends its hello (argv[2],
// hex), waits until the request is there, and closes without reading it.
const UNREAD_DAEMON = `
import os, select, socket, sys
if os.path.exists(sys.argv[1]): os.unlink(sys.argv[1])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
print('listening', flush=True)
if len(sys.argv) > 2:
    c, _ = s.accept()
    c.sendall(bytes.fromhex(sys.argv[2]))
    c.recv(1, socket.MSG_PEEK)
    c.close()
else:
    select.select([s], [], [])
s.close()
`
const unreadDaemon = (t: Test, dir: string, hello?: Buffer) =>
  startDaemon(t, ['python3', '-c', UNREAD_DAEMON, path.join(dir, 'daemon.sock'), ...(hello ? [hello.toString('hex')] : [])])
const helloFrame = () => frame(Buffer.from(protocol.encodeHello(protocol.PROTOCOL_VERSION, 'unread')))

t.test('a daemon killed with our connection in its backlog is no daemon: the command runs locally, quietly, and one is started', async (t) => {
  const dir = tempDir(t)
  await unreadDaemon(t, dir)
  const r = await rushC(dir, ['echo ran; exit 3'])
  t.same([r.stdout, r.stderr, r.code], ['ran\n', '', 3], 'the command ran, once, as sh -c runs it')
  await unreadDaemon(t, dir)
  const started = await rushC(dir, ['echo ran; exit 3'], { RUSH_NO_AUTOSTART: undefined })
  t.same([started.stdout, started.stderr, started.code], ['ran\n', '', 3])
  const ran = path.join(dir, 'rushd-ran')
  t.ok(await until(() => fs.existsSync(ran) && fs.readFileSync(ran, 'utf8').endsWith('\n')), 'rushd was started for next time')
  t.equal(fs.readFileSync(ran, 'utf8'), '["start"]\n')
})

t.test('a daemon that greets, then goes away without reading the request (a reset): says so and runs locally', async (t) => {
  const dir = tempDir(t)
  await unreadDaemon(t, dir, helloFrame())
  const r = await rushC(dir, ['echo ran; exit 3'])
  t.same([r.stdout, r.code], ['ran\n', 3], 'the command ran, once')
  t.equal(r.stderr, 'rush: rushd went away before reading the command; running locally\n')
  t.notOk(fs.existsSync(path.join(dir, 'rushd-ran')), 'RUSH_NO_AUTOSTART=1: rushd was not started')
})

t.test('the daemon dies mid-command: message and non-zero status', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'die' } })
  const r = await rushC(dir, ['sleep 1'])
  t.equal(r.signal, null)
  t.equal(r.code, 1)
  t.equal(r.stderr, 'rush: lost connection to rushd while the command ran\n')
})

t.test('frames split across reads and several frames per read', async (t) => {
  for (const mode of ['split', 'coalesced', 'extraFields']) {
    const dir = tempDir(t)
    await raw(t, dir, mode)
    const r = await rushC(dir, ['exit'])
    t.equal(r.code, 42, mode)
    t.equal(r.stderr, '', mode)
  }
})

t.test('garbage from the daemon: never a crash, a message and a non-zero status', async (t) => {
  for (const [mode, message] of [
    ['random', /rush: malformed frame from rushd: bad frame magic/],
    ['huge', /rush: malformed frame from rushd: frame larger than 1 MiB/],
    ['badRoot', /rush: malformed message from rushd/],
    ['badBody', /rush: malformed message from rushd/],
    ['badVtable', /rush: malformed message from rushd/],
    ['badResult', /rush: malformed reply from rushd/],
    ['badExec', /rush: malformed reply from rushd/],
    ['truncated', /rush: lost connection to rushd/],
  ] as const) {
    const dir = tempDir(t)
    await raw(t, dir, mode)
    const r = await run([rush, '-c', 'exit'], dir, {}, { timeout: 30_000 }) // a hang guard
    t.equal(r.signal, null, `${mode}: no signal death`)
    t.not(r.code, 0, `${mode}: non-zero status`)
    t.match(r.stderr, message, mode)
  }
})
