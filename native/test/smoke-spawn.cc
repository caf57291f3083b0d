// Checks of native/spawn.cc and what it includes from native/platform/ (child.h, close_from.h,
// exit_fd.h): a command gets exactly the stdio it was given, its own process group, umask and cwd,
// default signal dispositions and none of our other fds; its end is seen through the process fd
// and reaped with the right status or signal; an exec that fails is -errno. Then the same once a
// seccomp filter makes close_range and pidfd_open fail with ENOSYS, as on kernels before 5.9/5.3:
// the /proc/self/fd fallback closes the fds, and open_process_fd says -ENOSYS.
// Man pages: vfork(2), execve(2), setpgid(2), close_range(2), pidfd_open(2), poll(2), waitpid(2),
// seccomp(2), proc(5).
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "../socket.h"
#include "../spawn.h"
#include "smoke.h"

namespace smoke {
namespace {

// Reads until end of file or 10 s without a byte, whichever comes first.
std::string read_all(int fd) {
  std::string out;
  for (;;) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return out + "(timed out)";
    char chunk[512];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(chunk, static_cast<size_t>(n));
  }
}

// Waits for `pid` to end: on its process fd when there is one (polled as the event loop would),
// else by reaping every millisecond. Returns reap_process's result.
int wait_exit(pid_t pid, int process_fd, int* status, int* signal_number) {
  for (int waited = 0; waited < 10000; waited++) {
    if (process_fd >= 0) {
      pollfd p = {process_fd, POLLIN, 0};
      if (poll(&p, 1, 10000) != 1 || (p.revents & POLLIN) == 0) return -ETIMEDOUT;
      fdwire::consume_process_fd(process_fd);
    }
    int rc = fdwire::reap_process(pid, status, signal_number);
    if (rc != 0) return rc;
    if (process_fd < 0) usleep(1000);
  }
  return -ETIMEDOUT;
}

// /bin/sh -c `script` with the given stdio (stderr joins stdout), in its own process group.
int spawn_sh(const char* path, const char* script, int in, int out, const char* cwd, int umask_value) {
  std::string text(script);
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), &text[0], nullptr};
  char* envp[] = {const_cast<char*>("PATH=/usr/bin:/bin"), nullptr};
  fdwire::SpawnRequest request = {path, argv, envp, cwd, umask_value, {in, out, out}, true};
  return fdwire::spawn_process(request);
}

void test_spawn_exit_status() {
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  fdwire::make_pipe(in);
  fdwire::make_pipe(out);
  pid_t pid = spawn_sh("/bin/sh", "read x; echo \"got $x\"; exit 3", in[0], out[1], nullptr, -1);
  check(pid > 0, "spawn_process /bin/sh with pipes on 0/1/2: pid %d", pid);
  fdwire::close_fd(in[0]);
  fdwire::close_fd(out[1]);
  int process_fd = pid > 0 ? fdwire::open_process_fd(pid) : -EBADF;
  check(process_fd >= 0 && fdwire::is_cloexec(process_fd) == 1, "open_process_fd: fd %d, close-on-exec", process_fd);
  check(write(in[1], "hello\n", 6) == 6, "wrote a line to the child's stdin");
  fdwire::close_fd(in[1]);
  std::string output = read_all(out[0]);
  check(output == "got hello\n", "the child's stdout: \"got hello\\n\" (\"%s\")", one_line(output).c_str());
  int status = -1, signal_number = -1;
  int rc = pid > 0 ? wait_exit(pid, process_fd, &status, &signal_number) : -ESRCH;
  check(rc == 1 && status == 3 && signal_number == 0,
        "the process fd turned readable, then reap_process: exit status 3 (rc %d, status %d, signal %d)", rc, status,
        signal_number);
  close_if_open(process_fd);
  fdwire::close_fd(out[0]);
}

void test_spawn_signal() {
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  fdwire::make_pipe(in);
  fdwire::make_pipe(out);
  // Ignored dispositions survive execve; the child must put SIGTERM back to default itself.
  signal(SIGTERM, SIG_IGN);
  pid_t pid = spawn_sh("/bin/sh", "echo running; read x", in[0], out[1], nullptr, -1);
  signal(SIGTERM, SIG_DFL);
  fdwire::close_fd(in[0]);
  fdwire::close_fd(out[1]);
  char line[16] = {0};
  pollfd p = {out[0], POLLIN, 0};
  bool running = poll(&p, 1, 10000) == 1 && read(out[0], line, sizeof line - 1) > 0 && strcmp(line, "running\n") == 0;
  check(running && getpgid(pid) == pid, "spawn_process with new_process_group: the running command %d leads group %d",
        pid, pid > 0 ? getpgid(pid) : -1);
  int status = -1, signal_number = -1;
  check(pid > 0 && fdwire::reap_process(pid, &status, &signal_number) == 0, "reap_process while it runs: 0");
  int process_fd = pid > 0 ? fdwire::open_process_fd(pid) : -EBADF;
  if (pid > 0) kill(pid, SIGTERM);
  int rc = pid > 0 ? wait_exit(pid, process_fd, &status, &signal_number) : -ESRCH;
  check(rc == 1 && signal_number == SIGTERM && status == 0,
        "SIGTERM to a child of a parent that ignores it: reported as signal %d (rc %d, status %d)", signal_number, rc,
        status);
  close_if_open(process_fd);
  fdwire::close_fd(in[1]);
  fdwire::close_fd(out[0]);
}

