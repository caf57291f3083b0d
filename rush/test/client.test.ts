/**
 * The rush C client (build/Release/rush) against stand-in daemons: the fdwire Server based
 * fixtures/rush-fake-daemon.mjs (records requests, replies as told) and the net based
 * fixtures/rush-client-raw-daemon.mjs (refusals, garbage, odd framing). Real processes throughout:
 * what is checked is what a user sees (output, exit status, messages) and what the daemon receives.
 */
import { protocol, spawnProcess } from 'fdwire'
import * as messages from '../src/protocol/messages.js'
import { RushRoots } from '../src/protocol/descriptors.js'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { alive, aptInstall, collect, frame, needs, node, root, tempDir, until } from '../../test/helpers.js'

const fixtures = fileURLToPath(new URL('fixtures', import.meta.url))

type Test = import('tap').Test

const rush = path.join(root, 'build', 'Release', 'rush')
const fakeDaemon = path.join(fixtures, 'rush-fake-daemon.mjs')
const rawDaemon = path.join(fixtures, 'rush-client-raw-daemon.mjs')
const fakeRushd = path.join(fixtures, 'rush-client-rushd.mjs')

if (!fs.existsSync(rush)) {
  t.fail(`${rush} is missing: run \`npx node-gyp build\``)
  t.end()
}

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Starts a fixture daemon (`command`) serving `dir`; resolves once it listens. Killed at teardown. */
async function startDaemon(t: Test, command: readonly string[]): Promise<ChildProcess> {
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => {
      out += chunk
      if (out.includes('listening')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`daemon fixture exited (${code}) before listening`)))
  })
  return child
}

const fake = (t: Test, dir: string, config: Record<string, unknown> = {}) => startDaemon(t, [...node, fakeDaemon, dir, JSON.stringify(config)])
const raw = (t: Test, dir: string, mode: string) => startDaemon(t, [...node, rawDaemon, dir, mode])

/** Runs a command line (argv[0] = the program) with RUSH_RUNTIME_DIR=dir; never autostarts unless env says so. */
async function run(
  argv: string[],
  dir: string,
  env: Record<string, string | undefined> = {},
  options: { timeout?: number; onSpawn?: (c: ChildProcess) => void } = {},
): Promise<Run> {
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSHD: fakeRushd, ...env },
  })
  options.onSpawn?.(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 30_000) // a hang guard
  const [stdout, stderr, [code, signal]] = await Promise.all([
    collect(child.stdout),
    collect(child.stderr),
    new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s]))),
  ])
  clearTimeout(timer)
  return { code, signal, stdout, stderr }
}

const rushC = (dir: string, args: string[], env?: Record<string, string | undefined>, timeout?: number) =>
  run([rush, '-c', ...args], dir, env, timeout === undefined ? {} : { timeout })

/**
 * What the fake daemon logged: one JSON object per line. The daemon may be writing a line while
 * this reads (a line with a whole environment is longer than one write), so only lines that
 * already end in a newline count.
 */
function log(dir: string): Record<string, unknown>[] {
  const file = path.join(dir, 'log.jsonl')
  if (!fs.existsSync(file)) return []
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  lines.pop() // '' after the last newline, or a line still being written
  return lines.filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
}

t.test('the binary is static', async (t) => {
  const r = spawnSync('ldd', [rush], { encoding: 'utf8' })
  t.match(r.stdout + r.stderr, /not a dynamic executable/)
})

t.test('--version, --help, usage errors', async (t) => {
  const dir = tempDir(t)
  const v = await run([rush, '--version'], dir)
  t.equal(v.code, 0)
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
  t.equal(v.stdout, `rush ${pkg.version}\n`)
  const h = await run([rush, '--help'], dir)
  t.equal(h.code, 0)
  t.match(h.stdout, /rush -c SCRIPT \[NAME \[ARG\.\.\.\]\]/)
  for (const name of ['RUSH_RUNTIME_DIR', 'RUSH_NO_AUTOSTART', 'RUSHD']) t.match(h.stdout, name)
  const bad = await run([rush, '-x'], dir)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /rush: unknown option -x/)
  const noArg = await run([rush, '-c'], dir)
  t.equal(noArg.code, 2)
  t.match(noArg.stderr, /-c: option requires an argument/)
})

