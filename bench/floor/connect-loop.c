/*
 * A client as fast as a client gets, with no process start between connections: N times in a
 * row, connect, send the bytes of FILE in one sendmsg (with fds 0, 1 and 2 attached under --fds,
 * as `rush -c` passes its stdio), wait for the first bytes of the answer, close. It never holds
 * more than one connection. Prints how many connections got an answer; exits 1 on the first
 * connection that fails.
 *
 *   connect-loop [--fds] SOCKET FILE N
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int pass_fds = argc > 1 && strcmp(argv[1], "--fds") == 0;
    if (argc != 4 + pass_fds) {
        fprintf(stderr, "usage: connect-loop [--fds] SOCKET FILE N\n");
        return 2;
    }
    const char *socket_path = argv[1 + pass_fds], *file_path = argv[2 + pass_fds];
    long count = atol(argv[3 + pass_fds]), answered = 0;
    static char request[1 << 16], answer[1 << 16];
    int file = open(file_path, O_RDONLY | O_CLOEXEC);
    if (file < 0) {
        perror("connect-loop: open");
        return 2;
    }
    ssize_t length = read(file, request, sizeof request);
    close(file);
    if (length <= 0) {
        fprintf(stderr, "connect-loop: %s is empty or unreadable\n", file_path);
        return 2;
    }
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(socket_path) >= sizeof address.sun_path) {
        fprintf(stderr, "connect-loop: socket path too long\n");
        return 2;
    }
    strcpy(address.sun_path, socket_path);
    for (long i = 0; i < count; i++) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&address, sizeof address) < 0) {
            perror("connect-loop: connect");
            return 1;
        }
        struct iovec iov = {request, (size_t)length};
        union {
            struct cmsghdr header;
            char bytes[CMSG_SPACE(3 * sizeof(int))];
        } control;
        memset(&control, 0, sizeof control);
        struct msghdr message;
        memset(&message, 0, sizeof message);
        message.msg_iov = &iov;
        message.msg_iovlen = 1;
        if (pass_fds) {
            message.msg_control = control.bytes;
            message.msg_controllen = sizeof control.bytes;
            struct cmsghdr *header = CMSG_FIRSTHDR(&message);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            header->cmsg_len = CMSG_LEN(3 * sizeof(int));
            int fds[3] = {0, 1, 2};
            memcpy(CMSG_DATA(header), fds, sizeof fds);
        }
        if (sendmsg(s, &message, MSG_NOSIGNAL) != length) {
            perror("connect-loop: sendmsg");
            return 1;
        }
        if (read(s, answer, sizeof answer) > 0) answered++;
        close(s);
    }
    printf("%ld\n", answered);
    return 0;
}
