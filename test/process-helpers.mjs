// Processes as /proc shows them, for the tests (through test/helpers.ts, which re-exports these
// with the types of process-helpers.d.mts) and for the reliability scripts, which run under plain
// `node` (through scripts/reliability/lib.mjs). Plain JavaScript so that both can load it; the
// only copy of each helper. Linux: everything here but `alive` reads /proc.
import * as fs from 'node:fs'
import * as path from 'node:path'

const haveProc = fs.existsSync('/proc/self/status')

/** The pid in `<dir>/daemon.pid` (the whole file, but for surrounding white space), or undefined. */
export function daemonPid(dir) {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, 'daemon.pid'), 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether `pid` is a live process of ours: signal 0 reaches it, and it is not a zombie (dead,
 * waiting for its parent to reap it).
 */
export function alive(pid) {
  try {
    process.kill(pid, 0)
  } catch {
    // ESRCH: no such process. EPERM: the pid is another user's process now, so not ours.
    return false
  }
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    // With /proc, the process went in between. Without it (macOS), signal 0 is all there is.
    return !haveProc
  }
}

/** Every process as {pid, ppid, state, cmd} (from /proc/<pid>/stat and cmdline). */
export function processes() {
  const list = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
      // The command name (in parentheses) may hold spaces and parentheses itself: fields are
      // counted from the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean)
      list.push({ pid: Number(name), state: rest[0], ppid: Number(rest[1]), cmd })
    } catch {}
  }
  return list
}

/**
 * The command name of `pid` (/proc/<pid>/comm: the program's file name as the kernel keeps it,
 * cut at 15 bytes), or '' once it is gone. It changes at execve(2), so a fork of a shell reads as
 * the shell until the program it runs has really started.
 */
export function comm(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}

/** Pids of the processes, other than this one, whose environment holds exactly the entry
 *  `KEY=VALUE` (those of the same user: only theirs is readable). */
export function processesWith(key, value) {
  const needle = Buffer.from(`\0${key}=${value}\0`)
  const found = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${entry}/environ`)])
      if (environ.includes(needle)) found.push(Number(entry))
    } catch {
      // Gone, or not ours.
    }
  }
  return found
}

/** The live worker processes of the rushd `pid` (its children running dist/rush/worker.js, not
 *  zombies), by pid; `list` is a snapshot from `processes()`. */
export function workerPids(pid, list = processes()) {
  return list
    .filter((p) => p.ppid === pid && p.state !== 'Z' && p.cmd.some((a) => a.endsWith(path.join('dist', 'rush', 'worker.js'))))
    .map((p) => p.pid)
    .sort((a, b) => a - b)
}
