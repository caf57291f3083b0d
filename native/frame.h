// The fdwire frame header as C++ sees it: its fields, the receiver's limits, the protocol errors,
// and encoding/decoding. The layout and every constant are native/wire.h's (docs/protocol.md).
//
// Nothing in a header is trusted until decode_header() accepted it, and the length is checked
// against the receiver's maximum before anything is allocated for it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

namespace fdwire {

constexpr size_t kHeaderSize = FDWIRE_HEADER_SIZE;
constexpr int kMaxFdsPerFrame = FDWIRE_MAX_FDS_PER_FRAME;

struct FrameHeader {
  uint32_t length;
  uint32_t id;
  uint16_t type;
  uint8_t fd_count;
};

// Protocol violations a receiver detects, numbered as native/wire.h numbers them for JS.
enum class ProtocolError : int {
  kNone = FDWIRE_PROTOCOL_NONE,
  kBadMagic = FDWIRE_PROTOCOL_BAD_MAGIC,                 // first two bytes are not the magic
  kBadVersion = FDWIRE_PROTOCOL_BAD_VERSION,             // a version this build does not speak
  kBadFlags = FDWIRE_PROTOCOL_BAD_FLAGS,                 // reserved flag bits set
  kFrameTooLarge = FDWIRE_PROTOCOL_FRAME_TOO_LARGE,      // declared length above the receiver's maximum
  kTooManyFds = FDWIRE_PROTOCOL_TOO_MANY_FDS,            // declared fd count above the receiver's per-frame maximum
  kFdCountMismatch = FDWIRE_PROTOCOL_FD_COUNT_MISMATCH,  // fds that arrived with a frame differ from its declared count
  kUnexpectedFds =
      FDWIRE_PROTOCOL_UNEXPECTED_FDS,  // fds arrived where no frame starts, or on a connection that takes none
  kControlTruncated = FDWIRE_PROTOCOL_CONTROL_TRUNCATED,  // MSG_CTRUNC: the kernel dropped ancillary data (fds lost)
  kTruncated = FDWIRE_PROTOCOL_TRUNCATED,                 // peer closed in the middle of a frame
};

struct Limits {
  uint32_t max_payload;        // largest accepted payload length
  uint32_t max_fds_per_frame;  // 0 = this connection never accepts fds
};

// Writes a header into out[0..kHeaderSize).
void encode_header(const FrameHeader& header, uint8_t* out);

// Decodes and validates the kHeaderSize bytes at `in`. On failure returns the error and leaves `out` unset.
ProtocolError decode_header(const uint8_t* in, const Limits& limits, FrameHeader* out);

// A human-readable reason for a protocol error, for logs and error messages.
const char* protocol_error_name(ProtocolError error);

}  // namespace fdwire
