/*
 * Unix-domain socket details that differ between Linux and macOS: making sockets close-on-exec and
 * non-blocking, keeping a dead peer from raising SIGPIPE, taking the fds a recvmsg returned, and
 * reading the peer's credentials.
 *
 * Linux: SOCK_CLOEXEC | SOCK_NONBLOCK, accept4(2), MSG_NOSIGNAL, MSG_CMSG_CLOEXEC, SO_PEERCRED.
 * macOS: none of those; fcntl(2) right after socket/accept/recvmsg, SO_NOSIGPIPE per socket,
 * getpeereid(3) + LOCAL_PEERPID. The window between creation and fcntl is a real weakening there:
 * docs/security.md, "Platform differences".
 * Man pages: unix(7), socket(2), accept4(2), recvmsg(2), cmsg(3), getsockopt(2), getpeereid(3).
 */
#ifndef FDWIRE_PLATFORM_SOCKET_H
#define FDWIRE_PLATFORM_SOCKET_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "../platform.h"
#include "../wire.h"
#include "fd.h"

#if FDWIRE_LINUX

/* Linux names sockets in an abstract namespace too (unix(7)). */
#define FDWIRE_ABSTRACT_NAMESPACE 1
/* A dead peer makes send fail with EPIPE instead of raising SIGPIPE. */
#define FDWIRE_SEND_FLAGS MSG_NOSIGNAL
/* Received fds are close-on-exec from the moment they exist in this process. */
#define FDWIRE_RECV_FLAGS MSG_CMSG_CLOEXEC
/* Most fds one recvmsg can return: a stream recvmsg never joins the fds of two sendmsgs
 * (unix_stream_read_generic), and one sendmsg carries at most SCM_MAX_FD. */
#define FDWIRE_MAX_FDS_PER_RECVMSG 253

static inline int fdwire_set_nosigpipe(int fd) {
  (void)fd;
  return 0;
}

/* A new AF_UNIX stream socket: close-on-exec, non-blocking when `nonblock`. fd or -errno. */
static inline int fdwire_stream_socket(int nonblock) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  return fd < 0 ? -errno : fd;
}

/* A connected pair, both close-on-exec and non-blocking. 0 or -errno. */
static inline int fdwire_stream_socket_pair(int fds[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0) return -errno;
  return 0;
}

/* One accept: the new fd (close-on-exec, non-blocking, no SIGPIPE) or -errno, EINTR included. */
static inline int fdwire_accept(int listen_fd) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  return fd < 0 ? -errno : fd;
}

/* How many fds the recvmsg control buffer must hold to receive up to `wanted` per message. Linux
 * closes the fds that do not fit and sets MSG_CTRUNC (scm_detach_fds), so `wanted` is enough. */
static inline size_t fdwire_recv_fd_room(size_t wanted) { return wanted; }

/* Marks one fd that just arrived close-on-exec: MSG_CMSG_CLOEXEC already did. */
static inline void fdwire_mark_received_fd(int fd) { (void)fd; }

/* The peer's pid, uid and gid as they were when it connected (SO_PEERCRED). 0 or -errno. */
static inline int fdwire_peer_credentials(int fd, int32_t* pid, uint32_t* uid, uint32_t* gid) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
  *pid = cred.pid;
  *uid = cred.uid;
  *gid = cred.gid;
  return 0;
}

#else /* macOS */

#include <sys/ucred.h>

#define FDWIRE_ABSTRACT_NAMESPACE 0
/* No MSG_NOSIGNAL: every socket gets SO_NOSIGPIPE instead (fdwire_set_nosigpipe). */
#define FDWIRE_SEND_FLAGS 0
/* No MSG_CMSG_CLOEXEC: fdwire_mark_received_fd marks each fd right after recvmsg. */
#define FDWIRE_RECV_FLAGS 0
/* XNU's sockargs() takes a control buffer of at most MCLBYTES (2048) after widening each fd to a
 * pointer: (2048 - 12) / 8 = 254 fds in one sendmsg. */
#define FDWIRE_MAX_FDS_PER_RECVMSG 254

static inline int fdwire_set_nosigpipe(int fd) {
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one)) < 0) return -errno;
  return 0;
}

