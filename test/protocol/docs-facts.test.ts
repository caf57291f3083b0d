// What the library's protocol docs say, checked against the library's code, schema and constants.
/**
 * Facts the library's protocol docs state (docs/protocol.md, docs/schemas.md) checked against the
 * code they describe: values against the constants they come from, the envelope schema's
 * identifier and reserved items, and the error codes named. Behaviour the docs describe is checked
 * on the wire elsewhere (test/daemon/protocol-rules.test.ts); what they say of rush is checked in
 * rush/test/protocol/docs-facts.test.ts.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { DEFAULT_MAX_FRAME_SIZE, MAX_FDS_PER_MESSAGE, protocol } from '../../src/index.js'
import { native } from '../../src/binding.js'
import { root } from '../helpers.js'
import { identifierRows, read, rootSchemas, section, value } from './doc-text.js'

const doc = (name: string): string => read(path.join('docs', name))

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

t.test('protocol.md section 6 and schemas.md agree on the Hello, with the code', async (t) => {
  const hello = section(doc('protocol.md'), '### Hello')
  t.match(hello, /A client's Hello is optional/)
  t.match(hello, new RegExp(`\\(\`PROTOCOL_VERSION\`, ${protocol.PROTOCOL_VERSION}\\)`))
  t.notMatch(doc('protocol.md'), /first message on every connection, in both directions/, 'the old claim is gone')
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

t.test("schemas.md: the identifiers table has the library's root schemas, as they are", async (t) => {
  // Rows for the schemas of schemas/; the application's rows (rush's) are checked in its tree.
  const files = fs.readdirSync(path.join(root, 'schemas'))
  const rows = identifierRows(doc('schemas.md')).filter((r) => files.includes(r.file))
  t.same(rows.map((r) => r.file).sort(), rootSchemas('schemas').sort(), 'one row per root schema')
  for (const { id, table, file } of rows) {
    const fbs = read(path.join('schemas', file))
    t.match(fbs, new RegExp(`^file_identifier "${id}";`, 'm'), `${file}: ${id}`)
    t.match(fbs, new RegExp(`^root_type ${table.split('.').pop()};`, 'm'), `${file}: ${table}`)
  }
})

t.test("every ERR_FDWIRE_* code the protocol docs name exists in the library's code", async (t) => {
  const sources = fs
    .readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => read(path.join('src', f)))
    .join('\n')
  for (const name of ['protocol.md', 'schemas.md']) {
    for (const code of new Set(doc(name).match(/ERR_FDWIRE_[A-Z_]+/g) ?? [])) {
      t.ok(sources.includes(`'${code}'`) || sources.includes(`"${code}"`), `${name}: ${code}`)
    }
  }
})
