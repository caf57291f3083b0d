// The fdwire frame header: the wire contract of docs/protocol.md, in one place.
//
//   offset size  field
//   0      2     magic     0xFD 0x57 ("\xfdW")
//   2      1     version   1
//   3      1     fd_count  fds that travel with this frame's first byte (0..253)
//   4      4     length    payload bytes that follow the header (u32 LE)
//   8      4     id        message id, opaque to the transport (u32 LE)
//   12     2     type      message type, opaque to the transport (u16 LE)
//   14     2     flags     reserved, must be 0 in version 1 (u16 LE)
//
// All integers are little-endian. Nothing in a header is trusted until decode_header() accepted it,
// and the length is checked against the receiver's maximum before anything is allocated for it.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace fdwire {

constexpr size_t kHeaderSize = 16;
constexpr uint8_t kMagic0 = 0xFD;
constexpr uint8_t kMagic1 = 0x57;
constexpr uint8_t kVersion = 1;

struct FrameHeader {
  uint32_t length;
  uint32_t id;
  uint16_t type;
  uint8_t fd_count;
};

// Protocol violations a receiver detects. Numbers are part of the JS binding's contract
// (src/native.ts maps them to ERR_FDWIRE_* codes); append only.
enum class ProtocolError : int {
  kNone = 0,
  kBadMagic = 1,         // first two bytes are not 0xFD 0x57
  kBadVersion = 2,       // a version this build does not speak
  kBadFlags = 3,         // reserved flag bits set
  kFrameTooLarge = 4,    // declared length above the receiver's maximum
  kTooManyFds = 5,       // declared fd count above the receiver's per-frame maximum
  kFdCountMismatch = 6,  // fds that arrived with a frame differ from its declared count
  kUnexpectedFds = 7,    // fds arrived where no frame starts, or on a connection that takes none
  kControlTruncated = 8, // MSG_CTRUNC: the kernel dropped ancillary data (fds lost)
  kTruncated = 9,        // peer closed in the middle of a frame
};

struct Limits {
  uint32_t max_payload;        // largest accepted payload length
  uint32_t max_fds_per_frame;  // 0 = this connection never accepts fds
};

// Writes a header into out[0..16).
void encode_header(const FrameHeader& header, uint8_t* out);

// Decodes and validates the 16 bytes at `in`. On failure returns the error and leaves `out` unset.
ProtocolError decode_header(const uint8_t* in, const Limits& limits, FrameHeader* out);

// A human-readable reason for a protocol error, for logs and error messages.
const char* protocol_error_name(ProtocolError error);

}  // namespace fdwire
