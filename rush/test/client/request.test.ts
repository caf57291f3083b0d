// What rush -c sends: the exec request as our reader, our verifier and flatc decode it, and which
// standard fds go with it (a closed one is not sent, and stays closed for a local run).
import { protocol } from 'fdwire'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { aptInstall, needs, root, tempDir } from '../../../test/helpers.js'
import { RushRoots } from '../../src/protocol/descriptors.js'
import * as messages from '../../src/protocol/messages.js'
import { fake, log, requireClient, run, rush, rushC } from './lib.js'

requireClient()

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
