// The addon's entry point (NODE_API_MODULE): per env, the bookkeeping of open handles (handle.cc),
// then every class, function and constant under its JS name (src/native.ts declares them).
#include "../frame.h"
#include "../platform/socket.h"
#include "../socket.h"
#include "addon.h"
#include "handle.h"

namespace fdwire {
namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  init_env_state(env);
  exports.Set("Connection", define_connection(env));
  exports.Set("Listener", define_listener(env));
  exports.Set("ProcessWatch", define_process_watch(env));
  export_functions(env, exports);
  exports.Set("maxSocketPath", Napi::Number::New(env, static_cast<double>(max_socket_path())));
  exports.Set("headerSize", Napi::Number::New(env, static_cast<double>(kHeaderSize)));
  exports.Set("maxFdsPerFrame", Napi::Number::New(env, kMaxFdsPerFrame));
  Napi::Object socket_constants = Napi::Object::New(env);
  socket_constants.Set("AF_UNIX", Napi::Number::New(env, AF_UNIX));
  socket_constants.Set("AF_INET", Napi::Number::New(env, AF_INET));
  socket_constants.Set("AF_INET6", Napi::Number::New(env, AF_INET6));
  socket_constants.Set("SOCK_STREAM", Napi::Number::New(env, SOCK_STREAM));
  socket_constants.Set("SOCK_DGRAM", Napi::Number::New(env, SOCK_DGRAM));
  socket_constants.Set("SOCK_SEQPACKET", Napi::Number::New(env, SOCK_SEQPACKET));
  exports.Set("socketConstants", socket_constants);
  exports.Set("abstractNamespace", Napi::Boolean::New(env, FDWIRE_ABSTRACT_NAMESPACE != 0));
  return exports;
}

}  // namespace
}  // namespace fdwire

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return fdwire::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitModule)
