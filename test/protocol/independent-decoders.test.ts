// Our bytes decode with decoders we did not write (flatc --json, Debian's python3-flatbuffers),
// flatc's bytes decode with ours, and our verifier descriptors agree with the .fbs files.
// Locally a missing tool skips (saying how to install it); under CI (process.env.CI) it fails.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { EnvelopeRoot, readEnvelope, tableOf, toObject, type TableDescriptor } from '../../src/protocol/index.js'
import { validMessages } from './fixtures.js'
import { aptInstall, needs } from '../helpers.js'
import * as rush from '../../rush/src/protocol/messages.js'
import { RushRoots } from '../../rush/src/protocol/descriptors.js'

const repo = new URL('../../', import.meta.url).pathname
const schemas = join(repo, 'schemas')
const rushSchemas = join(repo, 'rush', 'schemas')
/** The directory a schema file is in: rush's own, or the library's. */
const dirOf = (schema: string): string => (schema.startsWith('rush_') ? rushSchemas : schemas)
const PY = '/usr/bin/python3'
const dir = mkdtempSync(join(tmpdir(), 'fdwire-fbs-'))

function have(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0
}
const flatc = have('flatc', ['--version'])
const python = have(PY, ['-c', 'import flatbuffers'])

function need(t: Test, ok: boolean, what: string): boolean {
  const debian = what === 'flatc' ? 'flatbuffers-compiler' : 'python3-flatbuffers'
  return needs(t, ok ? undefined : `${what} is not installed`, aptInstall(debian))
}

/** flatc --json of `bytes` as root type `root` of `schema`. */
function flatcJson(bytes: Uint8Array, schema: string, root?: string): unknown {
  const bin = join(dir, `in-${Math.random().toString(36).slice(2)}.bin`)
  writeFileSync(bin, bytes)
  const args = ['--json', '--strict-json', '--raw-binary', '-o', dir, '-I', dirOf(schema)]
  if (root !== undefined) args.push('--root-type', root)
  execFileSync('flatc', [...args, join(dirOf(schema), schema), '--', bin])
  return JSON.parse(readFileSync(bin.replace(/\.bin$/, '.json'), 'utf8'))
}

