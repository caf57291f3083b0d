/*
 * fdwire_close_from(first): closes every fd >= first, in a child between fork/vfork and exec.
 * Async-signal-safe: only raw syscalls, no allocation, no locks, nothing but the stack.
 *
 * Linux: close_range(2) (5.9+). Without it (ENOSYS on older kernels, EPERM under a seccomp filter
 * older than the syscall) the fds listed in /proc/self/fd are closed, read with getdents64(2) into a
 * stack buffer; without /proc, every number below RLIMIT_NOFILE's soft limit, capped.
 * macOS: the fds the kernel lists for us (proc_pidinfo PROC_PIDLISTFDS, a thin wrapper over the
 * proc_info syscall), so the cost is the number of open fds, not the size of the table; if that
 * is refused (a sandbox), every number below the soft limit, capped.
 * Man pages: close_range(2), getdents64(2), proc(5), getrlimit(2), close(2).
 */
#ifndef FDWIRE_PLATFORM_CLOSE_FROM_H
#define FDWIRE_PLATFORM_CLOSE_FROM_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../platform.h"

#if FDWIRE_LINUX
#include <sys/syscall.h>
#else
#include <libproc.h>
#include <sys/proc_info.h>
#endif

/* The last resort closes fd numbers below this at most: 65536 close(2) calls take about 5 ms
 * (measured on Linux 6.1 x86_64). fds above it (possible only when the soft limit is higher and
 * neither close_range nor /proc is available) stay open in the child. */
#define FDWIRE_CLOSE_LOOP_CAP 65536

static inline void fdwire_close_below_limit(int first) {
  struct rlimit limit;
  rlim_t end = FDWIRE_CLOSE_LOOP_CAP;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < end) {
    end = limit.rlim_cur;
  }
  for (rlim_t fd = (rlim_t)first; fd < end; fd++) close((int)fd);
}

#if FDWIRE_LINUX

/* struct linux_dirent64 (getdents64(2)); glibc before 2.30 has no wrapper for the syscall. */
struct fdwire_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

/* Closes every fd >= first that /proc/self/fd lists. 0, or -1 when /proc cannot be read (some fds
 * may be closed already; the caller's fallback closes the rest). Closing while reading is safe:
 * proc_readfd_common resumes at the next fd number, whatever was closed below it. */
static inline int fdwire_close_listed(int first) {
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  union {
    struct fdwire_dirent64 align;
    char bytes[2048];
  } buffer;
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buffer.bytes, sizeof(buffer.bytes));
    if (n < 0) {
      close(dir);
      return -1;
    }
    if (n == 0) break;
    for (long offset = 0; offset < n;) {
      const struct fdwire_dirent64* entry = (const struct fdwire_dirent64*)(buffer.bytes + offset);
      offset += entry->d_reclen;
      int fd = 0;
      const char* digit = entry->d_name;
      if (*digit < '0' || *digit > '9') continue; /* "." and ".." */
      for (; *digit >= '0' && *digit <= '9'; digit++) fd = fd * 10 + (*digit - '0');
      if (fd >= first && fd != dir) close(fd);
    }
  }
  close(dir);
  return 0;
}

static inline void fdwire_close_from(int first) {
#if defined(SYS_close_range)
  if (syscall(SYS_close_range, (unsigned)first, ~0u, 0u) == 0) return;
#endif
  if (fdwire_close_listed(first) == 0) return;
  fdwire_close_below_limit(first);
}

#else /* macOS */

static inline void fdwire_close_from(int first) {
  enum { kBatch = 128 };
  struct proc_fdinfo listed[kBatch];
  pid_t self = getpid();
  for (;;) {
    /* Lists open fds in ascending order, as many as fit; closed ones drop out of the next call. */
    int bytes = proc_pidinfo(self, PROC_PIDLISTFDS, 0, listed, (int)sizeof(listed));
    if (bytes <= 0) break;
    int count = bytes / (int)PROC_PIDLISTFD_SIZE;
    int closed = 0;
    for (int i = 0; i < count; i++) {
      if (listed[i].proc_fd >= first) {
        close(listed[i].proc_fd);
        closed++;
      }
    }
    if (count < kBatch) return; /* that was all of them */
    if (closed == 0) break;     /* a full batch below `first`: list no further, loop instead */
  }
  fdwire_close_below_limit(first);
}

#endif

#endif
