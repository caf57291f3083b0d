/**
 * Daemon lifecycle, as a well-kept Unix daemon has it: start detached (own session, stdio to a log
 * file, no other fd of the starter's), stop (SIGTERM, wait, SIGKILL after a timeout),
 * status (from the locked pid file, then from the daemon itself), logs (last N lines, follow), and
 * service definitions for systemd (user units) and launchd, with socket activation when asked: the
 * service manager then owns the listening socket and starts the daemon on its first connection.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { FdwireError } from '../errors.js'
import { checkFunction, checkInteger, checkObject, checkString, checkStringArray, invalidArgType, invalidArgValue, optionalInteger } from '../validate.js'
import { Client } from './client.js'
import { readPidFile } from './pid-file.js'
import { BuiltinMethod } from './rpc.js'

/** How long daemonStatus() waits for the daemon to connect and answer fdwire.status. */
const DEFAULT_STATUS_TIMEOUT_MS = 2000
/** How long stopDaemon() gives a daemon between SIGTERM and SIGKILL. */
const DEFAULT_STOP_TIMEOUT_MS = 10_000
/** How long a SIGKILLed daemon may take to be gone (its pid-file lock released) before we give up. */
const KILL_WAIT_MS = 5000
/** waitForExit() polls the pid-file lock at 5 ms, doubling to 100 ms: quick for a daemon that
 *  exits at once, cheap for one that takes its time. */
const LOCK_POLL_FIRST_MS = 5
const LOCK_POLL_MAX_MS = 100
/** How often followLog() looks at the log file for new bytes. */
const LOG_POLL_MS = 200

export interface DaemonPaths {
  /** The daemon's runtime directory (see `Server`). */
  runtimeDir: string
  /** Socket file name. Default `'daemon.sock'`. */
  socketName?: string
}

export interface StartOptions extends DaemonPaths {
  /** The daemon's argv: `[executable, ...args]`, e.g. `[process.execPath, 'daemon.js']`. */
  command: readonly string[]
  /** Environment of the daemon. Default `process.env`. */
  env?: NodeJS.ProcessEnv
  /** Working directory of the daemon. Default `/` (a daemon must not pin a mount). */
  cwd?: string
  /** Log file for the daemon's stdout and stderr. Default `<runtimeDir>/daemon.log`. */
  logFile?: string
}

export const paths = (options: DaemonPaths) => ({
  socket: path.join(options.runtimeDir, options.socketName ?? 'daemon.sock'),
  pidFile: path.join(options.runtimeDir, 'daemon.pid'),
  log: path.join(options.runtimeDir, 'daemon.log'),
})

/**
 * Starts the daemon detached: a new session (no controlling terminal), stdin from /dev/null,
 * stdout/stderr appended to the log file, and no other fd: a daemon outlives its starter, and an fd
 * it held by accident (a caller's lock, the write end of a pipe someone reads to EOF) would be held
 * for its whole life. Node opens every fd close-on-exec (and marks the ones it inherited so at
 * start-up), so the child gets exactly these three. Returns at once with the child; use
 * `ensureDaemon` to wait until it answers.
 *
 * A daemon started by other means keeps what its starter gave it: start it with only fds 0-2 (the
 * rush client closes everything above 2 before starting rushd).
 */
export function startDetached(options: StartOptions): ChildProcess {
  checkStartOptions(options)
  const [executable, ...args] = options.command as [string, ...string[]]
  const logFile = options.logFile ?? paths(options).log
  const log = fs.openSync(logFile, 'a', 0o600)
  try {
    const child = spawn(executable, args, {
      detached: true,
      stdio: ['ignore', log, log],
      cwd: options.cwd ?? '/',
      env: options.env ?? process.env,
    })
    child.unref()
    return child
  } finally {
    fs.closeSync(log)
  }
}

/** Usage errors in StartOptions, before anything is started (ensureDaemon checks them first too). */
export function checkStartOptions(options: StartOptions): void {
  if (options === undefined) throw invalidArgType('options', 'of type object', options)
  const o = checkObject('options', options)
  checkString('options.runtimeDir', o['runtimeDir'], true)
  if (o['socketName'] !== undefined) {
    const socketName = checkString('options.socketName', o['socketName'], true)
    if (socketName.includes('/')) throw invalidArgValue('options.socketName', socketName, 'must be a file name, without a slash')
  }
  if (o['command'] === undefined) {
    throw invalidArgType('options.command', "an instance of Array: it is required, the daemon's argv (e.g. [process.execPath, 'daemon.js'])", undefined)
  }
  const command = checkStringArray('options.command', o['command'], true)
  checkString('options.command[0]', command[0], true)
  if (o['cwd'] !== undefined) checkString('options.cwd', o['cwd'], true)
  if (o['logFile'] !== undefined) checkString('options.logFile', o['logFile'], true)
  if (o['env'] !== undefined && (o['env'] === null || typeof o['env'] !== 'object')) throw invalidArgType('options.env', 'of type object', o['env'])
}

