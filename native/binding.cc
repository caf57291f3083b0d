// The Node-API face of the native core, and the only file that includes napi.h.
//
// Readiness comes from a uv_poll_t on the loop of the env that created the handle
// (napi_get_uv_event_loop), so sockets work in worker_threads and never touch Node's own stream
// machinery (libuv's read() would drop ancillary data and the fds in it). Each uv_poll_t lives in a
// heap box freed by its uv_close callback: closed exactly once, never touched after. An async env
// cleanup hook closes every live handle when an env (a worker thread) goes away, and lets the env
// finish only after the last uv_close callback ran.
//
// Errors: functions return -errno or protocol codes as plain numbers; src/errors.ts turns them into
// Error objects with code/errno/syscall. Only misuse by our own TS layer (wrong argument types)
// throws here, as a TypeError.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "frame.h"
#include "platform.h"
#include "platform/socket.h"
#include "reader.h"
#include "socket.h"
#include "spawn.h"
#include "writer.h"

namespace fdwire {
namespace {

class Handle;

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

// Base of Connection and Listener: an fd with a poll handle on the env's loop.
class Handle {
 public:
  virtual ~Handle() = default;
  // Releases everything native (poll, fd, queued fds). Idempotent; never calls into JS.
  virtual void release() = 0;

 protected:
  int open_poll(Napi::Env env, EnvState* state, int fd) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -EINVAL;
    PollBox* box = new PollBox();
    box->state = state;
    int err = uv_poll_init(loop, &box->poll, fd);
    if (err < 0) {
      delete box;
      return err;
    }
    box->poll.data = this;
    box_ = box;
    state_ = state;
    state->handles.insert(this);
    return 0;
  }

  // Instead of an fd: on_signal() runs on the env's loop each time `signum` arrives. libuv delivers
  // a signal to every handle watching it, on every loop, besides Node's own listeners.
  int open_signal(Napi::Env env, EnvState* state, int signum) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -EINVAL;
    PollBox* box = new PollBox();
    box->state = state;
    int err = uv_signal_init(loop, &box->signal);
    if (err < 0) {
      delete box;
      return err;
    }
    box->signal.data = this;
    err = uv_signal_start(
        &box->signal,
        [](uv_signal_t* signal, int signum) {
          Handle* self = static_cast<Handle*>(signal->data);
          if (self != nullptr) self->on_signal(signum);
        },
        signum);
    if (err < 0) {
      box->signal.data = box;
      if (state->tearing_down) state->closing++;
      uv_close(&box->handle, on_poll_closed);
      return err;
    }
    box_ = box;
    state_ = state;
    state->handles.insert(this);
    return 0;
  }

  void set_events(int events) {
    if (box_ == nullptr || events == events_) return;
    events_ = events;
    if (events == 0) {
      uv_poll_stop(&box_->poll);
    } else {
      uv_poll_start(&box_->poll, events, [](uv_poll_t* poll, int status, int ready) {
        Handle* self = static_cast<Handle*>(poll->data);
        if (self != nullptr) self->on_poll(status, ready);
      });
    }
  }

  void set_ref(bool ref) {
    if (box_ == nullptr) return;
    uv_handle_t* h = &box_->handle;
    if (ref) {
      uv_ref(h);
    } else {
      uv_unref(h);
    }
  }

  void close_poll() {
    if (box_ == nullptr) return;
    PollBox* box = box_;
    box_ = nullptr;
    events_ = 0;
    box->handle.data = box;  // from now on data points at the box, for on_poll_closed
    if (box->state->tearing_down) box->state->closing++;
    uv_close(&box->handle, on_poll_closed);
    state_->handles.erase(this);
  }

  virtual void on_poll(int status, int events) = 0;
  virtual void on_signal(int) {}

  EnvState* state_ = nullptr;

 private:
  PollBox* box_ = nullptr;
  int events_ = 0;
};

void on_env_teardown(napi_async_cleanup_hook_handle, void* arg) {
  EnvState* state = static_cast<EnvState*>(arg);
  state->tearing_down = true;
  std::vector<Handle*> open(state->handles.begin(), state->handles.end());
  for (Handle* handle : open) handle->release();
  finish_teardown_if_done(state);
}

