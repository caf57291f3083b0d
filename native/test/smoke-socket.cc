// Checks of native/socket.cc: a listener on a path and on an abstract name, connect and accept,
// the socket file's mode, close-on-exec and non-blocking fds, peer credentials, and the errnos a
// caller branches on.
// Man pages: unix(7), socket(2), bind(2), accept4(2), connect(2), getsockname(2), umask(2),
// getsockopt(2) SO_PEERCRED.
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "../socket.h"
#include "smoke.h"

namespace smoke {

void test_sockets(const std::string& dir) {
  check(fdwire::max_socket_path() == 107, "max_socket_path() is 107 (sun_path less its NUL)");
  std::string path = dir + "/daemon.sock";
  mode_t previous = umask(0);  // a socket bound under this umask would be 0777
  int listener = fdwire::listen_unix(path.data(), path.size(), false, 8, 0600);
  mode_t restored = umask(previous);
  check(listener >= 0, "listen_unix on a path: fd %d", listener);
  check(restored == 0, "listen_unix put the process umask back");
  struct stat st;
  bool stated = stat(path.c_str(), &st) == 0;
  check(stated && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600,
        "the socket file has mode 0600 as asked, under process umask 0 (it is %o)", stated ? st.st_mode & 07777 : 0);
  int client = fdwire::connect_unix(path.data(), path.size(), false);
  check(client >= 0, "connect_unix: fd %d", client);
  int server = fdwire::accept_unix(listener);  // AF_UNIX connect completes at once: it is queued
  check(server >= 0, "accept_unix: fd %d", server);
  check(fdwire::accept_unix(listener) == -EAGAIN, "accept_unix with no connection waiting: -EAGAIN");
  for (int fd : {listener, client, server}) {
    check(fdwire::is_cloexec(fd) == 1 && nonblocking(fd), "fd %d is close-on-exec and non-blocking", fd);
  }
  for (int fd : {server, client}) {
    fdwire::PeerCredentials peer = {-2, 0, 0};
    int rc = fdwire::peer_credentials(fd, &peer);
    check(rc == 0 && peer.pid == getpid() && peer.uid == getuid() && peer.gid == getgid(),
          "peer_credentials on the %s end: pid %d uid %u gid %u", fd == server ? "accepted" : "connecting", peer.pid,
          peer.uid, peer.gid);
  }
  close_if_open(server);
  close_if_open(client);
  close_if_open(listener);
  int refused = fdwire::connect_unix(path.data(), path.size(), false);
  check(refused == -ECONNREFUSED, "connect_unix to a socket file nobody listens on: -ECONNREFUSED (%d)", refused);
  unlink(path.c_str());
  int missing = fdwire::connect_unix(path.data(), path.size(), false);
  check(missing == -ENOENT, "connect_unix to a path that does not exist: -ENOENT (%d)", missing);
  std::string long_path = dir + "/";
  long_path.resize(fdwire::max_socket_path() + 1, 'x');  // one byte too many
  int too_long = fdwire::listen_unix(long_path.data(), long_path.size(), false, 8, 0600);
  check(too_long == -ENAMETOOLONG, "listen_unix on a %zu-byte path: -ENAMETOOLONG (%d)", long_path.size(), too_long);

  char name[64];
  int name_len = snprintf(name, sizeof name, "fdwire-core-smoke-%d", static_cast<int>(getpid()));
  int abstract_listener = fdwire::listen_unix(name, static_cast<size_t>(name_len), true, 8, 0600);
  int abstract_client = fdwire::connect_unix(name, static_cast<size_t>(name_len), true);
  int abstract_server = abstract_listener >= 0 ? fdwire::accept_unix(abstract_listener) : -EBADF;
  check(abstract_listener >= 0 && abstract_client >= 0 && abstract_server >= 0,
        "an abstract name: listen %d, connect %d, accept %d", abstract_listener, abstract_client, abstract_server);
  sockaddr_un bound;
  socklen_t bound_len = sizeof bound;
  memset(&bound, 0xff, sizeof bound);
  bool named = getsockname(abstract_listener, reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0;
  check(named && bound_len == offsetof(sockaddr_un, sun_path) + 1 + static_cast<size_t>(name_len) &&
            bound.sun_path[0] == '\0' && memcmp(bound.sun_path + 1, name, static_cast<size_t>(name_len)) == 0,
        "the listener is bound to \"\\0%s\" in the abstract namespace, no NUL after it", name);
  close_if_open(abstract_server);
  close_if_open(abstract_client);
  close_if_open(abstract_listener);
}

}  // namespace smoke