/** flatc -b of `json` for `schema`; returns the binary. */
function flatcBinary(json: unknown, schema: string): Buffer {
  const file = join(dir, `out-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(file, JSON.stringify(json))
  execFileSync('flatc', ['-b', '-o', dir, '-I', dirOf(schema), join(dirOf(schema), schema), file])
  return readFileSync(file.replace(/\.json$/, '.bin'))
}

const normalize = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)))

t.test('flatc --json decodes every message our encoders build', async (t) => {
  if (!need(t, flatc, 'flatc')) return
  for (const { name, bytes } of validMessages()) {
    const decoded = flatcJson(bytes, 'fdwire.fbs') as { message_type: string }
    const ours = normalize(toObject(bytes, EnvelopeRoot)) as Record<string, unknown>
    // flatc prints enums by name and omits default scalars; ours prints numbers. Compare shape.
    t.equal(decoded.message_type, ours.message_type, `${name}: message type`)
    const m = readEnvelope(bytes)
    const fm = (decoded as unknown as { message: Record<string, unknown> }).message
    if ('id' in m) t.equal(fm.id ?? 0, m.id, `${name}: id`)
    if (m.kind === 'request') {
      t.equal(fm.method, m.method)
      if (m.body === null) continue
      t.same(fm.body, [...m.body])
      t.same(normalize(flatcJson(m.body!, 'rush_exec.fbs')), normalize({ ...toObject(m.body!, RushRoots.execRequest), fd_roles: ['Stdout', 'Stderr'] }))
    }
    if (m.kind === 'response' && m.error !== null) t.same(fm.error, m.error)
  }
})

t.test("Debian's python3-flatbuffers reads our messages", async (t) => {
  if (!need(t, python, `${PY} with python3-flatbuffers`)) return
  const { bytes } = validMessages()[1]!
  const m = readEnvelope(bytes)
  if (m.kind !== 'request') throw new Error('fixture 1 is a request')
  // A reader written against the wire format with the plain python runtime (no generated code).
  const script = `
import sys, json, flatbuffers
from flatbuffers import table, util, encode, number_types as N
buf = bytearray(sys.stdin.buffer.read())
assert util.GetBufferIdentifier(buf, 0) == b'FDWR'
def root(b):
    return table.Table(b, encode.Get(N.UOffsetTFlags.packer_type, b, 0))
env = root(buf)
o = env.Offset(4); mtype = env.Get(N.Uint8Flags, o + env.Pos)
t = table.Table(bytearray(), 0); env.Union(t, env.Offset(6))
req = t
idv = req.Get(N.Uint32Flags, req.Offset(4) + req.Pos)
method = req.String(req.Offset(6) + req.Pos).decode()
bo = req.Offset(8); body = bytes(req.Bytes[req.Vector(bo):req.Vector(bo) + req.VectorLen(bo)])
assert util.GetBufferIdentifier(body, 0) == b'RXEC'
ex = root(bytearray(body))
def strings(tab, slot):
    o = tab.Offset(slot)
    if not o: return []
    v = tab.Vector(o)
    return [tab.String(v + 4 * i).decode() for i in range(tab.VectorLen(o))]
print(json.dumps({"type": mtype, "id": idv, "method": method, "argv": strings(ex, 4),
  "cwd": ex.String(ex.Offset(6) + ex.Pos).decode(), "env": strings(ex, 8),
  "umask": ex.Get(N.Uint32Flags, ex.Offset(10) + ex.Pos)}))
`
  const out = execFileSync(PY, ['-c', script], { input: bytes, env: { ...process.env, PYTHONPATH: '' } })
  const x = rush.readExecRequest(m.body!)
  t.same(JSON.parse(out.toString()), { type: 2, id: m.id, method: m.method, argv: x.argv, cwd: x.cwd, env: x.env, umask: x.umask })
})

t.test('flatc -b output from JSON decodes with our readers', async (t) => {
  if (!need(t, flatc, 'flatc')) return
  const req = flatcBinary({ message_type: 'Request', message: { id: 7, method: 'svc.call', body: [1, 2, 3] } }, 'fdwire.fbs')
  const m = readEnvelope(req)
  t.ok(m.kind === 'request' && m.id === 7 && m.method === 'svc.call')
  if (m.kind === 'request') t.same([...m.body!], [1, 2, 3])
  const res = readEnvelope(flatcBinary({ message_type: 'Response', message: { id: 8, status: 'Error', error: { code: 'E', message: 'x' } } }, 'fdwire.fbs'))
  t.ok(res.kind === 'response' && res.id === 8 && !res.ok && res.error?.message === 'x')
  const exec = rush.readExecRequest(flatcBinary({ argv: ['a', 'b'], cwd: '/', env: ['X=1'], umask: 0, stdin_mode: 'Pipe', fd_roles: ['Tty'] }, 'rush_exec.fbs'))
  t.same(
    [exec.argv, exec.cwd, exec.env, exec.umask, [...exec.fdRoles]],
    [['a', 'b'], '/', ['X=1'], 0, [3]],
    'the deprecated stdin_mode is accepted and not read',
  )
  t.same(rush.readExecReply(flatcBinary({ status: 2, signal: 0 }, 'rush_result.fbs')), { kind: 'result', status: 2, signal: 0, ended: false })
  t.same(rush.readExecReply(flatcBinary({ status: 5, ended: true }, 'rush_result.fbs')), { kind: 'result', status: 5, signal: 0, ended: true })
  t.same(flatcJson(rush.encodeResult(4, 0, true), 'rush_result.fbs'), { status: 4, signal: 0, ended: true }, 'and flatc reads our Result that ends the session')
  t.same(flatcJson(rush.encodeResult(4, 9), 'rush_result.fbs'), { status: 4, signal: 9 }, 'and the one that does not')
  const local = { program: '/bin/ls', argv: ['ls', '-l'], env: ['A=1'] }
  t.same(rush.readExecReply(flatcBinary({ reason: 'r', ...local }, 'rush_run_locally.fbs')), { kind: 'runLocally', reason: 'r', exec: local })
  t.same(flatcJson(rush.encodeRunLocally('', local), 'rush_run_locally.fbs'), local, 'and flatc reads ours')
})

/** Fills every field of a table with a distinctive value, as flatc JSON. */
function sample(desc: TableDescriptor, seed: number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of desc.fields) {
    const v = seed + f.id
    const type = f.type
    if (type.kind === 'union') {
      const member = type.union.members.findIndex((m, i) => i > 0 && m !== undefined && (v + i) % 2 === 0) || 1
      const table = type.union.members[member]!
      out[`${f.name}_type`] = table.name
      out[f.name] = sample(table, v, depth + 1)
    } else if (type.kind === 'scalar')
      out[f.name] = type.scalar === 'bool' ? true : 1 + (v % 2) // never the default (flatc omits defaults)
    else if (type.kind === 'string') out[f.name] = `${f.name}-${v}`
    else if (type.kind === 'table') out[f.name] = sample(tableOf(type.table), v, depth + 1)
    else if (type.kind === 'vector') out[f.name] = type.element.kind === 'string' ? [`${f.name}-a`, `${f.name}-b`] : [1 + (v % 2), 1]
  }
  return out
}

t.test('verifier descriptors agree with the .fbs files (via flatc)', async (t) => {
  if (!need(t, flatc, 'flatc')) return
  const roots: [string, typeof EnvelopeRoot][] = [
    ['fdwire.fbs', EnvelopeRoot],
    ['rush_exec.fbs', RushRoots.execRequest],
    ['rush_signal.fbs', RushRoots.signal],
    ['rush_result.fbs', RushRoots.result],
    ['rush_run_locally.fbs', RushRoots.runLocally],
  ]
  t.equal(
    roots.length,
    [...readdirSync(schemas), ...readdirSync(rushSchemas)].filter((f) => f.endsWith('.fbs') && f !== 'rush_common.fbs').length,
    'every root schema is covered',
  )
  for (const [schema, root] of roots) {
    // 1. Field names and order per table, from flatc's JSON Schema.
    execFileSync('flatc', ['--jsonschema', '-o', dir, '-I', dirOf(schema), join(dirOf(schema), schema)])
    const js = JSON.parse(readFileSync(join(dir, schema.replace(/\.fbs$/, '.schema.json')), 'utf8'))
    const seen = new Set<TableDescriptor>()
    const visit = (desc: TableDescriptor): void => {
      if (seen.has(desc)) return
      seen.add(desc)
      const key = Object.keys(js.definitions).find((k) => k.endsWith(`_${desc.name}`))!
      const props = Object.keys(js.definitions[key].properties).filter((p) => !p.endsWith('_type'))
      t.same(
        desc.fields.map((f) => f.name),
        props,
        `${schema}: ${desc.name} fields`,
      )
      for (const f of desc.fields) {
        if (f.type.kind === 'union') for (const m of f.type.union.members) if (m) visit(m)
        if (f.type.kind === 'table') visit(tableOf(f.type.table))
      }
    }
    visit(tableOf(root.table))
    // 2. Ids and types: flatc encodes a full sample from JSON; our descriptor-driven decoder must
    //    read back exactly the same values (a wrong id or size reads a different field).
    for (let seed = 1; seed <= 7; seed++) {
      const json = sample(tableOf(root.table), seed)
      const bin = flatcBinary(json, schema)
      t.same(normalize(toObject(bin, root)), normalize(flatcJson(bin, schema) && json), `${schema}: sample ${seed} reads back`)
    }
  }
})
