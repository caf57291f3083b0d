/** WorkerPool options, their defaults and checks. */
import { native } from '../binding.js'
import { systemError } from '../errors.js'
import { resolveConnectionOptions, type ConnectionOptions } from '../transport/options.js'
import { checkFd, checkObject, describe, optionalBoolean, optionalInteger } from '../validate.js'

export interface WorkerPoolOptions extends ConnectionOptions {
  /** Path of the worker script (run with `process.execPath`); it must call `serveWorker()`.
   *  Required. */
  script: string
  /** Arguments passed to the script. Default `[]`. */
  args?: readonly string[]
  /** Worker environment. Default `process.env` (as it is when each worker is spawned). */
  env?: NodeJS.ProcessEnv
  /** Number of workers (in spawn-per-request mode: most requests running at once), 1..1024.
   *  Default 4. */
  size?: number
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
  maxQueue: number
  requestTimeout: number | undefined
  startTimeout: number
  spawnPerRequest: boolean
  connection: ConnectionOptions
}

const MAX_TIMER = 0x7fffffff

export function resolvePoolOptions(value: unknown): ResolvedPoolOptions {
  if (value === undefined) throw new TypeError('options must be an object with a script, got undefined')
  const o = checkObject('options', value)
  const { script, args, env, size, maxQueue, requestTimeout, startTimeout, spawnPerRequest, ...rest } = o
  if (typeof script !== 'string' || script.length === 0) {
    throw new TypeError(`options.script must be a non-empty string, got ${describe(script)}`)
  }
  let argList: string[] = []
  if (args !== undefined) {
    if (!Array.isArray(args)) throw new TypeError(`options.args must be an array of strings, got ${describe(args)}`)
    args.forEach((a, i) => {
      if (typeof a !== 'string') throw new TypeError(`options.args[${i}] must be a string, got ${describe(a)}`)
    })
    argList = [...(args as string[])]
  }
  if (env !== undefined && (env === null || typeof env !== 'object')) {
    throw new TypeError(`options.env must be an object, got ${describe(env)}`)
  }
  const connection = rest as ConnectionOptions
  resolveConnectionOptions(connection) // usage errors now, not at the first spawn
  return {
    script,
    args: argList,
    env: env as NodeJS.ProcessEnv | undefined,
    size: optionalInteger('options.size', size, 1, 1024, 4),
    maxQueue: optionalInteger('options.maxQueue', maxQueue, 0, 1_000_000, 100),
    requestTimeout: requestTimeout === undefined ? undefined : optionalInteger('options.requestTimeout', requestTimeout, 1, MAX_TIMER, 0),
    startTimeout: optionalInteger('options.startTimeout', startTimeout, 1, MAX_TIMER, 10_000),
    spawnPerRequest: optionalBoolean('options.spawnPerRequest', spawnPerRequest, false),
    connection,
  }
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
  const signal = o['signal']
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`options.signal must be an AbortSignal, got ${describe(signal)}`)
  const fds = o['fds']
  if (fds !== undefined && !Array.isArray(fds)) throw new TypeError(`options.fds must be an array of fds, got ${describe(fds)}`)
  return {
    fds: fds as number[] | undefined,
    closeFds: optionalBoolean('options.closeFds', o['closeFds'], false),
    signal: signal as AbortSignal | undefined,
    timeout: o['timeout'] === undefined ? fallbackTimeout : optionalInteger('options.timeout', o['timeout'], 1, MAX_TIMER, 0),
  }
}

/** Our own copies of the request's fds: the caller's if they gave them up, else duplicates. */
export function ownFds(fds: readonly number[] | undefined, closeFds: boolean): number[] {
  if (fds === undefined) return []
  if (fds.length > native.maxFdsPerFrame) {
    throw new RangeError(`options.fds has ${fds.length} fds; one message carries at most ${native.maxFdsPerFrame}`)
  }
  fds.forEach((fd, i) => checkFd(`options.fds[${i}]`, fd))
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

