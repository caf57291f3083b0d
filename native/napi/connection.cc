// Connection (JS: new addon.Connection(...)): one connected stream socket that reads and writes
// frames. Reading fills a Buffer that JS owns and reports completed frames in batches (their
// offsets, ids, types and fds in the shared `meta` and `fdsOut` arrays); writing sends each frame
// at once when the socket takes it, and queues the rest until the socket is writable again.
// While JS handles a batch of two or more frames, what it sends is held back and leaves in one
// sendmsg(2) when the callback returns (with its microtasks): a peer that pipelines requests gets
// its replies in as few writes, and wake-ups, as it sent them.
#include <errno.h>

#include <memory>
#include <vector>

#include "../frame.h"
#include "../reader.h"
#include "../socket.h"
#include "../writer.h"
#include "handle.h"

namespace fdwire {
namespace {

// What onEvent(kind, value, detail) reports; src/native.ts `NativeEvent` has the same numbers.
enum EventKind { kEventEnd = 1, kEventError = 2, kEventProtocol = 3, kEventDrain = 4 };

// Words per frame in `meta` (src/native.ts `FRAME_RECORD_WORDS`): offset, length, id, type, fd_count.
constexpr size_t kMetaWords = 5;
// Frames and fds one call of onFrames reports at most (a batch with more takes several calls).
constexpr size_t kMetaFrames = 256;
constexpr size_t kFdsOut = 1024;
static_assert(kFdsOut >= static_cast<size_t>(kMaxFdsPerFrame), "a frame's fds fit one call");

// What every connection of an env (one thread) shares.
//
// The frame arrays: where a delivery's frame records and fds go, filled right before onFrames is
// called and read by it before it returns. JS finds them as Connection.frameMeta and
// Connection.frameFds (read-only properties). The env holds them until it is torn down; their
// memory is outside V8's heap and never moves (the data of a typed array that large is a backing
// store of its own).
//
// The callbacks: each pair registered by Connection.callbacks(onFrames, onEvent), which returns
// its number; a connection is made with the number of the pair to call, and the calls get the
// connection's JS object as `this`. A JS layer registers its pair once (two copies of one layer
// in a process, as an ES module and as CommonJS, register one each).
//
// Handing a connection its arrays and two callbacks of its own instead cost four references per
// connection, and two typed-array lookups.
struct ConnectionShared {
  Napi::Reference<Napi::Uint32Array> meta_ref;
  Napi::Reference<Napi::Int32Array> fds_ref;
  uint32_t* meta = nullptr;
  int32_t* fds = nullptr;
  struct Callbacks {
    Napi::FunctionReference on_frames;
    Napi::FunctionReference on_event;
  };
  std::vector<Callbacks> callbacks;
};

void free_shared(void* shared) { delete static_cast<ConnectionShared*>(shared); }

// At most this many pairs of callbacks per env: a layer registers one pair when it loads.
constexpr size_t kMaxCallbackPairs = 64;

class Connection : public HandleWrap<Connection> {
 public:
  static Napi::Function Define(Napi::Env env) {
    auto* shared = new ConnectionShared();
    if (napi_add_env_cleanup_hook(env, free_shared, shared) != napi_ok) {
      delete shared;
      Napi::Error::New(env, "napi_add_env_cleanup_hook failed").ThrowAsJavaScriptException();
      return Napi::Function();
    }
    Napi::Uint32Array meta = Napi::Uint32Array::New(env, kMetaFrames * kMetaWords);
    Napi::Int32Array fds = Napi::Int32Array::New(env, kFdsOut);
    shared->meta_ref = Napi::Persistent(meta);
    shared->fds_ref = Napi::Persistent(fds);
    shared->meta = meta.Data();
    shared->fds = fds.Data();
    Napi::Function constructor =
        DefineClass(env, "Connection",
                    {
                        InstanceMethod<&Connection::Send>("send"),
                        InstanceMethod<&Connection::Shutdown>("shutdown"),
                        InstanceMethod<&Connection::Pause>("pause"),
                        InstanceMethod<&Connection::Resume>("resume"),
                        InstanceMethod("ref", &Connection::JsRef),
                        InstanceMethod("unref", &Connection::JsUnref),
                        InstanceMethod<&Connection::Close>("close"),
                        InstanceMethod<&Connection::Detach>("detach"),
                        InstanceMethod<&Connection::QueuedBytes>("queuedBytes"),
                        InstanceMethod<&Connection::Cork>("cork"),
                        InstanceMethod<&Connection::Uncork>("uncork"),
                        InstanceMethod<&Connection::ReadNow>("readNow"),
                        InstanceMethod<&Connection::WantDrain>("wantDrain"),
                        StaticMethod("callbacks", &Connection::RegisterCallbacks, napi_default, shared),
                    },
                    shared);
    constructor.DefineProperties({Napi::PropertyDescriptor::Value("frameMeta", meta, napi_enumerable),
                                  Napi::PropertyDescriptor::Value("frameFds", fds, napi_enumerable)});
    return constructor;
  }