t.test('the request decodes with our reader, our verifier and flatc', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir)
  const r = await rushC(dir, ['echo "$1"', 'name', 'arg 1', 'ünïcödé'], { RUSH_TEST_VAR: 'a=b=c' })
  t.equal(r.code, 0)
  const payload = fs.readFileSync(path.join(dir, 'payload-1.bin'))
  const envelope = protocol.readEnvelope(payload)
  t.equal(envelope.kind, 'request')
  if (envelope.kind !== 'request') return
  t.equal(envelope.id, 1)
  t.equal(envelope.method, 'rush.exec')
  const body = envelope.body!
  t.equal((body.byteOffset - payload.byteOffset) % 8, 0, 'body is 8-aligned in the payload (force_align)')
  const exec = messages.readExecRequest(body)
  t.same(exec.argv, ['echo "$1"', 'name', 'arg 1', 'ünïcödé'])
  t.equal(exec.cwd, process.cwd())
  t.ok(exec.env.includes('RUSH_TEST_VAR=a=b=c'))
  t.ok(exec.env.includes(`RUSH_RUNTIME_DIR=${dir}`))
  t.equal(exec.umask, process.umask())
  t.equal(protocol.toObject(body, RushRoots.execRequest)['stdin_mode'], 0, 'the deprecated stdin_mode is still written, as 0 (Inherit), and verified')
  t.same([...exec.fdRoles], [0, 1, 2])
  t.equal(exec.line, 0, 'rush -c is not an interactive line')
  t.equal(log(dir)[0]!.fdCount, 3, 'three fds arrived')

  // flatc, an independent decoder: the envelope, then the nested body.
  if (!needs(t, spawnSync('flatc', ['--version']).error ? 'flatc is not installed' : undefined, aptInstall('flatbuffers-compiler'))) return
  const out = path.join(dir, 'json')
  fs.writeFileSync(path.join(dir, 'body.bin'), body)
  for (const [schema, rootType, file] of [
    ['schemas/fdwire.fbs', 'fdwire.Envelope', 'payload-1.bin'],
    ['rush/schemas/rush_exec.fbs', 'rush.ExecRequest', 'body.bin'],
  ] as const) {
    const res = spawnSync(
      'flatc',
      ['--json', '--strict-json', '--raw-binary', '--root-type', rootType, '-o', out, path.join(root, schema), '--', path.join(dir, file)],
      { encoding: 'utf8' },
    )
    t.equal(res.status, 0, `flatc decodes ${file}: ${res.stderr}`)
  }
  const env = JSON.parse(fs.readFileSync(path.join(out, 'payload-1.json'), 'utf8'))
  t.equal(env.message_type, 'Request')
  t.equal(env.message.method, 'rush.exec')
  const req = JSON.parse(fs.readFileSync(path.join(out, 'body.json'), 'utf8'))
  t.same(req.argv, ['echo "$1"', 'name', 'arg 1', 'ünïcödé'])
  t.equal(req.cwd, process.cwd())
  t.equal(req.umask, process.umask())
  t.same(req.fd_roles, ['Stdin', 'Stdout', 'Stderr'])
  t.equal(req.line, 0, 'line is written (as 0) and flatc reads it')
  t.ok(req.env.includes('RUSH_TEST_VAR=a=b=c'))
})

t.test('$0, $1, $@ mean what they mean for sh -c', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'run' } })
  const script = 'printf "[%s]" "$0" "$#" "$@"; echo'
  for (const args of [[], ['name'], ['name', 'a b', ''], ['n', '*', '-c']]) {
    const r = await rushC(dir, [script, ...args])
    const expected = spawnSync('/bin/sh', ['-c', script, ...args], { encoding: 'utf8' })
    t.equal(r.stdout, expected.stdout, JSON.stringify(args))
    t.equal(r.code, 0)
  }
  const status = await rushC(dir, ['echo to-stderr >&2; exit 7'])
  t.equal(status.stderr, 'to-stderr\n', 'the command writes straight to our stderr')
  t.equal(status.code, 7)
})

