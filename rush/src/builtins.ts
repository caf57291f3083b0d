/**
 * In-process builtins for scripts the recogniser fully understood. Each builtin either produces
 * exactly what dash would (output bytes, status, state change) or declines (`undefined`), and then
 * the whole script runs in `/bin/sh -c` instead — before anything was written or changed.
 * Arguments, state and output are byte strings (see exec.ts), as dash's builtins work on bytes.
 *
 * So evaluation works on a copy of the state and buffers output: nothing is committed until the
 * whole script was handled in-process.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import type { SimpleCommand } from './script.js'
import { fsPath, isName, type ShellState } from './shell-state.js'

export interface Evaluation {
  /** What the script writes to fd 1, as a byte string. */
  stdout: string
  status: number
  /** The script ran `exit` (an interactive session ends). */
  exited: boolean
  /** The state after the script; commit it only if you use this evaluation. */
  state: ShellState
}

/** Variables whose value dash validates when it is assigned (getopts' index must be a number). */
const CHECKED_ON_ASSIGNMENT = new Set(['OPTIND'])

type Builtin = (args: string[], state: ShellState, out: string[]) => number | undefined

/** Runs `commands` in-process, or returns undefined if any command needs a real shell. */
export function evaluate(commands: SimpleCommand[], initial: ShellState): Evaluation | undefined {
  // xtrace prints each command, allexport exports each assignment: sh's to do. (noglob, noclobber
  // and nounset cannot change what the recogniser accepts: no globs, redirections or expansions.)
  if (initial.options.has('xtrace') || initial.options.has('allexport')) return undefined
  const state = initial.clone()
  const out: string[] = []
  let status = state.status
  for (const command of commands) {
    if (command.connector === '&&' && status !== 0) continue
    if (command.connector === '||' && status === 0) continue
    const [name, ...args] = command.words
    if (name === undefined) continue
    if (state.aliases.has(name)) return undefined // sh expands it
    if (name === 'exit') {
      const code = exitStatus(args, status)
      if (code === undefined) return undefined
      return { stdout: out.join(''), status: code, exited: true, state }
    }
    let result: number | undefined
    if (command.words.every((word) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(word))) {
      if (command.words.some((word) => state.readonly.has(word.slice(0, word.indexOf('='))))) return undefined // sh's error
      // dash checks the value of OPTIND as it is assigned ("Illegal number"): sh's to say.
      if (command.words.some((word) => CHECKED_ON_ASSIGNMENT.has(word.slice(0, word.indexOf('='))))) return undefined
      for (const word of command.words) {
        const eq = word.indexOf('=')
        state.set(word.slice(0, eq), word.slice(eq + 1))
      }
      result = 0
    } else {
      const builtin = builtins[name]
      if (builtin === undefined) return undefined
      result = builtin(args, state, out)
    }
    if (result === undefined) return undefined
    status = result
    state.status = status
  }
  return { stdout: out.join(''), status, exited: false, state }
}

/** dash: decimal digits only, taken mod 256; extra arguments ignored; no argument: `$?`. */
function exitStatus(args: string[], last: number): number | undefined {
  const arg = args[0]
  if (arg === undefined) return last
  if (!/^[0-9]{1,9}$/.test(arg)) return undefined // dash's "Illegal number" message: let sh say it
  return Number(arg) % 256
}

const builtins: Record<string, Builtin> = {
  true: () => 0,
  false: () => 1,
  ':': () => 0,

  echo(args, _state, out) {
    // dash's echo always interprets backslash escapes; without backslashes the text is literal.
    if (args.some((arg) => arg.includes('\\'))) return undefined
    if (args[0] === '-n') out.push(args.slice(1).join(' '))
    else out.push(`${args.join(' ')}\n`)
    return 0
  },

  pwd(args, state, out) {
    if (args.length > 0) return undefined
    out.push(`${state.cwd}\n`)
    return 0
  },

  cd(args, state) {
    if (args.length > 1) return undefined
    const target = args[0] ?? state.get('HOME')
    if (target === undefined || target === '' || target.startsWith('-')) return undefined
    if (state.get('CDPATH')) return undefined // CDPATH searches print the new directory
    if (state.readonly.has('PWD') || state.readonly.has('OLDPWD')) return undefined
    if (/^\/\/(?!\/)/.test(target) || /^\/\/(?!\/)/.test(state.cwd)) return undefined // dash keeps a leading `//`
    const logical = path.resolve(state.cwd, target) // dash resolves `..` logically, as path does
    try {
      if (!fs.statSync(fsPath(logical)).isDirectory()) return undefined
      fs.accessSync(fsPath(logical), fs.constants.X_OK)
    } catch {
      return undefined // the error message is sh's to print
    }
    state.set('OLDPWD', state.cwd)
    state.cwd = logical
    state.set('PWD', logical)
    return 0
  },

  export(args, state) {
    if (args.length === 0) return undefined // prints the environment: sh's format
    for (const arg of args) {
      const eq = arg.indexOf('=')
      const name = eq < 0 ? arg : arg.slice(0, eq)
      if (!isName(name) || state.readonly.has(name) || CHECKED_ON_ASSIGNMENT.has(name)) return undefined
      const value = eq < 0 ? state.vars.get(name) : arg.slice(eq + 1)
      if (value === undefined) {
        if (!state.env.has(name)) return undefined // exported-but-unset: keep to sh
        continue
      }
      state.vars.delete(name)
      state.env.set(name, value)
    }
    return 0
  },

  unset(args, state) {
    if (args.length === 0 || args.some((arg) => !isName(arg) || state.readonly.has(arg))) return undefined
    for (const name of args) {
      if (name === 'PATH' || name === 'IFS' || name === 'PS1' || name === 'PS2' || name === 'OPTIND') return undefined
      state.env.delete(name)
      state.vars.delete(name)
    }
    return 0
  },

  umask(args, state, out) {
    if (args.length === 0) {
      out.push(`${state.umask.toString(8).padStart(4, '0')}\n`)
      return 0
    }
    if (args.length > 1 || !/^0?[0-7]{1,3}$/.test(args[0]!)) return undefined
    state.umask = parseInt(args[0]!, 8)
    return 0
  },
}
