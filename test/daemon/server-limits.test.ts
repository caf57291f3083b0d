// A Server's limits: maxConnections (ERR_FDWIRE_BUSY), and maxFrameSize on either side failing one
// request while the connection goes on.
import { execFile, execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { Client } from '../../src/index.js'
import { encodeHello, encodeRequest } from '../../src/protocol/encode.js'
import { frame, leakTest, root, tempDir, until, within } from '../helpers.js'
import { client, openLazyFds, startServer } from './lib.js'

t.before(openLazyFds)

const execFileAsync = promisify(execFile)

leakTest(t, 'at most maxConnections at once: the next client gets ERR_FDWIRE_BUSY, and gets in once one leaves', async (t) => {
  const server = await startServer(t, { maxConnections: 2 })
  const refused: string[] = []
  server.on('refused', ({ code }) => refused.push(code))
  const a = await client(t, server)
  await client(t, server)
  await t.rejects(Client.connect(server.socketPath), { name: 'RemoteError', code: 'ERR_FDWIRE_BUSY', message: /busy: 2 connections \(limit 2\)/ })
  t.same(refused, ['ERR_FDWIRE_BUSY'])
  await a.close()
  t.ok(await until(() => server.connections === 1))
  const c = await client(t, server)
  t.equal((await c.request('fdwire.status')).json<{ connections: number }>().connections, 2)
})

leakTest(t, "a request over the daemon's maxFrameSize rejects with ERR_FDWIRE_FRAME_TOO_LARGE before anything is sent", async (t) => {
  let seen = 0
  const server = await startServer(t, { maxFrameSize: 4096 }, (s) => {
    s.handle('echo', (request) => {
      seen++
      return request.body
    })
  })
  const c = await client(t, server)
  t.equal(c.daemon.maxFrameSize, 4096, "the client learnt the daemon's limit from its hello")
  await t.rejects(c.request('echo', Buffer.alloc(5000)), {
    code: 'ERR_FDWIRE_FRAME_TOO_LARGE',
    message: /payload is \d+ bytes, over the peer's maxFrameSize of 4096 bytes/,
  })
  t.equal((await c.request('echo', 'small')).text(), 'small', 'the connection goes on')
  t.equal(seen, 1, 'the daemon saw only the small request')
  t.notOk(c.closed)
})

leakTest(t, "a reply over the client's maxFrameSize fails that request alone, with the reason", async (t) => {
  const errors: unknown[] = []
  const server = await startServer(t, {}, (s) => {
    s.handle('big', () => Buffer.alloc(8192))
    s.handle('small', () => 'ok')
    s.on('handlerError', (error) => errors.push(error))
  })
  const c = await client(t, server, { maxFrameSize: 4096 })
  await t.rejects(within(c.request('big'), 'the reply to big'), {
    name: 'RemoteError',
    code: 'ERR_FDWIRE_FRAME_TOO_LARGE',
    message: /over the peer's maxFrameSize of 4096 bytes/,
  })
  t.equal((await c.request('small')).text(), 'ok', 'the connection goes on')
  t.match(errors, [{ code: 'ERR_FDWIRE_FRAME_TOO_LARGE' }], "the daemon heard of it ('handlerError')")
})

// The addon reads a connection's first frame as it accepts it, so a handler that answers at once
// has replied before the listener would accept again. A client that closes and reconnects at
// once (compiled C: no start-up between connections) used to find its next connection accepted
// before the end of the previous one was seen: connections piled up to maxConnections and were
// refused, though the client held one at a time.
leakTest(t, 'a client that connects, asks and closes in a tight loop is never refused: it holds one connection at a time', async (t) => {
  const dir = tempDir(t)
  const binary = path.join(dir, 'connect-loop')
  execFileSync(process.env['CC'] ?? 'cc', [
    '-std=c11',
    '-D_GNU_SOURCE',
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-o',
    binary,
    path.join(root, 'bench', 'floor', 'connect-loop.c'),
  ])
  const request = path.join(dir, 'request')
  const hello = Buffer.from(encodeHello())
  const ask = Buffer.from(encodeRequest(1, 'ask'))
  fs.writeFileSync(request, Buffer.concat([frame(hello), frame(ask, { id: 1 })]))
  let answered = 0
  const refused: string[] = []
  const server = await startServer(t, { maxConnections: 2 }, (s) => {
    s.handle('ask', () => {
      answered++
      return 'yes'
    })
    s.on('refused', ({ reason }) => refused.push(reason))
  })
  const count = 2000
  const { stdout } = await within(execFileAsync(binary, [server.socketPath, request, String(count)]), 'the client loop', 120_000)
  t.equal(stdout, `${count}\n`, 'the client got an answer every time')
  t.same(refused.slice(0, 3), [], 'no connection was refused')
  t.equal(answered, count, 'every request reached the handler')
  t.ok(await until(() => server.connections === 0))
})
