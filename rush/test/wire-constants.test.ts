/**
 * Rush's wire constants against native/wire.h (the `RUSH_*` defines, which rush's C client uses):
 * each must equal its counterpart in rush/src, and every `RUSH_*` define must have one. The
 * library's own defines are checked by test/transport/wire-constants.test.ts.
 */
import t from 'tap'
import { StdinMode } from '../src/protocol/generated/rush_common_generated.js'
import { RushRoots } from '../src/protocol/descriptors.js'
import { FdRole, RushMethod } from '../src/protocol/messages.js'
import { type DefineValue, wireDefines } from '../../test/wire-header.js'

/** The TypeScript counterpart of each `RUSH_*` define, by its C name. */
const counterparts = new Map<string, DefineValue>([
  ['RUSH_METHOD_EXEC', RushMethod.exec],
  ['RUSH_EXEC_IDENTIFIER', RushRoots.execRequest.fileIdentifier],
  ['RUSH_RESULT_IDENTIFIER', RushRoots.result.fileIdentifier],
  ['RUSH_RUN_LOCALLY_IDENTIFIER', RushRoots.runLocally.fileIdentifier],
  // The enums generated from rush/schemas/rush_common.fbs.
  ['RUSH_ROLE_STDIN', FdRole.Stdin],
  ['RUSH_ROLE_STDOUT', FdRole.Stdout],
  ['RUSH_ROLE_STDERR', FdRole.Stderr],
  ['RUSH_ROLE_RESERVED', FdRole.Tty],
  ['RUSH_STDIN_INHERIT', StdinMode.Inherit],
])

const rushDefines = [...wireDefines].filter(([name]) => name.startsWith('RUSH_'))

t.test('every RUSH_* define of wire.h has a counterpart in rush/src', async (t) => {
  t.ok(rushDefines.length >= 9, `${rushDefines.length} RUSH_* defines`)
  t.same(
    rushDefines.map(([name]) => name).filter((name) => !counterparts.has(name)),
    [],
    'defines without a counterpart (add one to the list above)',
  )
  t.same(
    [...counterparts.keys()].filter((name) => !wireDefines.has(name)),
    [],
    'no counterpart names a define that wire.h no longer has',
  )
})

t.test('each equals its C value', async (t) => {
  for (const [name, { value }] of rushDefines) {
    if (counterparts.has(name)) t.equal(counterparts.get(name), value, name)
  }
})
