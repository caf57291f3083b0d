// Random damage for the verifier's fuzz tests, deterministic so that a failure reproduces.

/** xorshift32 from a fixed seed: `rand(n)` is in [0, n). */
export function xorshift(seed = 0x9e3779b9): (n: number) => number {
  let s = seed
  return (n) => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) % n
  }
}

/** A copy of `bytes` with 1 to 6 edits: bytes overwritten, a truncation, a 32-bit offset or length
 *  set to an edge value, junk appended, a 16-bit field overwritten. */
export function mutate(bytes: Uint8Array, rand: (n: number) => number): Buffer {
  let m = Buffer.from(bytes)
  const edits = 1 + rand(6)
  for (let e = 0; e < edits; e++) {
    const op = rand(10)
    if (op < 6 && m.length > 0) m[rand(m.length)] = rand(256)
    else if (op < 7) m = m.subarray(0, rand(m.length + 1))
    else if (op < 8 && m.length >= 4) m.writeUInt32LE([0, 0xffffffff, 0x7fffffff, 4, rand(2 ** 32)][rand(5)]!, rand(m.length - 3) & ~3)
    else if (op < 9) m = Buffer.concat([m, Buffer.alloc(rand(16), rand(256))])
    else if (m.length >= 2) m.writeUInt16LE(rand(65536), rand(m.length - 1) & ~1)
  }
  return m
}
