/*
 * Starting a child that sets itself up and execs, and learning whether the exec happened.
 *
 * Linux: vfork(2). The child borrows the parent's memory until it execs or exits, so starting a
 * command costs the same however large the daemon is, and a failure before exec is reported by
 * writing its errno into the parent's stack frame.
 * macOS: fork(2). Since macOS 12 vfork "behaves identically to fork" and is deprecated ("may begin
 * to return errors", vfork(2)); the XNU code that lent the parent's memory is gone. A forked child
 * writes into its own copy, so it reports a failure through its exit status instead (errno values
 * stay below 256 there), and the parent learns "exec'd" or "exited" from a kqueue watching the child
 * for NOTE_EXEC | NOTE_EXIT. The child waits for one byte on a pipe before it does anything, so the
 * parent has registered that watch before any exec can happen (kevent only reports edges after
 * registration). fork copies the page tables, so starting a command costs more in a large daemon.
 *
 * Both: every signal is blocked around vfork/fork, so no handler of the parent runs in the child.
 * Man pages: vfork(2), fork(2), kqueue(2) EVFILT_PROC, prctl(2) PR_SET_PDEATHSIG, waitpid(2).
 */
#ifndef FDWIRE_PLATFORM_CHILD_H
#define FDWIRE_PLATFORM_CHILD_H

#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../platform.h"
#include "fd.h"

#if FDWIRE_LINUX
#include <sys/prctl.h>
#else
#include <sys/event.h>
#endif

/* Passed to the child's code; it uses it only through fdwire_child_fail. */
struct fdwire_child {
  volatile int error; /* Linux: set by the vfork child, read by the parent after it resumes */
};

/* The child's code: sets up and execs, or calls fdwire_child_fail. Must not return. Runs with every
 * signal blocked and may only make async-signal-safe calls. */
typedef void (*fdwire_child_main)(struct fdwire_child* child, void* arg);

/* Blocks every signal in this thread around the start of a child, so no handler of ours runs in
 * it; *previous gets the mask to put back. */
static inline void fdwire_block_all_signals(sigset_t* previous) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, previous);
}

static inline void fdwire_reap_blocking(pid_t pid, int* status) {
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

#if FDWIRE_LINUX

/* In the child: reports `error` (an errno) to fdwire_start_child and exits. */
__attribute__((noreturn)) static inline void fdwire_child_fail(struct fdwire_child* child, int error) {
  child->error = error;
  _exit(127);
}

/* In the child: asks the kernel to send `sig` when the thread that started it dies. 0 or -errno. */
static inline int fdwire_child_set_parent_death_signal(int sig) {
  if (prctl(PR_SET_PDEATHSIG, sig) < 0) return -errno;
  return 0;
}

/* Runs main(child, arg) in a new process. Returns its pid once it has exec'd, or -errno when it
 * could not be started or its code failed before exec (the child is reaped then). */
static inline int fdwire_start_child(fdwire_child_main main, void* arg) {
  struct fdwire_child child;
  child.error = 0;
  sigset_t previous;
  fdwire_block_all_signals(&previous);
  pid_t pid = vfork();
  if (pid == 0) {
    main(&child, arg);
    _exit(127);
  }
  int vfork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  if (pid < 0) return -vfork_errno;
  if (child.error != 0) {
    int status;
    fdwire_reap_blocking(pid, &status);
    return -child.error;
  }
  return pid;
}

#else /* macOS */

__attribute__((noreturn)) static inline void fdwire_child_fail(struct fdwire_child* child, int error) {
  (void)child;
  _exit(error > 0 && error < 256 ? error : 127);
}

/* No equivalent on macOS: a command outlives a worker killed with SIGKILL (docs/security.md). */
static inline int fdwire_child_set_parent_death_signal(int sig) {
  (void)sig;
  return -ENOSYS;
}

/* Waits for the forked child to exec or exit; returns pid or -errno. Closes kq. */
static inline int fdwire_await_exec(int kq, pid_t pid) {
  unsigned seen = 0;
  int result = 0;
  while (result == 0) {
    struct kevent event;
    int n = kevent(kq, NULL, 0, &event, 1, NULL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (event.flags & EV_ERROR) != 0) {
      result = n < 0 ? -errno : -(int)event.data;
      kill(pid, SIGKILL);
      break;
    }
    seen |= event.fflags;
    /* Both may arrive together when the command is quick: the exec is what counts. */
    if (seen & NOTE_EXEC)
      result = pid;
    else if (seen & NOTE_EXIT)
      break;
  }
  close(kq);
  if (result > 0) return result;
  int status = 0;
  fdwire_reap_blocking(pid, &status);
  if (result < 0) return result;
  /* Exited before exec: fdwire_child_fail's status is the errno; anything else (a signal, or
   * code that fell through) is reported as ECHILD. */
  if (WIFEXITED(status) && WEXITSTATUS(status) > 0 && WEXITSTATUS(status) != 127) return -WEXITSTATUS(status);
  return -ECHILD;
}

static inline int fdwire_start_child(fdwire_child_main main, void* arg) {
  /* A kqueue is never inherited by fork (kqueue(2)), so it needs no close-on-exec race. */
  int kq = kqueue();
  if (kq < 0) return -errno;
  int go[2];
  int err = fdwire_pipe(go, 0);
  if (err < 0) {
    close(kq);
    return err;
  }
  struct fdwire_child child;
  child.error = 0;
  sigset_t previous;
  fdwire_block_all_signals(&previous);
  pid_t pid = fork();
  if (pid == 0) {
    /* Our copy of the write end goes first, so a parent that dies now means EOF, not a hang. */
    close(go[1]);
    char byte;
    ssize_t got;
    do {
      got = read(go[0], &byte, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) _exit(127);
    close(go[0]);
    main(&child, arg);
    _exit(127);
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  close(go[0]);
  if (pid < 0) {
    close(go[1]);
    close(kq);
    return -fork_errno;
  }
  struct kevent watch;
  EV_SET(&watch, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXEC | NOTE_EXIT, 0, NULL);
  if (kevent(kq, &watch, 1, NULL, 0, NULL) < 0) {
    err = -errno;
    close(go[1]); /* the child reads EOF and exits */
    close(kq);
    int status;
    fdwire_reap_blocking(pid, &status);
    return err;
  }
  ssize_t sent;
  do {
    sent = write(go[1], "", 1);
  } while (sent < 0 && errno == EINTR);
  close(go[1]); /* if the byte did not go, the child reads EOF and exits: reported below */
  return fdwire_await_exec(kq, pid);
}

#endif

#endif
