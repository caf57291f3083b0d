// Decoders we did not write (flatc, Debian's python3-flatbuffers) as test tools, each schema named by its path.
//
// Shared by the library's protocol tests and rush's (rush/test/protocol), each with its own
// schemas. Locally a missing tool skips (saying how to install it); under CI it fails.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import type { Test } from 'tap'
import { tableOf, toObject, type RootDescriptor, type TableDescriptor } from '../../src/protocol/index.js'
import { aptInstall, needs } from '../helpers.js'

/** Debian's python3, which python3-flatbuffers installs for. */
export const PY = '/usr/bin/python3'
const dir = mkdtempSync(join(tmpdir(), 'fdwire-fbs-'))

function have(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0
}
export const flatc = have('flatc', ['--version'])
export const python = have(PY, ['-c', 'import flatbuffers'])

/** False (and the test skips, or fails under CI) when the tool `what` is missing. */
export function need(t: Test, ok: boolean, what: string): boolean {
  const debian = what === 'flatc' ? 'flatbuffers-compiler' : 'python3-flatbuffers'
  return needs(t, ok ? undefined : `${what} is not installed`, aptInstall(debian))
}

/** flatc --json of `bytes` as root type `root` of the schema file `schema`. */
export function flatcJson(bytes: Uint8Array, schema: string, root?: string): unknown {
  const bin = join(dir, `in-${Math.random().toString(36).slice(2)}.bin`)
  writeFileSync(bin, bytes)
  const args = ['--json', '--strict-json', '--raw-binary', '-o', dir, '-I', dirname(schema)]
  if (root !== undefined) args.push('--root-type', root)
  execFileSync('flatc', [...args, schema, '--', bin])
  return JSON.parse(readFileSync(bin.replace(/\.bin$/, '.json'), 'utf8'))
}

/** flatc -b of `json` for the schema file `schema`; returns the binary. */
export function flatcBinary(json: unknown, schema: string): Buffer {
  const file = join(dir, `out-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(file, JSON.stringify(json))
  execFileSync('flatc', ['-b', '-o', dir, '-I', dirname(schema), schema, file])
  return readFileSync(file.replace(/\.json$/, '.bin'))
}

/** A decoded object as plain JSON values (64-bit integers as numbers), for comparing with flatc's. */
export const normalize = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x)))

/** Fills every field of a table with a distinctive value, as flatc JSON. */
export function sample(desc: TableDescriptor, seed: number, depth = 0): Record<string, unknown> {
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

/**
 * Checks each root's verifier descriptor against its schema file (a path), via flatc:
 * 1. field names and order per table, from flatc's JSON Schema;
 * 2. ids and types: flatc encodes a full sample from JSON and our descriptor-driven decoder must
 *    read back exactly the same values (a wrong id or size reads a different field).
 */
export function checkDescriptors(t: Test, roots: readonly (readonly [schema: string, root: RootDescriptor])[]): void {
  for (const [schema, root] of roots) {
    const name = basename(schema)
    execFileSync('flatc', ['--jsonschema', '-o', dir, '-I', dirname(schema), schema])
    const js = JSON.parse(readFileSync(join(dir, name.replace(/\.fbs$/, '.schema.json')), 'utf8'))
    const seen = new Set<TableDescriptor>()
    const visit = (desc: TableDescriptor): void => {
      if (seen.has(desc)) return
      seen.add(desc)
      const key = Object.keys(js.definitions).find((k) => k.endsWith(`_${desc.name}`))!
      const props = Object.keys(js.definitions[key].properties).filter((p) => !p.endsWith('_type'))
      t.same(
        desc.fields.map((f) => f.name),
        props,
        `${name}: ${desc.name} fields`,
      )
      for (const f of desc.fields) {
        if (f.type.kind === 'union') for (const m of f.type.union.members) if (m) visit(m)
        if (f.type.kind === 'table') visit(tableOf(f.type.table))
      }
    }
    visit(tableOf(root.table))
    for (let seed = 1; seed <= 7; seed++) {
      const json = sample(tableOf(root.table), seed)
      const bin = flatcBinary(json, schema)
      t.same(normalize(toObject(bin, root)), normalize(flatcJson(bin, schema) && json), `${name}: sample ${seed} reads back`)
    }
  }
}

/**
 * The start of a python3-flatbuffers script that reads an Envelope holding a Request from stdin,
 * with the plain runtime (no generated code): leaves `mtype`, `idv`, `method` and the request's
 * `body` (checked to carry `identifier`), and a `strings(table, slot)` reader.
 */
export function pyRequestBody(identifier: string): string {
  return `import sys, json, flatbuffers
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
assert util.GetBufferIdentifier(body, 0) == b'${identifier}'
def strings(tab, slot):
    o = tab.Offset(slot)
    if not o: return []
    v = tab.Vector(o)
    return [tab.String(v + 4 * i).decode() for i in range(tab.VectorLen(o))]
`
}
