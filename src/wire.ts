/**
 * The wire constants of native/wire.h on the TypeScript side, each defined once: the frame
 * header (docs/protocol.md, section 2), the protocol errors the addon reports by number, the
 * envelope's file identifier and the error codes a client acts on. Names are those of wire.h
 * without the `FDWIRE_` prefix; test/transport/wire-constants.test.ts reads wire.h and checks
 * every value here against it.
 *
 * The envelope's enums (`Message`, `Status`) are not repeated here: they are generated from
 * schemas/fdwire.fbs (src/protocol/generated), and the same test checks them against wire.h too.
 */

/** Bytes in a frame header. */
export const HEADER_SIZE = 16

/** The frame magic, first byte then second byte ("\xfdW"). */
export const MAGIC0 = 0xfd
export const MAGIC1 = 0x57
/** Both magic bytes as one little-endian u16, the way the header's first field is read. */
export const MAGIC = MAGIC0 | (MAGIC1 << 8)

/** The frame header's version (not Hello's protocol version, `PROTOCOL_VERSION`). */
export const VERSION = 1

/** Where each field starts in the header. */
export const AT_MAGIC = 0
export const AT_VERSION = 2
export const AT_FD_COUNT = 3
export const AT_LENGTH = 4
export const AT_ID = 8
export const AT_TYPE = 12
export const AT_FLAGS = 14

/** Version 1 defines no flag: a header with any bit of `flags` set is refused. */
export const FLAGS_NONE = 0

/** Most fds one frame carries (Linux's SCM_MAX_FD). */
export const MAX_FDS_PER_FRAME = 253

/** Frame type of fdwire envelopes; other types are left to applications. */
export const FRAME_TYPE_ENVELOPE = 0

/**
 * The protocol errors the addon reports, indexed by their number (`FDWIRE_PROTOCOL_*`): the code
 * of each is `ERR_FDWIRE_` and the name after `FDWIRE_PROTOCOL_`. Append only.
 */
export const PROTOCOL_ERROR_CODES = [
  'ERR_FDWIRE_NONE',
  'ERR_FDWIRE_BAD_MAGIC',
  'ERR_FDWIRE_BAD_VERSION',
  'ERR_FDWIRE_BAD_FLAGS',
  'ERR_FDWIRE_FRAME_TOO_LARGE',
  'ERR_FDWIRE_TOO_MANY_FDS',
  'ERR_FDWIRE_FD_COUNT_MISMATCH',
  'ERR_FDWIRE_UNEXPECTED_FDS',
  'ERR_FDWIRE_CONTROL_TRUNCATED',
  'ERR_FDWIRE_TRUNCATED',
] as const

/** File identifier of fdwire envelopes (schemas/fdwire.fbs). */
export const ENVELOPE_IDENTIFIER = 'FDWR'

/** `ErrorInfo.code` of the reply to a method the daemon has no handler for. */
export const CODE_UNKNOWN_METHOD = 'ERR_FDWIRE_UNKNOWN_METHOD'
/** `ErrorInfo.code` of the reply to a request that arrives while the daemon shuts down. */
export const CODE_SHUTTING_DOWN = 'ERR_FDWIRE_SHUTTING_DOWN'
