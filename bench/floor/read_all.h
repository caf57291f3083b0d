/* read_all.h — shared by the floor programs of bench/floor/. */
#ifndef FLOOR_READ_ALL_H
#define FLOOR_READ_ALL_H

#include <stddef.h>
#include <unistd.h>

/* Reads exactly n bytes into buf; 0 at end of stream or on error, 1 when done. */
static inline int read_all(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0) return 0;
        got += (size_t)r;
    }
    return 1;
}

#endif
