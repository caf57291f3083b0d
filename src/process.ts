/**
 * Starting a command with exactly the fds you give it on 0/1/2 — typically fds a client passed —
 * with its own cwd, environment, umask and process group, and learning when it ends. This is how
 * rush runs commands; daemon authors can use it for the same purpose.
 *
 * Unlike `child_process.spawn`, nothing else is inherited (every other fd is closed in the child),
 * the umask is set per command, and on Linux the start costs a vfork however large the daemon is
 * (macOS forks: its vfork is a fork since macOS 12).
 *
 * Exit is watched without polling: through an fd the event loop polls (a pidfd on Linux 5.3+, a
 * kqueue on macOS), or, where the kernel has no pidfd_open, through SIGCHLD (native ProcessWatch).
 */
import * as os from 'node:os'
import { debuglog } from 'node:util'
import { native } from './binding.js'
import { systemError } from './errors.js'
import { checkInteger, checkObject, checkString, checkStringArray, invalidArgType, MAX_FD, optionalBoolean, optionalInteger, outOfRange } from './validate.js'

const debug = debuglog('fdwire')

export interface SpawnOptions {
  /** argv, `argv[0]` included. Default `[file]`. */
  argv?: readonly string[]
  /** Environment as `KEY=VALUE` entries. Default: none. */
  env?: readonly string[]
  /** Working directory. Default: the daemon's. */
  cwd?: string
  /** umask of the command. Default: the daemon's. */
  umask?: number
  /** fds to put on 0, 1, 2; `-1` (or missing) leaves that fd closed. They stay yours. */
  stdio: readonly [number, number, number] | readonly number[]
  /** Put the command in a process group of its own (its pid). Default true. */
  newProcessGroup?: boolean
}

export interface ProcessExit {
  /** Exit status, or 0 when a signal ended it. */
  status: number
  /** The signal that ended it, or 0. */
  signal: number
}

/** A running command. */
export interface SpawnedProcess {
  readonly pid: number
  /** Resolves when the process ended (it is reaped by then). */
  readonly exited: Promise<ProcessExit>
  /** Sends a signal to the process group (or the process when it has none of its own). */
  kill(signal: NodeJS.Signals | number): void
}

/**
 * Starts `file` (an absolute path; PATH is not searched). Throws a system error such as `ENOENT`
 * or `EACCES` (syscall `spawn`) when it cannot be started.
 */
export function spawnProcess(file: string, options: SpawnOptions): SpawnedProcess {
  checkString('file', file, true)
  const o = checkObject('options', options)
  const stdio = new Int32Array([-1, -1, -1])
  const given = o['stdio']
  if (!Array.isArray(given)) throw invalidArgType('options.stdio', 'an instance of Array', given)
  if (given.length > 3) throw outOfRange('options.stdio.length', '<= 3', given.length)
  for (let i = 0; i < given.length; i++) {
    const fd = given[i] as unknown
    if (fd !== undefined) stdio[i] = checkInteger(`options.stdio[${i}]`, fd, -1, MAX_FD)
  }
  const argv = o['argv'] === undefined ? [file] : checkStringArray('options.argv', o['argv'], true)
  const env = o['env'] === undefined ? [] : checkStringArray('options.env', o['env'])
  const cwd = o['cwd'] === undefined ? null : checkString('options.cwd', o['cwd'], true)
  const umask = optionalInteger('options.umask', o['umask'], 0, 0o777, -1)
  const newGroup = optionalBoolean('options.newProcessGroup', o['newProcessGroup'], true)
  const pid = native.spawn(file, argv, env, cwd, umask, stdio, newGroup)
  if (pid < 0) throw systemError(pid, 'spawn', file)
  const exited = watchExit(pid)
  return {
    pid,
    exited,
    kill(signal) {
      try {
        process.kill(newGroup ? -pid : pid, signal)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
      }
    },
  }
}

/**
 * Debugging switch: `FDWIRE_EXIT_WATCH=sigchld` watches every process through SIGCHLD, as on a
 * Linux kernel without pidfd_open (before 5.3), instead of through an exit fd. Read once, at the
 * first spawn.
 */
let forceSigchld: boolean | undefined

/** An fd that turns readable when `pid` exits, or -1 to watch SIGCHLD instead. */
function exitFd(pid: number): number {
  forceSigchld ??= process.env['FDWIRE_EXIT_WATCH'] === 'sigchld'
  if (forceSigchld) return -1
  const fd = native.exitFd(pid)
  if (fd >= 0) return fd
  // ENOSYS: Linux before 5.3. EPERM: a seccomp filter older than pidfd_open refuses it (containers).
  // Anything else (EMFILE...) would leave the process unreaped if we gave up: SIGCHLD needs no fd.
  if (fd !== -os.constants.errno.ENOSYS && fd !== -os.constants.errno.EPERM) {
    debug('process %d: no exit fd (%s), watching SIGCHLD', pid, systemError(fd, process.platform === 'darwin' ? 'kqueue' : 'pidfd_open').message)
  }
  return -1
}

/**
 * Resolves when `pid`, a child of this process, has ended, and reaps it. Internal (spawnProcess
 * uses it; tests call it on processes started by `native.spawn`).
 */
export function watchExit(pid: number): Promise<ProcessExit> {
  return new Promise((resolve) => {
    const fd = exitFd(pid)
    const watch = new native.ProcessWatch(pid, fd, (status, signal) => resolve({ status, signal }))
    if (fd >= 0) return
    // SIGCHLD is watched from here on, but the process may have ended before: look once now.
    const now = native.reap(pid)
    if (now === 0) return
    watch.close()
    resolve(typeof now === 'number' ? { status: -1, signal: 0 } : { status: now[0], signal: now[1] })
  })
}
