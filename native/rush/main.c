/*
 * main.c — `rush`, the thin client of the rush shell daemon: parses the command line, sends
 * `rush -c SCRIPT [NAME [ARG...]]` with its stdio fds to rushd in one message, forwards signals
 * while the command runs, and exits with the command's status. Falls back to /bin/sh when no
 * daemon answers or the daemon asks for it. `rush` alone is an interactive session on rushd.
 *
 * The exact contract with rushd is docs/rush-client.md. Man pages: sh(1p) (-c, $0, exit
 * statuses), poll(2), umask(2), getcwd(3), fcntl(2) (F_GETFD), isatty(3), termios(3) (canonical
 * input: read(2) returns a line).
 */
#include "conn.h"
#include "runtime.h"
#include "signals.h"
#include "util.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RUSH_VERSION
#define RUSH_VERSION "0.1.0"
#endif

extern char **environ;

#define EXEC_ID 1
/* Not a valid status: "the daemon did not run the command; run it here". */
#define RUN_LOCALLY (-1)
/* Exit status when the connection is lost or the daemon's reply is unusable: the command's fate
 * is unknown. 1 is the generic failure; 126/127 (not executable / not found) and 128+N (killed by
 * a signal) would each claim something we do not know. */
#define LOST_STATUS 1

static const char usage_text[] =
    "usage: rush -c SCRIPT [NAME [ARG...]]   run SCRIPT like `sh -c`, in the rush daemon\n"
    "       rush                            interactive session (when stdin is a terminal)\n"
    "       rush --version | --help\n"
    "\n"
    "The command writes straight to your terminal and rush exits with its status. When no\n"
    "daemon answers, rush runs the command with /bin/sh and starts rushd for next time.\n"
    "\n"
    "environment:\n"
    "  RUSH_RUNTIME_DIR   directory of rushd's socket (default $XDG_RUNTIME_DIR/rush, else /tmp/rush-UID)\n"
    "  RUSH_NO_AUTOSTART  1: never start rushd\n"
    "  RUSHD              path of the rushd executable to start\n";

static void write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

/* ---------- the request ---------- */

/* Which of 0, 1, 2 were closed when we started (bit i), each now held by /dev/null. */
static unsigned closed_stdio;

/*
 * A closed 0/1/2 must stay closed for the command (as under sh), but our own socket must not land
 * on it. So each closed one is occupied by /dev/null opened close-on-exec: a local exec of /bin/sh
 * drops it again by itself, and it is never sent to the daemon.
 */
