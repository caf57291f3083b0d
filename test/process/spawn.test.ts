// spawnProcess: what reaches the command, and failures to start it reported as system errors.
import * as fs from 'node:fs'
import t from 'tap'
import { closeFd, pipe } from '../../src/index.js'
import { spawnProcess } from '../../src/process.js'
import { collect, leakTest } from '../helpers.js'

/** Pids of this process's children, zombies included (proc(5) /proc/pid/task/tid/children). */
function children(): string[] {
  return fs
    .readdirSync('/proc/self/task')
    .flatMap((tid) => fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ').filter(Boolean))
    .sort()
}

leakTest(t, 'the command gets the given fds on 0/1/2 and nothing else', async (t) => {
  const [readEnd, writeEnd] = pipe()
  const output = collect(fs.createReadStream('', { fd: readEnd }))
  // The given fds are moved through numbers >= 10 on their way to 0/1/2, without close-on-exec:
  // only closing everything from 3 up keeps those out of the command. ls lists its own directory
  // fd too, on the lowest free number: 0, since 0 was left closed.
  const child = spawnProcess('/bin/sh', { argv: ['sh', '-c', 'exec ls /proc/self/fd'], stdio: [-1, writeEnd, writeEnd] })
  closeFd(writeEnd)
  t.same(await child.exited, { status: 0, signal: 0 })
  t.equal(await output, '0\n1\n2\n', 'fd 0 was closed as asked; 1 and 2 are the pipe; nothing above')
})

leakTest(t, 'a command that cannot be started is a system error, and no process is left', async (t) => {
  const before = children()
  t.throws(() => spawnProcess('/nonexistent/command', { stdio: [-1, -1, -1] }), { code: 'ENOENT', syscall: 'spawn' })
  t.throws(() => spawnProcess('/etc/passwd', { stdio: [-1, -1, -1] }), { code: 'EACCES', syscall: 'spawn' })
  t.throws(() => spawnProcess('/bin/sh', { cwd: '/nonexistent/dir', stdio: [-1, -1, -1] }), { code: 'ENOENT', syscall: 'spawn' })
  t.same(children(), before, 'each child that failed before exec was reaped before spawnProcess returned')
})
