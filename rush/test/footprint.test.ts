/**
 * rushd's footprint: no worker at idle, workers for concurrent sessions only (retired when idle),
 * and a daemon started on demand that exits when idle, removing its socket and pid file, after
 * which the next rush starts one again without a lost or doubled command. Real rushd, real
 * clients; no timing assertions, only hang guards.
 */
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { Client } from 'fdwire'
import { alive, daemonPid, haveRush, liveStatus, pollFor, runRush, rushd, startRushd, workerPids, type Env } from './reliability/lib.js'

if (!haveRush(t)) process.exit(0)

t.test('workers start for concurrent sessions only and retire when idle', async (t) => {
  const { dir, env, pid } = startRushd(t, { RUSH_POOL_MIN: '0', RUSH_WORKER_IDLE: '0.2' })
  const status0 = await liveStatus(dir)
  t.match(status0, { workers: 0, workersMin: 0, workersMax: 4 }, 'no worker at idle')
  t.same(workerPids(pid), [], 'no worker process')

  // Sequential sessions never need a worker.
  for (let i = 0; i < 5; i++) t.match(await runRush(['-c', `echo one ${i}`], env), { status: 0, stdout: `one ${i}\n` })
  t.same(workerPids(pid), [], 'five sessions one after another: still no worker')

  // A second session while one is open: the daemon serves it too, and starts a worker for the
  // next one. (A connection of our own holds the first session open, whatever the load.)
  const held = await Client.connect(path.join(dir, 'daemon.sock'))
  t.match(await runRush(['-c', 'echo concurrent'], env), { status: 0, stdout: 'concurrent\n', stderr: '' }, 'the concurrent session is served')
  const started = await pollFor(
    async () => {
      const s = await liveStatus(dir)
      return Number(s?.['workers']) + Number(s?.['workersStarting']) + Number(s?.['workersRetired']) > 0
    },
    60_000,
    20,
  )
  t.ok(started, 'it started a worker')
  await held.close()
  t.ok(await pollFor(async () => (await liveStatus(dir))?.['workers'] === 0 && workerPids(pid).length === 0, 60_000, 50), 'idle workers retired: none left')
  t.ok(Number((await liveStatus(dir))?.['workersRetired']) >= 1, 'counted as retired')
  t.ok(alive(pid), 'the daemon stays (RUSH_IDLE_EXIT unset for `rushd start`: 600 s)')
})

t.test('a daemon started on demand exits when idle, cleans up, and the next rush starts one again', async (t) => {
  const { dir, env, pid } = startRushd(t, { RUSH_IDLE_EXIT: '0.3' })
  const sock = path.join(dir, 'daemon.sock')
  const pidFile = path.join(dir, 'daemon.pid')
  t.ok(fs.existsSync(sock) && fs.existsSync(pidFile))
  t.ok(await pollFor(() => !alive(pid), 60_000, 20), 'it exited after 0.3 s without sessions')
  t.notOk(fs.existsSync(sock), 'its socket is gone')
  t.notOk(fs.existsSync(pidFile), 'its pid file is gone')

  // No daemon: the client runs the command itself and starts one for next time.
  const autostart: Env = { ...env }
  delete autostart['RUSH_NO_AUTOSTART']
  t.match(await runRush(['-c', 'echo without'], autostart), { status: 0, stdout: 'without\n', stderr: '' })
  t.ok(await pollFor(() => daemonPid(dir) !== undefined && alive(daemonPid(dir)!), 60_000, 20), 'a daemon started again')
  const again = daemonPid(dir)!
  t.not(again, pid)
})

t.test('idle exits racing with clients: every command runs once, right, and quietly', async (t) => {
  // A daemon that exits 20 ms after its last session, and clients that keep coming at random
  // gaps around that: some land just as it closes, some find no daemon and start one.
  // (The daemons are autostarted by the clients; `rushd start` may see one exit before it
  // answered, which is no concern of the clients'.)
  const { dir, env, pid: first } = startRushd(t)
  t.equal(spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, rushd, 'stop'], { env, timeout: 60_000 }).status, 0)
  t.ok(await pollFor(() => !alive(first), 60_000, 20), 'the first daemon is gone')
  const autostart: Env = { ...env, RUSH_IDLE_EXIT: '0.02' }
  delete autostart['RUSH_NO_AUTOSTART']
  const marks = path.join(dir, '..', 'marks')
  for (let i = 0; i < 120; i++) {
    // Each command appends a line with its own number: run twice, it would show twice.
    const r = await runRush(['-c', `echo run ${i}; echo ${i} >> ${marks}`], autostart)
    t.same([r.status, r.stdout, r.stderr], [0, `run ${i}\n`, ''], `command ${i}`)
    if (i % 3 === 0) await new Promise((resolve) => setTimeout(resolve, (i * 7) % 40))
  }
  const lines = fs.readFileSync(marks, 'utf8').trim().split('\n')
  t.same(
    lines,
    Array.from({ length: 120 }, (_, i) => String(i)),
    'each command ran exactly once, in order',
  )
  // Each daemon logs its start to daemon.log in the runtime dir.
  const starts = (fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8').match(/ listening on /g) ?? []).length
  t.ok(starts >= 3, `daemons came and went (${starts} started)`)
})

t.test('a foreground daemon (`rushd run`) stays unless RUSH_IDLE_EXIT says otherwise', async (t) => {
  const { dir, env } = startRushd(t)
  t.match(await liveStatus(dir), { idleTimeoutMs: 600_000 }, '`rushd start` (on demand): 600 s by default')
  // `rushd run` in a second runtime dir: no idle exit.
  const dir2 = path.join(dir, '..', 'fg')
  fs.mkdirSync(dir2, { mode: 0o700 })
  const fg = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, rushd, 'run'], { env: { ...env, RUSH_RUNTIME_DIR: dir2 }, stdio: 'ignore' })
  t.teardown(() => fg.kill('SIGKILL'))
  t.ok(await pollFor(async () => (await liveStatus(dir2)) !== undefined, 60_000, 20), 'it listens')
  t.match(await liveStatus(dir2), { idleTimeoutMs: 0, idleCloseInMs: null }, 'no idle exit')
  const exited = new Promise((resolve) => fg.once('exit', resolve))
  fg.kill('SIGTERM')
  await exited
})
