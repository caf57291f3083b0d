/**
 * Socket activation: serving a listening socket this process inherited instead of binding one.
 *
 * - systemd (sd_listen_fds(3)): the manager leaves the sockets open at fds 3, 4, … (SD_LISTEN_FDS_START
 *   is 3), says how many in `LISTEN_FDS`, names them in `LISTEN_FDNAMES` (colon-separated, from
 *   FileDescriptorName= or the socket unit's name), and sets `LISTEN_PID` to the pid they are meant
 *   for: a process that merely inherited the variables from its parent must not touch those fds.
 *   The variables are read once and removed from `process.env`, as sd_listen_fds(3) does with
 *   `unset_environment`, so no child started later believes the sockets are its own; every fd
 *   they name is marked close-on-exec at that moment, as sd_listen_fds(3) does too.
 * - launchd (launch(3), launchd.plist(5) "Sockets"): `launch_activate_socket(name)` returns the fds
 *   launchd made for the job's Sockets entry `name`, once (a second call is EALREADY), so the fds of
 *   a lookup are kept here until a listener takes them.
 * - a plain fd number: a socket a parent (inetd-style, or a test harness) left open for us.
 *
 * Every inherited fd is checked before it is used: a Unix stream socket (AF_UNIX, SOCK_STREAM) that
 * is listening (SO_ACCEPTCONN), anything else is a clear error and the fd is left as it was. The
 * one taken is made close-on-exec and non-blocking. The service manager keeps its own copy of the
 * socket and owns the socket file: a listener on an inherited socket never unlinks it.
 */
import * as os from 'node:os'
import { debuglog } from 'node:util'
import { native } from '../binding.js'
import { FdwireError, systemError } from '../errors.js'
import { checkFd, checkObject, checkString, invalidArgValue } from '../validate.js'
import type { SocketAddress } from './address.js'

const debug = debuglog('fdwire')

/** sd_listen_fds(3): the first fd systemd passes. */
const SD_LISTEN_FDS_START = 3

/**
 * Where an inherited listening socket comes from:
 * - `{ fd }`: this fd number, left open for us by whoever started the process;
 * - `{ systemd: true }`: the one socket systemd passed (an error if it passed several);
 * - `{ systemd: name }`: the socket systemd passed under this name (LISTEN_FDNAMES);
 * - `{ launchd: name }`: the socket of this name in the launchd job's Sockets dictionary (macOS).
 */
export type InheritedSocket = { fd: number } | { systemd: true | string } | { launchd: string }

/** A socket taken from its source: the fd (ours now), its name, and words for messages. */
export interface TakenSocket {
  fd: number
  /** From getsockname(2); undefined for an unnamed socket. */
  address: SocketAddress | undefined
  /** e.g. `fd 3 (systemd, LISTEN_FDNAMES 'rush')`. */
  origin: string
}

interface SystemdSocket {
  fd: number
  name: string
  taken: boolean
}

/** What systemd passed this process (read once; see systemdSockets()). */
let systemd: { sockets: SystemdSocket[]; why: string } = { sockets: [], why: 'LISTEN_FDS is not set' }
/** launchd sockets looked up by socketActivation() and not taken yet, by name. */
const launchdFds = new Map<string, number[]>()

/** A usage check of an `InheritedSocket` option: exactly one of fd, systemd, launchd. */
export function checkInheritedSocket(name: string, value: unknown): InheritedSocket {
  if (value === undefined) throw invalidArgValue(name, value, 'must be one of { fd }, { systemd }, { launchd }')
  const o = checkObject(name, value)
  const keys = ['fd', 'systemd', 'launchd'].filter((key) => o[key] !== undefined)
  if (keys.length !== 1) throw invalidArgValue(name, value, 'must have exactly one of the keys fd, systemd, launchd')
  if (o['fd'] !== undefined) return { fd: checkFd(`${name}.fd`, o['fd']) }
  if (o['launchd'] !== undefined) return { launchd: checkString(`${name}.launchd`, o['launchd'], true) }
  const unit = o['systemd']
  if (unit === true) return { systemd: true }
  if (typeof unit === 'string') {
    if (unit === '' || unit.includes(':'))
      throw invalidArgValue(`${name}.systemd`, unit, 'must be a non-empty name without a colon (LISTEN_FDNAMES separates names with colons)')
    return { systemd: unit }
  }
  throw invalidArgValue(`${name}.systemd`, unit, 'must be true or a socket name')
}

