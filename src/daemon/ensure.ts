/**
 * ensureDaemon(): connect to the daemon, starting it when none answers — race-free, bounded, and
 * replacing a daemon whose build id differs from ours.
 *
 * Races: many clients may find no daemon at once. Each takes `start.lock` (flock) before starting
 * one and checks again under the lock, so one starts it and the rest connect to it. A second
 * daemon could not run anyway: the Server's own pid-file lock refuses it.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { native } from '../binding.js'
import { FdwireError } from '../errors.js'
import { resolveConnectionOptions } from '../transport/options.js'
import { optionalInteger } from '../validate.js'
import { Client, type ClientOptions } from './client.js'
import { checkStartOptions, paths, startDetached, tailLog, waitForExit, type StartOptions } from './lifecycle.js'
import { BuiltinMethod } from './rpc.js'
import { ensureRuntimeDir } from './runtime-dir.js'

export interface EnsureDaemonOptions extends StartOptions, Omit<ClientOptions, 'timeout'> {
  /** The bound on the whole call (connecting, starting, waiting for the hello), in ms. Default 10000. */
  startTimeout?: number
  /** How long each attempt to reach a daemon already running waits for its hello, in ms; a slow
   *  one is retried on a new connection until `startTimeout`. Default 2000. A daemon this call
   *  starts is waited for on its first connection, until `startTimeout`. */
  connectTimeout?: number
}

const EAGAIN = -os.constants.errno.EAGAIN

/** The bound on a whole ensureDaemon() call: connecting, starting, waiting for the Hello. */
const DEFAULT_START_TIMEOUT_MS = 10_000
/** How long one connection attempt may wait for the Hello before it is retried. */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 2000
/** How long an outdated daemon has to answer fdwire.stop (it may close without answering). */
const STOP_REQUEST_TIMEOUT_MS = 2000
/** How long an outdated daemon that ignored fdwire.stop has to exit after SIGTERM. */
const OUTDATED_TERM_WAIT_MS = 5000

/** What a connection attempt ends with when no daemon is there to answer it. */
const GONE = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ERR_FDWIRE_CLOSED'])

/** Connects to the daemon of `runtimeDir`, starting (or replacing) it as needed. */
export async function ensureDaemon(options: EnsureDaemonOptions): Promise<Client> {
  // Usage errors whether or not a daemon already runs, so they show on the first try.
  checkStartOptions(options)
  const startTimeout = optionalInteger('options.startTimeout', options.startTimeout, 1, 0x7fffffff, DEFAULT_START_TIMEOUT_MS)
  optionalInteger('options.connectTimeout', options.connectTimeout, 1, 0x7fffffff, DEFAULT_ATTEMPT_TIMEOUT_MS)
  resolveConnectionOptions(options)
  ensureRuntimeDir(options.runtimeDir)
  const { socket, pidFile, log } = paths(options)
  const deadline = Date.now() + startTimeout

  let client = await tryConnect(socket, options, deadline)
  if (client && isCurrent(client, options)) return client
  const lock = await takeLock(path.join(options.runtimeDir, 'start.lock'), deadline)
  try {
    // What we found before the lock may have been replaced meanwhile (by the client that held
    // it): look again, so an outdated daemon is replaced once, not once per waiting client.
    client?.destroy()
    client = await tryConnect(socket, options, deadline)
    if (client && !isCurrent(client, options)) {
      await replace(client, pidFile, deadline)
      client = undefined
    }
    if (client) return client
    const logFile = options.logFile ?? log
    const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0
    const child = startDetached(options)
    let exited: string | undefined
    child.once('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exited with status ${code}`))
    child.once('error', (error) => (exited = `could not be started: ${error.message}`))
    // The daemon we started is waited for on one connection until the deadline, not reconnected
    // to after each connectTimeout: one that hands connections over (to a worker process it
    // starts for each, say) answers each connection that long after it arrives, so every new
    // attempt would wait as long again. If it never says hello, its log says why.
    const patient = { ...options, connectTimeout: startTimeout }
    const stuck = (what: string) => startFailure(what, logFile, logStart, 'ERR_FDWIRE_TIMEOUT')
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      client = await tryConnect(socket, patient, deadline, stuck)
      if (client) return client
      if (exited !== undefined) throw startFailure(`the daemon ${exited} before answering`, logFile, logStart)
      if (Date.now() >= deadline) {
        throw startFailure(`the daemon did not answer on ${socket} within ${startTimeout} ms`, logFile, logStart, 'ERR_FDWIRE_TIMEOUT')
      }
      await sleep(delay)
    }
  } finally {
    native.flock(lock, true, true)
    fs.closeSync(lock)
  }
}

