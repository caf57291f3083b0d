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

leakTest(t, 'bad fds, umask and argv are Node argument errors, and no process is started', async (t) => {
  const before = children()
  const cases: [object, string, RegExp][] = [
    [{ stdio: [1.5] }, 'ERR_OUT_OF_RANGE', /"options\.stdio\[0\]".*an integer\. Received 1\.5/],
    [{ stdio: [-1, '1'] }, 'ERR_INVALID_ARG_TYPE', /"options\.stdio\[1\]" property must be of type number/],
    [{ stdio: [-1, -1, -2] }, 'ERR_OUT_OF_RANGE', /It must be >= -1 && <= 2147483647\. Received -2/],
    [{ stdio: [-1, -1, -1, 1] }, 'ERR_OUT_OF_RANGE', /"options\.stdio\.length"/],
    [{ stdio: 1 }, 'ERR_INVALID_ARG_TYPE', /"options\.stdio" property must be an instance of Array/],
    [{ stdio: [], umask: -1 }, 'ERR_OUT_OF_RANGE', /"options\.umask".*>= 0 && <= 511\. Received -1/],
    [{ stdio: [], umask: 0.5 }, 'ERR_OUT_OF_RANGE', /"options\.umask"/],
    [{ stdio: [], umask: 0o1000 }, 'ERR_OUT_OF_RANGE', /"options\.umask"/],
    [{ stdio: [], argv: 'sh' }, 'ERR_INVALID_ARG_TYPE', /"options\.argv"/],
    [{ stdio: [], argv: [] }, 'ERR_INVALID_ARG_VALUE', /'options\.argv' must be a non-empty array/],
    [{ stdio: [], env: [1] }, 'ERR_INVALID_ARG_TYPE', /"options\.env\[0\]"/],
  ]
  for (const [options, code, message] of cases) {
    t.throws(() => spawnProcess('/bin/true', options as never), { code, message }, `${JSON.stringify(options)}: ${code}`)
  }
  t.throws(() => spawnProcess('' as string, { stdio: [] }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  t.same(children(), before, 'no child was started')
})
