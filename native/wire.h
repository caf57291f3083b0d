/*
 * The fdwire wire protocol's constants, each defined once, for every piece of native code that
 * speaks it: the addon (frame.h, frame.cc, reader.cc, writer.cc, napi/) and the rush client
 * (rush/wire.c, rush/session.c, rush/conn.c). Plain C macros, usable from C and C++; no code.
 *
 * The contract itself is docs/protocol.md (frames) and the .fbs files in schemas/ (messages): a
 * value here that differs from them is a bug here. The TypeScript side has its own copies
 * (generated from the schemas, or written after docs/protocol.md); the tests exchange real bytes
 * between the two sides.
 */
#ifndef FDWIRE_WIRE_H
#define FDWIRE_WIRE_H

/* A compile-time check in either language: C11 _Static_assert, C++11 static_assert. */
#ifdef __cplusplus
#define FDWIRE_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define FDWIRE_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

/* ---------- the frame header (docs/protocol.md, section 2) ----------
 *
 *   offset size  field
 *   0      2     magic     0xFD 0x57 ("\xfdW")
 *   2      1     version   1
 *   3      1     fd_count  fds that travel with this frame's first byte (0..253)
 *   4      4     length    payload bytes that follow the header (u32 LE)
 *   8      4     id        message id, opaque to the transport (u32 LE)
 *   12     2     type      message type, opaque to the transport (u16 LE)
 *   14     2     flags     reserved, must be 0 in version 1 (u16 LE)
 *
 * All integers are little-endian; there is no padding between frames.
 */
#define FDWIRE_HEADER_SIZE 16

#define FDWIRE_MAGIC0 0xFD
#define FDWIRE_MAGIC1 0x57
#define FDWIRE_VERSION 1

/* Where each field starts in the header. */
#define FDWIRE_AT_MAGIC 0
#define FDWIRE_AT_VERSION 2
#define FDWIRE_AT_FD_COUNT 3
#define FDWIRE_AT_LENGTH 4
#define FDWIRE_AT_ID 8
#define FDWIRE_AT_TYPE 12
#define FDWIRE_AT_FLAGS 14

/* Version 1 defines no flag: every bit of `flags` is reserved, and a receiver refuses a header
 * with any of them set. */
#define FDWIRE_FLAGS_NONE 0

/* Most fds one frame carries, on every platform: Linux's SCM_MAX_FD (include/net/scm.h), the most
 * one SCM_RIGHTS message may hold; a sendmsg(2) with more fails with EINVAL. */
#define FDWIRE_MAX_FDS_PER_FRAME 253

/* Frame types. The transport carries `type` without reading it; the message layer
 * (docs/protocol.md, section 6) puts its FlatBuffers envelopes in type-0 frames. */
#define FDWIRE_FRAME_TYPE_ENVELOPE 0

FDWIRE_STATIC_ASSERT(FDWIRE_AT_FLAGS + 2 == FDWIRE_HEADER_SIZE, "flags are the header's last field");
FDWIRE_STATIC_ASSERT(FDWIRE_MAX_FDS_PER_FRAME <= 0xFF, "fd_count is one byte");

/* ---------- protocol errors a receiver detects (docs/protocol.md, sections 3 and 4) ----------
 * Numbers are part of the addon's contract with JS (src/errors.ts maps each to its ERR_FDWIRE_*
 * code, in this order); append only. */
#define FDWIRE_PROTOCOL_NONE 0
#define FDWIRE_PROTOCOL_BAD_MAGIC 1         /* ERR_FDWIRE_BAD_MAGIC */
#define FDWIRE_PROTOCOL_BAD_VERSION 2       /* ERR_FDWIRE_BAD_VERSION */
#define FDWIRE_PROTOCOL_BAD_FLAGS 3         /* ERR_FDWIRE_BAD_FLAGS */
#define FDWIRE_PROTOCOL_FRAME_TOO_LARGE 4   /* ERR_FDWIRE_FRAME_TOO_LARGE */
#define FDWIRE_PROTOCOL_TOO_MANY_FDS 5      /* ERR_FDWIRE_TOO_MANY_FDS */
#define FDWIRE_PROTOCOL_FD_COUNT_MISMATCH 6 /* ERR_FDWIRE_FD_COUNT_MISMATCH */
#define FDWIRE_PROTOCOL_UNEXPECTED_FDS 7    /* ERR_FDWIRE_UNEXPECTED_FDS */
#define FDWIRE_PROTOCOL_CONTROL_TRUNCATED 8 /* ERR_FDWIRE_CONTROL_TRUNCATED */
#define FDWIRE_PROTOCOL_TRUNCATED 9         /* ERR_FDWIRE_TRUNCATED */

/* ---------- the envelope (schemas/fdwire.fbs) ---------- */
#define FDWIRE_ENVELOPE_IDENTIFIER "FDWR"

/* Values of the union Message (0 is NONE). */
#define FDWIRE_MESSAGE_HELLO 1
#define FDWIRE_MESSAGE_REQUEST 2
#define FDWIRE_MESSAGE_RESPONSE 3

/* Values of the enum Status. */
#define FDWIRE_STATUS_OK 0
#define FDWIRE_STATUS_ERROR 1
#define FDWIRE_STATUS_CANCELLED 2 /* reserved: fdwire never sends it; it fails like Error */

/* ErrorInfo.code values a client acts on. */
#define FDWIRE_CODE_UNKNOWN_METHOD "ERR_FDWIRE_UNKNOWN_METHOD"
#define FDWIRE_CODE_SHUTTING_DOWN "ERR_FDWIRE_SHUTTING_DOWN"

/* ---------- rush's messages (schemas/rush_*.fbs), carried in Request/Response bodies ---------- */
#define RUSH_METHOD_EXEC "rush.exec"
/* Retired, never to be reused: the method "rush.signal" and its body's identifier "RSIG" (see
 * rush/schemas/rush_common.fbs), as "rush.status" with "RSTQ" and "RSTA" before them. */

#define RUSH_EXEC_IDENTIFIER "RXEC"        /* ExecRequest */
#define RUSH_RESULT_IDENTIFIER "RRES"      /* Result */
#define RUSH_RUN_LOCALLY_IDENTIFIER "RLOC" /* RunLocally */

/* Values of the enum FdRole: what each fd sent with rush.exec is to the command. */
#define RUSH_ROLE_STDIN 0
#define RUSH_ROLE_STDOUT 1
#define RUSH_ROLE_STDERR 2
#define RUSH_ROLE_RESERVED 3 /* once Tty; never sent, and rushd closes such an fd unused */

/* StdinMode.Inherit: what the client writes in ExecRequest's deprecated stdin_mode field. */
#define RUSH_STDIN_INHERIT 0

#endif