/* Marks a socket we just made close-on-exec (and non-blocking, and SIGPIPE-free); closes it and
 * returns -errno when that fails. */
static inline int fdwire_finish_socket(int fd, int nonblock) {
  int err = fdwire_set_cloexec(fd);
  if (err == 0 && nonblock) err = fdwire_set_nonblock(fd);
  if (err == 0) err = fdwire_set_nosigpipe(fd);
  if (err < 0) {
    close(fd);
    return err;
  }
  return fd;
}

static inline int fdwire_stream_socket(int nonblock) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -errno;
  return fdwire_finish_socket(fd, nonblock);
}

static inline int fdwire_stream_socket_pair(int fds[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) return -errno;
  int first = fdwire_finish_socket(fds[0], 1);
  if (first < 0) {
    close(fds[1]);
    return first;
  }
  int second = fdwire_finish_socket(fds[1], 1);
  if (second < 0) {
    close(fds[0]);
    return second;
  }
  return 0;
}

static inline int fdwire_accept(int listen_fd) {
  int fd = accept(listen_fd, NULL, NULL);
  if (fd < 0) return -errno;
  return fdwire_finish_socket(fd, 1);
}

/* XNU installs every fd of the message in our process before it copies the control data out, and
 * on MSG_CTRUNC it copies only what fits, without closing the rest (copyout_control): those fds
 * would be open here with numbers nobody learns. So the buffer always has room for the most one
 * message can carry, and fds beyond `wanted` are ours to see and close. */
static inline size_t fdwire_recv_fd_room(size_t wanted) {
  (void)wanted;
  return FDWIRE_MAX_FDS_PER_RECVMSG;
}

static inline void fdwire_mark_received_fd(int fd) {
  /* Only EBADF could fail here, and the fd was installed a moment ago. */
  (void)fdwire_set_cloexec(fd);
}

static inline int fdwire_peer_credentials(int fd, int32_t* pid, uint32_t* uid, uint32_t* gid) {
  uid_t peer_uid;
  gid_t peer_gid;
  if (getpeereid(fd, &peer_uid, &peer_gid) < 0) return -errno;
  *uid = peer_uid;
  *gid = peer_gid;
  /* LOCAL_PEERPID (macOS 10.8+): the pid that connected, recorded at connect time like Linux. */
  pid_t peer_pid = -1;
  socklen_t len = sizeof(peer_pid);
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &peer_pid, &len) < 0) peer_pid = -1;
  *pid = peer_pid;
  return 0;
}

#endif

/* A receive buffer sized for one recvmsg's fds holds those of any frame. */
FDWIRE_STATIC_ASSERT(FDWIRE_MAX_FDS_PER_RECVMSG >= FDWIRE_MAX_FDS_PER_FRAME, "room for a frame's fds");

/*
 * Takes the fds of every SCM_RIGHTS message in `msg` (just filled by recvmsg): marks each
 * close-on-exec before anything else happens, stores up to `cap` of them in out[] and closes the
 * rest. Returns how many are in out[]. A control message whose cmsg_len claims more than the buffer
 * holds (XNU after MSG_CTRUNC) is read only as far as the buffer goes.
 */
static inline size_t fdwire_take_received_fds(struct msghdr* msg, int* out, size_t cap) {
  size_t taken = 0;
  if (msg->msg_control == NULL || msg->msg_controllen == 0) return 0;
  const unsigned char* end = (const unsigned char*)msg->msg_control + msg->msg_controllen;
  struct cmsghdr* c;
  /* musl's CMSG_NXTHDR compares a size_t with a pointer difference (-Wsign-compare). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
  for (c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
#pragma GCC diagnostic pop
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const unsigned char* data = CMSG_DATA(c);
    size_t claimed = c->cmsg_len > CMSG_LEN(0) ? (size_t)(c->cmsg_len - CMSG_LEN(0)) : 0;
    size_t present = data < end ? (size_t)(end - data) : 0;
    size_t count = (claimed < present ? claimed : present) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, data + i * sizeof(int), sizeof(int));
      fdwire_mark_received_fd(fd);
      if (taken < cap) {
        out[taken++] = fd;
      } else {
        close(fd);
      }
    }
  }
  return taken;
}

#endif
