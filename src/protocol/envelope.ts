/**
 * Reading fdwire envelopes in place. `readEnvelope` verifies the payload, then returns a typed view
 * over it: nothing is decoded until a getter asks (strings on each access, byte fields as views).
 * The generated union accessor is typed `any`; these views are the typed replacement.
 */
import { malformed } from '../errors.js'
import { EnvelopeRoot } from './descriptors.js'
import { Message, Status } from './generated/fdwire_generated.js'
import { asBuffer, bytesAt, deref, field, internedStringAt, rootTable, stringAt, stringBytesAt, u32, u8 } from './table-reader.js'
import { compileRoot, verifyCompiled, type VerifyOptions } from './verify.js'

const ENVELOPE = compileRoot(EnvelopeRoot)

export { Message, Status }

/** A structured error carried by a Response or StreamEnd. */
export interface ErrorInfo {
  readonly code: string
  readonly message: string
}

/** Common part of every view: the verified payload and the message table's position in it. */
abstract class View {
  /** @internal */
  constructor(
    /** The verified payload this view reads from (shares memory with the received bytes). */
    readonly payload: Buffer,
    /** @internal */ protected readonly pos: number,
  ) {}

  protected at(id: number): number {
    return field(this.payload, this.pos, id)
  }

  protected readU32(id: number): number {
    const at = this.at(id)
    return at === 0 ? 0 : u32(this.payload, at)
  }

  protected readString(id: number): string | null {
    const at = this.at(id)
    return at === 0 ? null : stringAt(this.payload, at)
  }

  /** As readString, through the cache of short repeated strings (method names, error codes). */
  protected readName(id: number): string | null {
    const at = this.at(id)
    return at === 0 ? null : internedStringAt(this.payload, at)
  }

  protected readBytes(id: number): Uint8Array | null {
    const at = this.at(id)
    return at === 0 ? null : bytesAt(this.payload, at)
  }

  protected readStatus(id: number): Status {
    const at = this.at(id)
    return at === 0 ? Status.Ok : (u8(this.payload, at) as Status)
  }

  protected readError(id: number): ErrorInfo | null {
    const at = this.at(id)
    if (at === 0) return null
    const t = deref(this.payload, at)
    const code = field(this.payload, t, 0)
    const message = field(this.payload, t, 1)
    return {
      code: code === 0 ? '' : internedStringAt(this.payload, code),
      message: message === 0 ? '' : stringAt(this.payload, message),
    }
  }
}

/** fdwire.Hello: the first message each side sends. */
export class HelloView extends View {
  get kind(): 'hello' {
    return 'hello'
  }
  get protocolVersion(): number {
    return this.readU32(0)
  }
  /** Decoded on each access; `''` when absent. */
  get buildId(): string {
    return this.readString(1) ?? ''
  }
  /** Largest frame payload the sender accepts; 0 when it did not say (an older peer). */
  get maxFrameSize(): number {
    return this.readU32(2)
  }
}

/** fdwire.Request: a call routed by `method`, with the daemon author's own `body`. */
export class RequestView extends View {
  get kind(): 'request' {
    return 'request'
  }
  get id(): number {
    return this.readU32(0)
  }
  /** Decoded on each access; `''` when absent. Use `methodBytes` to compare without decoding. */
  get method(): string {
    return this.readName(1) ?? ''
  }
  /** The method name's UTF-8 bytes, as a view into the payload. */
  get methodBytes(): Uint8Array {
    const at = this.at(1)
    return at === 0 ? new Uint8Array(0) : stringBytesAt(this.payload, at)
  }
  /** The body as a view into the payload (O(1), no copy; 8-aligned within the message), or null. */
  get body(): Uint8Array | null {
    return this.readBytes(2)
  }
}

/** fdwire.Response: the reply to the Request with the same id. */
export class ResponseView extends View {
  get kind(): 'response' {
    return 'response'
  }
  get id(): number {
    return this.readU32(0)
  }
  get status(): Status {
    return this.readStatus(1)
  }
  get ok(): boolean {
    return this.readStatus(1) === Status.Ok
  }
  /** The structured error, decoded on each access, or null when the response carries none. */
  get error(): ErrorInfo | null {
    return this.readError(2)
  }
  /** The body as a view into the payload (O(1), no copy), or null. */
  get body(): Uint8Array | null {
    return this.readBytes(3)
  }
}

/** fdwire.StreamItem: one item of a streamed reply. */
export class StreamItemView extends View {
  get kind(): 'streamItem' {
    return 'streamItem'
  }
  get id(): number {
    return this.readU32(0)
  }
  get seq(): number {
    return this.readU32(1)
  }
  /** The body as a view into the payload (O(1), no copy), or null. */
  get body(): Uint8Array | null {
    return this.readBytes(2)
  }
}

/** fdwire.StreamEnd: the end of a streamed reply. */
export class StreamEndView extends View {
  get kind(): 'streamEnd' {
    return 'streamEnd'
  }
  get id(): number {
    return this.readU32(0)
  }
  get status(): Status {
    return this.readStatus(1)
  }
  get ok(): boolean {
    return this.readStatus(1) === Status.Ok
  }
  get error(): ErrorInfo | null {
    return this.readError(2)
  }
}

/** fdwire.Cancel: asks the peer to stop working on a request. */
export class CancelView extends View {
  get kind(): 'cancel' {
    return 'cancel'
  }
  get id(): number {
    return this.readU32(0)
  }
  /** Decoded on each access; `''` when absent. */
  get reason(): string {
    return this.readString(1) ?? ''
  }
}

/** A verified message; switch on `kind` to get the typed view. */
export type Envelope = HelloView | RequestView | ResponseView | StreamItemView | StreamEndView | CancelView

/** The `kind` of each message type. */
export type MessageKind = Envelope['kind']

/**
 * Verifies `payload` (a message as received from a peer; any `Uint8Array` view, not copied) and
 * returns a typed view of its message. The view reads the payload in place, so it is valid only
 * as long as the payload's memory is not reused.
 *
 * @throws FdwireError `ERR_FDWIRE_MALFORMED` with the reason when the payload is not a valid
 *   fdwire envelope (bad bounds, offsets, identifier, unknown message type...).
 */
export function readEnvelope(payload: Uint8Array, options?: VerifyOptions): Envelope {
  verifyCompiled(payload, ENVELOPE, options)
  const b = asBuffer(payload)
  const t = rootTable(b)
  const typeAt = field(b, t, 0)
  const type = typeAt === 0 ? Message.NONE : (u8(b, typeAt) as Message)
  const pos = deref(b, field(b, t, 1))
  switch (type) {
    case Message.Hello:
      return new HelloView(b, pos)
    case Message.Request:
      return new RequestView(b, pos)
    case Message.Response:
      return new ResponseView(b, pos)
    case Message.StreamItem:
      return new StreamItemView(b, pos)
    case Message.StreamEnd:
      return new StreamEndView(b, pos)
    case Message.Cancel:
      return new CancelView(b, pos)
    default:
      // The verifier rejects unknown types; this guards against the two drifting apart.
      throw malformed(`unknown message type ${type}`)
  }
}
