/**
 * Rush's messages (schemas/rush_*.fbs), encoded and read the way a daemon author handles their own
 * messages: each is a root table with its own file_identifier, carried as the body of an fdwire
 * Request ("rush.exec") or Response.
 *
 * Encoders return a view into a shared builder, overwritten by the next rush encode: pass it
 * straight to `Encoder.request`/`response` (which copy it) or copy it.
 */
import * as flatbuffers from 'flatbuffers'
import { FdwireError, protocol } from 'fdwire'
import { FdRole } from './generated/rush_common_generated.js'
import { ExecRequest } from './generated/rush_exec_generated.js'
import { RunLocally } from './generated/rush_run_locally_generated.js'
import { RushRoots } from './descriptors.js'

const { compileRoot, verify, verifyCompiled } = protocol
const { asBuffer, bytesAt, deref, field, i32, rootTable, stringAt, stringsAt, u32, utf8, Out, header, pad, vtable2, w16, w32 } = protocol.flat
type StringCache = InstanceType<typeof protocol.StringCache>

function malformed(reason: string): FdwireError {
  return new FdwireError('ERR_FDWIRE_MALFORMED', `malformed message: ${reason}`)
}

/** A field value the schema cannot hold is a bug in the caller: refused before anything is written. */
function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer in ${min}..${max}, not ${value}`)
  return value
}

/** A string field's value: text (encoded as UTF-8, or as one byte per char: `StringEncoding`) or its bytes. */
export type Bytes = string | Uint8Array

const isBytes = (s: unknown): s is Bytes => typeof s === 'string' || s instanceof Uint8Array

function checkArgv(name: string, argv: readonly Bytes[]): void {
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every(isBytes)) throw new TypeError(`${name} must be a non-empty array of strings or Uint8Arrays`)
}

/**
 * How a string field's bytes and a JavaScript string map to each other. `'utf8'`: text (a byte
 * sequence that is not UTF-8 reads as U+FFFD). `'latin1'`: a byte string, one char (U+0000..U+00FF)
 * per byte, so any bytes read and write back unchanged: what rushd works on, as sh works on bytes.
 */
export type StringEncoding = 'utf8' | 'latin1'

/** The bytes of `s` in `encoding` (bytes given as such are taken as they are). */
function bytesOf(s: Bytes, encoding: StringEncoding): Uint8Array {
  return typeof s !== 'string' ? s : encoding === 'utf8' ? utf8(s) : Buffer.from(s, 'latin1')
}

/** The string whose offset is stored at `at`, as a byte string (one char per byte). */
function byteStringAt(b: Buffer, at: number): string {
  const s = deref(b, at)
  return b.toString('latin1', s + 4, s + 4 + u32(b, s))
}

/** Every string of the vector whose offset is stored at `at`, decoded as `encoding`. */
function stringsIn(b: Buffer, at: number, encoding: StringEncoding): string[] {
  if (encoding === 'utf8') return stringsAt(b, at)
  const v = deref(b, at)
  const n = u32(b, v)
  const out = new Array<string>(n)
  for (let i = 0; i < n; i++) out[i] = byteStringAt(b, v + 4 + 4 * i)
  return out
}

export { FdRole }

/** Rush's method names. */
export const RushMethod = { exec: 'rush.exec' } as const

/** What the thin client asks the daemon to run. */
export interface ExecRequestInit {
  /** Strings are written as UTF-8; bytes (a caller's argument that is not UTF-8) as they are. */
  readonly argv: readonly Bytes[]
  readonly cwd: Bytes
  /** `KEY=VALUE` entries (strings or bytes), or an object (entries with `undefined` values are skipped). */
  readonly env: readonly Bytes[] | Readonly<Record<string, string | undefined>>
  /** Defaults to 0o022. */
  readonly umask?: number
  /** One role per fd sent with the message, in order. */
  readonly fdRoles?: readonly FdRole[]
  /** Interactive session: this input line's number in the session (1-based). Default 0: `rush -c`. */
  readonly line?: number
}

const builder = new flatbuffers.Builder(4096)

function start(): flatbuffers.Builder {
  builder.clear()
  return builder
}

function finish(root: flatbuffers.Offset, identifier: string): Uint8Array {
  builder.finish(root, identifier)
  return builder.asUint8Array()
}

function stringVector(b: flatbuffers.Builder, items: readonly Bytes[], cache: StringCache | undefined, encoding: StringEncoding = 'utf8'): flatbuffers.Offset {
  const offsets = new Array<flatbuffers.Offset>(items.length)
  for (let i = 0; i < items.length; i++) {
    const s = items[i]!
    offsets[i] = b.createString(cache === undefined || typeof s !== 'string' ? bytesOf(s, encoding) : cache.get(s))
  }
  b.startVector(4, offsets.length, 4)
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!)
  return b.endVector()
}

function envEntries(env: ExecRequestInit['env']): readonly Bytes[] {
  if (Array.isArray(env)) return env as readonly Bytes[]
  const out: string[] = []
  for (const [k, v] of Object.entries(env as Readonly<Record<string, string | undefined>>)) {
    if (v !== undefined) out.push(`${k}=${v}`)
  }
  return out
}

/**
 * Encodes a rush ExecRequest body. Pass a `StringCache` kept for the session so repeated env
 * entries (and cwd) are encoded once and copied afterwards.
 */
export function encodeExecRequest(init: ExecRequestInit, cache?: StringCache): Uint8Array {
  checkArgv('init.argv', init.argv)
  if (!isBytes(init.cwd)) throw new TypeError('init.cwd must be a string or a Uint8Array')
  const umask = checkRange('init.umask', init.umask ?? 0o022, 0, 0o7777)
  const line = checkRange('init.line', init.line ?? 0, 0, 0xffffffff)
  const b = start()
  const argv = stringVector(b, init.argv, undefined)
  const cwd = b.createString(cache === undefined || typeof init.cwd !== 'string' ? utf8(init.cwd) : cache.get(init.cwd))
  const env = stringVector(b, envEntries(init.env), cache)
  const roles = init.fdRoles === undefined ? 0 : b.createByteVector(Uint8Array.from(init.fdRoles))
  ExecRequest.startExecRequest(b)
  ExecRequest.addArgv(b, argv)
  ExecRequest.addCwd(b, cwd)
  ExecRequest.addEnv(b, env)
  ExecRequest.addUmask(b, umask)
  if (roles !== 0) ExecRequest.addFdRoles(b, roles)
  if (line !== 0) ExecRequest.addLine(b, line)
  return finish(ExecRequest.endExecRequest(b), RushRoots.execRequest.fileIdentifier)
}

/**
 * A verified ExecRequest, read in place; each getter decodes on access. argv, cwd and env are
 * bytes on the wire (a caller's file names and environment need not be UTF-8). The string getters
 * decode them as UTF-8, where a byte sequence that is not UTF-8 reads as U+FFFD; the `…Bytes`
 * getters give byte strings (one char per byte, `StringEncoding` `'latin1'`), which lose nothing.
 * Field 4 (`stdin_mode`) is deprecated: verified like any field, never read.
 */
export class ExecRequestView {
  private readonly b: Buffer
  private readonly t: number
  /** Verifies `body` (throws `ERR_FDWIRE_MALFORMED`) and wraps it without copying. */
  constructor(body: Uint8Array) {
    verify(body, RushRoots.execRequest)
    this.b = asBuffer(body)
    this.t = rootTable(this.b)
  }
  get argv(): string[] {
    return this.strings(0, 'utf8')
  }
  get cwd(): string {
    const at = field(this.b, this.t, 1)
    return at === 0 ? '' : stringAt(this.b, at)
  }
  /** `KEY=VALUE` entries. */
  get env(): string[] {
    return this.strings(2, 'utf8')
  }
  /** argv as byte strings. */
  get argvBytes(): string[] {
    return this.strings(0, 'latin1')
  }
  /** cwd as a byte string. */
  get cwdBytes(): string {
    const at = field(this.b, this.t, 1)
    return at === 0 ? '' : byteStringAt(this.b, at)
  }
  /** env as byte strings. */
  get envBytes(): string[] {
    return this.strings(2, 'latin1')
  }
  private strings(slot: number, encoding: StringEncoding): string[] {
    const at = field(this.b, this.t, slot)
    return at === 0 ? [] : stringsIn(this.b, at, encoding)
  }
  get umask(): number {
    const at = field(this.b, this.t, 3)
    return at === 0 ? 0o022 : u32(this.b, at)
  }
  /** Roles of the fds sent with the message, as a view (values are `FdRole`s). */
  get fdRoles(): Uint8Array {
    const at = field(this.b, this.t, 5)
    return at === 0 ? new Uint8Array(0) : bytesAt(this.b, at)
  }
  /** Interactive session: this input line's number (1-based); 0: not interactive (`rush -c`). */
  get line(): number {
    const at = field(this.b, this.t, 6)
    return at === 0 ? 0 : u32(this.b, at)
  }
}

/** Verifies and wraps an ExecRequest body. */
export function readExecRequest(body: Uint8Array): ExecRequestView {
  return new ExecRequestView(body)
}

/**
 * A program the client execs itself, resolved by the daemon (see schemas/rush_run_locally.fbs).
 * Its strings are text or byte strings, as the `StringEncoding` of the encoder or reader says.
 */
export interface LocalProgram {
  /** The file to execve. */
  readonly program: string
  /** Its argv, argv[0] included. */
  readonly argv: readonly string[]
  /** Its whole environment, `KEY=VALUE` entries. */
  readonly env: readonly string[]
}

/** How the command ended, or what the client must run itself (`/bin/sh -c`, or `exec` a program). */
export type ExecReply =
  | { readonly kind: 'result'; readonly status: number; readonly signal: number; readonly ended: boolean }
  | { readonly kind: 'runLocally'; readonly reason: string; readonly exec?: LocalProgram }

// Fixed-size bodies are written directly (see writer.ts): cheaper than a Builder round.
const fixed = new Out(64)
const RESULT = compileRoot(RushRoots.result)
const RUN_LOCALLY = compileRoot(RushRoots.runLocally)
/** The second byte of each reply's file identifier (body[5]: the identifier starts at 4), which tells them apart. */
const RESULT_TAG = RushRoots.result.fileIdentifier.charCodeAt(1)
const RUN_LOCALLY_TAG = RushRoots.runLocally.fileIdentifier.charCodeAt(1)

/**
 * Encodes a Result body (exit status, or the number of the signal that killed the command).
 * `ended`: the command ended the session, and the connection ends right behind this reply.
 */
export function encodeResult(status: number, signal = 0, ended = false): Uint8Array {
  checkRange('status', status, -0x80000000, 0x7fffffff)
  checkRange('signal', signal, -0x80000000, 0x7fffffff)
  const b = fixed.bytes
  if (!ended) {
    // root -> table at 16; vtable at 8: size 8, table size 12, status at 4, signal at 8.
    header(b, 16, RushRoots.result.fileIdentifier)
    const t = vtable2(b, 8, 12, 4, 8)
    w32(b, t + 4, status)
    w32(b, t + 8, signal)
    return b.subarray(0, t + 12)
  }
  // root -> table at 20; vtable at 8: size 10, table size 13, status at 4, signal at 8, ended at
  // 12; two bytes of padding before the table, three after it.
  header(b, 20, RushRoots.result.fileIdentifier)
  w16(b, 8, 10)
  w16(b, 10, 13)
  w16(b, 12, 4)
  w16(b, 14, 8)
  w16(b, 16, 12)
  pad(b, 18, 20)
  w32(b, 20, 12)
  w32(b, 24, status)
  w32(b, 28, signal)
  b[32] = 1
  pad(b, 33, 36)
  return b.subarray(0, 36)
}

/**
 * Encodes a RunLocally body: the client must run the command itself, with `/bin/sh -c` or, given
 * `exec`, by exec'ing that program directly. `encoding` is how exec's strings become bytes:
 * `'latin1'` for byte strings (rushd's: what it read from a request or from sh, byte for byte).
 */
export function encodeRunLocally(reason = '', exec?: LocalProgram, encoding: StringEncoding = 'utf8'): Uint8Array {
  const b = start()
  const r = reason === '' ? 0 : b.createString(utf8(reason))
  if (exec === undefined) return finish(RunLocally.createRunLocally(b, r, 0, 0, 0), RushRoots.runLocally.fileIdentifier)
  if (typeof exec.program !== 'string' || exec.program === '') throw new TypeError('exec.program must be a non-empty string')
  checkArgv('exec.argv', exec.argv)
  const program = b.createString(bytesOf(exec.program, encoding))
  const argv = stringVector(b, exec.argv, undefined, encoding)
  const env = stringVector(b, exec.env, undefined, encoding)
  return finish(RunLocally.createRunLocally(b, r, program, argv, env), RushRoots.runLocally.fileIdentifier)
}

/**
 * Reads the body of the Response to "rush.exec": a Result or a RunLocally, told apart by file
 * identifier. `encoding`: how a program's strings are decoded (`'latin1'`: byte strings).
 */
export function readExecReply(body: Uint8Array, encoding: StringEncoding = 'utf8'): ExecReply {
  // Told apart by the identifier's second byte ("RRES" / "RLOC"); verify then checks all four.
  const tag = body.length >= 8 ? body[5] : 0
  if (tag === RESULT_TAG) {
    verifyCompiled(body, RESULT)
    const t = rootTable(body)
    const s = field(body, t, 0)
    const sig = field(body, t, 1)
    const ended = field(body, t, 2)
    return { kind: 'result', status: s === 0 ? 0 : i32(body, s), signal: sig === 0 ? 0 : i32(body, sig), ended: ended !== 0 && body[ended] !== 0 }
  }
  if (tag === RUN_LOCALLY_TAG) {
    verifyCompiled(body, RUN_LOCALLY)
    const b = asBuffer(body)
    const t = rootTable(b)
    const r = field(b, t, 0)
    const reason = r === 0 ? '' : stringAt(b, r)
    const program = field(b, t, 1)
    if (program === 0) return { kind: 'runLocally', reason }
    const argv = field(b, t, 2)
    const env = field(b, t, 3)
    const exec = {
      program: encoding === 'utf8' ? stringAt(b, program) : byteStringAt(b, program),
      argv: argv === 0 ? [] : stringsIn(b, argv, encoding),
      env: env === 0 ? [] : stringsIn(b, env, encoding),
    }
    return { kind: 'runLocally', reason, exec }
  }
  throw malformed('rush exec reply is neither a Result nor a RunLocally')
}
