/**
 * A conservative recogniser for shell scripts that rush can run in-process: lists of simple
 * commands joined by `;`, `&&`, `||` or newlines, whose words are plain or quoted text with no
 * expansion of any kind. Anything else — `$`, backquotes, backslashes, globs, redirections, pipes,
 * subshells, comments, keywords, `~` — returns `undefined`, and the script goes to `/bin/sh -c`.
 * Being wrong here would make rush differ from sh, so the rule is: when in doubt, refuse.
 */

export type Connector = ';' | '&&' | '||'

export interface SimpleCommand {
  /** Words after quote removal. */
  words: string[]
  /** How this command joins the previous one (`;` for the first). */
  connector: Connector
}

// Characters that stand for themselves outside quotes (no globbing, no expansion, no operators).
const PLAIN = /[A-Za-z0-9_./:,+=@%^-]/

/** Parses `script`, or returns undefined when it is anything but a plain command list. */
export function parseScript(script: string): SimpleCommand[] | undefined {
  const commands: SimpleCommand[] = []
  let words: string[] = []
  let connector: Connector = ';'
  let i = 0
  const finish = (next: Connector): boolean => {
    if (words.length === 0) {
      // `a ; ; b` or a leading `&&` is a syntax error for sh: let sh say so. Blank lines are fine.
      if (next !== ';' || connector !== ';') return false
      return true
    }
    commands.push({ words, connector })
    words = []
    connector = next
    return true
  }
  while (i < script.length) {
    const c = script[i]!
    if (c === ' ' || c === '\t') {
      i++
      continue
    }
    if (c === '\n' || c === ';') {
      if (c === ';' && script[i + 1] === ';') return undefined // `;;` belongs to case
      if (c === ';' && words.length === 0) return undefined // `; ;`, a leading `;`: sh's syntax error
      if (!finish(';')) return undefined
      i++
      continue
    }
    if (c === '&' || c === '|') {
      if (script[i + 1] !== c) return undefined // background jobs and pipes go to sh
      if (words.length === 0) return undefined
      if (!finish(c === '&' ? '&&' : '||')) return undefined
      i += 2
      continue
    }
    const word = readWord(script, i)
    if (word === undefined) return undefined
    if (words.length === 0 && word.text.length > 0 && /^[~#!{}]/.test(word.text) && !word.quoted) return undefined
    words.push(word.text)
    i = word.end
  }
  if (words.length === 0 && connector !== ';') return undefined // dangling `&&`
  if (!finish(';')) return undefined
  return commands
}

function readWord(script: string, start: number): { text: string; end: number; quoted: boolean } | undefined {
  let text = ''
  let quoted = false
  let i = start
  if (script[i] === '~' || script[i] === '#') return undefined // tilde expansion, comments
  while (i < script.length) {
    const c = script[i]!
    if (c === "'") {
      const close = script.indexOf("'", i + 1)
      if (close < 0) return undefined
      text += script.slice(i + 1, close)
      quoted = true
      i = close + 1
    } else if (c === '"') {
      const close = script.indexOf('"', i + 1)
      if (close < 0) return undefined
      const inner = script.slice(i + 1, close)
      if (/[$`\\]/.test(inner)) return undefined
      text += inner
      quoted = true
      i = close + 1
    } else if (PLAIN.test(c)) {
      text += c
      i++
    } else if (c === ' ' || c === '\t' || c === '\n' || c === ';' || c === '&' || c === '|') {
      break
    } else {
      return undefined // $ ` \ * ? [ ] < > ( ) { } ! # ~ and anything not plain
    }
  }
  return { text, end: i, quoted }
}
