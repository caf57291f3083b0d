// FrameWriter: sendmsg(2) with SCM_RIGHTS (unix(7), cmsg(3)) and a copy-on-queue write queue.
//
// Kernel behaviour relied on: a stream sendmsg attaches its fds to the first skb it queues (Linux
// unix_stream_sendmsg), and a partial send has already delivered them, so fds are "sent" as soon as
// any byte of their sendmsg is. Linux accepts at most 253 fds per sendmsg (SCM_MAX_FD); above that
// it fails with EINVAL, which we report before trying. A dead peer is EPIPE, never SIGPIPE
// (MSG_NOSIGNAL on Linux, SO_NOSIGPIPE on every socket on macOS: native/platform/socket.h).
#include "writer.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "platform.h"
#include "platform/socket.h"
#include "socket.h"

namespace fdwire {
namespace {

constexpr size_t kMaxIovecs = 64;
constexpr size_t kMaxFlushBytes = 1 << 20;

void close_all(std::vector<int>* fds) {
  for (int fd : *fds) close_fd(fd);
  fds->clear();
}

}  // namespace

int64_t send_with_fds(int fd, const iovec* iov, size_t iov_count, const int* fds, size_t fd_count) {
  msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = iov_count;
  union {
    cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * kMaxFdsPerFrame)];
  } control;
  if (fd_count > 0) {
    size_t data_len = sizeof(int) * fd_count;
    memset(&control, 0, sizeof(control));
    msg.msg_control = control.bytes;
    msg.msg_controllen = CMSG_SPACE(data_len);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(data_len);
    memcpy(CMSG_DATA(c), fds, data_len);
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, FDWIRE_SEND_FLAGS);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EWOULDBLOCK) ? -EAGAIN : -errno;
  return n;
}

FrameWriter::~FrameWriter() {
  for (Pending& pending : queue_) close_all(&pending.fds);
}

FrameWriter::Pending& FrameWriter::enqueue(const uint8_t* header, size_t header_len, const uint8_t* payload,
                                           size_t payload_len) {
  queue_.emplace_back();
  Pending& pending = queue_.back();
  pending.bytes.resize(header_len + payload_len);
  if (header_len > 0) memcpy(pending.bytes.data(), header, header_len);
  if (payload_len > 0) memcpy(pending.bytes.data() + header_len, payload, payload_len);
  queued_bytes_ += header_len + payload_len;
  return pending;
}

int64_t FrameWriter::send(int fd, const FrameHeader& header, const uint8_t* payload, const int* fds, size_t fd_count,
                          bool take_fds) {
  if (fd_count > static_cast<size_t>(kMaxFdsPerFrame) || fd_count != header.fd_count) {
    if (take_fds) {
      for (size_t i = 0; i < fd_count; i++) close_fd(fds[i]);
    }
    return -EINVAL;
  }
  uint8_t head[kHeaderSize];
  encode_header(header, head);
  size_t total = kHeaderSize + header.length;
  size_t sent = 0;

  if (queue_.empty() && !corked_) {
    iovec iov[2] = {{head, kHeaderSize}, {const_cast<uint8_t*>(payload), header.length}};
    int64_t n = send_with_fds(fd, iov, header.length > 0 ? 2 : 1, fds, fd_count);
    if (n < 0 && n != -EAGAIN) {
      if (take_fds) {
        for (size_t i = 0; i < fd_count; i++) close_fd(fds[i]);
      }
      return n;
    }
    if (n > 0) {
      // The fds went with the first byte; ours to close if the caller gave them to us.
      if (take_fds) {
        for (size_t i = 0; i < fd_count; i++) close_fd(fds[i]);
      }
      fd_count = 0;
      sent = static_cast<size_t>(n);
      if (sent == total) return 0;
    }
  }

  // Queue what is left. Copy only the unsent part.
  size_t header_left = sent < kHeaderSize ? kHeaderSize - sent : 0;
  size_t payload_from = sent > kHeaderSize ? sent - kHeaderSize : 0;
  Pending& pending =
      enqueue(head + (kHeaderSize - header_left), header_left, payload + payload_from, header.length - payload_from);
  for (size_t i = 0; i < fd_count; i++) {
    int held = fds[i];
    if (!take_fds) {
      held = dup_cloexec(fds[i]);
      if (held < 0) {
        // Without every fd the frame would break its promise; drop it and report.
        int64_t error = held;
        close_all(&pending.fds);
        queued_bytes_ -= pending.bytes.size();
        queue_.pop_back();
        return error;
      }
    }
    pending.fds.push_back(held);
  }
  return static_cast<int64_t>(queued_bytes_);
}

int64_t FrameWriter::flush(int fd) {
  while (!queue_.empty()) {
    // One sendmsg may carry several queued frames, but fds must ride on their own frame's first
    // byte, so a batch may only start with a frame that has fds, never contain a later one.
    iovec iov[kMaxIovecs];
    size_t count = 0;
    size_t bytes = 0;
    for (Pending& pending : queue_) {
      if (count == kMaxIovecs || bytes >= kMaxFlushBytes) break;
      if (count > 0 && !pending.fds.empty()) break;
      iov[count].iov_base = pending.bytes.data() + pending.sent;
      iov[count].iov_len = pending.bytes.size() - pending.sent;
      bytes += iov[count].iov_len;
      count++;
    }
    Pending& head = queue_.front();
    int64_t n = send_with_fds(fd, iov, count, head.fds.data(), head.fds.size());
    if (n == -EAGAIN) return static_cast<int64_t>(queued_bytes_);
    if (n < 0) return n;
    if (n > 0) close_all(&head.fds);
    size_t left = static_cast<size_t>(n);
    queued_bytes_ -= left;
    while (left > 0) {
      Pending& front = queue_.front();
      size_t remaining = front.bytes.size() - front.sent;
      if (left < remaining) {
        front.sent += left;
        break;
      }
      left -= remaining;
      queue_.pop_front();
    }
  }
  return 0;
}

}  // namespace fdwire
