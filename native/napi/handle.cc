// Handle's libuv half (see handle.h): opening, polling and closing a uv_poll_t or uv_signal_t on the
// env's loop, and the per-env bookkeeping that lets a worker thread's env finish only after every
// handle it opened has been closed.
#include "handle.h"

#include <errno.h>

#include <unordered_set>
#include <vector>

#include "../socket.h"

namespace fdwire {

// Per-env bookkeeping: which handles are open, and the async cleanup hook that waits for them.
struct EnvState {
  std::unordered_set<Handle*> handles;
  napi_async_cleanup_hook_handle cleanup_hook = nullptr;
  size_t closing = 0;  // uv_close callbacks still to come while the env is being torn down
  bool tearing_down = false;
};

// A handle's libuv half: a uv_poll_t for an fd, or a uv_signal_t (ProcessWatch without an exit fd).
struct PollBox {
  union {
    uv_handle_t handle;
    uv_poll_t poll;
    uv_signal_t signal;
  };
  EnvState* state;
};

namespace {

void finish_teardown_if_done(EnvState* state) {
  if (state->tearing_down && state->closing == 0 && state->cleanup_hook != nullptr) {
    napi_async_cleanup_hook_handle hook = state->cleanup_hook;
    state->cleanup_hook = nullptr;
    napi_remove_async_cleanup_hook(hook);
  }
}

void on_poll_closed(uv_handle_t* handle) {
  PollBox* box = static_cast<PollBox*>(handle->data);
  EnvState* state = box->state;
  delete box;
  if (state->tearing_down) {
    state->closing--;
    finish_teardown_if_done(state);
  }
}

void on_env_teardown(napi_async_cleanup_hook_handle, void* arg) {
  EnvState* state = static_cast<EnvState*>(arg);
  state->tearing_down = true;
  std::vector<Handle*> open(state->handles.begin(), state->handles.end());
  for (Handle* handle : open) handle->release();
  finish_teardown_if_done(state);
}

uv_loop_t* env_loop(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return nullptr;
  return loop;
}

PollBox* new_box(Napi::Env env) {
  PollBox* box = new PollBox();
  box->state = env.GetInstanceData<EnvState>();
  return box;
}

}  // namespace

void init_env_state(Napi::Env env) {
  EnvState* state = new EnvState();
  env.SetInstanceData<EnvState>(state);
  napi_add_async_cleanup_hook(env, on_env_teardown, state, &state->cleanup_hook);
}

void Handle::release() {
  if (closed_) return;
  closed_ = true;
  close_poll();
  free_native();
  if (fd_ >= 0) close_fd(fd_);
  fd_ = -1;
}

int Handle::open_poll(Napi::Env env) {
  uv_loop_t* loop = env_loop(env);
  if (loop == nullptr) return -EINVAL;
  PollBox* box = new_box(env);
  int err = uv_poll_init(loop, &box->poll, fd_);
  if (err < 0) {
    delete box;
    return err;
  }
  adopt(box);
  return 0;
}

int Handle::open_signal(Napi::Env env, int signum) {
  uv_loop_t* loop = env_loop(env);
  if (loop == nullptr) return -EINVAL;
  PollBox* box = new_box(env);
  int err = uv_signal_init(loop, &box->signal);
  if (err < 0) {
    delete box;
    return err;
  }
  adopt(box);
  err = uv_signal_start(
      &box->signal,
      [](uv_signal_t* signal, int arrived) {
        Handle* self = static_cast<Handle*>(signal->data);
        if (self != nullptr) self->on_signal(arrived);
      },
      signum);
  if (err < 0) close_poll();
  return err;
}

void Handle::adopt(PollBox* box) {
  box->handle.data = this;
  box_ = box;
  state_ = box->state;
  state_->handles.insert(this);
}

void Handle::start_poll(int events) {
  if (events == 0) {
    uv_poll_stop(&box_->poll);
  } else {
    uv_poll_start(&box_->poll, events, [](uv_poll_t* poll, int status, int ready) {
      Handle* self = static_cast<Handle*>(poll->data);
      if (self != nullptr) self->on_poll(status, ready);
    });
  }
}

void Handle::set_ref(bool ref) {
  if (box_ == nullptr) return;
  uv_handle_t* h = &box_->handle;
  if (ref) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void Handle::close_poll() {
  if (box_ == nullptr) return;
  PollBox* box = box_;
  box_ = nullptr;
  events_ = 0;
  box->handle.data = box;  // from now on data points at the box, for on_poll_closed
  if (box->state->tearing_down) box->state->closing++;
  uv_close(&box->handle, on_poll_closed);
  state_->handles.erase(this);
}

}  // namespace fdwire
