/*
 * signals.h — catching the signals the client forwards to rushd (self-pipe), and Ctrl-Z.
 */
#ifndef RUSH_SIGNALS_H
#define RUSH_SIGNALS_H

/* Ignores SIGPIPE (a dead daemon must be EPIPE, not death), remembering what it was. */
void signals_ignore_pipe(void);

/* Installs handlers for SIGINT, SIGHUP, SIGTERM, SIGQUIT and SIGTSTP that write the signal number
 * into a self-pipe; a signal ignored at start stays ignored. Returns the pipe's read end
 * (non-blocking, close-on-exec), or -1. */
int signals_install(void);

/* Before exec'ing a command in our place: puts back the dispositions we started with (SIGPIPE
 * and the caught ones), then takes any signal caught meanwhile with them. */
void signals_restore(void);

/* Reads the signals caught since the last call into signos[max]; returns how many. */
int signals_take(int *signos, int max);

/* Stops the process as the default SIGTSTP action would, and returns once continued (fg),
 * with the handler back in place. */
void signals_stop_self(void);

#endif
