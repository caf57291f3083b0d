/** Shared by the rushd daemon process and its workers. */

/** The request with which rushd hands a client connection to a worker. */
export const ADOPT = 'rush.adopt'

/** Limits on a client connection: the client sends at most its 3 stdio fds. A frame over either
 *  limit closes the connection (docs/protocol.md, section 5). */
export const RUSH_CONNECTION = { maxFdsPerFrame: 8, maxFrameSize: 4 * 1024 * 1024 }

/** Concurrent sessions (client connections) by default; the next client is refused with
 *  `ERR_FDWIRE_BUSY` (`RushdOptions.maxSessions`). */
export const DEFAULT_MAX_SESSIONS = 100

/** How long a worker may take to adopt a connection before it is presumed stuck (e.g. stopped):
 *  the daemon then serves that session itself. */
export const ADOPT_TIMEOUT_MS = 1000

/** Largest frame payload rush's C client reads (`WIRE_MAX_FRAME` in rush/client/wire.h); it treats
 *  a larger reply as malformed. rushd keeps its replies to `rush.exec` within it. */
export const RUSH_CLIENT_MAX_FRAME = 1024 * 1024

/** Room for the envelope around a reply body (root, Response table, vector length, padding). */
export const RESPONSE_OVERHEAD = 256
