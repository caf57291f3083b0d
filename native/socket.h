// Unix-domain stream sockets shaped like syscalls: every function returns a result >= 0 or -errno.
// Man pages: unix(7), socket(2), bind(2), listen(2), accept(2), connect(2), socketpair(2), pipe(2).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace fdwire {

struct PeerCredentials {
  int32_t pid;  // -1 where the platform does not report it
  uint32_t uid;
  uint32_t gid;
};

// Longest path (bytes, without the terminating NUL) a filesystem socket name can have here.
size_t max_socket_path();

// Creates a listening socket bound to `name` (a filesystem path, or a Linux abstract name when
// `abstract`). The socket file is created under umask(~mode & 0777) so it never exists with a wider
// mode than `mode`. Never unlinks anything. Returns the fd (close-on-exec, non-blocking) or -errno.
int listen_unix(const char* name, size_t name_len, bool abstract, int backlog, unsigned mode);

// Accepts one connection: fd (close-on-exec, non-blocking) or -errno (-EAGAIN when none is waiting).
int accept_unix(int listen_fd);

// Connects without blocking. Returns the fd (close-on-exec, non-blocking) once connected, or -errno:
// -ECONNREFUSED/-ENOENT when nobody listens, -EAGAIN when the listener's backlog is full (Linux).
int connect_unix(const char* name, size_t name_len, bool abstract);

// A connected pair, both ends close-on-exec and non-blocking. Returns 0 or -errno.
int socket_pair(int fds[2]);

// A pipe, both ends close-on-exec (blocking, like pipe(2)). Returns 0 or -errno.
int make_pipe(int fds[2]);

// Credentials of the process that connected (or created) the peer socket. Returns 0 or -errno.
int peer_credentials(int fd, PeerCredentials* out);

// What an fd we did not create is: a socket's address family, type (SOCK_STREAM...), whether it
// listens (SO_ACCEPTCONN), and for AF_UNIX its name as getsockname(2) reports it.
struct SocketInfo {
  int family;
  int type;
  bool listening;
  bool abstract;    // a Linux abstract name (name holds it without the leading NUL)
  size_t name_len;  // 0: unnamed, or not AF_UNIX
  char name[128];   // not NUL-terminated; sun_path is at most 108 bytes
};

// Fills `out` for `fd`. Returns 0 or -errno (-ENOTSOCK: not a socket, -EBADF: not open).
int inspect_socket(int fd, SocketInfo* out);

// Takes over a listening socket we inherited (from a service manager, or a parent): close-on-exec
// and non-blocking. Returns 0 or -errno.
int adopt_listener(int fd);

// The fds launchd made for the Sockets entry `name` of this job (launch_activate_socket(3)): up to
// `cap` in out[]. Returns how many or -errno (-ENOTSUP where there is no launchd).
int launchd_sockets(const char* name, int* out, size_t cap);

// Per-socket setup for sockets we did not create: non-blocking, and SO_NOSIGPIPE where that exists.
int prepare_socket(int fd);

// shutdown(fd, SHUT_WR). Returns 0 or -errno.
int shutdown_write(int fd);

// Takes the socket's pending error (SO_ERROR, which clears it). Returns that errno (> 0), 0 when
// there is none, or -errno when it cannot be read.
int take_socket_error(int fd);

// close(2) that treats EINTR as done (Linux and macOS release the fd even then). Returns 0 or -errno.
int close_fd(int fd);

// Marks an fd close-on-exec. Returns 0 or -errno.
int set_cloexec(int fd);

// dup with close-on-exec: the new fd or -errno.
int dup_cloexec(int fd);

// flock(2): `exclusive` LOCK_EX else LOCK_SH, never blocking (-EWOULDBLOCK -> -EAGAIN when held
// elsewhere); `unlock` releases. Returns 0 or -errno.
int lock_file(int fd, bool exclusive, bool unlock);

// Whether fd is close-on-exec: 1 or 0, or -errno (-EBADF when not open).
int is_cloexec(int fd);

}  // namespace fdwire
