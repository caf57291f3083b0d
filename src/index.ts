/**
 * fdwire: local IPC between a daemon and its clients over Unix domain sockets — framed messages,
 * fds passed with the message they belong to, peer credentials, FlatBuffers messages, and the
 * daemon primitives built on them.
 */
import { MAX_FDS_PER_FRAME } from './wire.js'

export * from './transport/index.js'
export * from './daemon/index.js'
export * as protocol from './protocol/index.js'
export { FdwireError, systemError, type SystemError, type FdwireErrorCode } from './errors.js'

/** Most fds one message can carry (Linux SCM_MAX_FD). */
export const MAX_FDS_PER_MESSAGE = MAX_FDS_PER_FRAME
export { spawnProcess, type SpawnOptions, type SpawnedProcess, type ProcessExit } from './process.js'
