// Platform switches for the native core. Linux is the primary target; macOS/BSD paths are
// compile-guarded and kept honest by building them, not by testing them here.
#pragma once

#if defined(__linux__)
#define FDWIRE_LINUX 1
#else
#define FDWIRE_LINUX 0
#endif

#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#define FDWIRE_BSD 1
#else
#define FDWIRE_BSD 0
#endif

#include <sys/socket.h>

// Linux: MSG_NOSIGNAL keeps a dead peer from raising SIGPIPE; BSDs use SO_NOSIGPIPE per socket instead.
#ifdef MSG_NOSIGNAL
#define FDWIRE_SEND_FLAGS MSG_NOSIGNAL
#else
#define FDWIRE_SEND_FLAGS 0
#endif

// Linux marks received fds close-on-exec atomically; elsewhere we fcntl() them right after recvmsg.
#ifdef MSG_CMSG_CLOEXEC
#define FDWIRE_RECV_FLAGS MSG_CMSG_CLOEXEC
#else
#define FDWIRE_RECV_FLAGS 0
#endif

namespace fdwire {

// Linux's SCM_MAX_FD: at most 253 fds in one SCM_RIGHTS message (include/net/scm.h).
constexpr int kMaxFdsPerSend = 253;

}  // namespace fdwire
