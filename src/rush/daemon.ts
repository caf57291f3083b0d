/**
 * rushd: the rush shell daemon, built only from fdwire's public primitives (Server, spawnProcess,
 * the protocol). Each client connection is a session; `rush.exec` runs a script (in-process or
 * via /bin/sh), `rush.signal` forwards a signal to a running command's process group.
 */
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Server } from '../daemon/server.js'
import { rush } from '../protocol/index.js'
import type { Connection } from '../transport/connection.js'
import { runExec, RushSession } from './exec.js'
import { packageRoot } from './paths.js'

export interface RushdOptions {
  runtimeDir: string
  /** Most concurrent sessions (client connections). Default 100. */
  maxSessions?: number
  /** SIGTERM/SIGINT shut down gracefully and exit; SIGHUP reloads. Default true. */
  handleSignals?: boolean
}

export const RUSH_VERSION: string = (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version

/** The build id: the version plus a hash of the daemon's code, so a client notices an upgrade. */
export function rushBuildId(): string {
  const hash = crypto.createHash('sha256')
  const dir = path.dirname(new URL(import.meta.url).pathname)
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) hash.update(fs.readFileSync(path.join(dir, file)))
  return `${RUSH_VERSION}+${hash.digest('hex').slice(0, 12)}`
}

/** Starts rushd in this process. Resolves once it listens. */
export async function startRushd(options: RushdOptions): Promise<Server> {
  const sessions = new WeakMap<Connection, RushSession>()
  let liveSessions = 0
  let commands = 0
  const startedAt = Date.now()
  const sessionOf = (connection: Connection): RushSession => {
    let session = sessions.get(connection)
    if (session === undefined) {
      session = new RushSession(server.runtimeDir)
      sessions.set(connection, session)
    }
    return session
  }
  const server = new Server({
    runtimeDir: options.runtimeDir,
    buildId: rushBuildId(),
    maxConnections: options.maxSessions ?? 100,
    handleSignals: options.handleSignals ?? true,
    maxFdsPerFrame: 8,
    maxFrameSize: 4 * 1024 * 1024,
    status: () => ({ version: RUSH_VERSION, sessions: liveSessions, commandsRun: commands, mode: 'in-process' }),
  })
  server.on('connection', (connection) => {
    liveSessions++
    connection.once('close', () => liveSessions--)
  })
  server.handle(rush.RushMethod.exec, async (request) => {
    const exec = rush.readExecRequest(request.body)
    commands++
    const outcome = await runExec(sessionOf(request.connection), request.id, exec, request.takeFds())
    if (outcome.kind === 'runLocally') return Buffer.from(rush.encodeRunLocally(outcome.reason))
    if (outcome.exited) setImmediate(() => request.connection.end())
    // Copied: the encoder's buffer is reused by the next encode, possibly before this is sent.
    return Buffer.from(rush.encodeResult(outcome.status, outcome.signal))
  })
  server.handle(rush.RushMethod.signal, (request) => {
    const { execId, signo } = rush.readSignal(request.body)
    sessions.get(request.connection)?.running.get(execId)?.kill(signo)
  })
  server.handle(rush.RushMethod.status, () =>
    Buffer.from(rush.encodeDaemonStatus({ pid: process.pid, uptimeMs: BigInt(Date.now() - startedAt), running: commands, buildId: server.buildId, jobs: [] })),
  )
  return server.listen()
}
