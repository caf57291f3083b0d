/**
 * Answering one `rush.exec` request: run in-process when the recogniser understands the whole
 * script; else the client runs it, exec'ing the program named here (a lone simple command) or
 * `/bin/sh` itself. Either way the output and status are what `sh -c` gives.
 *
 * Shell text is bytes, as it is to sh (dash reads and stores bytes, whatever the locale): every
 * string here that came from the client or from sh is a byte string, one char (U+0000..U+00FF)
 * per byte, read with the request's `…Bytes` getters. It turns back into the same bytes wherever
 * it leaves: output (`Buffer.from(s, 'latin1')`), paths given to fs (`fsPath`) and the RunLocally
 * reply (encoded `'latin1'` by handlers.ts). So no byte of a file name, argument, variable or
 * line is ever altered, UTF-8 or not.
 *
 * The client's fds are closed the moment the answer is ready: a reader downstream of the
 * client's stdout must see EOF when the command is done, not when the daemon gets around to it.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { closeFd } from 'fdwire'
import * as rush from './protocol/messages.js'
import { evaluate } from './builtins.js'
import { parseScript, type SimpleCommand } from './script.js'
import { fsPath, isName, ShellState } from './shell-state.js'
import { adoptTerminalRun, capturingScript, discardTerminalRun } from './state-capture.js'

const write = promisify(fs.write)

export type ExecOutcome = { kind: 'result'; status: number; signal: number; exited: boolean } | { kind: 'runLocally'; reason: string; exec?: rush.LocalProgram }

/** A client connection's session: its shell state. */
export class RushSession {
  state: ShellState | undefined
  /** Exec requests seen. A client that does not number its lines (older than the `line` field) is
   *  taken as interactive from its second request on. */
  requests = 0
  /** Where the line the client last ran on its terminal leaves its state and status, until the
   *  next line adopts them. */
  terminalRun: string | undefined
  /** `discard()` is due when the connection closes. */
  discardOnClose = false
  /** A private directory (the runtime dir) for state captured from sh. */
  constructor(readonly stateDir: string) {}

  /** Removes what a terminal run left and no line adopted (the session ended). */
  discard(): void {
    if (this.terminalRun === undefined) return
    discardTerminalRun(this.terminalRun)
    this.terminalRun = undefined
  }
}

let captures = 0

/** Answers an exec request. Takes ownership of `fds` (closed before this resolves). */
export async function runExec(session: RushSession, request: rush.ExecRequestView, fds: number[]): Promise<ExecOutcome> {
  try {
    const script = request.argvBytes[0]
    if (script === undefined) return { kind: 'result', status: 0, signal: 0, exited: false }
    session.state ??= new ShellState(request.cwdBytes || '/', () => request.envBytes, request.umask)
    if (session.terminalRun !== undefined) {
      adoptTerminalRun(session.terminalRun, session.state)
      session.terminalRun = undefined
    }
    const state = session.state
    session.requests++
    // Interactive lines keep sh's state from one line to the next (and are numbered as sh -i would).
    const lineNumber = request.line > 0 ? request.line : session.requests
    const interactive = request.line > 0 || session.requests > 1
    const stdio = [-1, -1, -1]
    const roles = request.fdRoles
    for (let i = 0; i < roles.length && i < fds.length; i++) {
      const role = roles[i]!
      if (role <= rush.FdRole.Stderr && stdio[role] === -1) stdio[role] = fds[i]!
    }
    const commands = parseScript(script)
    const outcome = commands === undefined ? undefined : await runBuiltins(commands, session, stdio[1]!)
    if (outcome !== undefined) return outcome
    // A lone simple command naming a program: the client execs it in its own place, with the
    // argv and environment sh would give it (PATH searched here). The program then has all that
    // `sh -c` would have passed on: the caller's cwd, umask, limits, every fd (not only 0/1/2),
    // ignored signals, controlling terminal; no process in between, no exit notification to wait
    // for. Anything unusual (not found, not executable) goes to sh for its message.
    const direct = commands === undefined || interactive ? undefined : simpleCommand(commands, state)
    if (direct !== undefined) return { kind: 'runLocally', reason: '', exec: { program: direct.file, argv: direct.argv, env: direct.env } }
    // Everything else needs a real shell, and runs in the client: `rush` execs `/bin/sh` in its
    // own place with its own argv (`rush -c`), or forks it for an interactive line. The shell then
    // has the caller's whole process context by construction: every open fd with its number,
    // rlimits, ignored and blocked signals, nice value, its parent ($PPID) and its fate when the
    // caller is killed. It costs one round trip more than `sh -c`, and less than a shell the
    // daemon would start, wait for and report on.
    if (!interactive) return { kind: 'runLocally', reason: '' }
    // An interactive line runs in the session's state (directory, variables, umask, …), and what
    // it leaves behind is the next line's to adopt.
    const stateFile = path.join(session.stateDir, `state-${process.pid}-${++captures}`)
    session.terminalRun = stateFile
    return {
      kind: 'runLocally',
      reason: '',
      exec: { program: '/bin/sh', argv: ['sh', '-c', capturingScript(script, state, stateFile, lineNumber, true)], env: state.envList() },
    }
  } finally {
    for (const fd of fds) {
      try {
        closeFd(fd)
      } catch {
        // Not ours any more: nothing to release.
      }
    }
  }
}

