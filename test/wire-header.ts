/**
 * native/wire.h as data, for the tests that check the TypeScript wire constants against it
 * (test/transport/wire-constants.test.ts for the library's, rush/test/wire-constants.test.ts for
 * rush's).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { root } from './helpers.js'

export type DefineValue = number | string

/** A `#define NAME value` of the header: its value, and the comment after it on its line ('' if none). */
export interface Define {
  value: DefineValue
  comment: string
}

/**
 * The object-like `#define NAME value` lines of a C header whose value is an integer (decimal or
 * hex) or a string literal, by name. Other defines (function-like macros, include guards) are
 * left out: `definedNames` lists every name, to tell which.
 */
export function parseDefines(text: string): Map<string, Define> {
  const out = new Map<string, Define>()
  // A define inside a block comment would need a '#' at a line's start; wire.h's comments have none.
  for (const m of text.matchAll(/^#define\s+([A-Z][A-Z0-9_]*)[ \t]+(0[xX][0-9a-fA-F]+|\d+|"(?:[^"\\]|\\.)*")[ \t]*(?:\/\*(.*?)\*\/)?[ \t]*$/gm)) {
    const raw = m[2]!
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw)
    out.set(m[1]!, { value, comment: (m[3] ?? '').trim() })
  }
  return out
}

/** Every name the header `#define`s, once each, whatever follows it. */
export function definedNames(text: string): string[] {
  return [...new Set([...text.matchAll(/^#define\s+([A-Za-z_][A-Za-z0-9_]*)/gm)].map((m) => m[1]!))]
}

/** The text of native/wire.h. */
export const wireHeaderText = fs.readFileSync(path.join(root, 'native', 'wire.h'), 'utf8')

/** The value defines of native/wire.h. */
export const wireDefines = parseDefines(wireHeaderText)
