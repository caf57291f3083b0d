// Known-bad buffers are rejected with a specific reason (the fuzz test only checks the error code).
import t, { type Test } from 'tap'
import { EnvelopeRoot, descriptors, fb, readEnvelope, verify, type RootDescriptor, type TableDescriptor } from '../../src/protocol/index.js'
import { asReceived, encodeJob, JobRoots, readJob, validMessages } from './fixtures.js'

const request = (): Buffer => Buffer.from(validMessages()[1]!.bytes)
const rootOf = (b: Buffer): number => b.readUInt32LE(0)
/** Position (in the message) of the Request table. */
function requestTable(b: Buffer): number {
  const env = rootOf(b)
  const vt = env - b.readInt32LE(env)
  const at = env + b.readUInt16LE(vt + 6) // message is field 1
  return at + b.readUInt32LE(at)
}
const offsetIn = (b: Buffer, view: Uint8Array): number => view.byteOffset - b.byteOffset

function rejects(t: Test, b: Uint8Array, reason: RegExp, what: string): void {
  t.throws(() => readEnvelope(asReceived(b)), { code: 'ERR_FDWIRE_MALFORMED', message: reason }, what)
}

t.test('envelope corruptions name what is wrong', async (t) => {
  let b = request()
  b.writeInt32LE(-100_000, rootOf(b))
  rejects(t, b, /: Envelope out of bounds at \d+$/, 'vtable offset out of bounds')

  b = request()
  b.writeInt32LE(1, rootOf(b))
  rejects(t, b, /: Envelope misaligned/, 'odd vtable position')

  b = request()
  b.write('JSON', 4)
  rejects(t, b, /: file identifier is not "FDWR"$/, 'wrong identifier')

  b = request()
  b.writeUInt32LE(0, 0)
  rejects(t, b, /: bad offset 0 to root table at 0$/, 'null root offset')

  b = request()
  b.writeUInt32LE(b.length + 4, 0)
  rejects(t, b, /points past the end/, 'root past the end')

  b = request()
  const env = rootOf(b)
  const typeAt = env + b.readUInt16LE(env - b.readInt32LE(env) + 4)
  b[typeAt] = 99
  rejects(t, b, /: message has unknown type 99$/, 'unknown union member')

  b = request()
  b[typeAt] = 0
  rejects(t, b, /: message is required$/, 'union without a type')
})

t.test('request corruptions name the field', async (t) => {
  const good = request()
  const m = readEnvelope(good)
  if (m.kind !== 'request') throw new Error('fixture 1 is a request')
  const methodEnd = offsetIn(good, m.methodBytes) + m.methodBytes.length
  const bodyStart = offsetIn(good, m.body!)

  let b = Buffer.from(good)
  b[methodEnd] = 0x41
  rejects(t, b, /: method is not NUL-terminated$/, 'string without its NUL')

  b = Buffer.from(good)
  b.writeUInt32LE(0x7fff0000, methodEnd - m.methodBytes.length - 4)
  rejects(t, b, /: method runs past the end$/, 'string length past the end')

  b = Buffer.from(good)
  b.writeUInt32LE(b.length, bodyStart - 4)
  rejects(t, b, /: body \(\d+ elements\) runs past the end$/, 'vector length past the end')

  b = Buffer.from(good)
  const t0 = requestTable(b)
  const vt = t0 - b.readInt32LE(t0)
  b.writeUInt16LE(0xfff0, vt + 6) // method's slot offset, far outside the table
  rejects(t, b, /: method outside its table$/, 'field offset outside its table')

  b = Buffer.from(good)
  b.writeUInt16LE(3, vt)
  rejects(t, b, /: bad vtable size 3 in Request$/, 'odd vtable size')

  rejects(t, good.subarray(0, bodyStart + 10), /runs past the end|out of bounds|points past the end/, 'truncated')
  t.doesNotThrow(() => readEnvelope(asReceived(good)), 'the original still verifies')
})

