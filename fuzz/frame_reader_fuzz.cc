// libFuzzer harness for the native frame reader (native/reader.cc + frame.cc).
//
// The input is a script of "recvmsg" events, so the fuzzer explores byte streams, chunking and fd
// attachment together:
//   byte 0            limits: bits 0-1 pick max_payload {0, 16, 1024, 65536}, bits 2-3 max fds {0, 1, 3, 253}
//   then per event    u8 control (bits 0-1: fds to attach 0..3, bit 2: MSG_CTRUNC), u16 LE length, bytes
// Invariants checked: frames lie inside the buffer they were read into; fd counts add up; no fd the
// harness created is left open once the reader is gone (every fd is owned by exactly one party).
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <vector>

#include "../native/reader.h"

using fdwire::FrameReader;
using fdwire::Limits;
using fdwire::ProtocolError;

static int devnull = -1;

static void check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "invariant violated: %s\n", what);
    abort();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (devnull < 0) devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (size < 1) return 0;
  static const uint32_t payloads[] = {0, 16, 1024, 65536};
  static const uint32_t fd_limits[] = {0, 1, 3, 253};
  Limits limits{payloads[data[0] & 3], fd_limits[(data[0] >> 2) & 3]};
  std::set<int> created;
  std::vector<std::unique_ptr<uint8_t[]>> buffers;  // kept alive like JS keeps delivered buffers
  size_t capacity = 0;
  {
    FrameReader reader(limits, 4096);
    size_t pos = 1;
    bool failed = false;
    while (!failed && pos + 3 <= size) {
      uint8_t control = data[pos];
      size_t len = data[pos + 1] | (data[pos + 2] << 8);
      pos += 3;
      if (len > size - pos) len = size - pos;
      int fds[3];
      size_t nfds = control & 3;
      for (size_t i = 0; i < nfds; i++) {
        fds[i] = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
        created.insert(fds[i]);
      }
      bool ctrunc = (control & 4) != 0;
      size_t fed = 0;
      bool first = true;
      do {
        size_t needed = reader.buffer_needed();
        if (needed > 0) {
          check(reader.frames().empty(), "frames pending across a buffer switch");
          check(needed <= fdwire::kHeaderSize + limits.max_payload || needed == 4096,
                "buffer larger than a frame may be");
          buffers.emplace_back(new uint8_t[needed]);
          reader.use_buffer(buffers.back().get(), needed);
          capacity = needed;
        }
        size_t chunk = std::min(len - fed, reader.write_space());
        ProtocolError error =
            reader.feed(data + pos + fed, chunk, first ? fds : nullptr, first ? nfds : 0, first && ctrunc);
        first = false;
        fed += chunk;
        if (error != ProtocolError::kNone) {
          check(reader.frames().empty() && reader.fds().empty(), "frames left after a protocol error");
          failed = true;
          break;
        }
        size_t fd_total = 0;
        for (const auto& frame : reader.frames()) {
          check(frame.offset + static_cast<size_t>(frame.length) <= capacity, "frame outside its buffer");
          check(frame.length <= limits.max_payload, "frame over the maximum");
          check(frame.fd_count <= limits.max_fds_per_frame, "more fds than allowed");
          fd_total += frame.fd_count;
        }
        check(fd_total == reader.fds().size(), "fd count mismatch between frames and fds");
        for (int fd : reader.fds()) close(fd);  // the owner took them
        reader.clear_frames();
      } while (fed < len);
      pos += len;
    }
    if (!failed) reader.finish();
  }
  for (int fd : created) check(fcntl(fd, F_GETFD) < 0, "fd leaked");
  return 0;
}
