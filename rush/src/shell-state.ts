/**
 * A session's shell state, as data: working directory (logical, like $PWD), exported environment,
 * unexported variables, umask, the last status, and what an interactive session keeps from the
 * lines sh ran (aliases, readonly names, positional parameters). Nothing here touches `process.cwd()` or
 * `process.env`: sessions are isolated by construction, not by resetting a shared process.
 *
 * Every string is a byte string, one char per byte (see exec.ts): names, values, the directory,
 * as sh holds them, whether or not they are UTF-8.
 */
import * as fs from 'node:fs'

// Shared by every state that has none. Their types are read-only, and these fields are only ever
// replaced, never changed in place (see below).
const NO_ALIASES: ReadonlyMap<string, string> = new Map()
const NO_NAMES: ReadonlySet<string> = new Set()
const NO_WORDS: readonly string[] = Object.freeze([])

export class ShellState {
  /** Variables set but not exported. */
  readonly vars: Map<string, string>
  umask: number
  /** `$?`. */
  status = 0
  // What only sh changes (the builtins never do): replaced as a whole when a line's state is
  // adopted, never changed in place, so a clone shares them, and a state that never ran a line
  // of sh shares the same empty ones (a session that runs `exit` allocates none of them).
  /** Aliases by name (interactive sessions). */
  aliases: ReadonlyMap<string, string> = NO_ALIASES
  /** Names made readonly (interactive sessions); their values are in `env` or `vars`. */
  readonly: ReadonlySet<string> = NO_NAMES
  /** `$1`… as `set --` left them (interactive sessions). */
  positional: readonly string[] = NO_WORDS
  /** Shell options turned on with `set -o` (interactive sessions; see state-capture.ts). */
  options: ReadonlySet<string> = NO_NAMES
  // The environment is decoded from the request only when a script needs it (`exit`, `true`,
  // `echo hi` never do), and a clone shares the undecoded source: the common request pays nothing.
  #env: Map<string, string> | undefined
  #envSource: (() => Iterable<string>) | undefined
  #physicalCwd: string
  #cwd: string | undefined

  /** `env`: `KEY=VALUE` entries, or a function giving them (called once, on first use). */
  constructor(cwd: string, env: Iterable<string> | Map<string, string> | (() => Iterable<string>), umask: number, vars?: Map<string, string>) {
    this.#physicalCwd = cwd
    if (typeof env === 'function') this.#envSource = env
    else this.#env = parseEnv(env)
    this.umask = umask
    this.vars = vars ?? new Map()
  }

  /** Exported variables, in insertion order (the command's environment). */
  get env(): Map<string, string> {
    if (this.#env === undefined) {
      this.#env = parseEnv(this.#envSource!())
      this.#envSource = undefined
    }
    return this.#env
  }

  /** Logical working directory (what `pwd` prints). */
  get cwd(): string {
    this.#cwd ??= logicalCwd(this.#physicalCwd, this.env.get('PWD'))
    return this.#cwd
  }

  set cwd(dir: string) {
    this.#cwd = dir
  }

  /** An independent copy (for evaluating a script before committing its effects). */
  clone(): ShellState {
    const copy = new ShellState(this.#physicalCwd, this.#env === undefined ? this.#envSource! : new Map(this.#env), this.umask, new Map(this.vars))
    copy.#cwd = this.#cwd
    copy.status = this.status
    copy.aliases = this.aliases
    copy.readonly = this.readonly
    copy.positional = this.positional
    copy.options = this.options
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

function parseEnv(entries: Iterable<string> | Map<string, string>): Map<string, string> {
  if (entries instanceof Map) return entries
  const env = new Map<string, string>()
  for (const entry of entries) {
    const eq = entry.indexOf('=')
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  return env
}

/** What a POSIX shell takes as its start directory: $PWD when it names the same directory. */
function logicalCwd(physical: string, pwd: string | undefined): string {
  if (pwd?.startsWith('/') && pwd !== physical) {
    try {
      const a = fs.statSync(fsPath(pwd))
      const b = fs.statSync(fsPath(physical))
      if (a.ino === b.ino && a.dev === b.dev && !/(^|\/)\.\.?(\/|$)/.test(pwd)) return pwd
    } catch {
      // Not usable: the physical path it is.
    }
  }
  return physical
}

/** A valid shell variable name. */
export const isName = (word: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(word)

/** A byte string's path as fs takes it: its bytes (a string path would be encoded as UTF-8). */
export const fsPath = (file: string): Buffer => Buffer.from(file, 'latin1')
