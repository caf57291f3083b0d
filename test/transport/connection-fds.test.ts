import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { closeFd, listen, pipe, socketPair, type Connection, type Message } from '../../src/index.js'
import { native } from '../../src/binding.js'
import { collect, exitCode, fdFlags, fdInode, leakTest, O_CLOEXEC, spawnFixture, tempDir } from '../helpers.js'

/** Listens in a temp dir, starts fd-peer.mjs against it, resolves with our end of its connection. */
async function peerProcess(t: Test) {
  const socket = path.join(tempDir(t), 'peer.sock')
  const listener = listen(socket)
  const child = spawnFixture(t, 'fd-peer.mjs', [socket])
  const [connection] = (await once(listener, 'connection')) as [Connection]
  listener.close()
  const replies = connection[Symbol.asyncIterator]()
  let nextId = 1
  const request = async (command: object, fds?: number[]) => {
    const id = nextId++
    connection.send(JSON.stringify(command), { id, ...(fds ? { fds } : {}) })
    const { value, done } = await replies.next()
    if (done) throw new Error('peer closed')
    t.equal(value.id, id, 'reply carries the request id')
    return JSON.parse(value.payload.toString()) as Record<string, unknown>
  }
  const finish = async () => {
    connection.send(JSON.stringify({ op: 'end' }))
    await replies.next()
    t.equal(await exitCode(child), 0, 'peer exited cleanly')
  }
  return { connection, child, request, finish }
}

