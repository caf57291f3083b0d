/*
 * runtime.h — where rushd listens, running a command locally with /bin/sh, and starting rushd in
 * the background when none answered.
 */
#ifndef RUSH_RUNTIME_H
#define RUSH_RUNTIME_H

#include <stddef.h>

/* Writes rushd's socket path into out[cap]. Returns 0, or -1 after printing why (path too long
 * for sun_path). */
int runtime_socket_path(char *out, size_t cap);

/* Starts `rushd start` detached (double fork, setsid, stdio on /dev/null) unless
 * RUSH_NO_AUTOSTART=1. Returns at once; never changes the caller's state. */
void runtime_autostart(void);

/* Replaces the process with /bin/sh: argv is passed as is, with argv[0] set to "sh". Restores what
 * the client changed (SIGPIPE disposition). Exits 127 if exec fails, like sh. */
_Noreturn void runtime_exec_sh(char **argv);

#endif
