// Asks the file-server daemon to open a file and copies it to stdout through the fd it returns.
// Starts the daemon (detached, logging to <runtimeDir>/daemon.log) if none is running.
//
//   node client.mjs <path>
//
// Environment: FILE_SERVER_ROOT (default: the current directory) is the root the daemon serves
// when this client starts it; FILE_SERVER_RUNTIME_DIR (default: $XDG_RUNTIME_DIR/fdwire-file-server
// or /tmp/fdwire-file-server-<uid>) is where its socket, pid file and log live.
import * as fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defaultRuntimeDir, ensureDaemon } from 'fdwire'

const file = process.argv[2]
if (!file) {
  console.error('usage: node client.mjs <path>')
  process.exit(2)
}
const runtimeDir = process.env.FILE_SERVER_RUNTIME_DIR ?? defaultRuntimeDir('fdwire-file-server')
const root = process.env.FILE_SERVER_ROOT ?? process.cwd()
const daemon = fileURLToPath(new URL('daemon.mjs', import.meta.url))

const client = await ensureDaemon({
  runtimeDir,
  buildId: 'file-server-1', // a daemon of another version is replaced
  command: [process.execPath, daemon, runtimeDir, root],
})
try {
  const reply = await client.request('open', file, { timeout: 5000 })
  const fd = reply.takeFd() // ours now: the stream below closes it
  await new Promise((resolve, reject) => {
    fs.createReadStream('', { fd }).on('error', reject).on('end', resolve).pipe(process.stdout, { end: false })
  })
} catch (error) {
  console.error(`client: ${error.code}: ${error.message}`)
  process.exitCode = 1
} finally {
  await client.close()
}
