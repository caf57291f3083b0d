/**
 * rush's request handler, `rush.exec`, shared by every rushd mode:
 * the daemon process itself (in-process mode) and its workers (pool and spawn modes). Sessions are
 * per connection and live only as data.
 */
import type { Connection, Handler } from 'fdwire'
import * as rush from './protocol/messages.js'
import { RESPONSE_OVERHEAD, RUSH_CLIENT_MAX_FRAME } from './constants.js'
import { runExec, RushSession } from './exec.js'

export interface RushCounters {
  sessions: number
  commands: number
}

export function rushHandlers(stateDir: string, counters: RushCounters): Record<string, Handler> {
  const sessions = new WeakMap<Connection, RushSession>()
  const sessionOf = (connection: Connection): RushSession => {
    let session = sessions.get(connection)
    if (session === undefined) {
      session = new RushSession(stateDir)
      sessions.set(connection, session)
    }
    return session
  }
  return {
    [rush.RushMethod.exec]: async (request) => {
      const exec = rush.readExecRequest(request.body)
      counters.commands++
      const session = sessionOf(request.connection)
      const outcome = await runExec(session, exec, request.takeFds())
      if (outcome.kind === 'runLocally') {
        // A line left to the client's terminal leaves its state in a file for the next line: if
        // there is none, the session's end removes it.
        if (session.terminalRun !== undefined && !session.discardOnClose) {
          session.discardOnClose = true
          request.connection.once('close', () => session.discard())
        }
        // The program's strings are byte strings (exec.ts): written back as the bytes they were.
        const body = rush.encodeRunLocally(outcome.reason, outcome.exec, 'latin1')
        // A program whose argv and environment make a reply larger than the client reads is left
        // to the client's own `/bin/sh -c`, which gives the same result. (A line run on the
        // terminal carries the session's state in its program: that one has no such fallback.)
        if (outcome.exec !== undefined && session.terminalRun === undefined && body.byteLength > RUSH_CLIENT_MAX_FRAME - RESPONSE_OVERHEAD) {
          return Buffer.from(rush.encodeRunLocally(outcome.reason))
        }
        return Buffer.from(body)
      }
      // Copied: the encoder's buffer is reused by the next encode, possibly before this is sent.
      const result = Buffer.from(rush.encodeResult(outcome.status, outcome.signal, outcome.exited))
      // `exit` ends the session: the reply says so (the client leaves without waiting to see the
      // end of stream, nor showing another prompt), and the end of stream follows it at once.
      return outcome.exited ? { body: result, end: true } : result
    },
  }
}
