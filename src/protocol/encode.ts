/**
 * Encoding fdwire envelopes with one reused `Builder`.
 *
 * **The returned bytes are a view into the encoder's builder and are overwritten by the next
 * encode on the same encoder.** Hand them to something that copies synchronously (a socket write
 * that copies into its own buffer) or copy them (`Buffer.from(bytes)`) before any `await`.
 */
import * as flatbuffers from 'flatbuffers'
import {
  Cancel,
  Envelope as EnvelopeTable,
  ErrorInfo as ErrorInfoTable,
  Hello,
  Message,
  Request,
  Response,
  Status,
  StreamEnd,
  StreamItem,
} from './generated/fdwire_generated.js'
import { checkId, createAlignedBytes } from './builder-util.js'
import type { ErrorInfo } from './envelope.js'
import { StringCache, utf8 } from './string-cache.js'

/** Current protocol version, sent in Hello. Bumped only for incompatible changes. */
export const PROTOCOL_VERSION = 1

/** File identifier of fdwire envelopes. */
export const ENVELOPE_IDENTIFIER = 'FDWR'

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

/**
 * Encodes fdwire envelopes. Keeps one `Builder` (grown to the largest message seen) and a cache of
 * encoded method names. Each method returns a view valid until the next call on this encoder.
 */
export class Encoder {
  private readonly builder: flatbuffers.Builder
  private readonly methods = new StringCache(256)

  /** @param initialSize Starting size of the builder's buffer, in bytes. */
  constructor(initialSize = 1024) {
    this.builder = new flatbuffers.Builder(initialSize)
  }

  /** Encodes a Hello. */
  hello(protocolVersion: number = PROTOCOL_VERSION, buildId: StringValue = ''): Uint8Array {
    checkId(protocolVersion, 'protocolVersion')
    const b = this.start()
    const build = b.createString(utf8(buildId))
    Hello.startHello(b)
    Hello.addProtocolVersion(b, protocolVersion)
    Hello.addBuildId(b, build)
    return this.finish(Message.Hello, Hello.endHello(b))
  }

  /**
   * Encodes a Request. `method` names are cached encoded; `body` is copied in with one `set()`.
   */
  request(id: number, method: string, body?: Uint8Array): Uint8Array {
    checkId(id)
    if (typeof method !== 'string' || method.length === 0) throw new TypeError('method must be a non-empty string')
    const b = this.start()
    const bodyOffset = body === undefined ? 0 : createAlignedBytes(b, checkBytes(body, 'body'))
    const methodOffset = b.createString(this.methods.get(method))
    Request.startRequest(b)
    Request.addId(b, id)
    Request.addMethod(b, methodOffset)
    if (bodyOffset !== 0) Request.addBody(b, bodyOffset)
    return this.finish(Message.Request, Request.endRequest(b))
  }

  /** Encodes a Response to request `id`. */
  response(id: number, reply: ReplyOptions = {}): Uint8Array {
    checkId(id)
    const b = this.start()
    const bodyOffset = reply.body === undefined ? 0 : createAlignedBytes(b, checkBytes(reply.body, 'reply.body'))
    const errorOffset = this.errorInfo(reply.error)
    Response.startResponse(b)
    Response.addId(b, id)
    Response.addStatus(b, replyStatus(reply))
    if (errorOffset !== 0) Response.addError(b, errorOffset)
    if (bodyOffset !== 0) Response.addBody(b, bodyOffset)
    return this.finish(Message.Response, Response.endResponse(b))
  }

  /** Encodes item `seq` of the streamed reply to request `id`. */
  streamItem(id: number, seq: number, body?: Uint8Array): Uint8Array {
    checkId(id)
    checkId(seq, 'seq')
    const b = this.start()
    const bodyOffset = body === undefined ? 0 : createAlignedBytes(b, checkBytes(body, 'body'))
    StreamItem.startStreamItem(b)
    StreamItem.addId(b, id)
    StreamItem.addSeq(b, seq)
    if (bodyOffset !== 0) StreamItem.addBody(b, bodyOffset)
    return this.finish(Message.StreamItem, StreamItem.endStreamItem(b))
  }

  /** Encodes the end of the streamed reply to request `id`. */
  streamEnd(id: number, reply: Omit<ReplyOptions, 'body'> = {}): Uint8Array {
    checkId(id)
    const b = this.start()
    const errorOffset = this.errorInfo(reply.error)
    StreamEnd.startStreamEnd(b)
    StreamEnd.addId(b, id)
    StreamEnd.addStatus(b, replyStatus(reply))
    if (errorOffset !== 0) StreamEnd.addError(b, errorOffset)
    return this.finish(Message.StreamEnd, StreamEnd.endStreamEnd(b))
  }

  /** Encodes a Cancel of request `id`. */
  cancel(id: number, reason: StringValue = ''): Uint8Array {
    checkId(id)
    const b = this.start()
    const reasonOffset = reason.length === 0 ? 0 : b.createString(utf8(reason))
    Cancel.startCancel(b)
    Cancel.addId(b, id)
    if (reasonOffset !== 0) Cancel.addReason(b, reasonOffset)
    return this.finish(Message.Cancel, Cancel.endCancel(b))
  }

  private start(): flatbuffers.Builder {
    this.builder.clear()
    return this.builder
  }

  private errorInfo(error: ErrorInfo | undefined): flatbuffers.Offset {
    if (error === undefined) return 0
    if (typeof error.code !== 'string' || typeof error.message !== 'string') {
      throw new TypeError('error must be { code: string, message: string }')
    }
    const b = this.builder
    const code = b.createString(utf8(error.code))
    const message = b.createString(utf8(error.message))
    return ErrorInfoTable.createErrorInfo(b, code, message)
  }

  private finish(type: Message, message: flatbuffers.Offset): Uint8Array {
    const b = this.builder
    const root = EnvelopeTable.createEnvelope(b, type, message)
    b.finish(root, ENVELOPE_IDENTIFIER)
    return b.asUint8Array()
  }
}

function replyStatus(reply: Omit<ReplyOptions, 'body'>): Status {
  const status = reply.status ?? (reply.error === undefined ? Status.Ok : Status.Error)
  if (Status[status] === undefined) throw new RangeError(`status must be a Status, got ${String(status)}`)
  return status
}

function checkBytes(bytes: Uint8Array, name: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`)
  return bytes
}

const shared = new Encoder()

/** Encodes a Hello with the shared encoder. The view is overwritten by the next shared encode. */
export function encodeHello(protocolVersion: number = PROTOCOL_VERSION, buildId: StringValue = ''): Uint8Array {
  return shared.hello(protocolVersion, buildId)
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
