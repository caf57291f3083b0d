/**
 * In-place FlatBuffers access for your own schemas, as fdwire reads and writes its envelope: field
 * reads straight from a received buffer (no copy, no per-buffer `ByteBuffer`), and a front-to-back
 * writer for small tables of known shape. The readers do no bounds checks of their own: use them
 * only on a buffer that passed `verify`/`verifyCompiled` against the table's descriptor.
 */
export {
  asBuffer,
  u8,
  u16,
  i32,
  u32,
  u64,
  rootTable,
  field,
  deref,
  stringBytesAt,
  stringAt,
  internedStringAt,
  bytesAt,
  stringsAt,
} from './table-reader.js'
export { Out, w8, w16, w32, header, vtable2, vtable4, pad, stringBound, stringBytes, alignedBytes } from './writer.js'
export { utf8 } from './string-cache.js'
