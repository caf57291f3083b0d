/** Socket names: filesystem paths (checked against the platform's sun_path limit) and Linux
 *  abstract names. A path that cannot fit is a clear error up front, never a hang or a truncation. */
import * as os from 'node:os'
import { native } from '../binding.js'
import { FdwireError, systemError } from '../errors.js'
import { invalidArgType, invalidArgValue } from '../validate.js'

export interface SocketAddress {
  /** The name as bytes, as the kernel sees it (without the leading NUL of an abstract name). */
  name: Buffer
  abstract: boolean
  /** For messages: the path, or `@name` for an abstract name. */
  display: string
}

/** Longest filesystem socket path in bytes on this platform (107 on Linux, 103 on macOS). */
export const MAX_SOCKET_PATH: number = native.maxSocketPath

export function resolveAddress(path: unknown, abstract: boolean, syscall: string): SocketAddress {
  if (typeof path !== 'string' && !Buffer.isBuffer(path)) {
    throw invalidArgType('path', 'of type string or an instance of Buffer', path)
  }
  const name = typeof path === 'string' ? Buffer.from(path) : path
  if (abstract) {
    if (!native.abstractNamespace) {
      throw new FdwireError('ERR_FDWIRE_UNSUPPORTED', `abstract socket names exist only on Linux, not on ${process.platform}`)
    }
    if (name.length + 1 > MAX_SOCKET_PATH + 1) {
      throw systemError(
        -os.constants.errno.ENAMETOOLONG,
        syscall,
        `@${name.toString()}`,
        `abstract name is ${name.length} bytes; at most ${MAX_SOCKET_PATH} fit`,
      )
    }
    return { name, abstract, display: `@${name.toString()}` }
  }
  if (name.length === 0) throw invalidArgValue('path', path, 'must not be empty')
  if (name.includes(0)) throw invalidArgValue('path', path, 'must be a string or Buffer without null bytes')
  const display = name.toString()
  if (name.length > MAX_SOCKET_PATH) {
    throw systemError(
      -os.constants.errno.ENAMETOOLONG,
      syscall,
      display,
      `socket path is ${name.length} bytes, but ${process.platform} allows at most ${MAX_SOCKET_PATH} (sun_path); use a shorter directory`,
    )
  }
  return { name, abstract, display }
}
