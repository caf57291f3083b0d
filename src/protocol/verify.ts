/**
 * Schema-driven FlatBuffers verifier. The TypeScript FlatBuffers runtime reads a corrupted buffer as zeros,
 * nulls or garbage without any error (and can read past the payload into neighbouring bytes of
 * the transport's buffer), so every buffer that came from a peer goes through `verify` before an
 * accessor touches it. The checks follow the C++ `flatbuffers::Verifier`, a little stricter where
 * no conforming builder differs (union values must be present and of a known type, fields must
 * lie inside their table).
 *
 * Speed: descriptors are plain objects of many shapes (one per `kind`), and walking them on every
 * buffer made the verifier's property loads megamorphic (~200 ns for an 80-byte envelope). So each
 * `TableDescriptor` is compiled once, on first use, into a `CompiledTable` (one class, typed arrays
 * per field: id, kind, size, alignment) cached in a `WeakMap`, and the verifier walks only those,
 * with plain functions, no closures and no allocation on success. Descriptors are therefore
 * treated as immutable once used.
 */
import { malformed } from '../errors.js'
import { invalidArgType, invalidArgValue, optionalInteger } from '../validate.js'
import { scalarSize, tableOf, type ElementDescriptor, type RootDescriptor, type TableDescriptor, type TypeDescriptor } from './descriptor.js'

/** Limits that bound the verifier's work on hostile input. */
export interface VerifyOptions {
  /** Deepest table nesting accepted (root table is depth 1). Default 64. */
  readonly maxDepth?: number
  /** Most tables visited, counting shared ones each time. Default 100 000. */
  readonly maxTables?: number
}

const SIZE_MAX = 0x7fffffff
const DEFAULT_MAX_DEPTH = 64
const DEFAULT_MAX_TABLES = 100_000

// Field kinds of a compiled table.
const SCALAR = 0 // inline, `size` bytes aligned to min(size, 8)
const STRUCT = 1 // inline, `size` bytes aligned to `align`
const STRING = 2
const TABLE = 3
const UNION = 4
const VEC_INLINE = 5 // vector of scalars or structs: `elem` bytes per element
const VEC_STRING = 6
const VEC_TABLE = 7

/** A table descriptor flattened for the verifier. Every instance has the same shape. */
class CompiledTable {
  readonly name: string
  n = 0
  ids = new Int32Array(0)
  kinds = new Uint8Array(0)
  /** Inline size of the field in the table (4 for offsets). */
  sizes = new Int32Array(0)
  /** Alignment - 1 (alignments are powers of two). */
  alignMasks = new Int32Array(0)
  /** Element size, for vectors. */
  elems = new Int32Array(0)
  required = new Uint8Array(0)
  names: string[] = []
  /** For TABLE / VEC_TABLE fields, the table; else null. */
  tables: (CompiledTable | null)[] = []
  /** For UNION fields, the members by type value (null: unknown / NONE); else null. */
  unions: ((CompiledTable | null)[] | null)[] = []
  /** For vectors declared `nested_flatbuffer`, the nested root; else null. */
  nested: (CompiledRoot | null)[] = []
  constructor(name: string) {
    this.name = name
  }
}

/** A root descriptor flattened for the verifier. */
class CompiledRoot {
  constructor(
    readonly table: CompiledTable,
    /** The file identifier's 4 char codes, or null. */
    readonly ident: Int32Array | null,
    readonly identName: string,
  ) {}
}

const compiledTables = new WeakMap<TableDescriptor, CompiledTable>()
const compiledRoots = new WeakMap<RootDescriptor, CompiledRoot>()

function elementSize(e: ElementDescriptor): number {
  return e.kind === 'scalar' ? scalarSize[e.scalar] : e.kind === 'struct' ? e.struct.size : 4
}

