/**
 * Schema-driven FlatBuffers verifier. The TypeScript runtime reads a corrupted buffer as zeros,
 * nulls or garbage without any error (and can read past the payload into neighbouring bytes of
 * the transport's buffer), so every buffer that came from a peer goes through `verify` before an
 * accessor touches it. The checks follow the C++ `flatbuffers::Verifier`, a little stricter where
 * no conforming builder differs (union values must be present and of a known type, fields must
 * lie inside their table).
 */
import { malformed } from '../errors.js'
import {
  scalarSize,
  tableOf,
  type ElementDescriptor,
  type FieldDescriptor,
  type RootDescriptor,
  type TableDescriptor,
} from './descriptor.js'

/** Limits that bound the verifier's work on hostile input. */
export interface VerifyOptions {
  /** Deepest table nesting accepted (root table is depth 1). Default 64. */
  readonly maxDepth?: number
  /** Most tables visited, counting shared ones each time. Default 100 000. */
  readonly maxTables?: number
}

const SIZE_MAX = 0x7fffffff

/** What is being checked; its name is only formatted into a message on failure (hot path). */
interface Named {
  readonly name: string
}
const ROOT: Named = { name: 'root table' }

/** Verification state for one buffer. */
class Verifier {
  private tables = 0
  constructor(
    private readonly buf: Uint8Array,
    private readonly maxDepth: number,
    private readonly maxTables: number,
  ) {}

  private u16(at: number): number {
    const b = this.buf
    return (b[at]! | (b[at + 1]! << 8)) >>> 0
  }

  private u32(at: number): number {
    const b = this.buf
    return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
  }

  /** Checks that `size` bytes at `at` are inside the buffer and `align`-aligned. */
  private check(at: number, size: number, align: number, what: Named): void {
    if (at < 0 || at + size > this.buf.length) throw malformed(`${what.name} out of bounds at ${at}`)
    if (at % align !== 0) throw malformed(`${what.name} misaligned at ${at}`)
  }

  /** Follows the uoffset stored at `at`; returns the absolute position it points to. */
  private follow(at: number, what: Named): number {
    this.check(at, 4, 4, what)
    const o = this.u32(at)
    if (o === 0 || o > SIZE_MAX) throw malformed(`bad offset ${o} to ${what.name} at ${at}`)
    const target = at + o
    if (target >= this.buf.length) throw malformed(`offset to ${what.name} at ${at} points past the end`)
    return target
  }

  root(root: RootDescriptor): void {
    const buf = this.buf
    if (buf.length > SIZE_MAX) throw malformed('buffer too large')
    const id = root.fileIdentifier
    if (id !== undefined) {
      if (buf.length < 8) throw malformed(`buffer too short (${buf.length} bytes)`)
      for (let i = 0; i < 4; i++) {
        if (buf[4 + i] !== id.charCodeAt(i)) throw malformed(`file identifier is not "${id}"`)
      }
    } else if (buf.length < 4) {
      throw malformed(`buffer too short (${buf.length} bytes)`)
    }
    this.table(this.follow(0, ROOT), tableOf(root.table), 1)
  }

  private table(t: number, desc: TableDescriptor, depth: number): void {
    if (depth > this.maxDepth) throw malformed(`nesting deeper than ${this.maxDepth}`)
    if (++this.tables > this.maxTables) throw malformed(`more than ${this.maxTables} tables`)
    const name = desc.name
    this.check(t, 4, 4, desc)
    const vt = t - (this.u32(t) | 0)
    this.check(vt, 4, 2, desc)
    const vtSize = this.u16(vt)
    const tableSize = this.u16(vt + 2)
    if (vtSize < 4 || vtSize % 2 !== 0) throw malformed(`bad vtable size ${vtSize} in ${name}`)
    this.check(vt, vtSize, 2, desc)
    if (tableSize < 4) throw malformed(`bad table size ${tableSize} in ${name}`)
    this.check(t, tableSize, 4, desc)
    const fields = desc.fields
    for (let i = 0; i < fields.length; i++) this.field(t, vt, vtSize, tableSize, desc, fields[i]!, depth)
  }

  /** Position of field `id` in table `t`, or 0 when absent. */
  private slot(t: number, vt: number, vtSize: number, tableSize: number, id: number, size: number, what: Named): number {
    const entry = 4 + 2 * id
    if (entry + 2 > vtSize) return 0
    const off = this.u16(vt + entry)
    if (off === 0) return 0
    if (off < 4 || off + size > tableSize) throw malformed(`${what.name} outside its table`)
    const at = t + off
    if (at % Math.min(size, 8) !== 0) throw malformed(`${what.name} misaligned at ${at}`)
    return at
  }

