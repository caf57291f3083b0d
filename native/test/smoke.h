// The harness shared by the files of the core smoke program (native/test/core-smoke.cc and the
// smoke-*.cc it runs): TAP output, the TODO marking of known qemu-user divergences, and the fd
// bookkeeping the checks rest on. Header-only (C++17 inline variables), so the program is its .cc
// files plus the core's, nothing else.
// Man pages: proc(5) (/proc/self/fd), fstat(2), fcntl(2).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "../socket.h"

namespace smoke {

inline int checks = 0;
inline int failures = 0;
inline bool under_qemu = false;
// While set, checks are TODO: reported, not counted as failures (a known divergence, with why).
inline const char* todo = nullptr;

__attribute__((format(printf, 2, 3))) inline bool check(bool ok, const char* format, ...) {
  va_list args;
  va_start(args, format);
  printf("%s %d - ", ok ? "ok" : "not ok", ++checks);
  vprintf(format, args);
  va_end(args);
  if (todo != nullptr) printf(" # TODO %s", todo);
  printf("\n");
  fflush(stdout);  // the commands the checks start must not inherit unwritten output
  if (!ok && todo == nullptr) failures++;
  return ok;
}

inline void skip(const char* what, const char* reason) {
  printf("ok %d - %s # SKIP %s\n", ++checks, what, reason);
  fflush(stdout);
}

// Open fds of this process, not counting the one that reads the listing.
inline std::vector<int> open_fds() {
  std::vector<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  while (dirent* entry = readdir(dir)) {
    int fd = atoi(entry->d_name);
    if (entry->d_name[0] != '.' && fd != dirfd(dir)) fds.push_back(fd);
  }
  closedir(dir);
  return fds;
}

inline int count_fds() { return static_cast<int>(open_fds().size()); }

inline bool same_file(int a, int b) {
  struct stat sa, sb;
  if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

inline bool nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

inline void close_if_open(int fd) {
  if (fd >= 0) fdwire::close_fd(fd);
}

// `text` on one TAP line: newlines shown as \n.
inline std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

// The groups of checks, in the order core-smoke.cc runs them. `dir`: a fresh 0700 directory.
void test_sockets(const std::string& dir);  // smoke-socket.cc
void test_frames(const std::string& dir);   // smoke-frames.cc
void test_spawn();                          // smoke-spawn.cc
void test_spawn_without_new_syscalls();     // smoke-spawn.cc; installs a seccomp filter: run last

}  // namespace smoke
