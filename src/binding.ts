/**
 * Loads the native addon, and is the only module that does. Order: `FDWIRE_ADDON` (an explicit
 * path, used for the sanitizer build), then node-gyp-build (a prebuilt binary under `prebuilds/`,
 * then `build/Release`). A failure says what was tried and how to fix it.
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { FdwireError } from './errors.js'
import type { NativeAddon } from './native.js'

const require = createRequire(import.meta.url)
// This file lives in src/ (tests) or dist/ (package): the package root is one level up either way.
const packageRoot = fileURLToPath(new URL('..', import.meta.url))

function load(): NativeAddon {
  if (process.platform === 'win32') {
    throw new FdwireError(
      'ERR_FDWIRE_UNSUPPORTED',
      'fdwire is not supported on Windows: it needs Unix domain sockets with SCM_RIGHTS fd passing ' +
        '(Linux and macOS).',
    )
  }
  const explicit = process.env['FDWIRE_ADDON']
  if (explicit) {
    try {
      return require(explicit) as NativeAddon
    } catch (cause) {
      throw new FdwireError(
        'ERR_FDWIRE_UNSUPPORTED',
        `fdwire could not load its native addon for ${process.platform}-${process.arch} ` +
          `(Node ${process.version}).\nTried:\n  ${explicit} (from FDWIRE_ADDON)\n` +
          'Fix: unset FDWIRE_ADDON to use the prebuilt or installed addon, or point it at a built ' +
          'fdwire.node (e.g. build-asan/fdwire.node after `npm run build:asan`).\n' +
          `Cause: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      )
    }
  }
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown
    return nodeGypBuild(packageRoot) as NativeAddon
  } catch (cause) {
    const tried = [
      `${packageRoot}prebuilds/${process.platform}-${process.arch}/ (prebuilt, N-API)`,
      `${packageRoot}build/Release/ (built from source at install)`,
    ]
    throw new FdwireError(
      'ERR_FDWIRE_UNSUPPORTED',
      `fdwire could not load its native addon for ${process.platform}-${process.arch} ` +
        `(Node ${process.version}).\nTried:\n  ${tried.join('\n  ')}\n` +
        'Fix: run `npm rebuild fdwire` with a C++ compiler, python3 and make installed ' +
        '(Debian/Ubuntu: `apt-get install python3 make g++`; macOS: `xcode-select --install`), ' +
        'or install a release that ships a prebuilt binary for this platform. If the package was ' +
        'installed with --ignore-scripts on a platform without a prebuilt binary, run ' +
        '`npm rebuild fdwire` (it runs the install script, which builds from source).\n' +
        `Cause: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    )
  }
}

/** The addon, typed by `src/native.ts`. */
export const native: NativeAddon = load()
