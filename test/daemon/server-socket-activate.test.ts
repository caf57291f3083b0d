/**
 * Idle exit and socket activation compose: under systemd-socket-activate(1) a Server with
 * `idleTimeout` starts on the first connection, serves, exits when idle, and the next connection
 * (even one made while the old daemon was still on its way out) is served by a new daemon.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { Client } from '../../src/index.js'
import { fixtures, leakTest, needs, node, tempDir } from '../helpers.js'
import { activationManager, enableSocketActivate, noSocketActivate } from '../socket-activate.js'
import { openLazyFds } from './lib.js'

t.before(openLazyFds)

/** Long enough for a Node daemon to start on a loaded machine: a hang guard. */
const CONNECT = { timeout: 120_000 }

leakTest(t, 'systemd-socket-activate: started on the first connection, idle exit, started again by the next one', async (t) => {
  if (!needs(t, noSocketActivate, enableSocketActivate)) return
  const dir = tempDir(t)
  const socketPath = path.join(dir, 'app.sock')
  const config = { systemdName: 'app', idleTimeout: 100, holdExit: true }
  const manager = await activationManager(t, socketPath, 'app', [
    ...node,
    path.join(fixtures, 'activated-daemon.mjs'),
    path.join(dir, 'run'),
    JSON.stringify(config),
  ])
  /** Reads the daemons' lines until `pid` reports it closed (its idle exit). */
  const closedBy = async (pid: number) => {
    for (;;) if ((JSON.parse(await manager.nextLine()) as { closed?: number }).closed === pid) return
  }
  const pidOf = async (client: Client) => (await client.request('pid')).json<{ pid: number }>().pid

  const first = await Client.connect(socketPath, CONNECT)
  const a = await pidOf(first)
  t.ok(a > 0, 'the first connection started a daemon, which serves it')
  first.destroy()
  await closedBy(a)
  t.ok(fs.statSync(socketPath).isSocket(), 'its idle exit left the socket to the manager')

  // Daemon a has closed its listener but not exited yet (it waits for SIGUSR2): nobody accepts,
  // the connection waits in the manager's backlog.
  const waiting = Client.connect(socketPath, CONNECT)
  process.kill(a, 'SIGUSR2')
  const second = await waiting
  const b = await pidOf(second)
  t.not(b, a, 'the connection made during the exit is served by the next daemon')
  second.destroy()
  await closedBy(b)
  process.kill(b, 'SIGUSR2')

  const third = await Client.connect(socketPath, CONNECT)
  const c = await pidOf(third)
  t.ok(c !== a && c !== b, 'after an idle exit, the next connection starts a new daemon')
  third.destroy()
  await closedBy(c)
  process.kill(c, 'SIGUSR2')
})
