// FrameWriter: sends frames on a non-blocking Unix stream socket, header and payload as one
// sendmsg(2) with two iovecs and the frame's fds (SCM_RIGHTS) on its first byte.
//
// A frame goes out immediately when nothing is queued; whatever the kernel does not take is copied
// into the queue, so a caller may reuse its payload buffer as soon as send() returns. Queued frames
// keep their fds until the frame's first byte is sent: fds the caller keeps are dup'ed for that
// (so the caller may close its copy at once), fds the caller hands over are held as they are.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <deque>
#include <vector>

#include "frame.h"

namespace fdwire {

class FrameWriter {
 public:
  FrameWriter() = default;
  ~FrameWriter();  // closes fds held by frames never sent
  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;

  // Sends one frame. `take_fds`: the writer owns `fds` from now on, even on error, and closes them
  // once the kernel has them. Returns the bytes still queued (0 = all sent) or -errno (-EINVAL for
  // more than 253 fds; -EPIPE/-ECONNRESET when the peer is gone).
  int64_t send(int fd, const FrameHeader& header, const uint8_t* payload, const int* fds, size_t fd_count,
               bool take_fds);

  // Sends as much of the queue as the socket takes. Returns the bytes still queued or -errno.
  int64_t flush(int fd);

  size_t queued_bytes() const { return queued_bytes_; }
  size_t queued_frames() const { return queue_.size(); }

  // Corked: send() queues without writing, so that the frames sent until flush() leave together
  // in as few sendmsg calls as possible (one, unless a later frame carries fds).
  void set_corked(bool corked) { corked_ = corked; }
  bool corked() const { return corked_; }

 private:
  struct Pending {
    std::vector<uint8_t> bytes;  // header + payload (what is left of them)
    size_t sent = 0;
    std::vector<int> fds;  // owned; empty once sent
  };

  Pending& enqueue(const uint8_t* header, size_t header_len, const uint8_t* payload, size_t payload_len);

  std::deque<Pending> queue_;
  size_t queued_bytes_ = 0;
  bool corked_ = false;
};

// sendmsg(2) of `iov` with `fds` as SCM_RIGHTS (none when fd_count is 0), retried on EINTR.
// Returns bytes sent or -errno (-EAGAIN when the socket buffer is full).
int64_t send_with_fds(int fd, const ::iovec* iov, size_t iov_count, const int* fds, size_t fd_count);

}  // namespace fdwire
