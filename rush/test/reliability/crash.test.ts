/**
 * Crashes, against the real rushd and C client: a worker killed mid-command (an in-process echo
 * blocked on its client's full stdout pipe), the
 * daemon killed (also with a client waiting in its backlog), a stopped worker, a log that cannot be
 * written. What is checked is what happens, never how fast: every wait is a hang guard. How fast
 * the pool and the daemon come back is measured by `npm run soak` (scripts/reliability/soak.mjs, "crash
 * recovery"), against the targets.
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { needs, processesWith } from '../../../test/helpers.js'
import { alive, daemonPid, hasConnectedSocket, haveRush, kill, liveStatus, pollFor, poolReady, runRush, rush, startRushd, workerPids } from './lib.js'

/** The pipe inode of fd `fd` of process `pid`, or undefined. */
function pipeOf(pid: number, fd: number | string): string | undefined {
  try {
    return /^pipe:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]
  } catch {
    return undefined
  }
}

/** Which of `servers` holds an fd on pipe `inode` (a client's stdout, passed with its request). */
function holderOf(inode: string, servers: number[]): number | undefined {
  return servers.find((pid) => {
    try {
      return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => pipeOf(pid, fd) === inode)
    } catch {
      return false
    }
  })
}

/**
 * `rush ARGS` with its stdout on a pipe whose reader waits for `release` to exist before it reads:
 * what the command writes beyond the pipe's 64 KiB (pipe(7)) waits in its writer until then. The
 * client's status comes last on stderr (the pipeline's own status is the reader's).
 */
function runIntoHeldPipe(args: string[], env: Record<string, string>, release: string, mark: string) {
  const script = '{ "$0" "$@"; echo "status $?" >&2; } | { while [ ! -e "$RELEASE" ]; do sleep 0.05; done; cat; }'
  const child = spawn('/bin/sh', ['-c', script, rush(), ...args], {
    env: { ...env, RELEASE: release, RUSH_CRASH_MARK: mark },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('latin1').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000) // a hang guard
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
  return {
    /** The pipe the client writes into, once it runs. */
    pipe: () => {
      const client = processesWith('RUSH_CRASH_MARK', mark).find((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === rush()
        } catch {
          return false
        }
      })
      return client === undefined ? undefined : pipeOf(client, 1)
    },
    done: async () => {
      await exited
      clearTimeout(timer)
      const m = /status (\d+)\n$/.exec(stderr)
      return { status: m ? Number(m[1]) : null, stdout, stderr: stderr.replace(/status \d+\n$/, '') }
    },
  }
}

/** A new daemon (not `old`) of `dir` that answers fdwire.status, waited for with a hang guard. */
async function daemonBack(dir: string, old: number): Promise<number | undefined> {
  return pollFor(
    async () => {
      const pid = daemonPid(dir)
      if (pid === undefined || pid === old || !alive(pid)) return undefined
      return (await liveStatus(dir, 5000)) ? pid : undefined
    },
    120_000,
    50,
  )
}

