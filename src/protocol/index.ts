/**
 * fdwire's FlatBuffers protocol layer: envelope encoding, verified zero-copy reading, the
 * schema-driven verifier (usable for your own tables) and rush's messages.
 */
export * from './descriptor.js'
export { verify, type VerifyOptions } from './verify.js'
export { toObject, type Decoded } from './to-object.js'
export { EnvelopeRoot, MessageUnion } from './descriptors.js'
export * as descriptors from './descriptors.js'
export {
  readEnvelope,
  Message,
  Status,
  HelloView,
  RequestView,
  ResponseView,
  StreamItemView,
  StreamEndView,
  CancelView,
  type Envelope,
  type ErrorInfo,
  type MessageKind,
} from './envelope.js'
export {
  Encoder,
  encodeHello,
  encodeRequest,
  encodeResponse,
  encodeStreamItem,
  encodeStreamEnd,
  encodeCancel,
  PROTOCOL_VERSION,
  ENVELOPE_IDENTIFIER,
  type ReplyOptions,
  type StringValue,
} from './encode.js'
export { StringCache } from './string-cache.js'
export * as rush from './rush.js'
export { RushRoots } from './rush-descriptors.js'
export * as rushDescriptors from './rush-descriptors.js'
