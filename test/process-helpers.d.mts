/** Types of process-helpers.mjs (see there). */

/** A process as /proc shows it. */
export interface Proc {
  pid: number
  ppid: number
  /** One letter, as in /proc/<pid>/stat: R, S, D, T, Z, ... */
  state: string
  cmd: string[]
}

/** The pid in `<dir>/daemon.pid`, or undefined. */
export function daemonPid(dir: string): number | undefined
/** Whether `pid` is a live process of ours (signal 0 reaches it) and not a zombie. */
export function alive(pid: number): boolean
/** Every process (from /proc). */
export function processes(): Proc[]
/** The command name of `pid` (/proc/<pid>/comm, set at execve), or '' once it is gone. */
export function comm(pid: number): string
/** Pids of the processes, other than this one, whose environment holds the entry `KEY=VALUE`. */
export function processesWith(key: string, value: string): number[]
/** The live worker processes of the rushd `pid`, by pid. */
export function workerPids(pid: number, list?: Proc[]): number[]
