/**
 * systemd's own socket activation tool as the service manager of a test: systemd-socket-activate(1)
 * (Debian package `systemd`) binds and listens on a path, and on the first connection execs the
 * daemon with the socket at fd 3 and LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES set, as systemd does.
 *
 * It execs (it does not stay to start the daemon again), so to act as a manager that keeps the
 * socket across daemon lifetimes the test runs it twice over: the outer one owns the socket and
 * execs a shell loop that holds fd 3 for good; each turn of the loop starts an inner
 * systemd-socket-activate, which takes the socket from the loop (it passes sockets it got through
 * sd_listen_fds(3) on), waits for a connection, and execs the daemon. When the daemon exits the
 * loop starts the next turn; connections that arrived meanwhile wait in the backlog.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as readline from 'node:readline'
import { aptInstall, cleanup, within, type leakTest } from './helpers.js'

type Test = Parameters<Parameters<typeof leakTest>[2]>[0]

const TOOL = 'systemd-socket-activate'

/** Why the tool cannot be used here, or undefined; `enableSocketActivate` says how to fix it. */
export const noSocketActivate: string | undefined = spawnSync(TOOL, ['--version']).error ? `${TOOL} is not installed` : undefined
export const enableSocketActivate = aptInstall('systemd')

export interface ActivationManager {
  /** The outer tool, then the shell loop (same pid); its process group holds every daemon. */
  child: ChildProcess
  /** The next line a daemon printed on stdout (a hang guard fails the test if none comes). */
  nextLine: () => Promise<string>
}

/**
 * Listens on `socketPath` and starts `command` (with fd name `fdName`, and the variables `env` on
 * top of PATH, HOME and TERM) on each connection that finds no daemon running. Resolves once the socket listens. Everything is SIGKILLed when the test
 * body ends (before its fd-leak check).
 */
export async function activationManager(
  t: Test,
  socketPath: string,
  fdName: string,
  command: readonly string[],
  env: Record<string, string> = {},
): Promise<ActivationManager> {
  // The loop goes on while the test process lives (a daemon that dies, even by a signal, is
  // started again on the next connection, as systemd's Restart= would): the socket stays open
  // until the teardown, and a test process killed before its teardown leaves no loop behind.
  const loop = `while kill -0 ${process.pid} 2>/dev/null; do sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=${fdName} exec ${TOOL} --fdname=${fdName} "$@"' sh "$@"; done`
  // Like systemd, the tool gives its child only PATH, HOME, TERM and LISTEN_*: `env` goes through env(1).
  const daemon = ['/usr/bin/env', ...Object.entries(env).map(([key, value]) => `${key}=${value}`), ...command]
  const child = spawn(TOOL, [`--listen=${socketPath}`, `--fdname=${fdName}`, '--', '/bin/sh', '-c', loop, 'sh', ...daemon], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: the teardown reaches the daemons too
  })
  cleanup(t, () => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // Already gone.
    }
  })
  const stdout = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const stderr = readline.createInterface({ input: child.stderr! })
  let log = ''
  const listening = new Promise<void>((resolve, reject) => {
    stderr.on('line', (line) => {
      log += `${line}\n`
      if (line.startsWith('Listening on')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`${TOOL} exited (${code}) before listening:\n${log}`)))
  })
  await within(listening, `${TOOL} listening`)
  const nextLine = async () => {
    const line = await within(stdout.next(), 'a line from the activated daemon', 120_000)
    if (line.done) throw new Error(`the activated daemons' stdout closed; ${TOOL} said:\n${log}`)
    return line.value
  }
  return { child, nextLine }
}
