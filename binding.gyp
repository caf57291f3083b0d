# Builds the fdwire addon with node-gyp (used by `npm install` from source and by prebuildify).
# Exception mode: C++ exceptions are OFF (NAPI_DISABLE_CPP_EXCEPTIONS, -fno-exceptions). The native core
# reports failures as -errno / protocol codes; the binding checks napi status and returns errors to JS
# as values.
# This is the one list of native sources, defines and flags: CMakeLists.txt (the ASan+UBSan build),
# scripts/release/build.mjs (zig cross builds) and scripts/ci/musl-core.mjs (the core without
# native/napi/) read theirs from here, through scripts/release/gyp.mjs.
{
  "targets": [
    {
      "target_name": "fdwire",
      "sources": [
        "native/socket.cc",
        "native/frame.cc",
        "native/reader.cc",
        "native/writer.cc",
        "native/spawn.cc",
        "native/napi/handle.cc",
        "native/napi/connection.cc",
        "native/napi/listener.cc",
        "native/napi/process_watch.cc",
        "native/napi/functions.cc",
        "native/napi/module.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "xcode_settings": {
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "WARNING_CFLAGS": ["-Wall", "-Wextra"]
      }
    },
    {
      "target_name": "rush",
      "type": "executable",
      "sources": [
        "rush/client/main.c",
        "rush/client/session.c",
        "rush/client/interactive.c",
        "rush/client/wire.c",
        "rush/client/conn.c",
        "rush/client/runtime.c",
        "rush/client/signals.c",
        "rush/client/util.c"
      ],
      "defines": ["_GNU_SOURCE", "RUSH_VERSION=\"<!(node -p \"require('./package.json').version\")\""],
      "cflags": ["-std=c11", "-O2", "-Wall", "-Wextra"],
      "conditions": [
        # Static when this machine can link statically (libc.a present): a static client starts
        # faster and depends on nothing. Elsewhere (e.g. no glibc-static) link dynamically rather
        # than fail the whole build.
        ["OS=='linux'", { "ldflags": ["<!(sh -c \"printf 'int main(void){return 0;}' | ${CC:-cc} -static -x c - -o /dev/null 2>/dev/null && echo -static || echo -O2\")"] }]
      ],
      "xcode_settings": {
        "GCC_C_LANGUAGE_STANDARD": "c11",
        "WARNING_CFLAGS": ["-Wall", "-Wextra"]
      }
    }
  ]
}
