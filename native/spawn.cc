// spawn_process: vfork + execve with the child's set-up done between them.
//
// Why vfork and not fork: the daemon is a large Node process; vfork shares its memory instead of
// copying page tables, so starting a command costs the same however big the daemon is. The child
// may only make async-signal-safe syscalls and must not return from this frame: everything it
// needs (argv, envp, paths) is prepared by the parent before the vfork.
//
// Signals: the parent blocks every signal around vfork so no handler runs in the child on shared
// memory. The child sets every disposition back to default (Node ignores SIGPIPE, and ignored
// dispositions survive execve: `yes | head` would never end) and unblocks everything before exec.
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform.h"

namespace fdwire {
namespace {

// Above the three stdio slots, so moving fds onto 0/1/2 never clobbers a source still needed.
constexpr int kParkFloor = 10;

void close_from(int first) {
#if defined(SYS_close_range)
  if (syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, 0u) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = first; fd < max; fd++) close(fd);
}

[[noreturn]] void child(const SpawnRequest& request, volatile int* child_errno) {
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    signal(sig, SIG_DFL);  // also fails harmlessly for the real-time signals glibc reserves
  }
  if (request.new_process_group && setpgid(0, 0) < 0) goto fail;
#if FDWIRE_LINUX
  // If the process that started the command dies (a worker killed with -9), the command gets the
  // hangup a shell's children get when their terminal goes away, instead of running on unseen.
  prctl(PR_SET_PDEATHSIG, SIGHUP);
#endif
  if (request.umask_value >= 0) umask(static_cast<mode_t>(request.umask_value));
  if (request.cwd != nullptr && chdir(request.cwd) < 0) goto fail;
  {
    int parked[3];
    for (int i = 0; i < 3; i++) {
      parked[i] = -1;
      if (request.stdio[i] >= 0) {
        parked[i] = fcntl(request.stdio[i], F_DUPFD, kParkFloor);
        if (parked[i] < 0) goto fail;
      }
    }
    for (int i = 0; i < 3; i++) {
      if (parked[i] >= 0) {
        if (dup2(parked[i], i) < 0) goto fail;  // dup2 clears FD_CLOEXEC on the new fd
      } else {
        close(i);
      }
    }
  }
  close_from(3);
  {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
  }
  execve(request.path, request.argv, request.envp);
fail:
  *child_errno = errno;
  _exit(127);
}

}  // namespace

int spawn_process(const SpawnRequest& request) {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  volatile int child_errno = 0;
  pid_t pid = vfork();
  if (pid == 0) child(request, &child_errno);
  int vfork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) return -vfork_errno;
  if (child_errno != 0) {
    // The child failed before exec and has exited: reap it and report why.
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return -child_errno;
  }
  return pid;
}

int open_process_fd(pid_t pid) {
#if FDWIRE_LINUX && defined(SYS_pidfd_open)
  long fd = syscall(SYS_pidfd_open, pid, 0);  // pidfds are close-on-exec from birth
  if (fd < 0) return -errno;
  return static_cast<int>(fd);
#else
  (void)pid;
  return -ENOSYS;
#endif
}

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
