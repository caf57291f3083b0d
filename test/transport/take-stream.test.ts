// takeSocket() / takeStream(): a received fd becomes a Node stream that owns it (real socketpairs,
// pipes, files, /dev/null, a terminal), the wrong kind of fd is refused without being taken, and
// the footgun they replace — `new net.Socket({ fd: message.fds[0] })` without taking the fd, which
// made libuv abort the process — now leaves the fd to the socket and warns instead (child
// processes, so a regression aborts them and not the test runner).
import { spawnSync } from 'node:child_process'
import * as dgram from 'node:dgram'
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import t from 'tap'
import { closeFd, pipe, socketPair, socketPairFds, type Connection, type Message } from '../../src/index.js'
import { accessMode, probeAccessMode } from '../../src/transport/fd-stream.js'
import { collect, exitCode, fixtures, leakTest, needs, node, spawnFixture, tempDir, thrown } from '../helpers.js'

type Test = Parameters<Parameters<typeof leakTest>[2]>[0]

t.before(() => {
  // Warm up what Node opens lazily (epoll, the threadpool's eventfd...), so leak checks see only ours.
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
  fs.fstatSync(0)
})

/**
 * Sends `fds` (our copies closed once sent: the received ones are the only ones left) over a fresh
 * socketpair and runs `fn` inside the 'message' listener, where the message still owns them.
 */
async function receive<T>(t: Test, fds: number[], fn: (m: Message) => T, closeFds = true): Promise<T> {
  const [a, b] = socketPair()
  t.teardown(() => {
    a.destroy()
    b.destroy()
  })
  const result = new Promise<T>((resolve, reject) => {
    b.once('message', (m: Message) => {
      try {
        resolve(fn(m))
      } catch (error) {
        reject(error)
      }
    })
  })
  a.send('fds', { fds, closeFds })
  try {
    return await result
  } finally {
    a.destroy()
    b.destroy()
  }
}

/** Reads `n` characters from `stream` without ending it. */
function read(stream: net.Socket, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const onData = (chunk: Buffer) => {
      text += chunk.toString()
      if (text.length < n) return
      stream.off('data', onData)
      stream.off('error', reject)
      stream.pause()
      resolve(text)
    }
    stream.on('data', onData)
    stream.once('error', reject)
  })
}

leakTest(t, 'takeSocket: a socketpair end becomes a net.Socket that owns it, and data flows both ways', async (t) => {
  const [theirs, mine] = socketPairFds()
  const { socket, fdsAfter } = await receive(t, [theirs], (m) => {
    const socket = m.takeSocket()
    return { socket, fdsAfter: m.fds }
  })
  t.ok(socket instanceof net.Socket)
  t.same(fdsAfter, [], 'the message holds it no more')
  t.ok(socket.readable && socket.writable, 'a socket reads and writes by default')
  const ours = new net.Socket({ fd: mine })
  ours.write('ping')
  t.equal(await read(socket, 4), 'ping', 'we wrote, the taken socket read')
  socket.write('pong')
  t.equal(await read(ours, 4), 'pong', 'the taken socket wrote, we read')
  // The message is long done: the socket still works, so the message did not close its fd.
  ours.end()
  await once(socket, 'end')
  socket.end()
  await Promise.all([once(socket, 'close'), once(ours, 'close')])
})

leakTest(t, 'takeSocket: a TCP socket too (Node wraps it in a TCP handle)', async (t) => {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection')
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await once(client, 'connect')
  const [peer] = (await accepted) as [net.Socket]
  // Send a duplicate of the client's fd (closeFds false: the original stays the client's).
  const clientFd = (client as unknown as { _handle: { fd: number } })._handle.fd
  const socket = await receive(t, [clientFd], (m) => m.takeSocket(), false)
  client.destroy()
  socket.end('over TCP, through the taken duplicate')
  t.equal(await collect(peer), 'over TCP, through the taken duplicate', 'EOF once both copies were closed')
  peer.destroy()
  server.close()
  await once(server, 'close')
})