t.before(async () => {
  // Warm up what Node opens lazily (child_process pipes, epoll), so leak checks see only ours.
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

leakTest(t, 'passes the write end of a pipe to another process, which writes through it', async (t) => {
  const peer = await peerProcess(t)
  const [readEnd, writeEnd] = pipe()
  const reading = collect(fs.createReadStream('', { fd: readEnd }))
  t.same(await peer.request({ op: 'write', text: 'written by the peer process\n' }, [writeEnd]), { ok: true })
  closeFd(writeEnd)
  // EOF arrives only once the peer closed its copy too: the fd really travelled.
  t.equal(await reading, 'written by the peer process\n')
  await peer.finish()
})

leakTest(t, '3 fds on one frame and 200 on the next: each frame gets exactly its own', async (t) => {
  const peer = await peerProcess(t)
  const pipes = [pipe(), pipe(), pipe(), pipe()]
  const three = pipes.slice(0, 3).map(([, w]) => w)
  const twoHundred = new Array<number>(200).fill(pipes[3]![1])
  const inodes = pipes.map(([r]) => fdInode(r))
  const first = await peer.request({ op: 'describe' }, three)
  const second = await peer.request({ op: 'describe' }, twoHundred)
  const none = await peer.request({ op: 'describe' })
  t.same(
    (first['fds'] as { ino: number }[]).map((f) => f.ino),
    inodes.slice(0, 3),
    'frame 1: its 3 fds, in order',
  )
  t.same(
    (second['fds'] as { ino: number }[]).map((f) => f.ino),
    new Array(200).fill(inodes[3]),
    'frame 2: its 200 fds',
  )
  t.same(none['fds'], [], 'frame 3: none')
  const all = [...(first['fds'] as { cloexec: boolean }[]), ...(second['fds'] as { cloexec: boolean }[])]
  t.ok(
    all.every((f) => f.cloexec),
    'every received fd is close-on-exec in the peer',
  )
  for (const [r, w] of pipes) {
    closeFd(r)
    closeFd(w)
  }
  await peer.finish()
})

leakTest(t, 'peer credentials are the peer process pid and uid, both ways', async (t) => {
  const peer = await peerProcess(t)
  t.equal(peer.connection.peer.pid, peer.child.pid, 'daemon side sees the child pid')
  t.equal(peer.connection.peer.uid, process.getuid!())
  t.equal(peer.connection.peer.gid, process.getgid!())
  const view = await peer.request({ op: 'peer' })
  t.same(view['peer'], { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() }, 'child side sees us')
  await peer.finish()
})

leakTest(t, 'received fds are close-on-exec', async (t) => {
  const [a, b] = socketPair()
  const [r, w] = pipe()
  a.send('x', { fds: [r, w] })
  for await (const message of b) {
    t.equal(message.fds.length, 2)
    for (const fd of message.fds) t.ok(fdFlags(fd) & O_CLOEXEC, `fd ${fd} has O_CLOEXEC`)
    break // returns the iterator: the message is done and its untaken fds are closed
  }
  closeFd(r)
  closeFd(w)
  a.destroy()
  b.destroy()
})

leakTest(t, 'closes fds a handler did not take, keeps the ones it took', async (t) => {
  const [a, b] = socketPair()
  const [r, w] = pipe()
  a.send('x', { fds: [r, w], closeFds: true })
  let taken = -1
  let leftBehind = -1
  b.on('message', (message) => {
    taken = message.takeFd(0)
    leftBehind = message.fds[0]!
  })
  await once(b, 'message')
  await new Promise((resolve) => setImmediate(resolve))
  t.doesNotThrow(() => fs.fstatSync(taken), 'the taken fd is still open')
  t.throws(() => fs.fstatSync(leftBehind), { code: 'EBADF' }, 'the untaken fd was closed')
  closeFd(taken)
  a.destroy()
  b.destroy()
})

leakTest(t, 'closeFds closes our copies once sent; without it they stay ours', async (t) => {
  const [a, b] = socketPair()
  const [r1, w1] = pipe()
  const [r2, w2] = pipe()
  a.send('kept', { fds: [w1] })
  a.send('given', { fds: [w2], closeFds: true })
  t.doesNotThrow(() => fs.fstatSync(w1), 'fd sent without closeFds stays open')
  t.throws(() => fs.fstatSync(w2), { code: 'EBADF' }, 'fd sent with closeFds is closed')
  let received = 0
  for await (const message of b) {
    t.equal(message.fdCount, 1)
    if (++received === 2) break
  }
  for (const fd of [r1, w1, r2]) closeFd(fd)
  a.destroy()
  b.destroy()
})

leakTest(t, 'more than 253 fds on one message is a RangeError naming the argument', async (t) => {
  const [a, b] = socketPair()
  const [r, w] = pipe()
  t.throws(() => a.send('x', { fds: new Array<number>(254).fill(w) }), { name: 'RangeError', message: /options\.fds/ })
  t.throws(() => a.send('x', { fds: [-1] }), { name: 'RangeError', message: /options\.fds\[0\]/ })
  t.throws(() => a.send('x', { fds: ['3' as unknown as number] }), { name: 'TypeError', message: /options\.fds\[0\]/ })
  const fds = new Array<number>(253).fill(w)
  t.equal(a.send('x', { fds }), true, '253 fds fit')
  const [message] = (await once(b, 'message')) as [Message]
  t.equal(message.fdCount, 253)
  t.same(message.fds, [], 'and were closed once the listener returned')
  closeFd(r)
  closeFd(w)
  a.destroy()
  b.destroy()
})

leakTest(t, 'fds queued behind backpressure still arrive with their own frame', async (t) => {
  const [a, b] = socketPair({ highWaterMark: 1 })
  b.pause()
  const [r, w] = pipe()
  const big = Buffer.alloc(512 * 1024, 1)
  a.send(big) // fills the socket buffer; the rest is queued
  a.send('with-fd', { fds: [w] }) // queued: the writer must dup and keep the fd
  closeFd(w) // closing ours right away must not matter
  b.resume()
  const seen: [number, number][] = []
  for await (const message of b) {
    seen.push([message.payload.length, message.fdCount])
    if (message.fdCount) t.equal(fdInode(message.fds[0]!), fdInode(r), 'the fd is the pipe we sent')
    if (seen.length === 2) break
  }
  t.same(seen, [
    [big.length, 0],
    [7, 1],
  ])
  closeFd(r)
  a.destroy()
  b.destroy()
})

/** An fd number that is not open right now. */
function closedFdNumber(): number {
  const [r, w] = pipe()
  closeFd(w)
  closeFd(r)
  return r
}

leakTest(t, 'a send with a closed fd throws EBADF naming it; nothing is sent and the connection goes on', async (t) => {
  const [a, b] = socketPair()
  const [r, w] = pipe()
  const bad = closedFdNumber()
  let drained = false
  a.on('drain', () => (drained = true))
  t.throws(() => a.send('lost', { fds: [w, bad] }), {
    code: 'EBADF',
    errno: -os.constants.errno.EBADF,
    syscall: 'fcntl',
    message: new RegExp(`options\\.fds\\[1\\] \\(fd ${bad}\\) is not an open file descriptor`),
  })
  t.ok(native.isCloexec(w) >= 0, 'without closeFds, the caller keeps its good fd')
  t.throws(() => a.send('lost', { fds: [w, bad], closeFds: true }), { code: 'EBADF' })
  t.equal(native.isCloexec(w), -os.constants.errno.EBADF, 'with closeFds, the fds that were open were closed')
  t.equal(a.send('next', { id: 2 }), true, 'the next send goes through')
  const [message] = (await once(b, 'message')) as [Message]
  t.same([message.id, message.payload.toString(), message.fdCount], [2, 'next', 0], 'only the good message arrived')
  t.notOk(a.closed || b.closed, 'both ends still open')
  t.notOk(drained, 'no drain was promised')
  closeFd(r)
  a.destroy()
  b.destroy()
})

leakTest(t, 'an fd closed between the check and sendmsg fails that send alone (sendmsg EBADF)', async (t) => {
  const [a, b] = socketPair()
  const bad = closedFdNumber()
  // Stand-in for another thread closing the fd right after the check: the check passes once.
  const check = native.isCloexec
  let bypassed = 0
  native.isCloexec = (fd: number) => (fd === bad && bypassed++ === 0 ? 1 : check(fd))
  try {
    t.throws(() => a.send('lost', { fds: [bad] }), {
      code: 'EBADF',
      syscall: 'sendmsg',
      message: new RegExp(`fd ${bad}\\) was closed before it could be sent`),
    })
  } finally {
    native.isCloexec = check
  }
  t.ok(bypassed > 0, 'the check was bypassed once')
  a.send('next')
  const [message] = (await once(b, 'message')) as [Message]
  t.equal(message.payload.toString(), 'next', 'the connection goes on')
  t.notOk(a.closed, 'still open')
  a.destroy()
  b.destroy()
})
