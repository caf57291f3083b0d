/*
 * util.h — tiny helpers shared by the rush client's files: messages to stderr without stdio
 * (write(2)/writev(2): no buffering to flush before exec or _exit).
 */
#ifndef RUSH_UTIL_H
#define RUSH_UTIL_H

#include <stddef.h>

/* Writes "rush: " followed by the NULL-terminated list of strings and a newline to fd 2. */
void say(const char *first, ...);

/* Same, with a length-delimited part (text received from the daemon) between prefix and suffix. */
void say_n(const char *prefix, const void *text, size_t n, const char *suffix);

/* write(2) until done or a real error (EINTR retried). */
void write_all(int fd, const char *s, size_t n);

#endif