leakTest(t, "takeSocket: a pipe's read end only reads, its write end only writes", async (t) => {
  const [r, w] = pipe()
  const { reader, writer } = await receive(t, [r, w], (m) => ({ reader: m.takeSocket(0), writer: m.takeSocket(1) }))
  t.equal(reader.readable, true)
  t.equal(reader.writable, false, 'the read end is not writable (O_RDONLY)')
  t.equal(writer.readable, false, 'the write end is not readable (O_WRONLY)')
  t.equal(writer.writable, true)
  const text = collect(reader)
  writer.end('through a pipe, both ends taken')
  t.equal(await text, 'through a pipe, both ends taken', 'EOF came: the write end was closed by its socket, and only there')
  await Promise.all([reader.closed ? undefined : once(reader, 'close'), writer.closed ? undefined : once(writer, 'close')])
})

leakTest(t, 'takeStream: files become fs streams by access mode; one open both ways needs a mode', async (t) => {
  const dir = tempDir(t)
  const input = path.join(dir, 'input.txt')
  const output = path.join(dir, 'output.txt')
  const both = path.join(dir, 'both.txt')
  fs.writeFileSync(input, 'read through a ReadStream')
  fs.writeFileSync(both, 'xxxx')
  const fds = [fs.openSync(input, 'r'), fs.openSync(output, 'w'), fs.openSync(both, 'r+')]
  const got = await receive(t, fds, (m) => {
    const readStream = m.takeStream(0)
    const writeStream = m.takeStream(1)
    const before = m.fds
    const ambiguous = thrown(() => m.takeStream(2))
    const stillThere = m.fds
    const rw = m.takeStream(2, { mode: 'w' })
    return { readStream, writeStream, before, ambiguous, stillThere, rw }
  })
  t.ok(got.readStream instanceof fs.ReadStream, 'O_RDONLY: fs.ReadStream')
  t.ok(got.writeStream instanceof fs.WriteStream, 'O_WRONLY: fs.WriteStream')
  t.match(got.ambiguous, {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_VALUE',
    message: /^The property 'options\.mode' must be 'r' or 'w' for fd \d+ \(index 2\), a regular file open for reading and writing\. Received undefined$/,
  })
  t.same(got.stillThere, got.before, 'the refused fd stayed in the message')
  t.equal(got.before.length, 1)
  t.equal(await collect(got.readStream as fs.ReadStream), 'read through a ReadStream')
  const ws = got.writeStream as fs.WriteStream
  ws.end('written through a WriteStream')
  await once(ws, 'close')
  t.equal(fs.readFileSync(output, 'utf8'), 'written through a WriteStream')
  const rw = got.rw as fs.WriteStream
  t.ok(rw instanceof fs.WriteStream, "O_RDWR with mode 'w': fs.WriteStream")
  rw.end('yy')
  await once(rw, 'close')
  t.equal(fs.readFileSync(both, 'utf8'), 'yyxx', 'written from the offset the fd had (0)')
  if (!got.readStream.closed) await once(got.readStream, 'close')
})

leakTest(t, 'takeStream: /dev/null, a socket and a pipe', async (t) => {
  const [theirs, mine] = socketPairFds()
  const [r, w] = pipe()
  const fds = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'w'), theirs, r]
  const [nullIn, nullOut, socket, reader] = await receive(t, fds, (m) => [m.takeStream(0), m.takeStream(1), m.takeStream(2), m.takeStream(3)])
  t.ok(nullIn instanceof fs.ReadStream, '/dev/null read-only: fs.ReadStream')
  t.equal(await collect(nullIn as fs.ReadStream), '', 'which ends at once')
  t.ok(nullOut instanceof fs.WriteStream, '/dev/null write-only: fs.WriteStream')
  ;(nullOut as fs.WriteStream).end('into the void')
  await once(nullOut!, 'close')

  t.ok(socket instanceof net.Socket, 'a socket: net.Socket')
  const ours = new net.Socket({ fd: mine })
  ;(socket as net.Socket).end('over the socket')
  t.equal(await collect(ours), 'over the socket')
  await Promise.all([(socket as net.Socket).closed ? undefined : once(socket!, 'close'), ours.closed ? undefined : once(ours, 'close')])

  t.ok(reader instanceof net.Socket, 'a pipe: net.Socket')
  t.equal((reader as net.Socket).writable, false, 'reading only')
  fs.writeSync(w, 'down the pipe')
  closeFd(w)
  t.equal(await collect(reader as net.Socket), 'down the pipe')
  if (!(reader as net.Socket).closed) await once(reader!, 'close')
})

