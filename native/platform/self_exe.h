/*
 * The path of the running executable: Linux reads the /proc/self/exe link (proc(5)), macOS asks
 * dyld (_NSGetExecutablePath(3)).
 */
#ifndef FDWIRE_PLATFORM_SELF_EXE_H
#define FDWIRE_PLATFORM_SELF_EXE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "../platform.h"

#if FDWIRE_MACOS
#include <mach-o/dyld.h>
#endif

/* Writes the executable's path, NUL-terminated, into out[cap]. Returns 0, or -1 when it is unknown
 * or longer than cap - 1. */
#if FDWIRE_LINUX

static inline int fdwire_self_exe(char* out, size_t cap) {
  if (cap < 2) return -1;
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0 || (size_t)n >= cap - 1) return -1; /* readlink truncates silently */
  out[n] = 0;
  return 0;
}

#else

static inline int fdwire_self_exe(char* out, size_t cap) {
  uint32_t size = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
  if (_NSGetExecutablePath(out, &size) != 0) return -1;
  return 0;
}

#endif

#endif
