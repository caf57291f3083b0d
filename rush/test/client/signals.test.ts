// Signals to the client, with real processes. rushd runs no command of a client's as its child, so
// the client forwards nothing to it: `rush -c` keeps the signal dispositions it was given while it
// waits for the answer, as `sh -c` would (a signal takes its own action, one ignored at start
// stays ignored, also for the /bin/sh it then execs, and Ctrl-Z stops it like any job), and an
// interactive session, like `sh -i`, lives through Ctrl-C while a line waits for its answer.
import { type ProcessExit, spawnProcess } from 'fdwire'
import { randomUUID } from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { alive, needs, processesWith, tempDir, until, within } from '../../../test/helpers.js'
import { enableScript, fake, fakeRushd, log, noScript, onTerminal, requireClient, rush, type Test } from './lib.js'

requireClient()

/** The environment entry that marks every process of one test's client, to find what it leaves behind. */
const MARK = 'RUSH_SIGNALS_TEST'

/** The fake daemon: it holds every rush.exec until `release(dir)`, never if not called, then answers `then`. */
const holding = (t: Test, dir: string, then: Record<string, unknown>) => fake(t, dir, { reply: { kind: 'hold', then } })
const release = (dir: string) => fs.writeFileSync(path.join(dir, 'release'), '')
/** The rush.exec requests the fake daemon got, and the connections whose request it dropped when they closed. */
const execs = (dir: string) => log(dir).filter((e) => e.method === 'exec')
const abandoned = (dir: string) => log(dir).flatMap((e) => (e.method === 'abandoned' ? [e.conn] : []))

/** A process's state letter in /proc/PID/stat (S sleeping, T stopped, Z zombie, ...), or 'gone'. */
function state(pid: number): string {
  try {
    return / \(.*\) (\w)/s.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '?'
  } catch {
    return 'gone'
  }
}

function exe(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return undefined
  }
}

interface Job {
  pid: number
  marker: string
  /** Its end, or a rejection after 30 s (a hang guard). */
  exited(): Promise<ProcessExit>
  /** What it wrote on stdout and stderr. */
  output(): string
}

/**
 * Starts `rush -c SCRIPT` against the daemon of `dir`, the way a shell starts a job: in a process
 * group of its own, under this process (spawnProcess), since the kernel discards stop signals
 * sent to a process of an orphaned process group, which the test runner's may be (signal(7),
 * "job control"); with every signal at its default action (spawnProcess resets them). /bin/sh runs
 * `prelude` first, turns core dumps off (SIGQUIT's default action dumps core) and execs rush in
 * its own place, so the job's pid is rush's. stdout and stderr go to a file.
 */
function start(t: Test, dir: string, script: string, prelude = ''): Job {
  const marker = randomUUID()
  const out = path.join(dir, `out-${marker}`)
  const env = Object.entries({ ...process.env, RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSHD: fakeRushd, [MARK]: marker })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
  const stdin = fs.openSync('/dev/null', 'r')
  const stdout = fs.openSync(out, 'w')
  let child: ReturnType<typeof spawnProcess>
  try {
    const argv = ['sh', '-c', `${prelude} ulimit -c 0; exec "$@"`, 'sh', rush, '-c', script]
    child = spawnProcess('/bin/sh', { argv, env, cwd: dir, stdio: [stdin, stdout, stdout] })
  } finally {
    fs.closeSync(stdin)
    fs.closeSync(stdout)
  }
  let ended = false
  void child.exited.then(() => (ended = true))
  t.teardown(() => {
    if (!ended) child.kill('SIGKILL')
  })
  return {
    pid: child.pid,
    marker,
    exited: () => within(child.exited, `rush -c ${script}`, 30_000),
    output: () => fs.readFileSync(out, 'utf8'),
  }
}

/** Waits until the daemon has the `n`th request, which the job sent; checks the job is rush itself by then. */
async function sent(t: Test, dir: string, job: Job, n: number): Promise<unknown> {
  t.ok(await until(() => execs(dir).length >= n), 'the request reached the daemon')
  t.equal(exe(job.pid), rush, "the job is rush (sh exec'd it)")
  return execs(dir)[n - 1]?.conn
}

