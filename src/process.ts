/**
 * Starting a command with exactly the fds you give it on 0/1/2 — typically fds a client passed —
 * with its own cwd, environment, umask and process group, and learning when it ends. This is how
 * rush runs commands; daemon authors can use it for the same purpose.
 *
 * Unlike `child_process.spawn`, nothing else is inherited (every other fd is closed in the child),
 * the umask is set per command, and the start costs a vfork however large the daemon is.
 */
import * as os from 'node:os'
import { native } from './binding.js'
import { systemError } from './errors.js'
import type { NativeProcessWatch } from './native.js'
import { checkObject, describe } from './validate.js'

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
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`file must be a path, got ${describe(file)}`)
  const o = checkObject('options', options)
  const stdio = new Int32Array([-1, -1, -1])
  const given = o['stdio']
  if (!Array.isArray(given)) throw new TypeError('options.stdio must be an array of up to 3 fds')
  for (let i = 0; i < 3; i++) {
    const fd = given[i] as unknown
    if (fd === undefined) continue
    if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < -1) throw new TypeError(`options.stdio[${i}] must be an fd or -1`)
    stdio[i] = fd
  }
  const argv = (o['argv'] as string[] | undefined) ?? [file]
  const env = (o['env'] as string[] | undefined) ?? []
  const umask = (o['umask'] as number | undefined) ?? -1
  if (!Number.isInteger(umask) || umask > 0o777) throw new RangeError('options.umask must be between 0 and 0o777')
  const newGroup = o['newProcessGroup'] !== false
  const pid = native.spawn(file, [...argv], [...env], (o['cwd'] as string | undefined) ?? null, umask, stdio, newGroup)
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

const POLL_MS = 2

function watchExit(pid: number): Promise<ProcessExit> {
  return new Promise((resolve) => {
    const pidfd = native.pidfd(pid)
    if (pidfd >= 0) {
      let watch: NativeProcessWatch | undefined = new native.ProcessWatch(pid, pidfd, (status, signal) => {
        watch = undefined
        resolve({ status, signal })
      })
      void watch
      return
    }
    if (pidfd !== -os.constants.errno.ENOSYS) throw systemError(pidfd, 'pidfd_open')
    // No pidfds (macOS, old kernels): poll waitpid.
    const timer = setInterval(() => {
      const result = native.reap(pid)
      if (typeof result === 'number') {
        if (result === 0) return
        clearInterval(timer)
        resolve({ status: -1, signal: 0 })
        return
      }
      clearInterval(timer)
      resolve({ status: result[0], signal: result[1] })
    }, POLL_MS)
  })
}
