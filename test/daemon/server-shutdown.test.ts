// A Server shutting down: after idleTimeout, close() draining running handlers, shutdownTimeout
// aborting stuck ones, and a reconnecting client reaching the daemon that replaces it.
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Client } from '../../src/index.js'
import { leakTest, tempDir, until } from '../helpers.js'
import { client, gate, openLazyFds, startServer } from './lib.js'

t.before(openLazyFds)

leakTest(t, 'idle shutdown: closes after idleTimeout without connections', async (t) => {
  const server = await startServer(t, { idleTimeout: 100 })
  const c = await client(t, server)
  await sleep(300)
  t.equal((await c.request('fdwire.status')).json<{ pid: number }>().pid, process.pid, 'a connected client keeps it alive past the idle timeout')
  const closedEvent = once(server, 'close')
  await c.close()
  await closedEvent
  t.notOk(fs.existsSync(server.socketPath), 'it closed once the last client left')
  t.notOk(fs.existsSync(server.pidFilePath!))
})

leakTest(t, 'idle shutdown: a connection that came and went moves the idle close to idleTimeout after it', async (t) => {
  // The idle timer starts at listen(). A connection opened and closed while it runs must push the
  // close back to idleTimeout after that connection ended, not leave it where listen() put it.
  const idleTimeout = 3000
  const server = await startServer(t, { idleTimeout })
  let lastEnded = 0
  server.on('connection', (connection) => connection.on('close', () => void (lastEnded = performance.now())))
  const closedAt = once(server, 'close').then(() => performance.now())
  await sleep(idleTimeout / 3)
  const c = await client(t, server)
  await c.close()
  t.ok(await until(() => lastEnded > 0 && server.connections === 0), 'the server saw the connection end')
  const status = server.status() as { idleCloseInMs: number | null }
  t.ok(
    status.idleCloseInMs !== null && status.idleCloseInMs > idleTimeout / 2,
    `status counts from the end of that connection (${status.idleCloseInMs} ms left)`,
  )
  const waited = (await closedAt) - lastEnded
  t.ok(waited >= idleTimeout - 2, `it closed ${Math.round(waited)} ms after the connection ended (idleTimeout ${idleTimeout} ms)`)
})

leakTest(t, 'reconnect: after the daemon restarts the next request works; without it, ERR_FDWIRE_CLOSED', async (t) => {
  const runtimeDir = path.join(tempDir(t), 'run')
  const first = await startServer(t, { runtimeDir, buildId: 'one' })
  const c = await client(t, first.socketPath, { reconnect: true })
  const plain = await client(t, first.socketPath)
  t.equal(c.daemon.buildId, 'one')
  await first.close()
  t.ok(await until(() => c.closed && plain.closed), 'both clients saw the daemon go')
  const second = await startServer(t, { runtimeDir, buildId: 'two' })
  second.handle('who', () => 'second')
  t.equal((await c.request('who')).text(), 'second', 'the reconnecting client reached the new daemon')
  t.equal(c.daemon.buildId, 'two', 'with its hello')
  await t.rejects(plain.request('who'), { code: 'ERR_FDWIRE_CLOSED' })
})

leakTest(t, 'close() lets running handlers finish, refuses new requests meanwhile, then ends connections', async (t) => {
  const release = gate()
  const started = gate()
  const server = await startServer(t, {}, (s) =>
    s.handle('slow', async () => {
      started.open()
      await release.promise
      return 'finished'
    }),
  )
  const c = await client(t, server)
  const slow = c.request('slow')
  await started.promise
  const closing = server.close()
  await t.rejects(c.request('slow'), { code: 'ERR_FDWIRE_SHUTTING_DOWN' }, 'a new request is refused while draining')
  await t.rejects(Client.connect(server.socketPath), { code: 'ENOENT' }, 'new connections are refused: the socket is gone')
  release.open()
  t.equal((await slow).text(), 'finished', 'the running request completed')
  await closing
  t.ok(await until(() => c.closed))
})

leakTest(t, 'shutdownTimeout aborts handlers that do not finish', async (t) => {
  const aborted = gate<string | undefined>()
  const server = await startServer(t, { shutdownTimeout: 50 }, (s) =>
    s.handle('stuck', async (request) => {
      await once(request.signal, 'abort')
      aborted.open((request.signal.reason as { code?: string }).code)
      throw request.signal.reason
    }),
  )
  const c = await client(t, server)
  const stuck = c.request('stuck').catch((e: unknown) => e)
  await until(() => server.status()['inFlight'] === 1)
  await server.close()
  t.equal(await aborted.promise, 'ERR_FDWIRE_SHUTTING_DOWN')
  t.match(await stuck, { code: 'ERR_FDWIRE_SHUTTING_DOWN' }, 'and the caller got that error')
})