static void occupy_closed_stdio(void) {
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        closed_stdio |= 1u << fd;
        /* open(2) returns the lowest free fd: `fd` itself, as all lower ones are now open. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0 && null != fd) close(null);
    }
}

static char cwd_buf[PATH_MAX];

static const char *current_dir(void) {
    if (getcwd(cwd_buf, sizeof cwd_buf)) return cwd_buf;
    const char *pwd = getenv("PWD");
    return pwd && *pwd ? pwd : "/";
}

static uint32_t current_umask(void) {
    mode_t m = umask(0);
    umask(m);
    return (uint32_t)m;
}

/* Sends a rush.exec request for argv[0..argc) with our open stdio fds. Returns 0 or -errno. */
static int send_exec(int sock, uint32_t id, char *const *argv, size_t argc) {
    int fds[3];
    uint8_t roles[3];
    unsigned n = 0;
    for (int fd = 0; fd < 3; fd++) {
        if (closed_stdio & (1u << fd)) continue;
        fds[n] = fd;
        roles[n++] = (uint8_t)fd; /* ROLE_STDIN/STDOUT/STDERR are 0/1/2 */
    }
    struct exec_request r = {
        .argv = argv, .argc = argc, .cwd = current_dir(), .env = environ,
        .umask = current_umask(), .roles = roles, .nroles = n,
    };
    uint8_t *frame = malloc(wire_exec_size(&r));
    if (!frame) return -ENOMEM;
    size_t len = wire_encode_exec(frame, id, n, &r);
    int e = conn_send(sock, frame, len, fds, n);
    free(frame);
    return e;
}

/* ---------- waiting for the reply ---------- */

struct session {
    int sock;
    int sigfd;
    uint32_t next_id; /* next request id for rush.signal / rush.exec */
    int sent;         /* the exec request went out */
    struct rx rx;
};

static void forward_signal(struct session *s, uint32_t exec_id, int signo) {
    uint8_t frame[WIRE_SIGNAL_FRAME_MAX];
    size_t len = wire_encode_signal(frame, s->next_id++, exec_id, signo);
    /* A failure shows up as end of stream on the next read. */
    (void)conn_send(s->sock, frame, len, NULL, 0);
}

/* Handles the signals caught while exec `exec_id` runs. */
static void on_signals(struct session *s, uint32_t exec_id) {
    int signos[64];
    int n = signals_take(signos, 64);
    for (int i = 0; i < n; i++) {
        int signo = signos[i];
        if (!s->sent) {
            /* Nothing runs remotely yet: take the signal's default action ourselves. */
            if (signo == SIGTSTP) {
                signals_stop_self();
                continue;
            }
            signal(signo, SIG_DFL);
            raise(signo);
            continue;
        }
        forward_signal(s, exec_id, signo);
        if (signo == SIGTSTP) {
            signals_stop_self();
            forward_signal(s, exec_id, SIGCONT);
        }
    }
}

static int is_code(struct span code, const char *want) {
    size_t n = strlen(want);
    return code.n == n && memcmp(code.p, want, n) == 0;
}

/* What one Response frame means for exec `exec_id`: -2 keep waiting, RUN_LOCALLY, or a status. */
static int on_frame(const uint8_t *p, uint32_t n, uint32_t exec_id, int *seen_response) {
    struct response r;
    const char *why;
    int kind = wire_decode_envelope(p, n, &r, &why);
    if (kind < 0) {
        say("malformed message from rushd: ", why, NULL);
        return LOST_STATUS;
    }
    if (kind != MSG_RESPONSE) return -2; /* Hello, or anything we did not ask for */
    if (r.id == 0 && r.status != 0) {
        /* The daemon refused the connection or our message: the command did not run there. */
        say_n("", r.message.p, r.message.n, r.message.n ? "; running locally" : "rushd refused the connection; running locally");
        return RUN_LOCALLY;
    }
    if (r.id != exec_id) return -2; /* e.g. the reply to a rush.signal request */
    *seen_response = 1;
    if (r.status != 0) {
        if (is_code(r.code, "ERR_FDWIRE_UNKNOWN_METHOD") || is_code(r.code, "ERR_FDWIRE_SHUTTING_DOWN")) return RUN_LOCALLY;
        if (r.message.n) say_n("", r.message.p, r.message.n, "");
        else say(r.status == 2 ? "rushd cancelled the command" : "rushd could not run the command", NULL);
        return 127;
    }
    int32_t status = 0, signo = 0;
    struct span reason;
    int reply = wire_decode_exec_reply(r.body, &status, &signo, &reason, &why);
    if (reply < 0) {
        say("malformed reply from rushd: ", why, NULL);
        return LOST_STATUS;
    }
    if (reply == REPLY_RUN_LOCALLY) return RUN_LOCALLY;
    /* Shell convention: killed by signal N is 128+N; statuses are 8 bits. */
    return signo != 0 ? (int)((128u + (uint32_t)signo) & 255u) : (int)((uint32_t)status & 255u);
}

/*
 * Reads frames until the Response to exec `exec_id`, forwarding signals meanwhile. Returns the
 * exit status, or RUN_LOCALLY.
 */
static int await_exec(struct session *s, uint32_t exec_id) {
    int seen_response = 0;
    for (;;) {
        const uint8_t *payload;
        uint32_t len;
        const char *why;
        int got = rx_next(&s->rx, &payload, &len, &why);
        if (got < 0) {
            say("malformed frame from rushd: ", why, NULL);
            return LOST_STATUS;
        }
        if (got > 0) {
            int st = on_frame(payload, len, exec_id, &seen_response);
            if (st != -2) return st;
            continue;
        }
        struct pollfd pfd[2] = {{s->sock, POLLIN, 0}, {s->sigfd, POLLIN, 0}};
        int pr = poll(pfd, s->sigfd >= 0 ? 2 : 1, -1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            say("poll: ", strerror(errno), NULL);
            return LOST_STATUS;
        }
        if (s->sigfd >= 0 && (pfd[1].revents & POLLIN)) on_signals(s, exec_id);
        if (!pfd[0].revents) continue;
        int r = rx_fill(s->sock, &s->rx);
        if (r > 0) continue;
        if (!s->sent) {
            /* Our request never went out and the daemon said nothing: the command did not run. */
            say("rushd closed the connection; running locally", NULL);
            return RUN_LOCALLY;
        }
        say("lost connection to rushd while the command ran", NULL);
        return LOST_STATUS;
    }
}

/* Connects to rushd; on failure starts it for next time (unless told not to) and returns -1. */
static int connect_daemon(void) {
    char path[PATH_MAX];
    if (runtime_socket_path(path, sizeof path) < 0) return -1; /* rushd could not listen there either */
    int sock = conn_connect(path);
    if (sock < 0) runtime_autostart();
    return sock;
}

/* ---------- rush -c ---------- */

static _Noreturn void run_command(int argc, char **argv) {
    /* argv: rush -c SCRIPT [NAME [ARG...]]; exactly what `sh -c` takes after argv[0]. */
    struct session s = {.sock = -1, .sigfd = -1, .next_id = EXEC_ID + 1};
    signal(SIGPIPE, SIG_IGN); /* a dead daemon must be EPIPE, not death */
    occupy_closed_stdio();
    s.sock = connect_daemon();
    if (s.sock < 0) runtime_exec_sh(argv);
    s.sigfd = signals_install();
    rx_init(&s.rx);
    s.sent = send_exec(s.sock, EXEC_ID, argv + 2, (size_t)argc - 2) == 0;
    /* When sending failed (EPIPE: the daemon already refused us), the refusal may still be there
     * to read; ending our side makes sure the daemon ends its side too, so the read cannot hang. */
    if (!s.sent) shutdown(s.sock, SHUT_WR);
    int status = await_exec(&s, EXEC_ID);
    if (status == RUN_LOCALLY) {
        rx_free(&s.rx);
        runtime_exec_sh(argv);
    }
    rx_free(&s.rx);
    _exit(status);
}

/* ---------- interactive ---------- */

/* Runs one line with /bin/sh here (the daemon asked for it): fork, exec, wait. */
static int run_line_locally(char *line) {
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {"sh", "-c", line, NULL};
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        signal(SIGTSTP, SIG_DFL);
        runtime_exec_sh(args);
    }
    if (pid < 0) return 127;
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) return 127;
    return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
}

