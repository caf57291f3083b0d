/**
 * A small, schema-driven description of FlatBuffers tables, used by the verifier (`verify`) and
 * the debugging decoder (`toObject`). The TypeScript FlatBuffers runtime has no verifier and its
 * generated code carries no reflection data, so these descriptors are written by hand next to each
 * `.fbs` file; a test checks ours against `flatc` so they cannot drift. Daemon authors describe
 * their own tables the same way to verify the bodies they receive.
 *
 * Field ids follow FlatBuffers: the n-th declared field has id n, except that a union field takes
 * two ids (its hidden `_type` byte at id n, the value at id n + 1) and the descriptor's `id` is
 * that of the value — the same rule as the `(id: N)` attribute in a schema.
 */

/** Scalar types as spelled in a `.fbs` file (aliases such as `int` map to these). */
export type ScalarKind = 'bool' | 'byte' | 'ubyte' | 'short' | 'ushort' | 'int' | 'uint' | 'long' | 'ulong' | 'float' | 'double'

/** Size in bytes of each scalar kind; a scalar is also aligned to its size. */
export const scalarSize: Readonly<Record<ScalarKind, number>> = {
  bool: 1,
  byte: 1,
  ubyte: 1,
  short: 2,
  ushort: 2,
  int: 4,
  uint: 4,
  long: 8,
  ulong: 8,
  float: 4,
  double: 8,
}

/** A FlatBuffers struct: stored inline, only its size and alignment matter for verification. */
export interface StructDescriptor {
  readonly name: string
  readonly size: number
  readonly align: number
}

/** A table: its fields, in any order. Fields not listed are ignored (they may be newer). */
export interface TableDescriptor {
  readonly name: string
  readonly fields: readonly FieldDescriptor[]
}

/**
 * A union: `members[t]` is the table for type value `t`; index 0 is `NONE` and stays `undefined`.
 * Type values without a member are unknown and rejected by the verifier.
 */
export interface UnionDescriptor {
  readonly name: string
  readonly members: readonly (TableDescriptor | undefined)[]
}

/** What a vector holds. Vectors of unions are not supported. */
export type ElementDescriptor =
  | { readonly kind: 'scalar'; readonly scalar: ScalarKind }
  | { readonly kind: 'string' }
  | { readonly kind: 'struct'; readonly struct: StructDescriptor }
  | { readonly kind: 'table'; readonly table: TableRef }

/** The type of a table field. */
export type TypeDescriptor =
  | ElementDescriptor
  | { readonly kind: 'union'; readonly union: UnionDescriptor }
  | { readonly kind: 'vector'; readonly element: ElementDescriptor; readonly nested?: RootDescriptor }

/** A table, or a thunk returning one so that descriptors can refer to each other (recursion). */
export type TableRef = TableDescriptor | (() => TableDescriptor)

/** One field of a table. */
export interface FieldDescriptor {
  readonly name: string
  /** The field's id (vtable slot); for a union, the id of the value (its type byte is id - 1). */
  readonly id: number
  readonly type: TypeDescriptor
  /** Rejected when absent, like `(required)` in a schema. */
  readonly required?: boolean
}

/** A buffer's root: its table and, when the schema declares one, its `file_identifier`. */
export interface RootDescriptor {
  readonly table: TableRef
  readonly fileIdentifier?: string
}

/** Resolves a `TableRef`. */
export function tableOf(ref: TableRef): TableDescriptor {
  return typeof ref === 'function' ? ref() : ref
}

/** Shorthands for writing descriptors; they only build the plain objects above. */
export const fb = {
  scalar: (scalar: ScalarKind): ElementDescriptor => ({ kind: 'scalar', scalar }),
  string: { kind: 'string' } as ElementDescriptor,
  struct: (struct: StructDescriptor): ElementDescriptor => ({ kind: 'struct', struct }),
  table: (table: TableRef): ElementDescriptor => ({ kind: 'table', table }),
  union: (union: UnionDescriptor): TypeDescriptor => ({ kind: 'union', union }),
  vector: (element: ElementDescriptor, nested?: RootDescriptor): TypeDescriptor =>
    nested === undefined ? { kind: 'vector', element } : { kind: 'vector', element, nested },
  field: (name: string, id: number, type: TypeDescriptor, required = false): FieldDescriptor => (required ? { name, id, type, required } : { name, id, type }),
} as const
