/**
 * `rushd install-service` writes socket-activated service files, and a rushd that a service
 * manager starts with the socket serves it: systemd-socket-activate(1) plays systemd here, on the
 * socket path the client uses, and `rush -c` gets its answer.
 */
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { leakTest, needs, node, root, tempDir } from '../../test/helpers.js'
import { activationManager, enableSocketActivate, noSocketActivate } from '../../test/socket-activate.js'
import { rushC } from './client/lib.js'

const rushd = path.join(root, 'bin', 'rushd')

/** `rushd ARGS` with `env` over a copy of ours without XDG_RUNTIME_DIR/RUSH_RUNTIME_DIR. */
function rushdRun(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const { XDG_RUNTIME_DIR: _x, RUSH_RUNTIME_DIR: _r, ...base } = process.env
  const r = spawnSync(node[0], [...node.slice(1), rushd, ...args], { encoding: 'utf8', env: { ...base, ...env }, timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A unit file's settings, by section: { Socket: { ListenStream: [...] } }. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {}
  let current: Record<string, string[]> = {}
  for (const line of text.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line)
    if (header) sections[header[1]!] = current = {}
    const setting = /^(\w+)=(.*)$/.exec(line)
    if (setting) (current[setting[1]!] ??= []).push(setting[2]!)
  }
  return sections
}

leakTest(t, 'install-service writes rushd.socket (the client’s socket path, 0600, directory 0700) and a rushd.service it starts', async (t) => {
  const dir = tempDir(t)
  const xdg = path.join(dir, 'xdg')
  fs.mkdirSync(xdg, { mode: 0o700 })
  const config = path.join(dir, 'config')
  const out = rushdRun(['install-service'], { HOME: dir, XDG_CONFIG_HOME: config, XDG_RUNTIME_DIR: xdg })
  t.equal(out.status, 0, out.stderr)
  t.match(out.stdout, /enable it with: {2}systemctl --user daemon-reload && systemctl --user enable --now rushd\.socket/)
  const unitDir = path.join(config, 'systemd', 'user')
  const socket = parseUnit(fs.readFileSync(path.join(unitDir, 'rushd.socket'), 'utf8'))
  t.same(socket['Socket'], {
    ListenStream: ['%t/rush/daemon.sock'], // %t is $XDG_RUNTIME_DIR in a user unit: where the client looks
    FileDescriptorName: ['rush'],
    SocketMode: ['0600'],
    DirectoryMode: ['0700'],
  })
  t.same(socket['Install'], { WantedBy: ['sockets.target'] })
  const service = parseUnit(fs.readFileSync(path.join(unitDir, 'rushd.service'), 'utf8'))
  t.match(service['Unit'], { Requires: ['rushd.socket'], After: ['rushd.socket'] })
  t.same(
    service['Service']?.['ExecStart'],
    [`${process.execPath} --max-semi-space-size=1 ${path.join(root, 'dist', 'rush', 'cli.js')} run`],
    'rushd run, in the foreground, with the V8 flag that keeps it small',
  )
  t.same(service['Install'], { Also: ['rushd.socket'] }, 'enabling the socket is what starts it: no WantedBy=default.target')
  t.same(service['Service']?.['Environment'], ['MALLOC_MMAP_THRESHOLD_=16384'], 'no RUSH_RUNTIME_DIR to carry, only the malloc setting')

  if (needs(t, spawnSync('systemd-analyze', ['--version']).error ? 'systemd-analyze is not installed' : undefined, enableSocketActivate)) {
    // A system tool, not ours: without the sanitizer runtime a sanitizer run preloads into our own
    // processes (systemd-analyze hangs with libasan preloaded), and with a hang guard.
    const { LD_PRELOAD: _preload, ASAN_OPTIONS: _asan, UBSAN_OPTIONS: _ubsan, ...own } = process.env
    const verify = spawnSync('systemd-analyze', ['verify', '--user', path.join(unitDir, 'rushd.socket'), path.join(unitDir, 'rushd.service')], {
      encoding: 'utf8',
      env: { ...own, XDG_RUNTIME_DIR: xdg, XDG_CONFIG_HOME: config, HOME: dir },
      timeout: 60_000,
    })
    t.equal(
      verify.status,
      0,
      `systemd-analyze verify --user accepts both${verify.stderr ? `: ${verify.stderr}` : ''}${verify.error ? ` (${verify.error.message})` : ''}`,
    )
  }

  // RUSH_RUNTIME_DIR: the socket is at that literal path, and the variable is carried to rushd.
  const runtimeDir = path.join(dir, 'a%b', 'run')
  const explicit = rushdRun(['install-service'], { HOME: dir, XDG_CONFIG_HOME: config, XDG_RUNTIME_DIR: xdg, RUSH_RUNTIME_DIR: runtimeDir })
  t.equal(explicit.status, 0, explicit.stderr)
  const socket2 = parseUnit(fs.readFileSync(path.join(unitDir, 'rushd.socket'), 'utf8'))
  t.same(socket2['Socket']?.['ListenStream'], [path.join(dir, 'a%%b', 'run', 'daemon.sock')], 'the literal path (% escaped)')
  const service2 = parseUnit(fs.readFileSync(path.join(unitDir, 'rushd.service'), 'utf8'))
  t.same(service2['Service']?.['Environment'], ['MALLOC_MMAP_THRESHOLD_=16384', `RUSH_RUNTIME_DIR=${path.join(dir, 'a%%b', 'run')}`])
})

leakTest(t, 'rushd started by systemd-socket-activate on the runtime dir’s socket answers rush -c; stopping it leaves the socket to the manager', async (t) => {
  if (!needs(t, noSocketActivate, enableSocketActivate)) return
  const dir = tempDir(t)
  const runtimeDir = path.join(dir, 'run')
  fs.mkdirSync(runtimeDir, { mode: 0o700 }) // systemd's DirectoryMode=0700 does this for rushd.socket
  const socketPath = path.join(runtimeDir, 'daemon.sock')
  const manager = await activationManager(t, socketPath, 'rush', [...node, rushd, 'run'], { RUSH_RUNTIME_DIR: runtimeDir, RUSH_POOL_SIZE: '1' })

  const first = await rushC(runtimeDir, ['echo hi'], {}, 120_000)
  t.same(first, { code: 0, signal: null, stdout: 'hi\n', stderr: '' }, 'the first rush -c started rushd, which answered')
  t.equal(await manager.nextLine(), `rushd ${versionOf()} (pid ${pidIn(runtimeDir)}) listening on ${socketPath} (socket from systemd)`)
  const status = rushdRun(['status'], { RUSH_RUNTIME_DIR: runtimeDir })
  t.match(status.stdout, /commands {2}1 answered by the daemon itself/, 'rushd itself answered it (not the client’s local fallback)')

  const stop = rushdRun(['stop'], { RUSH_RUNTIME_DIR: runtimeDir })
  t.match(stop.stdout, /rushd stopped/)
  t.ok(fs.statSync(socketPath).isSocket(), 'rushd did not unlink the socket: the manager owns it')
  const again = await rushC(runtimeDir, ['echo again'], {}, 120_000)
  t.same(again, { code: 0, signal: null, stdout: 'again\n', stderr: '' }, 'the next rush -c is answered by a rushd the manager started again')
  const restarted = rushdRun(['status'], { RUSH_RUNTIME_DIR: runtimeDir })
  t.match(restarted.stdout, /commands {2}1 answered by the daemon itself/, 'by the new rushd itself')
  rushdRun(['stop'], { RUSH_RUNTIME_DIR: runtimeDir })
})

function versionOf(): string {
  return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version
}

function pidIn(runtimeDir: string): number {
  return Number(fs.readFileSync(path.join(runtimeDir, 'daemon.pid'), 'utf8').trim())
}
