/*
 * conn.h — the client's Unix socket to rushd: connect, send a frame with fds, receive frames.
 */
#ifndef RUSH_CONN_H
#define RUSH_CONN_H

#include <stddef.h>
#include <stdint.h>

/* Connects to the socket at `path`; returns the fd (close-on-exec) or -errno. */
int conn_connect(const char *path);

/* Sends one frame (header + payload, contiguous in `frame`) with `nfds` fds attached to its first
 * byte; loops on partial writes. Returns 0 or -errno. */
int conn_send(int fd, const uint8_t *frame, size_t len, const int *fds, unsigned nfds);

/* Receive buffer: frames are cut out of it; it grows once (to 1 MiB + header) only for a frame
 * larger than its static part. */
struct rx {
    uint8_t *buf;
    size_t cap, start, end;
};

void rx_init(struct rx *rx);
void rx_free(struct rx *rx);

/* One recvmsg(2) into the buffer; fds that arrive are closed. Returns the byte count, 0 at end
 * of stream, -errno on error. */
int rx_fill(int fd, struct rx *rx);

/* The next complete frame's payload, if buffered: returns 1 (and the payload), 0 when more bytes
 * are needed, -1 with *why for a bad header. */
int rx_next(struct rx *rx, const uint8_t **payload, uint32_t *len, const char **why);

/* Bytes buffered but not yet returned as frames (a frame cut short by end of stream). */
static inline size_t rx_pending(const struct rx *rx) { return rx->end - rx->start; }

#endif
