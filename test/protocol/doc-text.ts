// Reading facts out of the Markdown docs: a file's text, a section of it, a value with its unit, the file identifiers table.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { root } from '../helpers.js'

/** A file of the repository, by its path from the root. */
export const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8')

/** The text of a section: from its heading line to the next heading of the same or a higher level. */
export function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`)
  if (start < 0) return ''
  const level = /^#+/.exec(heading)![0].length
  const rest = text.slice(start + heading.length + 2)
  const next = rest.search(new RegExp(`\\n#{1,${level}} `))
  return next < 0 ? rest : rest.slice(0, next)
}

/** "4 MiB", "1 s", "100", "16 MiB" as a number (bytes, ms, count). */
export function value(text: string): number | undefined {
  const m = /^(\d+)\s*(MiB|KiB|s|ms)?$/.exec(text.trim())
  if (!m) return undefined
  const n = Number(m[1])
  return { MiB: n * 1024 * 1024, KiB: n * 1024, s: n * 1000, ms: n, '': n }[m[2] ?? '']
}

/** The rows of docs/schemas.md's "File identifiers" table: identifier, root table, schema file name. */
export function identifierRows(schemasMd: string): { id: string; table: string; file: string }[] {
  return [...section(schemasMd, '## File identifiers').matchAll(/^\| `(\w{4})` \| `([\w.]+)` \| `(\w+\.fbs)` \|/gm)].map((r) => ({
    id: r[1]!,
    table: r[2]!,
    file: r[3]!,
  }))
}

/** The .fbs files of a directory (from the repository root) that declare a root: those with a file_identifier. */
export function rootSchemas(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.fbs') && /^file_identifier "/m.test(read(path.join(dir, f))))
}
