// Frame types the round-trip client and server agree on.
export const MESSAGE_JSON = 1
/** No JSON at all: the request is opaque bytes of the same size, the reply a fixed 16 bytes. */
export const MESSAGE_RAW = 2
export const RAW_REPLY = Buffer.alloc(16, 0x5a)
/** fdwire's own messages: a FlatBuffers envelope (Request carrying a rush ExecRequest). */
export const MESSAGE_FLATBUFFERS = 0
