/*
 * An fd the event loop can poll that becomes readable when a child exits.
 *
 * Linux: a pidfd (pidfd_open(2), 5.3+; close-on-exec from birth). It turns readable in exit_notify()
 * after exit_state is set and under the tasklist lock waitpid needs, so a woken waitpid(WNOHANG)
 * always finds the zombie: nothing to consume, nothing to re-arm. Without pidfd_open (ENOSYS; or
 * EPERM from a seccomp filter that predates it) src/process.ts watches SIGCHLD instead.
 * macOS: a kqueue with EVFILT_PROC NOTE_EXIT for the pid. A kqueue stays readable while it holds
 * events, so the owner consumes them on each wake-up (fdwire_exit_fd_consume). XNU posts NOTE_EXIT
 * in proc_exit() a moment before the process becomes a zombie (p_stat = SZOMB), so waitpid can
 * still find nothing: then fdwire_exit_fd_rearm adds a one-shot 1 ms EVFILT_TIMER and the fd turns
 * readable again then. If the pid is already past the point where kevent can attach to it (ESRCH:
 * proc_find fails from proc_prepareexit on, before NOTE_EXIT), an EVFILT_USER event is triggered so
 * the fd is readable at once. A kqueue is not inherited by fork; it is marked close-on-exec too.
 * libuv polls a kqueue fd like any other (uv_poll_init sets O_NONBLOCK by fcntl where the ioctl
 * fails on it).
 * Man pages: pidfd_open(2), poll(2), kqueue(2), kevent(2).
 */
#ifndef FDWIRE_PLATFORM_EXIT_FD_H
#define FDWIRE_PLATFORM_EXIT_FD_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "../platform.h"
#include "fd.h"

#if FDWIRE_LINUX

#include <sys/syscall.h>

/* An fd readable once `pid` (our child) has exited, or -errno: -ENOSYS when the kernel (or the
 * headers this was built with) has no pidfd_open. */
static inline int fdwire_exit_fd_open(pid_t pid) {
#if defined(SYS_pidfd_open)
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return -errno;
  return (int)fd;
#else
  (void)pid;
  return -ENOSYS;
#endif
}

/* After a wake-up: takes what made the fd readable. A pidfd holds nothing to take. */
static inline void fdwire_exit_fd_consume(int fd) { (void)fd; }

/* The fd woke us but the child could not be reaped yet: have it turn readable again soon. Returns
 * 0 or -errno. A pidfd is readable only once waitpid can reap (see above), so this never happens. */
static inline int fdwire_exit_fd_rearm(int fd) {
  (void)fd;
  return 0;
}

#else /* macOS */

#include <sys/event.h>
#include <time.h>

enum { FDWIRE_EXIT_USER_IDENT = 1, FDWIRE_EXIT_TIMER_IDENT = 2 };

static inline int fdwire_exit_fd_open(pid_t pid) {
  int kq = kqueue();
  if (kq < 0) return -errno;
  int err = fdwire_set_cloexec(kq);
  if (err < 0) {
    close(kq);
    return err;
  }
  struct kevent change;
  EV_SET(&change, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
  if (kevent(kq, &change, 1, NULL, 0, NULL) < 0) {
    if (errno != ESRCH) {
      err = -errno;
      close(kq);
      return err;
    }
    struct kevent user[2];
    EV_SET(&user[0], FDWIRE_EXIT_USER_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    EV_SET(&user[1], FDWIRE_EXIT_USER_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    if (kevent(kq, user, 2, NULL, 0, NULL) < 0) {
      err = -errno;
      close(kq);
      return err;
    }
  }
  return kq;
}

static inline void fdwire_exit_fd_consume(int fd) {
  struct kevent events[4];
  struct timespec now = {0, 0};
  int n;
  do {
    n = kevent(fd, NULL, 0, events, 4, &now);
  } while (n == 4 || (n < 0 && errno == EINTR));
}

static inline int fdwire_exit_fd_rearm(int fd) {
  struct kevent timer;
  /* data is in milliseconds by default (kevent(2), EVFILT_TIMER). */
  EV_SET(&timer, FDWIRE_EXIT_TIMER_IDENT, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 1, NULL);
  if (kevent(fd, &timer, 1, NULL, 0, NULL) < 0) return -errno;
  return 0;
}

#endif

#endif
