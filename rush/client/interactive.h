/*
 * interactive.h — `rush` with no arguments on a terminal.
 */
#ifndef RUSH_INTERACTIVE_H
#define RUSH_INTERACTIVE_H

/* Runs the interactive session on rushd (or execs /bin/sh -i when none answers); never returns. */
_Noreturn void interactive(char **argv);

#endif
