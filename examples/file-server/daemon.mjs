// A daemon that opens files on request and hands back the open fd (SCM_RIGHTS): the client reads
// the file directly, the bytes never go through the socket.
//
//   node daemon.mjs <runtimeDir> <root>
//
// Only files under <root> are served: the requested path is resolved (symlinks included) and
// refused with EACCES if it leads outside. Usually started by client.mjs through ensureDaemon().
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Server } from 'fdwire'

const [runtimeDir, rootArg] = process.argv.slice(2)
if (!runtimeDir || !rootArg) {
  console.error('usage: node daemon.mjs <runtimeDir> <root>')
  process.exit(2)
}
const root = fs.realpathSync(rootArg)

const server = new Server({
  runtimeDir,
  buildId: 'file-server-1',
  idleTimeout: 10 * 60_000, // nobody asked for 10 minutes: exit
  onReload: () => console.log('SIGHUP: nothing to reload'),
})

server.handle('open', (request) => {
  const wanted = request.body.toString()
  // realpath follows every symlink, so "inside root" is decided on the real file. (A link swapped
  // between this check and the open below could still escape; a stricter server would open with
  // openat2(RESOLVE_BENEATH), which Node does not offer.)
  const real = fs.realpathSync(path.resolve(root, wanted))
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw Object.assign(new Error(`${wanted} is outside ${root}`), { code: 'EACCES' })
  }
  const fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  console.log(`uid ${request.peer.uid} (pid ${request.peer.pid}) opened ${real}`)
  // closeFds: our copy is closed once it is sent; the client gets its own.
  return { body: real, fds: [fd], closeFds: true }
})

await server.listen()
console.log(`file-server ${process.pid} serving ${root} on ${server.socketPath}`)
