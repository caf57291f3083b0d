import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import {
  daemonPaths,
  daemonStatus,
  ensureDaemon,
  followLog,
  launchdPlist,
  readPidFile,
  socketPair,
  stopDaemon,
  systemdSocketUnit,
  systemdUnit,
  tailLog,
  waitForExit,
} from '../../src/index.js'
import { alive, aptInstall, cleanup, node, fixtures, leakTest, needs, tempDir, until } from '../helpers.js'
import type { Test } from './lib.js'

const daemonScript = path.join(fixtures, 'daemon-server.mjs')

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

/** Starts the fixture daemon with `config` (via ensureDaemon) and returns its pid. */
async function startDaemon(t: Test, config: Record<string, unknown> = {}) {
  const runtimeDir = path.join(tempDir(t), 'run')
  const client = await ensureDaemon({ runtimeDir, command: [...node, daemonScript, runtimeDir, JSON.stringify(config)] })
  const pid = client.daemon.peer.pid
  client.destroy()
  t.teardown(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL')
  })
  return { runtimeDir, pid, ...daemonPaths({ runtimeDir }) }
}

leakTest(t, 'stopDaemon: SIGTERM stops a daemon gracefully, removing its socket and pid file', async (t) => {
  const { runtimeDir, pid, socket, pidFile, log } = await startDaemon(t)
  t.same(readPidFile(pidFile), { pid, locked: true }, 'the pid file holds its pid, locked')
  t.equal(await stopDaemon({ runtimeDir }), 'stopped')
  t.ok(await until(() => !alive(pid)), 'the daemon exits (stopDaemon returns once its pid-file lock is released)')
  t.notOk(fs.existsSync(socket), 'its socket is removed')
  t.notOk(fs.existsSync(pidFile), 'its pid file is removed')
  t.match(fs.readFileSync(log, 'utf8'), new RegExp(`^closed ${pid}$`, 'm'), 'it closed its server (graceful)')
  t.equal(await stopDaemon({ runtimeDir }), 'not-running', 'stopping again: not running')
})

leakTest(t, 'stopDaemon: a daemon that ignores SIGTERM is killed after the timeout', async (t) => {
  const { runtimeDir, pid, log, pidFile } = await startDaemon(t, { ignoreTerm: true })
  t.equal(await stopDaemon({ runtimeDir, timeout: 300 }), 'killed')
  t.ok(await until(() => !alive(pid)), 'the daemon is gone')
  t.match(fs.readFileSync(log, 'utf8'), /^SIGTERM ignored$/m, 'it got SIGTERM first')
  t.notOk(readPidFile(pidFile).locked, 'its pid-file lock died with it')
})

leakTest(t, 'daemonStatus: running with pid and its own figures; not running after it stopped', async (t) => {
  const { runtimeDir, pid, socket } = await startDaemon(t, { buildId: 'b-42' })
  // The starter's connection was just closed; the daemon may not have seen that yet (the first
  // timeout is generous: on a loaded machine a daemon's answer can take seconds).
  let status = await daemonStatus({ runtimeDir, timeout: 30_000 })
  for (let i = 0; i < 1000 && status.details?.['connections'] !== 1; i++) {
    await sleep(10)
    status = await daemonStatus({ runtimeDir, timeout: 30_000 })
  }
  t.match(status, { running: true, pid, details: { pid, buildId: 'b-42', socketPath: socket, connections: 1, inFlight: 1 } })
  t.type(status.details?.['uptimeMs'], 'number')
  t.type(status.details?.['protocolVersion'], 'number')
  process.kill(pid, 'SIGSTOP') // running (lock held) but not answering
  const stuck = await daemonStatus({ runtimeDir, timeout: 200 })
  process.kill(pid, 'SIGCONT')
  t.match(stuck, { running: true, pid, error: /ERR_FDWIRE_TIMEOUT|no hello|no reply|within 200 ms/ }, 'a daemon that does not answer: running, with the reason')
  t.notOk('details' in stuck)
  t.equal(await stopDaemon({ runtimeDir }), 'stopped')
  t.same(await daemonStatus({ runtimeDir }), { running: false })
  t.same(await daemonStatus({ runtimeDir: path.join(runtimeDir, 'never') }), { running: false }, 'a runtime dir without a daemon')
})