EnvState* env_state(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

// Calls a JS callback from a libuv callback. An exception thrown by it cannot propagate into libuv:
// it becomes an uncaught exception, as a throwing 'data' listener would in Node.
void call_js(Napi::Env env, const Napi::FunctionReference& fn, Napi::AsyncContext& context,
             const std::initializer_list<napi_value>& args) {
  fn.MakeCallback(env.Global(), args, context);
  if (env.IsExceptionPending()) {
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
  }
}

bool is_int(const Napi::Value& v) { return v.IsNumber(); }

Napi::Value type_error(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// Connection: one connected stream socket that reads and writes frames.

enum EventKind { kEventEnd = 1, kEventError = 2, kEventProtocol = 3, kEventDrain = 4 };

constexpr size_t kMetaWords = 5;  // offset, length, id, type, fd_count

class Connection : public Napi::ObjectWrap<Connection>, public Handle {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Connection",
                       {
                           InstanceMethod<&Connection::Send>("send"),
                           InstanceMethod<&Connection::Shutdown>("shutdown"),
                           InstanceMethod<&Connection::Pause>("pause"),
                           InstanceMethod<&Connection::Resume>("resume"),
                           InstanceMethod<&Connection::JsRef>("ref"),
                           InstanceMethod<&Connection::JsUnref>("unref"),
                           InstanceMethod<&Connection::Close>("close"),
                           InstanceMethod<&Connection::Detach>("detach"),
                           InstanceMethod<&Connection::QueuedBytes>("queuedBytes"),
                           InstanceMethod<&Connection::Cork>("cork"),
                           InstanceMethod<&Connection::Uncork>("uncork"),
                           InstanceMethod<&Connection::ReadNow>("readNow"),
                       });
  }

  // new Connection(fd, maxPayload, maxFdsPerFrame, bufferSize, meta: Uint32Array,
  //                fdsOut: Int32Array, onFrames(buffer, frames, fds), onEvent(kind, value, detail))
  explicit Connection(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<Connection>(info), context_(info.Env(), "fdwire.Connection") {
    Napi::Env env = info.Env();
    if (info.Length() < 8 || !is_int(info[0]) || !is_int(info[1]) || !is_int(info[2]) ||
        !is_int(info[3]) || !info[4].IsTypedArray() || !info[5].IsTypedArray() ||
        !info[6].IsFunction() || !info[7].IsFunction()) {
      type_error(env, "Connection(fd, maxPayload, maxFds, bufferSize, meta, fdsOut, onFrames, onEvent)");
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    Limits limits{info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::Number>().Uint32Value()};
    size_t buffer_size = info[3].As<Napi::Number>().Uint32Value();
    Napi::Uint32Array meta = info[4].As<Napi::Uint32Array>();
    Napi::Int32Array fds_out = info[5].As<Napi::Int32Array>();
    if (fds_out.ElementLength() < static_cast<size_t>(kMaxFdsPerSend) ||
        meta.ElementLength() < kMetaWords) {
      type_error(env, "meta/fdsOut arrays too small");
      return;
    }
    meta_ = meta.Data();
    meta_capacity_ = meta.ElementLength() / kMetaWords;
    fds_out_ = fds_out.Data();
    fds_capacity_ = fds_out.ElementLength();
    meta_ref_ = Napi::Persistent(meta.As<Napi::Object>());
    fds_ref_ = Napi::Persistent(fds_out.As<Napi::Object>());
    on_frames_ = Napi::Persistent(info[6].As<Napi::Function>());
    on_event_ = Napi::Persistent(info[7].As<Napi::Function>());
    reader_ = std::make_unique<FrameReader>(limits, buffer_size);
    writer_ = std::make_unique<FrameWriter>();
    int err = open_poll(env, env_state(env), fd_);
    if (err < 0) {
      // The fd stays the caller's to close: report and leave this object closed.
      closed_ = true;
      Napi::Error e = Napi::Error::New(env, "uv_poll_init failed");
      e.Set("errno", Napi::Number::New(env, err));
      e.ThrowAsJavaScriptException();
      return;
    }
    Napi::ObjectWrap<Connection>::Ref();  // an open connection stays alive while its socket can still deliver events
    update_poll();
  }

  ~Connection() override { release(); }

  void release() override {
    if (closed_) return;
    closed_ = true;
    close_poll();
    reader_.reset();  // closes fds received but not handed to JS
    writer_.reset();  // closes fds of frames never sent
    close_fd(fd_);
    fd_ = -1;
    buffer_ref_.Reset();
  }

 private:
  void update_poll() {
    if (closed_) return;
    int events = 0;
    if (reading_ && !eof_) events |= UV_READABLE;
    if (writer_->queued_frames() > 0 && !writer_->corked()) events |= UV_WRITABLE;
    set_events(events);
  }

  void on_poll(int status, int events) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      // libuv passes EPOLLERR on as a bare UV_EBADF (and stops watching). On a socket it means a
      // pending error, typically ECONNRESET: the peer went away with data unread, or its listener
      // closed with us still in the backlog. Report that error as a read would have met it.
      int pending = take_socket_error(fd_);
      if (pending > 0) {
        emit(env, kEventError, pending, "read");
      } else {
        emit(env, kEventError, -status, "poll");
      }
      return;
    }
    if (events & UV_WRITABLE) {
      on_writable(env);
      if (closed_) return;
    }
    if (events & (UV_READABLE | UV_DISCONNECT)) on_readable(env);
  }

  void on_writable(Napi::Env env) {
    int64_t left = writer_->flush(fd_);
    if (left < 0) {
      emit(env, kEventError, static_cast<int>(-left), "write");
      return;
    }
    if (left > 0) return;
    update_poll();
    if (shutdown_requested_) {
      int err = shutdown_write(fd_);
      if (err < 0) {
        emit(env, kEventError, -err, "shutdown");
        return;
      }
    }
    emit(env, kEventDrain, 0, nullptr);
  }

  void on_readable(Napi::Env env) {
    // Bounded work per wakeup so one busy peer cannot starve the loop.
    for (int reads = 0; reads < 64; reads++) {
      if (closed_ || !reading_ || eof_) return;
      size_t needed = reader_->buffer_needed();
      if (needed > 0) {
        if (!deliver(env)) return;
        if (closed_ || !reading_) return;
        Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, needed);
        if (env.IsExceptionPending()) {
          env.GetAndClearPendingException();
          emit(env, kEventError, ENOMEM, "read");
          return;
        }
        buffer_ref_.Reset(buffer, 1);
        reader_->use_buffer(buffer.Data(), needed);
      }
      size_t asked = reader_->write_space();
      FrameReader::Result result = reader_->read_once(fd_);
      switch (result.status) {
        case FrameReader::Status::kData:
          // A short read drained the socket: stop here rather than pay for a recvmsg that can
          // only say EAGAIN. The poll is level-triggered, so anything arriving meanwhile wakes us.
          if (static_cast<size_t>(result.value) < asked) {
            deliver(env);
            return;
          }
          continue;
        case FrameReader::Status::kWouldBlock:
          deliver(env);
          return;
        case FrameReader::Status::kEof:
          if (!deliver(env)) return;
          eof_ = true;
          update_poll();
          emit(env, kEventEnd, 0, nullptr);
          return;
        case FrameReader::Status::kError:
          if (!deliver(env)) return;
          emit(env, kEventError, result.value, "read");
          return;
        case FrameReader::Status::kProtocol: {
          eof_ = true;
          update_poll();
          ProtocolError error = static_cast<ProtocolError>(result.value);
          emit(env, kEventProtocol, result.value, protocol_error_name(error));
          return;
        }
      }
    }
    deliver(env);
  }

  // Hands completed frames to JS, which owns their fds from then on. Returns false when the JS
  // side closed the connection meanwhile (the undelivered frames' fds are closed here).
  bool deliver(Napi::Env env) {
    if (reader_->frames().empty()) return true;
    std::vector<ReceivedFrame> frames = reader_->frames();
    std::vector<int> fds = reader_->fds();
    reader_->clear_frames();
    Napi::Value buffer = buffer_ref_.Value();
    size_t frame_index = 0;
    size_t fd_index = 0;
    while (frame_index < frames.size()) {
      if (closed_) break;
      size_t count = 0;
      size_t fd_count = 0;
      while (frame_index + count < frames.size() && count < meta_capacity_) {
        const ReceivedFrame& frame = frames[frame_index + count];
        if (fd_count + frame.fd_count > fds_capacity_) break;
        uint32_t* m = meta_ + count * kMetaWords;
        m[0] = frame.offset;
        m[1] = frame.length;
        m[2] = frame.id;
        m[3] = frame.type;
        m[4] = frame.fd_count;
        for (size_t k = 0; k < frame.fd_count; k++) fds_out_[fd_count + k] = fds[fd_index + fd_count + k];
        fd_count += frame.fd_count;
        count++;
      }
      frame_index += count;
      fd_index += fd_count;
      call_js(env, on_frames_, context_,
              {buffer, Napi::Number::New(env, static_cast<double>(count)),
               Napi::Number::New(env, static_cast<double>(fd_count))});
    }
    for (size_t i = fd_index; i < fds.size(); i++) close_fd(fds[i]);
    return !closed_;
  }

  void emit(Napi::Env env, EventKind kind, int value, const char* detail) {
    if (closed_) return;
    if (kind == kEventError) {
      // A socket error ends reading; the JS side decides what to close.
      eof_ = true;
      update_poll();
    }
    call_js(env, on_event_, context_,
            {Napi::Number::New(env, kind), Napi::Number::New(env, value),
             detail != nullptr ? Napi::String::New(env, detail) : env.Undefined()});
  }

  // send(payload: Uint8Array | null, id, type, fds: Int32Array | null, takeFds: boolean)
  //   -> bytes still queued (0 = all sent) or -errno
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !is_int(info[1]) || !is_int(info[2])) {
      return type_error(env, "send(payload, id, type, fds, takeFds)");
    }
    const uint8_t* data = nullptr;
    size_t length = 0;
    if (info[0].IsTypedArray()) {
      Napi::Uint8Array payload = info[0].As<Napi::Uint8Array>();
      data = payload.Data();
      length = payload.ByteLength();
    }
    const int* fds = nullptr;
    size_t fd_count = 0;
    if (info[3].IsTypedArray()) {
      Napi::Int32Array array = info[3].As<Napi::Int32Array>();
      fds = array.Data();
      fd_count = array.ElementLength();
    }
    bool take_fds = info[4].ToBoolean().Value();
    if (closed_ || shutdown_requested_) {
      if (take_fds) {
        for (size_t i = 0; i < fd_count; i++) close_fd(fds[i]);
      }
      return Napi::Number::New(env, closed_ ? -EBADF : -EPIPE);
    }
    if (length > 0xFFFFFFFFu || fd_count > static_cast<size_t>(kMaxFdsPerSend)) {
      if (take_fds) {
        for (size_t i = 0; i < fd_count; i++) close_fd(fds[i]);
      }
      return Napi::Number::New(env, -EINVAL);
    }
    FrameHeader header{static_cast<uint32_t>(length), info[1].As<Napi::Number>().Uint32Value(),
                       static_cast<uint16_t>(info[2].As<Napi::Number>().Uint32Value()),
                       static_cast<uint8_t>(fd_count)};
    int64_t result = writer_->send(fd_, header, data, fds, fd_count, take_fds);
    if (result > 0) update_poll();
    return Napi::Number::New(env, static_cast<double>(result));
  }

  // shutdown(): half-close our side once everything queued is sent. Returns 0 or -errno.
  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return Napi::Number::New(env, -EBADF);
    if (shutdown_requested_) return Napi::Number::New(env, 0);
    shutdown_requested_ = true;
    if (writer_->queued_frames() > 0) return Napi::Number::New(env, 0);
    return Napi::Number::New(env, shutdown_write(fd_));
  }

  // cork(): frames sent from now on are queued, not written, until uncork().
  Napi::Value Cork(const Napi::CallbackInfo& info) {
    if (!closed_) writer_->set_corked(true);
    return info.Env().Undefined();
  }

  // uncork(): writes what was queued (several frames per sendmsg), then as after a writable
  // event: a requested half-close follows the last byte, 'drain' when everything went.
  Napi::Value Uncork(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_ || !writer_->corked()) return env.Undefined();
    writer_->set_corked(false);
    if (writer_->queued_frames() > 0) {
      on_writable(env);
      if (!closed_) update_poll();
    }
    return env.Undefined();
  }

  // readNow(): reads what the socket holds right now, as a readable event would, instead of
  // waiting for the next turn of the event loop (e.g. a request sent right after connect()).
  Napi::Value ReadNow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!closed_) on_readable(env);
    return env.Undefined();
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    reading_ = false;
    update_poll();
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    reading_ = true;
    update_poll();
    return info.Env().Undefined();
  }

  Napi::Value JsRef(const Napi::CallbackInfo& info) {
    set_ref(true);
    return info.Env().Undefined();
  }

  Napi::Value JsUnref(const Napi::CallbackInfo& info) {
    set_ref(false);
    return info.Env().Undefined();
  }

  Napi::Value QueuedBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), closed_ ? 0 : static_cast<double>(writer_->queued_bytes()));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      release();
      Napi::ObjectWrap<Connection>::Unref();
    }
    return info.Env().Undefined();
  }

  // detach() -> fd | -errno: stops watching the socket and gives its fd back, open, untouched.
  // -EBUSY when bytes were already read or are still queued: they would be lost with the handover.
  Napi::Value Detach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return Napi::Number::New(env, -EBADF);
    if (reader_->holds_data() || writer_->queued_frames() > 0) return Napi::Number::New(env, -EBUSY);
    int fd = fd_;
    fd_ = -1;
    closed_ = true;
    close_poll();
    reader_.reset();
    writer_.reset();
    buffer_ref_.Reset();
    Napi::ObjectWrap<Connection>::Unref();
    return Napi::Number::New(env, fd);
  }

  Napi::AsyncContext context_;
  int fd_ = -1;
  bool closed_ = false;
  bool reading_ = true;
  bool eof_ = false;
  bool shutdown_requested_ = false;
  std::unique_ptr<FrameReader> reader_;
  std::unique_ptr<FrameWriter> writer_;
  Napi::Reference<Napi::Buffer<uint8_t>> buffer_ref_;
  Napi::ObjectReference meta_ref_;
  Napi::ObjectReference fds_ref_;
  uint32_t* meta_ = nullptr;
  size_t meta_capacity_ = 0;
  int32_t* fds_out_ = nullptr;
  size_t fds_capacity_ = 0;
  Napi::FunctionReference on_frames_;
  Napi::FunctionReference on_event_;
};

