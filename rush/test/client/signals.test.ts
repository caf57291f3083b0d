// Signals to the client: forwarded to the daemon as rush.signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
// Ctrl-Z and SIGCONT), and how a second Ctrl-C ends rush when the daemon does not answer.
import { spawnProcess } from 'fdwire'
import type { ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { tempDir, until } from '../../../test/helpers.js'
import { fake, fakeRushd, log, raw, requireClient, run, rush } from './lib.js'

requireClient()

t.test('SIGINT to the client is forwarded as rush.signal', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'waitSignal' } })
  const r = await run(
    [rush, '-c', 'sleep 10'],
    dir,
    {},
    {
      onSpawn: (child) => {
        void until(() => log(dir).length > 0).then(() => child.kill('SIGINT'))
      },
    },
  )
  t.same([r.code, r.signal], [null, 'SIGINT'], 'dies of the SIGINT that ended the command')
  const signal = log(dir).find((e) => e.method === 'signal')
  t.same(signal && { execId: signal.execId, signo: signal.signo, id: signal.id }, { execId: 1, signo: 2, id: 2 })
})

t.test('SIGTERM, SIGHUP and SIGQUIT are forwarded too', async (t) => {
  for (const [name, signo] of [
    ['SIGTERM', 15],
    ['SIGHUP', 1],
    ['SIGQUIT', 3],
  ] as const) {
    const dir = tempDir(t)
    await fake(t, dir, { reply: { kind: 'waitSignal' } })
    const r = await run(
      [rush, '-c', 'sleep 10'],
      dir,
      {},
      {
        onSpawn: (child) => void until(() => log(dir).length > 0).then(() => child.kill(name)),
      },
    )
    t.same([r.code, r.signal, signo > 0], [null, name, true], name)
  }
})

t.test('a stuck rushd: Ctrl-C is forwarded, and the next one, 1 s unanswered later, ends rush by SIGINT', async (t) => {
  const dir = tempDir(t)
  await raw(t, dir, 'silent')
  let child: ChildProcess | undefined
  const done = run([rush, '-c', 'sleep 30'], dir, {}, { onSpawn: (c) => (child = c), timeout: 120_000 })
  const received = () => (fs.existsSync(path.join(dir, 'received')) ? Number(fs.readFileSync(path.join(dir, 'received'), 'utf8')) : 0)
  t.ok(await until(() => received() > 0), 'the request went out (before, Ctrl-C would end rush at once)')
  const request = received()
  child!.kill('SIGINT')
  t.ok(await until(() => received() > request), 'the first Ctrl-C was forwarded')
  // The client gives the daemon 1 s to answer a forwarded signal, counted from forwarding it: at
  // least that long has passed once this sleep is over, however slow the machine.
  await sleep(1100)
  t.equal(child!.exitCode, null, 'rush still waits for the daemon')
  child!.kill('SIGINT')
  const r = await done
  t.equal(r.signal, 'SIGINT', 'the second one ends rush, by that signal')
  t.equal(r.stderr, 'rush: rushd did not answer the last signal within 1 s; leaving the command to it\n')
})

t.test('a live rushd answers each forwarded signal: a second Ctrl-C later is forwarded too', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'waitSignal', until: 15 } })
  let child: ChildProcess | undefined
  const done = run([rush, '-c', 'sleep 30'], dir, {}, { onSpawn: (c) => (child = c), timeout: 20_000 })
  await until(() => log(dir).length === 1)
  child!.kill('SIGINT')
  await until(() => log(dir).filter((e) => e['method'] === 'signal').length === 1) // answered as it arrives
  await sleep(1300)
  child!.kill('SIGINT')
  await until(() => log(dir).filter((e) => e['method'] === 'signal').length === 2)
  t.equal(child!.exitCode, null, 'still running: both were forwarded, none ended rush')
  child!.kill('SIGTERM')
  const r = await done
  t.equal(r.signal, 'SIGTERM', "the daemon's Result (killed by 15) ends rush by SIGTERM")
  t.same(
    log(dir)
      .filter((e) => e['method'] === 'signal')
      .map((e) => e['signo']),
    [2, 2, 15],
  )
  t.equal(r.stderr, '')
})

t.test('Ctrl-Z: forwards SIGTSTP, stops, and forwards SIGCONT when continued', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'waitSignal', until: 18 } })
  // The client runs in a process group of its own under this process, as a shell's job does: the
  // kernel discards stop signals for orphaned process groups, which the test runner's may be.
  const env = Object.entries({ ...process.env, RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSHD: fakeRushd })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
  const devnull = fs.openSync('/dev/null', 'r+')
  const child = spawnProcess(rush, { argv: [rush, '-c', 'sleep 10'], env, stdio: [devnull, devnull, devnull] })
  fs.closeSync(devnull)
  const state = () => {
    try {
      return / \(.*\) (\w)/.exec(fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8'))?.[1]
    } catch {
      return 'gone'
    }
  }
  t.ok(await until(() => log(dir).length > 0), 'the request arrived')
  process.kill(child.pid, 'SIGTSTP')
  t.ok(await until(() => state() === 'T'), 'the client stopped itself')
  process.kill(child.pid, 'SIGCONT')
  const exit = await child.exited
  t.same(exit, { status: 128 + 18, signal: 0 }, 'then finished with what the daemon answered')
  t.same(
    log(dir)
      .filter((e) => e.method === 'signal')
      .map((e) => e.signo),
    [20, 18],
  )
})