  // Connection.callbacks(onFrames(buffer, frames, fds), onEvent(kind, value, detail)) -> the
  // number to make connections with; both are called with the connection's JS object as `this`.
  static Napi::Value RegisterCallbacks(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto* shared = static_cast<ConnectionShared*>(info.Data());
    if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsFunction()) {
      return type_error(env, "Connection.callbacks(onFrames, onEvent)");
    }
    if (shared->callbacks.size() >= kMaxCallbackPairs)
      return type_error(env, "Connection.callbacks: too many pairs registered");
    shared->callbacks.push_back(
        {Napi::Persistent(info[0].As<Napi::Function>()), Napi::Persistent(info[1].As<Napi::Function>())});
    return Napi::Number::New(env, static_cast<double>(shared->callbacks.size() - 1));
  }

  // new Connection(fd, maxPayload, maxFdsPerFrame, bufferSize, callbacks): `callbacks` is what
  // Connection.callbacks() returned. Frame records go to Connection.frameMeta, fds to
  // Connection.frameFds.
  explicit Connection(const Napi::CallbackInfo& info) : HandleWrap<Connection>(info, "fdwire.Connection") {
    Napi::Env env = info.Env();
    shared_ = static_cast<ConnectionShared*>(info.Data());
    if (info.Length() < 5 || !is_int(info[0]) || !is_int(info[1]) || !is_int(info[2]) || !is_int(info[3]) ||
        !is_int(info[4]) || int_value(info[4]) < 0 ||
        static_cast<size_t>(int_value(info[4])) >= shared_->callbacks.size()) {
      type_error(env, "Connection(fd, maxPayload, maxFds, bufferSize, callbacks from Connection.callbacks())");
      return;
    }
    fd_ = int_value(info[0]);
    Limits limits{info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::Number>().Uint32Value()};
    size_t buffer_size = info[3].As<Napi::Number>().Uint32Value();
    callbacks_ = static_cast<size_t>(int_value(info[4]));
    reader_ = std::make_unique<FrameReader>(limits, buffer_size);
    writer_ = std::make_unique<FrameWriter>();
    // On failure the fd stays the caller's to close.
    if (!opened(env, open_poll(env), "uv_poll_init failed")) return;
    update_poll();
  }

  ~Connection() override { release(); }

 private:
  // Everything JS is let go of here, at close, not in the destructor: the read buffer, which the
  // connection's messages are views of. The destructor runs from the wrapper's finalizer, after a
  // collection found the wrapper dead; that collection would have marked the buffer live (a
  // strong reference is a root), and it would have outlived it, long enough to be promoted to V8's
  // old generation. (While open, the wrapper itself is held strongly: see HandleWrap::opened. It
  // keeps what JS hangs on it alive, such as the JS object the callbacks reach through it.)
  void free_native() override {
    reader_.reset();  // closes fds received but not handed to JS
    writer_.reset();  // closes fds of frames never sent
    buffer_ref_.Reset();
  }

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
    on_flushed(env);
  }

