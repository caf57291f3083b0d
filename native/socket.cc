// Unix-domain socket syscalls for fdwire: creation, naming, peer credentials, fd hygiene.
// Every fd made here is close-on-exec from birth where the platform allows it (Linux: SOCK_CLOEXEC,
// accept4, pipe2), so a concurrent fork+exec in another thread never inherits it; on macOS it is
// marked right after creation (native/platform/socket.h says how, docs/security.md what it costs).
// Man pages: unix(7), socket(2), bind(2), listen(2), connect(2), flock(2), fcntl(2).
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
#include "platform/activation.h"
#include "platform/fd.h"
#include "platform/socket.h"

namespace fdwire {
namespace {

// Builds a sockaddr_un. Abstract names (Linux) start with a NUL byte and are not NUL-terminated;
// their length is carried by the address length alone (unix(7)).
int make_address(const char* name, size_t name_len, bool abstract, sockaddr_un* addr, socklen_t* addr_len) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (abstract) {
    if (!FDWIRE_ABSTRACT_NAMESPACE) return -EAFNOSUPPORT;
    if (name_len + 1 > sizeof(addr->sun_path)) return -ENAMETOOLONG;
    addr->sun_path[0] = '\0';
    memcpy(addr->sun_path + 1, name, name_len);
    *addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_len);
    return 0;
  }
  if (name_len == 0) return -EINVAL;
  if (memchr(name, '\0', name_len) != nullptr) return -EINVAL;
  if (name_len > max_socket_path()) return -ENAMETOOLONG;
  memcpy(addr->sun_path, name, name_len);
  *addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_len + 1);
  return 0;
}

}  // namespace

size_t max_socket_path() { return sizeof(reinterpret_cast<sockaddr_un*>(0)->sun_path) - 1; }

int listen_unix(const char* name, size_t name_len, bool abstract, int backlog, unsigned mode) {
  sockaddr_un addr;
  socklen_t addr_len = 0;
  int err = make_address(name, name_len, abstract, &addr, &addr_len);
  if (err < 0) return err;
  int fd = fdwire_stream_socket(1);
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
    int fd = fdwire_accept(listen_fd);
    if (fd >= 0) return fd;
    if (fd == -EINTR) continue;
    // Linux reports a pending network error on the new socket through accept; for AF_UNIX the
    // connection is simply gone, so treat it like "nothing to accept right now".
    if (fd == -ECONNABORTED || fd == -EPROTO) continue;
    if (fd == -EWOULDBLOCK) return -EAGAIN;
    return fd;
  }
}

int connect_unix(const char* name, size_t name_len, bool abstract) {
  sockaddr_un addr;
  socklen_t addr_len = 0;
  int err = make_address(name, name_len, abstract, &addr, &addr_len);
  if (err < 0) return err;
  int fd = fdwire_stream_socket(1);
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

int socket_pair(int fds[2]) { return fdwire_stream_socket_pair(fds); }

int make_pipe(int fds[2]) { return fdwire_pipe(fds, 0); }

int peer_credentials(int fd, PeerCredentials* out) {
  return fdwire_peer_credentials(fd, &out->pid, &out->uid, &out->gid);
}

int inspect_socket(int fd, SocketInfo* out) {
  memset(out, 0, sizeof(*out));
  int value = 0;
  socklen_t len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) < 0) return -errno;
  out->type = value;
  // SO_ACCEPTCONN: whether listen(2) was called (socket(7) on Linux, getsockopt(2) on macOS).
  value = 0;
  len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) < 0) return -errno;
  out->listening = value != 0;
  sockaddr_storage storage;
  memset(&storage, 0, sizeof storage);
  socklen_t addr_len = sizeof storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &addr_len) < 0) return -errno;
  out->family = storage.ss_family;
  if (storage.ss_family != AF_UNIX) return 0;
  const sockaddr_un* addr = reinterpret_cast<const sockaddr_un*>(&storage);
  size_t offset = offsetof(sockaddr_un, sun_path);
  size_t path_len = addr_len > offset ? addr_len - offset : 0;
  if (path_len > sizeof(addr->sun_path)) path_len = sizeof(addr->sun_path);
  const char* path = addr->sun_path;
  // unix(7): an abstract name starts with a NUL and its length is the address length's; a path
  // ends at its first NUL (macOS and some Linux paths report the whole sun_path).
  if (FDWIRE_ABSTRACT_NAMESPACE && path_len > 0 && path[0] == '\0') {
    out->abstract = true;
    path++;
    path_len--;
  } else {
    const void* nul = memchr(path, '\0', path_len);
    if (nul != nullptr) path_len = static_cast<size_t>(static_cast<const char*>(nul) - path);
  }
  memcpy(out->name, path, path_len);
  out->name_len = path_len;
  return 0;
}

int adopt_listener(int fd) {
  int err = fdwire_set_cloexec(fd);
  if (err < 0) return err;
  return fdwire_set_nonblock(fd);
}

int launchd_sockets(const char* name, int* out, size_t cap) { return fdwire_launchd_sockets(name, out, cap); }

int prepare_socket(int fd) {
  int err = fdwire_set_nonblock(fd);
  if (err < 0) return err;
  return fdwire_set_nosigpipe(fd);
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

int set_cloexec(int fd) { return fdwire_set_cloexec(fd); }

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
