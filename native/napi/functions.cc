// The addon's plain functions, each the JS face of one call of the native core (socket.h,
// spawn.h, writer.h), shaped like a syscall: numbers and buffers in, a result >= 0 or -errno out (or an
// array of numbers on success).
#include <errno.h>
#include <sys/uio.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "../frame.h"
#include "../socket.h"
#include "../spawn.h"
#include "../writer.h"
#include "addon.h"

namespace fdwire {
namespace {

Napi::Value number(Napi::Env env, double value) { return Napi::Number::New(env, value); }

// [a, b, ...]: what a call answers on success when it has more than one number to give.
Napi::Value numbers(Napi::Env env, std::initializer_list<double> values) {
  Napi::Array result = Napi::Array::New(env, values.size());
  uint32_t i = 0;
  for (double value : values) result.Set(i++, Napi::Number::New(env, value));
  return result;
}

// fn(fd) for the functions of one fd (or pid) argument that answer a result >= 0 or -errno.
Napi::Value fd_call(const Napi::CallbackInfo& info, const char* usage, int (*fn)(int)) {
  if (!fd_arg(info, 1, usage)) return info.Env().Undefined();
  return number(info.Env(), fn(int_value(info[0])));
}

// ---------------------------------------------------------------------------------------------
// Sockets and fds.

// A socket name: the bytes of a Uint8Array (a path, or an abstract name that may hold NULs).
bool get_name(const Napi::Value& value, const char** data, size_t* len) {
  uint8_t* bytes;
  if (!get_bytes(value, &bytes, len)) return false;
  *data = reinterpret_cast<const char*>(bytes);
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
  return number(env, listen_unix(name, len, info[1].ToBoolean().Value(), int_value(info[2]),
                                 info[3].As<Napi::Number>().Uint32Value()));
}

// connect(name: Uint8Array, abstract: boolean) -> fd | -errno
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* name;
  size_t len;
  if (info.Length() < 2 || !get_name(info[0], &name, &len)) return type_error(env, "connect(name, abstract)");
  return number(env, connect_unix(name, len, info[1].ToBoolean().Value()));
}

// fds made by fn (a pair or a pipe): [fd, fd] | -errno
Napi::Value fd_pair(Napi::Env env, int (*fn)(int[2])) {
  int fds[2];
  int err = fn(fds);
  if (err < 0) return number(env, err);
  return numbers(env, {static_cast<double>(fds[0]), static_cast<double>(fds[1])});
}

// socketPair() -> [fd, fd] | -errno
Napi::Value SocketPair(const Napi::CallbackInfo& info) { return fd_pair(info.Env(), socket_pair); }

// pipe() -> [readFd, writeFd] | -errno
Napi::Value Pipe(const Napi::CallbackInfo& info) { return fd_pair(info.Env(), make_pipe); }

// close(fd) -> 0 | -errno
Napi::Value Close(const Napi::CallbackInfo& info) { return fd_call(info, "close(fd)", close_fd); }

// dup(fd) -> new fd (close-on-exec) | -errno
Napi::Value Dup(const Napi::CallbackInfo& info) { return fd_call(info, "dup(fd)", dup_cloexec); }

// prepareSocket(fd) -> 0 | -errno
Napi::Value PrepareSocket(const Napi::CallbackInfo& info) { return fd_call(info, "prepareSocket(fd)", prepare_socket); }

// adoptListener(fd) -> 0 | -errno: an inherited listening socket made close-on-exec, non-blocking
Napi::Value AdoptListener(const Napi::CallbackInfo& info) { return fd_call(info, "adoptListener(fd)", adopt_listener); }

// setCloexec(fd) -> 0 | -errno
Napi::Value SetCloexec(const Napi::CallbackInfo& info) { return fd_call(info, "setCloexec(fd)", set_cloexec); }

// socketInfo(fd) -> [family, type, listening, abstract, name: Buffer] | -errno
Napi::Value SocketInfoOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!fd_arg(info, 1, "socketInfo(fd)")) return env.Undefined();
  SocketInfo socket{};
  int err = inspect_socket(int_value(info[0]), &socket);
  if (err < 0) return number(env, err);
  Napi::Array result = Napi::Array::New(env, 5);
  result.Set(0u, number(env, socket.family));
  result.Set(1u, number(env, socket.type));
  result.Set(2u, Napi::Boolean::New(env, socket.listening));
  result.Set(3u, Napi::Boolean::New(env, socket.abstract));
  result.Set(4u, Napi::Buffer<char>::Copy(env, socket.name, socket.name_len));
  return result;
}