// ---------------------------------------------------------------------------------------------
// Listener: accepts connections and reports each with its peer's credentials.

class Listener : public Napi::ObjectWrap<Listener>, public Handle {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Listener",
                       {
                           InstanceMethod<&Listener::Pause>("pause"),
                           InstanceMethod<&Listener::Resume>("resume"),
                           InstanceMethod<&Listener::JsRef>("ref"),
                           InstanceMethod<&Listener::JsUnref>("unref"),
                           InstanceMethod<&Listener::Close>("close"),
                       });
  }

  // new Listener(fd, onAccept(fd, pid, uid, gid), onError(errno))
  explicit Listener(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<Listener>(info), context_(info.Env(), "fdwire.Listener") {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !is_int(info[0]) || !info[1].IsFunction() || !info[2].IsFunction()) {
      type_error(env, "Listener(fd, onAccept, onError)");
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    on_accept_ = Napi::Persistent(info[1].As<Napi::Function>());
    on_error_ = Napi::Persistent(info[2].As<Napi::Function>());
    int err = open_poll(env, env_state(env), fd_);
    if (err < 0) {
      closed_ = true;
      Napi::Error::New(env, "uv_poll_init failed").ThrowAsJavaScriptException();
      return;
    }
    Napi::ObjectWrap<Listener>::Ref();
    set_events(UV_READABLE);
  }

  ~Listener() override { release(); }

  void release() override {
    if (closed_) return;
    closed_ = true;
    close_poll();
    close_fd(fd_);
    fd_ = -1;
  }

 private:
  void on_poll(int status, int) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      set_events(0);
      call_js(env, on_error_, context_, {Napi::Number::New(env, -status)});
      return;
    }
    for (int accepted = 0; accepted < 128 && !closed_ && !paused_; accepted++) {
      int fd = accept_unix(fd_);
      if (fd == -EAGAIN) return;
      if (fd < 0) {
        // EMFILE and friends leave the listen socket readable: stop polling, or we would spin.
        // The JS side resumes after a pause.
        set_events(0);
        paused_ = true;
        call_js(env, on_error_, context_, {Napi::Number::New(env, -fd)});
        return;
      }
      PeerCredentials cred{};
      int err = peer_credentials(fd, &cred);
      if (err < 0) {
        close_fd(fd);  // the peer is already gone
        continue;
      }
      call_js(env, on_accept_, context_,
              {Napi::Number::New(env, fd), Napi::Number::New(env, cred.pid),
               Napi::Number::New(env, cred.uid), Napi::Number::New(env, cred.gid)});
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

  Napi::Value JsRef(const Napi::CallbackInfo& info) {
    set_ref(true);
    return info.Env().Undefined();
  }

  Napi::Value JsUnref(const Napi::CallbackInfo& info) {
    set_ref(false);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      release();
      Napi::ObjectWrap<Listener>::Unref();
    }
    return info.Env().Undefined();
  }

  Napi::AsyncContext context_;
  int fd_ = -1;
  bool closed_ = false;
  bool paused_ = false;
  Napi::FunctionReference on_accept_;
  Napi::FunctionReference on_error_;
};

