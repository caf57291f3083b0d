/*
 * The floor of a round trip on this machine: two C processes over a Unix socketpair, one request
 * in flight, blocking read/write, no event loop, no encoding. Whatever a Node program does on top,
 * a round trip cannot take less than this here. Used by bench/roundtrip.mjs.
 *
 *   pingpong REQUEST_BYTES REPLY_BYTES WARMUP COUNT
 * prints {"p50":ns,"p90":ns,"p99":ns}
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "read_all.h"

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: pingpong REQUEST_BYTES REPLY_BYTES WARMUP COUNT\n");
        return 2;
    }
    size_t request = (size_t)atol(argv[1]), reply = (size_t)atol(argv[2]);
    long warmup = atol(argv[3]), count = atol(argv[4]);
    char *buf = calloc(1, request > reply ? request : reply);
    long long *samples = malloc(sizeof *samples * (size_t)count);
    int sv[2];
    if (!buf || !samples || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return 1;
    pid_t server = fork();
    if (server == 0) {
        close(sv[0]);
        while (read_all(sv[1], buf, request)) write(sv[1], buf, reply);
        _exit(0);
    }
    close(sv[1]);
    for (long i = -warmup; i < count; i++) {
        long long start = now_ns();
        if (write(sv[0], buf, request) != (ssize_t)request || !read_all(sv[0], buf, reply)) return 1;
        if (i >= 0) samples[i] = now_ns() - start;
    }
    close(sv[0]);
    waitpid(server, NULL, 0);
    qsort(samples, (size_t)count, sizeof *samples, by_value);
    printf("{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld}\n", samples[count / 2], samples[count * 9 / 10], samples[count * 99 / 100]);
    return 0;
}
