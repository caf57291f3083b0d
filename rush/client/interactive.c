/*
 * interactive.c — `rush` on a terminal: a session on rushd over one connection. The terminal does
 * the line editing (canonical mode: read(2) returns a line); each line is one rush.exec request, and
 * the daemon keeps the session's state (cwd, variables) per connection.
 *
 * Man pages: termios(3) (canonical input, VINTR/VEOF), poll(2), fork(2), waitpid(2), sh(1p) (-i).
 */
#include "interactive.h"

#include "conn.h"
#include "runtime.h"
#include "session.h"
#include "signals.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Runs one line here, as rushd asked (`how` is RUN_LOCALLY for /bin/sh, EXEC_LOCALLY for the
 * program it named): fork, exec, wait, in our own process group, which is the terminal's
 * foreground job. A key like Ctrl-C reaches the line and us alike: the line gets the default
 * action, we note it and go on. Ctrl-Z stops the line; we then stop too, so the shell that ran
 * `rush` sees its job stopped, and its `fg` continues the whole group.
 */
static int run_line_locally(char *line, int how) {
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {"sh", "-c", line, NULL};
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        signal(SIGTSTP, SIG_DFL);
        if (how == EXEC_LOCALLY) session_exec_local(args);
        runtime_exec_sh(args);
    }
    if (pid < 0) return 127;
    for (;;) {
        int ws;
        if (waitpid(pid, &ws, WUNTRACED) < 0) {
            if (errno == EINTR) continue;
            return 127;
        }
        if (WIFSTOPPED(ws)) {
            signals_stop_self();
            continue;
        }
        return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
    }
}

static void prompt(void) {
    const char *ps1 = getenv("PS1");
    if (!ps1) ps1 = "rush$ ";
    write_all(2, ps1, strlen(ps1));
}

static char line_buf[65536];

_Noreturn void interactive(char **argv) {
    struct session s = {.sock = -1, .sigfd = -1, .next_id = 1};
    signals_ignore_pipe();
    occupy_closed_stdio();
    s.sock = connect_daemon();
    rx_init(&s.rx);
    if (s.sock < 0 || await_hello(&s) < 0) {
        char *args[] = {argv[0], "-i", NULL};
        runtime_exec_sh(args);
    }
    s.sigfd = signals_install();
    int status = 0;
    size_t have = 0;
    int need_prompt = 1;
    uint32_t lineno = 0;
    for (;;) {
        /* A complete line buffered (pasted input)? Run it before reading more. */
        char *nl = memchr(line_buf, '\n', have);
        if (!nl && have == sizeof line_buf - 1) nl = line_buf + have; /* overlong: take it as is */
        if (nl) {
            size_t used = (size_t)(nl - line_buf) + (nl < line_buf + have);
            *nl = 0;
            char line[sizeof line_buf];
            memcpy(line, line_buf, (size_t)(nl - line_buf) + 1);
            memmove(line_buf, line_buf + used, have - used);
            have -= used;
            lineno++; /* as sh -i counts its input: empty lines too */
            if (line[0] == 0) {
                need_prompt = 1;
                continue;
            }
            uint32_t id = s.next_id++;
            char *args[] = {line, NULL};
            s.sent = send_exec(s.sock, id, args, 1, lineno) == 0;
            if (!s.sent) shutdown(s.sock, SHUT_WR);
            int st = await_exec(&s, id);
            if (st == RUN_LOCALLY || st == EXEC_LOCALLY) {
                st = run_line_locally(line, st);
                /* Keys like Ctrl-C went to the local command too (same process group): forget our copy. */
                int drop[64];
                while (signals_take(drop, 64) > 0) {
                }
            }
            status = st;
            need_prompt = 1;
            /* `exit N`: the reply says the session ended (the daemon ends the connection too). */
            if (session_ended()) _exit(status);
            /* An older daemon does not say so: leave before showing a prompt if its end of stream
             * is already here. */
            struct pollfd p = {s.sock, POLLIN, 0};
            if (poll(&p, 1, 0) == 1 && rx_fill(s.sock, &s.rx) <= 0) _exit(status);
            continue;
        }
        if (need_prompt) {
            prompt();
            need_prompt = 0;
        }
        struct pollfd pfd[3] = {{0, POLLIN, 0}, {s.sigfd, POLLIN, 0}, {s.sock, POLLIN, 0}};
        if (poll(pfd, 3, -1) < 0) {
            if (errno == EINTR) continue;
            _exit(status);
        }
        if (pfd[1].revents & POLLIN) {
            int signos[64];
            int n = signals_take(signos, 64);
            for (int i = 0; i < n; i++) {
                /* At the prompt, as sh -i: Ctrl-C abandons the line, SIGHUP ends the session,
                 * SIGTERM, SIGQUIT and Ctrl-Z are ignored. */
                if (signos[i] == SIGINT) {
                    write_all(2, "\n", 1);
                    have = 0;
                    need_prompt = 1;
                } else if (signos[i] == SIGHUP) {
                    _exit(128 + SIGHUP);
                }
            }
        }
        if (pfd[2].revents) {
            /* The daemon ended the session (after `exit`, or it stopped). */
            int r = rx_fill(s.sock, &s.rx);
            if (r <= 0) {
                write_all(2, "\n", 1);
                _exit(status);
            }
        }
        if (pfd[0].revents) {
            ssize_t r = read(0, line_buf + have, sizeof line_buf - 1 - have);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                if (have == 0) {
                    write_all(2, "\n", 1);
                    _exit(status);
                }
                line_buf[have++] = '\n'; /* run the unterminated last line, then see EOF again */
                continue;
            }
            have += (size_t)r;
        }
    }
}
