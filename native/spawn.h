// Process creation for commands run on behalf of clients (rush): the client's fds land exactly on
// 0/1/2, everything else is closed, and the command gets its own umask, cwd, process group and
// default signal dispositions. Exit is observed through a pidfd the event loop can poll.
// Man pages: vfork(2), execve(2), setpgid(2), close_range(2), pidfd_open(2), waitpid(2).
#pragma once

#include <sys/types.h>

namespace fdwire {

struct SpawnRequest {
  const char* path;         // executable (not searched in PATH)
  char* const* argv;        // NULL-terminated
  char* const* envp;        // NULL-terminated
  const char* cwd;          // nullptr: inherit
  int umask_value;          // < 0: inherit
  int stdio[3];             // fd for 0/1/2, or -1 to leave that fd closed in the child
  bool new_process_group;   // setpgid(0, 0): signals to the group reach the command and its children
};

// Starts the process. Returns its pid, or -errno if it could not be started (including exec
// failures such as ENOENT/EACCES, reported by the child before it exits).
int spawn_process(const SpawnRequest& request);

// An fd that becomes readable when `pid` exits (Linux pidfd), or -errno (-ENOSYS elsewhere).
int open_process_fd(pid_t pid);

// Reaps `pid` without blocking. Returns 1 with *exit_status/*signal_number set when it ended,
// 0 while it runs, or -errno.
int reap_process(pid_t pid, int* exit_status, int* signal_number);

}  // namespace fdwire