// ---------------------------------------------------------------------------------------------
// ProcessWatch: reports when a spawned process exits. With an exit fd (Linux pidfd, macOS kqueue:
// native/platform/exit_fd.h) it polls that fd on the env's loop; without one (Linux before 5.3) it
// watches SIGCHLD through libuv, which works in worker threads too (process.on('SIGCHLD') does not
// fire there), and reaps only its own pid on each delivery. Either way the handle keeps the loop
// alive exactly while the process is watched.

class ProcessWatch : public Napi::ObjectWrap<ProcessWatch>, public Handle {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessWatch",
                       {
                           InstanceMethod<&ProcessWatch::Close>("close"),
                           InstanceMethod<&ProcessWatch::JsUnref>("unref"),
                       });
  }

  // new ProcessWatch(pid, exitFd | -1, onExit(status, signal))
  explicit ProcessWatch(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<ProcessWatch>(info), context_(info.Env(), "fdwire.ProcessWatch") {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !is_int(info[0]) || !is_int(info[1]) || !info[2].IsFunction()) {
      type_error(env, "ProcessWatch(pid, exitFd, onExit)");
      return;
    }
    pid_ = info[0].As<Napi::Number>().Int32Value();
    fd_ = info[1].As<Napi::Number>().Int32Value();
    on_exit_ = Napi::Persistent(info[2].As<Napi::Function>());
    int err = fd_ >= 0 ? open_poll(env, env_state(env), fd_) : open_signal(env, env_state(env), SIGCHLD);
    if (err < 0) {
      closed_ = true;
      const char* what = fd_ >= 0 ? "uv_poll_init failed" : "uv_signal_start failed";
      if (fd_ >= 0) close_fd(fd_);
      fd_ = -1;
      Napi::Error::New(env, what).ThrowAsJavaScriptException();
      return;
    }
    Napi::ObjectWrap<ProcessWatch>::Ref();
    if (fd_ >= 0) set_events(UV_READABLE);
  }

  ~ProcessWatch() override { release(); }

  void release() override {
    if (closed_) return;
    closed_ = true;
    close_poll();
    if (fd_ >= 0) close_fd(fd_);
    fd_ = -1;
  }

 private:
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
    release();
    Napi::ObjectWrap<ProcessWatch>::Unref();
    if (done < 0) {
      status = -1;  // someone else reaped it (-ECHILD): the status is lost
      signal_number = 0;
    }
    call_js(env, on_exit_, context_, {Napi::Number::New(env, status), Napi::Number::New(env, signal_number)});
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      release();
      Napi::ObjectWrap<ProcessWatch>::Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value JsUnref(const Napi::CallbackInfo& info) {
    set_ref(false);
    return info.Env().Undefined();
  }

  Napi::AsyncContext context_;
  int pid_ = -1;
  int fd_ = -1;
  bool closed_ = false;
  Napi::FunctionReference on_exit_;
};

