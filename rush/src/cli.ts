/**
 * rushd — start | stop | status | restart | logs [-n N] [-f] | run | install-service
 *
 * `run` stays in the foreground (what `npm start` and service managers use); `start` runs it
 * detached and returns once it answers (race-free: many concurrent starts yield one daemon). A
 * daemon started on demand (`start`, which rush calls when no daemon answers) exits after
 * `RUSH_IDLE_EXIT` seconds without sessions; one in the foreground only when that is set.
 * `status` exits 0 when running and 3 when not, like an LSB init script.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  daemonPaths as paths,
  daemonStatus,
  ensureDaemon,
  followLog,
  launchdPlist,
  socketActivation,
  stopDaemon,
  systemdSocketUnit,
  systemdUnit,
  tailLog,
} from 'fdwire'
import { envSeconds, RUSH_VERSION, rushBuildId, startRushd } from './daemon.js'
import { rushClientPath, rushRuntimeDir } from './paths.js'
import { tierUpSooner } from './tiering.js'

const usage = `usage: rushd <command>

  run               run in the foreground (Ctrl-C stops it)
  start             start in the background (no-op if running); waits up to 30 s
                    for it to answer
  stop              stop (SIGTERM, then SIGKILL after 10 s)
  restart           stop, then start
  status            show pid, uptime, version, sessions; exit 0 if running, 3 if not
  logs [-n N] [-f]  show the last N lines of the log (default 20); -f follows
  install-service   write systemd user units rushd.socket + rushd.service (Linux) or a
                    launchd agent (macOS): the service manager owns the socket and
                    starts rushd on the first connection (socket activation)

environment:
  RUSH_RUNTIME_DIR  where the socket, pid file and log live
                    (default $XDG_RUNTIME_DIR/rush, else /tmp/rush-<uid>)
  RUSH_IDLE_EXIT    seconds without sessions before a daemon started on demand
                    (by rush, or by systemd/launchd through its socket) exits
                    (default 600; 0: never)
  RUSH_POOL_SIZE    most worker processes for concurrent sessions (default 4)
  RUSH_POOL_MIN     workers kept running while idle (default 0)
  RUSH_WORKER_IDLE  seconds before an idle worker above RUSH_POOL_MIN exits (default 30)
`

/** How long a daemon started on demand waits without sessions before it exits. */
const DEFAULT_IDLE_EXIT_MS = 600_000
/** How long `start` waits for the daemon to answer. A slow machine (an emulated one, a loaded
 *  one) takes seconds to start Node, and with `RUSH_DISABLE_POOL=1` or `RUSH_INLINE_SESSIONS=0` a
 *  worker process must start before the first hello: `start` waits for that rather than report a
 *  failure while the daemon is coming up. */
const START_TIMEOUT_MS = 30_000
/** `run`'s argument saying the daemon was started on demand (by `start`). */
const ON_DEMAND = '--on-demand'

const self = fileURLToPath(import.meta.url)
/** The socket's name in rushd.socket (FileDescriptorName=) and in the launchd job's Sockets. */
const SOCKET_NAME = 'rush'

/**
 * How the daemon is started (`start`, and the service `install-service` writes). Its node runs
 * with `--max-semi-space-size=1` (`node --v8-options`: "max size of a semi-space (in MBytes), the
 * new space consists of two semi-spaces"). Under a steady allocation rate, such as one short
 * session after another, V8 grows the young generation to two 16 MB semi-spaces and keeps them
 * until it has been idle for a while; and what a session leaves (with the read buffers, outside
 * the heap, that its objects point at) waits for a collection that much longer, which leaves
 * malloc's heap holding freed memory it does not return. A session keeps few objects alive, so
 * collecting a 1 MB semi-space sixteen times as often costs no latency that can be measured.
 *
 * Its environment has MALLOC_MMAP_THRESHOLD_=16384 unless the caller set it (glibc, mallopt(3)
 * M_MMAP_THRESHOLD: a block of at least that size that the free lists cannot serve gets an
 * mmap(2) of its own, and the threshold no longer adjusts itself upwards). Every connection's
 * first read buffer is 16 KiB: each is then unmapped when freed, instead of leaving a hole between
 * longer-lived blocks in malloc's heap, which free(3) does not give back to the system. Other C
 * libraries ignore the variable.
 */
