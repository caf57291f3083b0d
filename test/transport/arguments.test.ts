// Bad fds, sizes and counts: Node's own argument errors (code, class, wording as fs.closeSync has
// them), raised before anything happens, so the call that got them fails alone and loses nothing.
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { closeFd, connect, dupFd, Connection, listen, pipe, socketPair, socketPairFds, type Message } from '../../src/index.js'
import { leakTest, tempDir, thrown } from '../helpers.js'

const badFds: unknown[] = [1.5, '3', -1, NaN, Infinity, 2 ** 31, 2 ** 40, null, undefined, {}, 3n, [1]]

leakTest(t, 'closeFd checks its fd exactly as fs.closeSync does, and closes nothing', async (t) => {
  const [r, w] = pipe()
  for (const fd of badFds) {
    const ours = thrown(() => closeFd(fd as number))
    t.same(
      ours,
      thrown(() => fs.closeSync(fd as number)),
      `closeFd(${String(fd)}): ${ours.code} ${ours.message}`,
    )
  }
  t.match(
    thrown(() => closeFd(1.5)),
    { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' },
  )
  t.match(
    thrown(() => closeFd('3' as unknown as number)),
    {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: `The "fd" argument must be of type number. Received type string ('3')`,
    },
  )
  t.ok(fs.fstatSync(1), 'stdout is still open after closeFd(1.5)')
  closeFd(r)
  closeFd(w)
  t.throws(() => closeFd(w), { code: 'EBADF', syscall: 'close' }, 'a closed fd is a system error')
})

leakTest(t, 'new Connection(fd) refuses what is not a socket, without closing it', async (t) => {
  const file = path.join(tempDir(t), 'file')
  fs.writeFileSync(file, 'x')
  const fd = fs.openSync(file, 'r')
  t.throws(() => new Connection(fd), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_VALUE',
    message: `The argument 'fd' must be a connected Unix socket; fd ${fd} is a regular file. Received ${fd}`,
  })
  const [r, w] = pipe()
  t.throws(() => new Connection(r), { code: 'ERR_INVALID_ARG_VALUE', message: /is a pipe/ })
  t.equal(fs.readFileSync(fd, 'utf8'), 'x', 'the file fd is still open and ours')
  fs.closeSync(fd)
  t.throws(() => new Connection(fd), { code: 'EBADF', syscall: 'fstat' }, 'an fd that is not open is EBADF')
  for (const bad of badFds) t.throws(() => new Connection(bad as number), { code: /^ERR_(OUT_OF_RANGE|INVALID_ARG_TYPE)$/ })
  closeFd(r)
  closeFd(w)
})

