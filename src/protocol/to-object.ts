/**
 * Descriptor-driven decoding of a whole FlatBuffer into plain objects, in flatc's JSON shape
 * (snake_case field names, `<union>_type` fields, absent fields left out). For debugging, logging
 * and tests; it materialises everything, so routing code should use the lazy views instead.
 */
import { scalarSize, tableOf, type ElementDescriptor, type RootDescriptor, type TableDescriptor } from './descriptor.js'
import { asBuffer, deref, field, rootTable, stringAt } from './table-reader.js'
import { verify } from './verify.js'

/** A decoded value. 64-bit integers are `bigint`s. */
export type Decoded = number | bigint | boolean | string | Decoded[] | { [field: string]: Decoded }

function scalar(b: Buffer, at: number, kind: ElementDescriptor & { kind: 'scalar' }): number | bigint | boolean {
  switch (kind.scalar) {
    case 'bool':
      return b[at] !== 0
    case 'byte':
      return b.readInt8(at)
    case 'ubyte':
      return b.readUInt8(at)
    case 'short':
      return b.readInt16LE(at)
    case 'ushort':
      return b.readUInt16LE(at)
    case 'int':
      return b.readInt32LE(at)
    case 'uint':
      return b.readUInt32LE(at)
    case 'long':
      return b.readBigInt64LE(at)
    case 'ulong':
      return b.readBigUInt64LE(at)
    case 'float':
      return b.readFloatLE(at)
    case 'double':
      return b.readDoubleLE(at)
  }
}

function element(b: Buffer, at: number, type: ElementDescriptor): Decoded {
  switch (type.kind) {
    case 'scalar':
      return scalar(b, at, type)
    case 'string':
      return stringAt(b, at)
    case 'struct':
      // Structs are opaque to descriptors: return their bytes as numbers.
      return Array.from(b.subarray(at, at + type.struct.size))
    case 'table':
      return table(b, deref(b, at), tableOf(type.table))
  }
}

function table(b: Buffer, t: number, desc: TableDescriptor): { [field: string]: Decoded } {
  const out: { [field: string]: Decoded } = {}
  for (const f of desc.fields) {
    const type = f.type
    if (type.kind === 'union') {
      const typeAt = field(b, t, f.id - 1)
      const tag = typeAt === 0 ? 0 : b[typeAt]!
      const member = type.union.members[tag]
      if (member === undefined) continue
      out[`${f.name}_type`] = member.name
      out[f.name] = table(b, deref(b, field(b, t, f.id)), member)
      continue
    }
    const at = field(b, t, f.id)
    if (at === 0) continue
    if (type.kind === 'vector') {
      const v = deref(b, at)
      const n = b.readUInt32LE(v)
      const el = type.element
      const size = el.kind === 'scalar' ? scalarSize[el.scalar] : el.kind === 'struct' ? el.struct.size : 4
      const items: Decoded[] = []
      for (let i = 0; i < n; i++) items.push(element(b, v + 4 + i * size, el))
      out[f.name] = items
    } else {
      out[f.name] = element(b, at, type)
    }
  }
  return out
}

/**
 * Verifies `buffer` against `root` and decodes every described field.
 *
 * @throws FdwireError `ERR_FDWIRE_MALFORMED` when verification fails.
 */
export function toObject(buffer: Uint8Array, root: RootDescriptor): { [field: string]: Decoded } {
  verify(buffer, root)
  const b = asBuffer(buffer)
  return table(b, rootTable(b), tableOf(root.table))
}
