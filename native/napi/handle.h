// The native half every addon class shares, and the JS object around it.
//
// Handle: an fd watched by a uv_poll_t, or a signal watched by a uv_signal_t, on the loop of the env
// that created it (napi_get_uv_event_loop), so sockets work in worker_threads and never touch
// Node's own stream machinery (libuv's read() would drop ancillary data and the fds in it). Each
// libuv handle lives in a heap box freed by its uv_close callback: closed exactly once, never
// touched after. An async env cleanup hook releases every live Handle when an env (a worker thread)
// goes away, and lets the env finish only after the last uv_close callback ran (handle.cc).
//
// HandleWrap<T>: the Napi::ObjectWrap of a Handle, with what Connection, Listener and ProcessWatch
// do alike written once: keeping the JS object alive while the handle is open, and the JS methods
// ref(), unref() and close().
#pragma once

#include <napi.h>
#include <uv.h>

#include <initializer_list>

#include "addon.h"

namespace fdwire {

struct EnvState;
struct PollBox;

// Creates the env's bookkeeping and registers its cleanup hook (module init, once per env).
void init_env_state(Napi::Env env);

class Handle {
 public:
  virtual ~Handle() = default;

  // Releases everything native: the libuv handle, what free_native() frees, then fd_ when it is
  // still ours (>= 0). Idempotent; never calls into JS.
  void release();

 protected:
  // Starts watching fd_ (no events yet: set_events). 0 or a negative libuv error.
  int open_poll(Napi::Env env);

  // Instead of an fd: on_signal() runs on the env's loop each time `signum` arrives. libuv delivers
  // a signal to every handle watching it, on every loop, besides Node's own listeners.
  int open_signal(Napi::Env env, int signum);

  // UV_READABLE | UV_WRITABLE, or 0 to stop polling.
  void set_events(int events) {
    if (box_ == nullptr || events == events_) return;
    events_ = events;
    start_poll(events);
  }

  // Whether the handle keeps the event loop alive (uv_ref / uv_unref).
  void set_ref(bool ref);

  // Closes the libuv handle (once), leaving the fd open.
  void close_poll();

  virtual void on_poll(int status, int events) = 0;
  virtual void on_signal(int) {}
  // What release() frees besides the libuv handle and fd_.
  virtual void free_native() {}

  int fd_ = -1;
  bool closed_ = false;

 private:
  void start_poll(int events);
  // Makes `box`, just initialised, this handle's: its callbacks reach this object from now on.
  void adopt(PollBox* box);

  PollBox* box_ = nullptr;
  EnvState* state_ = nullptr;
  int events_ = 0;
};

template <class T>
class HandleWrap : public Napi::ObjectWrap<T>, public Handle {
 protected:
  // `resource_name` names the async resource JS callbacks run in (async_hooks).
  HandleWrap(const Napi::CallbackInfo& info, const char* resource_name)
      : Napi::ObjectWrap<T>(info), context_(info.Env(), resource_name) {}

  // Ends a constructor, with what open_poll/open_signal returned. Opened: the JS object stays alive
  // while its handle can still deliver events, until drop(). Not opened: the object is left closed
  // (its fd untouched) and an Error with `message` and `errno` (the libuv error) is thrown.
  bool opened(Napi::Env env, int err, const char* message) {
    if (err < 0) {
      closed_ = true;
      Napi::Error error = Napi::Error::New(env, message);
      error.Set("errno", Napi::Number::New(env, err));
      error.ThrowAsJavaScriptException();
      return false;
    }
    Napi::ObjectWrap<T>::Ref();
    return true;
  }

  // Releases everything native and lets the JS object be collected. Idempotent.
  void drop() {
    if (closed_) return;
    release();
    Napi::ObjectWrap<T>::Unref();
  }

  // Calls one of this handle's JS callbacks from a libuv callback (see call_js).
  void call(Napi::Env env, const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
    call_js(env, fn, context_, args);
  }

  // The same, with this handle's JS object as `this`.
  void call_own(Napi::Env env, const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
    call_js(env, fn, context_, args, Napi::ObjectWrap<T>::Value());
  }

  // The JS methods ref(), unref() and close(), for each class's DefineClass list:
  // InstanceMethod("ref", &T::JsRef) (a pointer to a base's member cannot be a template argument).
  Napi::Value JsRef(const Napi::CallbackInfo& info) {
    set_ref(true);
    return info.Env().Undefined();
  }

  Napi::Value JsUnref(const Napi::CallbackInfo& info) {
    set_ref(false);
    return info.Env().Undefined();
  }

  Napi::Value JsClose(const Napi::CallbackInfo& info) {
    drop();
    return info.Env().Undefined();
  }

  Napi::AsyncContext context_;
};

}  // namespace fdwire
