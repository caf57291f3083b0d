// Valid messages of every kind, shared by the protocol tests.
import { Encoder, Status } from '../../src/protocol/index.js'
import * as rush from '../../rush/src/protocol/messages.js'

export const env30: Record<string, string> = {}
for (let i = 0; i < 30; i++) env30[`VAR_${i}`] = `/usr/local/share/value-${i}/bin:/usr/bin`

/** Each entry is an owned copy (encoders return views into a reused builder). */
export function validMessages(): { name: string; bytes: Buffer }[] {
  const enc = new Encoder()
  const exec = Buffer.from(
    rush.encodeExecRequest({
      argv: ['make', '-j2', 'all'],
      cwd: '/home/me/project',
      env: { PATH: '/usr/bin:/bin', HOME: '/home/me', LANG: 'C.UTF-8' },
      umask: 0o027,
      fdRoles: [rush.FdRole.Stdout, rush.FdRole.Stderr],
    }),
  )
  return [
    { name: 'hello', bytes: Buffer.from(enc.hello(1, 'fdwire 0.1.0 (abc123)')) },
    { name: 'request', bytes: Buffer.from(enc.request(42, 'rush.exec', exec)) },
    { name: 'request without body', bytes: Buffer.from(enc.request(1, 'ping')) },
    { name: 'response ok', bytes: Buffer.from(enc.response(42, { body: Buffer.from(rush.encodeResult(3, 0)) })) },
    {
      name: 'response error',
      bytes: Buffer.from(enc.response(43, { status: Status.Error, error: { code: 'ENOENT', message: 'no such file: ünïcode' } })),
    },
    { name: 'stream item', bytes: Buffer.from(enc.streamItem(5, 9, Buffer.from('chunk of output\n'))) },
    { name: 'stream end', bytes: Buffer.from(enc.streamEnd(5, { error: { code: 'E', message: 'm' } })) },
    { name: 'cancel', bytes: Buffer.from(enc.cancel(5, 'user pressed ^C')) },
  ]
}

/** Places `bytes` at an odd offset inside a larger buffer, like a transport's receive buffer. */
export function asReceived(bytes: Uint8Array, offset = 13): Buffer {
  const big = Buffer.alloc(offset + bytes.length + 7, 0xee)
  big.set(bytes, offset)
  return big.subarray(offset, offset + bytes.length)
}
