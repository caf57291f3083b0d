/**
 * Encoding fdwire envelopes into one reused buffer, front to back (see writer.ts).
 *
 * **The returned bytes are a view into the encoder's buffer and are overwritten by the next
 * encode on the same encoder.** Hand them to something that copies synchronously (a socket write
 * that copies into its own buffer) or copy them (`Buffer.from(bytes)`) before any `await`.
 */
import { Message, Status } from './generated/fdwire_generated.js'
import { checkId } from './builder-util.js'
import { checkString as checkNonEmptyString, invalidArgType, invalidArgValue } from '../validate.js'
import type { ErrorInfo } from './envelope.js'
import { StringCache } from './string-cache.js'
import { Out, alignedBytes, header, pad, stringBound, stringBytes, vtable2, vtable4, w32, w8 } from './writer.js'
import { ENVELOPE_IDENTIFIER } from '../wire.js'

/** Current protocol version, sent in Hello. Bumped only for incompatible changes. */
export const PROTOCOL_VERSION = 1

/** File identifier of fdwire envelopes. */
export { ENVELOPE_IDENTIFIER }

/** What a Response or StreamEnd says. */
export interface ReplyOptions {
  /** Defaults to `Status.Error` when `error` is given, else `Status.Ok`. */
  readonly status?: Status
  readonly error?: ErrorInfo
  /** Response only: the body (a FlatBuffer of your schema or raw bytes). */
  readonly body?: Uint8Array
}

/** A string field's value: a JS string, or its UTF-8 bytes (cheaper when you have them cached). */
export type StringValue = string | Uint8Array

// Layout shared by every envelope (see writer.ts): root offset and "FDWR" at 0, the Envelope's
// vtable at 8 (message_type at table offset 8, message at 4), its table at 16, the message's
// vtable at 28 and the message table right after.
const ENVELOPE = 16
const MESSAGE_VT = 28
/** Room for the fixed part: envelope, message vtable + table, ErrorInfo vtable + table, padding. */
const FIXED = 28 + 12 + 20 + 20 + 8

/**
 * Encodes fdwire envelopes into one reused buffer (grown to the largest message seen), with a
 * cache of encoded method names. Each method returns a view valid until the next call on this
 * encoder.
 */
export class Encoder {
  private readonly out: Out
  private readonly methods = new StringCache(256)

  /** @param initialSize Starting size of the output buffer, in bytes. */
  constructor(initialSize = 1024) {
    this.out = new Out(initialSize)
  }

  /** `x`, or a copy of it when it is a view of our own output (an earlier result). */
  private own<T extends StringValue>(x: T): T {
    // Uint8Array#slice copies; Buffer#slice would return a view.
    return typeof x !== 'string' && x.buffer === this.out.bytes.buffer ? (Uint8Array.prototype.slice.call(x) as T) : x
  }

  /** Encodes a Hello. `maxFrameSize` is the sender's limit (0: not stated, the field is left out). */
  hello(protocolVersion: number = PROTOCOL_VERSION, buildId: StringValue = '', maxFrameSize = 0): Uint8Array {
    checkId(protocolVersion, 'protocolVersion')
    checkId(maxFrameSize, 'maxFrameSize')
    buildId = this.own(checkString(buildId, 'buildId'))
    const b = this.out.reserve(FIXED + 4 + stringBound(buildId))
    // Hello: protocol_version@4, build_id@8, max_frame_size@12 (only when stated).
    const size = maxFrameSize === 0 ? 12 : 16
    const t = envelope4(b, Message.Hello, size, 4, 8, maxFrameSize === 0 ? 0 : 12, 0)
    w32(b, t + 4, protocolVersion)
    if (maxFrameSize !== 0) w32(b, t + 12, maxFrameSize)
    const s = t + size
    w32(b, t + 8, s - (t + 8))
    return b.subarray(0, stringBytes(b, s, buildId))
  }

  /** Encodes a Request. `method` names are cached encoded; `body` is copied in with one `set()`. */
  request(id: number, method: string, body?: Uint8Array): Uint8Array {
    checkId(id)
    checkNonEmptyString('method', method, true)
    if (body !== undefined) body = this.own(checkBytes(body, 'body'))
    const name = method.length <= 64 ? this.methods.get(method) : method
    const b = this.out.reserve(FIXED + stringBound(name) + (body === undefined ? 0 : body.length + 12))
    // Request: id@4, method@8, body@12.
    const t = envelope4(b, Message.Request, body === undefined ? 12 : 16, 4, 8, body === undefined ? 0 : 12, 0)
    w32(b, t + 4, id)
    const s = t + (body === undefined ? 12 : 16)
    w32(b, t + 8, s - (t + 8))
    let end = stringBytes(b, s, name)
    if (body !== undefined) {
      const v = alignedBytes(b, end, body)
      w32(b, t + 12, v - (t + 12))
      end = v + 4 + body.length
    }
    return b.subarray(0, end)
  }

