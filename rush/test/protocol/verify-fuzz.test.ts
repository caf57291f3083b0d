// Rush's readers keep the verifier's promise: a corrupted rush body is either rejected with ERR_FDWIRE_MALFORMED or still reads as a valid message.
//
// Each body is fuzzed alone, at an odd offset inside a larger buffer as a receive buffer holds
// it, through the reader rushd or a client uses (every field read) and the descriptor-driven
// decoder. The envelope around it is the library's, fuzzed in test/protocol/verify-fuzz.test.ts.
import { FdwireError, protocol } from 'fdwire'
import t from 'tap'
import { mutate, xorshift } from '../../../test/protocol/mutate.js'
import { asReceived, type Reader, rushBodies } from './fixtures.js'

type RootDescriptor = protocol.RootDescriptor

/** An FdwireError with ERR_FDWIRE_MALFORMED. */
function isMalformed(e: unknown): boolean {
  return e instanceof FdwireError && e.code === 'ERR_FDWIRE_MALFORMED'
}

/** Every leaf value of what a reader returned. */
const leaves = (v: unknown): unknown[] => (Array.isArray(v) ? v.flatMap(leaves) : v !== null && typeof v === 'object' ? Object.values(v).flatMap(leaves) : [v])

/** Returns 'rejected' or 'valid'; fails the test on any other outcome. */
function check(bytes: Uint8Array, read: Reader, root: RootDescriptor): 'rejected' | 'valid' {
  try {
    const view = asReceived(bytes)
    const fields = read(view)
    for (const v of leaves(fields)) if (typeof v === 'number' && !Number.isFinite(v)) throw new Error('non-finite field')
    protocol.toObject(view, root)
    return 'valid'
  } catch (e) {
    if (isMalformed(e)) return 'rejected'
    throw e
  }
}

t.test('the valid bodies verify', async (t) => {
  for (const { name, bytes, read, root } of rushBodies()) t.equal(check(bytes, read, root), 'valid', name)
})

t.test('every single-byte corruption is rejected or still reads as a valid message', async (t) => {
  for (const { name, bytes, read, root } of rushBodies()) {
    const counts = { rejected: 0, valid: 0 }
    const copy = Buffer.from(bytes)
    for (let i = 0; i < bytes.length; i++) {
      const original = copy[i]!
      for (let v = 0; v < 256; v++) {
        if (v === original) continue
        copy[i] = v
        counts[check(copy, read, root)]++
      }
      copy[i] = original
    }
    t.ok(counts.rejected > 0, `${name}: ${counts.rejected} rejected, ${counts.valid} still valid`)
  }
})

t.test('every truncation is rejected or still reads as a valid message', async (t) => {
  for (const { name, bytes, read, root } of rushBodies()) {
    let rejected = 0
    for (let n = 0; n < bytes.length; n++) if (check(bytes.subarray(0, n), read, root) === 'rejected') rejected++
    t.ok(rejected >= bytes.length / 2, `${name}: ${rejected} of ${bytes.length} truncations rejected`)
  }
})

t.test('100,000 random mutations throw nothing but ERR_FDWIRE_MALFORMED and never hang', async (t) => {
  const rand = xorshift()
  const base = rushBodies()
  const counts = { rejected: 0, valid: 0 }
  let slowest = 0
  for (let i = 0; i < 100_000; i++) {
    const { bytes, read, root } = base[rand(base.length)]!
    const m = mutate(bytes, rand)
    const start = process.hrtime.bigint()
    counts[check(m, read, root)]++
    const ns = Number(process.hrtime.bigint() - start)
    if (ns > slowest) slowest = ns
  }
  t.ok(counts.rejected > 50_000, `${counts.rejected} rejected, ${counts.valid} still valid`)
  // No time bound here (a loaded machine stretches any): a reader that loops is caught by the
  // test's timeout.
  t.comment(`slowest check took ${(slowest / 1e6).toFixed(2)} ms`)
})