/**
 * Runs the script in-process if it can; undefined when it needs a real shell. Output that cannot
 * be written at all (a full disk, a closed pipe, a bad fd) leaves the script to sh, which then
 * meets the same error with the caller's own signal dispositions and says what dash says: nothing
 * was written or committed yet.
 */
async function runBuiltins(commands: SimpleCommand[], session: RushSession, stdout: number): Promise<ExecOutcome | undefined> {
  const evaluation = evaluate(commands, session.state!)
  if (evaluation === undefined) return undefined
  if (evaluation.stdout.length > 0 && stdout < 0) return undefined // sh reports the closed fd itself
  // The evaluation ran on a copy of the session's state: adopting the copy commits its effects.
  const commit = (status: number, signal: number): ExecOutcome => {
    session.state = evaluation.state
    session.state.status = signal ? 128 + signal : status
    return { kind: 'result', status: signal ? 0 : status, signal, exited: evaluation.exited }
  }
  if (evaluation.stdout.length === 0) return commit(evaluation.status, 0)
  const { written, error } = await writeAll(stdout, Buffer.from(evaluation.stdout, 'latin1'))
  if (error === undefined) return commit(evaluation.status, 0)
  if (written === 0) return undefined
  // Part of the output is out: too late to hand over. A shell writing into a pipe nobody reads
  // dies of SIGPIPE; any other write error makes the builtin fail with status 1.
  return error.code === 'EPIPE' ? commit(0, os.constants.signals.SIGPIPE) : commit(1, 0)
}

