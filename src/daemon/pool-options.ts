/** WorkerPool options, their defaults and checks. */
import { native } from '../binding.js'
import { systemError } from '../errors.js'
import { resolveConnectionOptions, type ConnectionOptions } from '../transport/options.js'
import { checkFdArray, checkObject, checkString, checkStringArray, invalidArgType, optionalBoolean, optionalInteger, optionalSignal } from '../validate.js'

export interface WorkerPoolOptions extends ConnectionOptions {
  /** Path of the worker script (run with `process.execPath`); it must call `serveWorker()`.
   *  Required. */
  script: string
  /** Arguments passed to the script. Default `[]`. */
  args?: readonly string[]
  /** Worker environment. Default `process.env` (as it is when each worker is spawned). */
  env?: NodeJS.ProcessEnv
  /** Most workers running at once (in spawn-per-request mode: most requests running at once),
   *  1..1024. Default 4. */
  size?: number
  /** Workers kept running even when idle, 0..`size`: `start()` spawns them, and one that dies is
   *  replaced. Above it, workers start when requests find none idle and retire after
   *  `idleTimeout`. Default `size` (every worker pre-spawned and kept). Ignored in
   *  spawn-per-request mode. */
  minSize?: number
  /** How long a worker above `minSize` may stay idle before it retires, in ms (1..2^31-1).
   *  Default 30000. */
  idleTimeout?: number
  /** Most requests waiting for a worker, 0..1_000_000; past it `run()` rejects at once with
   *  `ERR_FDWIRE_BUSY`. Default 100. */
  maxQueue?: number
  /** Default time a worker may spend on one request, in ms (1..2^31-1). Past it the worker is
   *  presumed stuck: it is killed (SIGKILL) and replaced, and the request rejects with
   *  `ERR_FDWIRE_TIMEOUT`. Default: no limit. */
  requestTimeout?: number
  /** How long a new worker may take to say Hello, in ms; past it the worker is killed.
   *  Default 10000. */
  startTimeout?: number
  /** Spawn a fresh worker for each request, which handles only that request and exits (no
   *  pre-spawned workers; `stats().mode` is `'spawn'`). Default false. */
  spawnPerRequest?: boolean
}

export interface ResolvedPoolOptions {
  script: string
  args: string[]
  env: NodeJS.ProcessEnv | undefined
  size: number
  minSize: number
  idleTimeout: number
  maxQueue: number
  requestTimeout: number | undefined
  startTimeout: number
  spawnPerRequest: boolean
  connection: ConnectionOptions
}

const MAX_TIMER = 0x7fffffff
/** Workers kept running by default. */
const DEFAULT_POOL_SIZE = 4
/** How long a worker above the minimum may stay idle before it retires. */
const DEFAULT_WORKER_IDLE_TIMEOUT_MS = 30_000
/** Requests that may wait for a worker before run() rejects with ERR_FDWIRE_BUSY: a bound on the
 *  memory and fds callers can make the pool hold. */
const DEFAULT_MAX_QUEUE = 100
/** How long a new worker may take to say Hello before it is killed. */
const DEFAULT_WORKER_START_TIMEOUT_MS = 10_000

export function resolvePoolOptions(value: unknown): ResolvedPoolOptions {
  if (value === undefined) throw invalidArgType('options', 'of type object', value)
  const o = checkObject('options', value)
  const { script, args, env, size, minSize, idleTimeout, maxQueue, requestTimeout, startTimeout, spawnPerRequest, ...rest } = o
  const scriptPath = checkString('options.script', script, true)
  const argList = args === undefined ? [] : checkStringArray('options.args', args)
  if (env !== undefined && (env === null || typeof env !== 'object')) throw invalidArgType('options.env', 'of type object', env)
  const connection = rest as ConnectionOptions
  resolveConnectionOptions(connection) // usage errors now, not at the first spawn
  const maxSize = optionalInteger('options.size', size, 1, 1024, DEFAULT_POOL_SIZE)
  return {
    script: scriptPath,
    args: argList,
    env: env as NodeJS.ProcessEnv | undefined,
    size: maxSize,
    minSize: optionalInteger('options.minSize', minSize, 0, maxSize, maxSize),
    idleTimeout: optionalInteger('options.idleTimeout', idleTimeout, 1, MAX_TIMER, DEFAULT_WORKER_IDLE_TIMEOUT_MS),
    maxQueue: optionalInteger('options.maxQueue', maxQueue, 0, 1_000_000, DEFAULT_MAX_QUEUE),
    requestTimeout: requestTimeout === undefined ? undefined : optionalInteger('options.requestTimeout', requestTimeout, 1, MAX_TIMER, 0),
    startTimeout: optionalInteger('options.startTimeout', startTimeout, 1, MAX_TIMER, DEFAULT_WORKER_START_TIMEOUT_MS),
    spawnPerRequest: optionalBoolean('options.spawnPerRequest', spawnPerRequest, false),
    connection,
  }
}

export interface PoolStats {
  /** Most workers (in spawn mode: most requests running at once). */
  size: number
  /** Workers kept running when idle. */
  minSize: number
  /** Workers that said Hello and are not dying. */
  alive: number
  /** Workers spawned that have not said Hello yet. */
  starting: number
  /** Workers waiting for a request. */
  idle: number
  /** Workers handling a request. */
  busy: number
  /** Requests waiting for a worker. */
  queued: number
  /** Workers spawned since the pool was created. */
  spawned: number
  /** Workers spawned to replace one that died or was killed. */
  restarts: number
  /** Workers that retired after `idleTimeout` without a request. */
  idleRetired: number
  /** Requests answered (successfully or with a handler error). */
  completed: number
  /** Requests that failed otherwise (worker died, timeout, busy, cancelled, pool closed). */
  failed: number
  mode: 'pool' | 'spawn'
}

/** Per-call options of `WorkerPool.run()`. */
export interface RunOptions {
  /** fds to hand to the worker with the request (at most 253). They arrive bound to it. */
  fds?: readonly number[]
  /** Close our copies of `fds` (now: the pool keeps duplicates until they are sent). Default
   *  false: the fds stay yours and you may close them as soon as `run()` returns. */
  closeFds?: boolean
  /** Cancels the request: a queued one is dropped; a running one is told to stop (its handler's
   *  `ctx.signal` aborts). Either way the promise rejects with the signal's reason. */
  signal?: AbortSignal
  /** Overrides `requestTimeout` for this call, in ms. Default: the pool's `requestTimeout`. */
  timeout?: number
}

export function resolveRunOptions(value: unknown, fallbackTimeout: number | undefined) {
  const o = checkObject('options', value)
  const signal = optionalSignal('options.signal', o['signal'])
  const fds = o['fds'] === undefined ? undefined : checkFdArray('options.fds', o['fds'], native.maxFdsPerFrame)
  return {
    fds,
    closeFds: optionalBoolean('options.closeFds', o['closeFds'], false),
    signal,
    timeout: o['timeout'] === undefined ? fallbackTimeout : optionalInteger('options.timeout', o['timeout'], 1, MAX_TIMER, 0),
  }
}

/** Our own copies of the request's fds (checked by resolveRunOptions): the caller's if they gave
 *  them up, else duplicates. */
export function ownFds(fds: readonly number[] | undefined, closeFds: boolean): number[] {
  if (fds === undefined) return []
  if (closeFds) return [...fds]
  const own: number[] = []
  for (const fd of fds) {
    const dup = native.dup(fd)
    if (dup < 0) {
      for (const d of own) native.close(d)
      throw systemError(dup, 'dup')
    }
    own.push(dup)
  }
  return own
}
