/*
 * util.c — messages to stderr with one writev(2) each, so concurrent writers do not interleave
 * mid-line and nothing is buffered when we exec(3) or _exit(2). Man pages: writev(2), stdarg(3).
 */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PARTS 16

void say(const char *first, ...) {
    struct iovec iov[MAX_PARTS + 2];
    int n = 0;
    int saved = errno;
    iov[n].iov_base = (void *)"rush: ";
    iov[n++].iov_len = 6;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s && n < MAX_PARTS; s = va_arg(ap, const char *)) {
        iov[n].iov_base = (void *)s;
        iov[n++].iov_len = strlen(s);
    }
    va_end(ap);
    iov[n].iov_base = (void *)"\n";
    iov[n++].iov_len = 1;
    (void)!writev(2, iov, n);
    errno = saved;
}

void say_n(const char *prefix, const void *text, size_t n, const char *suffix) {
    struct iovec iov[5] = {
        {(void *)"rush: ", 6}, {(void *)prefix, strlen(prefix)}, {(void *)text, n}, {(void *)suffix, strlen(suffix)},
        {(void *)"\n", 1},
    };
    int saved = errno;
    (void)!writev(2, iov, 5);
    errno = saved;
}

void write_all(int fd, const char *s, size_t n) {
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
