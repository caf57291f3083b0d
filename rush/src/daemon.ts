/**
 * rushd: the rush shell daemon, built only from fdwire's public primitives (Server, WorkerPool,
 * the protocol). Each client connection is a session; `rush.exec` answers a script: rushd runs
 * it in-process, or tells the client which program to exec, or tells it to run `/bin/sh` itself.
 * No command of a client's ever runs as a child of rushd.
 */
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { BuiltinMethod, closeFd, Connection, dupFd, serveConnection, Server, socketPairFds, WorkerPool } from 'fdwire'
import { rushHandlers } from './handlers.js'
import { packageRoot } from './paths.js'
import { ADOPT, ADOPT_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, RUSH_CONNECTION } from './constants.js'

export interface RushdOptions {
  runtimeDir: string
  /** Most concurrent sessions (client connections). Default 100. */
  maxSessions?: number
  /** SIGTERM/SIGINT shut down gracefully and exit; SIGHUP reloads. Default true. */
  handleSignals?: boolean
  /** Worker processes serving sessions; 0 serves them in the daemon process itself.
   *  Default `RUSH_POOL_SIZE` or 4. */
  poolSize?: number
  /** One fresh worker process per session instead of a pool. Default `RUSH_DISABLE_POOL=1`. */
  disablePool?: boolean
  /** Pool mode: sessions the daemon serves itself before handing further concurrent ones to the
   *  workers (0: every session goes to a worker). Default `RUSH_INLINE_SESSIONS` or 1. */
  inlineSessions?: number
}

export const RUSH_VERSION: string = (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version

/** The build id: the version plus a hash of the daemon's code, so a client notices an upgrade. */
export function rushBuildId(): string {
  const hash = crypto.createHash('sha256')
  const dir = path.dirname(new URL(import.meta.url).pathname)
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort())
    hash.update(fs.readFileSync(path.join(dir, file)))
  return `${RUSH_VERSION}+${hash.digest('hex').slice(0, 12)}`
}

export type RushdMode = 'pool' | 'spawn' | 'in-process'

/** Reads the mode from options, then the environment. */
export function rushdMode(options: Pick<RushdOptions, 'poolSize' | 'disablePool'>): { mode: RushdMode; poolSize: number } {
  const disable = options.disablePool ?? process.env['RUSH_DISABLE_POOL'] === '1'
  const fromEnv = process.env['RUSH_POOL_SIZE']
  const poolSize = options.poolSize ?? (fromEnv !== undefined && /^\d+$/.test(fromEnv) ? Number(fromEnv) : 4)
  if (disable) return { mode: 'spawn', poolSize }
  return { mode: poolSize === 0 ? 'in-process' : 'pool', poolSize }
}

/** Starts rushd in this process. Resolves once it listens. */
export async function startRushd(options: RushdOptions): Promise<Server> {
  const { mode, poolSize } = rushdMode(options)
  const inlineEnv = process.env['RUSH_INLINE_SESSIONS']
  const inlineLimit = mode === 'pool' ? (options.inlineSessions ?? (inlineEnv !== undefined && /^\d+$/.test(inlineEnv) ? Number(inlineEnv) : 1)) : 0
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS
  const buildId = rushBuildId()
  const startedAt = Date.now()
  const counters = { sessions: 0, commands: 0, handedOff: 0 }
  let pool: WorkerPool | undefined
  if (mode !== 'in-process') {
    pool = new WorkerPool({
      script: fileURLToPath(new URL('./worker.js', import.meta.url)),
      size: mode === 'spawn' ? maxSessions : poolSize,
      spawnPerRequest: mode === 'spawn',
      maxQueue: maxSessions,
      env: { ...process.env, RUSH_BUILD_ID: buildId, RUSH_STATE_DIR: options.runtimeDir, RUSH_WORKER_MODE: mode },
    })
  }
  // The pool starts while the daemon already listens: a client that autostarted this daemon is
  // served as soon as possible (starting the workers takes as long again on a loaded machine).
  // Until the workers are up, sessions are served here; if they fail to start, they all are.
  let poolReady = mode === 'spawn'
  const poolStarted = pool?.start().then(
    () => void (poolReady = true),
    (error: Error) => console.error(`rushd: worker pool failed to start, serving every session in the daemon: ${error.message}`),
  )
  const status = () => {
    const stats = pool?.stats()
    return {
      version: RUSH_VERSION,
      mode,
      sessions: server.connections,
      sessionsInDaemon: counters.sessions,
      commandsRun: counters.commands,
      ...(stats
        ? { workers: stats.alive, queued: stats.queued, workerRestarts: stats.restarts, inlineSessions: inlineLimit, handedOff: counters.handedOff }
        : {}),
    }
  }
  const server: Server = new Server({
    runtimeDir: options.runtimeDir,
    buildId,
    maxConnections: maxSessions,
    handleSignals: options.handleSignals ?? true,
    ...RUSH_CONNECTION,
    status,
    ...(pool
      ? {
          // The daemon answers directly while it is not already serving `inlineLimit` sessions
          // (one user's commands one after another never pay for a hand-over); concurrent
          // sessions go to the warm workers.
          handoff: (connection: Connection) => {
            if (!poolReady || (mode === 'pool' && counters.sessions < inlineLimit)) return false
            counters.handedOff++
            return handOff(pool!, connection, () => JSON.stringify({ ...server.status(), uptimeMs: Date.now() - startedAt }), serveHere)
          },
        }
      : {}),
  })
  if (pool) server.on('close', () => void pool!.close())
  const handlers = rushHandlers(options.runtimeDir, counters)
  for (const [method, handler] of Object.entries(handlers)) server.handle(method, handler)
  const serveHere = (connection: Connection): Promise<void> => {
    counters.sessions++
    const builtins = {
      [BuiltinMethod.status]: () => JSON.stringify(server.status()),
      [BuiltinMethod.stop]: () => {
        setImmediate(() => void server.close())
        return 'stopping'
      },
    }
    return serveConnection(connection, { buildId, handlers: { ...handlers, ...builtins } }).finally(() => counters.sessions--)
  }
  server.on('connection', (connection) => {
    if (connection.closed) return // handed off (detached)
    counters.sessions++
    connection.once('close', () => counters.sessions--)
  })
  try {
    return await server.listen()
  } catch (error) {
    await poolStarted
    await pool?.close({ timeout: 0 })
    throw error
  }
}

/**
 * Gives a client connection to a worker; resolves when its session ended (or the worker died).
 * If no worker takes it in time (stuck, dying, pool busy), `serveHere` serves it in the daemon:
 * a dup of the client's fd is kept until a worker has it, so the client never loses its session.
 */
async function handOff(pool: WorkerPool, connection: Connection, status: () => string, serveHere: (connection: Connection) => Promise<void>): Promise<void> {
  const clientFd = connection.detach()
  // Without a spare (EMFILE), a worker that fails to take the connection loses it.
  let spare = -1
  try {
    spare = dupFd(clientFd)
  } catch {
    // Handed over without a fallback.
  }
  const [mine, theirs] = socketPairFds()
  const lifeline = new Connection(mine, { maxFdsPerFrame: 0 })
  const ended = new Promise<void>((resolve) => lifeline.once('close', () => resolve()))
  try {
    await pool.run(ADOPT, Buffer.from(status()), { fds: [clientFd, theirs], closeFds: true, timeout: ADOPT_TIMEOUT_MS })
  } catch (error) {
    lifeline.destroy()
    if (spare < 0) throw error
    return serveHere(new Connection(spare, RUSH_CONNECTION))
  }
  if (spare >= 0) closeFd(spare)
  await ended
}
