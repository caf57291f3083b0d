// rush with no arguments: an interactive session on a pseudo-terminal (with a daemon, without one,
// refused by one), and sh reading the script from stdin when stdin is not a terminal. Signals to a
// session are in signals.test.ts.
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { collect, needs, tempDir, until } from '../../../test/helpers.js'
import { enableScript, fake, log, noScript, onTerminal, raw, requireClient, rush } from './lib.js'

requireClient()

t.test('interactive: one session, a prompt per line, EOF exits with the last status', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'run' } })
  const r = await onTerminal(dir, { PS1: 'P> ' }, async (keys) => {
    keys('echo one\n')
    await until(() => log(dir).length >= 1)
    keys('\n') // an empty line: not sent, but counted as sh -i counts its input lines
    keys('echo after; exit 4\n')
    await until(() => log(dir).length >= 2)
    await sleep(200)
  })
  const execs = log(dir).filter((e) => e.method === 'exec')
  t.same(
    execs.map((e) => e.argv),
    [['echo one'], ['echo after; exit 4']],
  )
  t.same(
    execs.map((e) => e.conn),
    [1, 1],
    'one connection for the session',
  )
  t.same(
    execs.map((e) => e.id),
    [1, 2],
    'ids count up',
  )
  t.same(
    execs.map((e) => e.line),
    [1, 3],
    'each request carries its input line number (the empty line counts)',
  )
  t.match(r.stdout, /P> .*one/s)
  t.match(r.stdout, /after/)
  t.equal(r.code, 4, 'EOF: exits with the last status')
})

t.test('interactive: a Result saying the command ended the session ends the client at once, with no other prompt', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  // The daemon says so and keeps the connection open: the client must not wait to see its end.
  await fake(t, dir, { reply: { kind: 'result', status: 6, ended: true } })
  const r = await onTerminal(dir, { PS1: 'P> ' }, async (keys) => {
    keys('exit 6\n')
    await until(() => log(dir).length >= 1)
    await sleep(300)
    keys('echo not-sent\n')
    await sleep(300)
  })
  t.same(
    log(dir)
      .filter((e) => e.method === 'exec')
      .map((e) => e.argv),
    [['exit 6']],
    'the next line was not read',
  )
  t.equal(r.stdout.match(/P> /g)?.length, 1, 'one prompt only')
  t.equal(r.code, 6)
})

t.test('interactive without a daemon: /bin/sh -i', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  const r = await onTerminal(dir, { PS1: 'local> ' }, async (keys) => {
    keys('echo "in $0"; false\n')
    await sleep(300)
  })
  t.match(r.stdout, /local> /)
  t.match(r.stdout, /in sh/)
  t.equal(r.code, 1)
})

t.test('interactive, refused by the daemon: the message, then /bin/sh -i', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  await raw(t, dir, 'refuse')
  const r = await onTerminal(dir, { PS1: 'local> ' }, async (keys) => {
    await sleep(300)
    keys('echo "in $0"; exit 5\n')
    await sleep(300)
  })
  t.match(r.stdout, /rush: too many sessions \(limit 1\); running locally/)
  t.match(r.stdout, /local> .*in sh/s)
  t.equal(r.code, 5)
})

t.test('no arguments, stdin not a terminal: sh reads the script from stdin', async (t) => {
  const dir = tempDir(t)
  const child = spawn(rush, [], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1' } })
  child.stdin.end('echo piped "$0"\nexit 4\n')
  const [out, [code]] = await Promise.all([collect(child.stdout), new Promise<[number | null]>((resolve) => child.on('exit', (c) => resolve([c])))])
  t.equal(out, 'piped sh\n')
  t.equal(code, 4)
})
