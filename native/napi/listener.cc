// Listener (JS: new addon.Listener(fd, onAccept, onError)): a listening Unix socket that accepts
// connections as they arrive and reports each with its peer's credentials.
#include <errno.h>

#include "../socket.h"
#include "handle.h"

namespace fdwire {
namespace {

class Listener : public HandleWrap<Listener> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Listener",
                       {
                           InstanceMethod<&Listener::Pause>("pause"),
                           InstanceMethod<&Listener::Resume>("resume"),
                           InstanceMethod("ref", &Listener::JsRef),
                           InstanceMethod("unref", &Listener::JsUnref),
                           InstanceMethod("close", &Listener::JsClose),
                       });
  }

  // new Listener(fd, onAccept(fd, pid, uid, gid), onError(errno))
  explicit Listener(const Napi::CallbackInfo& info) : HandleWrap<Listener>(info, "fdwire.Listener") {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !is_int(info[0]) || !info[1].IsFunction() || !info[2].IsFunction()) {
      type_error(env, "Listener(fd, onAccept, onError)");
      return;
    }
    fd_ = int_value(info[0]);
    on_accept_ = Napi::Persistent(info[1].As<Napi::Function>());
    on_error_ = Napi::Persistent(info[2].As<Napi::Function>());
    if (!opened(env, open_poll(env), "uv_poll_init failed")) return;
    set_events(UV_READABLE);
  }

  ~Listener() override { release(); }

 private:
  // The callbacks close over the JS Listener: let go of them at close (see Connection).
  void free_native() override {
    on_accept_.Reset();
    on_error_.Reset();
  }

  void on_poll(int status, int) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      set_events(0);
      call(env, on_error_, {Napi::Number::New(env, -status)});
      return;
    }
    // One connection per wake-up. The JS side reads a connection's first frame within this call,
    // so a handler that answers at once has replied before accept4(2) would be called again. A
    // client that closes and connects again at once (a loop of short connections) then keeps the
    // listen socket readable: looping here accepted its next connection before the end of the
    // previous one was read, and the open connections piled up until the daemon's limit refused
    // one, though the client held one at a time. Returning lets the event loop handle the other
    // sockets' events between two accepts (a connection that ended is closed before the one after
    // the next is accepted); the poll is level-triggered, so a connection still queued is accepted
    // on the next turn. A burst of N connections costs N wake-ups, next to N first frames handled.
    while (!closed_ && !paused_) {
      int fd = accept_unix(fd_);
      if (fd == -EAGAIN) return;
      if (fd < 0) {
        // EMFILE and friends leave the listen socket readable: stop polling, or we would spin.
        // The JS side resumes after a pause.
        set_events(0);
        paused_ = true;
        call(env, on_error_, {Napi::Number::New(env, -fd)});
        return;
      }
      PeerCredentials cred{};
      int err = peer_credentials(fd, &cred);
      if (err < 0) {
        close_fd(fd);  // the peer is already gone: try the next one
        continue;
      }
      call(env, on_accept_,
           {Napi::Number::New(env, fd), Napi::Number::New(env, cred.pid), Napi::Number::New(env, cred.uid),
            Napi::Number::New(env, cred.gid)});
      return;
    }
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    paused_ = true;
    if (!closed_) set_events(0);
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    paused_ = false;
    if (!closed_) set_events(UV_READABLE);
    return info.Env().Undefined();
  }

  bool paused_ = false;
  Napi::FunctionReference on_accept_;
  Napi::FunctionReference on_error_;
};

}  // namespace

Napi::Function define_listener(Napi::Env env) { return Listener::Define(env); }

}  // namespace fdwire
