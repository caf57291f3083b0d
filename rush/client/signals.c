/*
 * signals.c — the self-pipe trick, for the interactive session: a handler may only call
 * async-signal-safe functions, so it writes the signal number into a pipe that the session's loop
 * poll(2)s together with the terminal and the socket; the loop then acts on it with ordinary code
 * (at the prompt, as sh -i: SIGINT abandons the line, SIGHUP ends the session). `rush -c` installs
 * no handler: a signal during its round trip with rushd takes the action it was given, as under
 * `sh -c`. Both ignore SIGPIPE while talking to rushd.
 *
 * Man pages: sigaction(2), signal-safety(7), pipe2(2) (native/platform/fd.h), raise(3), signal(7)
 * (job control stops).
 */
#include "signals.h"

#include "../../native/platform/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int pipe_r = -1, pipe_w = -1;

static const int caught[] = {SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGTSTP};
#define NCAUGHT (sizeof caught / sizeof caught[0])

/* What each signal's disposition was when we started: a program or sh we exec must get it back,
 * as `sh -c` passes on what it inherited (an ignored SIGINT in a background job stays ignored). */
static struct sigaction original[NCAUGHT], original_pipe;
static int have_original, have_original_pipe;

static void on_signal(int signo) {
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    /* Non-blocking: if 64 KiB of unread signals piled up, dropping one is fine. */
    (void)!write(pipe_w, &b, 1);
    errno = saved;
}

static void handle(int signo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: our own syscalls need not see EINTR; poll(2) still wakes up on the pipe. */
    sa.sa_flags = SA_RESTART;
    sigaction(signo, &sa, NULL);
}

void signals_ignore_pipe(void) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    have_original_pipe = sigaction(SIGPIPE, &ign, &original_pipe) == 0;
}

int signals_install(void) {
    int fds[2];
    if (fdwire_pipe(fds, 1) < 0) return -1;
    pipe_r = fds[0];
    pipe_w = fds[1];
    for (size_t i = 0; i < NCAUGHT; i++) {
        sigaction(caught[i], NULL, &original[i]);
        /* Ignored when we started: it stays ignored, for us and for what we run (as under sh). */
        if (original[i].sa_handler != SIG_IGN) handle(caught[i]);
    }
    have_original = 1;
    return pipe_r;
}

void signals_restore(void) {
    if (have_original_pipe) sigaction(SIGPIPE, &original_pipe, NULL);
    if (!have_original) return;
    for (size_t i = 0; i < NCAUGHT; i++) sigaction(caught[i], &original[i], NULL);
    have_original = 0;
    /* Caught and not yet handled, before the exec: they were meant for the program we are about
     * to become; with the original dispositions back, take them now. */
    int signos[64];
    int n = signals_take(signos, 64);
    for (int i = 0; i < n; i++) raise(signos[i]);
}

int signals_take(int *signos, int max) {
    if (pipe_r < 0) return 0;
    unsigned char buf[64];
    if (max > (int)sizeof buf) max = (int)sizeof buf;
    ssize_t n = read(pipe_r, buf, (size_t)max);
    for (ssize_t i = 0; i < n; i++) signos[i] = buf[i];
    return n > 0 ? (int)n : 0;
}

void signals_stop_self(void) {
    /* SIGTSTP is not blocked here (its handler has returned), so raise() stops us right away;
     * it returns when SIGCONT continues us. */
    signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP);
    handle(SIGTSTP);
}
