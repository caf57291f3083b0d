// How the client acts on each daemon reply: a result's status or signal, run locally, a program to
// exec, error replies, and fds sent along with a reply.
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { tempDir } from '../../../test/helpers.js'
import { fake, log, requireClient, run, rush, rushC } from './lib.js'

requireClient()

t.test('exit status pass-through; a command killed by signal N kills the client with N', async (t) => {
  const dir = tempDir(t)
  for (const [reply, code] of [
    [{ status: 0 }, 0],
    [{ status: 1 }, 1],
    [{ status: 255 }, 255],
    [{ status: 256 + 3 }, 3],
    [{ status: 0, signal: 2 }, 'SIGINT'],
    [{ status: 0, signal: 9 }, 'SIGKILL'],
    [{ status: 0, signal: 15 }, 'SIGTERM'],
  ] as const) {
    const sub = path.join(dir, `d${String(code)}`)
    fs.mkdirSync(sub, { mode: 0o700 })
    const d = await fake(t, sub, { reply: { kind: 'result', ...reply } })
    const r = await rushC(sub, ['exit'])
    // Like sh -c: the caller sees the same death (a shell's $? is 128+N).
    if (typeof code === 'number') t.same([r.code, r.signal], [code, null], JSON.stringify(reply))
    else t.same([r.code, r.signal], [null, code], JSON.stringify(reply))
    t.equal(r.stderr, '')
    d.kill('SIGKILL')
  }
})

t.test('RunLocally: the client runs the command itself', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'runLocally', reason: 'needs a tty' } })
  const r = await rushC(dir, ['echo "local $0 $1"; exit 6', 'a', 'b'])
  t.equal(r.stdout, 'local a b\n')
  t.equal(r.code, 6)
  t.equal(log(dir).length, 1, 'the daemon was asked first')
})

t.test('a program to exec: the client becomes it, with the argv and environment given, keeping its fds', async (t) => {
  const dir = tempDir(t)
  const script = 'echo "$$ $0 $1 [$FOO] [${HOME-unset}]"; ls /proc/self/fd/5 >/dev/null && echo fd5; exit 9'
  await fake(t, dir, { reply: { kind: 'execLocally', program: '/bin/sh', argv: ['sh', '-c', script, 'zero', 'one'], env: ['FOO=bar baz'] } })
  let pid = 0
  // Through a shell that gives the client an fd 5 and then becomes it (exec: same pid).
  const r = await run(['/bin/sh', '-c', 'exec "$0" -c "never run by sh" 5</dev/null', rush], dir, {}, { onSpawn: (c) => (pid = c.pid!) })
  t.equal(r.stdout, `${pid} zero one [bar baz] [unset]\nfd5\n`, 'same pid as the client, exactly that argv and environment, fd 5 inherited')
  t.equal(r.code, 9, "the program's status is the client's")
  t.equal(log(dir).length, 1, 'the daemon was asked first')
  const gone = path.join(dir, 'gone')
  fs.mkdirSync(gone, { mode: 0o700 })
  await fake(t, gone, { reply: { kind: 'execLocally', program: '/nonexistent/prog', argv: ['prog'], env: [] } })
  const fallback = await rushC(gone, ['echo "sh ran it: $0 $1"', 'a', 'b'])
  t.equal(fallback.stdout, 'sh ran it: a b\n', "a program that cannot be exec'ed: sh -c runs the script (and says what is wrong)")
})

t.test('error replies: unknown method runs locally, others print the message and exit 127', async (t) => {
  const dir = tempDir(t)
  const a = path.join(dir, 'a')
  fs.mkdirSync(a, { mode: 0o700 })
  await fake(t, a, { reply: { kind: 'error', code: 'ERR_FDWIRE_UNKNOWN_METHOD', message: 'unknown method "rush.exec"' } })
  const local = await rushC(a, ['echo here'])
  t.equal(local.stdout, 'here\n')
  t.equal(local.code, 0)
  const b = path.join(dir, 'b')
  fs.mkdirSync(b, { mode: 0o700 })
  await fake(t, b, { reply: { kind: 'error', code: 'ENOENT', message: 'no such worker' } })
  const failed = await rushC(b, ['echo here'])
  t.equal(failed.stdout, '')
  t.equal(failed.code, 127)
  t.equal(failed.stderr, 'rush: no such worker\n')
})

t.test('fds sent with the reply are closed, not leaked', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'result', status: 9 }, replyFds: true })
  const r = await rushC(dir, ['exit'])
  t.equal(r.code, 9)
})
