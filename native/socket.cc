// Unix-domain socket syscalls for fdwire: creation, naming, peer credentials, fd hygiene.
// Every fd made here is close-on-exec from birth where the platform allows it (SOCK_CLOEXEC,
// accept4, pipe2), so a concurrent fork+exec in another thread never inherits it.
// Man pages: unix(7), socket(2), accept4(2), pipe2(2), getsockopt(2) SO_PEERCRED, getpeereid(3).
#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform.h"

#if FDWIRE_BSD
#include <sys/ucred.h>
#endif

namespace fdwire {
namespace {

// Builds a sockaddr_un. Abstract names (Linux) start with a NUL byte and are not NUL-terminated;
// their length is carried by the address length alone (unix(7)).
int make_address(const char* name, size_t name_len, bool abstract, sockaddr_un* addr,
                 socklen_t* addr_len) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (abstract) {
#if FDWIRE_LINUX
    if (name_len + 1 > sizeof(addr->sun_path)) return -ENAMETOOLONG;
    addr->sun_path[0] = '\0';
    memcpy(addr->sun_path + 1, name, name_len);
    *addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_len);
    return 0;
#else
    return -EAFNOSUPPORT;
#endif
  }
  if (name_len == 0) return -EINVAL;
  if (memchr(name, '\0', name_len) != nullptr) return -EINVAL;
  if (name_len > max_socket_path()) return -ENAMETOOLONG;
  memcpy(addr->sun_path, name, name_len);
  *addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_len + 1);
  return 0;
}

int set_nonblock(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  if (flags & O_NONBLOCK) return 0;
  if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  return 0;
}

int set_nosigpipe(int fd) {
#ifdef SO_NOSIGPIPE
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one)) < 0) return -errno;
#else
  (void)fd;
#endif
  return 0;
}

// A new stream socket, close-on-exec and non-blocking.
int new_stream_socket() {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
#else
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -errno;
  int err = set_cloexec(fd);
  if (err == 0) err = set_nonblock(fd);
  if (err < 0) {
    close_fd(fd);
    return err;
  }
#endif
  int err = set_nosigpipe(fd);
  if (err < 0) {
    close_fd(fd);
    return err;
  }
  return fd;
}

}  // namespace

size_t max_socket_path() { return sizeof(reinterpret_cast<sockaddr_un*>(0)->sun_path) - 1; }

int listen_unix(const char* name, size_t name_len, bool abstract, int backlog, unsigned mode) {
  sockaddr_un addr;
  socklen_t addr_len = 0;
  int err = make_address(name, name_len, abstract, &addr, &addr_len);
  if (err < 0) return err;
  int fd = new_stream_socket();
  if (fd < 0) return fd;
  // bind(2) creates the socket inode with mode 0777 & ~umask. Narrowing the umask for the call is the
  // only way to have it never exist with a wider mode (fchmod on a socket fd does not reach the
  // inode on Linux). umask is process-wide; the window is this one syscall.
  mode_t previous = umask(static_cast<mode_t>(~mode & 0777));
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len);
  int bind_errno = errno;
  umask(previous);
  if (rc < 0) {
    close_fd(fd);
    return -bind_errno;
  }
  if (listen(fd, backlog) < 0) {
    err = -errno;
    close_fd(fd);
    return err;
  }
  return fd;
}

int accept_unix(int listen_fd) {
  for (;;) {
#if FDWIRE_LINUX
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) return fd;
#else
    int fd = accept(listen_fd, nullptr, nullptr);
    if (fd >= 0) {
      int err = set_cloexec(fd);
      if (err == 0) err = set_nonblock(fd);
      if (err == 0) err = set_nosigpipe(fd);
      if (err < 0) {
        close_fd(fd);
        return err;
      }
      return fd;
    }
#endif
    if (errno == EINTR) continue;
    // Linux reports a pending network error on the new socket through accept; for AF_UNIX the
    // connection is simply gone, so treat it like "nothing to accept right now".
    if (errno == ECONNABORTED || errno == EPROTO) continue;
    if (errno == EWOULDBLOCK) return -EAGAIN;
    return -errno;
  }
}

int connect_unix(const char* name, size_t name_len, bool abstract) {
  sockaddr_un addr;
  socklen_t addr_len = 0;
  int err = make_address(name, name_len, abstract, &addr, &addr_len);
  if (err < 0) return err;
  int fd = new_stream_socket();
  if (fd < 0) return fd;
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len);
  } while (rc < 0 && errno == EINTR);
  // AF_UNIX connect completes synchronously on Linux and the BSDs: it either succeeds, is refused,
  // or (Linux, backlog full, O_NONBLOCK) fails with EAGAIN. EINPROGRESS is not expected, but if a
  // platform reports it the socket is usable once writable, so hand it out as connected.
  if (rc < 0 && errno != EINPROGRESS) {
    err = (errno == EWOULDBLOCK) ? -EAGAIN : -errno;
    close_fd(fd);
    return err;
  }
  return fd;
}

int socket_pair(int fds[2]) {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0) return -errno;
#else
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) return -errno;
  for (int i = 0; i < 2; i++) {
    int err = set_cloexec(fds[i]);
    if (err == 0) err = set_nonblock(fds[i]);
    if (err < 0) {
      close_fd(fds[0]);
      close_fd(fds[1]);
      return err;
    }
  }
#endif
  for (int i = 0; i < 2; i++) {
    int err = set_nosigpipe(fds[i]);
    if (err < 0) {
      close_fd(fds[0]);
      close_fd(fds[1]);
      return err;
    }
  }
  return 0;
}

int make_pipe(int fds[2]) {
#if FDWIRE_LINUX
  if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
#else
  if (pipe(fds) < 0) return -errno;
  if (set_cloexec(fds[0]) < 0 || set_cloexec(fds[1]) < 0) {
    int err = -errno;
    close_fd(fds[0]);
    close_fd(fds[1]);
    return err;
  }
#endif
  return 0;
}

int peer_credentials(int fd, PeerCredentials* out) {
#if FDWIRE_LINUX
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
  out->pid = cred.pid;
  out->uid = cred.uid;
  out->gid = cred.gid;
  return 0;
#elif FDWIRE_BSD
  uid_t uid;
  gid_t gid;
  if (getpeereid(fd, &uid, &gid) < 0) return -errno;
  out->uid = uid;
  out->gid = gid;
  out->pid = -1;
#if defined(LOCAL_PEERPID)
  pid_t pid;
  socklen_t len = sizeof(pid);
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0) out->pid = pid;
#endif
  return 0;
#else
  (void)fd;
  (void)out;
  return -ENOSYS;
#endif
}

int prepare_socket(int fd) {
  int err = set_nonblock(fd);
  if (err < 0) return err;
  return set_nosigpipe(fd);
}

int shutdown_write(int fd) {
  if (shutdown(fd, SHUT_WR) < 0) return -errno;
  return 0;
}

int take_socket_error(int fd) {
  int error = 0;
  socklen_t len = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0) return -errno;
  return error;
}

int close_fd(int fd) {
  if (close(fd) < 0 && errno != EINTR) return -errno;
  return 0;
}

int set_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return -errno;
  if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return -errno;
  return 0;
}

int dup_cloexec(int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return -errno;
  return copy;
}

int lock_file(int fd, bool exclusive, bool unlock) {
  int op = unlock ? LOCK_UN : ((exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  int rc;
  do {
    rc = flock(fd, op);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return (errno == EWOULDBLOCK) ? -EAGAIN : -errno;
  return 0;
}

int is_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return -errno;
  return (flags & FD_CLOEXEC) ? 1 : 0;
}

}  // namespace fdwire
