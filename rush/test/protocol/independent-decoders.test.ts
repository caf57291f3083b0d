// Rush's messages against decoders we did not write: flatc and Debian's python3-flatbuffers.
//
// Rush's bytes decode with them (flatc --json, a python reader), flatc's bytes decode with rush's
// readers, and rush's verifier descriptors agree with rush/schemas/*.fbs. Locally a missing tool
// skips (saying how to install it); under CI (process.env.CI) it fails.
import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { protocol } from 'fdwire'
import t from 'tap'
import { root } from '../../../test/helpers.js'
import { checkDescriptors, flatc, flatcBinary, flatcJson, need, normalize, PY, pyRequestBody, python } from '../../../test/protocol/flatc.js'
import { RushRoots } from '../../src/protocol/descriptors.js'
import * as rush from '../../src/protocol/messages.js'
import { rushBodies, rushEnvelopes } from './fixtures.js'

const { readEnvelope, toObject } = protocol
const rushSchemas = join(root, 'rush', 'schemas')
/** A schema file of rush's, by name. */
const schema = (file: string): string => join(rushSchemas, file)

t.test('flatc --json decodes every rush body rush encodes', async (t) => {
  if (!need(t, flatc, 'flatc')) return
  for (const { name, bytes, schema: file, root } of rushBodies()) {
    const ours = normalize(toObject(bytes, root)) as Record<string, unknown>
    // flatc prints enums by name; ours prints numbers.
    if (Array.isArray(ours.fd_roles)) ours.fd_roles = ours.fd_roles.map((r: number) => rush.FdRole[r])
    t.same(normalize(flatcJson(bytes, schema(file))), ours, name)
  }
})

t.test("Debian's python3-flatbuffers reads rush's exec request in its envelope", async (t) => {
  if (!need(t, python, `${PY} with python3-flatbuffers`)) return
  const { bytes } = rushEnvelopes()[0]!
  const m = readEnvelope(bytes)
  if (m.kind !== 'request') throw new Error('fixture 0 is a request')
  // A reader written against the wire format with the plain python runtime (no generated code).
  const script = `
${pyRequestBody('RXEC')}
ex = root(bytearray(body))
print(json.dumps({"type": mtype, "id": idv, "method": method, "argv": strings(ex, 4),
  "cwd": ex.String(ex.Offset(6) + ex.Pos).decode(), "env": strings(ex, 8),
  "umask": ex.Get(N.Uint32Flags, ex.Offset(10) + ex.Pos)}))
`
  const out = execFileSync(PY, ['-c', script], { input: bytes, env: { ...process.env, PYTHONPATH: '' } })
  const x = rush.readExecRequest(m.body!)
  t.same(JSON.parse(out.toString()), { type: 2, id: m.id, method: m.method, argv: x.argv, cwd: x.cwd, env: x.env, umask: x.umask })
})

t.test('flatc -b output from JSON decodes with rush readers', async (t) => {
  if (!need(t, flatc, 'flatc')) return
  const exec = rush.readExecRequest(
    flatcBinary({ argv: ['a', 'b'], cwd: '/', env: ['X=1'], umask: 0, stdin_mode: 'Pipe', fd_roles: ['Tty'] }, schema('rush_exec.fbs')),
  )
  t.same(
    [exec.argv, exec.cwd, exec.env, exec.umask, [...exec.fdRoles]],
    [['a', 'b'], '/', ['X=1'], 0, [3]],
    'the deprecated stdin_mode is accepted and not read',
  )
  t.same(rush.readExecReply(flatcBinary({ status: 2, signal: 0 }, schema('rush_result.fbs'))), { kind: 'result', status: 2, signal: 0, ended: false })
  t.same(rush.readExecReply(flatcBinary({ status: 5, ended: true }, schema('rush_result.fbs'))), { kind: 'result', status: 5, signal: 0, ended: true })
  t.same(
    flatcJson(rush.encodeResult(4, 0, true), schema('rush_result.fbs')),
    { status: 4, signal: 0, ended: true },
    'and flatc reads our Result that ends the session',
  )
  t.same(flatcJson(rush.encodeResult(4, 9), schema('rush_result.fbs')), { status: 4, signal: 9 }, 'and the one that does not')
  const local = { program: '/bin/ls', argv: ['ls', '-l'], env: ['A=1'] }
  t.same(rush.readExecReply(flatcBinary({ reason: 'r', ...local }, schema('rush_run_locally.fbs'))), { kind: 'runLocally', reason: 'r', exec: local })
  t.same(flatcJson(rush.encodeRunLocally('', local), schema('rush_run_locally.fbs')), local, 'and flatc reads ours')
})

t.test("rush's verifier descriptors agree with rush/schemas (via flatc)", async (t) => {
  if (!need(t, flatc, 'flatc')) return
  const roots = [
    [schema('rush_exec.fbs'), RushRoots.execRequest],
    [schema('rush_result.fbs'), RushRoots.result],
    [schema('rush_run_locally.fbs'), RushRoots.runLocally],
  ] as const
  t.equal(roots.length, readdirSync(rushSchemas).filter((f) => f.endsWith('.fbs') && f !== 'rush_common.fbs').length, 'every root schema is covered')
  checkDescriptors(t, roots)
})