function compileTable(desc: TableDescriptor): CompiledTable {
  let c = compiledTables.get(desc)
  if (c !== undefined) return c
  c = new CompiledTable(desc.name)
  // Cache before compiling the fields so recursive descriptors terminate.
  compiledTables.set(desc, c)
  const fields = desc.fields
  const n = fields.length
  const ids = new Int32Array(n)
  const kinds = new Uint8Array(n)
  const sizes = new Int32Array(n)
  const aligns = new Int32Array(n)
  const elems = new Int32Array(n)
  const required = new Uint8Array(n)
  const names: string[] = []
  const tables: (CompiledTable | null)[] = []
  const unions: ((CompiledTable | null)[] | null)[] = []
  const nested: (CompiledRoot | null)[] = []
  for (let i = 0; i < n; i++) {
    const f = fields[i]!
    const type: TypeDescriptor = f.type
    if (!Number.isInteger(f.id) || f.id < 0 || f.id > 0x7ffe || (type.kind === 'union' && f.id < 1)) {
      throw invalidArgValue(`descriptor ${desc.name}.${f.name}.id`, f.id, 'is a bad field id (an integer in 0..32766, from 1 for a union)', RangeError)
    }
    ids[i] = f.id
    required[i] = f.required === true ? 1 : 0
    names.push(f.name)
    let table: CompiledTable | null = null
    let union: (CompiledTable | null)[] | null = null
    let nest: CompiledRoot | null = null
    switch (type.kind) {
      case 'scalar':
        kinds[i] = SCALAR
        sizes[i] = scalarSize[type.scalar]
        aligns[i] = Math.min(sizes[i]!, 8)
        break
      case 'struct': {
        const align = type.struct.align
        if (!(align >= 1 && align <= 16 && (align & (align - 1)) === 0)) {
          throw invalidArgValue(`descriptor ${desc.name}.${f.name}.align`, align, 'must be a power of two (struct alignment)', RangeError)
        }
        kinds[i] = STRUCT
        sizes[i] = type.struct.size
        aligns[i] = align
        break
      }
      case 'string':
        kinds[i] = STRING
        break
      case 'table':
        kinds[i] = TABLE
        table = compileTable(tableOf(type.table))
        break
      case 'union':
        kinds[i] = UNION
        union = type.union.members.map((m, t) => (t === 0 || m === undefined ? null : compileTable(m)))
        break
      case 'vector': {
        const e = type.element
        if (e.kind === 'string') kinds[i] = VEC_STRING
        else if (e.kind === 'table') {
          kinds[i] = VEC_TABLE
          table = compileTable(tableOf(e.table))
        } else kinds[i] = VEC_INLINE
        elems[i] = elementSize(e)
        if (type.nested !== undefined) nest = compileRoot(type.nested)
        break
      }
    }
    if (kinds[i] !== SCALAR && kinds[i] !== STRUCT) {
      sizes[i] = 4
      aligns[i] = 4
    }
    tables.push(table)
    unions.push(union)
    nested.push(nest)
  }
  c.n = n
  c.ids = ids
  c.kinds = kinds
  c.sizes = sizes
  c.alignMasks = aligns.map((a) => a - 1)
  c.elems = elems
  c.required = required
  c.names = names
  c.tables = tables
  c.unions = unions
  c.nested = nested
  return c
}

function compileRoot(root: RootDescriptor): CompiledRoot {
  let c = compiledRoots.get(root)
  if (c !== undefined) return c
  const id = root.fileIdentifier
  let ident: Int32Array | null = null
  if (id !== undefined) {
    if (id.length !== 4) throw invalidArgValue('root.fileIdentifier', id, 'must be 4 characters', RangeError)
    ident = Int32Array.from([0, 1, 2, 3], (i) => id.charCodeAt(i))
  }
  c = new CompiledRoot(compileTable(tableOf(root.table)), ident, id ?? '')
  compiledRoots.set(root, c)
  return c
}

// Tables the verification in progress may still visit (verify is synchronous: one at a time).
let tablesLeft = 0

function u16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8)
}

function i32(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)
}

/** Follows the uoffset stored at `at` (already known to be inside its table); returns its target. */
function follow(b: Uint8Array, at: number, c: CompiledTable, i: number): number {
  if ((at & 3) !== 0) throw malformed(`${c.names[i]} misaligned at ${at}`)
  const o = i32(b, at) >>> 0
  if (o === 0 || o > SIZE_MAX) throw malformed(`bad offset ${o} to ${c.names[i]} at ${at}`)
  const target = at + o
  if (target >= b.length) throw malformed(`offset to ${c.names[i]} at ${at} points past the end`)
  return target
}