t.test('rush -c waiting for a daemon that never answers dies of SIGINT, SIGTERM, SIGQUIT or SIGHUP, as sh -c would', async (t) => {
  const dir = tempDir(t)
  const daemon = await holding(t, dir, { kind: 'result', status: 7 })
  let n = 0
  for (const name of ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGHUP'] as const) {
    const job = start(t, dir, 'exit 0')
    const conn = await sent(t, dir, job, ++n)
    t.ok(await until(() => state(job.pid) === 'S'), `${name}: rush waits (state S)`)
    process.kill(job.pid, name)
    t.same(await job.exited(), { status: 0, signal: os.constants.signals[name] }, `${name}: rush died of it`)
    t.equal(job.output(), '', `${name}: without a word`)
    t.same(processesWith(MARK, job.marker), [], `${name}: no process of it is left`)
    t.ok(await until(() => abandoned(dir).includes(conn)), `${name}: the daemon saw the connection end and dropped the request`)
  }
  t.same([daemon.exitCode, daemon.signalCode], [null, null], 'the fake daemon still runs')
  release(dir)
  const next = start(t, dir, 'exit 0')
  t.same(await next.exited(), { status: 7, signal: 0 }, 'and answers the next rush -c')
})

t.test('a signal ignored when rush -c started stays ignored while it waits, and in the /bin/sh a RunLocally makes it exec', async (t) => {
  const dir = tempDir(t)
  await holding(t, dir, { kind: 'runLocally', reason: 'run it yourself' })
  // What the script's shell has ignored, from the kernel's own account (proc(5), SigIgn), and where it runs.
  const script = `sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status; echo "in $0"`
  const job = start(t, dir, script, "trap '' INT;")
  await sent(t, dir, job, 1)
  process.kill(job.pid, 'SIGINT')
  // A default SIGINT would end it at once (the kernel decides a fatal signal as it is sent).
  await sleep(300)
  t.ok(alive(job.pid), 'rush lived through the SIGINT')
  release(dir)
  t.same(await job.exited(), { status: 0, signal: 0 }, 'then ran the script')
  const [mask, where] = job.output().split('\n')
  t.equal(where, 'in sh', "in /bin/sh, exec'd in its place")
  const hex = /^[0-9a-f]{16}$/.test(mask ?? '')
  t.ok(hex, `SigIgn: ${mask}`)
  const ignored = (signo: number) => (hex ? BigInt(`0x${mask}`) >> BigInt(signo - 1) : 0n) & 1n
  t.equal(ignored(os.constants.signals.SIGINT), 1n, 'SIGINT is still ignored there')
  t.equal(ignored(os.constants.signals.SIGTERM), 0n, 'SIGTERM, not ignored at start, is not')
})

t.test('Ctrl-Z: SIGTSTP stops a waiting rush -c, SIGCONT continues it, and it gets its answer', async (t) => {
  const dir = tempDir(t)
  await holding(t, dir, { kind: 'result', status: 3 })
  const job = start(t, dir, 'exit 0')
  await sent(t, dir, job, 1)
  t.ok(await until(() => state(job.pid) === 'S'), 'waiting (state S)')
  process.kill(job.pid, 'SIGTSTP')
  t.ok(await until(() => state(job.pid) === 'T'), 'stopped (state T)')
  await sleep(200)
  t.equal(state(job.pid), 'T', 'and stays stopped')
  process.kill(job.pid, 'SIGCONT')
  t.ok(await until(() => state(job.pid) === 'S'), 'continued: waiting again (state S)')
  release(dir)
  t.same(await job.exited(), { status: 3, signal: 0 }, "then exits with the daemon's answer")
  t.equal(job.output(), '', 'without a word')
  t.same(abandoned(dir), [], 'the daemon never saw it go away')
})

t.test('an interactive session lives through SIGINT while a line waits for the daemon', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  await holding(t, dir, { kind: 'result', status: 5 })
  const marker = randomUUID()
  let session: number | undefined
  let lived = false
  const r = await onTerminal(dir, { PS1: 'P> ', [MARK]: marker }, async (keys) => {
    keys('first line\n')
    await until(() => execs(dir).length >= 1)
    session = processesWith(MARK, marker).find((pid) => exe(pid) === rush)
    keys('\x03') // the terminal turns Ctrl-C into SIGINT for its foreground process group: rush's
    if (session !== undefined) process.kill(session, 'SIGINT') // and one straight to the process
    await sleep(300)
    lived = session !== undefined && alive(session)
    release(dir)
    keys('second line\n')
    await until(() => execs(dir).length >= 2)
    await sleep(200)
  })
  t.ok(session, 'the session runs (found by its environment)')
  t.ok(lived, 'it lived through the SIGINTs while the first line waited')
  t.same(abandoned(dir), [], 'the daemon never saw it go away')
  t.same(
    execs(dir).map((e) => [e.conn, e.argv]),
    [
      [1, ['first line']],
      [1, ['second line']],
    ],
    'both lines on the one connection',
  )
  t.equal(r.stdout.match(/P> /g)?.length, 3, 'a prompt before each line and after the last answer')
  t.same([r.code, r.signal], [5, null], 'EOF: exits with the last status')
})