  // Everything queued is sent: the half-close asked for goes out now, and 'drain' tells JS.
  void on_flushed(Napi::Env env) {
    drain_wanted_ = false;
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
        case FrameReader::Status::kWouldBlock: deliver(env); return;
        case FrameReader::Status::kEof:
          if (!deliver(env)) return;
          eof_ = true;
          emit(env, kEventEnd, 0, nullptr);
          // Stop watching for reads only if JS did not close the connection on 'end' (it usually
          // does): uv_close() unregisters the fd itself, and libuv's stop and close each cost an
          // epoll_ctl(EPOLL_CTL_DEL), the second failing with ENOENT (epoll_ctl(2)).
          update_poll();
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
    // One frame alone has nothing to share a write with: its replies go out as they are sent, and
    // the peer waiting on it wakes up sooner. Two or more (a peer that pipelines) are corked.
    const bool batch = reader_->frames().size() > 1;
    if (batch) begin_dispatch();
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
      while (frame_index + count < frames.size() && count < kMetaFrames) {
        const ReceivedFrame& frame = frames[frame_index + count];
        if (fd_count + frame.fd_count > kFdsOut) break;
        uint32_t* m = shared_->meta + count * kMetaWords;
        m[0] = frame.offset;
        m[1] = frame.length;
        m[2] = frame.id;
        m[3] = frame.type;
        m[4] = frame.fd_count;
        for (size_t k = 0; k < frame.fd_count; k++) shared_->fds[fd_count + k] = fds[fd_index + fd_count + k];
        fd_count += frame.fd_count;
        count++;
      }
      frame_index += count;
      fd_index += fd_count;
      call_own(env, shared_->callbacks[callbacks_].on_frames,
               {buffer, Napi::Number::New(env, static_cast<double>(count)),
                Napi::Number::New(env, static_cast<double>(fd_count))});
    }
    for (size_t i = fd_index; i < fds.size(); i++) close_fd(fds[i]);
    if (batch) end_dispatch(env);
    return !closed_;
  }

  // The writer holds frames back while JS is corked or handles frames.
  void apply_cork() {
    if (writer_) writer_->set_corked(user_corked_ || dispatching_ > 0);
  }

  void begin_dispatch() {
    if (dispatching_++ == 0) {
      queued_before_dispatch_ = writer_->queued_frames();
      apply_cork();
    }
  }

  // After the JS callback returned (MakeCallback has run its microtasks by then): sends what it
  // sent meanwhile, several frames per sendmsg, unless JS corked the connection itself.
  void end_dispatch(Napi::Env env) {
    if (--dispatching_ > 0 || closed_) return;
    apply_cork();
    if (writer_->corked() || writer_->queued_frames() == 0) return;
    if (queued_before_dispatch_ > 0) {
      update_poll();  // an earlier write waits for the socket to be writable: these frames follow it
      return;
    }
    int64_t left = writer_->flush(fd_);
    if (left < 0) {
      emit(env, kEventError, static_cast<int>(-left), "write");
      return;
    }
    if (left > 0) {
      update_poll();  // on_writable sends the rest, then reports 'drain'
      return;
    }
    if (shutdown_requested_ || drain_wanted_) {
      on_flushed(env);
    }
  }

  // Frames held back for the running dispatch go out before the socket closes or changes hands,
  // as they would have had they been written at once. Returns what flush() returns.
  int64_t flush_dispatched() {
    if (dispatching_ == 0 || user_corked_ || queued_before_dispatch_ > 0 || writer_->queued_frames() == 0) return 0;
    return writer_->flush(fd_);
  }

  void emit(Napi::Env env, EventKind kind, int value, const char* detail) {
    if (closed_) return;
    if (kind == kEventError) {
      // A socket error ends reading; the JS side decides what to close.
      eof_ = true;
      update_poll();
    }
    call_own(env, shared_->callbacks[callbacks_].on_event,
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
    uint8_t* data = nullptr;
    size_t length = 0;
    get_bytes(info[0], &data, &length);  // null: an empty payload
    const int* fds = nullptr;
    size_t fd_count = 0;
    get_fds(info[3], &fds, &fd_count);  // null: no fds
    bool take_fds = info[4].ToBoolean().Value();
    if (closed_ || shutdown_requested_) {
      if (take_fds) {
        for (size_t i = 0; i < fd_count; i++) close_fd(fds[i]);
      }
      return Napi::Number::New(env, closed_ ? -EBADF : -EPIPE);
    }
    if (length > 0xFFFFFFFFu || fd_count > static_cast<size_t>(kMaxFdsPerFrame)) {
      if (take_fds) {
        for (size_t i = 0; i < fd_count; i++) close_fd(fds[i]);
      }
      return Napi::Number::New(env, -EINVAL);
    }
    FrameHeader header{static_cast<uint32_t>(length), info[1].As<Napi::Number>().Uint32Value(),
                       static_cast<uint16_t>(info[2].As<Napi::Number>().Uint32Value()), static_cast<uint8_t>(fd_count)};
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
    if (!closed_) {
      user_corked_ = true;
      apply_cork();
    }
    return info.Env().Undefined();
  }

  // uncork(): writes what was queued (several frames per sendmsg), then as after a writable
  // event: a requested half-close follows the last byte, 'drain' when everything went. Inside a
  // dispatch, that happens when the dispatch ends.
  Napi::Value Uncork(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_ || !user_corked_) return env.Undefined();
    user_corked_ = false;
    apply_cork();
    if (writer_->corked()) return env.Undefined();
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

  Napi::Value QueuedBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), closed_ ? 0 : static_cast<double>(writer_->queued_bytes()));
  }

  // detach() -> fd | -errno: stops watching the socket and gives its fd back, open, untouched.
  // -EBUSY when bytes were already read or are still queued: they would be lost with the handover.
  Napi::Value Detach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return Napi::Number::New(env, -EBADF);
    int64_t flushed = flush_dispatched();
    if (flushed < 0) return Napi::Number::New(env, static_cast<double>(flushed));
    if (reader_->holds_data() || writer_->queued_frames() > 0) return Napi::Number::New(env, -EBUSY);
    int fd = fd_;
    fd_ = -1;  // no longer ours: drop() leaves it open
    drop();
    return Napi::Number::New(env, fd);
  }

  // wantDrain(): JS saw backpressure from a send and waits for 'drain'.
  Napi::Value WantDrain(const Napi::CallbackInfo& info) {
    drain_wanted_ = true;
    return info.Env().Undefined();
  }

  // close(): what this dispatch sent goes out first (best effort: the socket is closing).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) flush_dispatched();
    drop();
    return info.Env().Undefined();
  }

  bool reading_ = true;
  bool user_corked_ = false;
  bool drain_wanted_ = false;
  int dispatching_ = 0;
  size_t queued_before_dispatch_ = 0;
  bool eof_ = false;
  bool shutdown_requested_ = false;
  std::unique_ptr<FrameReader> reader_;
  std::unique_ptr<FrameWriter> writer_;
  Napi::Reference<Napi::Buffer<uint8_t>> buffer_ref_;
  ConnectionShared* shared_ = nullptr;
  size_t callbacks_ = 0;  // which of shared_->callbacks
};

}  // namespace

Napi::Function define_connection(Napi::Env env) { return Connection::Define(env); }

}  // namespace fdwire
