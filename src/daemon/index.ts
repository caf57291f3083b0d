/**
 * The daemon layer. Each word names one thing:
 * - server: the daemon's listening side (`Server`, server.ts); a client connection it accepted is
 *   served by serve-connection.ts (`serveConnection`, also usable on a connection handed over).
 * - client: the caller's side of one connection to a daemon (`Client`, client.ts).
 * - pool: a `WorkerPool` (pool.ts, pool-options.ts, pool-queue.ts) that dispatches requests.
 * - worker: one worker process of a pool. pool-worker.ts is the pool's handle on it (child process,
 *   connection, running request); serve-worker.ts is what runs inside it (`serveWorker`).
 * - request context / reply: what a handler gets for one request, and what a caller gets back
 *   (request.ts holds what Server and WorkerPool share; rpc.ts the Client's reply and errors).
 * - session: only the Unix process session (setsid) of a detached daemon (lifecycle.ts).
 */
export { Server, type ServerEvents, type ServerOptions } from './server.js'
export {
  serveConnection,
  type Handler,
  type StreamHandler,
  type HandlerResult,
  type RequestContext,
  type HandlerErrorContext,
  type ServeConnectionOptions,
} from './serve-connection.js'
export { Client, type ClientEvents, type ClientOptions, type RequestOptions, type DaemonInfo } from './client.js'
export { Reply, RemoteError, BuiltinMethod } from './rpc.js'
export { ensureDaemon, type EnsureDaemonOptions } from './ensure.js'
export {
  startDetached,
  stopDaemon,
  daemonStatus,
  waitForExit,
  tailLog,
  followLog,
  systemdUnit,
  systemdSocketUnit,
  launchdPlist,
  paths as daemonPaths,
  type DaemonPaths,
  type StartOptions,
  type DaemonStatus,
  type ServiceOptions,
  type ServiceSocket,
} from './lifecycle.js'
export { ensureRuntimeDir, checkRuntimeDir, defaultRuntimeDir } from './runtime-dir.js'
export { PidFile, readPidFile, type PidFileState } from './pid-file.js'
export { WorkerPool, PoolReply, type WorkerPoolEvents, type PoolStats, type WorkerExitInfo, type RunOptions, type WorkerPoolOptions } from './pool.js'
export { serveWorker, type WorkerContext, type WorkerResult, type WorkerHandler, type ServeWorkerOptions } from './serve-worker.js'