t.test('every string of a vector is checked, whichever element is bad', async (t) => {
  // A vector of strings (as an environment is) has its own checking loop: each corruption, at
  // each position, must be found and named as for a lone string.
  const argv = ['first', 'second arg', 'x', 'last one']
  const good = Buffer.from(encodeJob({ name: 'job', argv }))
  t.same(readJob(good).argv, argv, 'the original verifies')
  const root = rootOf(good)
  const vt = root - good.readInt32LE(root)
  const argvField = root + good.readUInt16LE(vt + 6) // argv is field 1
  const vector = argvField + good.readUInt32LE(argvField)
  t.equal(good.readUInt32LE(vector), argv.length)
  const bad = (what: string, reason: RegExp, corrupt: (b: Buffer, slot: number, string: number) => void) => {
    for (let k = 0; k < argv.length; k++) {
      const b = Buffer.from(good)
      const slot = vector + 4 + 4 * k
      corrupt(b, slot, slot + b.readUInt32LE(slot))
      t.throws(() => readJob(b), { code: 'ERR_FDWIRE_MALFORMED', message: reason }, `${what}, element ${k}`)
    }
  }
  bad('no NUL', /: argv is not NUL-terminated$/, (b, _slot, s) => void (b[s + 4 + b.readUInt32LE(s)] = 0x41))
  bad('length past the end', /: argv runs past the end$/, (b, _slot, s) => void b.writeUInt32LE(b.length, s))
  bad('length over 2 GiB', /: argv runs past the end$/, (b, _slot, s) => void b.writeUInt32LE(0xfffffff0, s))
  bad('null offset', /: bad offset 0 to argv at \d+$/, (b, slot) => void b.writeUInt32LE(0, slot))
  bad('offset past the end', /: offset to argv at \d+ points past the end$/, (b, slot) => void b.writeUInt32LE(b.length, slot))
  bad('offset over 2 GiB', /: bad offset \d+ to argv at \d+$/, (b, slot) => void b.writeUInt32LE(0x80000004, slot))
  bad('misaligned string', /: argv misaligned at \d+$/, (b, slot, s) => {
    // One byte on, where an empty string with its NUL is written: only the alignment is wrong.
    b.writeUInt32LE(b.readUInt32LE(slot) + 1, slot)
    b.writeUInt32LE(0, s + 1)
    b[s + 5] = 0
  })
  bad('string header past the end', /: argv out of bounds at \d+$/, (b, slot) => void b.writeUInt32LE(b.length - slot - 2, slot))
})

t.test('nested FlatBuffers declared in a descriptor are verified with their own root', async (t) => {
  // A daemon author's view of fdwire.Request whose body is known to be their Job.
  const RequestWithJob: TableDescriptor = {
    name: 'Request',
    fields: [fb.field('id', 0, fb.scalar('uint')), fb.field('method', 1, fb.string), fb.field('body', 2, fb.vector(fb.scalar('ubyte'), JobRoots.job))],
  }
  const members = [...descriptors.MessageUnion.members]
  members[2] = RequestWithJob
  const root: RootDescriptor = {
    table: { name: 'Envelope', fields: [fb.field('message', 1, fb.union({ name: 'Message', members }), true)] },
    fileIdentifier: 'FDWR',
  }
  const good = request()
  t.doesNotThrow(() => verify(good, root))
  const m = readEnvelope(good)
  if (m.kind !== 'request') throw new Error('fixture 1 is a request')
  const b = Buffer.from(good)
  b[offsetIn(good, m.body!) + 4] = 0x5a // the body's file identifier
  t.doesNotThrow(() => verify(b, EnvelopeRoot), 'fdwire alone treats the body as opaque bytes')
  t.throws(() => verify(b, root), { code: 'ERR_FDWIRE_MALFORMED', message: /: file identifier is not "JOB1"$/ })
  const mb = readEnvelope(b)
  if (mb.kind === 'request') t.throws(() => readJob(mb.body!), { code: 'ERR_FDWIRE_MALFORMED' }, 'and its reader verifies it')
  // Envelope (1) > Request (2) > nested Job (3) > its owner (4): depth counts on into the body.
  t.throws(() => verify(good, root, { maxDepth: 3 }), { message: /: nesting deeper than 3$/ })
  t.doesNotThrow(() => verify(good, root, { maxDepth: 4 }))
})

t.test('descriptors are checked when compiled', async (t) => {
  const bad: RootDescriptor = {
    table: { name: 'T', fields: [fb.field('s', 0, fb.struct({ name: 'S', size: 6, align: 3 }))] },
  }
  t.throws(() => verify(Buffer.alloc(16), bad), { name: 'RangeError', message: /power of two/ })
  const badId: RootDescriptor = { table: { name: 'U', fields: [fb.field('x', -1, fb.scalar('int'))] } }
  t.throws(() => verify(Buffer.alloc(16), badId), { name: 'RangeError', message: /bad field id/ })
})
