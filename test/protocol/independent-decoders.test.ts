// The library's messages against decoders we did not write: flatc and Debian's python3-flatbuffers.
//
// Our bytes decode with them (flatc --json, a python reader), flatc's bytes decode with ours, and
// our verifier descriptors agree with the .fbs files: the envelope's (schemas/) and those of the
// test-only application schema the fixtures carry as bodies (test/fixtures/schemas/). Locally a missing tool skips (saying how to install it); under CI
// (process.env.CI) it fails.
import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { EnvelopeRoot, readEnvelope, toObject } from '../../src/protocol/index.js'
import { root } from '../helpers.js'
import { checkDescriptors, flatc, flatcBinary, flatcJson, need, normalize, PY, pyRequestBody, python } from './flatc.js'
import { encodeJob, encodeJobResult, JobRoots, readJob, readJobResult, Stream, validMessages } from './fixtures.js'

const schemas = join(root, 'schemas')
const jobSchemas = join(root, 'test', 'fixtures', 'schemas')
const envelopeSchema = join(schemas, 'fdwire.fbs')
const jobSchema = join(jobSchemas, 'job.fbs')
const resultSchema = join(jobSchemas, 'job_result.fbs')

t.test('flatc --json decodes every message our encoders build', async (t) => {
  if (!need(t, flatc, 'flatc')) return
  for (const { name, bytes } of validMessages()) {
    const decoded = flatcJson(bytes, envelopeSchema) as { message_type: string }
    const ours = normalize(toObject(bytes, EnvelopeRoot)) as Record<string, unknown>
    // flatc prints enums by name and omits default scalars; ours prints numbers. Compare shape.
    t.equal(decoded.message_type, ours.message_type, `${name}: message type`)
    const m = readEnvelope(bytes)
    const fm = (decoded as unknown as { message: Record<string, unknown> }).message
    if ('id' in m) t.equal(fm.id ?? 0, m.id, `${name}: id`)
    if (m.kind === 'request') {
      t.equal(fm.method, m.method)
      if (m.body === null) continue
      t.same(fm.body, [...m.body])
      t.same(normalize(flatcJson(m.body!, jobSchema)), normalize({ ...toObject(m.body!, JobRoots.job), streams: ['Stdout', 'Stderr'] }))
    }
    if (m.kind === 'response' && m.error !== null) t.same(fm.error, m.error)
    if (m.kind === 'response' && m.body !== null) t.same(flatcJson(m.body, resultSchema), normalize(toObject(m.body, JobRoots.result)), `${name}: its body`)
  }
})

t.test("Debian's python3-flatbuffers reads our messages", async (t) => {
  if (!need(t, python, `${PY} with python3-flatbuffers`)) return
  const { bytes } = validMessages()[1]!
  const m = readEnvelope(bytes)
  if (m.kind !== 'request') throw new Error('fixture 1 is a request')
  // A reader written against the wire format with the plain python runtime (no generated code).
  const script = `
${pyRequestBody('JOB1')}
job = root(bytearray(body))
print(json.dumps({"type": mtype, "id": idv, "method": method, "name": job.String(job.Offset(4) + job.Pos).decode(),
  "argv": strings(job, 6), "priority": job.Get(N.Int32Flags, job.Offset(8) + job.Pos), "env": strings(job, 14)}))
`
  const out = execFileSync(PY, ['-c', script], { input: bytes, env: { ...process.env, PYTHONPATH: '' } })
  const x = readJob(m.body!)
  t.same(JSON.parse(out.toString()), { type: 2, id: m.id, method: m.method, name: x.name, argv: x.argv, priority: x.priority, env: x.env })
})

t.test('flatc -b output from JSON decodes with our readers', async (t) => {
  if (!need(t, flatc, 'flatc')) return
  const req = flatcBinary({ message_type: 'Request', message: { id: 7, method: 'svc.call', body: [1, 2, 3] } }, envelopeSchema)
  const m = readEnvelope(req)
  t.ok(m.kind === 'request' && m.id === 7 && m.method === 'svc.call')
  if (m.kind === 'request') t.same([...m.body!], [1, 2, 3])
  const res = readEnvelope(flatcBinary({ message_type: 'Response', message: { id: 8, status: 'Error', error: { code: 'E', message: 'x' } } }, envelopeSchema))
  t.ok(res.kind === 'response' && res.id === 8 && !res.ok && res.error?.message === 'x')
  // The application's bodies: flatc's bytes read with the fixture's readers (verify, then
  // protocol.flat), and ours read by flatc.
  const job = { name: 'j', argv: ['a', 'b'], priority: -3, tags: [1, 255], owner: { uid: 1000, name: 'me' }, env: ['X=1'], streams: ['Stdin', 'Stderr'] }
  t.same(readJob(flatcBinary(job, jobSchema)), { ...job, streams: [Stream.Stdin, Stream.Stderr] })
  t.same(
    readJob(flatcBinary({ name: 'only' }, jobSchema)),
    { name: 'only', argv: [], priority: 0, tags: [], owner: null, env: [], streams: [] },
    'absent fields read as defaults',
  )
  t.same(flatcJson(encodeJob({ ...job, streams: [Stream.Stdin, Stream.Stderr] }), jobSchema), job, 'and flatc reads our Job')
  t.same(readJobResult(flatcBinary({ exit_code: 2, finished_at: 2 ** 40 }, resultSchema)), { exitCode: 2, signal: 0, finishedAt: 2n ** 40n })
  t.same(flatcJson(encodeJobResult(4, 9, 5n), resultSchema), { exit_code: 4, signal: 9, finished_at: 5 }, 'and flatc reads our JobResult')
})

t.test('verifier descriptors agree with the .fbs files (via flatc)', async (t) => {
  if (!need(t, flatc, 'flatc')) return
  const roots = [
    [envelopeSchema, EnvelopeRoot],
    [jobSchema, JobRoots.job],
    [resultSchema, JobRoots.result],
  ] as const
  t.equal(roots.length, [...readdirSync(schemas), ...readdirSync(jobSchemas)].filter((f) => f.endsWith('.fbs')).length, 'every root schema is covered')
  checkDescriptors(t, roots)
})
