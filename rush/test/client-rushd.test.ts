/**
 * The C client against the real rushd (bin/rushd, dist/rush): what the user sees must be what
 * `sh -c` gives, and the client's autostart must bring a daemon up for the next call.
 * Skipped when rushd or the compiled client is not there (a failure under CI).
 */
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Client } from 'fdwire'
import { RUSH_CLIENT_MAX_FRAME, RUSH_CONNECTION } from '../src/constants.js'
import { collect, needs, root, tempDir } from '../../test/helpers.js'

const rush = path.join(root, 'build', 'Release', 'rush')
const rushd = path.join(root, 'bin', 'rushd')
const ready = fs.existsSync(rush) && fs.existsSync(rushd) && fs.existsSync(path.join(root, 'dist', 'rush', 'cli.js'))
const missing = ready ? undefined : 'bin/rushd, dist/rush or build/Release/rush is missing'

// tap's process-info hook adds NODE_OPTIONS (its loaders) to the environment of every child; that
// must not reach rushd, whether we start it or rush does: every command goes through `env -u`.
const clean = ['/usr/bin/env', '-u', 'NODE_OPTIONS']
const baseEnv = process.env

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function run(argv: string[], env: Record<string, string | undefined>, onSpawn?: (pid: number) => void): Promise<Run> {
  const child = spawn(clean[0]!, [...clean.slice(1), ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...baseEnv, ...env } as NodeJS.ProcessEnv })
  if (onSpawn) onSpawn(child.pid!)
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  return Promise.all([
    collect(child.stdout),
    collect(child.stderr),
    new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s]))),
  ]).then(([stdout, stderr, [code, signal]]) => {
    clearTimeout(timer)
    return { code, signal, stdout, stderr }
  })
}