t.test('exit status pass-through; a command killed by signal N kills the client with N', async (t) => {
  const dir = tempDir(t)
  for (const [reply, code] of [
    [{ status: 0 }, 0],
    [{ status: 1 }, 1],
    [{ status: 255 }, 255],
    [{ status: 256 + 3 }, 3],
    [{ status: 0, signal: 2 }, 'SIGINT'],
    [{ status: 0, signal: 9 }, 'SIGKILL'],
    [{ status: 0, signal: 15 }, 'SIGTERM'],
  ] as const) {
    const sub = path.join(dir, `d${String(code)}`)
    fs.mkdirSync(sub, { mode: 0o700 })
    const d = await fake(t, sub, { reply: { kind: 'result', ...reply } })
    const r = await rushC(sub, ['exit'])
    // Like sh -c: the caller sees the same death (a shell's $? is 128+N).
    if (typeof code === 'number') t.same([r.code, r.signal], [code, null], JSON.stringify(reply))
    else t.same([r.code, r.signal], [null, code], JSON.stringify(reply))
    t.equal(r.stderr, '')
    d.kill('SIGKILL')
  }
})

t.test('a closed stdout is not sent: the daemon sees fds 0 and 2 with their roles', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'run' } })
  const r = await run(['/bin/sh', '-c', `exec "$0" -c 'echo out; echo "err $?" >&2' >&-`, rush], dir)
  const entry = log(dir)[0]!
  t.same(entry.fdRoles, [0, 2])
  t.equal(entry.fdCount, 2)
  t.equal(r.stdout, '')
  // (The fake daemon's child gets /dev/null for a missing role, so the output is not compared here;
  // see the local-run test below.)
})

t.test('a closed stdout stays closed for a local run (the /dev/null placeholder is close-on-exec)', async (t) => {
  const dir = tempDir(t)
  const script = `exec "$0" -c 'echo out; echo "err $?" >&2; ls -l /proc/self/fd/1 2>&1 | grep -c null' >&-`
  const r = await run(['/bin/sh', '-c', script, rush], dir)
  const expected = spawnSync('/bin/sh', ['-c', script, 'sh'], { encoding: 'utf8' }) // exec "sh": argv[0] as rush passes it
  t.equal(r.stderr, expected.stderr)
  t.match(r.stderr, /err 1/, 'echo to the closed stdout failed, as under sh')
  t.equal(r.code, expected.status)
})

t.test('closed stdin and stderr: only stdout is sent', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'result', status: 4 } })
  const r = await run(['/bin/sh', '-c', `exec "$0" -c 'exit' <&- 2>&-`, rush], dir)
  t.equal(r.code, 4)
  const entry = log(dir)[0]!
  t.same(entry.fdRoles, [1])
  t.equal(entry.fdCount, 1)
})

t.test('no daemon: runs locally with the same output and status; autostart as configured', async (t) => {
  const dir = tempDir(t)
  const script = 'echo "$0:$1"; echo e >&2; exit 5'
  const expected = spawnSync('/bin/sh', ['-c', script, 'zero', 'one'], { encoding: 'utf8' })
  const r = await rushC(dir, [script, 'zero', 'one'])
  t.equal(r.stdout, expected.stdout)
  t.equal(r.stderr, expected.stderr)
  t.equal(r.code, 5)
  await sleep(300)
  t.notOk(fs.existsSync(path.join(dir, 'rushd-ran')), 'RUSH_NO_AUTOSTART=1: rushd was not started')

  const started = await rushC(dir, [script, 'zero', 'one'], { RUSH_NO_AUTOSTART: undefined })
  t.equal(started.code, 5)
  t.equal(started.stdout, expected.stdout)
  // The fixture creates the file and then writes its line: wait for a whole line, not for the file.
  const ran = path.join(dir, 'rushd-ran')
  const ranLines = () => (fs.existsSync(ran) ? fs.readFileSync(ran, 'utf8') : '')
  t.ok(await until(() => ranLines().endsWith('\n')), 'rushd was started')
  t.equal(ranLines(), '["start"]\n')
})

