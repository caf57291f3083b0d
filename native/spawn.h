// Process creation for commands run on behalf of clients (rush): the client's fds land exactly on
// 0/1/2, everything else is closed, and the command gets its own umask, cwd, process group and
// default signal dispositions. Exit is observed through an fd the event loop can poll (a pidfd on
// Linux, a kqueue on macOS: native/platform/exit_fd.h).
// Man pages: vfork(2), fork(2), execve(2), setpgid(2), close_range(2), pidfd_open(2), kqueue(2),
// waitpid(2).
#pragma once

#include <sys/types.h>

namespace fdwire {

struct SpawnRequest {
  const char* path;        // executable (not searched in PATH)
  char* const* argv;       // NULL-terminated
  char* const* envp;       // NULL-terminated
  const char* cwd;         // nullptr: inherit
  int umask_value;         // < 0: inherit
  int stdio[3];            // fd for 0/1/2, or -1 to leave that fd closed in the child
  bool new_process_group;  // setpgid(0, 0): signals to the group reach the command and its children
};

// Starts the process. Returns its pid, or -errno if it could not be started (including exec
// failures such as ENOENT/EACCES, reported by the child before it exits).
int spawn_process(const SpawnRequest& request);

// An fd (close-on-exec) that becomes readable when `pid`, our child, exits; or -errno: -ENOSYS
// on Linux before 5.3 (no pidfd_open), where the caller watches SIGCHLD instead.
int open_process_fd(pid_t pid);

// Call on each wake-up of open_process_fd's fd, before reaping: takes what made it readable (the
// events of a macOS kqueue, which would keep it readable; nothing for a pidfd).
void consume_process_fd(int fd);

// The fd woke us but reap_process found the process not yet reapable (macOS posts NOTE_EXIT a
// moment before the zombie exists): makes the fd readable again in about 1 ms. 0 or -errno.
int rearm_process_fd(int fd);

// Reaps `pid` without blocking. Returns 1 with *exit_status/*signal_number set when it ended,
// 0 while it runs, or -errno.
int reap_process(pid_t pid, int* exit_status, int* signal_number);

}  // namespace fdwire
