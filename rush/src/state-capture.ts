/**
 * Keeping an interactive session's state across lines that ran in `/bin/sh`: the line runs with an
 * EXIT trap that dumps `pwd`, `umask`, `export -p`, `set`, `alias`, `readonly -p` and the
 * positional parameters into a private file, and the session adopts what the shell left behind.
 *
 * The next line that needs sh gets that state back from a prelude on the script's first line
 * (aliases, unexported variables, readonly names, `set --`, options), and the line itself is placed on the
 * line number it has in the session, so sh's messages say `sh: 26: …` as `sh -i` would, and
 * aliases (which take effect from the next line read) apply to it. Exported variables, cwd and
 * umask travel as the process's own environment, directory and umask.
 *
 * Options kept: those `sh -i` keeps in force for the lines that follow (`CARRIED_OPTIONS`). Not
 * `errexit` (sh -i would exit; the session does not), `verbose` (it would echo the prelude) or
 * the shell's own (interactive, monitor, stdin…). With `xtrace` on and a non-zero `$?` to
 * restore, the trace shows one extra `+ exit N` line.
 *
 * Not kept: functions (dash cannot print their definitions).
 *
 * The state and the line are byte strings (one char per byte, see exec.ts), and so is the dump,
 * read as `latin1`: a directory, value or line that is not UTF-8 goes through sh and back unchanged.
 */
import * as fs from 'node:fs'
import { isName, type ShellState } from './shell-state.js'

// Options carried from one line to the next (by their `set -o` names).
const CARRIED_OPTIONS = new Set(['noglob', 'xtrace', 'noclobber', 'allexport', 'nounset'])

// Signals that end a line run on the terminal, with their numbers (signal(7), the same on Linux and macOS).
const TERMINATING: [string, number][] = [
  ['HUP', 1],
  ['INT', 2],
  ['QUIT', 3],
  ['TERM', 15],
]

// Maintained by the shell itself: never carried from one line to the next.
const SHELL_OWNED = new Set(['IFS', 'OPTIND', 'PPID', 'PS1', 'PS2', 'PS4', 'PWD', 'LINENO', '_'])

/** Quotes a value for sh, the way dash prints it. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'"'"'`)}'`
}

// Separates the sections of the dump. It can only appear in `set`'s output inside a quoted value,
// and the parser reads quoted values whole.
const SECTION = '@@rush-section@@'

// The EXIT trap: what the shell leaves behind, in sections. Positional parameters go last, as
// their count and then each one NUL-terminated (the one byte no argument can contain).
const DUMP = `pwd; umask; export -p; set; echo ${SECTION}; alias; echo ${SECTION}; readonly -p; echo ${SECTION}; set +o; echo ${SECTION}; echo "$#"; for a do printf '%s\\0' "$a"; done`

/**
 * The script to run for `line` so that its resulting state lands in `file`. `lineNumber` is the
 * line's number in the interactive session (1 for the first).
 *
 * With `onTerminal`, the script is for the client to run on its terminal, in a process of its
 * own (a program that needs a controlling terminal): it then also takes the session's directory
 * and umask itself, and leaves the line's status next to `file` (see `adoptTerminalRun`).
 */
export function capturingScript(line: string, state: ShellState, file: string, lineNumber = 1, onTerminal = false): string {
  // `file` is a path as fs takes it (a string is its UTF-8): in the script, its bytes.
  const dump = `{ ${DUMP}; } >${shellQuote(byteString(file))}`
  // `$?` on entry to the EXIT trap is the script's exit status: saved first, before the dump. The
  // whole trap's stderr goes nowhere, its xtrace lines included.
  const trap = onTerminal ? `{ echo "$?" >${shellQuote(byteString(statusFileOf(file)))}; ${dump}; } 2>/dev/null` : `${dump} 2>/dev/null`
  const prelude: string[] = [`trap ${shellQuote(trap)} EXIT; `]
  if (onTerminal) {
    // A key that kills the line (Ctrl-C, Ctrl-\) or a SIGTERM/SIGHUP reaches this shell too, in the
    // terminal's foreground group: it then leaves its state and 128+N as the next line's `$?`, as
    // `sh -i` would, instead of dying without a word.
    prelude.push(`${TERMINATING.map(([name, number]) => `trap 'exit ${128 + number}' ${name}; `).join('')}`)
    // cd sets OLDPWD to wherever the client was: put the session's back (or none, as it had).
    const oldpwd = state.get('OLDPWD')
    prelude.push(
      `cd -- ${shellQuote(state.cwd)} 2>/dev/null; ${oldpwd === undefined ? 'unset OLDPWD' : `OLDPWD=${shellQuote(oldpwd)}`}; umask ${state.umask.toString(8).padStart(4, '0')}; `,
    )
  }
  for (const [name, value] of state.aliases) prelude.push(`alias ${shellQuote(`${name}=${value}`)}; `)
  for (const [name, value] of state.vars) if (!SHELL_OWNED.has(name)) prelude.push(`${name}=${shellQuote(value)}; `)
  for (const name of state.readonly) prelude.push(`readonly ${name}; `)
  if (state.positional.length > 0) prelude.push(`set -- ${state.positional.map(shellQuote).join(' ')}; `)
  // Last, in one command: allexport must not export the restored variables, and xtrace takes
  // effect after the command that sets it, so nothing of the prelude is traced.
  if (state.options.size > 0) prelude.push(`set${[...state.options].map((option) => ` -o ${option}`).join('')}; `)
  // `$?` of the line is the previous line's status, as at an interactive sh prompt.
  const status = state.status === 0 ? '' : `(exit ${state.status}); `
  // The line on its session line number: sh's messages then carry that number. Values with
  // newlines make the prelude longer than one line; aliases apply only from the line after theirs.
  const head = prelude.join('')
  const headLines = head.split('\n').length - 1
  const gap = Math.max(lineNumber - 1 - headLines, state.aliases.size > 0 ? 1 : 0)
  return `${head}${'\n'.repeat(gap)}${status}${line}`
}

