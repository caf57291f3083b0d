/*
 * signals.h — the client's signal dispositions. `rush -c` only ignores SIGPIPE, and gives the
 * program or /bin/sh it execs back what it was given. An interactive session catches SIGINT,
 * SIGHUP, SIGTERM, SIGQUIT and SIGTSTP into a self-pipe it polls at its prompt and while a line
 * waits for rushd's answer, and stops itself when a line it runs stops (Ctrl-Z).
 */
#ifndef RUSH_SIGNALS_H
#define RUSH_SIGNALS_H

/* Ignores SIGPIPE (a dead daemon must be EPIPE, not death), remembering what it was. */
void signals_ignore_pipe(void);

/* Interactive session: installs handlers for SIGINT, SIGHUP, SIGTERM, SIGQUIT and SIGTSTP that
 * write the signal number into a self-pipe; a signal ignored at start stays ignored. Returns the
 * pipe's read end (non-blocking, close-on-exec), or -1. */
int signals_install(void);

/* Before exec'ing a program or /bin/sh in our place (`rush -c`, or an interactive session's child
 * for a line): puts back the dispositions we started with (SIGPIPE, and the caught ones if
 * signals_install ran), then takes any signal caught and not yet handled with them. */
void signals_restore(void);

/* Reads the signals caught since the last call into signos[max]; returns how many. */
int signals_take(int *signos, int max);

/* Interactive session, when the line it runs stopped: stops the process as the default SIGTSTP
 * action would, and returns once continued (fg), with the handler back in place. */
void signals_stop_self(void);

#endif
