// The verifier's promise: after corruption, a message is either rejected with
// ERR_FDWIRE_MALFORMED or still reads as a valid message (every field readable, nothing thrown).
import t from 'tap'
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
  // Deterministic PRNG so a failure reproduces.
  let seed = 0x9e3779b9
  const rand = (n: number): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  const base = validMessages().map((m) => m.bytes)
  const counts = { rejected: 0, valid: 0 }
  let slowest = 0
  for (let i = 0; i < 100_000; i++) {
    const src = base[rand(base.length)]!
    let m = Buffer.from(src)
    const edits = 1 + rand(6)
    for (let e = 0; e < edits; e++) {
      const op = rand(10)
      if (op < 6 && m.length > 0) m[rand(m.length)] = rand(256)
      else if (op < 7) m = m.subarray(0, rand(m.length + 1))
      else if (op < 8 && m.length >= 4) m.writeUInt32LE([0, 0xffffffff, 0x7fffffff, 4, rand(2 ** 32)][rand(5)]!, rand(m.length - 3) & ~3)
      else if (op < 9) m = Buffer.concat([m, Buffer.alloc(rand(16), rand(256))])
      else if (m.length >= 2) m.writeUInt16LE(rand(65536), rand(m.length - 1) & ~1)
    }
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
