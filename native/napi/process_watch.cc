// ProcessWatch (JS: new addon.ProcessWatch(pid, exitFd, onExit)): reports when a spawned process
// exits. With an exit fd (Linux pidfd, macOS kqueue: native/platform/exit_fd.h) it polls that fd on
// the env's loop; without one (Linux before 5.3) it watches SIGCHLD through libuv, which works in
// worker threads too (process.on('SIGCHLD') does not fire there), and reaps only its own pid on each
// delivery. Either way the handle keeps the loop alive exactly while the process is watched.
#include <signal.h>

#include <utility>

#include "../socket.h"
#include "../spawn.h"
#include "handle.h"

namespace fdwire {
namespace {

class ProcessWatch : public HandleWrap<ProcessWatch> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessWatch",
                       {
                           InstanceMethod("close", &ProcessWatch::JsClose),
                           InstanceMethod("unref", &ProcessWatch::JsUnref),
                       });
  }

  // new ProcessWatch(pid, exitFd | -1, onExit(status, signal))
  explicit ProcessWatch(const Napi::CallbackInfo& info) : HandleWrap<ProcessWatch>(info, "fdwire.ProcessWatch") {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !is_int(info[0]) || !is_int(info[1]) || !info[2].IsFunction()) {
      type_error(env, "ProcessWatch(pid, exitFd, onExit)");
      return;
    }
    pid_ = int_value(info[0]);
    fd_ = int_value(info[1]);
    on_exit_ = Napi::Persistent(info[2].As<Napi::Function>());
    bool polled = fd_ >= 0;
    int err = polled ? open_poll(env) : open_signal(env, SIGCHLD);
    if (!opened(env, err, polled ? "uv_poll_init failed" : "uv_signal_start failed")) {
      if (polled) close_fd(fd_);  // the exit fd is the watch's from the start
      fd_ = -1;
      return;
    }
    if (polled) set_events(UV_READABLE);
  }

  ~ProcessWatch() override { release(); }

 private:
  // The callback closes over the JS side: let go of it at close (see Connection).
  void free_native() override { on_exit_.Reset(); }

  void on_poll(int, int) override {
    consume_process_fd(fd_);
    int status = 0;
    int signal_number = 0;
    int done = reap_process(pid_, &status, &signal_number);
    if (done == 0) {
      // Woken a moment before the process can be reaped (macOS): wake again shortly, never spin.
      if (rearm_process_fd(fd_) == 0) return;
      done = -1;
    }
    finish(done, status, signal_number);
  }

  void on_signal(int) override {
    int status = 0;
    int signal_number = 0;
    int done = reap_process(pid_, &status, &signal_number);
    if (done == 0) return;  // another child of this process changed state
    finish(done, status, signal_number);
  }

  void finish(int done, int status, int signal_number) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::FunctionReference on_exit = std::move(on_exit_);  // drop() lets go of on_exit_
    drop();
    if (done < 0) {
      status = -1;  // someone else reaped it (-ECHILD): the status is lost
      signal_number = 0;
    }
    call(env, on_exit, {Napi::Number::New(env, status), Napi::Number::New(env, signal_number)});
  }

  int pid_ = -1;
  Napi::FunctionReference on_exit_;
};

}  // namespace

Napi::Function define_process_watch(Napi::Env env) { return ProcessWatch::Define(env); }

}  // namespace fdwire