t.test('a worker killed with SIGKILL mid-command: its clients get an error, the others finish, the pool is back to 4', async (t) => {
  if (!haveRush(t)) return
  const { dir, env, pid: daemon } = startRushd(t)
  t.ok(await poolReady(dir), 'the pool has 4 workers')
  // Each command is an in-process `echo` of 120 KiB (an argument's limit is 128 KiB, execve(2))
  // into a pipe nobody reads yet: its server's write blocks until the test reads, so all of them
  // are mid-command at once, however slow the machine. The first session is the daemon's own, the
  // others go to workers.
  const n = 6
  const word = 'x'.repeat(120 * 1024)
  const release = path.join(dir, 'release')
  const clients = Array.from({ length: n }, (_, k) => runIntoHeldPipe(['-c', `echo ${k}${word}`], env, release, `crash-${process.pid}-${k}`))
  const servers = () => [daemon, ...workerPids(daemon)]
  const served = await pollFor(() => {
    const list = clients.map((c) => {
      const inode = c.pipe()
      return inode === undefined ? undefined : holderOf(inode, servers())
    })
    return list.every((s) => s !== undefined) ? (list as number[]) : undefined
  }, 120_000)
  t.ok(served, `all ${n} commands are running`)
  if (!served) {
    fs.writeFileSync(release, '')
    await Promise.all(clients.map((c) => c.done()))
    return
  }
  const workers = workerPids(daemon)
  const onWorkers = served.filter((s) => workers.includes(s))
  t.ok(onWorkers.length > 0 && served.includes(daemon), `some commands run on workers, one on the daemon (servers ${served.join(' ')})`)
  if (onWorkers.length === 0) {
    fs.writeFileSync(release, '')
    await Promise.all(clients.map((c) => c.done()))
    return
  }
  const victim = onWorkers[0]!
  const affected = new Set(served.flatMap((s, k) => (s === victim ? [k] : [])))
  t.ok(kill(victim, 'SIGKILL'), `killed worker ${victim} (serving commands ${[...affected].join(' ')})`)
  // Back to N: a new worker process exists and the daemon counts 4 live workers again.
  const back = await pollFor(
    async () => {
      const now = workerPids(daemon)
      if (now.includes(victim) || now.length !== 4) return false
      return (await liveStatus(dir, 5000))?.['workers'] === 4
    },
    120_000,
    20,
  )
  t.ok(back, 'the pool is back to 4 workers')
  fs.writeFileSync(release, '')
  const results = await Promise.all(clients.map((c) => c.done()))
  for (const [k, r] of results.entries()) {
    if (affected.has(k)) {
      t.not(r.status, 0, `client ${k} (on the killed worker) exits non-zero (${r.status})`)
      t.match(r.stderr, /rush: lost connection to rushd/, `client ${k} says why: ${JSON.stringify(r.stderr)}`)
    } else {
      t.same(
        [r.status, r.stdout.length, r.stdout.slice(0, 2), r.stderr],
        [0, word.length + 2, `${k}x`, ''],
        `client ${k} (not on the killed worker) is unaffected`,
      )
    }
  }
  t.ok(alive(daemon), 'the daemon is still running')
  const after = await runRush(['-c', 'echo after'], env)
  t.same([after.status, after.stdout], [0, 'after\n'], 'the next command is served')
})

t.test('the daemon killed with SIGKILL: the next rush gives the right answer, quietly, and a daemon is back', async (t) => {
  if (!haveRush(t)) return
  const { dir, env: base, pid: daemon } = startRushd(t)
  const env = { ...base }
  delete env['RUSH_NO_AUTOSTART'] // the client's fallback starts a daemon
  t.ok(await poolReady(dir), 'the pool has 4 workers')
  const workers = workerPids(daemon)
  const warm = await runRush(['-c', 'echo warm'], env)
  t.same([warm.status, warm.stdout], [0, 'warm\n'], 'served before the kill')
  t.ok(kill(daemon, 'SIGKILL'), `killed the daemon ${daemon}`)
  // Dead as `ps` sees it (gone or a zombie). Its other threads may still be exiting, holding its
  // listening socket: the next rush may land in its backlog (the next test makes sure of that).
  t.ok(await pollFor(() => !alive(daemon), 60_000), 'the daemon died')
  const first = await runRush(['-c', 'echo x'], env)
  t.same([first.status, first.stdout, first.stderr], [0, 'x\n', ''], `the next rush gives the right answer, as sh -c would (got ${JSON.stringify(first)})`)
  const running = await daemonBack(dir, daemon)
  t.ok(running, `that rush started a new daemon, which answers (pid ${running})`)
  if (running) t.teardown(() => void kill(running, 'SIGTERM'))
  t.ok(await pollFor(() => workers.every((w) => !alive(w)), 120_000), `the dead daemon's workers exit (${workers.filter(alive).join(' ') || 'none left'})`)
  const next = await runRush(['-c', 'echo y'], env)
  t.same([next.status, next.stdout, next.stderr], [0, 'y\n', ''], 'the new daemon serves')
})