leakTest(t, 'the wrong kind of fd: ERR_INVALID_ARG_VALUE naming index, fd and type; nothing taken, all closed with the message', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'file')
  fs.writeFileSync(file, 'x')
  const udp = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
  const udpFd = (udp as unknown as { _handle: { fd: number } })._handle.fd
  const [a, b] = socketPair()
  const got = new Promise<{ fds: readonly number[]; errors: ReturnType<typeof thrown>[]; after: readonly number[] }>((resolve) => {
    b.once('message', (m: Message) => {
      const fds = m.fds
      const errors = [
        thrown(() => m.takeSocket(0)),
        thrown(() => m.takeSocket(1)),
        thrown(() => m.takeStream(1)),
        thrown(() => m.takeSocket(2)),
        thrown(() => m.takeStream(2)),
      ]
      resolve({ fds, errors, after: m.fds })
    })
  })
  // Our copies of the file and directory go (closeFds); the UDP socket stays dgram's.
  const fileFd = fs.openSync(file, 'r')
  const dirFd = fs.openSync(dir, 'r')
  a.send('wrong', { fds: [fileFd, dirFd], closeFds: true })
  const [c, d] = socketPair()
  c.send('udp', { fds: [udpFd] })
  const udpGot = new Promise<ReturnType<typeof thrown>[]>((resolve) => {
    d.once('message', (m: Message) => resolve([thrown(() => m.takeSocket()), thrown(() => m.takeStream())]))
  })
  const { fds, errors, after } = await got
  const [onFile, onDir, streamOnDir] = errors
  t.match(onFile, {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_VALUE',
    message: new RegExp(`^The argument 'index' refers to fd ${fds[0]}, a regular file: takeSocket\\(\\) wraps stream sockets and pipes only .*Received 0$`),
  })
  t.match(onDir, { code: 'ERR_INVALID_ARG_VALUE', message: new RegExp(`'index' refers to fd ${fds[1]}, a directory: .*Received 1$`) })
  t.match(streamOnDir, { code: 'ERR_INVALID_ARG_VALUE', message: new RegExp(`'index' refers to fd ${fds[1]}, a directory: takeStream\\(\\) wraps`) })
  t.match(errors[3], { code: 'ERR_OUT_OF_RANGE', message: /The value of "index" is out of range\. .*Received 2$/ }, 'an index past the end: as takeFd')
  t.same(after, fds, 'the message still holds both fds after five refusals')
  const udpErrors = await udpGot
  for (const e of udpErrors) {
    t.match(e, {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /refers to fd \d+, a UDP socket \(Node classifies it as UDP\): net\.Socket wraps stream sockets and pipes only/,
    })
  }
  for (const conn of [a, b, c, d] as Connection[]) conn.destroy()
  udp.close()
  await once(udp, 'close')
  // The leak check proves the message closed the fds it kept.
})