/**
 * Adopts what a line run on the client's terminal (`capturingScript` with `onTerminal`) left
 * behind: its state, and its status as the next line's `$?`. Nothing changes when it left
 * nothing (it was killed before its EXIT trap ran).
 */
export function adoptTerminalRun(file: string, state: ShellState): boolean {
  const statusFile = statusFileOf(file)
  try {
    if (!adoptCapturedState(file, state)) return false
    // What `echo "$?"` wrote: digits and a newline.
    const status = /^([0-9]{1,3})\n$/.exec(fs.readFileSync(statusFile, 'latin1'))
    if (status !== null) state.status = Number(status[1])
    return true
  } catch {
    return true // the state was adopted; the status file went missing
  } finally {
    fs.rmSync(statusFile, { force: true })
  }
}

/** Removes what a terminal run left behind when no line came to adopt it (the session ended). */
export function discardTerminalRun(file: string): void {
  fs.rmSync(file, { force: true })
  fs.rmSync(statusFileOf(file), { force: true })
}

/** A path's bytes as a byte string. */
function byteString(file: string): string {
  return Buffer.from(file).toString('latin1')
}

/** Where a line run on the terminal leaves its status: next to its state. */
function statusFileOf(file: string): string {
  return `${file}.status`
}

/** Reads what the EXIT trap wrote and applies it to `state`. False if there was nothing to read. */
export function adoptCapturedState(file: string, state: ShellState): boolean {
  let text: string
  try {
    text = fs.readFileSync(file, 'latin1') // bytes, as sh wrote them
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
  while (i < text.length && !text.startsWith(SECTION, i)) {
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
  const rest = readSections(text, i)
  if (rest === undefined) return false
  state.cwd = cwd
  state.umask = parseInt(umask, 8)
  state.aliases = rest.aliases
  state.readonly = rest.readonly
  state.positional = rest.positional
  state.options = rest.options
  state.env.clear()
  state.vars.clear()
  for (const [name, value] of exported) if (value !== undefined) state.env.set(name, value)
  for (const [name, value] of variables) if (!exported.has(name) && !SHELL_OWNED.has(name)) state.vars.set(name, value)
  return true
}

/** The sections after `set`'s output: `alias`, `readonly -p`, `set +o`, the positional parameters. */
function readSections(
  text: string,
  at: number,
): { aliases: Map<string, string>; readonly: Set<string>; options: Set<string>; positional: string[] } | undefined {
  const marker = `${SECTION}\n`
  if (!text.startsWith(marker, at)) return undefined
  let i = at + marker.length
  // alias: `name='value'` lines.
  const aliases = new Map<string, string>()
  while (i < text.length && !text.startsWith(marker, i)) {
    const eq = text.indexOf('=', i)
    const nl = text.indexOf('\n', i)
    if (eq < 0 || (nl >= 0 && nl < eq)) return undefined
    const parsed = readQuoted(text, eq + 1)
    if (parsed === undefined) return undefined
    aliases.set(text.slice(i, eq), parsed.value)
    i = parsed.end + 1
  }
  if (!text.startsWith(marker, i)) return undefined
  i += marker.length
  // readonly -p: `readonly NAME='value'` or `readonly NAME` lines; the values came with `set`.
  const readonly = new Set<string>()
  while (i < text.length && !text.startsWith(marker, i)) {
    if (!text.startsWith('readonly ', i)) return undefined
    i += 'readonly '.length
    const nameEnd = text.slice(i).search(/[=\n]/)
    if (nameEnd < 0) return undefined
    const name = text.slice(i, i + nameEnd)
    i += nameEnd
    if (text[i] === '=') {
      const parsed = readQuoted(text, i + 1)
      if (parsed === undefined) return undefined
      i = parsed.end
    }
    i++
    if (isName(name) && !SHELL_OWNED.has(name)) readonly.add(name)
  }
  if (!text.startsWith(marker, i)) return undefined
  i += marker.length
  // set +o: `set -o NAME` (on) or `set +o NAME` (off) lines.
  const options = new Set<string>()
  while (i < text.length && !text.startsWith(marker, i)) {
    const end = text.indexOf('\n', i)
    const m = end < 0 ? null : /^set ([-+])o ([a-z]+)$/.exec(text.slice(i, end))
    if (m === null) return undefined
    if (m[1] === '-' && CARRIED_OPTIONS.has(m[2]!)) options.add(m[2]!)
    i = end + 1
  }
  if (!text.startsWith(marker, i)) return undefined
  i += marker.length
  // `$#`, then each parameter NUL-terminated.
  const countEnd = text.indexOf('\n', i)
  if (countEnd < 0 || !/^\d+$/.test(text.slice(i, countEnd))) return undefined
  const count = Number(text.slice(i, countEnd))
  const positional =
    count === 0
      ? []
      : text
          .slice(countEnd + 1)
          .split('\0')
          .slice(0, -1)
  if (positional.length !== count || text[text.length - 1] !== (count === 0 ? '\n' : '\0')) return undefined
  return { aliases, readonly, options, positional }
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
