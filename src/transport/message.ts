/**
 * A received message: its payload (a view into the receive buffer, not a copy) and the fds that
 * travelled with it. The message owns its fds until the application takes them; whatever is not
 * taken is closed when the message is done (after the 'message' listeners return, or when an async
 * iterator moves on). Each received fd is a new descriptor in this process (SCM_RIGHTS, unix(7)):
 * one nobody takes would stay open for good, so the message closes it.
 */
import type * as net from 'node:net'
import { native } from '../binding.js'
import { FRAME_RECORD_WORDS } from '../native.js'
import type { FdStream, TakeSocketOptions, TakeStreamOptions } from './fd-stream.js'
import { OwnedFds } from './owned-fds.js'

// The addon reports a batch of frames in two arrays shared by every connection of this thread,
// filled right before it calls the connection: receivedMessages() copies them out.
const frameMeta = native.Connection.frameMeta
const frameFds = native.Connection.frameFds
const empty = Buffer.alloc(0)

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
    this.#fds = new OwnedFds(fds, 'message')
  }

  /** Number of fds the frame carried (taken or not). */
  get fdCount(): number {
    return this.#fds.count
  }

  /**
   * The fds still owned by the message (taken ones are left out). Do not close these yourself,
   * and do not wrap them (`new net.Socket({ fd })`): the message closes them once the 'message'
   * listeners return. Take them first (`takeFd`, `takeSocket`, `takeStream`).
   */
  get fds(): readonly number[] {
    return this.#fds.shown()
  }

  /**
   * Takes the fd at `index` (in the order sent): it is yours to close from now on.
   * @throws RangeError when there is no fd at that index or it was already taken or closed.
   */
  takeFd(index = 0): number {
    return this.#fds.take(index)
  }

  /**
   * Takes the fd at `index` as a `net.Socket` that owns it (and closes it when destroyed): a Unix
   * or TCP stream socket, or a pipe. `readable`/`writable` default to how the fd is open (a pipe's
   * read end only reads). Anything else throws `ERR_INVALID_ARG_VALUE` and takes nothing.
   * @throws RangeError when there is no fd at that index or it was already taken or closed.
   */
  takeSocket(index = 0, options?: TakeSocketOptions): net.Socket {
    return this.#fds.takeSocket(index, options)
  }

  /**
   * Takes the fd at `index` as a stream that owns it: a socket or pipe as `takeSocket()` does, a
   * terminal as a tty stream, a file or device as an `fs.ReadStream` or `fs.WriteStream` (by the
   * fd's access mode, or `options.mode`). A directory or a non-stream socket throws
   * `ERR_INVALID_ARG_VALUE` and takes nothing.
   * @throws RangeError when there is no fd at that index or it was already taken or closed.
   */
  takeStream(index = 0, options?: TakeStreamOptions): FdStream {
    return this.#fds.takeStream(index, options)
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

/** @internal For Connection: appends to `queue` the `frames` messages the addon just reported,
 *  their payloads views of `buffer`. */
export function receivedMessages(buffer: Buffer, frames: number, queue: Message[]): void {
  let fdIndex = 0
  for (let i = 0; i < frames; i++) {
    const base = i * FRAME_RECORD_WORDS
    const offset = frameMeta[base]!
    const length = frameMeta[base + 1]!
    const fdCount = frameMeta[base + 4]!
    const fds: number[] = []
    for (let k = 0; k < fdCount; k++) fds.push(frameFds[fdIndex + k]!)
    fdIndex += fdCount
    const payload = length === 0 ? empty : buffer.subarray(offset, offset + length)
    queue.push(new Message(payload, frameMeta[base + 2]!, frameMeta[base + 3]!, fds))
  }
}