function verifyString(b: Uint8Array, s: number, c: CompiledTable, i: number): void {
  if (s + 4 > b.length) throw malformed(`${c.names[i]} out of bounds at ${s}`)
  if ((s & 3) !== 0) throw malformed(`${c.names[i]} misaligned at ${s}`)
  const end = s + 4 + (i32(b, s) >>> 0)
  if (end + 1 > b.length) throw malformed(`${c.names[i]} runs past the end`)
  if (b[end] !== 0) throw malformed(`${c.names[i]} is not NUL-terminated`)
}

/**
 * Verifies the `count` strings whose offsets start at `at` (inside a vector already verified):
 * the checks of follow() and verifyString() in one loop, which an environment of dozens of
 * entries runs through on every request. On the first failure, those two find and report it.
 */
function verifyStrings(b: Uint8Array, at: number, count: number, c: CompiledTable, i: number): void {
  const len = b.length
  for (const last = at + 4 * count; at < last; at += 4) {
    const o = i32(b, at) >>> 0
    const s = at + o
    // s < len <= SIZE_MAX: `s & 3` and the length below are exact.
    if (o !== 0 && s + 4 <= len && (s & 3) === 0) {
      const end = s + 4 + (i32(b, s) >>> 0)
      if (end < len && b[end] === 0) continue
    }
    verifyString(b, follow(b, at, c, i), c, i)
  }
}

/** Verifies the vector at `v`; returns the number of elements. */
function verifyVector(b: Uint8Array, v: number, elem: number, c: CompiledTable, i: number): number {
  if (v + 4 > b.length) throw malformed(`${c.names[i]} out of bounds at ${v}`)
  if ((v & 3) !== 0) throw malformed(`${c.names[i]} misaligned at ${v}`)
  const n = i32(b, v) >>> 0
  if (v + 4 + n * elem > b.length) throw malformed(`${c.names[i]} (${n} elements) runs past the end`)
  return n
}

function verifyTable(b: Uint8Array, t: number, c: CompiledTable, depth: number, maxDepth: number): void {
  if (depth > maxDepth) throw malformed(`nesting deeper than ${maxDepth}`)
  if (--tablesLeft < 0) throw malformed(`more than ${tableBudget} tables`)
  const len = b.length
  if (t + 4 > len) throw malformed(`${c.name} out of bounds at ${t}`)
  if ((t & 3) !== 0) throw malformed(`${c.name} misaligned at ${t}`)
  const vt = t - i32(b, t)
  if (vt < 0 || vt + 4 > len) throw malformed(`${c.name} out of bounds at ${vt}`)
  if ((vt & 1) !== 0) throw malformed(`${c.name} misaligned at ${vt}`)
  const vtSize = u16(b, vt)
  const tableSize = u16(b, vt + 2)
  if (vtSize < 4 || (vtSize & 1) !== 0) throw malformed(`bad vtable size ${vtSize} in ${c.name}`)
  if (vt + vtSize > len) throw malformed(`${c.name} out of bounds at ${vt}`)
  if (tableSize < 4) throw malformed(`bad table size ${tableSize} in ${c.name}`)
  if (t + tableSize > len) throw malformed(`${c.name} out of bounds at ${t}`)
  const n = c.n
  const ids = c.ids
  const kinds = c.kinds
  const sizes = c.sizes
  const alignMasks = c.alignMasks
  for (let i = 0; i < n; i++) {
    const kind = kinds[i]!
    const entry = 4 + 2 * ids[i]!
    const off = entry + 2 <= vtSize ? u16(b, vt + entry) : 0
    if (off !== 0) {
      if (off < 4 || off + sizes[i]! > tableSize) throw malformed(`${c.names[i]} outside its table`)
      if (((t + off) & alignMasks[i]!) !== 0) throw malformed(`${c.names[i]} misaligned at ${t + off}`)
    }
    if (kind === UNION) {
      // The hidden type byte is the field before the value.
      const typeEntry = entry - 2
      const typeOff = typeEntry + 2 <= vtSize ? u16(b, vt + typeEntry) : 0
      if (typeOff !== 0 && (typeOff < 4 || typeOff + 1 > tableSize)) throw malformed(`${c.names[i]} outside its table`)
      const tag = typeOff === 0 ? 0 : b[t + typeOff]!
      if (tag === 0) {
        if (c.required[i] !== 0) throw malformed(`${c.names[i]} is required`)
        continue
      }
      const member = c.unions[i]![tag]
      if (member === undefined || member === null) throw malformed(`${c.names[i]} has unknown type ${tag}`)
      if (off === 0) throw malformed(`${c.names[i]} of type ${tag} has no value`)
      verifyTable(b, follow(b, t + off, c, i), member, depth + 1, maxDepth)
      continue
    }
    if (off === 0) {
      if (c.required[i] !== 0) throw malformed(`${c.names[i]} is required`)
      continue
    }
    switch (kind) {
      case SCALAR:
      case STRUCT:
        break
      case STRING:
        verifyString(b, follow(b, t + off, c, i), c, i)
        break
      case TABLE:
        verifyTable(b, follow(b, t + off, c, i), c.tables[i]!, depth + 1, maxDepth)
        break
      case VEC_INLINE: {
        const v = follow(b, t + off, c, i)
        const elem = c.elems[i]!
        const count = verifyVector(b, v, elem, c, i)
        const nested = c.nested[i]!
        if (nested !== null) verifyRoot(b.subarray(v + 4, v + 4 + count * elem), nested, depth + 1, maxDepth)
        break
      }
      case VEC_STRING: {
        const v = follow(b, t + off, c, i)
        verifyStrings(b, v + 4, verifyVector(b, v, 4, c, i), c, i)
        break
      }
      case VEC_TABLE: {
        const v = follow(b, t + off, c, i)
        const count = verifyVector(b, v, 4, c, i)
        const sub = c.tables[i]!
        for (let k = 0; k < count; k++) verifyTable(b, follow(b, v + 4 + 4 * k, c, i), sub, depth + 1, maxDepth)
        break
      }
    }
  }
}