leakTest(t, 'waitForExit: false while the lock is held, true once the holder is gone', async (t) => {
  const { runtimeDir, pid, pidFile } = await startDaemon(t)
  t.equal(await waitForExit(pidFile, 50), false)
  process.kill(pid, 'SIGKILL')
  t.equal(await waitForExit(pidFile, 10_000), true)
  t.equal(await stopDaemon({ runtimeDir }), 'not-running', 'a killed daemon is not running: its lock is gone, its pid file stale')
})

leakTest(t, 'tailLog returns the last lines, reading only the end of a large file', async (t) => {
  const dir = tempDir(t)
  const log = path.join(dir, 'daemon.log')
  t.equal(tailLog(log), '', 'a missing log is empty')
  fs.writeFileSync(log, `${Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n')}\n`)
  t.equal(tailLog(log, 3), 'line 97\nline 98\nline 99\n')
  t.equal(tailLog(log).split('\n').length, 21, 'default: 20 lines')
  fs.appendFileSync(log, 'no newline at the end')
  t.equal(tailLog(log, 2), 'line 99\nno newline at the end\n')
  const long = 'x'.repeat(100_000)
  fs.writeFileSync(log, `first\n${long}\n${long}\nlast\n`)
  t.equal(tailLog(log, 2), `${long}\nlast\n`, 'lines longer than the 64 KiB read chunk')
  t.equal(tailLog(log, 10), `first\n${long}\n${long}\nlast\n`, 'asking for more lines than there are')
  fs.writeFileSync(log, '')
  t.equal(tailLog(log), '')
})

leakTest(t, 'followLog delivers what is appended, survives truncation, and stops on abort', async (t) => {
  const dir = tempDir(t)
  const log = path.join(dir, 'daemon.log')
  fs.writeFileSync(log, 'old line, not delivered\n')
  let seen = ''
  const controller = new AbortController()
  cleanup(t, () => controller.abort())
  const following = followLog(log, (text) => (seen += text), controller.signal)
  fs.appendFileSync(log, 'one\n')
  t.ok(await until(() => seen === 'one\n'), 'appended text arrives')
  fs.appendFileSync(log, 'two\n')
  t.ok(await until(() => seen === 'one\ntwo\n'))
  fs.writeFileSync(log, 'x\n') // rotated: shorter than before
  t.ok(await until(() => seen === 'one\ntwo\nx\n'), 'after truncation it starts over at 0')
  controller.abort()
  await following
  fs.appendFileSync(log, 'after abort\n')
  await sleep(300)
  t.equal(seen, 'one\ntwo\nx\n', 'nothing more after abort')
})

/** Splits an ExecStart= line as systemd does: whitespace-separated, "double quotes", \-escapes,
 *  then %% and $$ stand for a literal % and $. */
function splitSystemd(line: string): string[] {
  const words: string[] = []
  for (const match of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) words.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]!)
  return words.map((word) => word.replace(/%%/g, '%').replace(/\$\$/g, '$'))
}