t.test("autostart does not hold the caller's pipes open", async (t) => {
  const dir = tempDir(t)
  // A rushd that lingers (until killed below): if it inherited our stdout pipe, collecting stdout
  // would wait for it. It says who it is first, so the test knows whom to check and to kill.
  const slow = path.join(dir, 'slow-rushd')
  const pidFile = path.join(dir, 'slow-rushd.pid')
  fs.writeFileSync(slow, `#!/bin/sh\necho $$ > '${pidFile}.tmp' && mv '${pidFile}.tmp' '${pidFile}'\nexec sleep 600\n`, { mode: 0o755 })
  const lingering = () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined)
  const killLingering = () => {
    const pid = lingering()
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL')
  }
  t.teardown(killLingering)
  // A hang guard: a rushd holding the pipe is killed after 60 s, so the run ends and the check
  // below fails (instead of the test hanging for 600 s).
  let guarded = false
  const guard = setTimeout(() => {
    guarded = true
    killLingering()
  }, 60_000)
  const r = await rushC(dir, ['echo hi'], { RUSH_NO_AUTOSTART: undefined, RUSHD: slow }, 90_000)
  clearTimeout(guard)
  t.equal(r.stdout, 'hi\n')
  t.ok(await until(() => lingering() !== undefined, 60_000), 'rushd was started')
  t.notOk(guarded, 'the output ended while rushd still ran: it did not hold our pipes')
  t.ok(alive(lingering()!), 'rushd is still running')
})

t.test('a socket path too long for sun_path: clear message, runs locally', async (t) => {
  const dir = path.join(tempDir(t), 'x'.repeat(120))
  const r = await rushC(dir, ['echo local'])
  t.equal(r.code, 0)
  t.equal(r.stdout, 'local\n')
  t.match(r.stderr, /rush: socket path too long/)
})

t.test('RunLocally: the client runs the command itself', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'runLocally', reason: 'needs a tty' } })
  const r = await rushC(dir, ['echo "local $0 $1"; exit 6', 'a', 'b'])
  t.equal(r.stdout, 'local a b\n')
  t.equal(r.code, 6)
  t.equal(log(dir).length, 1, 'the daemon was asked first')
})

t.test('a program to exec: the client becomes it, with the argv and environment given, keeping its fds', async (t) => {
  const dir = tempDir(t)
  const script = 'echo "$$ $0 $1 [$FOO] [${HOME-unset}]"; ls /proc/self/fd/5 >/dev/null && echo fd5; exit 9'
  await fake(t, dir, { reply: { kind: 'execLocally', program: '/bin/sh', argv: ['sh', '-c', script, 'zero', 'one'], env: ['FOO=bar baz'] } })
  let pid = 0
  // Through a shell that gives the client an fd 5 and then becomes it (exec: same pid).
  const r = await run(['/bin/sh', '-c', 'exec "$0" -c "never run by sh" 5</dev/null', rush], dir, {}, { onSpawn: (c) => (pid = c.pid!) })
  t.equal(r.stdout, `${pid} zero one [bar baz] [unset]\nfd5\n`, 'same pid as the client, exactly that argv and environment, fd 5 inherited')
  t.equal(r.code, 9, "the program's status is the client's")
  t.equal(log(dir).length, 1, 'the daemon was asked first')
  const gone = path.join(dir, 'gone')
  fs.mkdirSync(gone, { mode: 0o700 })
  await fake(t, gone, { reply: { kind: 'execLocally', program: '/nonexistent/prog', argv: ['prog'], env: [] } })
  const fallback = await rushC(gone, ['echo "sh ran it: $0 $1"', 'a', 'b'])
  t.equal(fallback.stdout, 'sh ran it: a b\n', "a program that cannot be exec'ed: sh -c runs the script (and says what is wrong)")
})

t.test('error replies: unknown method runs locally, others print the message and exit 127', async (t) => {
  const dir = tempDir(t)
  const a = path.join(dir, 'a')
  fs.mkdirSync(a, { mode: 0o700 })
  await fake(t, a, { reply: { kind: 'error', code: 'ERR_FDWIRE_UNKNOWN_METHOD', message: 'unknown method "rush.exec"' } })
  const local = await rushC(a, ['echo here'])
  t.equal(local.stdout, 'here\n')
  t.equal(local.code, 0)
  const b = path.join(dir, 'b')
  fs.mkdirSync(b, { mode: 0o700 })
  await fake(t, b, { reply: { kind: 'error', code: 'ENOENT', message: 'no such worker' } })
  const failed = await rushC(b, ['echo here'])
  t.equal(failed.stdout, '')
  t.equal(failed.code, 127)
  t.equal(failed.stderr, 'rush: no such worker\n')
})

