// The verifier's promise: after corruption, a message is either rejected with
// ERR_FDWIRE_MALFORMED or still reads as a valid message (every field readable, nothing thrown).
import t from 'tap'
import { mutate, xorshift } from './mutate.js'
import { EnvelopeRoot, readEnvelope, toObject, type Envelope } from '../../src/protocol/index.js'
import { asReceived, JobRoots, readJob, readJobResult, validMessages } from './fixtures.js'

/** An FdwireError with ERR_FDWIRE_MALFORMED. */
function isMalformed(e: unknown): boolean {
  return e instanceof Error && e.name === 'FdwireError' && (e as { code?: unknown }).code === 'ERR_FDWIRE_MALFORMED'
}

/** Reads every field the way an application would; throws if anything misbehaves. */
function readAll(m: Envelope): unknown[] {
  const out: unknown[] = [m.kind]
  switch (m.kind) {
    case 'hello':
      out.push(m.protocolVersion, m.buildId)
      break
    case 'request':
      out.push(m.id, m.method, m.methodBytes.length, m.body?.length)
      break
    case 'response':
    case 'streamEnd':
      out.push(m.id, m.status, m.ok, m.error)
      if (m.kind === 'response') out.push(m.body?.length)
      break
    case 'streamItem':
      out.push(m.id, m.seq, m.body?.length)
      break
    case 'cancel':
      out.push(m.id, m.reason)
      break
  }
  for (const v of out) {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error('non-finite field')
  }
  return out
}

/** Returns 'rejected' or 'valid'; fails the test on any other outcome. */
function check(bytes: Uint8Array): 'rejected' | 'valid' {
  try {
    const view = asReceived(bytes)
    const m = readEnvelope(view)
    readAll(m)
    toObject(view, EnvelopeRoot)
    const body = m.kind === 'request' || m.kind === 'response' || m.kind === 'streamItem' ? m.body : null
    if (body !== null) {
      if (body.byteOffset < view.byteOffset || body.byteOffset + body.length > view.byteOffset + view.length) {
        throw new Error('body view escapes the payload')
      }
      // Bodies are verified by their own reader before use.
      try {
        if (m.kind === 'request') {
          readJob(body)
          toObject(body, JobRoots.job)
        } else if (m.kind === 'response') readJobResult(body)
      } catch (e) {
        if (!isMalformed(e)) throw e
      }
    }
    return 'valid'
  } catch (e) {
    if (isMalformed(e)) return 'rejected'
    throw e
  }
}

t.test('the valid fixtures verify', async (t) => {
  for (const { name, bytes } of validMessages()) t.equal(check(bytes), 'valid', name)
})

t.test('every single-byte corruption is rejected or still reads as a valid message', async (t) => {
  for (const { name, bytes } of validMessages()) {
    const counts = { rejected: 0, valid: 0 }
    const copy = Buffer.from(bytes)
    for (let i = 0; i < bytes.length; i++) {
      const original = copy[i]!
      for (let v = 0; v < 256; v++) {
        if (v === original) continue
        copy[i] = v
        counts[check(copy)]++
      }
      copy[i] = original
    }
    t.ok(counts.rejected > 0, `${name}: ${counts.rejected} rejected, ${counts.valid} still valid`)
  }
})

t.test('every truncation is rejected or still reads as a valid message', async (t) => {
  for (const { name, bytes } of validMessages()) {
    let rejected = 0
    for (let n = 0; n < bytes.length; n++) if (check(bytes.subarray(0, n)) === 'rejected') rejected++
    t.ok(rejected >= bytes.length / 2, `${name}: ${rejected} of ${bytes.length} truncations rejected`)
  }
})

t.test('100,000 random mutations throw nothing but ERR_FDWIRE_MALFORMED and never hang', async (t) => {
  const rand = xorshift()
  const base = validMessages().map((m) => m.bytes)
  const counts = { rejected: 0, valid: 0 }
  let slowest = 0
  for (let i = 0; i < 100_000; i++) {
    const src = base[rand(base.length)]!
    const m = mutate(src, rand)
    const start = process.hrtime.bigint()
    counts[check(m)]++
    const ns = Number(process.hrtime.bigint() - start)
    if (ns > slowest) slowest = ns
  }
  t.ok(counts.rejected > 50_000, `${counts.rejected} rejected, ${counts.valid} still valid`)
  // No time bound here (a loaded machine stretches any): a verifier that loops is caught by the
  // test's timeout, and 'depth and table-count limits bound the work' below counts the work.
  t.comment(`slowest check took ${(slowest / 1e6).toFixed(2)} ms`)
})

t.test('depth and table-count limits bound the work', async (t) => {
  const { bytes } = validMessages()[1]!
  t.throws(() => readEnvelope(bytes, { maxDepth: 1 }), { code: 'ERR_FDWIRE_MALFORMED', message: /nesting deeper/ })
  t.throws(() => readEnvelope(bytes, { maxTables: 1 }), { code: 'ERR_FDWIRE_MALFORMED', message: /more than 1 tables/ })
  t.throws(() => readEnvelope(bytes, { maxDepth: 0 }), RangeError)
})
