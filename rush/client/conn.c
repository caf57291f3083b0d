/*
 * conn.c — the client's side of the fdwire transport (docs/protocol.md sections 2–4): one stream
 * socket, frames with SCM_RIGHTS fds on the sendmsg carrying their first byte, frames cut out of
 * whatever recvmsg returns (several per read, or one split over reads).
 *
 * Man pages: unix(7), socket(2), connect(2), sendmsg(2), recvmsg(2), cmsg(3).
 * Close-on-exec sockets, SIGPIPE and received fds differ by platform: native/platform/socket.h.
 */
#include "conn.h"

#include "wire.h"
#include "../../native/platform/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int conn_connect(const char *path) {
    /* Blocking: the client waits on poll(2) only while a command runs. */
    int fd = fdwire_stream_socket(0);
    if (fd < 0) return fd;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof addr.sun_path) {
        close(fd);
        return -ENAMETOOLONG;
    }
    memcpy(addr.sun_path, path, n + 1);
    int r;
    do r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int conn_send(int fd, const uint8_t *frame, size_t len, const int *fds, unsigned nfds) {
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(3 * sizeof(int))];
    } control;
    if (nfds > 3) return -EINVAL;
    /* Two iovecs, header and payload, as docs/protocol.md describes (they are contiguous here,
     * so this is one write either way). */
    struct iovec iov[2] = {{(void *)frame, FDWIRE_HEADER_SIZE},
                           {(void *)(frame + FDWIRE_HEADER_SIZE), len - FDWIRE_HEADER_SIZE}};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    if (nfds) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.space;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = sendmsg(fd, &msg, FDWIRE_SEND_FLAGS);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        done += (size_t)n;
        /* A partial write has delivered the fds: the rest goes without them. */
        msg.msg_control = NULL;
        msg.msg_controllen = 0;
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        iov[0].iov_base = (void *)(frame + done);
        iov[0].iov_len = len - done;
    }
    return 0;
}

/* Replies are small: a static buffer covers them without malloc on the hot path. */
static uint8_t small_buf[16384];

void rx_init(struct rx *rx) {
    rx->buf = small_buf;
    rx->cap = sizeof small_buf;
    rx->start = rx->end = 0;
}

void rx_free(struct rx *rx) {
    if (rx->buf != small_buf) free(rx->buf);
    rx_init(rx);
}

/* Closes every fd in the control messages: the daemon has no business sending us any. */
static void close_fds(struct msghdr *msg) { fdwire_take_received_fds(msg, NULL, 0); }

int rx_fill(int fd, struct rx *rx) {
    if (rx->start == rx->end) rx->start = rx->end = 0;
    if (rx->end == rx->cap && rx->start > 0) {
        memmove(rx->buf, rx->buf + rx->start, rx->end - rx->start);
        rx->end -= rx->start;
        rx->start = 0;
    }
    if (rx->end == rx->cap) return -ENOBUFS; /* rx_next grows the buffer before this can happen */
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(FDWIRE_MAX_FDS_PER_RECVMSG * sizeof(int))];
    } control;
    struct iovec iov = {rx->buf + rx->end, rx->cap - rx->end};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    ssize_t n;
    do n = recvmsg(fd, &msg, FDWIRE_RECV_FLAGS);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (msg.msg_controllen > 0) close_fds(&msg);
    rx->end += (size_t)n;
    return (int)n;
}

int rx_next(struct rx *rx, const uint8_t **payload, uint32_t *len, const char **why) {
    size_t have = rx->end - rx->start;
    if (have < FDWIRE_HEADER_SIZE) return 0;
    uint32_t n;
    if (wire_check_header(rx->buf + rx->start, &n, why) < 0) return -1;
    size_t need = FDWIRE_HEADER_SIZE + (size_t)n;
    if (have >= need) {
        *payload = rx->buf + rx->start + FDWIRE_HEADER_SIZE;
        *len = n;
        rx->start += need;
        return 1;
    }
    if (need > rx->cap) {
        /* Only a frame larger than the static buffer gets here: grow once to the maximum. */
        size_t cap = FDWIRE_HEADER_SIZE + WIRE_MAX_FRAME;
        uint8_t *big = malloc(cap);
        if (!big) {
            *why = "out of memory";
            return -1;
        }
        memcpy(big, rx->buf + rx->start, have);
        if (rx->buf != small_buf) free(rx->buf);
        rx->buf = big;
        rx->cap = cap;
        rx->start = 0;
        rx->end = have;
    } else if (rx->start + need > rx->cap) {
        memmove(rx->buf, rx->buf + rx->start, have);
        rx->start = 0;
        rx->end = have;
    }
    return 0;
}
