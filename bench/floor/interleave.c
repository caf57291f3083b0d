/*
 * Interleaved timing of whole commands: round after round, each command is started once
 * (posix_spawn + waitpid) in turn, so every command sees the same machine, minute by minute. On a
 * shared, noisy machine this compares commands far more fairly than timing one command's runs in a
 * block and the next command's afterwards (hyperfine's order), where the load drifts between blocks.
 *
 *   interleave WARMUP RUNS -- [NAME=VALUE...] PROGRAM [ARG...] [-- ...]
 *
 * Each command follows a `--`: leading NAME=VALUE words are set in that command's environment (on
 * top of ours), then an absolute program path and its arguments. Every command must exit 0.
 *
 * Prints one line per command: the RUNS wall times in microseconds, sorted, separated by spaces.
 *
 *   interleave --pause-us N WARMUP RUNS -- ...
 *
 * leaves the machine idle N microseconds after each command (nanosleep(2)), as a user typing
 * commands does: an idle CPU's caches are taken by whatever runs next, on a shared machine by
 * other guests, so every command then starts colder.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

enum { kMaxWords = 32 };

struct command {
    char *argv[kMaxWords + 1];
    char **envp;
    double *times;
};

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int is_assignment(const char *word) {
    const char *eq = strchr(word, '=');
    return eq != NULL && eq != word && word[0] != '/';
}

/* Builds a command from `words` (its environment overrides, then its argv). */
static int parse(char **words, int n_words, struct command *c) {
    size_t inherited = 0;
    while (environ[inherited] != NULL) inherited++;
    int n_over = 0;
    while (n_over < n_words && is_assignment(words[n_over])) n_over++;
    int n_argv = n_words - n_over;
    if (n_argv == 0 || n_argv > kMaxWords || words[n_over][0] != '/') return -1;
    for (int i = 0; i < n_argv; i++) c->argv[i] = words[n_over + i];
    c->argv[n_argv] = NULL;
    c->envp = calloc(inherited + (size_t)n_over + 1, sizeof *c->envp);
    if (c->envp == NULL) return -1;
    size_t n_env = 0;
    for (int i = 0; i < n_over; i++) c->envp[n_env++] = words[i];
    for (size_t i = 0; i < inherited; i++) {
        int overridden = 0;
        for (int k = 0; k < n_over && !overridden; k++) {
            size_t len = (size_t)(strchr(words[k], '=') - words[k]) + 1;
            overridden = strncmp(environ[i], words[k], len) == 0;
        }
        if (!overridden) c->envp[n_env++] = environ[i];
    }
    c->envp[n_env] = NULL;
    return 0;
}

/* Runs `c` once; returns its wall time in microseconds, or a negative value on failure. */
static double run_once(const struct command *c) {
    double start = now_us();
    pid_t pid;
    int err = posix_spawn(&pid, c->argv[0], NULL, NULL, c->argv, c->envp);
    if (err != 0) {
        fprintf(stderr, "interleave: %s: %s\n", c->argv[0], strerror(err));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    double elapsed = now_us() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "interleave: %s exited with status %d\n", c->argv[0], status);
        return -1;
    }
    return elapsed;
}

int main(int argc, char **argv) {
    long pause_us = 0;
    if (argc > 2 && strcmp(argv[1], "--pause-us") == 0) {
        char *end;
        pause_us = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || pause_us < 0 || pause_us > 10 * 1000 * 1000) {
            fprintf(stderr, "interleave: --pause-us wants 0 to 10000000\n");
            return 2;
        }
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: interleave [--pause-us N] WARMUP RUNS -- [NAME=VALUE...] PROGRAM [ARG...] [-- ...]\n");
        return 2;
    }
    long warmup = strtol(argv[1], NULL, 10), runs = strtol(argv[2], NULL, 10);
    if (warmup < 0 || runs < 1) {
        fprintf(stderr, "interleave: WARMUP must be >= 0 and RUNS >= 1\n");
        return 2;
    }
    int count = 0;
    for (int i = 3; i < argc; i++) count += strcmp(argv[i], "--") == 0;
    struct command *commands = calloc((size_t)count, sizeof *commands);
    if (commands == NULL) return 1;
    for (int j = 0, i = 4; j < count; j++) {
        int first = i;
        while (i < argc && strcmp(argv[i], "--") != 0) i++;
        commands[j].times = calloc((size_t)runs, sizeof(double));
        if (commands[j].times == NULL || parse(argv + first, i - first, &commands[j]) < 0) {
            fprintf(stderr, "interleave: command %d: want [NAME=VALUE...] /ABSOLUTE/PROGRAM [ARG...] (at most %d words)\n", j + 1, kMaxWords);
            return 2;
        }
        i++;  /* past the `--` */
    }
    for (long round = 0; round < warmup + runs; round++) {
        for (int j = 0; j < count; j++) {
            double t = run_once(&commands[j]);
            if (t < 0) return 1;
            if (round >= warmup) commands[j].times[round - warmup] = t;
            if (pause_us > 0) {
                struct timespec pause = {pause_us / 1000000, (pause_us % 1000000) * 1000};
                while (nanosleep(&pause, &pause) < 0 && errno == EINTR) {
                }
            }
        }
    }
    for (int j = 0; j < count; j++) {
        qsort(commands[j].times, (size_t)runs, sizeof(double), by_value);
        for (long i = 0; i < runs; i++) printf(i == 0 ? "%.1f" : " %.1f", commands[j].times[i]);
        printf("\n");
    }
    return 0;
}
