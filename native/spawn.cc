// spawn_process: a child that gets exactly the fds it was given on 0/1/2 and execs, with its
// set-up done between fork and exec; and the fd that tells the event loop when it ended.
//
// How the child is started differs by platform (native/platform/child.h): vfork on Linux, so the
// cost does not grow with the daemon's size; fork on macOS, whose vfork is fork since macOS 12.
// Either way the child may only make async-signal-safe calls: everything it needs (argv, envp,
// paths) is prepared by the parent before the child starts.
//
// Signals: every signal is blocked around the start, so no handler runs in the child. The child
// sets every disposition back to default (Node ignores SIGPIPE, and ignored dispositions survive
// execve: `yes | head` would never end) and unblocks everything before exec.
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform.h"
#include "platform/child.h"
#include "platform/close_from.h"
#include "platform/exit_fd.h"

namespace fdwire {
namespace {

// Above the three stdio slots, so moving fds onto 0/1/2 never clobbers a source still needed.
constexpr int kParkFloor = 10;

[[noreturn]] void child_main(fdwire_child* report, void* arg) {
  const SpawnRequest& request = *static_cast<const SpawnRequest*>(arg);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    signal(sig, SIG_DFL);  // also fails harmlessly for the real-time signals glibc reserves
  }
  if (request.new_process_group && setpgid(0, 0) < 0) fdwire_child_fail(report, errno);
  // If the thread that started the command dies (a worker killed with -9), the command gets the
  // hangup a shell's children get when their terminal goes away, instead of running on unseen.
  // Linux only: macOS has no such request (docs/security.md).
  fdwire_child_set_parent_death_signal(SIGHUP);
  if (request.umask_value >= 0) umask(static_cast<mode_t>(request.umask_value));
  if (request.cwd != nullptr && chdir(request.cwd) < 0) fdwire_child_fail(report, errno);
  int parked[3];
  for (int i = 0; i < 3; i++) {
    parked[i] = -1;
    if (request.stdio[i] >= 0) {
      parked[i] = fcntl(request.stdio[i], F_DUPFD, kParkFloor);
      if (parked[i] < 0) fdwire_child_fail(report, errno);
    }
  }
  for (int i = 0; i < 3; i++) {
    if (parked[i] >= 0) {
      if (dup2(parked[i], i) < 0) fdwire_child_fail(report, errno);  // dup2 clears FD_CLOEXEC
    } else {
      close(i);
    }
  }
  fdwire_close_from(3);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(request.path, request.argv, request.envp);
  fdwire_child_fail(report, errno);
}

}  // namespace

int spawn_process(const SpawnRequest& request) {
  return fdwire_start_child(child_main, const_cast<SpawnRequest*>(&request));
}

int open_process_fd(pid_t pid) { return fdwire_exit_fd_open(pid); }

void consume_process_fd(int fd) { fdwire_exit_fd_consume(fd); }

int rearm_process_fd(int fd) { return fdwire_exit_fd_rearm(fd); }

int reap_process(pid_t pid, int* exit_status, int* signal_number) {
  int status;
  pid_t done;
  do {
    done = waitpid(pid, &status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done < 0) return -errno;
  if (done == 0) return 0;
  *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  *signal_number = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return 1;
}

}  // namespace fdwire
