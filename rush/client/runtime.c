/*
 * runtime.c — the runtime directory and socket path (same rules as rushd's), running a command
 * locally with /bin/sh, and starting rushd in the background for next time.
 *
 * Man pages: stat(2), unix(7) (sun_path size), fork(2), setsid(2), execve(2), waitpid(2).
 * Closing inherited fds and finding our own executable differ by platform: native/platform/.
 */
#include "runtime.h"

#include "signals.h"
#include "util.h"
#include "../../native/platform/close_from.h"
#include "../../native/platform/self_exe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SOCKET_NAME "/daemon.sock"

/* Appends src to out[*len], keeping room for the NUL; returns -1 when it does not fit. */
static int append(char *out, size_t cap, size_t *len, const char *src) {
    size_t n = strlen(src);
    if (*len + n + 1 > cap) return -1;
    memcpy(out + *len, src, n + 1);
    *len += n;
    return 0;
}

/* $XDG_RUNTIME_DIR is used only when it is a directory of ours that nobody else can enter:
 * otherwise another user could plant a socket there and receive our fds. */
static int private_dir(const char *dir) {
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

int runtime_socket_path(char *out, size_t cap) {
    /* sun_path holds the path and its NUL: 108 bytes on Linux, 104 on macOS. */
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    char dir[PATH_MAX];
    size_t len = 0;
    const char *env = getenv("RUSH_RUNTIME_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    dir[0] = 0;
    if (env && *env) {
        if (append(dir, sizeof dir, &len, env) < 0) goto too_long;
    } else if (xdg && *xdg && private_dir(xdg)) {
        if (append(dir, sizeof dir, &len, xdg) < 0 || append(dir, sizeof dir, &len, "/rush") < 0) goto too_long;
    } else {
        len = (size_t)snprintf(dir, sizeof dir, "/tmp/rush-%lu", (unsigned long)getuid());
    }
    if (max > cap) max = cap;
    size_t plen = 0;
    out[0] = 0;
    if (append(out, max, &plen, dir) == 0 && append(out, max, &plen, SOCKET_NAME) == 0) return 0;
too_long:
    say("socket path too long for a Unix socket (at most ", max == 108 ? "107" : "103", " bytes): ", dir, SOCKET_NAME,
        "; set RUSH_RUNTIME_DIR to a shorter directory; running locally", NULL);
    return -1;
}

/* The directory of our own executable, into dir[cap] (with a trailing '/'); 0 or -1. */
static int exe_dir(char *dir, size_t cap) {
    if (fdwire_self_exe(dir, cap) < 0) return -1;
    char *slash = strrchr(dir, '/');
    if (!slash) return -1;
    slash[1] = 0;
    return 0;
}

/* The grandchild: detached from our session and stdio, becomes `rushd start`. */
static _Noreturn void exec_rushd(void) {
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    /* rushd must not keep the caller's pipes open (a `$(rush -c ...)` capture would wait for
     * rushd to exit), nor its locks. */
    fdwire_close_from(3);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    char path[PATH_MAX + 32];
    char *const args[] = {"rushd", "start", NULL};
    const char *env = getenv("RUSHD");
    if (env && *env) {
        execv(env, args);
        _exit(127);
    }
    if (exe_dir(path, PATH_MAX) == 0) {
        size_t base = strlen(path);
        /* Installed layouts: rushd next to rush, or the package's build/Release/rush + bin/rushd. */
        memcpy(path + base, "rushd", 6);
        if (access(path, X_OK) == 0) execv(path, args);
        memcpy(path + base, "../../bin/rushd", 16);
        execv(path, args);
    }
    _exit(127);
}

void runtime_autostart(void) {
    const char *no = getenv("RUSH_NO_AUTOSTART");
    if (no && strcmp(no, "1") == 0) return;
    int saved = errno;
    pid_t child = fork();
    if (child == 0) {
        /* Double fork: the grandchild is reparented (to init or a subreaper), so it never becomes
         * a zombie child of the /bin/sh we are about to exec. */
        if (fork() == 0) exec_rushd();
        _exit(0);
    }
    if (child > 0)
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
        }
    errno = saved;
}

_Noreturn void runtime_exec_sh(char **argv) {
    /* We ignore SIGPIPE for our own socket, and an interactive session catches the signals it
     * handles at its prompt; sh must get the dispositions we were given, as it would have. */
    signals_restore();
    argv[0] = "sh";
    execv("/bin/sh", argv);
    say("cannot run /bin/sh: ", strerror(errno), NULL);
    _exit(127);
}
