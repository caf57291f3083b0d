/**
 * Verifier descriptors for schemas/rush_*.fbs, written exactly as a daemon author writes them for
 * their own messages. Keep in step with the schemas (append-only); `rush/test/protocol/independent-decoders.test.ts`
 * checks them against flatc.
 */
import { protocol } from 'fdwire'

const { fb } = protocol
type RootDescriptor = protocol.RootDescriptor
type TableDescriptor = protocol.TableDescriptor

/** rush.ExecRequest */
export const ExecRequestTable: TableDescriptor = {
  name: 'ExecRequest',
  fields: [
    fb.field('argv', 0, fb.vector(fb.string)),
    fb.field('cwd', 1, fb.string),
    fb.field('env', 2, fb.vector(fb.string)),
    fb.field('umask', 3, fb.scalar('uint')),
    // Deprecated in the schema and never read, but still declared there (and written as 0 by rush's
    // C client): listed so the descriptor stays in step with the schema.
    fb.field('stdin_mode', 4, fb.scalar('ubyte')),
    fb.field('fd_roles', 5, fb.vector(fb.scalar('ubyte'))),
    fb.field('line', 6, fb.scalar('uint')),
  ],
}

/** rush.Result */
export const ResultTable: TableDescriptor = {
  name: 'Result',
  fields: [fb.field('status', 0, fb.scalar('int')), fb.field('signal', 1, fb.scalar('int')), fb.field('ended', 2, fb.scalar('bool'))],
}

/** rush.RunLocally */
export const RunLocallyTable: TableDescriptor = {
  name: 'RunLocally',
  fields: [
    fb.field('reason', 0, fb.string),
    fb.field('program', 1, fb.string),
    fb.field('argv', 2, fb.vector(fb.string)),
    fb.field('env', 3, fb.vector(fb.string)),
  ],
}

/** Roots of the rush messages, each with its schema's file_identifier. */
export const RushRoots = {
  execRequest: { table: ExecRequestTable, fileIdentifier: 'RXEC' },
  result: { table: ResultTable, fileIdentifier: 'RRES' },
  runLocally: { table: RunLocallyTable, fileIdentifier: 'RLOC' },
} as const satisfies Record<string, RootDescriptor>