// A child that fails before exec exits 127 after recording its errno for the parent (child.h).
void check_spawn_failure(const char* what, pid_t pid) {
  todo = under_qemu ? "qemu-user runs vfork as fork: the child's errno never reaches the parent" : nullptr;
  check(pid == -ENOENT, "spawn_process %s: -ENOENT (%d)", what, pid);
  todo = nullptr;
  if (pid > 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 127, "spawn_process %s: the child exited 127 (status %#x)", what,
          status);
  }
}

void test_spawn_failures() {
  check_spawn_failure("of a path that does not exist",
                      spawn_sh("/nonexistent/fdwire-core-smoke", "exit 0", -1, -1, nullptr, -1));
  check_spawn_failure("with a cwd that does not exist", spawn_sh("/bin/sh", "exit 0", -1, -1, "/nonexistent-cwd", -1));
}

// The child's view: umask, cwd, and which of 0, 1, 2 and two inheritable fds of ours it has.
// stdin is left closed on purpose. `expect_process_fd`: whether open_process_fd should work.
void test_child_fds(const char* label, bool expect_process_fd) {
  int plain = open("/dev/null", O_RDONLY);  // no O_CLOEXEC: exec would keep it
  int high = fcntl(plain, F_DUPFD, 40);     // nor has F_DUPFD
  check(fdwire::is_cloexec(plain) == 0 && fdwire::is_cloexec(high) == 0, "%s: fds %d and %d are not close-on-exec",
        label, plain, high);
  char script[256];
  snprintf(script, sizeof script,
           "umask; pwd; for n in 0 1 2 %d %d; do [ -e /proc/self/fd/$n ] && printf '%%s ' $n; done; echo", plain, high);
  int out[2] = {-1, -1};
  fdwire::make_pipe(out);
  pid_t pid = spawn_sh("/bin/sh", script, -1, out[1], "/", 027);
  fdwire::close_fd(out[1]);
  int process_fd = pid > 0 ? fdwire::open_process_fd(pid) : -EBADF;
  std::string output = read_all(out[0]);
  check(output == "0027\n/\n1 2 \n",
        "%s: the child has umask 027, cwd /, only fds 1 and 2 (stdin left closed, %d and %d not inherited): \"%s\"",
        label, plain, high, one_line(output).c_str());
  if (expect_process_fd) {
    check(process_fd >= 0, "%s: open_process_fd: %d", label, process_fd);
  } else {
    check(process_fd == -ENOSYS, "%s: open_process_fd without pidfd_open: -ENOSYS (%d)", label, process_fd);
  }
  int status = -1, signal_number = -1;
  int rc = pid > 0 ? wait_exit(pid, process_fd, &status, &signal_number) : -ESRCH;
  check(rc == 1 && status == 0 && signal_number == 0, "%s: reaped, exit status 0 (rc %d, status %d)", label, rc,
        status);
  close_if_open(process_fd);
  fdwire::close_fd(out[0]);
  fdwire::close_fd(plain);
  fdwire::close_fd(high);
}

// A seccomp filter that fails close_range and pidfd_open with ENOSYS, as kernels before 5.9 and 5.3
// do (or a container runtime whose filter predates them). Irreversible: install it last.
bool refuse_new_syscalls() {
#if defined(__x86_64__)
  const uint32_t arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  const uint32_t arch = AUDIT_ARCH_AARCH64;
#else
#error "core-smoke knows the seccomp arch of x86_64 and aarch64 only"
#endif
  // Syscalls added from 424 on have the same number on every architecture.
  const uint32_t close_range_nr = 436, pidfd_open_nr = 434;
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, close_range_nr, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, pidfd_open_nr, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return false;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

}  // namespace

void test_spawn() {
  test_spawn_exit_status();
  test_spawn_signal();
  test_spawn_failures();
  test_child_fds("close_range", true);
}

void test_spawn_without_new_syscalls() {
  if (!refuse_new_syscalls()) {
    char reason[96];
    snprintf(reason, sizeof reason, "no seccomp filter here (%s): close_range fallback not exercised", strerror(errno));
    skip("the close_range fallback and -ENOSYS from open_process_fd", reason);
    return;
  }
  long rc = syscall(436, 3u, ~0u, 0u);
  check(rc < 0 && errno == ENOSYS, "seccomp filter installed: close_range now fails with ENOSYS");
  test_child_fds("without close_range or pidfd_open", false);
}

}  // namespace smoke
