// Encoding and validation of the frame header (laid out in wire.h). Pure functions
// over bytes: no syscalls, no allocation, so the fuzz harness drives exactly this code.
#include "frame.h"

#include "wire.h"

namespace fdwire {
namespace {

inline void put_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

inline void put_u32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

inline uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

inline uint32_t get_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

}  // namespace

void encode_header(const FrameHeader& header, uint8_t* out) {
  out[FDWIRE_AT_MAGIC] = FDWIRE_MAGIC0;
  out[FDWIRE_AT_MAGIC + 1] = FDWIRE_MAGIC1;
  out[FDWIRE_AT_VERSION] = FDWIRE_VERSION;
  out[FDWIRE_AT_FD_COUNT] = header.fd_count;
  put_u32(out + FDWIRE_AT_LENGTH, header.length);
  put_u32(out + FDWIRE_AT_ID, header.id);
  put_u16(out + FDWIRE_AT_TYPE, header.type);
  put_u16(out + FDWIRE_AT_FLAGS, FDWIRE_FLAGS_NONE);
}

ProtocolError decode_header(const uint8_t* in, const Limits& limits, FrameHeader* out) {
  if (in[FDWIRE_AT_MAGIC] != FDWIRE_MAGIC0 || in[FDWIRE_AT_MAGIC + 1] != FDWIRE_MAGIC1) {
    return ProtocolError::kBadMagic;
  }
  if (in[FDWIRE_AT_VERSION] != FDWIRE_VERSION) return ProtocolError::kBadVersion;
  if (get_u16(in + FDWIRE_AT_FLAGS) != FDWIRE_FLAGS_NONE) return ProtocolError::kBadFlags;
  uint32_t length = get_u32(in + FDWIRE_AT_LENGTH);
  if (length > limits.max_payload) return ProtocolError::kFrameTooLarge;
  uint8_t fd_count = in[FDWIRE_AT_FD_COUNT];
  if (fd_count > limits.max_fds_per_frame || fd_count > kMaxFdsPerFrame) {
    return ProtocolError::kTooManyFds;
  }
  out->length = length;
  out->id = get_u32(in + FDWIRE_AT_ID);
  out->type = get_u16(in + FDWIRE_AT_TYPE);
  out->fd_count = fd_count;
  return ProtocolError::kNone;
}

const char* protocol_error_name(ProtocolError error) {
  switch (error) {
    case ProtocolError::kNone: return "no error";
    case ProtocolError::kBadMagic: return "bad magic: the peer does not speak the fdwire frame protocol";
    case ProtocolError::kBadVersion: return "unsupported frame version";
    case ProtocolError::kBadFlags: return "reserved frame flags set";
    case ProtocolError::kFrameTooLarge: return "frame larger than the maximum";
    case ProtocolError::kTooManyFds: return "frame declares more fds than allowed";
    case ProtocolError::kFdCountMismatch: return "fds received differ from the frame's declared count";
    case ProtocolError::kUnexpectedFds: return "fds arrived where no frame may carry them";
    case ProtocolError::kControlTruncated: return "ancillary data truncated (MSG_CTRUNC): fds were lost";
    case ProtocolError::kTruncated: return "peer closed the connection in the middle of a frame";
  }
  return "unknown protocol error";
}

}  // namespace fdwire
