export { Server, type ServerEvents, type ServerOptions } from './server.js'
export { serveConnection, type Handler, type StreamHandler, type HandlerResult, type RequestContext, type HandlerErrorContext, type ServeConnectionOptions } from './session.js'
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
  launchdPlist,
  paths as daemonPaths,
  type DaemonPaths,
  type StartOptions,
  type DaemonStatus,
  type ServiceOptions,
} from './lifecycle.js'
export { ensureRuntimeDir, checkRuntimeDir, defaultRuntimeDir } from './runtime-dir.js'
export { PidFile, readPidFile, type PidFileState } from './pid-file.js'
export { WorkerPool, PoolReply, type WorkerPoolEvents, type PoolStats, type WorkerExitInfo, type RunOptions, type WorkerPoolOptions } from './worker-pool.js'
export { serveWorker, type WorkerContext, type WorkerResult, type WorkerHandler, type ServeWorkerOptions } from './worker.js'