/**
 * Whether a service manager started this process with its listening socket, and so what to pass
 * as `ServerOptions.listen`: `{ systemd }` when systemd passed sockets to this very process
 * (LISTEN_PID is ours), `{ launchd }` when launchd has a socket of that name for this job (macOS),
 * else undefined (bind the socket yourself). Reading the systemd variables removes them from
 * `process.env`.
 */
export function socketActivation(names: { systemd?: true | string; launchd?: string } = {}): InheritedSocket | undefined {
  const o = checkObject('names', names)
  const fromSystemd = checkInheritedSocket('names', { systemd: o['systemd'] ?? true })
  const launchdName = o['launchd'] === undefined ? undefined : checkString('names.launchd', o['launchd'], true)
  if (systemdSockets().some((s) => !s.taken)) return fromSystemd
  if (launchdName === undefined || process.platform !== 'darwin') return undefined
  if (launchdFds.has(launchdName)) return { launchd: launchdName }
  const result = native.launchdSockets(launchdName)
  if (typeof result !== 'number') {
    launchdFds.set(launchdName, result)
    return { launchd: launchdName }
  }
  const { ESRCH, ENOENT } = os.constants.errno
  if (result === -ESRCH || result === -ENOENT) return undefined
  throw systemError(result, 'launch_activate_socket', undefined, `launchd socket '${launchdName}'`)
}

/**
 * Takes the socket `source` names: checked (a listening AF_UNIX stream socket), close-on-exec,
 * non-blocking, and the caller's to close from now on. Throws, leaving every fd as it was:
 * `ERR_FDWIRE_NOT_ACTIVATED` when the manager passed no such socket, `ERR_FDWIRE_BAD_SOCKET` when
 * the fd is some other kind of socket, a system error (`ENOTSOCK`, `EBADF`) when it is no socket.
 */
export function takeInheritedSocket(source: InheritedSocket): TakenSocket {
  if ('fd' in source) {
    const origin = `fd ${source.fd} (an inherited socket)`
    return { fd: source.fd, address: adopt(source.fd, origin), origin }
  }
  if ('systemd' in source) {
    const socket = pickSystemd(source.systemd)
    const origin = `fd ${socket.fd} (systemd, LISTEN_FDNAMES '${socket.name}')`
    const address = adopt(socket.fd, origin)
    socket.taken = true
    return { fd: socket.fd, address, origin }
  }
  const fds = launchdSocket(source.launchd)
  const [fd, ...extra] = fds
  const origin = `fd ${fd} (launchd socket '${source.launchd}')`
  const address = adopt(fd!, origin)
  // A SockPathName entry makes one socket; a network entry may make one per address family.
  for (const other of extra) native.close(other)
  launchdFds.delete(source.launchd)
  return { fd: fd!, address, origin }
}

/** The systemd sockets of this process; reads (and removes) the variables when they are set. */
function systemdSockets(): SystemdSocket[] {
  const env = process.env
  if (env['LISTEN_FDS'] === undefined && env['LISTEN_PID'] === undefined) return systemd.sockets
  const pid = env['LISTEN_PID'] ?? ''
  const count = env['LISTEN_FDS'] ?? ''
  const names = env['LISTEN_FDNAMES']
  delete env['LISTEN_PID']
  delete env['LISTEN_FDS']
  delete env['LISTEN_FDNAMES']
  if (!/^[1-9]\d*$/.test(pid) || Number(pid) !== process.pid) {
    systemd = {
      sockets: [],
      why: `LISTEN_PID is ${pid ? `${pid}, not this process (pid ${process.pid})` : 'not set'}: the sockets were meant for another process`,
    }
  } else if (!/^\d+$/.test(count) || Number(count) === 0 || Number(count) > 0x7fff) {
    systemd = { sockets: [], why: `LISTEN_FDS is ${count ? `'${count}'` : 'not set'}: no sockets were passed` }
  } else {
    const nameList = names?.split(':') ?? []
    const sockets = Array.from({ length: Number(count) }, (_, i) => ({ fd: SD_LISTEN_FDS_START + i, name: nameList[i] || 'unknown', taken: false }))
    // sd_listen_fds(3) marks them all close-on-exec; a closed one (EBADF) is reported when taken.
    for (const socket of sockets) native.setCloexec(socket.fd)
    systemd = { sockets, why: '' }
  }
  debug('systemd sockets: %s', systemd.why || systemd.sockets.map((s) => `${s.fd}=${s.name}`).join(' '))
  return systemd.sockets
}

