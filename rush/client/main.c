/*
 * main.c — `rush`, the thin client of the rush shell daemon: parses the command line, sends
 * `rush -c SCRIPT [NAME [ARG...]]` with its stdio fds to rushd in one message, and then either
 * exits with the status of what rushd ran in-process, or execs in its own place what rushd names
 * (a program, or /bin/sh for a script that needs a shell). Falls back to /bin/sh when no daemon
 * answers. `rush` alone is an interactive session on rushd
 * (interactive.c); the conversation with rushd itself is session.c.
 *
 * The exact contract with rushd is rush/docs/rush-client.md. Man pages: sh(1p) (-c, $0, usage errors
 * exit 2), isatty(3).
 */
#include "interactive.h"
#include "runtime.h"
#include "session.h"
#include "signals.h"
#include "util.h"

#include <signal.h>
#include <sys/resource.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef RUSH_VERSION
#define RUSH_VERSION "0.1.0"
#endif

static const char usage_text[] =
    "usage: rush -c SCRIPT [NAME [ARG...]]   run SCRIPT like `sh -c`, answered by the rush daemon\n"
    "       rush                            interactive session (when stdin is a terminal)\n"
    "       rush [-aCefnuvx] [-o OPTION] [+o OPTION] [-c SCRIPT [NAME [ARG...]] | -s [ARG...] | FILE [ARG...]]\n"
    "                                       anything else: exactly what /bin/sh does with it\n"
    "       rush --version | --help\n"
    "\n"
    "The command writes straight to your terminal and rush exits with its status. When no\n"
    "daemon answers, rush runs the command with /bin/sh and starts rushd for next time.\n"
    "\n"
    "environment:\n"
    "  RUSH_RUNTIME_DIR   directory of rushd's socket (default $XDG_RUNTIME_DIR/rush, else /tmp/rush-UID)\n"
    "  RUSH_NO_AUTOSTART  1: never start rushd\n"
    "  RUSHD              path of the rushd executable to start\n";

/* ---------- rush -c ---------- */

/*
 * Exits the way the command ended. A command killed by signal N makes us die of N too (not merely
 * exit 128+N): the shell that ran us sees the same $?, and also knows the user interrupted it, so
 * `for f in *; do rush -c ...; done` stops on Ctrl-C as it does with `sh -c`. No core dump for
 * SIGQUIT and friends: the command's crash is not ours.
 */
static _Noreturn void exit_like_command(int status) {
    int sig = session_command_signal();
    if (sig > 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(sig, SIG_DFL);
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, sig);
        sigprocmask(SIG_UNBLOCK, &only, NULL);
        raise(sig);
    }
    _exit(status); /* a signal whose default is not to terminate, or raising it failed */
}

static _Noreturn void run_command(int argc, char **argv) {
    /* argv: rush -c SCRIPT [NAME [ARG...]]; exactly what `sh -c` takes after argv[0]. */
    struct session s = {.sock = -1, .sigfd = -1, .next_id = EXEC_ID + 1};
    /* A file size limit binds only the process that writes (setrlimit(2), RLIMIT_FSIZE: SIGXFSZ
     * past it). rushd's in-process builtins write from the daemon, which does not have ours: with
     * a limit set, the script is sh's, here. */
    struct rlimit fsize;
    if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY) runtime_exec_sh(argv);
    signals_ignore_pipe(); /* a dead daemon must be EPIPE, not death */
    occupy_closed_stdio();
    s.sock = connect_daemon();
    if (s.sock < 0) runtime_exec_sh(argv);
    /* No signal handlers: during the round trip a Ctrl-C ends us as it would end `sh -c`, and
     * whatever runs afterwards runs in our own process (we exec it), with the dispositions we
     * were given. */
    rx_init(&s.rx);
    s.sent = send_exec(s.sock, EXEC_ID, argv + 2, (size_t)argc - 2, 0) == 0;
    /* When sending failed (EPIPE: the daemon already refused us), the refusal may still be there
     * to read; ending our side makes sure the daemon ends its side too, so the read cannot hang. */
    if (!s.sent) shutdown(s.sock, SHUT_WR);
    int status = await_exec(&s, EXEC_ID);
    if (status == EXEC_LOCALLY) session_exec_local(argv);
    if (status == RUN_LOCALLY) {
        rx_free(&s.rx);
        runtime_exec_sh(argv);
    }
    rx_free(&s.rx);
    exit_like_command(status);
}

/* ---------- command line ---------- */

int main(int argc, char **argv) {
    if (argc >= 2) {
        const char *a = argv[1];
        /* `rush -c SCRIPT [NAME [ARG...]]` goes to rushd. dash goes on reading options after -c
         * while a word starts with - or + (`sh -c -e SCRIPT`), so such a SCRIPT is not ours. */
        if (strcmp(a, "-c") == 0 && argc >= 3 && argv[2][0] != '-' && argv[2][0] != '+') run_command(argc, argv);
        if (strcmp(a, "--version") == 0) {
            static const char v[] = "rush " RUSH_VERSION "\n";
            write_all(1, v, sizeof v - 1);
            return 0;
        }
        if (strcmp(a, "--help") == 0) {
            write_all(1, usage_text, sizeof usage_text - 1);
            return 0;
        }
        /* Every other invocation — sh's own flags (-e, -x, -ec, -o errexit, +x, -s, -i), a script
         * FILE, and any bad option — is /bin/sh's to parse, run and report, exactly as it would. */
        runtime_exec_sh(argv);
    }
    if (isatty(0)) interactive(argv);
    /* No arguments, stdin not a terminal: sh reads the script from stdin. */
    char *args[] = {argv[0], NULL};
    runtime_exec_sh(args);
}
