/**
 * rushd — start | stop | status | restart | logs [-n N] [-f] | run | install-service
 *
 * `run` stays in the foreground (what `npm start` and service managers use); `start` runs it
 * detached and returns once it answers (race-free: many concurrent starts yield one daemon).
 * `status` exits 0 when running and 3 when not, like an LSB init script.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { daemonPaths as paths, daemonStatus, ensureDaemon, followLog, launchdPlist, stopDaemon, systemdUnit, tailLog } from 'fdwire'
import { RUSH_VERSION, rushBuildId, startRushd } from './daemon.js'
import { rushClientPath, rushRuntimeDir } from './paths.js'

const usage = `usage: rushd <command>

  run               run in the foreground (Ctrl-C stops it)
  start             start in the background (no-op if running)
  stop              stop (SIGTERM, then SIGKILL after 10 s)
  restart           stop, then start
  status            show pid, uptime, version, sessions; exit 0 if running, 3 if not
  logs [-n N] [-f]  show the last N lines of the log (default 20); -f follows
  install-service   write a systemd user unit (Linux) or a launchd agent (macOS)

environment:
  RUSH_RUNTIME_DIR  where the socket, pid file and log live
                    (default $XDG_RUNTIME_DIR/rush, else /tmp/rush-<uid>)
`

const self = fileURLToPath(import.meta.url)

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
      const server = await startRushd({ runtimeDir })
      const client = rushClientPath()
      console.log(`rushd ${RUSH_VERSION} (pid ${process.pid}) listening on ${server.socketPath}`)
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
      const client = await ensureDaemon({ runtimeDir, command: daemonCommand, env: { ...daemonEnv, ...process.env }, buildId })
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
        console.log(`  mode      ${String(d['mode'])}${d['workers'] !== undefined ? `, workers ${String(d['workers'])}, queue ${String(d['queued'])}` : ''}`)
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

function installService(): number {
  const command = daemonCommand
  const env: Record<string, string> = { ...daemonEnv }
  if (process.env['RUSH_RUNTIME_DIR']) env['RUSH_RUNTIME_DIR'] = process.env['RUSH_RUNTIME_DIR']
  const options = { name: 'rushd', description: 'rush shell daemon', command, env }
  if (process.platform === 'darwin') {
    const file = path.join(os.homedir(), 'Library', 'LaunchAgents', 'dev.fdwire.rushd.plist')
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, launchdPlist({ ...options, label: 'dev.fdwire.rushd' }))
    console.log(`wrote ${file}\nload it with:  launchctl load -w ${file}`)
    return 0
  }
  const file = path.join(process.env['XDG_CONFIG_HOME'] || path.join(os.homedir(), '.config'), 'systemd', 'user', 'rushd.service')
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, systemdUnit(options))
  console.log(`wrote ${file}\nenable it with:  systemctl --user daemon-reload && systemctl --user enable --now rushd`)
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
