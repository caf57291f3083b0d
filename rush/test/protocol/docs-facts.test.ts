// What the docs say of rush, checked against rush's code, schemas and constants.
/**
 * Facts rush's docs (rush/docs/rush-client.md, rush.md) and the library's docs/schemas.md state
 * about rush, checked against the code they describe: rushd's limits against the constants they
 * come from, rush's schemas' identifiers and retired, deprecated and reserved items, and the error
 * codes named. Behaviour they describe is checked on the wire elsewhere (rush/test/).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { root } from '../../../test/helpers.js'
import { identifierRows, read, rootSchemas, section, value } from '../../../test/protocol/doc-text.js'
import { ADOPT_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, RUSH_CLIENT_MAX_FRAME, RUSH_CONNECTION } from '../../src/constants.js'
import * as rush from '../../src/protocol/messages.js'

/** A doc of rush's (rush/docs/) by its name, or of the library's (docs/) as `docs/NAME`. */
const doc = (name: string): string => read(name.startsWith('docs/') ? name : path.join('rush', 'docs', name))

/** A `#define NAME value` of the C client (read, not compiled). */
function cDefine(file: string, name: string): number | undefined {
  const m = new RegExp(`#define ${name} \\(?(\\d+)u?(?: << (\\d+))?\\)?`).exec(read(file))
  return m ? Number(m[1]) * 2 ** Number(m[2] ?? 0) : undefined
}

t.test("rush-client.md: a client's Hello is optional, as the library's protocol.md says", async (t) => {
  t.match(doc('rush-client.md'), /No Hello is sent and none is awaited before sending: a client's Hello\s+is optional/)
})

t.test("schemas.md: the identifiers table's other rows are rush's root schemas; retired identifiers are in none", async (t) => {
  const library = fs.readdirSync(path.join(root, 'schemas'))
  const rows = identifierRows(doc('docs/schemas.md')).filter((r) => !library.includes(r.file))
  t.same(rows.map((r) => r.file).sort(), rootSchemas('rush/schemas').sort(), 'one row per root schema of rush/schemas')
  for (const { id, table, file } of rows) {
    const fbs = read(path.join('rush', 'schemas', file))
    t.match(fbs, new RegExp(`^file_identifier "${id}";`, 'm'), `${file}: ${id}`)
    t.match(fbs, new RegExp(`^root_type ${table.split('.').pop()};`, 'm'), `${file}: ${table}`)
  }
  // The whole paragraph, up to the blank line that ends it.
  const retired = /Retired, never to be reused: (.*?)\n\n/s.exec(doc('docs/schemas.md'))?.[1] ?? ''
  const ids = [...retired.matchAll(/`(\w{4})` \(`rush\.\w+`\)/g)].map((r) => r[1]!)
  t.same(ids, ['RSTQ', 'RSTA', 'RSIG'])
  const all = ['schemas', path.join('rush', 'schemas')].flatMap((dir) =>
    fs
      .readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith('.fbs'))
      .map((f) => read(path.join(dir, f))),
  )
  for (const id of ids)
    t.notOk(
      all.some((fbs) => fbs.includes(`file_identifier "${id}"`)),
      `${id} is used by no schema`,
    )
  for (const method of ['rush.status', 'rush.signal']) {
    t.notOk(Object.values(rush.RushMethod).includes(method as never), `${method} is not a method any more`)
    t.match(retired, `\`${method}\``, `${method} is named among the retired`)
  }
  for (const id of ids) t.match(read('rush/schemas/rush_common.fbs'), `"${id}"`, `rush_common.fbs records that ${id} is retired`)
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

t.test("every ERR_FDWIRE_* code rush's docs name exists in the code (the library's, or rush's C client)", async (t) => {
  const sources = [
    ...fs
      .readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => read(path.join('src', f))),
    ...fs.readdirSync(path.join(root, 'rush', 'client')).map((f) => read(path.join('rush', 'client', f))),
  ].join('\n')
  for (const name of ['rush-client.md', 'rush.md']) {
    for (const code of new Set(doc(name).match(/ERR_FDWIRE_[A-Z_]+/g) ?? [])) {
      t.ok(sources.includes(`'${code}'`) || sources.includes(`"${code}"`), `${name}: ${code}`)
    }
  }
})
