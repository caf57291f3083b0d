/*
 * Close-on-exec fds. Linux creates them close-on-exec atomically (pipe2(2), O_CLOEXEC); macOS has no
 * pipe2, so there fcntl(2) marks them right after creation, and a fork+exec in another thread in
 * between inherits them (docs/security.md, "Platform differences").
 * Man pages: fcntl(2), pipe(2), pipe2(2).
 */
#ifndef FDWIRE_PLATFORM_FD_H
#define FDWIRE_PLATFORM_FD_H

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "../platform.h"

/* Marks fd close-on-exec. Returns 0 or -errno. */
static inline int fdwire_set_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return -errno;
  if ((flags & FD_CLOEXEC) == 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return -errno;
  return 0;
}

/* Sets O_NONBLOCK on fd's open file description. Returns 0 or -errno. */
static inline int fdwire_set_nonblock(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  if ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  return 0;
}

/* A pipe whose ends are both close-on-exec, and non-blocking when `nonblock`. Returns 0 or -errno
 * (nothing is left open then). */
#if FDWIRE_LINUX

static inline int fdwire_pipe(int fds[2], int nonblock) {
  if (pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)) < 0) return -errno;
  return 0;
}

#else

static inline int fdwire_pipe(int fds[2], int nonblock) {
  if (pipe(fds) < 0) return -errno;
  for (int i = 0; i < 2; i++) {
    int err = fdwire_set_cloexec(fds[i]);
    if (err == 0 && nonblock) err = fdwire_set_nonblock(fds[i]);
    if (err < 0) {
      close(fds[0]);
      close(fds[1]);
      return err;
    }
  }
  return 0;
}

#endif

#endif