const daemonCommand = [process.execPath, '--max-semi-space-size=1', self, 'run']
const daemonEnv = { MALLOC_MMAP_THRESHOLD_: '16384' }

async function main(args: string[]): Promise<number> {
  const command = args[0]
  const runtimeDir = rushRuntimeDir()
  const where = { runtimeDir }
  switch (command) {
    case 'run': {
      // The log may be on a full disk or gone: a daemon that cannot log keeps serving.
      for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
      tierUpSooner()
      // Started by systemd (rushd.socket) or launchd with the socket: serve that one. That is a
      // start on demand too, and its idle exit loses no client: a connection that arrives while
      // rushd exits waits in the manager's socket for the next rushd.
      const listen = socketActivation({ systemd: SOCKET_NAME, launchd: SOCKET_NAME })
      const onDemand = args.includes(ON_DEMAND) || listen !== undefined
      const idleExit = envSeconds('RUSH_IDLE_EXIT', onDemand ? DEFAULT_IDLE_EXIT_MS : 0)
      const server = await startRushd({ runtimeDir, idleExit, ...(listen ? { listen } : {}) })
      const client = rushClientPath()
      const from = listen === undefined ? '' : ` (socket from ${'systemd' in listen ? 'systemd' : 'launchd'})`
      console.log(`rushd ${RUSH_VERSION} (pid ${process.pid}) listening on ${server.socketPath}${from}`)
      console.log(`try it in another terminal:  ${client} -c 'echo hello from rush'`)
      console.log('Ctrl-C stops it.')
      server.on('close', () => console.log('rushd stopped'))
      return -1 // keep running; the server exits the process on SIGTERM/SIGINT
    }
    case 'start': {
      const before = await daemonStatus(where)
      const buildId = rushBuildId()
      if (before.running && before.details?.['buildId'] === buildId) {
        console.log(`rushd is already running (pid ${before.pid})`)
        return 0
      }
      // Not running, or running an older build: ensureDaemon starts (or replaces) it, race-free.
      const client = await ensureDaemon({
        runtimeDir,
        command: [...daemonCommand, ON_DEMAND],
        env: { ...daemonEnv, ...process.env },
        buildId,
        startTimeout: START_TIMEOUT_MS,
      })
      const replaced = before.running && before.pid !== client.daemon.peer.pid
      console.log(
        `rushd ${replaced ? `replaced (was pid ${before.pid}, a different build)` : 'started'} (pid ${client.daemon.peer.pid}), socket ${paths(where).socket}`,
      )
      client.destroy()
      return 0
    }
    case 'stop': {
      const result = await stopDaemon(where)
      console.log(result === 'not-running' ? 'rushd is not running' : `rushd ${result}`)
      return 0
    }
    case 'restart': {
      await stopDaemon(where)
      return main(['start'])
    }
    case 'status': {
      const status = await daemonStatus(where)
      if (!status.running) {
        console.log(`rushd is not running (runtime dir ${runtimeDir})`)
        return 3
      }
      const d = status.details ?? {}
      console.log(`rushd is running (pid ${status.pid})`)
      if (status.error) console.log(`  but did not answer: ${status.error}`)
      else {
        console.log(`  version   ${String(d['version'])} (build ${String(d['buildId'])})`)
        console.log(`  uptime    ${Math.round(Number(d['uptimeMs']) / 1000)} s`)
        console.log(`  sessions  ${String(d['sessions'])} (connections ${String(d['connections'])})`)
        // Workers count their own commands; the daemon reports what it answered (ran, or gave back to
        // the client to exec) and what it handed over.
        console.log(
          `  commands  ${String(d['commandsRun'])} answered by the daemon itself${d['handedOff'] !== undefined ? `, ${String(d['handedOff'])} sessions handed to workers` : ''}`,
        )
        console.log(`  mode      ${String(d['mode'])}`)
        if (d['workers'] !== undefined) {
          const starting = Number(d['workersStarting']) > 0 ? ` (+${String(d['workersStarting'])} starting)` : ''
          console.log(
            `  workers   ${String(d['workers'])}${starting} running (min ${String(d['workersMin'])}, max ${String(d['workersMax'])}), ${String(d['workersRetired'])} retired idle, queue ${String(d['queued'])}`,
          )
        }
        const mb = (bytes: unknown) => `${(Number(bytes) / 1048576).toFixed(1)} MB`
        console.log(`  memory    ${mb(d['rssBytes'])} RSS daemon${d['workersRssBytes'] !== undefined ? `, ${mb(d['workersRssBytes'])} workers` : ''}`)
        const idle = d['idleCloseInMs']
        console.log(
          `  idle exit ${Number(d['idleTimeoutMs']) === 0 ? 'never' : typeof idle === 'number' ? `in ${Math.ceil(idle / 1000)} s` : `after ${Math.round(Number(d['idleTimeoutMs']) / 1000)} s without sessions`}`,
        )
        console.log(`  socket    ${String(d['socketPath'])}`)
      }
      return 0
    }
    case 'logs': {
      let lines = 20
      let follow = false
      for (let i = 1; i < args.length; i++) {
        if (args[i] === '-f') follow = true
        else if (args[i] === '-n' && /^\d+$/.test(args[i + 1] ?? '')) lines = Number(args[++i])
        else return usageError(`logs: unexpected ${args[i]}`)
      }
      const logFile = paths(where).log
      process.stdout.write(tailLog(logFile, lines))
      if (follow) {
        const controller = new AbortController()
        process.once('SIGINT', () => controller.abort())
        await followLog(logFile, (text) => process.stdout.write(text), controller.signal)
      }
      return 0
    }
    case 'install-service':
      return installService()
    case '--version':
    case '-V':
      console.log(`rushd ${RUSH_VERSION}`)
      return 0
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(usage)
      return 0
    default:
      return usageError(command === undefined ? 'missing command' : `unknown command ${command}`)
  }
}

