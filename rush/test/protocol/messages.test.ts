// Rush's messages: each body round-trips through rush's encoders and readers, inside fdwire envelopes too, and every reader verifies its body first.
import * as flatbuffers from 'flatbuffers'
import { protocol } from 'fdwire'
import t from 'tap'
import { ExecRequest } from '../../src/protocol/generated/rush_exec_generated.js'
import * as rush from '../../src/protocol/messages.js'
import { asReceived, execInit, rushEnvelopes } from './fixtures.js'

const { StringCache, readEnvelope, verify, EnvelopeRoot } = protocol

t.test('rush exec request round-trips, with and without a string cache', async (t) => {
  const cache = new StringCache()
  const init = {
    argv: ['cc', '-c', 'x.c'],
    cwd: '/src',
    env: ['PATH=/bin', 'HOME=/root', 'Ü=ÿ'],
    umask: 0,
    fdRoles: [rush.FdRole.Stdin, rush.FdRole.Tty],
    line: 42,
  }
  for (const c of [undefined, cache, cache]) {
    const x = rush.readExecRequest(asReceived(rush.encodeExecRequest(init, c)))
    t.same(x.argv, init.argv)
    t.equal(x.cwd, '/src')
    t.same(x.env, init.env)
    t.equal(x.umask, 0, 'umask 0 is kept')
    t.same([...x.fdRoles], [0, 3])
    t.equal(x.line, 42)
  }
  t.equal(cache.size, 4, 'env entries and cwd cached once')
  const plain = rush.readExecRequest(rush.encodeExecRequest({ argv: ['x'], cwd: '/', env: {} }))
  t.equal(plain.umask, 0o022)
  t.equal(plain.line, 0, 'no line: not interactive')
  for (const line of [-1, 1.5, 2 ** 32]) t.throws(() => rush.encodeExecRequest({ argv: ['x'], cwd: '/', env: {}, line }), RangeError)
})

t.test('other rush messages round-trip', async (t) => {
  t.same(rush.readExecReply(asReceived(rush.encodeRunLocally('tty needed'))), { kind: 'runLocally', reason: 'tty needed' })
  const exec = { program: '/usr/bin/env', argv: ['env', '-0', 'é ü'], env: ['PATH=/bin', 'X='] }
  t.same(rush.readExecReply(asReceived(rush.encodeRunLocally('', exec))), { kind: 'runLocally', reason: '', exec }, 'a program for the client to exec')
  t.throws(() => rush.encodeRunLocally('', { program: '', argv: ['x'], env: [] }), TypeError)
  t.throws(() => rush.encodeRunLocally('', { program: '/bin/x', argv: [], env: [] }), TypeError)
  t.same(rush.readExecReply(rush.encodeResult(0, 9)), { kind: 'result', status: 0, signal: 9, ended: false })
  t.same(rush.readExecReply(rush.encodeResult(1, 0, true)), { kind: 'result', status: 1, signal: 0, ended: true })
  t.throws(() => rush.readExecReply(rush.encodeExecRequest(execInit)), { code: 'ERR_FDWIRE_MALFORMED' }, 'a body of another kind')
})

t.test('rush bodies read back from the envelopes that carry them', async (t) => {
  const [exec, result] = rushEnvelopes().map(({ bytes }) => readEnvelope(asReceived(bytes)))
  t.ok(exec?.kind === 'request' && exec.id === 42 && exec.method === 'rush.exec' && exec.body !== null)
  if (exec?.kind === 'request') {
    const x = rush.readExecRequest(exec.body!)
    t.same(
      [x.argv, x.cwd, x.env, x.umask, [...x.fdRoles], x.line],
      [execInit.argv, execInit.cwd, ['PATH=/usr/bin:/bin', 'HOME=/home/me', 'LANG=C.UTF-8'], 0o027, [1, 2], 0],
    )
  }
  t.ok(result?.kind === 'response' && result.ok && result.status === protocol.Status.Ok && result.error === null)
  if (result?.kind === 'response') t.same(rush.readExecReply(result.body!), { kind: 'result', status: 3, signal: 0, ended: false })
})

