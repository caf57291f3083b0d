/** Shared by the daemon-layer tests: in-process Servers and their Clients, and the
 *  `test/fixtures/daemon-server.mjs` processes some tests start. */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Client, Server, socketPair, type ServerOptions } from '../../src/index.js'
import { alive, cleanup, tempDir, type leakTest } from '../helpers.js'

export type Test = Parameters<Parameters<typeof leakTest>[2]>[0]

/** Every daemon a test starts (the fixture logs `starting <pid>` first thing) is SIGKILLed at
 *  teardown if it is still there. */
export function reapDaemons(t: Test, runtimeDir: string): void {
  t.teardown(() => {
    const log = path.join(runtimeDir, 'daemon.log')
    const pids = fs.existsSync(log) ? [...fs.readFileSync(log, 'utf8').matchAll(/^starting (\d+)$/gm)].map((m) => Number(m[1])) : []
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  })
}

/** For `t.before`: a socket pair made and closed once, so the fds Node and the transport open
 *  lazily on first use are already there when the first leakTest takes its snapshot. */
export function openLazyFds(): void {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
}

/** A listening in-process Server (no signal handlers), closed before the leak check. */
export async function startServer(t: Test, options: Partial<ServerOptions> = {}, setup?: (server: Server) => void): Promise<Server> {
  const server = new Server({ runtimeDir: path.join(tempDir(t), 'run'), handleSignals: false, ...options })
  setup?.(server)
  await server.listen()
  cleanup(t, () => void server.close())
  return server
}

/** A connected Client, destroyed before the leak check. */
export async function client(t: Test, server: Server | string, options = {}): Promise<Client> {
  const c = await Client.connect(typeof server === 'string' ? server : server.socketPath, options)
  cleanup(t, () => c.destroy())
  return c
}

/** A promise with its resolver, for handlers the test releases. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void
  const promise = new Promise<T>((resolve) => (open = resolve))
  return { promise, open }
}
