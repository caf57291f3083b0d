/**
 * The library's TypeScript wire constants against native/wire.h, the header every piece of native
 * code includes: each `#define` with a value is read from the header and must equal its
 * TypeScript counterpart, and every such define must have one (or be listed below, with the reason
 * it has none here). So a value changed on one side only, or a constant added to the header alone,
 * fails here. Rush's defines (`RUSH_*`) are checked the same way by rush/test/wire-constants.test.ts.
 */
import t from 'tap'
import { native } from '../../src/binding.js'
import { MAX_FDS_PER_MESSAGE } from '../../src/index.js'
import { Message, Status, ENVELOPE_IDENTIFIER as PUBLIC_ENVELOPE_IDENTIFIER } from '../../src/protocol/index.js'
import * as wire from '../../src/wire.js'
import { type DefineValue, definedNames, parseDefines, wireDefines as c, wireHeaderText } from '../wire-header.js'

/**
 * Defines of wire.h that are not wire values, so have no TypeScript counterpart:
 * - the include guard;
 * - the compile-time assertion macro (function-like: C11 _Static_assert or C++ static_assert).
 */
const notValues = ['FDWIRE_WIRE_H', 'FDWIRE_STATIC_ASSERT']

/** Value defines of wire.h without a counterpart in the library, each with the reason. */
const noCounterpart = (name: string): string | undefined =>
  name.startsWith('RUSH_')
    ? "rush's messages: their counterparts are in rush/src, checked by rush/test/wire-constants.test.ts (the library's tests do not import rush)"
    : undefined

/** The TypeScript counterpart of each value define, by its C name. `FDWIRE_PROTOCOL_*` are checked
 *  by number against `wire.PROTOCOL_ERROR_CODES` instead. */
const counterparts = new Map<string, DefineValue>([
  // The frame header and the transport (src/wire.ts: the C name without `FDWIRE_`).
  ['FDWIRE_HEADER_SIZE', wire.HEADER_SIZE],
  ['FDWIRE_MAGIC0', wire.MAGIC0],
  ['FDWIRE_MAGIC1', wire.MAGIC1],
  ['FDWIRE_VERSION', wire.VERSION],
  ['FDWIRE_AT_MAGIC', wire.AT_MAGIC],
  ['FDWIRE_AT_VERSION', wire.AT_VERSION],
  ['FDWIRE_AT_FD_COUNT', wire.AT_FD_COUNT],
  ['FDWIRE_AT_LENGTH', wire.AT_LENGTH],
  ['FDWIRE_AT_ID', wire.AT_ID],
  ['FDWIRE_AT_TYPE', wire.AT_TYPE],
  ['FDWIRE_AT_FLAGS', wire.AT_FLAGS],
  ['FDWIRE_FLAGS_NONE', wire.FLAGS_NONE],
  ['FDWIRE_MAX_FDS_PER_FRAME', wire.MAX_FDS_PER_FRAME],
  ['FDWIRE_FRAME_TYPE_ENVELOPE', wire.FRAME_TYPE_ENVELOPE],
  // The envelope (src/wire.ts, and the enums generated from schemas/fdwire.fbs).
  ['FDWIRE_ENVELOPE_IDENTIFIER', wire.ENVELOPE_IDENTIFIER],
  ['FDWIRE_MESSAGE_HELLO', Message.Hello],
  ['FDWIRE_MESSAGE_REQUEST', Message.Request],
  ['FDWIRE_MESSAGE_RESPONSE', Message.Response],
  ['FDWIRE_STATUS_OK', Status.Ok],
  ['FDWIRE_STATUS_ERROR', Status.Error],
  ['FDWIRE_STATUS_CANCELLED', Status.Cancelled],
  ['FDWIRE_CODE_UNKNOWN_METHOD', wire.CODE_UNKNOWN_METHOD],
  ['FDWIRE_CODE_SHUTTING_DOWN', wire.CODE_SHUTTING_DOWN],
])

const isProtocolError = (name: string): boolean => name.startsWith('FDWIRE_PROTOCOL_')
const protocolErrors = [...c].filter(([name]) => isProtocolError(name))

