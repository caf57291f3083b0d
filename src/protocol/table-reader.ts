/**
 * Minimal in-place FlatBuffers field access for the hand-written views. Only ever used on
 * buffers that passed `verify`, so it does no bounds checks of its own. We read through these
 * instead of the generated classes because the runtime's `ByteBuffer` builds a `TextDecoder` per
 * buffer and decodes strings with it, which costs more than routing a whole message.
 */

/** Wraps a `Uint8Array` as a `Buffer` over the same memory (no copy). */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
}

export function u8(b: Uint8Array, at: number): number {
  return b[at]!
}

export function u16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8)
}

export function i32(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)
}

export function u32(b: Uint8Array, at: number): number {
  return i32(b, at) >>> 0
}

export function u64(b: Uint8Array, at: number): bigint {
  return BigInt(u32(b, at)) | (BigInt(u32(b, at + 4)) << 32n)
}

/** Position of the root table. */
export function rootTable(b: Uint8Array): number {
  return u32(b, 0)
}

/** Absolute position of field `id` of the table at `t`, or 0 when the field is absent. */
export function field(b: Uint8Array, t: number, id: number): number {
  const vt = t - i32(b, t)
  const entry = 4 + 2 * id
  if (entry >= u16(b, vt)) return 0
  const off = u16(b, vt + entry)
  return off === 0 ? 0 : t + off
}

/** Follows the uoffset stored at `at`. */
export function deref(b: Uint8Array, at: number): number {
  return at + u32(b, at)
}

/** The bytes of the string whose offset is stored at `at`, as a view (no NUL). */
export function stringBytesAt(b: Uint8Array, at: number): Uint8Array {
  const s = deref(b, at)
  return b.subarray(s + 4, s + 4 + u32(b, s))
}

// `Buffer#utf8Slice(start, end)` is what `toString('utf8', start, end)` calls after argument
// normalisation that costs ~30% on short strings. Present in every Node version we support; the
// fallback keeps us correct if it ever goes away.
interface Utf8Sliceable {
  utf8Slice(start: number, end: number): string
}
if (typeof (Buffer.prototype as unknown as Partial<Utf8Sliceable>).utf8Slice !== 'function') {
  Object.defineProperty(Buffer.prototype, 'utf8Slice', {
    value(this: Buffer, start: number, end: number): string {
      return this.toString('utf8', start, end)
    },
  })
}
/** `b.toString('utf8', start, end)` without its argument normalisation (a method call, not `.call`). */
function utf8(b: Buffer, start: number, end: number): string {
  return (b as unknown as Utf8Sliceable).utf8Slice(start, end)
}

/** Decodes the string whose offset is stored at `at`. */
export function stringAt(b: Buffer, at: number): string {
  const s = deref(b, at)
  return utf8(b, s + 4, s + 4 + u32(b, s))
}

// A small cache of decoded short strings that repeat (method names, error codes): comparing 10
// bytes in JS costs less than creating a string through the native call. Slots are picked from
// the length and the first and last two bytes; bounded (256 entries of at most 32 bytes); a
// collision only evicts.
const INTERN_MAX = 32
const internKeys: (Uint8Array | null)[] = new Array<Uint8Array | null>(256).fill(null)
const internValues: string[] = new Array<string>(256).fill('')

/** As `stringAt`, through the short-string cache: for strings that repeat across messages. */
export function internedStringAt(b: Buffer, at: number): string {
  const s = deref(b, at)
  const start = s + 4
  const n = u32(b, s)
  if (n < 2 || n > INTERN_MAX) return utf8(b, start, start + n)
  const end = start + n
  // 2 <= n: every byte read is one of the string's own (verified) bytes.
  const h = Math.imul(n ^ (b[start]! << 3) ^ (b[start + 1]! << 7) ^ (b[end - 1]! << 11) ^ (b[end - 2]! << 15), 0x9e3779b1)
  const slot = h >>> 24
  const key = internKeys[slot]!
  if (key !== null && key.length === n) {
    let i = 0
    while (i < n && key[i] === b[start + i]) i++
    if (i === n) return internValues[slot]!
  }
  const str = utf8(b, start, start + n)
  internKeys[slot] = Uint8Array.prototype.slice.call(b, start, start + n)
  internValues[slot] = str
  return str
}

/** The elements of the byte vector whose offset is stored at `at`, as a view. */
export function bytesAt(b: Uint8Array, at: number): Uint8Array {
  const v = deref(b, at)
  return b.subarray(v + 4, v + 4 + u32(b, v))
}

/** Decodes every string of the vector of strings whose offset is stored at `at`. */
export function stringsAt(b: Buffer, at: number): string[] {
  const v = deref(b, at)
  const n = u32(b, v)
  const out = new Array<string>(n)
  for (let i = 0; i < n; i++) out[i] = stringAt(b, v + 4 + 4 * i)
  return out
}
