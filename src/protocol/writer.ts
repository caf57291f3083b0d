/**
 * A front-to-back FlatBuffers writer for small messages of known shape (the fdwire envelope and
 * rush's fixed-size bodies). The generic `flatbuffers.Builder` writes back to front, checks and
 * deduplicates vtables and grows by copying; for an 80-byte Response that bookkeeping cost more
 * than `JSON.stringify`. Here each encoder lays its tables out in order, parents before children,
 * so every uoffset points forward as the format requires:
 *
 *     [root uoffset][file_identifier][vtable][table][vtable][table]...[strings][byte vector]
 *
 * Each vtable sits right before its table (soffset = table - vtable, positive, as the standard
 * builder writes it). Padding is always written as zeros, so a reused buffer never leaks the bytes
 * of an earlier message. The output is an ordinary FlatBuffer: flatc, the python runtime and our
 * verifier read it (test/protocol/independent-decoders.test.ts).
 */

/** A reusable output buffer. `bytes` is replaced (zeroed) when a message needs more room. */
export class Out {
  bytes: Buffer
  constructor(initialSize: number) {
    this.bytes = Buffer.alloc(Math.max(64, initialSize))
  }
  /** Makes room for `n` bytes; returns the buffer to write into. */
  reserve(n: number): Buffer {
    if (n > this.bytes.length) this.bytes = Buffer.alloc(Math.max(n, 2 * this.bytes.length))
    return this.bytes
  }
}

export function w8(b: Uint8Array, at: number, v: number): void {
  b[at] = v
}

export function w16(b: Uint8Array, at: number, v: number): void {
  b[at] = v
  b[at + 1] = v >>> 8
}

export function w32(b: Uint8Array, at: number, v: number): void {
  b[at] = v
  b[at + 1] = v >>> 8
  b[at + 2] = v >>> 16
  b[at + 3] = v >>> 24
}

/** Writes the root offset and file identifier (4 ASCII chars); returns 8, the next position. */
export function header(b: Uint8Array, root: number, ident: string): number {
  w32(b, 0, root)
  b[4] = ident.charCodeAt(0)
  b[5] = ident.charCodeAt(1)
  b[6] = ident.charCodeAt(2)
  b[7] = ident.charCodeAt(3)
  return 8
}

/**
 * Writes a vtable at `vt` (4-aligned) for fields at the given table offsets (0 = absent), whose
 * table follows it; returns the table's position after writing the table's soffset. `offs` is
 * passed as separate arguments to stay allocation-free.
 */
export function vtable4(b: Uint8Array, vt: number, tableSize: number, o0: number, o1: number, o2: number, o3: number): number {
  w16(b, vt, 12)
  w16(b, vt + 2, tableSize)
  w16(b, vt + 4, o0)
  w16(b, vt + 6, o1)
  w16(b, vt + 8, o2)
  w16(b, vt + 10, o3)
  const t = vt + 12
  w32(b, t, t - vt)
  return t
}

/** As `vtable4`, for tables of two fields. */
export function vtable2(b: Uint8Array, vt: number, tableSize: number, o0: number, o1: number): number {
  w16(b, vt, 8)
  w16(b, vt + 2, tableSize)
  w16(b, vt + 4, o0)
  w16(b, vt + 6, o1)
  const t = vt + 8
  w32(b, t, t - vt)
  return t
}

/** Zeroes `b[from, to)`. */
export function pad(b: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) b[i] = 0
}

/** Most bytes `stringBytes` can take for `s` (UTF-8 length bound + length + NUL + padding). */
export function stringBound(s: string | Uint8Array): number {
  return typeof s === 'string' ? 3 * s.length + 8 : s.length + 8
}

/** Longest string encoded by the JS loop; longer ones go to `Buffer.write` (a native call). */
const ASCII_LOOP_MAX = 64

/**
 * Writes the string `s` (a JS string, encoded UTF-8, or its UTF-8 bytes) at `at` (4-aligned):
 * length, bytes, NUL, zero padding to 4. The caller reserved `stringBound(s)` bytes. Returns the
 * position after it.
 */
export function stringBytes(b: Buffer, at: number, s: string | Uint8Array): number {
  const start = at + 4
  let n: number
  if (typeof s !== 'string') {
    b.set(s, start)
    n = s.length
  } else {
    n = s.length
    let i = 0
    if (n <= ASCII_LOOP_MAX) {
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        b[start + i] = c
      }
    }
    if (i < n) n = b.write(s, start, 'utf8')
  }
  w32(b, at, n)
  const end = start + n
  b[end] = 0
  const next = (end + 4) & ~3
  for (let i = end + 1; i < next; i++) b[i] = 0
  return next
}

/**
 * Writes `bytes` as a `[ubyte]` vector at or after `at` (4-aligned) so that its elements start
 * 8-aligned (the schemas declare bodies `force_align: 8`: a nested FlatBuffer with 64-bit fields
 * can then be read in place). The caller reserved `bytes.length + 12`. Returns
 * `[vector position, end]` packed as vector position; the end is `position + 4 + length`.
 */
export function alignedBytes(b: Buffer, at: number, bytes: Uint8Array): number {
  let v = at
  if ((v & 7) === 0) {
    w32(b, v, 0)
    v += 4
  }
  w32(b, v, bytes.length)
  b.set(bytes, v + 4)
  return v
}