t.test('wire.h is read: every define is either a value the parser understood or listed as no value', async (t) => {
  t.ok(c.size > 40, `parsed ${c.size} value defines`)
  t.same(
    definedNames(wireHeaderText).filter((name) => !c.has(name)),
    notValues,
    'the defines the parser skipped are exactly the ones listed as not values',
  )
})

t.test('every value define of wire.h has a TypeScript counterpart, or a reason listed here', async (t) => {
  const uncovered = [...c.keys()].filter((name) => !isProtocolError(name) && !counterparts.has(name) && noCounterpart(name) === undefined)
  t.same(uncovered, [], 'defines with neither a counterpart nor a reason (add one to src/wire.ts, or a reason to `noCounterpart`)')
  t.same(
    [...counterparts.keys()].filter((name) => !c.has(name)),
    [],
    'no counterpart names a define that wire.h no longer has',
  )
  t.ok(
    [...c.keys()].some((name) => noCounterpart(name) !== undefined),
    "the defines left to rush's test are there",
  )
})

t.test('each TypeScript constant equals its C value', async (t) => {
  for (const [name, value] of counterparts) {
    const inC = c.get(name)
    if (inC === undefined) continue // reported by the coverage test
    t.equal(value, inC.value, name)
  }
})

t.test('protocol error numbers: src/wire.ts has one code per FDWIRE_PROTOCOL_* define, at its number', async (t) => {
  t.ok(protocolErrors.length >= 10, `${protocolErrors.length} FDWIRE_PROTOCOL_* defines`)
  t.equal(wire.PROTOCOL_ERROR_CODES.length, protocolErrors.length, 'as many codes as numbers (none only in TypeScript)')
  for (const [name, { value, comment }] of protocolErrors) {
    const code = `ERR_FDWIRE_${name.slice('FDWIRE_PROTOCOL_'.length)}`
    t.equal(wire.PROTOCOL_ERROR_CODES[value as number], code, `${name} = ${value} is ${code}`)
    if (comment !== '') t.equal(comment, code, `${name}: the header's comment names the same code`)
  }
})

t.test('src/wire.ts has nothing wire.h lacks, and the values derived from it agree', async (t) => {
  // MAGIC is the two magic bytes as the u16 the header starts with; PROTOCOL_ERROR_CODES is
  // checked by number above. Every other export is a define of wire.h, named without `FDWIRE_`.
  const derived = ['MAGIC', 'PROTOCOL_ERROR_CODES']
  t.same(
    Object.keys(wire).filter((name) => !derived.includes(name) && !c.has(`FDWIRE_${name}`)),
    [],
    'every other export of src/wire.ts is FDWIRE_<its name> in wire.h',
  )
  t.equal(wire.MAGIC, Buffer.from([wire.MAGIC0, wire.MAGIC1]).readUInt16LE(0), 'MAGIC: the magic bytes read as a little-endian u16')
  t.equal(native.headerSize, wire.HEADER_SIZE, "the addon's headerSize")
  t.equal(native.maxFdsPerFrame, wire.MAX_FDS_PER_FRAME, "the addon's maxFdsPerFrame")
  t.equal(MAX_FDS_PER_MESSAGE, wire.MAX_FDS_PER_FRAME, 'the public MAX_FDS_PER_MESSAGE')
  t.equal(PUBLIC_ENVELOPE_IDENTIFIER, wire.ENVELOPE_IDENTIFIER, 'the public protocol.ENVELOPE_IDENTIFIER')
})

t.test('the parser reads the forms wire.h uses', async (t) => {
  const text = [
    '#define A_HEX 0xFD',
    '#define A_DEC 253',
    '#define A_STR "FDWR"',
    '#define A_COMMENTED 7    /* ERR_FDWIRE_X */',
    '#define A_MACRO(x) (x)',
    '#define A_GUARD',
    ' #define NOT_AT_LINE_START 1',
  ].join('\n')
  t.same(Object.fromEntries(parseDefines(text)), {
    A_HEX: { value: 0xfd, comment: '' },
    A_DEC: { value: 253, comment: '' },
    A_STR: { value: 'FDWR', comment: '' },
    A_COMMENTED: { value: 7, comment: 'ERR_FDWIRE_X' },
  })
  t.same(definedNames(text), ['A_HEX', 'A_DEC', 'A_STR', 'A_COMMENTED', 'A_MACRO', 'A_GUARD'])
})