t.test('the daemon killed with SIGKILL while a rush waits in its backlog: that rush runs the command itself, quietly, and starts a daemon', async (t) => {
  if (!haveRush(t)) return
  const { dir, env: base, pid: daemon } = startRushd(t)
  const env = { ...base }
  delete env['RUSH_NO_AUTOSTART']
  t.ok(await poolReady(dir), 'the pool has 4 workers')
  // Stopped, the daemon accepts nothing; the kernel still completes a connect into its backlog.
  t.ok(kill(daemon, 'SIGSTOP'), `stopped the daemon ${daemon}`)
  t.teardown(() => void kill(daemon, 'SIGCONT'))
  let client = 0
  const run = runRush(['-c', 'echo x'], env, 300_000, (pid) => (client = pid))
  t.ok(await pollFor(() => client > 0 && hasConnectedSocket(client), 120_000), 'the client connected: it waits in the backlog')
  t.ok(kill(daemon, 'SIGKILL'), 'killed the daemon')
  const r = await run
  t.same([r.status, r.stdout, r.stderr], [0, 'x\n', ''], `the command ran once, here, as sh -c would run it (got ${JSON.stringify(r)})`)
  const running = await daemonBack(dir, daemon)
  t.ok(running, `that rush started a new daemon, which answers (pid ${running})`)
  if (running) t.teardown(() => void kill(running, 'SIGTERM'))
  const next = await runRush(['-c', 'echo y'], env)
  t.same([next.status, next.stdout, next.stderr], [0, 'y\n', ''], 'the new daemon serves')
})

for (const which of ['one worker', 'every worker'] as const) {
  t.test(`${which} stopped with SIGSTOP: concurrent commands are all answered, none hangs`, async (t) => {
    if (!haveRush(t)) return
    const { dir, env, pid: daemon } = startRushd(t)
    t.ok(await poolReady(dir), 'the pool has 4 workers')
    const workers = workerPids(daemon)
    const stopped = which === 'one worker' ? workers.slice(0, 1) : workers
    for (const w of stopped) kill(w, 'SIGSTOP')
    t.teardown(() => {
      for (const w of stopped) kill(w, 'SIGCONT')
    })
    const n = 8
    const results = await Promise.all(Array.from({ length: n }, (_, k) => runRush(['-c', `sleep 0.2; echo ok ${k}`], env, 300_000)))
    for (const [k, r] of results.entries()) {
      t.same([r.status, r.stdout, r.stderr, r.timedOut], [0, `ok ${k}\n`, '', false], `command ${k} answered`)
    }
    t.ok(alive(daemon), 'the daemon is still running')
    for (const w of stopped) kill(w, 'SIGCONT')
    const after = await runRush(['-c', 'echo after'], env)
    t.same([after.status, after.stdout], [0, 'after\n'], 'served after the workers continue')
  })
}

t.test('a log that cannot be written (/dev/full) with NODE_DEBUG=fdwire: the daemon keeps serving', async (t) => {
  if (!haveRush(t) || !needs(t, fs.existsSync('/dev/full') ? undefined : 'no /dev/full', 'mknod -m 666 /dev/full c 1 7 (as root)')) return
  const { dir, env, pid: daemon } = startRushd(t, { NODE_DEBUG: 'fdwire' }, (dir) => fs.symlinkSync('/dev/full', path.join(dir, 'daemon.log')))
  for (let round = 0; round < 5; round++) {
    const results = await Promise.all(Array.from({ length: 6 }, (_, k) => runRush(['-c', k % 2 ? `echo ok ${k}` : `printf 'ok %s\\n' ${k} | cat`], env)))
    for (const [k, r] of results.entries()) t.same([r.status, r.stdout, r.stderr], [0, `ok ${k}\n`, ''], `round ${round}, command ${k}`)
    const one = await runRush(['-c', 'echo serial'], env)
    t.same([one.status, one.stdout], [0, 'serial\n'], `round ${round}, a command alone`)
  }
  await sleep(100)
  t.ok(alive(daemon), 'the daemon is still running')
  t.equal(daemonPid(dir), daemon, 'same daemon as at the start (it never restarted)')
  t.equal(fs.readlinkSync(path.join(dir, 'daemon.log')), '/dev/full', 'the log is still /dev/full (writes to it failed with ENOSPC)')
})