leakTest(t, 'index and options are checked as takeFd checks its index; nothing taken on a bad one', async (t) => {
  const [r, w] = pipe()
  const got = await receive(t, [r, w], (m) => {
    const errors = {
      type: thrown(() => m.takeSocket('0' as unknown as number)),
      fraction: thrown(() => m.takeSocket(0.5)),
      options: thrown(() => m.takeSocket(0, 5 as unknown as object)),
      readable: thrown(() => m.takeSocket(0, { readable: 'yes' as unknown as boolean })),
      mode: thrown(() => m.takeStream(0, { mode: 'x' as 'r' })),
      readWriteEnd: thrown(() => m.takeSocket(1, { readable: true })),
      writeReadEnd: thrown(() => m.takeStream(0, { mode: 'w' })),
    }
    const untouched = m.fds
    const reader = m.takeSocket(0)
    const again = thrown(() => m.takeSocket(0))
    return { errors, untouched, reader, again, message: m }
  })
  const e = got.errors
  t.match(e.type, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: `The "index" argument must be of type number. Received type string ('0')` })
  t.match(e.fraction, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /must be an integer\. Received 0\.5$/ })
  t.match(e.options, { code: 'ERR_INVALID_ARG_TYPE', message: /The "options" argument must be of type object/ })
  t.match(e.readable, { code: 'ERR_INVALID_ARG_TYPE', message: /The "options\.readable" property must be of type boolean/ })
  t.match(e.mode, { code: 'ERR_INVALID_ARG_VALUE', message: `The property 'options.mode' must be 'r' or 'w'. Received 'x'` })
  t.match(e.readWriteEnd, {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /^The property 'options\.readable' cannot apply to fd \d+ \(index 1\), a pipe open for writing only\. Received true$/,
  })
  t.match(e.writeReadEnd, {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /^The property 'options\.mode' cannot apply to fd \d+ \(index 0\), a pipe open for reading only\. Received 'w'$/,
  })
  t.equal(got.untouched.length, 2, 'both fds still in the message after every refusal')
  t.match(got.again, { code: 'ERR_OUT_OF_RANGE', message: /still holds \(it carried 2; taken ones are gone\)\. Received 0$/ }, 'taken once only')
  t.match(
    thrown(() => got.message.takeSocket(1)),
    { code: 'ERR_OUT_OF_RANGE', message: /not closed yet/ },
    'after the listeners returned, the rest is closed',
  )
  got.reader.destroy()
  await once(got.reader, 'close')
})

leakTest(t, 'access modes: /proc/self/fdinfo and the zero-byte probe (used where /proc is not) agree', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'file')
  fs.writeFileSync(file, 'x')
  const fifo = path.join(dir, 'fifo')
  const made = spawnSync('mkfifo', [fifo]).status === 0
  const [r, w] = pipe()
  const cases: [string, number, string][] = [
    ['pipe read end', r, 'r'],
    ['pipe write end', w, 'w'],
    ['file O_RDONLY', fs.openSync(file, 'r'), 'r'],
    ['file O_WRONLY|O_APPEND', fs.openSync(file, 'a'), 'w'],
    ['file O_RDWR', fs.openSync(file, 'r+'), 'rw'],
    ['/dev/null O_WRONLY', fs.openSync('/dev/null', 'w'), 'w'],
  ]
  // A FIFO opened O_RDWR does not wait for a peer on Linux (fifo(7)).
  if (made) cases.push(['FIFO O_RDWR', fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK), 'rw'])
  for (const [what, fd, expected] of cases) {
    t.equal(accessMode(fd), expected, `${what}: ${expected} (/proc)`)
    t.equal(probeAccessMode(fd), expected, `${what}: ${expected} (probe)`)
  }
  t.equal(fs.readFileSync(file, 'utf8'), 'x', 'the probes wrote nothing')
  for (const [, fd] of cases) closeFd(fd)
})

