/**
 * Keeping an interactive session's state across lines that ran in `/bin/sh`: the line runs with an
 * EXIT trap that dumps `pwd`, `umask`, `export -p` and `set` into a private file, and the session
 * adopts what the shell left behind (cwd, umask, exports, other variables). Variables that are not
 * exported travel into the next line as assignments placed before it on the same line, so sh's
 * line numbers in error messages do not move.
 */
import * as fs from 'node:fs'
import { isName, type ShellState } from './shell-state.js'

// Maintained by the shell itself: never carried from one line to the next.
const SHELL_OWNED = new Set(['IFS', 'OPTIND', 'PPID', 'PS1', 'PS2', 'PS4', 'PWD', 'LINENO', '_'])

/** Quotes a value for sh, the way dash prints it. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'"'"'`)}'`
}

/** The script to run for `line` so that its resulting state lands in `file`. */
export function capturingScript(line: string, state: ShellState, file: string): string {
  const assignments: string[] = []
  for (const [name, value] of state.vars) if (!SHELL_OWNED.has(name)) assignments.push(`${name}=${shellQuote(value)}; `)
  const restore = assignments.join('')
  // `$?` of the line is the previous line's status, as at an interactive sh prompt.
  const status = state.status === 0 ? '' : `(exit ${state.status}); `
  return `trap '{ pwd; umask; export -p; set; } >${shellQuote(file)} 2>/dev/null' EXIT; ${restore}${status}${line}`
}

/** Reads what the EXIT trap wrote and applies it to `state`. False if there was nothing to read. */
export function adoptCapturedState(file: string, state: ShellState): boolean {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return false // killed by a signal before the trap ran: keep the state as it was
  } finally {
    fs.rmSync(file, { force: true })
  }
  const firstBreak = text.indexOf('\n')
  const secondBreak = text.indexOf('\n', firstBreak + 1)
  if (firstBreak < 0 || secondBreak < 0) return false
  const cwd = text.slice(0, firstBreak)
  const umask = text.slice(firstBreak + 1, secondBreak)
  if (!cwd.startsWith('/') || !/^[0-7]{3,4}$/.test(umask)) return false
  const exported = new Map<string, string | undefined>()
  const variables = new Map<string, string>()
  let i = secondBreak + 1
  while (i < text.length) {
    const isExport = text.startsWith('export ', i)
    if (isExport) i += 'export '.length
    const nameEnd = text.slice(i).search(/[=\n]/)
    if (nameEnd < 0) break
    const name = text.slice(i, i + nameEnd)
    i += nameEnd
    let value: string | undefined
    if (text[i] === '=') {
      const parsed = readQuoted(text, i + 1)
      if (parsed === undefined) return false
      value = parsed.value
      i = parsed.end
    }
    if (text[i] === '\n') i++
    if (!isName(name)) continue
    if (isExport) exported.set(name, value)
    else if (value !== undefined) variables.set(name, value)
  }
  state.cwd = cwd
  state.umask = parseInt(umask, 8)
  state.env.clear()
  state.vars.clear()
  for (const [name, value] of exported) if (value !== undefined) state.env.set(name, value)
  for (const [name, value] of variables) if (!exported.has(name) && !SHELL_OWNED.has(name)) state.vars.set(name, value)
  return true
}

/** Reads dash's quoting: a run of '…' and "…" segments (and bare characters) up to a newline. */
function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  let value = ''
  let i = start
  while (i < text.length && text[i] !== '\n') {
    const c = text[i]!
    if (c === "'" || c === '"') {
      const close = text.indexOf(c, i + 1)
      if (close < 0) return undefined
      value += text.slice(i + 1, close)
      i = close + 1
    } else {
      value += c
      i++
    }
  }
  return { value, end: i }
}