t.test('a refused connection (id 0 error): message, then runs locally', async (t) => {
  const dir = tempDir(t)
  await raw(t, dir, 'refuse')
  const r = await rushC(dir, ['echo ran; exit 3'])
  t.equal(r.stdout, 'ran\n')
  t.equal(r.code, 3)
  t.match(r.stderr, /^rush: too many sessions \(limit 1\)/)
})

// Daemons that go away with our request unread, in python (it can wait for bytes without reading
// them: MSG_PEEK). `backlog`: listens, never accepts; once a connection waits, closes, as a daemon
// killed while a client connects (the kernel resets it). `hello`: accepts, sends its hello (argv[2],
// hex), waits until the request is there, and closes without reading it.
const UNREAD_DAEMON = `
import os, select, socket, sys
if os.path.exists(sys.argv[1]): os.unlink(sys.argv[1])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
print('listening', flush=True)
if len(sys.argv) > 2:
    c, _ = s.accept()
    c.sendall(bytes.fromhex(sys.argv[2]))
    c.recv(1, socket.MSG_PEEK)
    c.close()
else:
    select.select([s], [], [])
s.close()
`
const unreadDaemon = (t: Test, dir: string, hello?: Buffer) =>
  startDaemon(t, ['python3', '-c', UNREAD_DAEMON, path.join(dir, 'daemon.sock'), ...(hello ? [hello.toString('hex')] : [])])
const helloFrame = () => frame(Buffer.from(protocol.encodeHello(protocol.PROTOCOL_VERSION, 'unread')))

t.test('a daemon killed with our connection in its backlog is no daemon: the command runs locally, quietly, and one is started', async (t) => {
  const dir = tempDir(t)
  await unreadDaemon(t, dir)
  const r = await rushC(dir, ['echo ran; exit 3'])
  t.same([r.stdout, r.stderr, r.code], ['ran\n', '', 3], 'the command ran, once, as sh -c runs it')
  await unreadDaemon(t, dir)
  const started = await rushC(dir, ['echo ran; exit 3'], { RUSH_NO_AUTOSTART: undefined })
  t.same([started.stdout, started.stderr, started.code], ['ran\n', '', 3])
  const ran = path.join(dir, 'rushd-ran')
  t.ok(await until(() => fs.existsSync(ran) && fs.readFileSync(ran, 'utf8').endsWith('\n')), 'rushd was started for next time')
  t.equal(fs.readFileSync(ran, 'utf8'), '["start"]\n')
})

t.test('a daemon that greets, then goes away without reading the request (a reset): says so and runs locally', async (t) => {
  const dir = tempDir(t)
  await unreadDaemon(t, dir, helloFrame())
  const r = await rushC(dir, ['echo ran; exit 3'])
  t.same([r.stdout, r.code], ['ran\n', 3], 'the command ran, once')
  t.equal(r.stderr, 'rush: rushd went away before reading the command; running locally\n')
  t.notOk(fs.existsSync(path.join(dir, 'rushd-ran')), 'RUSH_NO_AUTOSTART=1: rushd was not started')
})

t.test('fds sent with the reply are closed, not leaked', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'result', status: 9 }, replyFds: true })
  const r = await rushC(dir, ['exit'])
  t.equal(r.code, 9)
})

t.test('SIGINT to the client is forwarded as rush.signal', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'waitSignal' } })
  const r = await run(
    [rush, '-c', 'sleep 10'],
    dir,
    {},
    {
      onSpawn: (child) => {
        void until(() => log(dir).length > 0).then(() => child.kill('SIGINT'))
      },
    },
  )
  t.same([r.code, r.signal], [null, 'SIGINT'], 'dies of the SIGINT that ended the command')
  const signal = log(dir).find((e) => e.method === 'signal')
  t.same(signal && { execId: signal.execId, signo: signal.signo, id: signal.id }, { execId: 1, signo: 2, id: 2 })
})

t.test('SIGTERM, SIGHUP and SIGQUIT are forwarded too', async (t) => {
  for (const [name, signo] of [
    ['SIGTERM', 15],
    ['SIGHUP', 1],
    ['SIGQUIT', 3],
  ] as const) {
    const dir = tempDir(t)
    await fake(t, dir, { reply: { kind: 'waitSignal' } })
    const r = await run(
      [rush, '-c', 'sleep 10'],
      dir,
      {},
      {
        onSpawn: (child) => void until(() => log(dir).length > 0).then(() => child.kill(name)),
      },
    )
    t.same([r.code, r.signal, signo > 0], [null, name, true], name)
  }
})