/** A runtime dir with a running rushd, stopped at teardown. */
async function daemon(t: Parameters<Parameters<typeof t.test>[1]>[0]): Promise<Record<string, string>> {
  const dir = path.join(tempDir(t), 'run')
  const env = { RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1' }
  const started = spawnSync(clean[0]!, [...clean.slice(1), rushd, 'start'], {
    env: { ...baseEnv, ...env } as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: 30_000,
  })
  t.equal(started.status, 0, `rushd start: ${started.stdout}${started.stderr}`)
  t.teardown(() => {
    spawnSync(clean[0]!, [...clean.slice(1), rushd, 'stop'], { env: { ...baseEnv, ...env } as NodeJS.ProcessEnv, timeout: 30_000 })
  })
  return env
}

t.test('rush -c on rushd gives what sh -c gives', async (t) => {
  if (!needs(t, missing, '`npm install` builds them')) return
  const env = await daemon(t)
  const cases: string[][] = [
    ['exit'],
    ['exit 3'],
    ['echo hello'],
    ['echo "$0|$1|$#|$@"', 'name', 'a b', 'c'],
    ['printf "%s\\n" "$@"', 'n', '1', '', '3'],
    ['echo to-err >&2; false'],
    ['cd / && pwd'],
    ['umask'],
    ['for i in 1 2 3; do echo $i; done | wc -l'],
  ]
  for (const args of cases) {
    const viaRush = await run([rush, '-c', ...args], env)
    const viaSh = await run(['/bin/sh', '-c', ...args], env)
    t.same(viaRush, viaSh, JSON.stringify(args))
  }
  // Killed by a signal: like sh, the client dies of that signal (its parent sees the signal, and a
  // shell's $? is 128+N either way).
  const killed = await run([rush, '-c', 'kill -TERM $$'], env)
  t.same([killed.code, killed.signal, killed.stdout, killed.stderr], [null, 'SIGTERM', '', ''])
  t.same(killed, await run(['/bin/sh', '-c', 'kill -TERM $$'], env), 'exactly as sh -c')
})

t.test('closed stdout and SIGINT on rushd', async (t) => {
  if (!needs(t, missing, '`npm install` builds them')) return
  const env = await daemon(t)
  const closed = `exec "$0" -c 'echo out; echo "err $?" >&2' >&-`
  const viaRush = await run(['/bin/sh', '-c', closed, rush], env)
  const viaSh = await run(['/bin/sh', '-c', closed, 'sh'], env)
  t.same(viaRush, viaSh, 'closed stdout')
  const interrupted = await run([rush, '-c', 'sleep 10; echo not reached'], env, (pid) => {
    setTimeout(() => process.kill(pid, 'SIGINT'), 500)
  })
  t.same([interrupted.code, interrupted.signal], [null, 'SIGINT'], 'dies of SIGINT, as sh -c does')
  t.equal(interrupted.stdout, '')
})

t.test('autostart: the first call runs locally and starts rushd; the next one is served by it', async (t) => {
  if (!needs(t, missing, '`npm install` builds them')) return
  const dir = path.join(tempDir(t), 'auto')
  const env = { RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: undefined, RUSHD: rushd }
  t.teardown(() => {
    spawnSync(clean[0]!, [...clean.slice(1), rushd, 'stop'], { env: { ...baseEnv, RUSH_RUNTIME_DIR: dir } as NodeJS.ProcessEnv, timeout: 30_000 })
  })
  const first = await run([rush, '-c', 'echo first; exit 2'], env)
  t.same([first.stdout, first.code], ['first\n', 2])
  const deadline = Date.now() + 60_000 // a hang guard
  while (!fs.existsSync(path.join(dir, 'daemon.sock')) && Date.now() < deadline) await sleep(50)
  t.ok(fs.existsSync(path.join(dir, 'daemon.sock')), 'rushd came up')
  await sleep(200)
  const second = await run([rush, '-c', 'echo second; exit 3'], { ...env, RUSH_NO_AUTOSTART: '1' })
  t.same([second.stdout, second.code, second.stderr], ['second\n', 3, ''])
  const status = spawnSync(clean[0]!, [...clean.slice(1), rushd, 'status'], {
    env: { ...baseEnv, RUSH_RUNTIME_DIR: dir } as NodeJS.ProcessEnv,
    encoding: 'utf8',
  })
  t.equal(status.status, 0, 'rushd status: running')
})

t.test("rushd's limits (docs/rush-client.md): past each, the command still runs as sh -c runs it", async (t) => {
  if (!needs(t, missing, '`npm install` builds them')) return
  const env = await daemon(t)
  // A program to exec with an environment of ~1.1 MiB: its RunLocally reply would be over the
  // client's 1 MiB, so rushd leaves it to the client's /bin/sh -c.
  const chunk = 'a'.repeat(120_000)
  const big: Record<string, string> = {}
  for (let i = 0; Object.keys(big).length * chunk.length <= RUSH_CLIENT_MAX_FRAME; i++) big[`BIG${i}`] = chunk
  const exec = await run([rush, '-c', '/bin/echo hi'], { ...env, ...big })
  t.same([exec.code, exec.signal, exec.stdout, exec.stderr], [0, null, 'hi\n', ''], 'a program whose exec reply would be over RUSH_CLIENT_MAX_FRAME')

  // A request over RUSH_CONNECTION.maxFrameSize (an environment that large needs a raised stack
  // limit: ARG_MAX is a quarter of it): rushd closes the connection, the client runs it locally.
  const count = Math.ceil(RUSH_CONNECTION.maxFrameSize / chunk.length) + 1
  const grow = `ulimit -s 65536 2>/dev/null || exit 99; big=$(head -c ${chunk.length} /dev/zero | tr '\\0' a); i=0; while [ $i -lt ${count} ]; do export BIG$i=$big; i=$((i+1)); done; exec "$@"`
  const huge = await run(['/bin/sh', '-c', grow, 'sh', rush, '-c', 'echo hi; exit 3'], env)
  if (huge.code === 99) t.comment('not checked: cannot raise the stack limit to make argv + env over 4 MiB')
  else {
    t.same([huge.code, huge.signal, huge.stdout], [3, null, 'hi\n'], 'a request over RUSH_CONNECTION.maxFrameSize runs locally')
    t.match(huge.stderr, /^(rush: rushd closed the connection; running locally\n)?$/)
  }

  // The retired methods rush.status and rush.signal are not answered; fdwire.status is.
  const client = await Client.connect(path.join(env['RUSH_RUNTIME_DIR']!, 'daemon.sock'))
  t.teardown(() => client.destroy())
  await t.rejects(client.request('rush.status'), { code: 'ERR_FDWIRE_UNKNOWN_METHOD' })
  await t.rejects(client.request('rush.signal'), { code: 'ERR_FDWIRE_UNKNOWN_METHOD' })
  t.match((await client.request('fdwire.status')).json(), { pid: Number, buildId: String, sessions: Number, commandsRun: Number })
})