// launchdSockets(name: string) -> fd[] | -errno (-ENOTSUP off macOS)
Napi::Value LaunchdSockets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return type_error(env, "launchdSockets(name)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int fds[16];
  int count = launchd_sockets(name.c_str(), fds, sizeof fds / sizeof fds[0]);
  if (count < 0) return number(env, count);
  Napi::Array result = Napi::Array::New(env, static_cast<size_t>(count));
  for (int i = 0; i < count; i++) result.Set(static_cast<uint32_t>(i), number(env, fds[i]));
  return result;
}

// flock(fd, exclusive, unlock) -> 0 | -errno (-EAGAIN: held by another open file description)
Napi::Value Flock(const Napi::CallbackInfo& info) {
  if (!fd_arg(info, 3, "flock(fd, exclusive, unlock)")) return info.Env().Undefined();
  return number(info.Env(), lock_file(int_value(info[0]), info[1].ToBoolean().Value(), info[2].ToBoolean().Value()));
}

// isCloexec(fd) -> 1 | 0 | -errno
Napi::Value IsCloexec(const Napi::CallbackInfo& info) { return fd_call(info, "isCloexec(fd)", is_cloexec); }

// peerCredentials(fd) -> [pid, uid, gid] | -errno
Napi::Value PeerCreds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!fd_arg(info, 1, "peerCredentials(fd)")) return env.Undefined();
  PeerCredentials cred{};
  int err = peer_credentials(int_value(info[0]), &cred);
  if (err < 0) return number(env, err);
  return numbers(env, {static_cast<double>(cred.pid), static_cast<double>(cred.uid), static_cast<double>(cred.gid)});
}

// sendRaw(fd, bytes: Uint8Array, fds: Int32Array | null) -> bytes sent | -errno
// One sendmsg with no framing: for tests and for tools that speak to hostile or foreign peers.
Napi::Value SendRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* bytes;
  size_t length;
  if (info.Length() < 3 || !is_int(info[0]) || !get_bytes(info[1], &bytes, &length)) {
    return type_error(env, "sendRaw(fd, bytes, fds)");
  }
  const int* fds = nullptr;
  size_t fd_count = 0;
  get_fds(info[2], &fds, &fd_count);  // null: no fds
  if (fd_count > static_cast<size_t>(kMaxFdsPerFrame)) return number(env, -EINVAL);
  iovec iov{bytes, length};
  return number(env, static_cast<double>(send_with_fds(int_value(info[0]), &iov, 1, fds, fd_count)));
}

// ---------------------------------------------------------------------------------------------
// Processes.

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
  SpawnRequest request{path.c_str(),
                       argv_ptrs.data(),
                       envp_ptrs.data(),
                       info[3].IsString() ? cwd.c_str() : nullptr,
                       int_value(info[4]),
                       {stdio[0], stdio[1], stdio[2]},
                       info[6].ToBoolean().Value()};
  return number(env, spawn_process(request));
}

// exitFd(pid) -> exit fd (Linux pidfd, macOS kqueue) | -errno (-ENOSYS: Linux without pidfd_open)
Napi::Value ExitFd(const Napi::CallbackInfo& info) { return fd_call(info, "exitFd(pid)", open_process_fd); }

// reap(pid) -> [status, signal] when it ended | 0 while running | -errno
Napi::Value Reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!fd_arg(info, 1, "reap(pid)")) return env.Undefined();
  int status = 0, signal_number = 0;
  int done = reap_process(int_value(info[0]), &status, &signal_number);
  if (done <= 0) return number(env, done);
  return numbers(env, {static_cast<double>(status), static_cast<double>(signal_number)});
}

}  // namespace

void export_functions(Napi::Env env, Napi::Object exports) {
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
  exports.Set("adoptListener", Napi::Function::New<AdoptListener>(env, "adoptListener"));
  exports.Set("setCloexec", Napi::Function::New<SetCloexec>(env, "setCloexec"));
  exports.Set("socketInfo", Napi::Function::New<SocketInfoOf>(env, "socketInfo"));
  exports.Set("launchdSockets", Napi::Function::New<LaunchdSockets>(env, "launchdSockets"));
  exports.Set("isCloexec", Napi::Function::New<IsCloexec>(env, "isCloexec"));
  exports.Set("sendRaw", Napi::Function::New<SendRaw>(env, "sendRaw"));
}

}  // namespace fdwire
