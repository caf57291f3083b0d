// binding.gyp as data: the one list of the native sources, defines and compiler flags. node-gyp
// reads binding.gyp itself; every other native build takes what it compiles from here, so none can
// drift from it:
//   scripts/release/build.mjs   the zig cross builds (addon and rush client, every target)
//   scripts/ci/musl-core.mjs     the native core without its Node-API face (sources outside napi/)
//   CMakeLists.txt               the cmake-js (sanitizer) build, through the command line below
//
//   node scripts/release/gyp.mjs cmake TARGET   prints CMake set() lines: GYP_SOURCES, GYP_DEFINES,
//                                                GYP_CFLAGS (the target's cflags, then cflags_cc)
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** The targets of binding.gyp by name. binding.gyp is a Python literal; its comments are whole
 *  lines, the rest is JSON. */
export function readGyp() {
  const text = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '')
  const targets = Object.fromEntries(JSON.parse(text).targets.map((t) => [t.target_name, t]))
  if (!targets.fdwire || !targets.rush) throw new Error('binding.gyp: expected the targets fdwire and rush')
  return targets
}

/** The addon's Node-API face: the only sources that include napi.h. */
export const NAPI_DIR = 'native/napi/'

/** The addon's sources that do not depend on Node: the native core. */
export function coreSources(gyp = readGyp()) {
  return gyp.fdwire.sources.filter((s) => !s.startsWith(NAPI_DIR))
}

function cmakeList(name, items) {
  for (const item of items) {
    if (/[\s;"$\\<>]/.test(item)) throw new Error(`binding.gyp: ${JSON.stringify(item)} needs quoting for CMake`)
  }
  return `set(${name} ${items.join(' ')})`
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, name] = process.argv.slice(2)
  const target = command === 'cmake' ? readGyp()[name] : undefined
  if (!target) {
    console.error('usage: node scripts/release/gyp.mjs cmake TARGET (a target_name of binding.gyp)')
    process.exit(2)
  }
  const flags = [...new Set([...(target.cflags ?? []), ...(target.cflags_cc ?? [])])]
  console.log(
    [
      `# Generated from binding.gyp (target ${name}) by scripts/release/gyp.mjs.`,
      cmakeList('GYP_SOURCES', target.sources),
      cmakeList('GYP_DEFINES', target.defines ?? []),
      cmakeList('GYP_CFLAGS', flags),
    ].join('\n'),
  )
}