bool get_strings(const Napi::Value& value, std::vector<std::string>* out) {
  if (!value.IsArray()) return false;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) return false;
    out->push_back(item.As<Napi::String>().Utf8Value());
  }
  return true;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (std::string& s : strings) result.push_back(&s[0]);
  result.push_back(nullptr);
  return result;
}

// spawn(path, argv: string[], env: string[], cwd: string | null, umask: number, stdio: Int32Array(3),
//       newProcessGroup: boolean) -> pid | -errno
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> argv, envp;
  if (info.Length() < 7 || !info[0].IsString() || !get_strings(info[1], &argv) || !get_strings(info[2], &envp) ||
      !is_int(info[4]) || !info[5].IsTypedArray()) {
    return type_error(env, "spawn(path, argv, env, cwd, umask, stdio, newProcessGroup)");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string cwd = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : std::string();
  Napi::Int32Array stdio = info[5].As<Napi::Int32Array>();
  if (stdio.ElementLength() != 3) return type_error(env, "stdio must hold 3 fds");
  std::vector<char*> argv_ptrs = pointers(argv);
  std::vector<char*> envp_ptrs = pointers(envp);
  SpawnRequest request{path.c_str(), argv_ptrs.data(), envp_ptrs.data(),
                       info[3].IsString() ? cwd.c_str() : nullptr, info[4].As<Napi::Number>().Int32Value(),
                       {stdio[0], stdio[1], stdio[2]}, info[6].ToBoolean().Value()};
  return Napi::Number::New(env, spawn_process(request));
}