function pickSystemd(name: true | string): SystemdSocket {
  const sockets = systemdSockets()
  const notActivated = (reason: string) =>
    new FdwireError('ERR_FDWIRE_NOT_ACTIVATED', `no socket from systemd${name === true ? '' : ` named '${name}'`}: ${reason}`)
  if (sockets.length === 0) throw notActivated(systemd.why)
  const names = `LISTEN_FDNAMES ${sockets.map((s) => s.name).join(':')}`
  if (name === true) {
    if (sockets.length > 1) throw notActivated(`systemd passed ${sockets.length} sockets (${names}); ask for one by name`)
    if (sockets[0]!.taken) throw notActivated('its one socket was already taken by another listener')
    return sockets[0]!
  }
  const socket = sockets.find((s) => s.name === name && !s.taken)
  if (socket) return socket
  throw notActivated(sockets.some((s) => s.name === name) ? 'it was already taken by another listener' : `systemd passed ${names}`)
}

function launchdSocket(name: string): number[] {
  const cached = launchdFds.get(name)
  if (cached) return cached
  const result = native.launchdSockets(name)
  if (typeof result !== 'number') {
    if (result.length === 0) throw new FdwireError('ERR_FDWIRE_NOT_ACTIVATED', `launchd socket '${name}': launchd made no socket for it`)
    launchdFds.set(name, result)
    return result
  }
  const { ENOTSUP, ESRCH, ENOENT, EALREADY } = os.constants.errno
  if (result === -ENOTSUP) throw new FdwireError('ERR_FDWIRE_UNSUPPORTED', `launchd socket activation exists only on macOS, not on ${process.platform}`)
  const reasons: Record<number, string> = {
    [-ESRCH]: 'this process was not started by launchd',
    [-ENOENT]: `the launchd job has no socket named '${name}' in its Sockets dictionary`,
    [-EALREADY]: 'it was already taken (launchd hands each socket out once)',
  }
  const reason = reasons[result]
  if (reason) throw new FdwireError('ERR_FDWIRE_NOT_ACTIVATED', `no launchd socket '${name}': ${reason}`)
  throw systemError(result, 'launch_activate_socket', undefined, `launchd socket '${name}'`)
}

/** Checks that `fd` is a listening AF_UNIX stream socket, then makes it ours; its name, if any. */
function adopt(fd: number, origin: string): SocketAddress | undefined {
  const info = native.socketInfo(fd)
  if (typeof info === 'number') {
    const what = info === -os.constants.errno.ENOTSOCK ? 'is not a socket' : info === -os.constants.errno.EBADF ? 'is not open' : 'cannot be inspected'
    throw systemError(info, 'getsockopt', undefined, `${origin} ${what}`)
  }
  const [family, type, listening, abstract, name] = info
  const c = native.socketConstants
  if (family !== c.AF_UNIX || type !== c.SOCK_STREAM) {
    const families: Record<number, string> = { [c.AF_UNIX]: 'AF_UNIX', [c.AF_INET]: 'AF_INET', [c.AF_INET6]: 'AF_INET6' }
    const types: Record<number, string> = { [c.SOCK_STREAM]: 'SOCK_STREAM', [c.SOCK_DGRAM]: 'SOCK_DGRAM', [c.SOCK_SEQPACKET]: 'SOCK_SEQPACKET' }
    throw new FdwireError(
      'ERR_FDWIRE_BAD_SOCKET',
      `${origin} is a socket of family ${families[family] ?? family}, type ${types[type] ?? type}; fdwire serves Unix stream sockets (AF_UNIX, SOCK_STREAM) only`,
    )
  }
  if (!listening) {
    throw new FdwireError(
      'ERR_FDWIRE_BAD_SOCKET',
      `${origin} is a Unix stream socket that is not listening (SO_ACCEPTCONN is 0): pass it after listen(2), not a connection`,
    )
  }
  const err = native.adoptListener(fd)
  if (err < 0) throw systemError(err, 'fcntl', undefined, origin)
  if (name.length === 0) return undefined
  return { name, abstract, display: abstract ? `@${name.toString()}` : name.toString() }
}
