/**
 * fdwire's FlatBuffers protocol layer: envelope encoding, verified zero-copy reading, the
 * schema-driven verifier and in-place readers and writers, usable for your own tables.
 */
export * from './descriptor.js'
export { verify, compileRoot, verifyCompiled, type CompiledRoot, type VerifyOptions } from './verify.js'
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
export * as flat from './flat.js'