// On the libuv threadpool, so a slow reader of the client's stdout never blocks the daemon.
async function writeAll(fd: number, bytes: Buffer): Promise<{ written: number; error?: NodeJS.ErrnoException }> {
  let offset = 0
  while (offset < bytes.length) {
    try {
      offset += (await write(fd, bytes, offset, bytes.length - offset)).bytesWritten
    } catch (error) {
      // The fd's open file description is shared with the user's terminal or pipe (SCM_RIGHTS
      // passes the description, not a copy), so its status flags are the user's too: if someone
      // set O_NONBLOCK on it, clearing it would change their shell's pipe. Wait and retry instead.
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return { written: offset, error: error as NodeJS.ErrnoException }
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
  }
  return { written: offset }
}

// dash's builtins and reserved words: a command by one of these names is not a program to exec.
const SHELL_WORDS = new Set([
  '.',
  ':',
  '[',
  'alias',
  'bg',
  'break',
  'cd',
  'chdir',
  'command',
  'continue',
  'echo',
  'eval',
  'exec',
  'exit',
  'export',
  'false',
  'fg',
  'getopts',
  'hash',
  'jobs',
  'kill',
  'local',
  'printf',
  'pwd',
  'read',
  'readonly',
  'return',
  'set',
  'shift',
  'test',
  'times',
  'trap',
  'true',
  'type',
  'ulimit',
  'umask',
  'unalias',
  'unset',
  'wait',
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'case',
  'esac',
  'while',
  'until',
  'for',
  'in',
  'function',
  'select',
])

/** The program and argv for a script that is one simple command naming an executable file. */
function simpleCommand(commands: SimpleCommand[], state: ShellState): { file: string; argv: string[]; env: string[] } | undefined {
  if (commands.length !== 1) return undefined
  const words = commands[0]!.words
  const name = words[0]
  if (name === undefined || name === '' || SHELL_WORDS.has(name) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(name)) return undefined
  const file = name.includes('/') ? path.resolve(state.cwd, name) : searchPath(name, state)
  if (file === undefined || !isExecutableFile(file) || !execsDirectly(file)) return undefined
  // A `#!` script gets the path it was exec'ed by as its $0: the name as written, like sh.
  const env = dashEnviron(state)
  if (env === undefined) return undefined
  return { file: name.includes('/') ? name : file, argv: words, env }
}

// dash's own variables: it sets or resets some at startup, and links them into its table first.
const DASH_VARINIT = ['IFS', 'MAIL', 'MAILPATH', 'PATH', 'PS1', 'PS2', 'PS4', 'OPTIND']

/**
 * The environment dash would give a command it execs: only valid names, $PWD as its start
 * directory, in dash's variable-table order (39 hash buckets by name; in a bucket its own
 * variables first, then the imported ones in environment order). `env` prints this order.
 * undefined when a variable dash treats specially is in the environment: sh's to handle.
 */
function dashEnviron(state: ShellState): string[] | undefined {
  const entries: { key: string; value: string; bucket: number; rank: number }[] = []
  const add = (key: string, value: string): void => {
    let hash = key.charCodeAt(0) << 4
    for (let i = 0; i < key.length; i++) hash += key.charCodeAt(i)
    const own = DASH_VARINIT.indexOf(key)
    entries.push({ key, value, bucket: hash % 39, rank: own >= 0 ? own - DASH_VARINIT.length : entries.length })
  }
  for (const [key, value] of state.env) {
    if (!isName(key)) continue // dash does not import it, so does not pass it on
    if (key !== 'PATH' && (DASH_VARINIT.includes(key) || key === 'LINENO')) return undefined
    add(key, key === 'PWD' ? state.cwd : value)
  }
  if (!state.env.has('PWD')) add('PWD', state.cwd)
  entries.sort((a, b) => a.bucket - b.bucket || a.rank - b.rank)
  return entries.map(({ key, value }) => `${key}=${value}`)
}

function searchPath(name: string, state: ShellState): string | undefined {
  const searchList = state.env.get('PATH') ?? state.vars.get('PATH')
  if (searchList === undefined) return undefined // dash's built-in default path: leave it to sh
  for (const dir of searchList.split(':')) {
    if (!dir.startsWith('/')) return undefined // sh would exec (and name) it relative: leave it to sh
    const candidate = path.resolve(state.cwd, dir === '' ? '.' : dir, name)
    if (isExecutableFile(candidate)) return candidate
  }
  return undefined
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(fsPath(file), fs.constants.X_OK)
    return fs.statSync(fsPath(file)).isFile()
  } catch {
    return false
  }
}

/** A binary or a `#!` script: what execve runs. Anything else (ENOEXEC) sh runs as a script itself. */
function execsDirectly(file: string): boolean {
  const head = Buffer.alloc(4)
  let fd = -1
  try {
    fd = fs.openSync(fsPath(file), 'r')
    const n = fs.readSync(fd, head, 0, 4, 0)
    return (n >= 2 && head[0] === 0x23 && head[1] === 0x21) || (n === 4 && head.toString('latin1') === '\x7fELF')
  } catch {
    return false
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
}