/** Spawns `node fixture args` and returns its exit code, signal, stdout (parsed) and stderr. */
async function runFixture(t: Test, name: string, args: string[]) {
  const child = spawnFixture(t, name, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const [stdout, stderr, code] = await Promise.all([collect(child.stdout), collect(child.stderr), exitCode(child)])
  return { code, signal: child.signalCode, stdout, stderr }
}

for (const [scenario, holder, what, data] of [
  ['message', 'message', 'a socket, twice', ['ping/pong', 'ping/pong']],
  ['pipe', 'message', "a pipe's read end", ['through the pipe']],
  ['reply', 'reply', 'a socket', ['ping/pong']],
  ['request', 'request', 'a socket', ['ping/pong']],
] as const) {
  t.test(`new net.Socket({ fd: ${holder}.fds[0] }) without taking it (${what}): no abort, the socket keeps the fd, one warning`, async (t) => {
    const run = await runFixture(t, 'fd-not-taken.mjs', [scenario])
    if (run.signal !== null || run.code !== 0) t.comment(run.stderr)
    t.equal(run.signal, null, 'not killed by a signal (this was SIGABRT from libuv)')
    t.equal(run.code, 0, 'exited normally')
    const result = JSON.parse(run.stdout) as { data: string[]; warnings: { code: string; message: string }[]; open: number }
    t.same(result.data, data, 'data went through the wrapped socket after the holder was done (its fd stayed open)')
    t.equal(result.warnings.length, 1, 'one warning per process')
    t.match(result.warnings[0], {
      code: 'FDWIRE_FD_NOT_TAKEN',
      message: new RegExp(
        `^fd \\d+ of a ${holder} was wrapped \\(e\\.g\\. by new net\\.Socket\\(\\{ fd \\}\\)\\) without takeFd\\(\\).*takeSocket\\(\\) or takeStream\\(\\).*takeFd\\(\\)`,
      ),
    })
    t.match(run.stderr, /\[FDWIRE_FD_NOT_TAKEN\] Warning: fd \d+ of a/, 'printed on stderr by default')
    t.equal(result.open, 0, 'and the socket closed the fd when destroyed: nothing left open')
  })
}

t.test('an fd looked at through fds but not wrapped is still closed by its message, without a warning', async (t) => {
  const run = await runFixture(t, 'fd-not-taken.mjs', ['untaken'])
  t.equal(run.signal, null)
  t.equal(run.code, 0, run.stderr)
  t.same(JSON.parse(run.stdout), { data: ['saw 1, then 0 open'], warnings: [], open: 0 })
})

leakTest(t, 'the wrapped-fd check runs only for fds handed out through fds and not taken', async (t) => {
  const p = process as unknown as { _getActiveHandles: () => unknown[] }
  const original = p._getActiveHandles
  let calls = 0
  p._getActiveHandles = function (this: unknown) {
    calls++
    return original.call(this)
  }
  t.teardown(() => {
    p._getActiveHandles = original
  })
  const [r1, w1] = pipe()
  await receive(t, [r1], () => undefined)
  t.equal(calls, 0, 'fds never looked at: closed without looking for handles')
  const [r2, w2] = pipe()
  const taken = await receive(t, [r2], (m) => {
    void m.fds
    return m.takeFd()
  })
  t.equal(calls, 0, 'looked at, then taken: nothing left to check')
  closeFd(taken)
  const [r3, w3] = pipe()
  await receive(t, [r3], (m) => void m.fds)
  t.equal(calls, 1, 'looked at and left: checked once before closing')
  for (const fd of [w1, w2, w3]) closeFd(fd)
})

t.test('takeStream on a terminal: a tty stream, and the fd libuv reopened over ours is not leaked', async (t) => {
  const script = spawnSync('script', ['--version']).status === 0
  if (!needs(t, script ? undefined : 'script (util-linux) is not installed', 'apt-get install -y bsdutils')) return
  // `script` runs the fixture on a new pseudo-terminal: its stdin is a terminal to send itself.
  const fixture = path.join(fixtures, 'take-tty.mjs')
  const command = [...node, fixture].map((a) => `'${a}'`).join(' ')
  const run = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } })
  t.equal(run.status, 0, `script ran the fixture: ${run.stderr}`)
  const line = run.stdout.split(/\r?\n/).find((l) => l.startsWith('{'))
  if (line === undefined) t.comment(run.stdout)
  t.ok(line, 'the fixture reported')
  t.same(JSON.parse(line!), { isTTY: true, ambiguous: 'ERR_INVALID_ARG_VALUE', stream: 'WriteStream', leaked: 0 })
  t.match(run.stdout, /written through a tty\.WriteStream/, 'the text reached the terminal')
})
