/**
 * What spawnProcess promises about a command's end, run by exit-watch.test.ts (exit fds: pidfd on
 * Linux) and by exit-watch-sigchld.test.ts (FDWIRE_EXIT_WATCH=sigchld: the SIGCHLD watch a Linux
 * kernel without pidfd_open gets). Every case uses real processes and checks that no fd leaked.
 */
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import type { Test } from 'tap'
import { native } from '../../src/binding.js'
import { closeFd, pipe } from '../../src/index.js'
import { spawnProcess, watchExit, type SpawnedProcess } from '../../src/process.js'
import { collect, exitCode, fixtures, leakTest, spawnFixture } from '../helpers.js'

export type WatchMode = 'exit-fd' | 'sigchld'

/** How many pidfds this process holds: an exit watch in 'exit-fd' mode holds one per process. */
function pidfdCount(): number {
  let count = 0
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${name}`) === 'anon_inode:[pidfd]') count++
    } catch {}
  }
  return count
}

/** Starts `sh -c script args...` with stdin on `stdin` and stdout/stderr on /dev/null. */
function sh(t: Test, script: string, stdin: number, ...args: string[]): SpawnedProcess {
  const devnull = fs.openSync('/dev/null', 'w')
  try {
    const child = spawnProcess('/bin/sh', { argv: ['sh', '-c', script, 'sh', ...args], stdio: [stdin, devnull, devnull] })
    // A failed assertion must not leave it running; once reaped, its pid may belong to another.
    let ended = false
    void child.exited.then(() => (ended = true))
    t.teardown(() => {
      if (!ended) child.kill('SIGKILL')
    })
    return child
  } finally {
    fs.closeSync(devnull)
  }
}

/** Resolves once `pid` (our child) is a zombie, without reaping it: polls /proc (a hang guard is
 *  tap's timeout, not a deadline here). */
async function zombie(pid: number): Promise<void> {
  for (;;) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return
    await sleep(5)
  }
}

export function exitWatchCases(t: Test, mode: WatchMode): void {
  // An exit fd exists on this kernel unless it predates pidfd_open (5.3): then 'exit-fd' mode is
  // the SIGCHLD watch too, and there is nothing to tell apart.
  const probe = native.exitFd(process.pid)
  const pidfdsExist = probe >= 0
  if (pidfdsExist) native.close(probe)

  leakTest(t, 'reports the exit status once the command ends, and watches it the way the mode says', async (t) => {
    const [readEnd, writeEnd] = pipe()
    const before = pidfdCount()
    const child = sh(t, 'read line; exit 7', readEnd)
    closeFd(readEnd)
    t.equal(pidfdCount() - before, mode === 'exit-fd' && pidfdsExist ? 1 : 0, `${mode}: pidfds held while the command runs`)
    closeFd(writeEnd) // EOF for `read`: the command ends now, not before
    t.same(await child.exited, { status: 7, signal: 0 })
    t.equal(pidfdCount(), before, 'the watch closed what it held')
  })

  leakTest(t, 'reports the signal that ended the command', async (t) => {
    const [readEnd, writeEnd] = pipe()
    const child = sh(t, 'read line', readEnd)
    closeFd(readEnd)
    child.kill('SIGTERM')
    t.same(await child.exited, { status: 0, signal: 15 })
    const killed = sh(t, 'kill -KILL $$', -1)
    t.same(await killed.exited, { status: 0, signal: 9 })
    closeFd(writeEnd)
  })

  leakTest(t, 'many commands ending at the same moment each get their own status', async (t) => {
    const [readEnd, writeEnd] = pipe()
    const children: SpawnedProcess[] = []
    for (let i = 0; i < 64; i++) children.push(sh(t, 'read line; exit "$1"', readEnd, String(i + 1)))
    closeFd(readEnd)
    // One close ends all 64 reads: their SIGCHLDs coalesce, their exit fds turn readable together.
    closeFd(writeEnd)
    const results = await Promise.all(children.map((c) => c.exited))
    t.same(
      results,
      children.map((_, i) => ({ status: i + 1, signal: 0 })),
    )
  })

  leakTest(t, 'a process that ended before it was watched is still reported', async (t) => {
    const devnull = fs.openSync('/dev/null', 'w')
    const pid = native.spawn('/bin/sh', ['sh', '-c', 'exit 42'], [], null, -1, new Int32Array([-1, devnull, devnull]), true)
    fs.closeSync(devnull)
    t.ok(pid > 0, 'started')
    await zombie(pid) // its SIGCHLD came and went before anything watched it
    t.same(await watchExit(pid), { status: 42, signal: 0 })
  })

  leakTest(t, 'keeps the event loop alive while a command runs, and not after it ended', async (t) => {
    const fixture = spawnFixture(t, 'process-watch-liveness.mjs', [], { stdio: ['pipe', 'pipe', 'inherit'] })
    const output = collect(fixture.stdout)
    // The fixture holds no other handle: had it exited already, closing its stdin would change
    // nothing and its output would lack the status its command ends with only after this.
    fixture.stdin!.end()
    t.equal(await output, 'exited 4 0\n')
    t.equal(await exitCode(fixture), 0, 'then exits by itself')
  })

  leakTest(t, 'works in a worker thread, and a worker ending while it watches leaves no handle behind', async (t) => {
    const worker = new Worker(path.join(fixtures, 'process-worker.mjs'), { workerData: { mode: 'statuses' } })
    const [statuses] = (await once(worker, 'message')) as [unknown]
    t.same(statuses, [
      { status: 3, signal: 0 },
      { status: 0, signal: 9 },
    ])
    await once(worker, 'exit')

    const [readEnd, writeEnd] = pipe()
    const hanging = new Worker(path.join(fixtures, 'process-worker.mjs'), { workerData: { mode: 'hang', stdin: readEnd } })
    const [pid] = (await once(hanging, 'message')) as [number]
    await hanging.terminate()
    closeFd(readEnd)
    closeFd(writeEnd)
    // Unwatched now, so reaped here. Linux's parent-death signal follows the thread that started
    // the command: the worker's end is its hangup.
    await zombie(pid)
    t.same(native.reap(pid), [0, 1], 'the command got SIGHUP when its worker ended, and is reaped by hand')
  })
}