// exitFd(pid) -> exit fd (Linux pidfd, macOS kqueue) | -errno (-ENOSYS: Linux without pidfd_open)
Napi::Value ExitFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !is_int(info[0])) return type_error(env, "exitFd(pid)");
  return Napi::Number::New(env, open_process_fd(info[0].As<Napi::Number>().Int32Value()));
}

// reap(pid) -> [status, signal] when it ended | 0 while running | -errno
Napi::Value Reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !is_int(info[0])) return type_error(env, "reap(pid)");
  int status = 0, signal_number = 0;
  int done = reap_process(info[0].As<Napi::Number>().Int32Value(), &status, &signal_number);
  if (done <= 0) return Napi::Number::New(env, done);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, status));
  result.Set(1u, Napi::Number::New(env, signal_number));
  return result;
}

// ---------------------------------------------------------------------------------------------
// Plain functions.

bool get_name(const Napi::Value& value, const char** data, size_t* len) {
  if (!value.IsTypedArray()) return false;
  Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
  *data = reinterpret_cast<const char*>(bytes.Data());
  *len = bytes.ByteLength();
  return true;
}

// listen(name: Uint8Array, abstract: boolean, backlog: number, mode: number) -> fd | -errno
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* name;
  size_t len;
  if (info.Length() < 4 || !get_name(info[0], &name, &len) || !is_int(info[2]) || !is_int(info[3])) {
    return type_error(env, "listen(name, abstract, backlog, mode)");
  }
  int fd = listen_unix(name, len, info[1].ToBoolean().Value(), info[2].As<Napi::Number>().Int32Value(),
                       info[3].As<Napi::Number>().Uint32Value());
  return Napi::Number::New(env, fd);
}

