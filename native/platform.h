/*
 * Which platform we build for. Plain C and C++ (the rush client includes it too). The protocol's
 * own limits (fds per frame, header size) are native/wire.h's.
 *
 * Every difference between Linux and macOS lives in native/platform/, one header per concern,
 * each function defined once per platform there; the rest of native/ calls those functions and has
 * no platform #ifs of its own:
 *   platform/fd.h          close-on-exec fds: pipes, marking, the flags we use everywhere
 *   platform/socket.h      socket creation, SIGPIPE suppression, received fds, peer credentials
 *   platform/close_from.h  closing every fd from N up in a child (async-signal-safe)
 *   platform/child.h       starting a child (vfork or fork) and reporting its exec failure
 *   platform/exit_fd.h     an fd that becomes readable when a child exits (pidfd or kqueue)
 *   platform/self_exe.h    the path of the running executable (rush client)
 *   platform/activation.h  sockets launchd made for us (launch_activate_socket; none on Linux)
 * Linux means glibc >= 2.17 or musl, any kernel from 3.10 on: syscalls newer than that (close_range,
 * pidfd_open) are called through syscall(2) when the headers know them and fall back at run time.
 * The Linux definitions need _GNU_SOURCE (accept4, pipe2, struct ucred): g++ defines it, and the
 * rush client's build passes it.
 */
#ifndef FDWIRE_PLATFORM_H
#define FDWIRE_PLATFORM_H

#if defined(__linux__)
#define FDWIRE_LINUX 1
#define FDWIRE_MACOS 0
#elif defined(__APPLE__)
#define FDWIRE_LINUX 0
#define FDWIRE_MACOS 1
#else
#error "fdwire's native code supports Linux and macOS: see native/platform.h for what a port needs"
#endif

#endif