export interface DaemonStatus {
  running: boolean
  pid?: number
  /** What the daemon reports about itself (`fdwire.status`), when it answered. */
  details?: Record<string, unknown>
  /** Why details are missing although it runs (e.g. it did not answer in time). */
  error?: string
}

/** Whether the daemon runs (its pid-file lock is held) and, if it answers, its own figures. */
export async function daemonStatus(options: DaemonPaths & { timeout?: number }): Promise<DaemonStatus> {
  const timeout = optionalInteger('options.timeout', checkObject('options', options)['timeout'], 1, 0x7fffffff, DEFAULT_STATUS_TIMEOUT_MS)
  const { socket, pidFile } = paths(options)
  const state = readPidFile(pidFile)
  if (!state.locked) return { running: false }
  try {
    const client = await Client.connect(socket, { timeout })
    try {
      const reply = await client.request(BuiltinMethod.status, undefined, { timeout })
      return { running: true, ...(state.pid ? { pid: state.pid } : {}), details: reply.json() }
    } finally {
      client.destroy()
    }
  } catch (error) {
    return { running: true, ...(state.pid ? { pid: state.pid } : {}), error: (error as Error).message }
  }
}

/**
 * Stops the daemon: SIGTERM, wait up to `timeout` ms (default 10000) for it to let go of its
 * pid-file lock, then SIGKILL. Resolves with how it ended; `'not-running'` if it was not.
 */
export async function stopDaemon(options: DaemonPaths & { timeout?: number }): Promise<'stopped' | 'killed' | 'not-running'> {
  const timeout = optionalInteger('options.timeout', checkObject('options', options)['timeout'], 0, 0x7fffffff, DEFAULT_STOP_TIMEOUT_MS)
  const { pidFile } = paths(options)
  const state = readPidFile(pidFile)
  if (!state.locked || state.pid === undefined) return 'not-running'
  const pid = state.pid
  signal(pid, 'SIGTERM')
  if (await waitForExit(pidFile, timeout)) return 'stopped'
  signal(pid, 'SIGKILL')
  if (await waitForExit(pidFile, KILL_WAIT_MS)) return 'killed'
  throw new FdwireError('ERR_FDWIRE_TIMEOUT', `daemon pid ${pid} survived SIGKILL for ${KILL_WAIT_MS / 1000} s`)
}