leakTest(t, 'systemdUnit: a valid user unit that runs the command in the foreground', async (t) => {
  const dir = tempDir(t)
  // Spaces and quotes, %-specifiers (%i, %z) and $VARIABLES must all reach the daemon literally.
  const command = [process.execPath, path.join(dir, 'my daemon.mjs'), '--name', 'say "hi"', 'at-100%z', '/tmp/a%i', '$HOME']
  const unit = systemdUnit({
    name: 'fdwire-test',
    description: 'fdwire test daemon, 100%',
    command,
    env: { NODE_ENV: 'production', GREETING: 'hello world %h' },
  })
  const sections = Object.fromEntries(
    unit
      .split(/^\[(\w+)\]$/m)
      .slice(1)
      .flatMap((part, i, all): [string, string][] => (i % 2 === 0 ? [[part, all[i + 1]!]] : [])),
  )
  t.same(Object.keys(sections), ['Unit', 'Service', 'Install'])
  const service = sections['Service'] as string
  const execStart = /^ExecStart=(.*)$/m.exec(service)?.[1] ?? ''
  t.same(splitSystemd(execStart), command, 'ExecStart= quotes each argument so systemd splits it back')
  t.match(service, /^Type=simple$/m)
  t.match(service, /^Restart=on-failure$/m)
  t.match(service, /^KillSignal=SIGTERM$/m)
  t.same(
    [...service.matchAll(/^Environment=(.*)$/gm)].map((m) => splitSystemd(m[1]!)[0]),
    ['NODE_ENV=production', 'GREETING=hello world %h'],
  )
  t.match(sections['Unit'], /^Description=fdwire test daemon, 100%%$/m)
  t.match(sections['Install'], /^WantedBy=default.target$/m)
  if (
    !needs(
      t,
      spawnSync('systemd-analyze', ['--version']).error ? 'systemd-analyze is not installed (only the structure above was checked)' : undefined,
      aptInstall('systemd'),
    )
  )
    return
  const file = path.join(dir, 'fdwire-test.service')
  fs.writeFileSync(file, unit)
  const verify = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' })
  t.equal(verify.status, 0, `systemd-analyze verify accepts it${verify.stderr ? `: ${verify.stderr}` : ''}`)
  t.equal(verify.stderr.trim(), '', 'without warnings')
})

/** A plist read back by an independent parser (python3 plistlib); undefined, with a failure, when
 *  it cannot be read. */
function parsePlist(t: Test, plist: string): unknown {
  const python = spawnSync('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], {
    input: plist,
    encoding: 'utf8',
  })
  if (python.error || python.status !== 0) {
    t.fail(`python3 plistlib could not parse it: ${python.stderr ?? python.error?.message}`)
    return undefined
  }
  return JSON.parse(python.stdout)
}

leakTest(t, 'launchdPlist: a property list launchd reads, with arguments and environment escaped', async (t) => {
  const command = ['/usr/local/bin/node', '/opt/a & b/<daemon>.mjs']
  const plist = launchdPlist({ name: 'fdwire-test', label: 'org.example.fdwire', description: 'unused by launchd', command, env: { A: 'x<y&z' } })
  const parsed = parsePlist(t, plist)
  if (parsed === undefined) return
  t.same(
    parsed,
    {
      Label: 'org.example.fdwire',
      ProgramArguments: command,
      EnvironmentVariables: { A: 'x<y&z' },
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
    },
    'an independent parser (python3 plistlib) reads back exactly what was asked for',
  )
  const noLabel = spawnSync('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], {
    input: launchdPlist({ name: 'svc', description: '', command: ['/bin/true'] }),
    encoding: 'utf8',
  })
  t.match(JSON.parse(noLabel.stdout), { Label: 'svc', ProgramArguments: ['/bin/true'] }, 'the label defaults to the name; no environment key without env')
  t.notOk('EnvironmentVariables' in JSON.parse(noLabel.stdout))
})

/** The code and message a call throws synchronously, or its rejection's. */
async function failure(fn: () => unknown): Promise<{ code: unknown; message: string }> {
  try {
    await fn()
  } catch (error) {
    return { code: (error as { code?: unknown }).code, message: (error as Error).message }
  }
  throw new Error('did not throw')
}

