/**
 * Facts the protocol docs state (docs/protocol.md, schemas.md, rush-client.md, rush.md) checked
 * against the code they describe: values against the constants they come from, the schemas'
 * identifiers and retired items, and the error codes named. Behaviour the docs describe is
 * checked on the wire elsewhere (test/daemon/protocol-rules.test.ts, test/rush/).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { DEFAULT_MAX_FRAME_SIZE, MAX_FDS_PER_MESSAGE, protocol } from '../../src/index.js'
import { native } from '../../src/binding.js'
import { ADOPT_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, RUSH_CLIENT_MAX_FRAME, RUSH_CONNECTION } from '../../rush/src/constants.js'
import { root } from '../helpers.js'
import * as rush from '../../rush/src/protocol/messages.js'

const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8')
const doc = (name: string): string => read(path.join(name.startsWith('rush') ? 'rush/docs' : 'docs', name))

/** The text of a section: from its heading line to the next heading of the same or a higher level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`)
  if (start < 0) return ''
  const level = /^#+/.exec(heading)![0].length
  const rest = text.slice(start + heading.length + 2)
  const next = rest.search(new RegExp(`\\n#{1,${level}} `))
  return next < 0 ? rest : rest.slice(0, next)
}

/** "4 MiB", "1 s", "100", "16 MiB" as a number (bytes, ms, count). */
function value(text: string): number | undefined {
  const m = /^(\d+)\s*(MiB|KiB|s|ms)?$/.exec(text.trim())
  if (!m) return undefined
  const n = Number(m[1])
  return { MiB: n * 1024 * 1024, KiB: n * 1024, s: n * 1000, ms: n, '': n }[m[2] ?? '']
}

/** A `#define NAME value` of the C client (read, not compiled). */
function cDefine(file: string, name: string): number | undefined {
  const m = new RegExp(`#define ${name} \\(?(\\d+)u?(?: << (\\d+))?\\)?`).exec(read(file))
  return m ? Number(m[1]) * 2 ** Number(m[2] ?? 0) : undefined
}

t.test('protocol.md: the frame header and the receiver limits', async (t) => {
  const text = doc('protocol.md')
  const frame = section(text, '## 2. The frame')
  t.match(frame, /Every frame is a 16-byte header/)
  t.equal(native.headerSize, 16)
  const fdCount = /\| `fd_count` \| fds sent with this frame, 0–(\d+)/.exec(frame)
  t.equal(Number(fdCount?.[1]), native.maxFdsPerFrame, 'fd_count range: the addon maximum')
  t.equal(MAX_FDS_PER_MESSAGE, native.maxFdsPerFrame)
  t.match(frame, /\|\s*`version`\s*\|\s*`1`\s/)
  t.match(frame, /`id`\*\*: informational/, '`id` says what it carries')
  t.match(frame, /no other type is accepted/, '`type`: the message layer takes only 0')
  const limits = section(text, '## 4. Limits a receiver enforces')
  t.equal(value(/`length <= maxFrameSize` \(default ([^)]+)\)/.exec(limits)?.[1] ?? ''), DEFAULT_MAX_FRAME_SIZE, 'default maxFrameSize')
  t.equal(Number(/`fd_count <= maxFdsPerFrame` \(default (\d+)\)/.exec(limits)?.[1]), native.maxFdsPerFrame, 'default maxFdsPerFrame')
})

