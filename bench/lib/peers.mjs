// Peer libraries the benches compare against, loaded from bench/.peers/ and installed there on
// first use from the npm registry — never dependencies of fdwire itself. usocket is the one npm
// package for fd passing over Unix sockets (a NAN addon, built at install).
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const peersDir = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), '.peers')
const requirePeer = createRequire(path.join(peersDir, 'index.js'))

/** usocket, or null (with the reason printed) when it cannot be installed or built here. */
export function loadUsocket({ install = true } = {}) {
  try {
    return requirePeer('usocket')
  } catch {
    if (!install) return null
  }
  fs.mkdirSync(peersDir, { recursive: true })
  console.log('installing usocket@1.1.0 into bench/.peers (npm registry; builds a native addon)…')
  const result = spawnSync('npm', ['install', '--prefix', peersDir, '--no-audit', '--no-fund', '--no-package-lock', 'usocket@1.1.0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  try {
    return requirePeer('usocket')
  } catch (error) {
    console.log(`usocket is not available (npm exited ${result.status}: ${error.message}); its rows are left out`)
    return null
  }
}
