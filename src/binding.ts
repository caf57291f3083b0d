/**
 * Loads the native addon, and is the only module that does. Order: `FDWIRE_ADDON` (an explicit
 * path, used for the sanitizer build), then `build/Release/fdwire.node` (built from source), then
 * the prebuilt file for this platform, CPU and C library (`src/prebuilt.ts`). A failure says what
 * was tried, why each failed, and how to fix it. `NODE_DEBUG=fdwire` logs the file loaded.
 */
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { debuglog } from 'node:util'
import { FdwireError } from './errors.js'
import type { NativeAddon } from './native.js'
import { addonCandidates, linuxLibc, prebuiltAddon } from './prebuilt.js'

const debug = debuglog('fdwire')

const require = createRequire(import.meta.url)
// This file lives in src/ (tests) or dist/ (package): the package root is one level up either way.
const packageRoot = fileURLToPath(new URL('..', import.meta.url))

function load(): NativeAddon {
  if (process.platform === 'win32') {
    throw new FdwireError(
      'ERR_FDWIRE_UNSUPPORTED',
      'fdwire is not supported on Windows: it needs Unix domain sockets with SCM_RIGHTS fd passing ' + '(Linux and macOS).',
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
  const failures: string[] = []
  for (const file of addonCandidates(packageRoot)) {
    if (!fs.existsSync(file)) {
      failures.push(`${file}: not there`)
      continue
    }
    try {
      const addon = require(file) as NativeAddon
      debug('addon: %s', file)
      return addon
    } catch (cause) {
      failures.push(`${file}: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`)
    }
  }
  const prebuilt = prebuiltAddon(packageRoot) !== null
  throw new FdwireError(
    'ERR_FDWIRE_UNSUPPORTED',
    `fdwire could not load its native addon for ${process.platform}-${process.arch}` +
      `${process.platform === 'linux' ? ` (${linuxLibc()})` : ''} (Node ${process.version}).\n` +
      `Tried:\n  ${failures.join('\n  ')}\n` +
      (prebuilt
        ? 'Fix: reinstall fdwire (the prebuilt file for this platform is missing or damaged), or build it ' +
          'from source with `npm rebuild fdwire --build-from-source`'
        : `Fix: fdwire ships no prebuilt addon for ${process.platform}-${process.arch}; build it from source with \`npm rebuild fdwire\``) +
      ' (needs a C++ compiler, python3 and make: Debian/Ubuntu `apt-get install python3 make g++`, ' +
      'Alpine `apk add python3 make g++`, macOS `xcode-select --install`).',
  )
}

/** The addon, typed by `src/native.ts`. */
export const native: NativeAddon = load()
