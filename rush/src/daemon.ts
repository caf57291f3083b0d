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
import { BuiltinMethod, closeFd, Connection, dupFd, type InheritedSocket, serveConnection, Server, socketPairFds, WorkerPool } from 'fdwire'
import { rushHandlers } from './handlers.js'
import { packageRoot } from './paths.js'
import { ADOPT, ADOPT_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, RUSH_CONNECTION } from './constants.js'

export interface RushdOptions {
  runtimeDir: string
  /** Most concurrent sessions (client connections). Default 100. */
  maxSessions?: number
  /** SIGTERM/SIGINT shut down gracefully and exit; SIGHUP reloads. Default true. */
  handleSignals?: boolean
  /** Most worker processes serving concurrent sessions; 0 serves every session in the daemon
   *  process itself. Default `RUSH_POOL_SIZE` or 4. */
  poolSize?: number
  /** Workers kept running while idle (0..poolSize). Default `RUSH_POOL_MIN` or 0: a worker starts
   *  when concurrent sessions need one. */
  poolMin?: number
  /** How long a worker above `poolMin` may stay idle before it exits, in ms. Default
   *  `RUSH_WORKER_IDLE` seconds or 30 s. */
  workerIdle?: number
  /** Exit after this many ms without sessions (0: never). Default 0. */
  idleExit?: number
  /** One fresh worker process per session instead of a pool. Default `RUSH_DISABLE_POOL=1`. */
  disablePool?: boolean
  /** Pool mode: sessions the daemon serves itself before handing further concurrent ones to the
   *  workers (0: every session goes to a worker). Default `RUSH_INLINE_SESSIONS` or 1. */
  inlineSessions?: number
  /** Serve this inherited listening socket (socket activation) instead of binding one. */
  listen?: InheritedSocket
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

/** How long a worker above the minimum may stay idle before it exits. */
const DEFAULT_WORKER_IDLE_MS = 30_000

/** An environment variable holding a count: a decimal integer, else `fallback`. */
function envCount(name: string, fallback: number): number {
  const value = process.env[name]
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : fallback
}

/** An environment variable holding seconds (decimals allowed) as ms, else `fallback` ms. */
export function envSeconds(name: string, fallback: number): number {
  const value = process.env[name]
  return value !== undefined && /^\d+(\.\d+)?$/.test(value) ? Math.round(Number(value) * 1000) : fallback
}

/** Reads the mode from options, then the environment. */
export function rushdMode(options: Pick<RushdOptions, 'poolSize' | 'disablePool'>): { mode: RushdMode; poolSize: number } {
  const disable = options.disablePool ?? process.env['RUSH_DISABLE_POOL'] === '1'
  const poolSize = options.poolSize ?? envCount('RUSH_POOL_SIZE', 4)
  if (disable) return { mode: 'spawn', poolSize }
  return { mode: poolSize === 0 ? 'in-process' : 'pool', poolSize }
}

/** Starts rushd in this process. Resolves once it listens. */
export async function startRushd(options: RushdOptions): Promise<Server> {
  const { mode, poolSize } = rushdMode(options)
  const inlineLimit = mode === 'pool' ? (options.inlineSessions ?? envCount('RUSH_INLINE_SESSIONS', 1)) : 0
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS
  const buildId = rushBuildId()
  const startedAt = Date.now()
  const counters = { sessions: 0, commands: 0, handedOff: 0 }
  let pool: WorkerPool | undefined
  if (mode !== 'in-process') {
    pool = new WorkerPool({
      script: fileURLToPath(new URL('./worker.js', import.meta.url)),
      size: mode === 'spawn' ? maxSessions : poolSize,
      minSize: Math.min(options.poolMin ?? envCount('RUSH_POOL_MIN', 0), poolSize),
      idleTimeout: Math.max(1, options.workerIdle ?? envSeconds('RUSH_WORKER_IDLE', DEFAULT_WORKER_IDLE_MS)),
      spawnPerRequest: mode === 'spawn',
      maxQueue: maxSessions,
      env: { ...process.env, RUSH_BUILD_ID: buildId, RUSH_STATE_DIR: options.runtimeDir, RUSH_WORKER_MODE: mode },
    })
  }
  // The pool starts while the daemon already listens: a client that autostarted this daemon is
  // served as soon as possible (starting workers takes as long again on a loaded machine). Until
  // the minimum is up, sessions are served here; if it fails to start, they all are.
  let poolReady = mode === 'spawn'
  const poolStarted = pool?.start().then(
    () => void (poolReady = true),
    (error: Error) => {
      if (stopped) return // closed (stopped, or idle) while the workers started
      console.error(`rushd: worker pool failed to start, serving every session in the daemon: ${error.message}`)
    },
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
        ? {
            workers: stats.alive,
            workersStarting: stats.starting,
            workersMin: stats.minSize,
            workersMax: stats.size,
            workersRetired: stats.idleRetired,
            queued: stats.queued,
            workerRestarts: stats.restarts,
            inlineSessions: inlineLimit,
            handedOff: counters.handedOff,
          }
        : {}),
      rssBytes: process.memoryUsage.rss(),
      ...(pool && process.platform === 'linux' ? { workersRssBytes: processesRss(pool.pids) } : {}),
    }
  }
  const server: Server = new Server({
    runtimeDir: options.runtimeDir,
    listen: options.listen,
    buildId,
    maxConnections: maxSessions,
    idleTimeout: options.idleExit ?? 0,
    handleSignals: options.handleSignals ?? true,
    ...RUSH_CONNECTION,
    status,
    ...(pool
      ? {
          // The daemon answers directly while it is not already serving `inlineLimit` sessions
          // (one user's commands one after another never pay for a hand-over); further
          // concurrent sessions go to an idle worker. When none is idle, the daemon serves the
          // session too and starts a worker for the next one: a session never waits for a
          // Node process to start (unless `inlineLimit` is 0: every session on a worker).
          handoff: (connection: Connection) => {
            if (!poolReady || (mode === 'pool' && counters.sessions < inlineLimit)) return false
            if (mode === 'pool' && inlineLimit > 0 && pool!.stats().idle === 0) {
              try {
                pool!.warm()
              } catch {
                // No process to be had (EAGAIN, EMFILE): the daemon serves on its own.
              }
              return false
            }
            counters.handedOff++
            return handOff(pool!, connection, () => JSON.stringify({ ...server.status(), uptimeMs: Date.now() - startedAt }), serveHere)
          },
        }
      : {}),
  })
  let stopped = false
  server.on('close', () => {
    stopped = true
    void pool?.close()
  })
  // A worker that crashed, or that the pool ended (no Hello in time, an adoption that hung), is a
  // line in the log: its session was served by the daemon instead, or failed with it. Workers
  // that retire or finish their one session exit with status 0.
  pool?.on('workerExit', ({ pid, code, signal, reason }) => {
    if (stopped || (code === 0 && signal === null)) return
    console.error(`rushd: worker pid ${pid} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}${reason ? `: ${reason}` : ''}`)
  })
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

/** Resident set sizes of `pids`, in bytes, summed (proc(5): /proc/PID/status VmRSS). */
function processesRss(pids: readonly number[]): number {
  let total = 0
  for (const pid of pids) {
    try {
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (kb) total += Number(kb[1]) * 1024
    } catch {
      // Gone already: not counted.
    }
  }
  return total
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