t.test('a stuck rushd: Ctrl-C is forwarded, and the next one, 1 s unanswered later, ends rush by SIGINT', async (t) => {
  const dir = tempDir(t)
  await raw(t, dir, 'silent')
  let child: ChildProcess | undefined
  const done = run([rush, '-c', 'sleep 30'], dir, {}, { onSpawn: (c) => (child = c), timeout: 120_000 })
  const received = () => (fs.existsSync(path.join(dir, 'received')) ? Number(fs.readFileSync(path.join(dir, 'received'), 'utf8')) : 0)
  t.ok(await until(() => received() > 0), 'the request went out (before, Ctrl-C would end rush at once)')
  const request = received()
  child!.kill('SIGINT')
  t.ok(await until(() => received() > request), 'the first Ctrl-C was forwarded')
  // The client gives the daemon 1 s to answer a forwarded signal, counted from forwarding it: at
  // least that long has passed once this sleep is over, however slow the machine.
  await sleep(1100)
  t.equal(child!.exitCode, null, 'rush still waits for the daemon')
  child!.kill('SIGINT')
  const r = await done
  t.equal(r.signal, 'SIGINT', 'the second one ends rush, by that signal')
  t.equal(r.stderr, 'rush: rushd did not answer the last signal within 1 s; leaving the command to it\n')
})

t.test('a live rushd answers each forwarded signal: a second Ctrl-C later is forwarded too', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'waitSignal', until: 15 } })
  let child: ChildProcess | undefined
  const done = run([rush, '-c', 'sleep 30'], dir, {}, { onSpawn: (c) => (child = c), timeout: 20_000 })
  await until(() => log(dir).length === 1)
  child!.kill('SIGINT')
  await until(() => log(dir).filter((e) => e['method'] === 'signal').length === 1) // answered as it arrives
  await sleep(1300)
  child!.kill('SIGINT')
  await until(() => log(dir).filter((e) => e['method'] === 'signal').length === 2)
  t.equal(child!.exitCode, null, 'still running: both were forwarded, none ended rush')
  child!.kill('SIGTERM')
  const r = await done
  t.equal(r.signal, 'SIGTERM', "the daemon's Result (killed by 15) ends rush by SIGTERM")
  t.same(
    log(dir)
      .filter((e) => e['method'] === 'signal')
      .map((e) => e['signo']),
    [2, 2, 15],
  )
  t.equal(r.stderr, '')
})

t.test('Ctrl-Z: forwards SIGTSTP, stops, and forwards SIGCONT when continued', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'waitSignal', until: 18 } })
  // The client runs in a process group of its own under this process, as a shell's job does: the
  // kernel discards stop signals for orphaned process groups, which the test runner's may be.
  const env = Object.entries({ ...process.env, RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSHD: fakeRushd })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
  const devnull = fs.openSync('/dev/null', 'r+')
  const child = spawnProcess(rush, { argv: [rush, '-c', 'sleep 10'], env, stdio: [devnull, devnull, devnull] })
  fs.closeSync(devnull)
  const state = () => {
    try {
      return / \(.*\) (\w)/.exec(fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8'))?.[1]
    } catch {
      return 'gone'
    }
  }
  t.ok(await until(() => log(dir).length > 0), 'the request arrived')
  process.kill(child.pid, 'SIGTSTP')
  t.ok(await until(() => state() === 'T'), 'the client stopped itself')
  process.kill(child.pid, 'SIGCONT')
  const exit = await child.exited
  t.same(exit, { status: 128 + 18, signal: 0 }, 'then finished with what the daemon answered')
  t.same(
    log(dir)
      .filter((e) => e.method === 'signal')
      .map((e) => e.signo),
    [20, 18],
  )
})

t.test('the daemon dies mid-command: message and non-zero status', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'die' } })
  const r = await rushC(dir, ['sleep 1'])
  t.equal(r.signal, null)
  t.equal(r.code, 1)
  t.equal(r.stderr, 'rush: lost connection to rushd while the command ran\n')
})

