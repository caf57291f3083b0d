/*
 * session.c — one conversation with rushd: the rush.exec request (argv, cwd, env, umask, stdio fds),
 * waiting for its Response, and what the Response means. Shared by
 * `rush -c` (one request) and the interactive session (one request per line, same connection).
 *
 * Man pages: poll(2), umask(2), getcwd(3), fcntl(2) (F_GETFD), sh(1p) (exit statuses).
 */
#include "session.h"

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
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* The signal that ended the last command, when one did (see session_command_signal). */
static int command_signal;

/* The program of the last EXEC_LOCALLY reply (see session_exec_local). */
static struct local_exec local_exec;

int session_command_signal(void) { return command_signal; }

/* The last Result said the command ended the session (`exit` in an interactive one). */
static int session_ended_by_command;

int session_ended(void) { return session_ended_by_command; }

/* ---------- the request ---------- */

/* Which of 0, 1, 2 were closed when we started (bit i), each now held by /dev/null. */
unsigned closed_stdio;

/*
 * A closed 0/1/2 must stay closed for the command (as under sh), but our own socket must not land
 * on it. So each closed one is occupied by /dev/null opened close-on-exec: a local exec of /bin/sh
 * drops it again by itself, and it is never sent to the daemon.
 */
void occupy_closed_stdio(void) {
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

/* FdRole numbers the three stdio roles as unistd.h numbers the fds: fd 0, 1, 2 each go with the
 * role of the same number. */
_Static_assert(RUSH_ROLE_STDIN == STDIN_FILENO && RUSH_ROLE_STDOUT == STDOUT_FILENO &&
                   RUSH_ROLE_STDERR == STDERR_FILENO,
               "an stdio fd's role is its number");

/* Sends a rush.exec request for argv[0..argc) with our open stdio fds. Returns 0 or -errno. */
int send_exec(int sock, uint32_t id, char *const *argv, size_t argc, uint32_t line) {
    int fds[3];
    uint8_t roles[3];
    unsigned n = 0;
    for (int fd = 0; fd < 3; fd++) {
        if (closed_stdio & (1u << fd)) continue;
        fds[n] = fd;
        roles[n++] = (uint8_t)fd; /* RUSH_ROLE_STDIN, _STDOUT, _STDERR */
    }
    struct exec_request r = {
        .argv = argv,
        .argc = argc,
        .cwd = current_dir(),
        .env = environ,
        .umask = current_umask(),
        .roles = roles,
        .nroles = n,
        .line = line,
    };
    uint8_t *frame = malloc(wire_exec_size(&r));
    if (!frame) return -ENOMEM;
    size_t len = wire_encode_exec(frame, id, n, &r);
    int e = conn_send(sock, frame, len, fds, n);
    free(frame);
    return e;
}

/* ---------- waiting for the reply ---------- */

/*
 * Signals caught while an interactive session waits for the daemon's answer to a line (`rush -c`
 * catches none: it keeps the dispositions it was given, so a Ctrl-C during the round trip ends it
 * as it would end `sh -c`). As at the prompt of `sh -i`: SIGHUP ends the session; SIGINT, SIGTERM,
 * SIGQUIT and Ctrl-Z have nothing to act on, since nothing the daemon does for a line outlasts
 * the answer.
 */
static void on_signals(struct session *s) {
    int signos[64];
    int n = signals_take(signos, 64);
    for (int i = 0; i < n; i++)
        if (signos[i] == SIGHUP) _exit(128 + SIGHUP);
    (void)s;
}

static int is_code(struct span code, const char *want) {
    size_t n = strlen(want);
    return code.n == n && memcmp(code.p, want, n) == 0;
}

/* on_frame's result besides RUN_LOCALLY, EXEC_LOCALLY and statuses (distinct from those). */
enum { KEEP_WAITING = -10 };

/* What one Response frame means for exec `exec_id`: KEEP_WAITING, RUN_LOCALLY, EXEC_LOCALLY, or a
 * status. */
static int on_frame(const uint8_t *p, uint32_t n, uint32_t exec_id) {
    struct response r;
    const char *why;
    int kind = wire_decode_envelope(p, n, &r, &why);
    if (kind < 0) {
        say("malformed message from rushd: ", why, NULL);
        return LOST_STATUS;
    }
    if (kind != MSG_RESPONSE) return KEEP_WAITING; /* Hello, or anything we did not ask for */
    if (r.id == 0 && r.status != FDWIRE_STATUS_OK) {
        /* The daemon refused the connection or our message: the command did not run there. */
        say_n("", r.message.p, r.message.n,
              r.message.n ? "; running locally" : "rushd refused the connection; running locally");
        return RUN_LOCALLY;
    }
    if (r.id != exec_id) return KEEP_WAITING; /* not ours to read */
    if (r.status != FDWIRE_STATUS_OK) {
        if (is_code(r.code, FDWIRE_CODE_UNKNOWN_METHOD) || is_code(r.code, FDWIRE_CODE_SHUTTING_DOWN))
            return RUN_LOCALLY;
        if (r.message.n)
            say_n("", r.message.p, r.message.n, "");
        else
            say(r.status == FDWIRE_STATUS_CANCELLED ? "rushd cancelled the command" : "rushd could not run the command",
                NULL);
        return 127;
    }
    int32_t status = 0, signo = 0;
    int ended = 0;
    struct span reason;
    wire_local_exec_free(&local_exec);
    int reply = wire_decode_exec_reply(r.body, &status, &signo, &ended, &reason, &local_exec, &why);
    if (reply < 0) {
        say("malformed reply from rushd: ", why, NULL);
        return LOST_STATUS;
    }
    if (reply == REPLY_RUN_LOCALLY) return RUN_LOCALLY;
    if (reply == REPLY_EXEC_LOCALLY) return EXEC_LOCALLY;
    command_signal = signo > 0 && signo < NSIG ? signo : 0;
    session_ended_by_command = ended;
    /* Shell convention: killed by signal N is 128+N; statuses are 8 bits. */
    return signo != 0 ? (int)((128u + (uint32_t)signo) & 255u) : (int)((uint32_t)status & 255u);
}

/*
 * Reads frames until the Response to exec `exec_id`. Returns the exit status, RUN_LOCALLY or
 * EXEC_LOCALLY.
 */
int await_exec(struct session *s, uint32_t exec_id) {
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
            int st = on_frame(payload, len, exec_id);
            if (st != KEEP_WAITING) return st;
            continue;
        }
        struct pollfd pfd[2] = {{s->sock, POLLIN, 0}, {s->sigfd, POLLIN, 0}};
        int pr = poll(pfd, s->sigfd >= 0 ? 2 : 1, -1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            say("poll: ", strerror(errno), NULL);
            return LOST_STATUS;
        }
        if (s->sigfd >= 0 && (pfd[1].revents & POLLIN)) on_signals(s);
        if (!pfd[0].revents) continue;
        int r = rx_fill(s->sock, &s->rx);
        if (r > 0) {
            s->heard = 1;
            continue;
        }
        if (!s->heard && (!s->sent || r == -ECONNRESET)) {
            /* Not a byte from the daemon, and it went away without reading our request: that is
             * no daemon, as a refused connect is (a killed Node daemon's threads hold its
             * listening socket a while after its main thread is gone, so our connect landed in
             * its backlog). Run the command here without a word, and start a daemon for next time. */
            runtime_autostart();
            return RUN_LOCALLY;
        }
        if (!s->sent) {
            /* Our request never went out and the daemon, after a word, closed: it did not run. */
            say("rushd closed the connection; running locally", NULL);
            return RUN_LOCALLY;
        }
        if (r == -ECONNRESET) {
            /* A reset means the daemon went away with bytes of ours unread (killed after its
             * hello, before it got to our request): the request was all we sent, so it never ran. */
            say("rushd went away before reading the command; running locally", NULL);
            return RUN_LOCALLY;
        }
        say("lost connection to rushd while the command ran", NULL);
        return LOST_STATUS;
    }
}

