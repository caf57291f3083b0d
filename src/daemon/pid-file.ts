/**
 * A pid file held under an exclusive flock(2) for the daemon's whole life. The kernel drops the
 * lock when the process dies, even by SIGKILL, so "is a daemon running?" is answered by the lock,
 * never by guessing from a pid that may have been reused. (Node opens every file close-on-exec,
 * so the daemon's children never inherit the lock.)
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import { native } from '../binding.js'
import { systemError } from '../errors.js'

const EAGAIN = -os.constants.errno.EAGAIN

export interface PidFileState {
  /** The pid written in the file, or undefined if it is missing or unreadable. */
  pid: number | undefined
  /** Whether a live process holds the lock (the daemon is running). */
  locked: boolean
}

export class PidFile {
  readonly path: string
  #fd: number

  private constructor(filePath: string, fd: number) {
    this.path = filePath
    this.#fd = fd
  }

  /**
   * Takes the lock and writes our pid. Returns the pid file, or the state of the one holding it.
   */
  static acquire(filePath: string): PidFile | PidFileState {
    const fd = fs.openSync(filePath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
    const err = native.flock(fd, true, false)
    if (err === EAGAIN) {
      fs.closeSync(fd)
      return { pid: readPid(filePath), locked: true }
    }
    if (err < 0) {
      fs.closeSync(fd)
      throw systemError(err, 'flock', filePath)
    }
    fs.ftruncateSync(fd, 0)
    fs.writeSync(fd, `${process.pid}\n`, 0)
    return new PidFile(filePath, fd)
  }

  /** Removes the file and drops the lock. Idempotent. */
  release(): void {
    if (this.#fd < 0) return
    try {
      fs.unlinkSync(this.path)
    } catch {
      // Already removed (e.g. by a tmp cleaner).
    }
    fs.closeSync(this.#fd)
    this.#fd = -1
  }
}

/** Reads a pid file and tells whether its lock is held by a live process. */
export function readPidFile(filePath: string): PidFileState {
  let fd: number
  try {
    fd = fs.openSync(filePath, fs.constants.O_RDONLY)
  } catch {
    return { pid: undefined, locked: false }
  }
  try {
    const err = native.flock(fd, false, false)
    if (err === 0) native.flock(fd, false, true)
    return { pid: readPid(filePath), locked: err === EAGAIN }
  } finally {
    fs.closeSync(fd)
  }
}

function readPid(filePath: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(filePath, 'utf8').trim(), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}
