// Runs every bench in this directory (bench/*.mjs except this file), one after the other, each in a
// fresh process so that one bench's JIT state and garbage do not skew the next.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const self = path.basename(fileURLToPath(import.meta.url))

if (!fs.existsSync(path.join(benchDir, '..', 'dist', 'index.js'))) {
  console.error('dist/index.js is missing: run `npm install` first (it builds the addon and the TypeScript).')
  process.exit(1)
}

function runBench(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(benchDir, file)], { stdio: 'inherit' })
    child.once('error', (error) => resolve(error.message))
    child.once('exit', (code, signal) => resolve(code === 0 ? null : `exited with ${signal ?? code}`))
  })
}

const benches = fs
  .readdirSync(benchDir)
  .filter((file) => file.endsWith('.mjs') && file !== self)
  .sort()
const failures = []
for (const file of benches) {
  console.log(`\n## ${file}`)
  const failure = await runBench(file)
  if (failure) {
    console.error(`${file} failed: ${failure}`)
    failures.push(file)
  }
}
if (failures.length > 0) {
  console.error(`\n${failures.length} of ${benches.length} benches failed: ${failures.join(', ')}`)
  process.exit(1)
}
