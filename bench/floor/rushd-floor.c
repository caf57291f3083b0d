/*
 * The floor of `rush -c CMD`: a daemon in C that answers every request at once with canned bytes
 * (a Hello and a Result frame prepared by bench/startup.mjs with fdwire's own encoders). One
 * process, blocking accept/read/write, no event loop, no parsing beyond the frame length. The real
 * rush client talks to it exactly as to rushd, so `rush -c exit` against it is the least any
 * daemon could cost here. Used by bench/startup.mjs.
 *
 *   rushd-floor SOCKET_PATH REPLY_FILE
 * prints "ready" once it listens; runs until killed.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "read_all.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: rushd-floor SOCKET_PATH REPLY_FILE\n");
        return 2;
    }
    static uint8_t reply[65536], frame[1 << 20];
    int rf = open(argv[2], O_RDONLY);
    ssize_t reply_len = rf < 0 ? -1 : read(rf, reply, sizeof reply);
    if (reply_len <= 0) return 1;
    close(rf);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof addr.sun_path) return 1;
    strcpy(addr.sun_path, argv[1]);
    unlink(argv[1]);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 128) < 0) return 1;
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        /* The request: a 16-byte header (payload length at byte 4, little-endian), then the
         * payload; its fds (the client's stdio) arrive with it and are simply not taken. */
        char control[256];
        struct iovec iov = {frame, 16};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
        ssize_t n = recvmsg(c, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
        if (n == 16) {
            for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
                if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
                int *fds = (int *)CMSG_DATA(h);
                for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) close(fds[i]);
            }
            uint32_t len = (uint32_t)frame[4] | (uint32_t)frame[5] << 8 | (uint32_t)frame[6] << 16 | (uint32_t)frame[7] << 24;
            if (len <= sizeof frame && read_all(c, frame, len)) (void)!write(c, reply, (size_t)reply_len);
        }
        close(c);
    }
}
