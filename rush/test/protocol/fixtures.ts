// Valid rush messages for rush's protocol tests: each body alone (with its schema, descriptor and reader), and carried in fdwire envelopes.
import { protocol } from 'fdwire'
import { RushRoots } from '../../src/protocol/descriptors.js'
import * as rush from '../../src/protocol/messages.js'

type RootDescriptor = protocol.RootDescriptor

/** The ExecRequest of the 'rush.exec' fixtures. */
export const execInit: rush.ExecRequestInit = {
  argv: ['make', '-j2', 'all'],
  cwd: '/home/me/project',
  env: { PATH: '/usr/bin:/bin', HOME: '/home/me', LANG: 'C.UTF-8' },
  umask: 0o027,
  fdRoles: [rush.FdRole.Stdout, rush.FdRole.Stderr],
}

/** Reads every field of a body with rush's reader, the way rushd or a client would; throws what the reader throws. */
export type Reader = (body: Uint8Array) => unknown

const readExec: Reader = (body) => {
  const x = rush.readExecRequest(body)
  return [x.argv, x.cwd, x.env, x.umask, [...x.fdRoles], x.line]
}

/** Each rush body (an owned copy: rush's encoders return views into shared builders), with its schema file in rush/schemas. */
export function rushBodies(): { name: string; bytes: Buffer; schema: string; root: RootDescriptor; read: Reader }[] {
  const local = { program: '/usr/bin/env', argv: ['env', '-0', 'é ü'], env: ['PATH=/bin', 'X='] }
  return [
    { name: 'exec request', bytes: Buffer.from(rush.encodeExecRequest(execInit)), schema: 'rush_exec.fbs', root: RushRoots.execRequest, read: readExec },
    {
      name: 'interactive exec request',
      bytes: Buffer.from(rush.encodeExecRequest({ ...execInit, env: ['A=1'], line: 12 })),
      schema: 'rush_exec.fbs',
      root: RushRoots.execRequest,
      read: readExec,
    },
    { name: 'result', bytes: Buffer.from(rush.encodeResult(3, 0)), schema: 'rush_result.fbs', root: RushRoots.result, read: rush.readExecReply },
    {
      name: 'result that ends the session',
      bytes: Buffer.from(rush.encodeResult(1, 9, true)),
      schema: 'rush_result.fbs',
      root: RushRoots.result,
      read: rush.readExecReply,
    },
    {
      name: 'run locally',
      bytes: Buffer.from(rush.encodeRunLocally('tty needed')),
      schema: 'rush_run_locally.fbs',
      root: RushRoots.runLocally,
      read: rush.readExecReply,
    },
    {
      name: 'run a program locally',
      bytes: Buffer.from(rush.encodeRunLocally('', local)),
      schema: 'rush_run_locally.fbs',
      root: RushRoots.runLocally,
      read: rush.readExecReply,
    },
  ]
}

/** The conversation's envelopes, each an owned copy: the rush.exec request and its Response. */
export function rushEnvelopes(): { name: string; bytes: Buffer }[] {
  const enc = new protocol.Encoder()
  return [
    { name: 'rush.exec', bytes: Buffer.from(enc.request(42, rush.RushMethod.exec, rush.encodeExecRequest(execInit))) },
    { name: 'its result', bytes: Buffer.from(enc.response(42, { body: rush.encodeResult(3, 0) })) },
  ]
}

/** Places `bytes` at an odd offset inside a larger buffer, like a transport's receive buffer. */
export function asReceived(bytes: Uint8Array, offset = 13): Buffer {
  const big = Buffer.alloc(offset + bytes.length + 7, 0xee)
  big.set(bytes, offset)
  return big.subarray(offset, offset + bytes.length)
}