t.test('frames split across reads and several frames per read', async (t) => {
  for (const mode of ['split', 'coalesced', 'extraFields']) {
    const dir = tempDir(t)
    await raw(t, dir, mode)
    const r = await rushC(dir, ['exit'])
    t.equal(r.code, 42, mode)
    t.equal(r.stderr, '', mode)
  }
})

t.test('garbage from the daemon: never a crash, a message and a non-zero status', async (t) => {
  for (const [mode, message] of [
    ['random', /rush: malformed frame from rushd: bad frame magic/],
    ['huge', /rush: malformed frame from rushd: frame larger than 1 MiB/],
    ['badRoot', /rush: malformed message from rushd/],
    ['badBody', /rush: malformed message from rushd/],
    ['badVtable', /rush: malformed message from rushd/],
    ['badResult', /rush: malformed reply from rushd/],
    ['badExec', /rush: malformed reply from rushd/],
    ['truncated', /rush: lost connection to rushd/],
  ] as const) {
    const dir = tempDir(t)
    await raw(t, dir, mode)
    const r = await run([rush, '-c', 'exit'], dir, {}, { timeout: 30_000 }) // a hang guard
    t.equal(r.signal, null, `${mode}: no signal death`)
    t.not(r.code, 0, `${mode}: non-zero status`)
    t.match(r.stderr, message, mode)
  }
})

const noScript = spawnSync('script', ['--version']).status === 0 ? undefined : 'script(1) is not installed'
const enableScript = aptInstall('bsdutils')

/** Runs `rush` (no arguments) on a pseudo-terminal made by script(1); `drive` writes the keys. */
async function onTerminal(dir: string, env: Record<string, string>, drive: (keys: (s: string) => void) => Promise<void>): Promise<Run> {
  // script(1) runs the command with $SHELL -c, and bash drops PS1 from a non-interactive shell's
  // environment: set it again in the command.
  const child = spawn('script', ['-qfec', `export PS1="$RUSH_TEST_PS1"; exec '${rush}'`, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SHELL: '/bin/sh', RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSHD: fakeRushd, RUSH_TEST_PS1: env.PS1 },
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  const done = Promise.all([
    collect(child.stdout),
    collect(child.stderr),
    new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s]))),
  ])
  await drive((s) => child.stdin!.write(s))
  child.stdin!.end()
  const [stdout, stderr, [code, signal]] = await done
  clearTimeout(timer)
  return { code, signal, stdout, stderr }
}

t.test('interactive: one session, a prompt per line, Ctrl-C forwarded, EOF exits with the last status', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'run' } })
  const r = await onTerminal(dir, { PS1: 'P> ' }, async (keys) => {
    keys('echo one\n')
    await until(() => log(dir).length >= 1)
    keys('sleep 5\n')
    await until(() => log(dir).length >= 2)
    await sleep(100)
    keys('\x03') // the terminal turns it into SIGINT for rush, which forwards it
    await until(() => log(dir).some((e) => e.method === 'signal'))
    keys('\n') // an empty line: not sent, but counted as sh -i counts its input lines
    keys('echo after; exit 4\n')
    await until(() => log(dir).length >= 4)
    await sleep(200)
  })
  const execs = log(dir).filter((e) => e.method === 'exec')
  t.same(
    execs.map((e) => e.argv),
    [['echo one'], ['sleep 5'], ['echo after; exit 4']],
  )
  t.same(
    execs.map((e) => e.conn),
    [1, 1, 1],
    'one connection for the session',
  )
  t.same(
    execs.map((e) => e.id),
    [1, 2, 4],
    'ids count up (the signal request took 3)',
  )
  t.same(
    execs.map((e) => e.line),
    [1, 2, 4],
    'each request carries its input line number (the empty line counts)',
  )
  const signal = log(dir).find((e) => e.method === 'signal')!
  t.same([signal.execId, signal.signo], [2, 2])
  t.match(r.stdout, /P> .*one/s)
  t.match(r.stdout, /after/)
  t.equal(r.code, 4, 'EOF: exits with the last status')
})

