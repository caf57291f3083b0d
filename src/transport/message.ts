/**
 * A received message: its payload (a view into the receive buffer, not a copy) and the fds that
 * travelled with it. The message owns its fds until the application takes them; whatever is not
 * taken is closed when the message is done (after the 'message' listeners return, or when an async
 * iterator moves on). See DESIGN.md §3.
 */
import { OwnedFds } from './owned-fds.js'

export class Message {
  /** The payload: a view of the bytes the socket delivered. Valid for as long as you hold it. */
  readonly payload: Buffer
  /** Message id from the frame header (opaque to the transport). */
  readonly id: number
  /** Message type from the frame header (opaque to the transport). */
  readonly type: number
  readonly #fds: OwnedFds

  /** @internal Built by Connection. */
  constructor(payload: Buffer, id: number, type: number, fds: number[]) {
    this.payload = payload
    this.id = id
    this.type = type
    this.#fds = new OwnedFds(fds)
  }

  /** Number of fds the frame carried (taken or not). */
  get fdCount(): number {
    return this.#fds.count
  }

  /** The fds still owned by the message (taken ones are left out). Do not close these yourself. */
  get fds(): readonly number[] {
    return this.#fds.remaining
  }

  /**
   * Takes the fd at `index` (in the order sent): it is yours to close from now on.
   * @throws RangeError when there is no fd at that index or it was already taken or closed.
   */
  takeFd(index = 0): number {
    return this.#fds.take(index, 'message')
  }

  /** Takes every fd still owned by the message: they are yours to close. */
  takeFds(): number[] {
    return this.#fds.takeAll()
  }

  /** @internal Closes every fd not taken. Idempotent. */
  release(): void {
    this.#fds.closeRest()
  }
}