// connect(name: Uint8Array, abstract: boolean) -> fd | -errno
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* name;
  size_t len;
  if (info.Length() < 2 || !get_name(info[0], &name, &len)) return type_error(env, "connect(name, abstract)");
  return Napi::Number::New(env, connect_unix(name, len, info[1].ToBoolean().Value()));
}

Napi::Value pair_result(Napi::Env env, int err, const int fds[2]) {
  if (err < 0) return Napi::Number::New(env, err);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, fds[0]));
  result.Set(1u, Napi::Number::New(env, fds[1]));
  return result;
}

// socketPair() -> [fd, fd] | -errno
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  int fds[2];
  int err = socket_pair(fds);
  return pair_result(info.Env(), err, fds);
}

// pipe() -> [readFd, writeFd] | -errno
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  int err = make_pipe(fds);
  return pair_result(info.Env(), err, fds);
}

// close(fd) -> 0 | -errno
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !is_int(info[0])) return type_error(env, "close(fd)");
  return Napi::Number::New(env, close_fd(info[0].As<Napi::Number>().Int32Value()));
}

// dup(fd) -> new fd (close-on-exec) | -errno
Napi::Value Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !is_int(info[0])) return type_error(env, "dup(fd)");
  return Napi::Number::New(env, dup_cloexec(info[0].As<Napi::Number>().Int32Value()));
}

// prepareSocket(fd) -> 0 | -errno
Napi::Value PrepareSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !is_int(info[0])) return type_error(env, "prepareSocket(fd)");
  return Napi::Number::New(env, prepare_socket(info[0].As<Napi::Number>().Int32Value()));
}

