import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { daemonStatus, readPidFile, stopDaemon } from '../../src/index.js'
import { collect, exitCode, leakTest, node, root, tempDir } from '../helpers.js'

const example = path.join(root, 'examples', 'file-server')

/** Runs the example client as a user would: `node client.mjs <file>` in the served directory. */
async function runClient(cwd: string, runtimeDir: string, file: string) {
  const child = spawn(node[0], [...node.slice(1), path.join(example, 'client.mjs'), file], {
    cwd,
    env: { ...process.env, FILE_SERVER_RUNTIME_DIR: runtimeDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const [stdout, stderr, code] = await Promise.all([collect(child.stdout), collect(child.stderr), exitCode(child)])
  return { stdout, stderr, code }
}

leakTest(t, 'examples/file-server: the client reads files through fds the daemon opened, only under its root', async (t) => {
  const base = fs.realpathSync(tempDir(t))
  const served = path.join(base, 'served')
  const runtimeDir = path.join(base, 'run')
  fs.mkdirSync(path.join(served, 'sub'), { recursive: true })
  fs.writeFileSync(path.join(served, 'hello.txt'), 'hello from the file server\n')
  const big = Buffer.alloc(3 * 1024 * 1024, 'abcdefghijklmnopqrstuvwxyz\n')
  fs.writeFileSync(path.join(served, 'sub', 'big.txt'), big)
  fs.writeFileSync(path.join(base, 'secret.txt'), 'not for clients\n')
  fs.symlinkSync('../secret.txt', path.join(served, 'escape.txt'))
  t.teardown(() => {
    const { pid } = readPidFile(path.join(runtimeDir, 'daemon.pid'))
    if (pid) process.kill(pid, 'SIGKILL')
  })

  const hello = await runClient(served, runtimeDir, 'hello.txt')
  t.same(hello, { stdout: 'hello from the file server\n', stderr: '', code: 0 }, 'the first client starts the daemon and prints the file')
  const status = await daemonStatus({ runtimeDir })
  t.match(status, { running: true, details: { buildId: 'file-server-1' } })
  const daemonPid = status.pid

  const large = await runClient(served, runtimeDir, 'sub/big.txt')
  t.equal(large.code, 0)
  t.ok(large.stdout === big.toString(), 'a 3 MiB file comes through whole')

  const outside = await runClient(served, runtimeDir, '../secret.txt')
  t.equal(outside.code, 1)
  t.equal(outside.stdout, '')
  t.match(outside.stderr, /EACCES: .*outside/, 'a path outside the root is refused')
  const link = await runClient(served, runtimeDir, 'escape.txt')
  t.equal(link.code, 1)
  t.match(link.stderr, /EACCES: .*outside/, 'so is a symlink that leads outside')
  const missing = await runClient(served, runtimeDir, 'nope.txt')
  t.match(missing, { code: 1, stderr: /ENOENT/ }, 'a missing file is ENOENT')

  t.equal((await daemonStatus({ runtimeDir })).pid, daemonPid, 'one daemon served every client')
  const log = fs.readFileSync(path.join(runtimeDir, 'daemon.log'), 'utf8')
  t.equal(log.match(/^file-server \d+ serving/gm)?.length, 1, 'it was started once')
  t.match(log, `opened ${path.join(served, 'sub', 'big.txt')}`)
  t.notMatch(log, 'secret.txt')
  t.equal(await stopDaemon({ runtimeDir }), 'stopped')
})
