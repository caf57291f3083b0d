/*
 * session.h — a conversation with rushd over one connection: send rush.exec, wait for its reply.
 */
#ifndef RUSH_SESSION_H
#define RUSH_SESSION_H

#include "conn.h"

#include <stddef.h>
#include <stdint.h>

/* Request id of `rush -c`'s exec. */
#define EXEC_ID 1
/* Not a valid status: "the daemon did not run the command; run it here" (`/bin/sh -c`). */
#define RUN_LOCALLY (-1)
/* Not a valid status: "exec this program in your place" (session_exec_local). */
#define EXEC_LOCALLY (-3)
/* Exit status when the connection is lost or the daemon's reply is unusable: the command's fate
 * is unknown. 1 is the generic failure; 126/127 (not executable / not found) and 128+N (killed by
 * a signal) would each claim something we do not know. */
#define LOST_STATUS 1

struct session {
    int sock;
    int sigfd;        /* self-pipe of signals.c (interactive sessions), or -1 */
    uint32_t next_id; /* next request id */
    int sent;         /* the exec request went out */
    int heard;        /* the daemon has sent us something on this connection */
    struct rx rx;
};

/* Which of 0, 1, 2 were closed at start (bit i); set by occupy_closed_stdio. */
extern unsigned closed_stdio;

/* Occupies each closed 0/1/2 with /dev/null opened close-on-exec (see session.c). */
void occupy_closed_stdio(void);

/* Connects to rushd; on failure starts it for next time (unless told not to) and returns -1. */
int connect_daemon(void);

/* Sends a rush.exec request for argv[0..argc) with our open stdio fds; `line` is the input line's
 * number in an interactive session, 0 for rush -c. Returns 0 or -errno. */
int send_exec(int sock, uint32_t id, char *const *argv, size_t argc, uint32_t line);

/* Waits for the daemon's Hello (used where latency does not matter: the interactive session, so
 * a refusal is known before the first prompt). Returns 0, or -1 after printing why (a refusal,
 * end of stream, garbage). */
int await_hello(struct session *s);

/* Reads frames until the Response to exec `exec_id`. Returns the exit status, RUN_LOCALLY or
 * EXEC_LOCALLY. */
int await_exec(struct session *s, uint32_t exec_id);

/* After EXEC_LOCALLY: restores the signal dispositions we started with and execs the program
 * rushd named, becoming the command (as `sh -c` execs a lone simple command). If that exec fails,
 * execs `/bin/sh` with `sh_argv` (`sh -c SCRIPT ...`) so that sh reports it. The strings live in
 * the session's receive buffer: call this before reading anything more. */
_Noreturn void session_exec_local(char **sh_argv);

/* The signal that ended the command whose status await_exec returned last, or 0. */
int session_command_signal(void);

/* Whether the last Result said the command ended the session (`exit` in an interactive one). */
int session_ended(void);

#endif