t.test('protocol.md section 6 and rush-client.md agree on the Hello, with the code', async (t) => {
  const hello = section(doc('protocol.md'), '### Hello')
  t.match(hello, /A client's Hello is optional/)
  t.match(hello, new RegExp(`\\(\`PROTOCOL_VERSION\`, ${protocol.PROTOCOL_VERSION}\\)`))
  t.notMatch(doc('protocol.md'), /first message on every connection, in both directions/, 'the old claim is gone')
  t.match(doc('rush-client.md'), /No Hello is sent and none is awaited before sending: a client's Hello\s+is optional/)
  t.match(doc('schemas.md'), /a client may send one as its first message, but need not/)
})

t.test('Status.Cancelled: documented as reserved and never sent, in the docs and the schema', async (t) => {
  const schemas = doc('schemas.md')
  const m = /`enum Status : ubyte \{ ([^}]*) \}`/.exec(schemas)
  const listed = Object.fromEntries(
    (m?.[1] ?? '')
      .split(', ')
      .map((e) => e.split(' = '))
      .map(([k, v]) => [k, Number(v)]),
  )
  t.same(listed, { Ok: protocol.Status.Ok, Error: protocol.Status.Error, Cancelled: protocol.Status.Cancelled }, 'the enum as generated')
  t.match(schemas, /`Cancelled` is reserved and never\s+sent: a cancelled request ends with `Error` and code `ERR_FDWIRE_CANCELLED`/)
  t.match(section(doc('protocol.md'), '### Cancel'), /`Status.Cancelled` \(2\) is reserved: a `Server` never sends it/)
  t.match(read('schemas/fdwire.fbs'), /\/\/\/ Reserved: fdwire never sends it\.[^\n]*\n[^\n]*\n\s*Cancelled = 2/)
})

t.test("schemas.md: the identifiers table is the schemas'; retired identifiers are in none", async (t) => {
  const schemas = doc('schemas.md')
  const rows = [...section(schemas, '## File identifiers').matchAll(/^\| `(\w{4})` \| `([\w.]+)` \| `(\w+\.fbs)` \|/gm)]
  // The library's schemas and rush's (rush/schemas), by file name.
  const schemaPath = (f: string): string => (f.startsWith('rush_') ? `rush/schemas/${f}` : `schemas/${f}`)
  const files = [...fs.readdirSync(path.join(root, 'schemas')), ...fs.readdirSync(path.join(root, 'rush', 'schemas'))].filter((f) => f.endsWith('.fbs'))
  const roots = files.filter((f) => /^file_identifier "/m.test(read(schemaPath(f))))
  t.same(rows.map((r) => r[3]).sort(), roots.sort(), 'one row per root schema')
  for (const [, id, table, file] of rows) {
    const fbs = read(schemaPath(file!))
    t.match(fbs, new RegExp(`^file_identifier "${id}";`, 'm'), `${file}: ${id}`)
    t.match(fbs, new RegExp(`^root_type ${table!.split('.').pop()};`, 'm'), `${file}: ${table}`)
  }
  const retired = /Retired, never to be reused: ([^\n]*\n[^\n]*)/.exec(schemas)?.[1] ?? ''
  const ids = [...retired.matchAll(/`(\w{4})` \(`rush\.\w+`\)/g)].map((r) => r[1]!)
  t.same(ids, ['RSTQ', 'RSTA'])
  for (const id of ids)
    t.notOk(
      files.some((f) => read(schemaPath(f)).includes(`file_identifier "${id}"`)),
      `${id} is used by no schema`,
    )
  t.notOk(Object.values(rush.RushMethod).includes('rush.status' as never), 'rush.status is not a method any more')
})

t.test('deprecated and reserved rush items: as the schemas and the generated code say', async (t) => {
  t.match(read('rush/schemas/rush_exec.fbs'), /^ {2}stdin_mode: StdinMode \(deprecated\);$/m)
  t.notMatch(read('rush/src/protocol/generated/rush_exec_generated.ts'), /stdinMode/, 'no accessor is generated for it')
  t.match(read('rush/schemas/rush_common.fbs'), /\/\/\/ Reserved: never sent by rush[^\n]*\n\s*Tty = 3/)
  const client = doc('rush-client.md')
  t.match(client, /`stdin_mode` is deprecated: rushd does not read it/)
  t.match(client, new RegExp(`Role ${rush.FdRole.Tty} \\(\`Tty\`\\) is reserved`))
})

t.test("rush-client.md: rushd's limits table against the constants they come from", async (t) => {
  const limits = section(doc('rush-client.md'), "## rushd's limits")
  const rows = new Map<string, string>()
  for (const m of limits.matchAll(/^\| [^|]+ \| ([^|]+) \| `([\w.]+)`/gm)) rows.set(m[2]!, m[1]!)
  const expected: [string, number | undefined][] = [
    ['RUSH_CONNECTION.maxFrameSize', RUSH_CONNECTION.maxFrameSize],
    ['RUSH_CONNECTION.maxFdsPerFrame', RUSH_CONNECTION.maxFdsPerFrame],
    ['DEFAULT_MAX_SESSIONS', DEFAULT_MAX_SESSIONS],
    ['ADOPT_TIMEOUT_MS', ADOPT_TIMEOUT_MS],
    ['RUSH_CLIENT_MAX_FRAME', RUSH_CLIENT_MAX_FRAME],
    ['SIGNAL_ANSWER_MS', cDefine('rush/client/session.h', 'SIGNAL_ANSWER_MS')],
  ]
  t.same([...rows.keys()].sort(), expected.map(([name]) => name).sort(), 'one row per constant')
  for (const [name, want] of expected) t.equal(value(rows.get(name) ?? ''), want, `${name}: ${rows.get(name)}`)
  t.equal(RUSH_CLIENT_MAX_FRAME, cDefine('rush/client/wire.h', 'WIRE_MAX_FRAME'), "RUSH_CLIENT_MAX_FRAME is the C client's WIRE_MAX_FRAME")
})

t.test("rush -c dies of its command's signal: rush-client.md and rush.md say so", async (t) => {
  t.match(doc('rush-client.md'), /the client \*\*dies of signal N\*\* itself/)
  t.match(doc('rush.md'), /makes `rush -c` die of signal N too/)
  t.notMatch(doc('rush.md'), /makes `rush` exit with 128\+N/)
})

t.test('every ERR_FDWIRE_* code the protocol docs name exists in the code', async (t) => {
  const sources = [
    ...fs
      .readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => read(path.join('src', f))),
    ...fs.readdirSync(path.join(root, 'rush', 'client')).map((f) => read(path.join('rush', 'client', f))),
  ].join('\n')
  for (const name of ['protocol.md', 'schemas.md', 'rush-client.md', 'rush.md']) {
    for (const code of new Set(doc(name).match(/ERR_FDWIRE_[A-Z_]+/g) ?? [])) {
      t.ok(sources.includes(`'${code}'`) || sources.includes(`"${code}"`), `${name}: ${code}`)
    }
  }
})
