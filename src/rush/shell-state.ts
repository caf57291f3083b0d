/**
 * A session's shell state, as data: working directory (logical, like $PWD), exported environment,
 * unexported variables, umask and the last status. Nothing here touches `process.cwd()` or
 * `process.env`: sessions are isolated by construction, not by resetting a shared process.
 */
import * as fs from 'node:fs'

export class ShellState {
  /** Logical working directory (what `pwd` prints). */
  cwd: string
  /** Exported variables, in insertion order (the command's environment). */
  readonly env: Map<string, string>
  /** Variables set but not exported. */
  readonly vars = new Map<string, string>()
  umask: number
  /** `$?`. */
  status = 0

  constructor(cwd: string, env: Iterable<string>, umask: number) {
    this.env = new Map()
    for (const entry of env) {
      const eq = entry.indexOf('=')
      if (eq > 0) this.env.set(entry.slice(0, eq), entry.slice(eq + 1))
    }
    this.umask = umask
    this.cwd = logicalCwd(cwd, this.env.get('PWD'))
  }

  /** An independent copy (for evaluating a script before committing its effects). */
  clone(): ShellState {
    const copy = new ShellState(this.cwd, [], this.umask)
    copy.cwd = this.cwd
    copy.status = this.status
    for (const [key, value] of this.env) copy.env.set(key, value)
    for (const [key, value] of this.vars) copy.vars.set(key, value)
    return copy
  }

  /** The environment as `KEY=VALUE` entries for execve. */
  envList(): string[] {
    const list: string[] = []
    for (const [key, value] of this.env) list.push(`${key}=${value}`)
    return list
  }

  get(name: string): string | undefined {
    return this.env.get(name) ?? this.vars.get(name)
  }

  /** Sets a variable, keeping it exported if it was. */
  set(name: string, value: string): void {
    if (this.env.has(name)) this.env.set(name, value)
    else this.vars.set(name, value)
  }
}

/** What a POSIX shell takes as its start directory: $PWD when it names the same directory. */
function logicalCwd(physical: string, pwd: string | undefined): string {
  if (pwd && pwd.startsWith('/') && pwd !== physical) {
    try {
      const a = fs.statSync(pwd)
      const b = fs.statSync(physical)
      if (a.ino === b.ino && a.dev === b.dev && !/(^|\/)\.\.?(\/|$)/.test(pwd)) return pwd
    } catch {
      // Not usable: the physical path it is.
    }
  }
  return physical
}

/** A valid shell variable name. */
export const isName = (word: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(word)
