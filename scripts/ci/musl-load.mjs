#!/usr/bin/env node
// The shipped linux-x64 musl addon (prebuilds/linux-x64/fdwire.musl.node), loaded by musl's own
// dynamic loader: no musl Node can be had here, so a small musl program stands in for Node. It
// exports a stand-in for every N-API and libuv function the addon imports (the things Node would
// provide), then dlopen(RTLD_NOW)s the addon: every other symbol must resolve from musl's libc,
// every relocation apply, every static initializer run, and napi_register_module_v1 be found.
// It does not call into the addon: the stand-ins are not N-API.
//
//   node scripts/ci/musl-load.mjs        (after `npm run prebuild:all`; needs musl-gcc: apt-get install musl-tools)
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { elfFacts } from '../release/inspect.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const addon = path.join(root, 'prebuilds', 'linux-x64', 'fdwire.musl.node')

function fail(message) {
  console.error(`musl-load: ${message}`)
  process.exit(1)
}

if (process.platform !== 'linux' || process.arch !== 'x64') fail('runs on linux-x64 only')
if (!fs.existsSync(addon)) fail(`${path.relative(root, addon)} is missing: run \`npm run prebuild:all\``)
if (spawnSync('musl-gcc', ['--version']).error) fail('musl-gcc is missing: apt-get install musl-tools')

// What the addon expects its host process to provide.
const symbols = spawnSync('readelf', ['--dyn-syms', '-W', addon], { encoding: 'utf8' }).stdout
const provided = [
  ...new Set(
    symbols
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[6] === 'UND' && /^(napi_|uv_)\w+$/.test(f[7] ?? ''))
      .map((f) => f[7]),
  ),
].sort()
if (provided.length === 0) fail('the addon imports no napi_/uv_ symbols: not an N-API addon?')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-musl-load-'))
try {
  const source = path.join(dir, 'host.c')
  fs.writeFileSync(
    source,
    [
      '#include <dlfcn.h>',
      '#include <stdio.h>',
      ...provided.map((name) => `int ${name}(void) { return 9; }`),
      'int main(int argc, char **argv) {',
      '  void *addon = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);',
      '  if (!addon) { printf("dlopen: %s\\n", dlerror()); return 1; }',
      '  if (!dlsym(addon, "napi_register_module_v1")) { printf("dlsym: %s\\n", dlerror()); return 1; }',
      '  printf("loaded\\n");',
      '  return dlclose(addon) == 0 ? 0 : 1;',
      '}',
      '',
    ].join('\n'),
  )
  const host = path.join(dir, 'host')
  const cc = spawnSync('musl-gcc', ['-O1', '-rdynamic', '-o', host, source], { encoding: 'utf8' })
  if (cc.status !== 0) fail(`musl-gcc failed:\n${cc.stderr}`)
  const interpreter = elfFacts(host).interpreter
  const run = spawnSync(host, [addon], { encoding: 'utf8' })
  const ok = run.status === 0 && run.stdout.trim() === 'loaded'
  console.log(
    `${ok ? 'ok  ' : 'FAIL'}  ${path.relative(root, addon)} loads under ${interpreter}: ` +
      `${provided.length} N-API/libuv imports stood in for, the rest resolved from musl (${run.stdout.trim() || run.stderr.trim()})`,
  )
  if (!ok) process.exit(1)
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
