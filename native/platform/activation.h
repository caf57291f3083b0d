/*
 * Sockets a service manager created and passed to us. systemd needs no platform code: it leaves
 * the fds open from SD_LISTEN_FDS_START (3) on and names them in the environment (sd_listen_fds(3)),
 * which the TypeScript side reads. launchd hands them out only through launch_activate_socket(3)
 * from <launch.h> (macOS 10.10+), by the key of the job's Sockets dictionary (launchd.plist(5));
 * Linux has no launchd, so there the call reports ENOTSUP.
 * Man pages: launch(3), launchd.plist(5), sd_listen_fds(3).
 */
#ifndef FDWIRE_PLATFORM_ACTIVATION_H
#define FDWIRE_PLATFORM_ACTIVATION_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "../platform.h"

#if FDWIRE_MACOS
#include <launch.h>
#endif

/* The fds of the socket named `name` in this job's launchd.plist Sockets dictionary: up to `cap` of
 * them in out[] (the rest are closed: for a SockPathName entry launchd makes one). Returns how many,
 * or -errno: -ESRCH when launchd did not start this process, -ENOENT when the job has no socket of
 * that name, -EALREADY when it was activated before (launchd gives each socket out once), -ENOTSUP
 * where there is no launchd. */
static inline int fdwire_launchd_sockets(const char* name, int* out, size_t cap) {
#if FDWIRE_MACOS
  int* fds = NULL;
  size_t count = 0;
  int err = launch_activate_socket(name, &fds, &count);
  if (err != 0) return -err;
  size_t kept = 0;
  for (size_t i = 0; i < count; i++) {
    if (kept < cap) {
      out[kept++] = fds[i];
    } else {
      close(fds[i]);
    }
  }
  free(fds); /* launch(3): the caller frees the array */
  return (int)kept;
#else
  (void)name;
  (void)out;
  (void)cap;
  return -ENOTSUP;
#endif
}

#endif