function isCurrent(client: Client, options: EnsureDaemonOptions): boolean {
  return options.buildId === undefined || client.daemon.buildId === options.buildId
}

/**
 * One connection to the daemon, or undefined when none listens. A daemon that accepts but is slow
 * to say hello (starting up on a loaded machine) is given until `deadline`: each attempt waits at
 * most `connectTimeout`, and a timed-out attempt is retried while time remains; past the deadline
 * it throws what `timedOut` makes of the reason.
 */
async function tryConnect(
  socket: string,
  options: EnsureDaemonOptions,
  deadline: number,
  timedOut = (what: string) => new FdwireError('ERR_FDWIRE_TIMEOUT', what),
): Promise<Client | undefined> {
  const perAttempt = options.connectTimeout ?? DEFAULT_ATTEMPT_TIMEOUT_MS
  for (;;) {
    const timeout = Math.max(1, Math.min(perAttempt, deadline - Date.now()))
    try {
      return await Client.connect(socket, { ...options, timeout })
    } catch (error) {
      const code = (error as { code?: string }).code
      // Nobody listens, or the daemon went away before its hello: it closed, or (killed with us
      // still in its backlog) the kernel reset the connection, before or after we sent ours.
      if (GONE.has(code ?? '')) return undefined
      if (code !== 'ERR_FDWIRE_TIMEOUT') throw error
      if (Date.now() >= deadline) {
        const waited = options.startTimeout ?? DEFAULT_START_TIMEOUT_MS
        throw timedOut(`${socket}: the daemon accepts connections but did not say hello within ${waited} ms`)
      }
    }
  }
}

/** Asks an outdated daemon to stop and waits until it has. */
async function replace(client: Client, pidFile: string, deadline: number): Promise<void> {
  const pid = client.daemon.peer.pid
  try {
    await client.request(BuiltinMethod.stop, undefined, { timeout: STOP_REQUEST_TIMEOUT_MS })
  } catch {
    // It may close before answering; the lock below tells whether it is gone.
  }
  client.destroy()
  if (!(await waitForExit(pidFile, Math.max(0, deadline - Date.now())))) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {}
    if (!(await waitForExit(pidFile, OUTDATED_TERM_WAIT_MS))) {
      throw new FdwireError('ERR_FDWIRE_TIMEOUT', `the outdated daemon (pid ${pid}) did not stop`)
    }
  }
}

async function takeLock(file: string, deadline: number): Promise<number> {
  const fd = fs.openSync(file, 'a', 0o600)
  for (let delay = 1; ; delay = Math.min(delay * 2, 25)) {
    const err = native.flock(fd, true, false)
    if (err === 0) return fd
    if (err !== EAGAIN || Date.now() >= deadline) {
      fs.closeSync(fd)
      throw new FdwireError('ERR_FDWIRE_TIMEOUT', `could not take ${file}: another client kept starting the daemon`)
    }
    await sleep(delay)
  }
}

function startFailure(what: string, logFile: string, logStart: number, code = 'ERR_FDWIRE_DAEMON_EXITED'): FdwireError {
  let tail = ''
  try {
    tail = tailLog(logFile, 20)
    const size = fs.statSync(logFile).size
    if (size <= logStart) tail = ''
  } catch {}
  return new FdwireError(code, `${what}${tail ? `; last lines of ${logFile}:\n${tail}` : ` (nothing in ${logFile})`}`)
}