/** Waits until nobody holds the pid-file lock. */
export async function waitForExit(pidFile: string, timeout: number): Promise<boolean> {
  checkString('pidFile', pidFile, true)
  checkInteger('timeout', timeout, 0, 0x7fffffff)
  const deadline = Date.now() + timeout
  for (let delay = LOCK_POLL_FIRST_MS; ; delay = Math.min(delay * 2, LOCK_POLL_MAX_MS)) {
    if (!readPidFile(pidFile).locked) return true
    if (Date.now() >= deadline) return false
    await sleep(delay)
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/** The last `lines` lines of a log file ('' if it does not exist). Reads only the file's tail. */
export function tailLog(logFile: string, lines = 20): string {
  checkString('logFile', logFile, true)
  checkInteger('lines', lines, 0, 0x7fffffff)
  let fd: number
  try {
    fd = fs.openSync(logFile, 'r')
  } catch {
    return ''
  }
  try {
    const size = fs.fstatSync(fd).size
    let start = size
    let text = ''
    while (start > 0) {
      const chunk = Math.min(64 * 1024, start)
      start -= chunk
      const buffer = Buffer.alloc(chunk)
      fs.readSync(fd, buffer, 0, chunk, start)
      text = buffer.toString('utf8') + text
      if (text.split('\n').length > lines + 1) break
    }
    const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
    return all.slice(-lines).join('\n') + (all.length && text ? '\n' : '')
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Follows a log file like `tail -f`: calls `onData` with what is appended, until `signal` aborts.
 * Starts at the current end. Survives truncation (rotation) by starting over at 0.
 */
export async function followLog(logFile: string, onData: (text: string) => void, signal: AbortSignal): Promise<void> {
  checkString('logFile', logFile, true)
  checkFunction('onData', onData)
  if (!(signal instanceof AbortSignal)) throw invalidArgType('signal', 'an instance of AbortSignal', signal)
  let position = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0
  while (!signal.aborted) {
    let size = 0
    try {
      size = fs.statSync(logFile).size
    } catch {
      size = 0
    }
    if (size < position) position = 0
    if (size > position) {
      const fd = fs.openSync(logFile, 'r')
      try {
        const buffer = Buffer.alloc(size - position)
        fs.readSync(fd, buffer, 0, buffer.length, position)
        position = size
        onData(buffer.toString('utf8'))
      } finally {
        fs.closeSync(fd)
      }
    }
    await sleep(LOG_POLL_MS, undefined, { signal }).catch(() => undefined)
  }
}

export interface ServiceOptions {
  /** Service name, e.g. `'rushd'`. */
  name: string
  description: string
  /** argv of the daemon in the foreground (the service manager supervises it). */
  command: readonly string[]
  env?: Record<string, string>
  /**
   * Socket activation: the manager creates this listening socket and starts the daemon on the
   * first connection; the daemon serves it with `listen: socketActivation({ systemd: name,
   * launchd: name })`. With it, `systemdUnit` writes a service started by `<name>.socket`
   * (`systemdSocketUnit`), and `launchdPlist` a job with a `Sockets` entry instead of `RunAtLoad`.
   */
  socket?: ServiceSocket
}

export interface ServiceSocket {
  /** Absolute path of the socket file; for systemd it may start with `%t/` (the runtime
   *  directory: `$XDG_RUNTIME_DIR` in a user unit). */
  path: string
  /** The socket's name for the daemon (FileDescriptorName=, the launchd Sockets key). Default the
   *  service name. */
  name?: string
  /** Permission bits of the socket file. Default 0o600. */
  mode?: number
}

/**
 * Usage errors in ServiceOptions. A unit file and a plist are line- and text-based: a newline in a
 * description would start a new unit directive, and XML 1.0 cannot carry most control characters
 * at all, so every string is refused if it holds a control character other than a tab.
 */
function checkServiceOptions(options: ServiceOptions & { label?: string }): void {
  if (options === undefined) throw invalidArgType('options', 'of type object', options)
  const o = checkObject('options', options)
  const text = (name: string, value: unknown, nonEmpty: boolean): void => {
    const string = checkString(name, value, nonEmpty)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(string)) throw invalidArgValue(name, string, 'must not contain a newline or another control character')
  }
  text('options.name', o['name'], true)
  if (String(o['name']).includes('/')) throw invalidArgValue('options.name', o['name'], 'must be a file name, without a slash')
  text('options.description', o['description'], false)
  const command = checkStringArray('options.command', o['command'], true)
  for (const [i, arg] of command.entries()) text(`options.command[${i}]`, arg, i === 0)
  if (o['env'] !== undefined) {
    const env = checkObject('options.env', o['env'])
    for (const [key, value] of Object.entries(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
        throw invalidArgValue(`options.env`, key, 'must have variable names of letters, digits and _, not starting with a digit')
      text(`options.env.${key}`, value, false)
    }
  }
  if (o['label'] !== undefined) text('options.label', o['label'], true)
  if (o['socket'] !== undefined) {
    const socket = checkObject('options.socket', o['socket'])
    text('options.socket.path', socket['path'], true)
    const where = String(socket['path'])
    if (!where.startsWith('/') && !where.startsWith('%t/')) throw invalidArgValue('options.socket.path', where, "must be absolute (or start with '%t/')")
    if (socket['name'] !== undefined) {
      const name = checkString('options.socket.name', socket['name'], true)
      // sd_listen_fds(3) joins names with ':'; launchd takes any key, systemd at most 255 printable bytes.
      if (!/^[\w.@-]{1,255}$/.test(name)) throw invalidArgValue('options.socket.name', name, 'must be 1-255 letters, digits and ._@-')
    }
    optionalInteger('options.socket.mode', socket['mode'], 0, 0o777, 0o600)
  }
}

/** The socket of `options`, defaults filled in. */
function socketOf(options: ServiceOptions): Required<ServiceSocket> | undefined {
  const socket = options.socket
  return socket && { path: socket.path, name: socket.name ?? options.name, mode: socket.mode ?? 0o600 }
}

/** systemd expands %-specifiers in unit settings: escaped by doubling. */
const specifiers = (text: string) => text.replace(/%/g, '%%')

/** A systemd user unit (`~/.config/systemd/user/<name>.service`). With `socket`, it is started by
 *  `<name>.socket` (see `systemdSocketUnit`) instead of at login. */
export function systemdUnit(options: ServiceOptions): string {
  checkServiceOptions(options)
  // $VAR in ExecStart= is expanded too: escaped by doubling.
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`)
  const execArg = (arg: string) => quote(specifiers(arg).replace(/\$/g, '$$$$'))
  const env = Object.entries(options.env ?? {})
    .map(([key, value]) => `Environment=${quote(specifiers(`${key}=${value}`))}\n`)
    .join('')
  const socket = options.socket ? `${options.name}.socket` : undefined
  return (
    `[Unit]\nDescription=${specifiers(options.description)}\n` +
    (socket ? `Requires=${socket}\nAfter=${socket}\n` : '') +
    `\n[Service]\nType=simple\nExecStart=${options.command.map(execArg).join(' ')}\n${env}` +
    `Restart=on-failure\nRestartSec=1\nKillSignal=SIGTERM\nTimeoutStopSec=15\n\n` +
    // Socket-activated: enabling the socket is what makes it start (on the first connection).
    (socket ? `[Install]\nAlso=${socket}\n` : `[Install]\nWantedBy=default.target\n`)
  )
}

/**
 * The systemd socket unit (`~/.config/systemd/user/<name>.socket`) of a socket-activated service
 * (`options.socket` is required): systemd listens on the path, creates its directory 0700, and
 * starts `<name>.service` on the first connection, passing the socket (sd_listen_fds(3)) under
 * `FileDescriptorName=`. See systemd.socket(5).
 */
export function systemdSocketUnit(options: ServiceOptions): string {
  checkServiceOptions(options)
  const socket = socketOf(options)
  if (!socket) throw invalidArgType('options.socket', 'of type object: a socket unit needs the socket', undefined)
  // %t (the runtime directory) is the one specifier let through; every other % is literal.
  const listen = socket.path.startsWith('%t/') ? `%t/${specifiers(socket.path.slice(3))}` : specifiers(socket.path)
  return (
    `[Unit]\nDescription=${specifiers(options.description)} (socket)\n\n` +
    `[Socket]\nListenStream=${listen}\nFileDescriptorName=${socket.name}\n` +
    `SocketMode=${socket.mode.toString(8).padStart(4, '0')}\nDirectoryMode=0700\n\n` +
    `[Install]\nWantedBy=sockets.target\n`
  )
}

/** A launchd agent plist (`~/Library/LaunchAgents/<label>.plist`). With `socket`, launchd owns the
 *  socket (a `Sockets` entry, launchd.plist(5)) and starts the agent on its first connection. */
export function launchdPlist(options: ServiceOptions & { label?: string }): string {
  checkServiceOptions(options)
  const socket = socketOf(options)
  if (socket?.path.startsWith('%t/')) throw invalidArgValue('options.socket.path', socket.path, "must be an absolute path for launchd (it has no '%t')")
  const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  const args = options.command.map((arg) => `    <string>${xml(arg)}</string>\n`).join('')
  const env = Object.entries(options.env ?? {})
    .map(([key, value]) => `    <key>${xml(key)}</key>\n    <string>${xml(value)}</string>\n`)
    .join('')
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n` +
    `<plist version="1.0">\n<dict>\n` +
    `  <key>Label</key>\n  <string>${xml(options.label ?? options.name)}</string>\n` +
    `  <key>ProgramArguments</key>\n  <array>\n${args}  </array>\n` +
    (env ? `  <key>EnvironmentVariables</key>\n  <dict>\n${env}  </dict>\n` : '') +
    (socket
      ? `  <key>Sockets</key>\n  <dict>\n    <key>${xml(socket.name)}</key>\n    <dict>\n` +
        `      <key>SockPathName</key>\n      <string>${xml(socket.path)}</string>\n` +
        `      <key>SockPathMode</key>\n      <integer>${socket.mode}</integer>\n    </dict>\n  </dict>\n`
      : `  <key>RunAtLoad</key>\n  <true/>\n`) +
    `  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n` +
    `</dict>\n</plist>\n`
  )
}
