/**
 * Verifier descriptors for schemas/fdwire.fbs. Keep in step with the schema (append-only); the
 * test `test/protocol/independent-decoders.test.ts` checks them against flatc.
 */
import { fb, type RootDescriptor, type TableDescriptor, type UnionDescriptor } from './descriptor.js'
import { ENVELOPE_IDENTIFIER } from '../wire.js'

const ubyte = fb.scalar('ubyte')
const uint = fb.scalar('uint')

/** fdwire.Hello */
export const HelloTable: TableDescriptor = {
  name: 'Hello',
  fields: [fb.field('protocol_version', 0, uint), fb.field('build_id', 1, fb.string), fb.field('max_frame_size', 2, uint)],
}

/** fdwire.Request */
export const RequestTable: TableDescriptor = {
  name: 'Request',
  fields: [fb.field('id', 0, uint), fb.field('method', 1, fb.string), fb.field('body', 2, fb.vector(ubyte))],
}

/** fdwire.ErrorInfo */
export const ErrorInfoTable: TableDescriptor = {
  name: 'ErrorInfo',
  fields: [fb.field('code', 0, fb.string), fb.field('message', 1, fb.string)],
}

/** fdwire.Response */
export const ResponseTable: TableDescriptor = {
  name: 'Response',
  fields: [fb.field('id', 0, uint), fb.field('status', 1, ubyte), fb.field('error', 2, fb.table(ErrorInfoTable)), fb.field('body', 3, fb.vector(ubyte))],
}

/** fdwire.StreamItem */
export const StreamItemTable: TableDescriptor = {
  name: 'StreamItem',
  fields: [fb.field('id', 0, uint), fb.field('seq', 1, uint), fb.field('body', 2, fb.vector(ubyte))],
}

/** fdwire.StreamEnd */
export const StreamEndTable: TableDescriptor = {
  name: 'StreamEnd',
  fields: [fb.field('id', 0, uint), fb.field('status', 1, ubyte), fb.field('error', 2, fb.table(ErrorInfoTable))],
}

/** fdwire.Cancel */
export const CancelTable: TableDescriptor = {
  name: 'Cancel',
  fields: [fb.field('id', 0, uint), fb.field('reason', 1, fb.string)],
}

/** fdwire.Message: index = type value (see the generated `Message` enum). */
export const MessageUnion: UnionDescriptor = {
  name: 'Message',
  members: [undefined, HelloTable, RequestTable, ResponseTable, StreamItemTable, StreamEndTable, CancelTable],
}

/** fdwire.Envelope */
export const EnvelopeTable: TableDescriptor = {
  name: 'Envelope',
  // `message_type` is id 0, `message` id 1.
  fields: [fb.field('message', 1, fb.union(MessageUnion), true)],
}

/** Root of every fdwire message: an `Envelope` with file identifier `FDWR`. */
export const EnvelopeRoot: RootDescriptor = { table: EnvelopeTable, fileIdentifier: ENVELOPE_IDENTIFIER }