  /** Encodes a Response to request `id`. */
  response(id: number, reply: ReplyOptions = {}): Uint8Array {
    checkId(id)
    let body = reply.body
    if (body !== undefined) body = this.own(checkBytes(body, 'reply.body'))
    const error = reply.error
    if (error !== undefined) checkError(error)
    const status = replyStatus(reply)
    const b = this.out.reserve(
      FIXED + (error === undefined ? 0 : stringBound(error.code) + stringBound(error.message)) + (body === undefined ? 0 : body.length + 12),
    )
    // Response: id@4, then error, body (offsets), then status (1 byte, omitted when Ok).
    let o = 8
    const errorOff = error === undefined ? 0 : o
    if (error !== undefined) o += 4
    const bodyOff = body === undefined ? 0 : o
    if (body !== undefined) o += 4
    const statusOff = status === Status.Ok ? 0 : o++
    const size = (o + 3) & ~3
    const t = envelope4(b, Message.Response, size, 4, statusOff, errorOff, bodyOff)
    w32(b, t + 4, id)
    if (statusOff !== 0) {
      w8(b, t + statusOff, status)
      pad(b, t + statusOff + 1, t + size)
    }
    let end = t + size
    if (error !== undefined) end = errorInfo(b, t + errorOff, end, error)
    if (body !== undefined) {
      const v = alignedBytes(b, end, body)
      w32(b, t + bodyOff, v - (t + bodyOff))
      end = v + 4 + body.length
    }
    return b.subarray(0, end)
  }

  /** Encodes item `seq` of the streamed reply to request `id`. */
  streamItem(id: number, seq: number, body?: Uint8Array): Uint8Array {
    checkId(id)
    checkId(seq, 'seq')
    if (body !== undefined) body = this.own(checkBytes(body, 'body'))
    const b = this.out.reserve(FIXED + (body === undefined ? 0 : body.length + 12))
    // StreamItem: id@4, seq@8, body@12.
    const size = body === undefined ? 12 : 16
    const t = envelope4(b, Message.StreamItem, size, 4, 8, body === undefined ? 0 : 12, 0)
    w32(b, t + 4, id)
    w32(b, t + 8, seq)
    let end = t + size
    if (body !== undefined) {
      const v = alignedBytes(b, end, body)
      w32(b, t + 12, v - (t + 12))
      end = v + 4 + body.length
    }
    return b.subarray(0, end)
  }

  /** Encodes the end of the streamed reply to request `id`. */
  streamEnd(id: number, reply: Omit<ReplyOptions, 'body'> = {}): Uint8Array {
    checkId(id)
    const error = reply.error
    if (error !== undefined) checkError(error)
    const status = replyStatus(reply)
    const b = this.out.reserve(FIXED + (error === undefined ? 0 : stringBound(error.code) + stringBound(error.message)))
    // StreamEnd: id@4, error, then status (1 byte, omitted when Ok).
    let o = 8
    const errorOff = error === undefined ? 0 : o
    if (error !== undefined) o += 4
    const statusOff = status === Status.Ok ? 0 : o++
    const size = (o + 3) & ~3
    const t = envelope4(b, Message.StreamEnd, size, 4, statusOff, errorOff, 0)
    w32(b, t + 4, id)
    if (statusOff !== 0) {
      w8(b, t + statusOff, status)
      pad(b, t + statusOff + 1, t + size)
    }
    let end = t + size
    if (error !== undefined) end = errorInfo(b, t + errorOff, end, error)
    return b.subarray(0, end)
  }

  /** Encodes a Cancel of request `id`. */
  cancel(id: number, reason: StringValue = ''): Uint8Array {
    checkId(id)
    reason = this.own(checkString(reason, 'reason'))
    const b = this.out.reserve(FIXED + stringBound(reason))
    if (reason.length === 0) {
      const t = envelope(b, Message.Cancel, vtable2, 8, 4, 0)
      w32(b, t + 4, id)
      return b.subarray(0, t + 8)
    }
    const t = envelope(b, Message.Cancel, vtable2, 12, 4, 8)
    w32(b, t + 4, id)
    w32(b, t + 8, 12 - 8)
    return b.subarray(0, stringBytes(b, t + 12, reason))
  }
}

