/**
 * rush sessions against a real rushd: nothing leaks from one `rush -c` to the next (through the
 * in-process path and through sh), `exit N` ends a session and never the daemon, 100 concurrent
 * calls, signals to the job end it as under sh -c, and a daemon killed with -9 is replaced.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import {
  alive,
  comm,
  daemonPid,
  haveClient,
  leftovers,
  processesWith,
  run,
  runtimeDir,
  rushBin,
  rushd,
  startRushd,
  until,
  withoutNodeOptions,
  workerPids,
  type Run,
} from './scripts/harness.js'
import { spawn } from 'node:child_process'
import { leakTest } from '../../test/helpers.js'

const status = (r: Run): number | null => (r.signal ? 128 + (os_signals[r.signal] ?? 0) : r.code)
const os_signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 }

if (haveClient(t)) {
  t.setTimeout(600_000)
  const dir = runtimeDir(t)
  const cwd = fs.mkdtempSync('/tmp/rush-sess-')
  t.teardown(() => fs.rmSync(cwd, { recursive: true, force: true }))
  const env = (extra: Record<string, string> = {}): Record<string, string> => {
    const base: Record<string, string> = {}
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) base[k] = v
    return { ...base, PWD: cwd, RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', ...extra }
  }
  const rushC = (script: string, ...args: string[]) => run([rushBin, '-c', script, ...args], { cwd, env: env() })
  const text = (r: Run) => ({ out: r.stdout.toString(), err: r.stderr.toString(), status: status(r) })

  t.before(() => {
    startRushd(t, dir)
  })

  t.test('isolation between consecutive sessions', async (t) => {
    const pairs: [string, string, { out: string; err: string; status: number }][] = [
      // in-process, both
      ['cd /tmp', 'pwd', { out: `${cwd}\n`, err: '', status: 0 }],
      ['export FOO=bar', 'echo "${FOO-unset}"', { out: 'unset\n', err: '', status: 0 }],
      ['FOO=bar', 'echo "${FOO-unset}"', { out: 'unset\n', err: '', status: 0 }],
      ['false', 'echo $?', { out: '0\n', err: '', status: 0 }],
      ['exit 7', 'echo $?', { out: '0\n', err: '', status: 0 }],
      ['umask 077', 'umask', { out: `${(process.umask().toString(8)).padStart(4, '0')}\n`, err: '', status: 0 }],
      // the first through sh
      ['cd /tmp; ls >/dev/null', 'pwd', { out: `${cwd}\n`, err: '', status: 0 }],
      ['export FOO=bar; ls >/dev/null', 'printenv FOO', { out: '', err: '', status: 1 }],
      ['(false); false', 'echo $?', { out: '0\n', err: '', status: 0 }],
      ['umask 077; ls >/dev/null', 'umask', { out: `${(process.umask().toString(8)).padStart(4, '0')}\n`, err: '', status: 0 }],
      // the second through sh / direct exec
      ['cd /tmp', 'pwd | cat', { out: `${cwd}\n`, err: '', status: 0 }],
      ['cd /tmp', '/bin/pwd', { out: `${fs.realpathSync(cwd)}\n`, err: '', status: 0 }],
      ['export FOO=bar', 'printenv FOO', { out: '', err: '', status: 1 }],
      ['false', '(echo $?)', { out: '0\n', err: '', status: 0 }],
    ]
    for (const [first, second, want] of pairs) {
      await rushC(first)
      t.same(text(await rushC(second)), want, `${JSON.stringify(first)} then ${JSON.stringify(second)}`)
    }
  })

  t.test('exit N ends the session, never the daemon', async (t) => {
    const pid = daemonPid(dir)
    t.ok(pid !== undefined && alive(pid), 'daemon running')
    for (const script of ['exit 5', 'echo a; exit 5', 'true && exit 5', 'exit 5 | :; exit 5', 'sh -c "exit 5"']) {
      t.same(text(await rushC(script)).status, 5, script)
    }
    t.equal(rushd(dir, 'status').status, 0, 'rushd status: running')
    t.equal(daemonPid(dir), pid, 'same daemon pid')
    t.ok(pid !== undefined && alive(pid), 'that daemon is alive')
    t.same(text(await rushC('echo still here')), { out: 'still here\n', err: '', status: 0 }, 'it still serves')
  })

  // Sessions the daemon ran itself plus the ones it handed to workers (one command each here).
  const commandsRun = (): number => {
    const out = rushd(dir, 'status').output
    return Number(/commands\s+(\d+) answered/.exec(out)?.[1] ?? NaN) + Number(/(\d+) sessions handed to workers/.exec(out)?.[1] ?? 0)
  }

  leakTest(t, '100 concurrent rush -c calls', async (t) => {
    const pid = daemonPid(dir)
    const before = commandsRun()
    const calls = Array.from({ length: 100 }, (_, i) => {
      const code = (i * 7 + 1) % 256
      const kind = i % 3
      // The exec and sh kinds print their $$ first: both run in the client's own place (its pid),
      // the lone program exec'ed by the client, the sh script by the client's /bin/sh.
      const script =
        kind === 0
          ? `echo uniq-${i} && exit ${code}` // in-process
          : kind === 1
            ? `/bin/sh -c 'echo $$; echo uniq-${i}; echo err-${i} >&2; exit ${code}'` // a lone program: exec'ed by the client
            : `echo $$; echo "uniq-$1"; echo "err-$1" >&2; exit ${code}` // sh, run by the client
      const want = { out: `uniq-${i}\n`, err: kind === 0 ? '' : `err-${i}\n`, status: code, onDaemon: kind === 0 }
      let clientPid = 0
      const child = run([rushBin, '-c', script, 'name', String(i)], { cwd, env: env(), onSpawn: (pid) => (clientPid = pid) })
      return child.then((r) => {
        const got = { ...text(r), onDaemon: true }
        if (kind !== 0) {
          const [pid, ...rest] = got.out.split('\n')
          got.onDaemon = Number(pid) !== clientPid
          got.out = rest.join('\n')
        }
        return { i, script, got, want }
      })
    })
    const results = await Promise.all(calls)
    const wrong = results.filter((r) => JSON.stringify(r.got) !== JSON.stringify(r.want))
    t.same(wrong, [], 'every output and status right')
    let after = commandsRun()
    await until(() => (after = commandsRun()) - before >= 100, 60_000, 200) // a hang guard
    t.equal(after - before, 100, `rushd status accounts for the 100 commands (answered by the daemon + handed to workers: ${before} -> ${after})`)
    t.equal(daemonPid(dir), pid, 'same daemon')
    t.equal(rushd(dir, 'status').status, 0, 'daemon still running')
  })

  // A terminal's Ctrl-C, Ctrl-\ and hangup reach the whole foreground process group: here, the
  // group of the client (or of sh, for the reference run) and everything it started.
  const signalCases: [NodeJS.Signals, number][] = [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGQUIT', 131],
  ]
  for (const [signal, code] of signalCases) {
    t.test(`${signal} to the job's process group ends it as under sh -c`, async (t) => {
      const outcomes: { status: number | null; out: string; leftovers: string[] }[] = []
      for (const program of [rushBin, '/bin/sh']) {
        const mark = `sess-${process.pid}-${signal}-${outcomes.length}`
        const child = spawn(program, ['-c', 'sleep 30; echo not reached'], {
          cwd,
          env: env({ RUSH_SESS_MARK: mark }),
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        })
        let out = ''
        child.stdout.on('data', (c: Buffer) => (out += c.toString()))
        child.stderr.on('data', (c: Buffer) => (out += c.toString()))
        const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
        // The sleep itself, exec'd: a shell's fork before its execve(2) still runs the shell's own
        // handlers, and dash, which catches SIGINT under -c, would let a signal that lands there go
        // by, then wait for the whole sleep.
        const sleeps = () => processesWith('RUSH_SESS_MARK', mark).filter((p) => p !== child.pid && comm(p) === 'sleep')
        t.ok(await until(() => sleeps().length > 0, 20_000), `${program}: the sleep started`)
        if (program === rushBin) {
          // The sleep is a child of the client itself (which became sh), not of rushd or a worker.
          const parents = processesWith('RUSH_SESS_MARK', mark)
            .filter((p) => p !== child.pid)
            .map(ppid)
          t.same(parents, [child.pid], 'the command runs in the client, not in the daemon', { parents })
        }
        process.kill(-child.pid!, signal)
        const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 20_000) // a hang guard
        const [c, s] = await exited
        clearTimeout(timer)
        outcomes.push({ status: s ? 128 + os_signals[s]! : c, out, leftovers: await leftovers('RUSH_SESS_MARK', mark) })
      }
      t.same(outcomes[0], outcomes[1], 'rush -c ends as sh -c does')
      t.same(outcomes[0], { status: code, out: '', leftovers: [] }, `status ${code}, no output, nothing left`)
    })
  }

  t.test("a pool worker that dies is a line in rushd's log, and the next session is served", async (t) => {
    const own = runtimeDir(t)
    const pid = startRushd(t, own, { RUSH_POOL_MIN: '1' })
    // Killed once it has said Hello: a minimum worker that dies before that fails the pool's start.
    t.ok(await until(() => /workers\s+1 running/.test(rushd(own, 'status').output), 60_000, 100), 'RUSH_POOL_MIN=1: one worker runs')
    const workers = workerPids(pid)
    t.equal(workers.length, 1)
    const victim = workers[0]!
    process.kill(victim, 'SIGKILL')
    const log = () => fs.readFileSync(path.join(own, 'daemon.log'), 'utf8')
    const line = `rushd: worker pid ${victim} was killed by SIGKILL`
    t.ok(await until(() => log().includes(line)), `the log says which worker died, and how ("${line}")`)
    const r = await run([rushBin, '-c', 'echo served'], { cwd, env: env({ RUSH_RUNTIME_DIR: own }) })
    t.same(text(r), { out: 'served\n', err: '', status: 0 }, 'the next session is served')
    t.equal(rushd(own, 'stop').status, 0, 'stopped')
    t.equal(log().match(/^rushd: worker pid /gm)?.length, 1, 'no other worker exit was logged, the stop included', { log: log() })
  })

  t.test('daemon killed with -9: the next call is right, and a daemon comes back', async (t) => {
    const own = runtimeDir(t)
    const first = startRushd(t, own)
    process.kill(first, 'SIGKILL')
    t.ok(await until(() => !alive(first), 60_000), 'daemon dead')
    // Autostart on: the client finds bin/rushd from its own path (build/Release/../../bin/rushd).
    const childEnv = env({ RUSH_RUNTIME_DIR: own })
    delete childEnv['RUSH_NO_AUTOSTART']
    const r = await run(withoutNodeOptions([rushBin, '-c', 'echo "after $1"; exit 3', 'sh', 'kill']), { cwd, env: childEnv })
    t.same(text(r), { out: 'after kill\n', err: '', status: 3 }, 'the call after the kill is right')
    let second: number | undefined
    const back = await until(
      () => {
        second = daemonPid(own)
        return second !== undefined && second !== first && alive(second) && rushd(own, 'status').status === 0
      },
      60_000,
      200,
    )
    t.ok(back, `a new daemon is running (pid ${second})`)
    const again = await run([rushBin, '-c', 'echo "$$" >/dev/null; echo served'], { cwd, env: { ...childEnv, RUSH_NO_AUTOSTART: '1' } })
    t.same(text(again), { out: 'served\n', err: '', status: 0 }, 'and it serves')
    t.equal(rushd(own, 'stop').status, 0, 'stopped')
    t.ok(await until(() => second === undefined || !alive(second), 60_000), 'the new daemon is gone')
  })
}

function ppid(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return 0
  }
}
