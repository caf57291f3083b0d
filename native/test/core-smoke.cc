// The addon's native core (native/{socket,frame,reader,writer,spawn}.cc) exercised without Node,
// through its public headers, as one small program that prints TAP. It exists for the builds no
// Node here can load: scripts/ci/musl-core.mjs links it statically against musl for x86_64 and
// aarch64 (the latter run under qemu-user) and against glibc 2.17, so the syscall wrappers are
// proven under every libc the prebuilds are built for. This file runs the groups of checks in
// smoke-{socket,frames,spawn}.cc (harness: smoke.h) and exits 1 when any check failed.
//
// Under qemu-user (FDWIRE_CORE_SMOKE_QEMU=1 says so) two things differ from a real arm64 kernel,
// both qemu's doing (linux-user/syscall.c), so the checks they break are marked TODO there:
//   - vfork runs as fork (do_fork drops CLONE_VFORK | CLONE_VM): spawn_process returns before the
//     child has exec'd, and an exec failure the child records never reaches the parent.
//   - recvmsg gets a host control buffer twice the guest's, so the kernel installs every fd; qemu
//     copies what fits, then overwrites the MSG_CTRUNC it set with the host's flags, and the fds
//     that did not fit stay open in the process, unreported.
// qemu-user also refuses seccomp filters, so the fallbacks for kernels without close_range and
// pidfd_open are skipped there.
// Man pages: proc(5), mkdtemp(3), uname(2).
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <string>

#include "smoke.h"

namespace {

// What this binary is, for scripts/ci/musl-core.mjs to hold against the target it built.
void describe_build() {
#if defined(__GLIBC__)
  printf("# libc: glibc (headers %d.%d)\n", __GLIBC__, __GLIBC_MINOR__);
#else
  printf("# libc: musl\n");  // musl defines no macro of its own; zig's other Linux libc is glibc
#endif
  if (smoke::under_qemu) printf("# under qemu-user: its known divergences are TODO\n");
#if defined(__x86_64__)
  const char* arch = "x86_64";
#elif defined(__aarch64__)
  const char* arch = "aarch64";
#else
  const char* arch = "unknown";
#endif
  utsname name;
  printf("# arch: %s, uname -m: %s\n", arch, uname(&name) == 0 ? name.machine : "?");
  printf("# SYS_close_range %s, SYS_pidfd_open %s\n",
#if defined(SYS_close_range)
         "known",
#else
         "unknown (fallback compiled in)",
#endif
#if defined(SYS_pidfd_open)
         "known");
#else
         "unknown (-ENOSYS compiled in)");
#endif
  fflush(stdout);
}

}  // namespace

int main() {
  smoke::under_qemu = getenv("FDWIRE_CORE_SMOKE_QEMU") != nullptr;
  describe_build();
  int fds_at_start = smoke::count_fds();
  const char* tmp = getenv("TMPDIR");
  std::string dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/fdwire-core-XXXXXX";
  struct stat st;
  bool made = mkdtemp(&dir[0]) != nullptr && stat(dir.c_str(), &st) == 0;
  smoke::check(made && (st.st_mode & 0777) == 0700, "a fresh 0700 directory: %s", dir.c_str());
  if (!made) return 1;

  smoke::test_sockets(dir);
  smoke::test_frames(dir);
  smoke::test_spawn();
  smoke::check(rmdir(dir.c_str()) == 0, "the directory is empty again and removed");
  smoke::test_spawn_without_new_syscalls();

  int fds_at_end = smoke::count_fds();
  smoke::check(fds_at_start > 0 && fds_at_end == fds_at_start, "no fd leaked: %d open at the end, %d at the start",
               fds_at_end, fds_at_start);
  printf("1..%d\n", smoke::checks);
  return smoke::failures == 0 ? 0 : 1;
}