/** Writes the envelope and the message's 2-field vtable; returns the message table's position. */
function envelope(b: Buffer, type: Message, vt: typeof vtable2, size: number, o0: number, o1: number): number {
  envelopeHead(b, type)
  const t = vt(b, MESSAGE_VT, size, o0, o1)
  w32(b, ENVELOPE + 4, t - (ENVELOPE + 4))
  return t
}

/** Writes the envelope and the message's 4-field vtable; returns the message table's position. */
function envelope4(b: Buffer, type: Message, size: number, o0: number, o1: number, o2: number, o3: number): number {
  envelopeHead(b, type)
  const t = vtable4(b, MESSAGE_VT, size, o0, o1, o2, o3)
  w32(b, ENVELOPE + 4, t - (ENVELOPE + 4))
  return t
}

function envelopeHead(b: Buffer, type: Message): void {
  header(b, ENVELOPE, ENVELOPE_IDENTIFIER)
  // Envelope vtable at 8: size 8, table size 12, message_type at 8, message at 4.
  vtable2(b, 8, 12, 8, 4)
  // The message uoffset at 20 is written once the message table's position is known.
  b[ENVELOPE + 8] = type
  b[ENVELOPE + 9] = 0
  b[ENVELOPE + 10] = 0
  b[ENVELOPE + 11] = 0
}

/**
 * Writes an ErrorInfo table at `at` (after its vtable) and its two strings, and points the uoffset
 * at `slot` to it; returns the end.
 */
function errorInfo(b: Buffer, slot: number, at: number, error: ErrorInfo): number {
  const et = vtable2(b, at, 12, 4, 8)
  w32(b, slot, et - slot)
  const code = et + 12
  w32(b, et + 4, code - (et + 4))
  const message = stringBytes(b, code, error.code)
  w32(b, et + 8, message - (et + 8))
  return stringBytes(b, message, error.message)
}

function checkError(error: ErrorInfo): void {
  if (typeof error !== 'object' || error === null || typeof error.code !== 'string' || typeof error.message !== 'string') {
    throw invalidArgValue('error', error, 'must be { code: string, message: string }')
  }
}

function checkString<T extends StringValue>(s: T, name: string): T {
  if (typeof s !== 'string' && !(s instanceof Uint8Array)) throw invalidArgType(name, 'of type string or an instance of Uint8Array', s)
  return s
}

function replyStatus(reply: Omit<ReplyOptions, 'body'>): Status {
  const status = reply.status ?? (reply.error === undefined ? Status.Ok : Status.Error)
  if (Status[status] === undefined) throw invalidArgValue('reply.status', status, 'must be a Status', RangeError)
  return status
}

function checkBytes(bytes: Uint8Array, name: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw invalidArgType(name, 'an instance of Uint8Array', bytes)
  return bytes
}

const shared = new Encoder()

/** Encodes a Hello with the shared encoder. The view is overwritten by the next shared encode. */
export function encodeHello(protocolVersion: number = PROTOCOL_VERSION, buildId: StringValue = '', maxFrameSize = 0): Uint8Array {
  return shared.hello(protocolVersion, buildId, maxFrameSize)
}

/** Encodes a Request with the shared encoder. The view is overwritten by the next shared encode. */
export function encodeRequest(id: number, method: string, body?: Uint8Array): Uint8Array {
  return shared.request(id, method, body)
}

/** Encodes a Response with the shared encoder. The view is overwritten by the next shared encode. */
export function encodeResponse(id: number, reply?: ReplyOptions): Uint8Array {
  return shared.response(id, reply)
}

/** Encodes a StreamItem with the shared encoder. The view is overwritten by the next shared encode. */
export function encodeStreamItem(id: number, seq: number, body?: Uint8Array): Uint8Array {
  return shared.streamItem(id, seq, body)
}

/** Encodes a StreamEnd with the shared encoder. The view is overwritten by the next shared encode. */
export function encodeStreamEnd(id: number, reply?: Omit<ReplyOptions, 'body'>): Uint8Array {
  return shared.streamEnd(id, reply)
}

/** Encodes a Cancel with the shared encoder. The view is overwritten by the next shared encode. */
export function encodeCancel(id: number, reason?: StringValue): Uint8Array {
  return shared.cancel(id, reason)
}