leakTest(t, 'service files and followLog check their arguments: nothing injected, nothing started', async (t) => {
  const good = { name: 'svc', description: 'a daemon', command: ['/bin/true'] }
  const cases: [string, unknown, string, RegExp][] = [
    ['no options', undefined, 'ERR_INVALID_ARG_TYPE', /"options" argument must be of type object/],
    [
      'a newline in the description (it would start a new unit directive)',
      { ...good, description: 'x\nExecStartPre=/bin/evil' },
      'ERR_INVALID_ARG_VALUE',
      /'options.description' must not contain a newline/,
    ],
    ['a newline in an argument', { ...good, command: ['/bin/true', 'a\nb'] }, 'ERR_INVALID_ARG_VALUE', /'options.command\[1\]'/],
    ['an empty command', { ...good, command: [] }, 'ERR_INVALID_ARG_VALUE', /non-empty array/],
    ['a command that is a string', { ...good, command: '/bin/true' }, 'ERR_INVALID_ARG_TYPE', /"options.command"/],
    ['a name with a slash', { ...good, name: '../x' }, 'ERR_INVALID_ARG_VALUE', /without a slash/],
    ['a name that is missing', { ...good, name: undefined }, 'ERR_INVALID_ARG_TYPE', /"options.name" property must be of type string/],
    ['an env value that is a number', { ...good, env: { A: 1 } }, 'ERR_INVALID_ARG_TYPE', /"options.env.A"/],
    ['an env name with =', { ...good, env: { 'A=B': 'x' } }, 'ERR_INVALID_ARG_VALUE', /variable names/],
    ['a NUL in an env value (XML 1.0 cannot carry it)', { ...good, env: { A: 'x\u0000' } }, 'ERR_INVALID_ARG_VALUE', /control character/],
  ]
  for (const [what, options, code, message] of cases) {
    for (const make of [systemdUnit, launchdPlist]) {
      t.match(await failure(() => make(options as never)), { code, message }, `${make.name}: ${what}`)
    }
  }
  t.match(await failure(() => launchdPlist({ ...good, label: '' })), { code: 'ERR_INVALID_ARG_VALUE' }, 'an empty label')
  t.match(systemdUnit({ ...good, description: 'tabs\tare fine' }), /Description=tabs\tare fine\n/)

  const signal = new AbortController().signal
  t.match(await failure(() => followLog(undefined as never, () => {}, signal)), { code: 'ERR_INVALID_ARG_TYPE', message: /"logFile"/ })
  t.match(await failure(() => followLog('/tmp/x.log', 'print' as never, signal)), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /"onData" argument must be of type function/,
  })
  t.match(await failure(() => followLog('/tmp/x.log', () => {}, undefined as never)), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /"signal" argument must be an instance of AbortSignal/,
  })
})

leakTest(t, 'socket activation: systemdSocketUnit and the service it starts; launchdPlist with a Sockets entry', async (t) => {
  const base = { name: 'app', description: 'app 100%', command: ['/usr/bin/app', 'run'] }
  const socket = { path: '%t/app 50%/daemon.sock', name: 'app' }
  const unit = systemdSocketUnit({ ...base, socket })
  t.match(unit, /^ListenStream=%t\/app 50%%\/daemon\.sock$/m, '%t kept, every other % escaped')
  t.match(unit, /^FileDescriptorName=app$/m)
  t.match(unit, /^SocketMode=0600$/m)
  t.match(unit, /^DirectoryMode=0700$/m)
  t.match(unit, /^WantedBy=sockets\.target$/m)
  t.match(systemdSocketUnit({ ...base, socket: { path: '/run/x.sock', mode: 0o660 } }), /^SocketMode=0660$/m)
  const service = systemdUnit({ ...base, socket })
  t.match(service, /^Requires=app\.socket$/m)
  t.match(service, /^Also=app\.socket$/m)
  t.notMatch(service, /WantedBy=/, 'started by its socket, not at login')
  t.throws(() => systemdSocketUnit(base), { code: 'ERR_INVALID_ARG_TYPE', message: /"options.socket"/ })
  t.throws(() => systemdUnit({ ...base, socket: { path: 'relative.sock' } }), { code: 'ERR_INVALID_ARG_VALUE', message: /must be absolute/ })
  t.throws(() => systemdUnit({ ...base, socket: { path: '/x.sock', name: 'a:b' } }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => launchdPlist({ ...base, socket }), { code: 'ERR_INVALID_ARG_VALUE', message: /launchd/ })

  const plist = launchdPlist({ ...base, label: 'org.example.app', socket: { path: '/tmp/app-1000/daemon.sock', name: 'app' } })
  const parsed = parsePlist(t, plist)
  if (parsed === undefined) return
  t.same(
    parsed,
    {
      Label: 'org.example.app',
      ProgramArguments: base.command,
      Sockets: { app: { SockPathName: '/tmp/app-1000/daemon.sock', SockPathMode: 0o600 } },
      KeepAlive: { SuccessfulExit: false },
    },
    'launchd owns the socket (mode 384 = 0600) and starts the job on demand: no RunAtLoad',
  )
})
