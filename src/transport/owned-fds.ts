/**
 * fds held on the application's behalf — by a received message, a reply, a request — until it
 * takes the ones it wants; `closeRest()` closes the others. One owner at a time, so an fd is
 * closed exactly once: by us, or by whoever took it.
 */
import type * as net from 'node:net'
import { native } from '../binding.js'
import { checkInteger, MAX_FD, outOfRange } from '../validate.js'
import { fdsWrappedByHandles, socketFromFd, streamFromFd, warnNotTaken, type FdStream } from './fd-stream.js'

export class OwnedFds {
  readonly #fds: number[]
  readonly #holder: string
  #closed = false
  // Set once the fd numbers were handed out (`shown`): only then can the application have wrapped
  // one without taking it, so only then does `closeRest()` look for that.
  #shown = false

  /** Takes ownership of `fds`, held by a `holder` ('message', 'reply', 'request'...: for errors). */
  constructor(fds: number[], holder: string) {
    this.#fds = fds
    this.#holder = holder
  }

  /** How many fds there were, taken or not. */
  get count(): number {
    return this.#fds.length
  }

  /** The fds not taken (nor closed) yet, for internal use. */
  get remaining(): number[] {
    return this.#fds.filter((fd) => fd >= 0)
  }

  /** The fds not taken (nor closed) yet, handed to the application (a holder's `fds`). */
  shown(): readonly number[] {
    this.#shown = true
    return this.remaining
  }

  /** Takes the fd at `index` (in the order sent): the caller owns it from now on. */
  take(index: number): number {
    return this.#takeWith(index, (fd) => fd)
  }

  /** Takes the fd at `index` as a `net.Socket` owning it; takes nothing if it cannot be one. */
  takeSocket(index: number, options: unknown): net.Socket {
    return this.#takeWith(index, (fd) => socketFromFd(fd, index, options))
  }

  /** Takes the fd at `index` as a stream owning it; takes nothing if it cannot be one. */
  takeStream(index: number, options: unknown): FdStream {
    return this.#takeWith(index, (fd) => streamFromFd(fd, index, options))
  }

  /** Gives the fd at `index` to `adopt`; it is taken only once `adopt` returned (its new owner). */
  #takeWith<T>(index: number, adopt: (fd: number) => T): T {
    checkInteger('index', index, 0, MAX_FD)
    const fd = this.#fds[index]
    if (fd === undefined || fd < 0) {
      throw outOfRange(
        'index',
        this.#closed
          ? `the index of an fd of this ${this.#holder} not closed yet (take fds while handling it)`
          : `the index of an fd this ${this.#holder} still holds (it carried ${this.#fds.length}; taken ones are gone)`,
        index,
      )
    }
    const owner = adopt(fd)
    this.#fds[index] = -1
    return owner
  }

  /** Takes every fd not taken yet. */
  takeAll(): number[] {
    const taken = this.remaining
    this.#fds.fill(-1)
    return taken
  }

  /**
   * Closes every fd not taken. Idempotent. An fd the application saw (`shown()`) and wrapped in a
   * live Node handle without taking it is left to that handle, with a warning: closing it under
   * libuv would abort the process at its next poll (epoll_ctl EBADF).
   */
  closeRest(): void {
    this.#closed = true
    const wrapped = this.#shown ? fdsWrappedByHandles(this.remaining) : undefined
    for (let i = 0; i < this.#fds.length; i++) {
      const fd = this.#fds[i]!
      if (fd < 0) continue
      this.#fds[i] = -1
      if (wrapped?.has(fd)) warnNotTaken(fd, this.#holder)
      else native.close(fd)
    }
  }
}