leakTest(t, 'new Connection(socket, bad options) leaves the socket open and ours', async (t) => {
  const [mine, theirs] = socketPairFds()
  t.throws(() => new Connection(mine, { maxFrameSize: 1.5 }), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: /"options\.maxFrameSize".*an integer\. Received 1\.5/,
  })
  t.throws(() => new Connection(mine, { maxFdsPerFrame: 254 }), { code: 'ERR_OUT_OF_RANGE', message: /It must be >= 0 && <= 253\. Received 254/ })
  t.throws(() => new Connection(mine, { readBufferSize: '65536' as unknown as number }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  const a = new Connection(mine)
  const b = new Connection(theirs)
  a.send('still here')
  const [message] = (await once(b, 'message')) as [Message]
  t.equal(message.payload.toString(), 'still here', 'the socket survived the refused calls')
  a.destroy()
  b.destroy()
})

leakTest(t, 'send() with bad fds throws a Node argument error, sends nothing and keeps the connection', async (t) => {
  const [a, b] = socketPair()
  const [r, w] = pipe()
  const cases: [unknown, string, string | RegExp][] = [
    [[1.5], 'ERR_OUT_OF_RANGE', `The value of "options.fds[0]" is out of range. It must be an integer. Received 1.5`],
    [[w, '3'], 'ERR_INVALID_ARG_TYPE', `The "options.fds[1]" property must be of type number. Received type string ('3')`],
    [[NaN], 'ERR_OUT_OF_RANGE', /an integer\. Received NaN/],
    [[2 ** 31], 'ERR_OUT_OF_RANGE', /It must be >= 0 && <= 2147483647\. Received 2147483648/],
    [new Array(254).fill(w), 'ERR_OUT_OF_RANGE', /"options\.fds\.length".*Received 254/],
    [w, 'ERR_INVALID_ARG_TYPE', /"options\.fds" property must be an instance of Array\. Received type number/],
  ]
  for (const [fds, code, message] of cases) {
    t.throws(() => a.send('x', { fds: fds as number[], closeFds: true }), { code, message })
  }
  t.throws(() => a.send('x', { id: 2 ** 32 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /"options\.id"/ })
  t.throws(() => a.send(42 as unknown as string), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /"payload" argument/ })
  t.ok(fs.fstatSync(w), 'closeFds: true closed nothing on an argument error')
  const received = new Promise<void>((resolve) =>
    b.once('message', (message: Message) => {
      // fds are taken while the listener runs (the message closes the rest when it returns)
      t.equal(message.payload.toString(), 'after', 'the first message through is the good one')
      t.equal(message.fdCount, 1)
      t.throws(() => message.takeFd(1.5), { code: 'ERR_OUT_OF_RANGE', message: /"index".*an integer/ })
      t.throws(() => message.takeFd(1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /"index".*carried 1/ })
      closeFd(message.takeFd(0))
      resolve()
    }),
  )
  a.send('after', { fds: [w] })
  await received
  for (const fd of [r, w]) closeFd(fd)
  a.destroy()
  b.destroy()
})

leakTest(t, 'listen() and connect() check sizes and counts before creating anything', async (t) => {
  const dir = tempDir(t)
  const socket = path.join(dir, 's.sock')
  for (const backlog of [1.5, -1, 0, 65536, NaN]) {
    t.throws(() => listen(socket, { backlog }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /"options\.backlog"/ })
  }
  t.throws(() => listen(socket, { backlog: '5' as unknown as number }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => listen(socket, { mode: 0o1000 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.mode"/ })
  t.throws(() => listen(socket, { maxQueuedMessages: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => listen(socket, { allowPeer: true as never }), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /"options\.allowPeer" property must be of type function/,
  })
  t.throws(() => listen(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE', message: /"path" argument/ })
  t.throws(() => listen('a\0b'), { code: 'ERR_INVALID_ARG_VALUE' })
  t.same(fs.readdirSync(dir), [], 'no socket file was created')
  const listener = listen(socket)
  await t.rejects(connect(socket, { maxFrameSize: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.maxFrameSize"/ })
  await t.rejects(connect(socket, { timeout: 1.5 }), { code: 'ERR_OUT_OF_RANGE' })
  await t.rejects(connect(socket, { signal: {} as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE', message: /instance of AbortSignal/ })
  t.throws(() => socketPair({ highWaterMark: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  let accepted = 0
  listener.on('connection', () => accepted++)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(accepted, 0, 'no connection was made by the refused connect() calls')
  listener.close()
})

leakTest(t, 'dupFd: a close-on-exec duplicate of the same open file; its fd checked as closeSync checks one', async (t) => {
  const [r, w] = pipe()
  const copy = dupFd(w)
  t.not(copy, w)
  t.match(fs.readlinkSync(`/proc/self/fd/${copy}`), fs.readlinkSync(`/proc/self/fd/${w}`), 'the same pipe')
  const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${copy}`, 'utf8'))![1]!, 8)
  t.ok(flags & 0o2000000, 'O_CLOEXEC is set (fdinfo flags)')
  fs.writeSync(copy, 'x')
  closeFd(copy)
  const buffer = Buffer.alloc(1)
  t.equal(fs.readSync(r, buffer), 1, 'what the copy wrote came through the pipe')
  for (const fd of badFds)
    t.same(
      thrown(() => dupFd(fd as number)),
      thrown(() => fs.closeSync(fd as number)),
      `dupFd(${String(fd)})`,
    )
  const unused = 1_000_000
  t.match(
    thrown(() => dupFd(unused)),
    { code: 'EBADF', message: /dup/ },
  )
  closeFd(r)
  closeFd(w)
})