/* Connects to rushd; on failure starts it for next time (unless told not to) and returns -1. */
int connect_daemon(void) {
    char path[PATH_MAX];
    if (runtime_socket_path(path, sizeof path) < 0) return -1; /* rushd could not listen there either */
    int sock = conn_connect(path);
    if (sock < 0) runtime_autostart();
    return sock;
}

int await_hello(struct session *s) {
    for (;;) {
        const uint8_t *payload;
        uint32_t len;
        const char *why;
        int got = rx_next(&s->rx, &payload, &len, &why);
        if (got < 0) {
            say("malformed frame from rushd: ", why, "; running locally", NULL);
            return -1;
        }
        if (got == 0) {
            if (rx_fill(s->sock, &s->rx) > 0) {
                s->heard = 1;
                continue;
            }
            say("rushd closed the connection; running locally", NULL);
            return -1;
        }
        struct response r;
        int kind = wire_decode_envelope(payload, len, &r, &why);
        if (kind < 0) {
            say("malformed message from rushd: ", why, "; running locally", NULL);
            return -1;
        }
        if (kind == MSG_HELLO) return 0;
        if (kind == MSG_RESPONSE && r.id == 0 && r.status != FDWIRE_STATUS_OK) {
            say_n("", r.message.p, r.message.n, "; running locally");
            return -1;
        }
    }
}

_Noreturn void session_exec_local(char **sh_argv) {
    signals_restore();
    execve(local_exec.program, local_exec.argv, local_exec.env);
    /* Gone or changed since rushd looked, or too big to exec: sh reports it as it would have. */
    runtime_exec_sh(sh_argv);
}
