// What every file of the addon's Node-API face (native/napi/) shares: argument checks, errors,
// calling into JS, and the entry points module.cc assembles the module from. Only native/napi/
// includes napi.h; the native core below it (frame, reader, writer, socket, spawn) knows nothing
// of Node.
//
// Errors: functions return -errno or protocol codes as plain numbers; src/errors.ts turns them into
// Error objects with code/errno/syscall. Only misuse by our own TS layer (wrong argument types)
// throws here, as a TypeError; and a constructor whose libuv handle cannot be opened, as an Error
// with errno (HandleWrap::opened in handle.h).
#pragma once

#include <napi.h>
#include <stddef.h>
#include <stdint.h>

#include <initializer_list>

namespace fdwire {

// The classes (connection.cc, listener.cc, process_watch.cc) and the plain functions
// (functions.cc), each added to `exports` under its JS name.
Napi::Function define_connection(Napi::Env env);
Napi::Function define_listener(Napi::Env env);
Napi::Function define_process_watch(Napi::Env env);
void export_functions(Napi::Env env, Napi::Object exports);

inline bool is_int(const Napi::Value& v) { return v.IsNumber(); }

inline int32_t int_value(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }

// Throws a TypeError (a call our TS layer should never make); returns undefined for the caller to
// return.
inline Napi::Value type_error(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Checks a call whose first argument is an fd (or pid) and that takes at least `count` arguments;
// throws a TypeError saying `usage` when it is not such a call.
inline bool fd_arg(const Napi::CallbackInfo& info, size_t count, const char* usage) {
  if (info.Length() >= count && is_int(info[0])) return true;
  type_error(info.Env(), usage);
  return false;
}

// The bytes of a typed-array argument (a Uint8Array), in place; false, leaving the outputs as they
// were, when it is not one.
inline bool get_bytes(const Napi::Value& value, uint8_t** data, size_t* length) {
  if (!value.IsTypedArray()) return false;
  Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
  *data = bytes.Data();
  *length = bytes.ByteLength();
  return true;
}

// The fds of a typed-array argument (an Int32Array), in place; false, leaving the outputs as they
// were, when it is not one.
inline bool get_fds(const Napi::Value& value, const int** fds, size_t* count) {
  if (!value.IsTypedArray()) return false;
  Napi::Int32Array array = value.As<Napi::Int32Array>();
  *fds = array.Data();
  *count = array.ElementLength();
  return true;
}

// Calls a JS callback from a libuv callback. An exception thrown by it cannot propagate into libuv:
// it becomes an uncaught exception, as a throwing 'data' listener would in Node.
inline void call_js(Napi::Env env, const Napi::FunctionReference& fn, Napi::AsyncContext& context,
                    const std::initializer_list<napi_value>& args, napi_value recv = nullptr) {
  fn.MakeCallback(recv != nullptr ? recv : static_cast<napi_value>(env.Global()), args, context);
  if (env.IsExceptionPending()) {
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
  }
}

}  // namespace fdwire