t.test('a body is verified by its reader, not by the envelope', async (t) => {
  const good = rushEnvelopes()[0]!.bytes
  const m = readEnvelope(good)
  if (m.kind !== 'request') throw new Error('fixture 0 is a request')
  const b = Buffer.from(good)
  b[m.body!.byteOffset - good.byteOffset + 4] = 0x5a // the body's file identifier
  t.doesNotThrow(() => verify(b, EnvelopeRoot), 'fdwire treats the body as opaque bytes')
  const mb = readEnvelope(b)
  if (mb.kind === 'request')
    t.throws(() => rush.readExecRequest(mb.body!), { code: 'ERR_FDWIRE_MALFORMED', message: /: file identifier is not "RXEC"$/ }, "rush's reader verifies it")
})

t.test('rush strings (docs/rush-client.md, Strings): bytes read and written back unchanged as byte strings; the string getters decode UTF-8', async (t) => {
  // The bytes a client on a Latin-1 system sends: "café" with é as the single byte 0xE9.
  const b = new flatbuffers.Builder(256)
  const latin1 = (s: string) => b.createString(Buffer.from(s, 'latin1'))
  const argv = ExecRequest.createArgvVector(b, [latin1('ls caf\xe9'), latin1('caf\xe9')])
  const cwd = latin1('/tmp/caf\xe9')
  const env = ExecRequest.createEnvVector(b, [latin1('NAME=caf\xe9'), latin1('PLAIN=ascii')])
  ExecRequest.startExecRequest(b)
  ExecRequest.addArgv(b, argv)
  ExecRequest.addCwd(b, cwd)
  ExecRequest.addEnv(b, env)
  b.finish(ExecRequest.endExecRequest(b), 'RXEC')
  const x = rush.readExecRequest(asReceived(b.asUint8Array()))
  t.same([x.argv, x.cwd, x.env], [['ls caf\uFFFD', 'caf\uFFFD'], '/tmp/caf\uFFFD', ['NAME=caf\uFFFD', 'PLAIN=ascii']], 'as text: U+FFFD')
  t.same([x.argvBytes, x.cwdBytes, x.envBytes], [['ls caf\xe9', 'caf\xe9'], '/tmp/caf\xe9', ['NAME=caf\xe9', 'PLAIN=ascii']], 'as byte strings: each byte')
  // What rushd writes back (a program to exec), from byte strings: the same bytes.
  const exec = { program: '/bin/caf\xe9', argv: x.argvBytes, env: x.envBytes }
  const reply = Buffer.from(rush.encodeRunLocally('', exec, 'latin1'))
  t.ok(reply.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0])), 'caf + E9 + NUL')
  t.notOk(reply.includes(Buffer.from([0xef, 0xbf, 0xbd])), 'no U+FFFD')
  t.same(rush.readExecReply(asReceived(reply), 'latin1'), { kind: 'runLocally', reason: '', exec }, 'read back as byte strings')
  t.same(rush.readExecReply(asReceived(reply)), { kind: 'runLocally', reason: '', exec: { program: '/bin/caf\uFFFD', argv: x.argv, env: x.env } }, 'or as text')
  // Text encoded as UTF-8 by default: U+FFFD goes out as EF BF BD.
  t.ok(Buffer.from(rush.encodeRunLocally('', { program: '/bin/ls', argv: x.argv, env: x.env })).includes(Buffer.from([0x66, 0xef, 0xbf, 0xbd, 0])))
  // A request's strings may be given as bytes.
  const bytes = (s: string) => Buffer.from(s, 'latin1')
  const init = { argv: [bytes('echo \xff'), 'caf\u00e9'], cwd: bytes('/d\xfe'), env: [bytes('V=\x85\xa0'), 'PLAIN=ascii'], line: 1 }
  for (const cache of [undefined, new StringCache()]) {
    const y = rush.readExecRequest(asReceived(rush.encodeExecRequest(init, cache)))
    t.same(
      [y.argvBytes, y.cwdBytes, y.envBytes],
      [['echo \xff', 'caf\xc3\xa9'], '/d\xfe', ['V=\x85\xa0', 'PLAIN=ascii']],
      'bytes as they are, strings as UTF-8',
    )
  }
  t.throws(() => rush.encodeExecRequest({ argv: [1 as unknown as string], cwd: '/', env: [] }), TypeError)
})