/** The table limit of the verification in progress, for the error message. */
let tableBudget = 0

/** Verifies a root (the buffer's, or a nested FlatBuffer's) whose table is at nesting `depth`. */
function verifyRoot(b: Uint8Array, root: CompiledRoot, depth: number, maxDepth: number): void {
  const len = b.length
  if (len > SIZE_MAX) throw malformed('buffer too large')
  const ident = root.ident
  if (ident !== null) {
    if (len < 8) throw malformed(`buffer too short (${len} bytes)`)
    if (b[4] !== ident[0] || b[5] !== ident[1] || b[6] !== ident[2] || b[7] !== ident[3]) {
      throw malformed(`file identifier is not "${root.identName}"`)
    }
  } else if (len < 4) {
    throw malformed(`buffer too short (${len} bytes)`)
  }
  const o = i32(b, 0) >>> 0
  if (o === 0 || o > SIZE_MAX) throw malformed(`bad offset ${o} to root table at 0`)
  if (o >= len) throw malformed('offset to root table at 0 points past the end')
  verifyTable(b, o, root.table, depth, maxDepth)
}

/**
 * Verifies that `buffer` holds a well-formed FlatBuffer whose root is `root`: every offset,
 * vtable, string and vector in bounds and aligned, strings NUL-terminated, union types known,
 * nesting and table count bounded. Fields the descriptor does not list are not checked (and
 * must not be read). Works on any `Uint8Array` view without copying. Descriptors are compiled on
 * first use and cached: do not modify a descriptor after using it.
 *
 * @throws FdwireError `ERR_FDWIRE_MALFORMED` with the reason, on the first problem found.
 */
export function verify(buffer: Uint8Array, root: RootDescriptor, options?: VerifyOptions): void {
  verifyCompiled(buffer, compileRoot(root), options)
}

/** A descriptor compiled for the verifier (internal: lets hot paths skip the cache lookup). */
export type { CompiledRoot }
export { compileRoot }

/** `verify` with a root compiled beforehand by `compileRoot`. */
export function verifyCompiled(buffer: Uint8Array, root: CompiledRoot, options?: VerifyOptions): void {
  if (!(buffer instanceof Uint8Array)) throw invalidArgType('buffer', 'an instance of Uint8Array', buffer)
  let maxDepth = DEFAULT_MAX_DEPTH
  let maxTables = DEFAULT_MAX_TABLES
  if (options !== undefined) {
    maxDepth = optionalInteger('options.maxDepth', options.maxDepth, 1, 0x7fffffff, DEFAULT_MAX_DEPTH)
    maxTables = optionalInteger('options.maxTables', options.maxTables, 1, 0x7fffffff, DEFAULT_MAX_TABLES)
  }
  tableBudget = maxTables
  tablesLeft = maxTables
  verifyRoot(buffer, root, 1, maxDepth)
}