/**
 * Writes the service files: socket-activated, so the service manager owns rushd's socket at the
 * path the client uses and starts rushd on the first connection.
 */
function installService(): number {
  const command = daemonCommand
  const env: Record<string, string> = { ...daemonEnv }
  if (process.env['RUSH_RUNTIME_DIR']) env['RUSH_RUNTIME_DIR'] = process.env['RUSH_RUNTIME_DIR']
  const socketPath = paths({ runtimeDir: rushRuntimeDir() }).socket
  const options = { name: 'rushd', description: 'rush shell daemon', command, env, socket: { path: socketPath, name: SOCKET_NAME, mode: 0o600 } }
  if (process.platform === 'darwin') {
    const file = path.join(os.homedir(), 'Library', 'LaunchAgents', 'dev.fdwire.rushd.plist')
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, launchdPlist({ ...options, label: 'dev.fdwire.rushd' }))
    console.log(`wrote ${file} (launchd listens on ${socketPath} and starts rushd on the first connection)`)
    console.log(`load it with:  launchctl bootstrap gui/$(id -u) ${file}   (older macOS: launchctl load -w ${file})`)
    return 0
  }
  // In a user unit %t is $XDG_RUNTIME_DIR: the unit follows it the way the client does.
  const xdg = process.env['XDG_RUNTIME_DIR']
  const viaXdg = !process.env['RUSH_RUNTIME_DIR'] && xdg && socketPath === path.join(xdg, 'rush', 'daemon.sock')
  const unitOptions = { ...options, socket: { ...options.socket, path: viaXdg ? '%t/rush/daemon.sock' : socketPath } }
  const dir = path.join(process.env['XDG_CONFIG_HOME'] || path.join(os.homedir(), '.config'), 'systemd', 'user')
  fs.mkdirSync(dir, { recursive: true })
  const socketFile = path.join(dir, 'rushd.socket')
  const serviceFile = path.join(dir, 'rushd.service')
  fs.writeFileSync(socketFile, systemdSocketUnit(unitOptions))
  fs.writeFileSync(serviceFile, systemdUnit(unitOptions))
  console.log(`wrote ${socketFile} (systemd listens on ${socketPath} and starts rushd on the first connection)`)
  console.log(`wrote ${serviceFile}`)
  console.log('enable it with:  systemctl --user daemon-reload && systemctl --user enable --now rushd.socket')
  return 0
}

function usageError(message: string): number {
  process.stderr.write(`rushd: ${message}\n${usage}`)
  return 2
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (error: Error) => {
    process.stderr.write(`rushd: ${error.message}\n`)
    process.exitCode = 1
  },
)