  private field(
    t: number,
    vt: number,
    vtSize: number,
    tableSize: number,
    desc: TableDescriptor,
    field: FieldDescriptor,
    depth: number,
  ): void {
    const what: Named = field
    void desc
    const type = field.type
    let size: number
    switch (type.kind) {
      case 'scalar':
        size = scalarSize[type.scalar]
        break
      case 'struct':
        size = type.struct.size
        break
      default:
        size = 4
    }
    if (type.kind === 'struct') {
      // Structs align to their own alignment, not their size.
      const entry = 4 + 2 * field.id
      const off = entry + 2 <= vtSize ? this.u16(vt + entry) : 0
      if (off === 0) {
        if (field.required) throw malformed(`${what.name} is required`)
        return
      }
      if (off < 4 || off + size > tableSize) throw malformed(`${what.name} outside its table`)
      this.check(t + off, size, type.struct.align, what)
      return
    }
    const at = this.slot(t, vt, vtSize, tableSize, field.id, size, what)
    if (type.kind === 'union') {
      const typeAt = this.slot(t, vt, vtSize, tableSize, field.id - 1, 1, what)
      const tag = typeAt === 0 ? 0 : this.buf[typeAt]!
      if (tag === 0) {
        if (field.required) throw malformed(`${what.name} is required`)
        return
      }
      const member = type.union.members[tag]
      if (member === undefined) throw malformed(`${what.name} has unknown type ${tag}`)
      if (at === 0) throw malformed(`${what.name} of type ${tag} has no value`)
      this.table(this.follow(at, what), member, depth + 1)
      return
    }
    if (at === 0) {
      if (field.required) throw malformed(`${what.name} is required`)
      return
    }
    switch (type.kind) {
      case 'scalar':
        return
      case 'vector': {
        const v = this.vector(this.follow(at, what), type.element, what, depth)
        if (type.nested !== undefined) {
          const sub = new Verifier(this.buf.subarray(v.start, v.start + v.length), this.maxDepth - depth, this.maxTables - this.tables)
          sub.root(type.nested)
          this.tables += sub.tables
        }
        return
      }
      default:
        this.element(at, type, what, depth)
    }
  }

  /** Verifies the offset-typed value (string or table) stored at `at`. */
  private element(at: number, type: ElementDescriptor, what: Named, depth: number): void {
    if (type.kind === 'string') this.string(this.follow(at, what), what)
    else if (type.kind === 'table') this.table(this.follow(at, what), tableOf(type.table), depth + 1)
  }

  private string(s: number, what: Named): void {
    this.check(s, 4, 4, what)
    const len = this.u32(s)
    const end = s + 4 + len
    if (end + 1 > this.buf.length) throw malformed(`${what.name} runs past the end`)
    if (this.buf[end] !== 0) throw malformed(`${what.name} is not NUL-terminated`)
  }

  /** Verifies a vector at `v`; returns where its elements start and how many bytes they take. */
  private vector(v: number, element: ElementDescriptor, what: Named, depth: number): { start: number; length: number } {
    this.check(v, 4, 4, what)
    const n = this.u32(v)
    let elemSize: number
    switch (element.kind) {
      case 'scalar':
        elemSize = scalarSize[element.scalar]
        break
      case 'struct':
        elemSize = element.struct.size
        break
      default:
        elemSize = 4
    }
    const start = v + 4
    const length = n * elemSize
    if (start + length > this.buf.length) throw malformed(`${what.name} (${n} elements) runs past the end`)
    if (element.kind === 'string' || element.kind === 'table') {
      for (let i = 0; i < n; i++) this.element(start + 4 * i, element, what, depth)
    }
    return { start, length }
  }
}

/**
 * Verifies that `buffer` holds a well-formed FlatBuffer whose root is `root`: every offset,
 * vtable, string and vector in bounds and aligned, strings NUL-terminated, union types known,
 * nesting and table count bounded. Fields the descriptor does not list are not checked (and
 * must not be read). Works on any `Uint8Array` view without copying.
 *
 * @throws FdwireError `ERR_FDWIRE_MALFORMED` with the reason, on the first problem found.
 */
export function verify(buffer: Uint8Array, root: RootDescriptor, options: VerifyOptions = {}): void {
  if (!(buffer instanceof Uint8Array)) throw new TypeError('buffer must be a Uint8Array')
  const maxDepth = options.maxDepth ?? 64
  const maxTables = options.maxTables ?? 100_000
  if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new RangeError('options.maxDepth must be a positive integer')
  if (!Number.isInteger(maxTables) || maxTables < 1) throw new RangeError('options.maxTables must be a positive integer')
  new Verifier(buffer, maxDepth, maxTables).root(root)
}