t.test('interactive: a Result saying the command ended the session ends the client at once, with no other prompt', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  // The daemon says so and keeps the connection open: the client must not wait to see its end.
  await fake(t, dir, { reply: { kind: 'result', status: 6, ended: true } })
  const r = await onTerminal(dir, { PS1: 'P> ' }, async (keys) => {
    keys('exit 6\n')
    await until(() => log(dir).length >= 1)
    await sleep(300)
    keys('echo not-sent\n')
    await sleep(300)
  })
  t.same(
    log(dir)
      .filter((e) => e.method === 'exec')
      .map((e) => e.argv),
    [['exit 6']],
    'the next line was not read',
  )
  t.equal(r.stdout.match(/P> /g)?.length, 1, 'one prompt only')
  t.equal(r.code, 6)
})

t.test('interactive without a daemon: /bin/sh -i', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  const r = await onTerminal(dir, { PS1: 'local> ' }, async (keys) => {
    keys('echo "in $0"; false\n')
    await sleep(300)
  })
  t.match(r.stdout, /local> /)
  t.match(r.stdout, /in sh/)
  t.equal(r.code, 1)
})

t.test('interactive, refused by the daemon: the message, then /bin/sh -i', async (t) => {
  if (!needs(t, noScript, enableScript)) return
  const dir = tempDir(t)
  await raw(t, dir, 'refuse')
  const r = await onTerminal(dir, { PS1: 'local> ' }, async (keys) => {
    await sleep(300)
    keys('echo "in $0"; exit 5\n')
    await sleep(300)
  })
  t.match(r.stdout, /rush: too many sessions \(limit 1\); running locally/)
  t.match(r.stdout, /local> .*in sh/s)
  t.equal(r.code, 5)
})

t.test('no arguments, stdin not a terminal: sh reads the script from stdin', async (t) => {
  const dir = tempDir(t)
  const child = spawn(rush, [], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1' } })
  child.stdin.end('echo piped "$0"\nexit 4\n')
  const [out, [code]] = await Promise.all([collect(child.stdout), new Promise<[number | null]>((resolve) => child.on('exit', (c) => resolve([c])))])
  t.equal(out, 'piped sh\n')
  t.equal(code, 4)
})

const noValgrind =
  spawnSync('valgrind', ['--version']).status !== 0
    ? 'valgrind is not installed'
    : spawnSync('cc', ['--version']).status !== 0
      ? 'cc is not installed'
      : undefined

t.test('valgrind memcheck: no errors, no leaks on the main paths', async (t) => {
  if (!needs(t, noValgrind, aptInstall('valgrind', 'gcc'))) return
  // Static glibc's own start-up code trips memcheck, and memcheck cannot follow malloc in a static
  // binary; so this checks a dynamic build of the same sources.
  const dir = tempDir(t)
  const bin = path.join(dir, 'rush-dynamic')
  const sources = fs
    .readdirSync(path.join(root, 'rush', 'client'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => path.join(root, 'rush', 'client', f))
  const cc = spawnSync('cc', ['-g', '-O1', '-std=c11', '-D_GNU_SOURCE', '-o', bin, ...sources], { encoding: 'utf8' })
  t.equal(cc.status, 0, cc.stderr)
  // Without a sanitizer runtime preloaded for the test run (npm run test:asan): valgrind and ASan
  // cannot share a process.
  const vg = (d: string, args: string[]) =>
    run(
      ['valgrind', '-q', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect', bin, ...args],
      d,
      { LD_PRELOAD: undefined },
      { timeout: 30_000 },
    )
  const sub = (name: string) => {
    const d = path.join(dir, name)
    fs.mkdirSync(d, { mode: 0o700 })
    return d
  }
  const a = sub('a')
  await fake(t, a, { reply: { kind: 'result', status: 3 }, replyFds: true })
  const result = await vg(a, ['-c', 'exit', 'n', 'x'])
  t.equal(result.code, 3, result.stderr)
  for (const [mode, code] of [
    ['badBody', 1],
    ['coalesced', 42],
    ['huge', 1],
    ['refuse', 0],
  ] as const) {
    const d = sub(mode)
    await raw(t, d, mode)
    const r = await vg(d, ['-c', 'true'])
    t.equal(r.code, code, `${mode}: ${r.stderr}`)
  }
  const local = await vg(path.join(dir, 'none'), ['-c', 'exit 6'])
  t.equal(local.code, 6, local.stderr)
})
