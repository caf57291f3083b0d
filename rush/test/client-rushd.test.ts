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
import * as messages from '../src/protocol/messages.js'
import { shellQuote } from '../src/state-capture.js'
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

t.test('rushd on the wire: bytes that are not UTF-8 come back unchanged, in its replies, its output and an interactive session', async (t) => {
  if (!needs(t, missing, '`npm install` builds them')) return
  const env = await daemon(t)
  const socket = path.join(env['RUSH_RUNTIME_DIR']!, 'daemon.sock')
  // Byte strings (one char per byte) for the bytes sent and expected; Buffers on the wire.
  const bytes = (s: string) => Buffer.from(s, 'latin1')
  const tmp = tempDir(t)
  const home = Buffer.from(tmp).toString('latin1')
  const sub = `${home}/d\xff\xe9`
  fs.mkdirSync(bytes(sub))
  fs.writeFileSync(bytes(`${sub}/f\xa0`), 'in-file\n')
  const entries = ['PATH=/usr/bin:/bin', 'XV=v\xfe\x85\xa0']
  const out = path.join(tmp, 'out')
  /** Sends one exec on `client` (stdout: the file `out`, emptied first); the reply, strings as byte strings. */
  const exec = async (client: Client, script: string, line: number) => {
    const fd = fs.openSync(out, 'w')
    try {
      const body = messages.encodeExecRequest({ argv: [bytes(script)], cwd: bytes(sub), env: entries.map(bytes), fdRoles: [messages.FdRole.Stdout], line })
      return messages.readExecReply((await client.request(messages.RushMethod.exec, body, { fds: [fd] })).body, 'latin1')
    } finally {
      fs.closeSync(fd)
    }
  }
  const output = () => fs.readFileSync(out).toString('latin1')
  const connect = async () => {
    const client = await Client.connect(socket)
    t.teardown(() => client.destroy())
    return client
  }

  // `rush -c` (line 0), one connection each.
  const program = await exec(await connect(), `cat 'f\xa0'`, 0)
  t.ok(program.kind === 'runLocally' && program.exec !== undefined, 'a lone program: rushd names it')
  if (program.kind === 'runLocally' && program.exec) {
    t.same(program.exec.argv, ['cat', 'f\xa0'], 'its argv, byte for byte')
    t.ok(program.exec.env.includes(entries[1]!), 'its environment, byte for byte')
    t.ok(program.exec.env.includes(`PWD=${sub}`), 'and $PWD')
  }
  const builtins = await exec(await connect(), `cd .. && cd 'd\xff\xe9' && pwd && echo "\x85" '\xe9'`, 0)
  t.same(builtins, { kind: 'result', status: 0, signal: 0, ended: false }, 'builtins run in rushd')
  t.equal(output(), `${sub}\n\x85 \xe9\n`, 'and write the bytes of the directory and the words')

  // An interactive session: its lines numbered; a line that needs sh comes back wrapped in the
  // session's state, which this test then runs as the client would.
  const session = await connect()
  const first = `v='\xe9'$(printf '\\240'); cd ..`
  const wrapped = await exec(session, first, 1)
  if (wrapped.kind !== 'runLocally' || wrapped.exec === undefined) {
    t.fail('a line that needs sh: a program to run', { wrapped })
    return
  }
  const [, , script] = wrapped.exec.argv
  t.ok(script?.endsWith(`; ${first}`), 'the line, byte for byte, after its prelude', { script })
  t.match(script, `cd -- ${shellQuote(sub)} `, "the session's directory")
  t.same(wrapped.exec.env, entries, "the session's environment")
  const wrapper = path.join(tmp, 'wrapper')
  const argv = [wrapped.exec.program, ...wrapped.exec.argv.slice(1)].map(shellQuote).join(' ')
  fs.writeFileSync(wrapper, bytes(`exec env -i ${wrapped.exec.env.map(shellQuote).join(' ')} ${argv}`))
  t.equal(spawnSync('/bin/sh', [wrapper], { cwd: '/' }).status, 0, 'the line ran')
  const pwd = await exec(session, 'pwd', 2)
  t.same(pwd, { kind: 'result', status: 0, signal: 0, ended: false }, 'the next line runs in rushd')
  t.equal(output(), `${home}\n`, "in the directory the line left, adopted from sh's dump")
  const third = await exec(session, 'echo "$v" "$XV"', 3)
  if (third.kind === 'runLocally' && third.exec !== undefined) t.match(third.exec.argv[2], `v='\xe9\xa0'; `, 'the variable the line set, byte for byte')
  else t.fail('a line that needs sh: a program to run', { third })
})
