/*
 * signals.h — catching the signals the client forwards to rushd (self-pipe), and Ctrl-Z.
 */
#ifndef RUSH_SIGNALS_H
#define RUSH_SIGNALS_H

/* Installs handlers for SIGINT, SIGHUP, SIGTERM, SIGQUIT and SIGTSTP that write the signal number
 * into a self-pipe. Returns the pipe's read end (non-blocking, close-on-exec), or -1. */
int signals_install(void);

/* Reads the signals caught since the last call into signos[max]; returns how many. */
int signals_take(int *signos, int max);

/* Stops the process as the default SIGTSTP action would, and returns once continued (fg),
 * with the handler back in place. */
void signals_stop_self(void);

#endif
