/**
 * Builder helpers shared by the encoders.
 */
import type * as flatbuffers from 'flatbuffers'
import { checkInteger } from '../validate.js'

/**
 * Copies `bytes` into the builder as a `[ubyte]` vector whose elements start 8-aligned (the
 * schemas declare bodies `force_align: 8`, so a nested FlatBuffer with 64-bit fields can be read
 * in place by languages that need alignment). One `set()`, unlike the generated per-byte
 * `create…Vector`.
 */
export function createAlignedBytes(builder: flatbuffers.Builder, bytes: Uint8Array): flatbuffers.Offset {
  // After prep(8, n) the next n bytes end 8-aligned (from the end of the buffer, whose total size
  // finish() rounds to the largest alignment used), so the elements start 8-aligned; the 4-byte
  // length then lands right before them, already 4-aligned.
  builder.prep(8, bytes.length)
  return builder.createByteVector(bytes)
}

/** Checks a u32 message id. */
export function checkId(id: number, name = 'id'): void {
  checkInteger(name, id, 0, 0xffffffff)
}
