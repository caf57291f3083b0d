/**
 * fds held on the application's behalf — by a received message, a reply, a request — until it
 * takes the ones it wants; `closeRest()` closes the others. One owner at a time, so an fd is
 * closed exactly once: by us, or by whoever took it.
 */
import { native } from '../binding.js'
import { checkInteger, MAX_FD, outOfRange } from '../validate.js'

export class OwnedFds {
  readonly #fds: number[]
  #closed = false

  /** Takes ownership of `fds`. */
  constructor(fds: number[]) {
    this.#fds = fds
  }

  /** How many fds there were, taken or not. */
  get count(): number {
    return this.#fds.length
  }

  /** The fds not taken (nor closed) yet. */
  get remaining(): readonly number[] {
    return this.#fds.filter((fd) => fd >= 0)
  }

  /** Takes the fd at `index` (in the order sent): the caller owns it from now on. */
  take(index: number, holder: string): number {
    checkInteger('index', index, 0, MAX_FD)
    const fd = this.#fds[index]
    if (fd === undefined || fd < 0) {
      throw outOfRange(
        'index',
        this.#closed
          ? `the index of an fd of this ${holder} not closed yet (take fds while handling it)`
          : `the index of an fd this ${holder} still holds (it carried ${this.#fds.length}; taken ones are gone)`,
        index,
      )
    }
    this.#fds[index] = -1
    return fd
  }

  /** Takes every fd not taken yet. */
  takeAll(): number[] {
    const taken = this.remaining.slice()
    this.#fds.fill(-1)
    return taken
  }

  /** Closes every fd not taken. Idempotent. */
  closeRest(): void {
    this.#closed = true
    for (let i = 0; i < this.#fds.length; i++) {
      const fd = this.#fds[i]!
      if (fd >= 0) {
        native.close(fd)
        this.#fds[i] = -1
      }
    }
  }
}
