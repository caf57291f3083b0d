/**
 * A received message: its payload (a view into the receive buffer, not a copy) and the fds that
 * travelled with it. The message owns its fds until the application takes them; whatever is not
 * taken is closed when the message is done (after the 'message' listeners return, or when an async
 * iterator moves on). See DESIGN.md §3.
 */
import { native } from '../binding.js'
import { checkInteger } from '../validate.js'

export class Message {
  /** The payload: a view of the bytes the socket delivered. Valid for as long as you hold it. */
  readonly payload: Buffer
  /** Message id from the frame header (opaque to the transport). */
  readonly id: number
  /** Message type from the frame header (opaque to the transport). */
  readonly type: number
  #fds: (number | -1)[]
  #done = false

  /** @internal Built by Connection. */
  constructor(payload: Buffer, id: number, type: number, fds: number[]) {
    this.payload = payload
    this.id = id
    this.type = type
    this.#fds = fds
  }

  /** Number of fds the frame carried (taken or not). */
  get fdCount(): number {
    return this.#fds.length
  }

  /** The fds still owned by the message (taken ones are left out). Do not close these yourself. */
  get fds(): readonly number[] {
    return this.#fds.filter((fd) => fd >= 0)
  }

  /**
   * Takes the fd at `index` (in the order sent): it is yours to close from now on.
   * @throws RangeError when there is no fd at that index or it was already taken or closed.
   */
  takeFd(index = 0): number {
    checkInteger('index', index, 0, this.#fds.length - 1 < 0 ? 0 : this.#fds.length - 1)
    const fd = this.#fds[index]
    if (fd === undefined || fd < 0) {
      throw new RangeError(
        this.#done
          ? `fd ${index} of this message was already closed: take fds while handling the message`
          : `index ${index}: this message has no fd there (it carried ${this.#fds.length}, or it was taken)`,
      )
    }
    this.#fds[index] = -1
    return fd
  }

  /** Takes every fd still owned by the message: they are yours to close. */
  takeFds(): number[] {
    const taken = this.#fds.filter((fd) => fd >= 0)
    this.#fds.fill(-1)
    return taken
  }

  /** @internal Closes every fd not taken. Idempotent. */
  release(): void {
    this.#done = true
    for (let i = 0; i < this.#fds.length; i++) {
      const fd = this.#fds[i]!
      if (fd >= 0) {
        native.close(fd)
        this.#fds[i] = -1
      }
    }
  }
}
