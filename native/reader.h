// FrameReader: turns a Unix stream socket's bytes and SCM_RIGHTS fds into whole frames, each frame
// owning exactly the fds that travelled with its first byte.
//
// Kernel behaviour relied on (Linux net/unix/af_unix.c, unix_stream_read_generic): fds sent with a
// sendmsg are attached to the first skb of that send; one recvmsg returns at most one such batch and
// returns it together with bytes of that skb. So every batch arrives in the same recvmsg as the first
// byte of the frame it belongs to. Each batch is therefore tagged with the stream range [begin, end)
// of the recvmsg it came with, and a frame header at stream offset h that declares N fds claims the
// oldest batch iff begin <= h < end and the batch holds exactly N fds. A batch whose range ends before
// the next possible frame start belongs to no frame: a protocol error.
//
// Memory: the reader reads into a buffer its owner supplies (the binding supplies JS-visible
// buffers, so a frame's payload reaches JS as a view without a copy). buffer_needed() says when to
// supply a new one; it is never asked for more than header + max_payload, and only after the header
// was checked against the maximum.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <deque>
#include <vector>

#include "frame.h"

namespace fdwire {

struct ReceivedFrame {
  uint32_t offset;  // payload start inside the current buffer
  uint32_t length;
  uint32_t id;
  uint16_t type;
  uint8_t fd_count;  // this frame's fds are the next fd_count entries of FrameReader::fds()
};

class FrameReader {
 public:
  enum class Status { kData, kWouldBlock, kEof, kError, kProtocol };
  struct Result {
    Status status;
    int value;  // kData: bytes read; kError: errno; kProtocol: ProtocolError
  };

  FrameReader(const Limits& limits, size_t buffer_size);
  ~FrameReader();  // closes every fd still owned (pending, claimed, or not yet taken)
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // Size of buffer to hand to use_buffer() before the next read, or 0 if the current one will do.
  size_t buffer_needed() const;
  // Continues in `buffer`, carrying over the bytes of the incomplete frame. Frames not yet taken
  // point into the previous buffer: take them (clear_frames) before switching.
  void use_buffer(uint8_t* buffer, size_t size);

  // One recvmsg(2) into the current buffer, then as many frames as are complete become available.
  Result read_once(int fd);

  // The same as read_once for bytes and fds obtained elsewhere (fuzzing, tests): `data` is copied
  // into the current buffer's free space (at most write_space() bytes).
  ProtocolError feed(const uint8_t* data, size_t len, const int* fds, size_t fd_count, bool ctrunc);
  size_t write_space() const { return capacity_ - end_; }
  // The peer closed. Returns kTruncated (and closes fds) when it did so inside a frame.
  ProtocolError finish();

  const std::vector<ReceivedFrame>& frames() const { return frames_; }
  const std::vector<int>& fds() const { return ready_fds_; }
  // The owner took frames() and fds(): they are its now.
  void clear_frames();

  bool failed() const { return failed_; }
  // Whether any byte or fd was received and not yet handed over (detaching would lose it).
  bool holds_data() const { return end_ != start_ || have_header_ || !batches_.empty() || !frames_.empty(); }
  const Limits& limits() const { return limits_; }

 private:
  struct FdBatch {
    uint64_t begin;  // stream offset of the first byte of the recvmsg it arrived with
    uint64_t end;    // one past its last byte
    std::vector<int> fds;
  };

  ProtocolError commit(size_t bytes, std::vector<int>* fds, bool ctrunc);
  ProtocolError parse();
  ProtocolError fail(ProtocolError error);
  void close_owned_fds();

  Limits limits_;
  size_t buffer_size_;
  uint8_t* buffer_ = nullptr;
  size_t capacity_ = 0;
  size_t start_ = 0;           // first byte not yet part of a completed frame
  size_t end_ = 0;             // one past the last byte received
  uint64_t stream_start_ = 0;  // stream offset of buffer_[start_]
  bool have_header_ = false;   // the header at start_ is decoded and its fds claimed
  FrameHeader header_{};
  std::vector<int> header_fds_;  // fds claimed by the frame at start_
  std::deque<FdBatch> batches_;  // fds received but not yet claimed by a header
  std::vector<ReceivedFrame> frames_;
  std::vector<int> ready_fds_;
  std::vector<uint64_t> control_;  // recvmsg control buffer, 8-byte aligned for cmsghdr
  bool failed_ = false;
};

}  // namespace fdwire