// flock(fd, exclusive, unlock) -> 0 | -errno (-EAGAIN: held by another open file description)
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !is_int(info[0])) return type_error(env, "flock(fd, exclusive, unlock)");
  return Napi::Number::New(env, lock_file(info[0].As<Napi::Number>().Int32Value(),
                                          info[1].ToBoolean().Value(), info[2].ToBoolean().Value()));
}

// isCloexec(fd) -> 1 | 0 | -errno
Napi::Value IsCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !is_int(info[0])) return type_error(env, "isCloexec(fd)");
  return Napi::Number::New(env, is_cloexec(info[0].As<Napi::Number>().Int32Value()));
}

// peerCredentials(fd) -> [pid, uid, gid] | -errno
Napi::Value PeerCreds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !is_int(info[0])) return type_error(env, "peerCredentials(fd)");
  PeerCredentials cred{};
  int err = peer_credentials(info[0].As<Napi::Number>().Int32Value(), &cred);
  if (err < 0) return Napi::Number::New(env, err);
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Napi::Number::New(env, cred.pid));
  result.Set(1u, Napi::Number::New(env, cred.uid));
  result.Set(2u, Napi::Number::New(env, cred.gid));
  return result;
}

// sendRaw(fd, bytes: Uint8Array, fds: Int32Array | null) -> bytes sent | -errno
// One sendmsg with no framing: for tests and for tools that speak to hostile or foreign peers.
Napi::Value SendRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !is_int(info[0]) || !info[1].IsTypedArray()) {
    return type_error(env, "sendRaw(fd, bytes, fds)");
  }
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  const int* fds = nullptr;
  size_t fd_count = 0;
  if (info[2].IsTypedArray()) {
    Napi::Int32Array array = info[2].As<Napi::Int32Array>();
    fds = array.Data();
    fd_count = array.ElementLength();
  }
  if (fd_count > static_cast<size_t>(kMaxFdsPerSend)) return Napi::Number::New(env, -EINVAL);
  iovec iov{bytes.Data(), bytes.ByteLength()};
  int64_t n = send_with_fds(info[0].As<Napi::Number>().Int32Value(), &iov, 1, fds, fd_count);
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvState* state = new EnvState();
  env.SetInstanceData<EnvState>(state);
  napi_add_async_cleanup_hook(env, on_env_teardown, state, &state->cleanup_hook);

  exports.Set("Connection", Connection::Define(env));
  exports.Set("Listener", Listener::Define(env));
  exports.Set("ProcessWatch", ProcessWatch::Define(env));
  exports.Set("spawn", Napi::Function::New<Spawn>(env, "spawn"));
  exports.Set("exitFd", Napi::Function::New<ExitFd>(env, "exitFd"));
  exports.Set("reap", Napi::Function::New<Reap>(env, "reap"));
  exports.Set("listen", Napi::Function::New<Listen>(env, "listen"));
  exports.Set("connect", Napi::Function::New<Connect>(env, "connect"));
  exports.Set("socketPair", Napi::Function::New<SocketPair>(env, "socketPair"));
  exports.Set("pipe", Napi::Function::New<Pipe>(env, "pipe"));
  exports.Set("close", Napi::Function::New<Close>(env, "close"));
  exports.Set("dup", Napi::Function::New<Dup>(env, "dup"));
  exports.Set("prepareSocket", Napi::Function::New<PrepareSocket>(env, "prepareSocket"));
  exports.Set("peerCredentials", Napi::Function::New<PeerCreds>(env, "peerCredentials"));
  exports.Set("flock", Napi::Function::New<Flock>(env, "flock"));
  exports.Set("isCloexec", Napi::Function::New<IsCloexec>(env, "isCloexec"));
  exports.Set("sendRaw", Napi::Function::New<SendRaw>(env, "sendRaw"));
  exports.Set("maxSocketPath", Napi::Number::New(env, static_cast<double>(max_socket_path())));
  exports.Set("headerSize", Napi::Number::New(env, static_cast<double>(kHeaderSize)));
  exports.Set("maxFdsPerFrame", Napi::Number::New(env, kMaxFdsPerSend));
  exports.Set("abstractNamespace", Napi::Boolean::New(env, FDWIRE_ABSTRACT_NAMESPACE != 0));
  return exports;
}

}  // namespace
}  // namespace fdwire

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return fdwire::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitModule)
