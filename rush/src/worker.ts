/**
 * A rushd worker process (pool and spawn modes). The daemon accepts each client, checks it, and
 * hands the connection over in a `rush.adopt` request together with a "lifeline" socket; the
 * worker serves the session and closes the lifeline when it ends (the kernel does, if the worker
 * dies), which is how the daemon counts live sessions.
 *
 * Pool mode answers `rush.adopt` at once and serves many sessions concurrently; spawn mode (one
 * process per request) answers when its one session is over, then exits.
 */
import { BuiltinMethod, closeFd, Connection, FdwireError, serveConnection, serveWorker } from 'fdwire'
import { rushHandlers } from './handlers.js'
import { ADOPT, RUSH_CONNECTION } from './constants.js'
import { tierUpSooner } from './tiering.js'

const buildId = process.env['RUSH_BUILD_ID'] ?? ''
const stateDir = process.env['RUSH_STATE_DIR'] ?? '/tmp'
const spawnMode = process.env['RUSH_WORKER_MODE'] === 'spawn'
const counters = { sessions: 0, commands: 0 }
const handlers = rushHandlers(stateDir, counters)
// A pool's worker serves session after session: the same code, connection after connection.
if (!spawnMode) tierUpSooner()

serveWorker(
  async (request) => {
    if (request.method !== ADOPT) throw new FdwireError('ERR_FDWIRE_UNKNOWN_METHOD', `unknown method ${request.method}`)
    const [clientFd, lifeline] = request.takeFds()
    if (clientFd === undefined || lifeline === undefined) throw new FdwireError('ERR_FDWIRE_MALFORMED', 'rush.adopt needs 2 fds')
    // The daemon's figures as of this connection's arrival, for `fdwire.status` on it.
    const status = request.body.toString()
    const connection = new Connection(clientFd, RUSH_CONNECTION)
    counters.sessions++
    const session = serveConnection(connection, {
      buildId,
      handlers: {
        ...handlers,
        [BuiltinMethod.status]: () => status,
        [BuiltinMethod.stop]: () => {
          process.kill(process.ppid, 'SIGTERM') // the daemon shuts down gracefully, workers with it
          return 'stopping'
        },
      },
    }).finally(() => {
      counters.sessions--
      closeFd(lifeline)
    })
    if (spawnMode) await session
  },
  { restoreState: false },
)
