// FrameReader: recvmsg(2) with SCM_RIGHTS (unix(7), cmsg(3)), frame reassembly and fd attribution.
// See reader.h for the attribution rule and the kernel behaviour it rests on. Received fds are
// close-on-exec: atomically on Linux (MSG_CMSG_CLOEXEC), by fcntl the moment recvmsg returns on
// macOS, before any other use of them (native/platform/socket.h).
#include "reader.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

#include "platform.h"
#include "platform/socket.h"
#include "socket.h"

namespace fdwire {
namespace {

// Below this much free space a read would be too small to be worth a syscall: switch buffers.
constexpr size_t kMinReadSpace = 1024;
// The first buffer of a connection: most connections are short (a request or two, a few KiB) and
// a smaller first buffer is cheaper to allocate and touch; later buffers have the full size.
constexpr size_t kFirstBufferSize = 16 * 1024;

// A batch may wait for its header at most while the previous frame's header is incomplete, so two
// pending batches is the legitimate maximum; more means a peer is spraying fds.
constexpr size_t kMaxPendingBatches = 2;

void close_all(std::vector<int>* fds) {
  for (int fd : *fds) close_fd(fd);
  fds->clear();
}

}  // namespace

FrameReader::FrameReader(const Limits& limits, size_t buffer_size)
    : limits_(limits), buffer_size_(std::max(buffer_size, 4 * kMinReadSpace)) {
  // Room for one frame's worth of fds. A peer sending more makes Linux set MSG_CTRUNC (and close
  // what did not fit), which we report; macOS gets room for a whole message, since it would leave
  // what did not fit open in this process (fdwire_recv_fd_room). With fds refused we still leave
  // room for one, so a stray fd is detected and closed rather than silently discarded.
  size_t max_fds = fdwire_recv_fd_room(std::max<size_t>(limits_.max_fds_per_frame, 1));
  size_t bytes = CMSG_SPACE(sizeof(int) * max_fds);
  control_.resize((bytes + sizeof(uint64_t) - 1) / sizeof(uint64_t));
}

FrameReader::~FrameReader() { close_owned_fds(); }

void FrameReader::close_owned_fds() {
  for (FdBatch& batch : batches_) close_all(&batch.fds);
  batches_.clear();
  close_all(&header_fds_);
  close_all(&ready_fds_);
  frames_.clear();
}

size_t FrameReader::buffer_needed() const {
  if (buffer_ == nullptr) return std::min(buffer_size_, kFirstBufferSize);
  if (have_header_) {
    size_t total = kHeaderSize + static_cast<size_t>(header_.length);
    if (capacity_ - start_ >= total) return 0;
    return std::max(total, buffer_size_);
  }
  if (capacity_ - end_ >= kMinReadSpace) return 0;
  return buffer_size_;
}

void FrameReader::use_buffer(uint8_t* buffer, size_t size) {
  size_t pending = end_ - start_;
  if (pending > 0) memcpy(buffer, buffer_ + start_, pending);
  buffer_ = buffer;
  capacity_ = size;
  start_ = 0;
  end_ = pending;
}

FrameReader::Result FrameReader::read_once(int fd) {
  if (failed_) return {Status::kProtocol, static_cast<int>(ProtocolError::kTruncated)};
  iovec iov;
  iov.iov_base = buffer_ + end_;
  iov.iov_len = capacity_ - end_;
  msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control_.data();
  msg.msg_controllen = control_.size() * sizeof(uint64_t);

  ssize_t n;
  do {
    n = recvmsg(fd, &msg, FDWIRE_RECV_FLAGS);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {Status::kWouldBlock, 0};
    return {Status::kError, errno};
  }

  // Every fd that arrived is close-on-exec and owned by `fds` from here on: commit() and parse()
  // close them on every error path. One recvmsg returns one sendmsg's fds at most, which fit in
  // `received`; any beyond it would be closed, never lost.
  int received[FDWIRE_MAX_FDS_PER_RECVMSG];
  size_t count = fdwire_take_received_fds(&msg, received, FDWIRE_MAX_FDS_PER_RECVMSG);
  std::vector<int> fds(received, received + count);
  bool ctrunc = (msg.msg_flags & MSG_CTRUNC) != 0;

  if (n == 0 && fds.empty() && !ctrunc) {
    ProtocolError error = finish();
    if (error != ProtocolError::kNone) return {Status::kProtocol, static_cast<int>(error)};
    return {Status::kEof, 0};
  }
  ProtocolError error = commit(static_cast<size_t>(n), &fds, ctrunc);
  if (error != ProtocolError::kNone) return {Status::kProtocol, static_cast<int>(error)};
  return {Status::kData, static_cast<int>(n)};
}

ProtocolError FrameReader::feed(const uint8_t* data, size_t len, const int* fds, size_t fd_count, bool ctrunc) {
  if (failed_) return ProtocolError::kTruncated;
  len = std::min(len, write_space());
  if (len > 0) memcpy(buffer_ + end_, data, len);
  std::vector<int> owned(fds, fds + fd_count);
  return commit(len, &owned, ctrunc);
}

ProtocolError FrameReader::commit(size_t bytes, std::vector<int>* fds, bool ctrunc) {
  if (ctrunc) {
    close_all(fds);
    return fail(ProtocolError::kControlTruncated);
  }
  uint64_t chunk_begin = stream_start_ + (end_ - start_);
  end_ += bytes;
  if (!fds->empty()) {
    if (limits_.max_fds_per_frame == 0 || bytes == 0 || batches_.size() >= kMaxPendingBatches) {
      close_all(fds);
      return fail(ProtocolError::kUnexpectedFds);
    }
    if (fds->size() > limits_.max_fds_per_frame) {
      close_all(fds);
      return fail(ProtocolError::kTooManyFds);
    }
    batches_.push_back(FdBatch{chunk_begin, chunk_begin + bytes, std::move(*fds)});
  }
  return parse();
}

ProtocolError FrameReader::parse() {
  for (;;) {
    if (!have_header_) {
      if (end_ - start_ < kHeaderSize) break;
      ProtocolError error = decode_header(buffer_ + start_, limits_, &header_);
      if (error != ProtocolError::kNone) return fail(error);
      uint64_t at = stream_start_;
      // A batch that arrived wholly before this header was claimed by no earlier frame.
      if (!batches_.empty() && batches_.front().end <= at) return fail(ProtocolError::kUnexpectedFds);
      if (header_.fd_count > 0) {
        if (batches_.empty() || batches_.front().begin > at || batches_.front().fds.size() != header_.fd_count) {
          return fail(ProtocolError::kFdCountMismatch);
        }
        header_fds_ = std::move(batches_.front().fds);
        batches_.pop_front();
      }
      have_header_ = true;
    }
    size_t total = kHeaderSize + static_cast<size_t>(header_.length);
    if (end_ - start_ < total) break;
    frames_.push_back(ReceivedFrame{static_cast<uint32_t>(start_ + kHeaderSize), header_.length, header_.id,
                                    header_.type, header_.fd_count});
    ready_fds_.insert(ready_fds_.end(), header_fds_.begin(), header_fds_.end());
    header_fds_.clear();
    start_ += total;
    stream_start_ += total;
    have_header_ = false;
  }
  // No frame can start before `next`: a batch whose bytes all lie before it belongs to no frame.
  uint64_t next = stream_start_;
  if (have_header_) next += kHeaderSize + header_.length;
  if (!batches_.empty() && batches_.front().end <= next) return fail(ProtocolError::kUnexpectedFds);
  return ProtocolError::kNone;
}

ProtocolError FrameReader::finish() {
  if (failed_) return ProtocolError::kNone;
  if (end_ != start_ || have_header_ || !batches_.empty()) return fail(ProtocolError::kTruncated);
  return ProtocolError::kNone;
}

void FrameReader::clear_frames() {
  frames_.clear();
  ready_fds_.clear();
}

ProtocolError FrameReader::fail(ProtocolError error) {
  failed_ = true;
  close_owned_fds();
  return error;
}

}  // namespace fdwire