static void prompt(void) {
    const char *ps1 = getenv("PS1");
    if (!ps1) ps1 = "rush$ ";
    write_all(2, ps1, strlen(ps1));
}

static char line_buf[65536];

static _Noreturn void interactive(char **argv) {
    struct session s = {.sock = -1, .sigfd = -1, .next_id = 1};
    signal(SIGPIPE, SIG_IGN);
    occupy_closed_stdio();
    s.sock = connect_daemon();
    if (s.sock < 0) {
        char *args[] = {argv[0], "-i", NULL};
        runtime_exec_sh(args);
    }
    s.sigfd = signals_install();
    rx_init(&s.rx);
    int status = 0;
    size_t have = 0;
    int need_prompt = 1;
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
            if (line[0] == 0) {
                need_prompt = 1;
                continue;
            }
            uint32_t id = s.next_id++;
            char *args[] = {line, NULL};
            s.sent = send_exec(s.sock, id, args, 1) == 0;
            if (!s.sent) shutdown(s.sock, SHUT_WR);
            int st = await_exec(&s, id);
            if (st == RUN_LOCALLY) {
                st = run_line_locally(line);
                /* Keys like Ctrl-C went to the local command too (same process group): forget our copy. */
                int drop[64];
                while (signals_take(drop, 64) > 0) {
                }
            }
            status = st;
            need_prompt = 1;
            /* After `exit N` the daemon ends the session: leave before showing a prompt if its
             * end of stream is already here. */
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

/* ---------- command line ---------- */

int main(int argc, char **argv) {
    if (argc >= 2) {
        const char *a = argv[1];
        if (strcmp(a, "-c") == 0) {
            if (argc < 3) {
                say("-c: option requires an argument", NULL);
                write_all(2, usage_text, strcspn(usage_text, "\n") + 1);
                return 2;
            }
            run_command(argc, argv);
        }
        if (strcmp(a, "--version") == 0) {
            static const char v[] = "rush " RUSH_VERSION "\n";
            write_all(1, v, sizeof v - 1);
            return 0;
        }
        if (strcmp(a, "--help") == 0) {
            write_all(1, usage_text, sizeof usage_text - 1);
            return 0;
        }
        if (a[0] == '-' && a[1] != 0) {
            say("unknown option ", a, NULL);
            write_all(2, usage_text, strcspn(usage_text, "\n") + 1);
            return 2;
        }
        /* `rush FILE [ARG...]`: a script file, as `sh FILE` runs it (not on the daemon). */
        runtime_exec_sh(argv);
    }
    if (isatty(0)) interactive(argv);
    /* No arguments, stdin not a terminal: sh reads the script from stdin. */
    char *args[] = {argv[0], NULL};
    runtime_exec_sh(args);
}
