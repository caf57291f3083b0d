#!/usr/bin/env node
// Network fuzzer: hostile connections to a running rushd while a well-behaved
// client keeps asking it for answers.
//
//   node scripts/reliability/net-fuzz.mjs [--connections 10000] [--seed N] [--in-flight 32] [--peer-timeout 10000]
//                             [--only I] [--json FILE] [--verbose]
//
// Starts its own rushd (pool mode, private runtime dir) unless --socket PATH --daemon-pid PID name
// a running one. Peer i is generated from a PRNG seeded with (seed, i), so `--seed S --only I`
// replays one peer. Kinds: see `kinds` below. Checks, each a failure if broken:
//  - every answer of the well-behaved client (`rush -c 'echo ok'` in a loop) is right;
//  - the daemon never crashes (same pid at the end) and no worker dies (same worker pids);
//  - the daemon's and every worker's fd count is back to its start value; no stray processes;
//  - each peer gets what the protocol promises: an error Response (ERR_FDWIRE_*) before the close
//    where one is possible (malformed FlatBuffers, wrong hello version, unknown method, bad
//    rush.exec body), and for framing violations a close with no Response (nothing can be sent
//    back at the frame level: docs/protocol.md section 5); the daemon closes its side within
//    --peer-timeout in every case.
// Exit status 0 when every check passed, 1 otherwise.
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { native } from '../../dist/binding.js'
import { protocol } from '../../dist/index.js'
import * as wire from '../../dist/wire.js'
import * as rush from '../../dist/rush/protocol/messages.js'
import {
  alive,
  descendants,
  fdList,
  makeRuntimeDir,
  parseArgs,
  poll,
  prng,
  quiesce,
  usePrivateTree,
  rushAsync,
  rushReady,
  snapshot,
  startRushd,
  stopRushd,
  workerPids,
} from './lib.mjs'

const opts = parseArgs(process.argv.slice(2), {
  connections: 10_000,
  seed: -1,
  inFlight: 32,
  peerTimeout: 10_000,
  only: -1,
  json: '',
  verbose: false,
  socket: '',
  daemonPid: 0,
})
if (opts.seed < 0) opts.seed = Math.floor(Math.random() * 2 ** 31)
const MAX_FRAME = 4 * 1024 * 1024 // rushd's maxFrameSize (rush/src/constants.ts)
const MAX_FDS = 8 // rushd's maxFdsPerFrame

// ---------------------------------------------------------------- frames
function header(length, { fdCount = 0, id = 0, type = wire.FRAME_TYPE_ENVELOPE, flags = wire.FLAGS_NONE, magic = wire.MAGIC, version = wire.VERSION } = {}) {
  const h = Buffer.alloc(wire.HEADER_SIZE)
  h.writeUInt16LE(magic, wire.AT_MAGIC)
  h[wire.AT_VERSION] = version
  h[wire.AT_FD_COUNT] = fdCount
  h.writeUInt32LE(length >>> 0, wire.AT_LENGTH)
  h.writeUInt32LE(id >>> 0, wire.AT_ID)
  h.writeUInt16LE(type, wire.AT_TYPE)
  h.writeUInt16LE(flags, wire.AT_FLAGS)
  return h
}
const frame = (payload, o = {}) => Buffer.concat([header(payload.length, o), Buffer.from(payload)])
const hello = (version = protocol.PROTOCOL_VERSION) => frame(protocol.encodeHello(version, 'net-fuzz'))
const request = (id, method, body) => frame(protocol.encodeRequest(id, method, body), { id })
const validExec = () => rush.encodeExecRequest({ argv: ['echo never run'], cwd: '/', env: {}, umask: 0o22, fdRoles: [0, 1, 2] })

/** Parses the frames in `bytes`: [{length, fdCount, type, envelope?: {kind, id, code}}]. */
function parseFrames(bytes) {
  const out = []
  let at = 0
  const size = wire.HEADER_SIZE
  while (at + size <= bytes.length) {
    const length = bytes.readUInt32LE(at + wire.AT_LENGTH)
    if (at + size + length > bytes.length) break
    const payload = bytes.subarray(at + size, at + size + length)
    const f = { type: bytes.readUInt16LE(at + wire.AT_TYPE) }
    try {
      const e = protocol.readEnvelope(payload)
      f.envelope = { kind: e.kind, id: e.id ?? 0, code: e.kind === 'response' ? (e.error?.code ?? '') : '' }
    } catch (error) {
      f.envelope = { kind: 'unreadable', error: error.message }
    }
    out.push(f)
    at += size + length
  }
  return { frames: out, trailing: bytes.length - at }
}

// ---------------------------------------------------------------- peers
/**
 * Each kind returns a plan: `send` (Buffers, or {bytes, fds} for sendmsg with SCM_RIGHTS),
 * `slow` (byte at a time), `endAfterSend` (half-close our side), and `expect`:
 *   {reply: {id, code}}   an error Response with this id and code (code may be a RegExp)
 *   {noReply: true}       framing violation: no Response at all, just the close
 *   {any: true}           anything but a crash or a connection the daemon never closes
 */
const kinds = {
  'random-bytes': (r) => {
    const b = r.bytes(r.int(1, 4096))
    if (b[0] === wire.MAGIC0) b[0] = 0 // not a frame header by accident
    // Fewer than 16 bytes are not a header yet: nothing is wrong until more comes or the peer ends
    // its side (then: truncated). A peer that stays silent there keeps its connection (no idle
    // timeout per connection; docs/reliability.md), so these peers end their side.
    return { send: [b], endAfterSend: b.length < wire.HEADER_SIZE, expect: { noReply: true } }
  },
  'bad-header': (r) => {
    const field = r.pick(['magic', 'version', 'flags'])
    const o =
      field === 'magic'
        ? { magic: r.int(0, 0xfffe) === wire.MAGIC ? 0 : r.int(0, wire.MAGIC - 1) }
        : field === 'version'
          ? { version: r.pick([0, 2, 255]) }
          : { flags: r.int(1, 0xffff) }
    return { send: [frame(protocol.encodeHello(), o)], expect: { noReply: true } }
  },
  oversized: (r) => {
    const length = r.pick([MAX_FRAME + 1, r.int(MAX_FRAME + 1, 0xffffffff), 0xffffffff])
    return { send: [Buffer.concat([header(length), r.bytes(r.int(0, 64))])], expect: { noReply: true } }
  },
  'zero-length': (r) => ({ send: [...(r.next() < 0.5 ? [hello()] : []), frame(Buffer.alloc(0))], expect: { reply: { id: 0, code: 'ERR_FDWIRE_MALFORMED' } } }),
  truncated: (r) => {
    const whole = Buffer.concat([hello(), request(1, 'fdwire.status')])
    const cut = r.int(1, whole.length - 1)
    const send = [whole.subarray(0, cut)]
    // A cut exactly at the hello's end is a clean frame boundary: then it is a half-close.
    return { send, endAfterSend: true, expect: cut === hello().length ? { any: true } : { noReply: true } }
  },
  'fds-undeclared': (r) => ({ send: [{ bytes: hello(), fds: r.int(1, 253) }], expect: { noReply: true } }),
  'fds-too-many': (r) => {
    const n = r.int(MAX_FDS + 1, 253)
    return { send: [{ bytes: frame(protocol.encodeHello(), { fdCount: n }), fds: n }], expect: { noReply: true } }
  },
  'fds-count-mismatch': (r) => {
    const n = r.int(2, MAX_FDS)
    return { send: [{ bytes: frame(protocol.encodeHello(), { fdCount: n }), fds: n - 1 }], expect: { noReply: true } }
  },
  'fds-on-hello': (r) => {
    // Legal framing, and the session ignores a hello's fds: they must be closed, not kept.
    const n = r.int(1, MAX_FDS)
    return { send: [{ bytes: frame(protocol.encodeHello(), { fdCount: n }), fds: n }], endAfterSend: true, expect: { any: true } }
  },
  'fds-on-unknown-method': (r) => {
    const n = r.int(1, MAX_FDS)
    const id = r.int(1, 0xffffffff)
    return {
      send: [hello(), { bytes: frame(protocol.encodeRequest(id, 'fuzz.nope'), { fdCount: n, id }), fds: n }],
      expect: { reply: { id, code: 'ERR_FDWIRE_UNKNOWN_METHOD' } },
      endAfterReply: true,
    }
  },
  'malformed-flatbuffer': (r) => {
    const valid = protocol.encodeRequest(7, 'fdwire.status')
    const payload = r.next() < 0.5 ? r.bytes(r.int(1, 512)) : Buffer.from(valid.subarray(0, r.int(0, 7)))
    return { send: [hello(), frame(payload)], expect: { reply: { id: 0, code: 'ERR_FDWIRE_MALFORMED' } } }
  },
  'wrong-message-kind': (r) => {
    const payload = r.pick([protocol.encodeResponse(3, {}), protocol.encodeStreamEnd(3), protocol.encodeStreamItem(3, 0)])
    return { send: [hello(), frame(payload)], expect: { reply: { id: 0, code: 'ERR_FDWIRE_MALFORMED' } } }
  },
  'wrong-frame-type': (r) => ({
    send: [hello(), frame(protocol.encodeRequest(1, 'fdwire.status'), { type: r.int(1, 0xffff) })],
    expect: { reply: { id: 0, code: 'ERR_FDWIRE_MALFORMED' } },
  }),
  'wrong-version': (r) => ({ send: [hello(r.pick([0, 2, 99, 0xffffffff]))], expect: { reply: { id: 0, code: 'ERR_FDWIRE_PROTOCOL_VERSION' } } }),
  'unknown-method': (r) => {
    const id = r.int(1, 0xffffffff)
    const method = r.pick(['fuzz.nope', 'rush.', 'x'.repeat(r.int(1, 2000)), r.bytes(r.int(1, 64)).toString('latin1')])
    return { send: [hello(), request(id, method, r.bytes(r.int(0, 64)))], expect: { reply: { id, code: 'ERR_FDWIRE_UNKNOWN_METHOD' } }, endAfterReply: true }
  },
  'bad-exec-body': (r) => {
    const id = r.int(1, 0xffffffff)
    const valid = validExec()
    const body = r.next() < 0.5 ? r.bytes(r.int(0, 256)) : Buffer.from(valid.subarray(0, r.int(0, Math.min(valid.length - 1, 12))))
    return { send: [hello(), request(id, 'rush.exec', body)], expect: { reply: { id, code: 'ERR_FDWIRE_MALFORMED' } }, endAfterReply: true }
  },
  'half-close': (r) => ({ send: r.next() < 0.5 ? [] : [hello()], endAfterSend: true, expect: { noReply: true } }),
  'slow-valid': (r) => {
    const id = r.int(1, 0xffffffff)
    return { send: [hello(), request(id, 'fuzz.slow')], slow: true, expect: { reply: { id, code: 'ERR_FDWIRE_UNKNOWN_METHOD' } }, endAfterReply: true }
  },
  'slow-garbage': (r) => ({ send: [Buffer.concat([hello(), header(r.int(0, 64), { flags: 1 }), r.bytes(8)])], slow: true, expect: { noReply: true } }),
  mutated: (r) => {
    const whole = Buffer.concat([hello(), request(r.int(1, 1000), 'rush.exec', validExec())])
    for (let k = r.int(1, 4); k > 0; k--) whole[r.int(0, whole.length - 1)] = r.int(0, 255)
    return { send: [whole], endAfterSend: true, expect: { any: true } }
  },
}
const kindNames = Object.keys(kinds)

function peerRng(seed, index) {
  return prng((Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0)
}

/** Sends `buf` with `count` fds (copies of one pipe end) on one sendmsg. */
function sendWithFds(fd, buf, count) {
  const pipe = native.pipe()
  if (!Array.isArray(pipe)) throw new Error(`pipe: ${pipe}`)
  try {
    const n = native.sendRaw(
      fd,
      buf,
      Int32Array.from({ length: count }, () => pipe[0]),
    )
    if (n < 0) return n
    if (n < buf.length) {
      const rest = native.sendRaw(fd, buf.subarray(n), null)
      if (rest < 0) return rest
    }
    return buf.length
  } finally {
    native.close(pipe[0])
    native.close(pipe[1])
  }
}

async function runPeer(index, socketPath) {
  const r = peerRng(opts.seed, index)
  const kind = kindNames[Math.floor(r.next() * kindNames.length)]
  const plan = kinds[kind](r)
  const result = { index, kind, ok: true, problem: '', replies: [] }
  // Raw sends with fds go out before the socket is handed to libuv; everything else via net.
  let fd = -1
  const usesFds = plan.send.some((s) => s.fds !== undefined)
  for (let attempt = 0; attempt < 50; attempt++) {
    fd = native.connect(Buffer.from(socketPath), false)
    if (fd >= 0 || (fd !== -11 && fd !== -111)) break // EAGAIN: backlog full, retry
    await sleep(20)
  }
  if (fd < 0) return { ...result, ok: false, problem: `connect: errno ${-fd}` }
  let sendError = ''
  let queue = plan.send
  if (usesFds) {
    const rest = []
    let broken = false
    for (const s of plan.send) {
      if (broken) break
      if (s.fds !== undefined || rest.length === 0) {
        const n = s.fds !== undefined ? sendWithFds(fd, s.bytes, s.fds) : native.sendRaw(fd, s, null)
        if (n < 0) {
          sendError = `sendmsg: errno ${-n}`
          broken = true
        }
      } else rest.push(s)
    }
    queue = rest
  }
  const socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true })
  const chunks = []
  let ended = false
  let closed = false
  let socketError = ''
  socket.on('data', (d) => chunks.push(d))
  socket.on('error', (e) => (socketError = e.code ?? e.message))
  const endSeen = new Promise((resolve) => {
    socket.on('end', () => {
      ended = true
      resolve()
    })
    socket.on('close', () => {
      closed = true
      resolve()
    })
  })
  const timeout = sleep(opts.peerTimeout).then(() => 'timeout')
  try {
    for (const s of queue) {
      if (closed) break
      if (plan.slow) {
        for (let k = 0; k < s.length && !closed && !ended; k++) {
          socket.write(s.subarray(k, k + 1))
          await sleep(r.int(0, 2))
        }
      } else socket.write(s)
    }
    if (plan.endAfterSend && !closed) socket.end()
    if (plan.endAfterReply) {
      // Wait for the reply, then finish our side as a polite client would.
      await Promise.race([
        poll(() => parseFrames(Buffer.concat(chunks)).frames.some((f) => f.envelope?.kind === 'response') || closed, opts.peerTimeout, 5),
        timeout,
      ])
      if (!closed) socket.end()
    }
    const outcome = await Promise.race([endSeen, timeout])
    if (outcome === 'timeout') {
      result.ok = false
      result.problem = `the daemon kept the connection open for ${opts.peerTimeout} ms`
    }
  } finally {
    socket.destroy()
  }
  const { frames } = parseFrames(Buffer.concat(chunks))
  const responses = frames.filter((f) => f.envelope?.kind === 'response').map((f) => f.envelope)
  result.replies = frames.map((f) => (f.envelope.kind === 'response' ? `response ${f.envelope.id} ${f.envelope.code}` : f.envelope.kind))
  const e = plan.expect
  if (result.ok && e.reply) {
    const hit = responses.find((x) => x.id === e.reply.id && (e.reply.code instanceof RegExp ? e.reply.code.test(x.code) : x.code === e.reply.code))
    if (!hit) {
      result.ok = false
      result.problem = `expected response ${e.reply.id} ${e.reply.code}, got [${result.replies.join(', ')}]${sendError ? ` (${sendError})` : ''}${socketError ? ` (${socketError})` : ''}`
    }
  }
  if (result.ok && e.noReply && responses.length) {
    result.ok = false
    result.problem = `a framing violation got a reply: [${result.replies.join(', ')}]`
  }
  result.gotError = responses.some((x) => x.code.startsWith('ERR_FDWIRE_'))
  return result
}

// ---------------------------------------------------------------- the run
async function main() {
  if (!rushReady()) {
    console.error('net-fuzz: build/Release/rush or dist/rush missing')
    return 2
  }
  usePrivateTree()
  let socketPath = opts.socket
  let daemon = opts.daemonPid
  let env
  let dir
  if (!socketPath) {
    dir = makeRuntimeDir('fdwire-fuzz-')
    ;({ env, pid: daemon } = startRushd(dir))
    socketPath = path.join(dir, 'daemon.sock')
  }
  const failures = []
  const fail = (m) => {
    failures.push(m)
    console.log(`FAIL ${m}`)
  }
  const goodEnv = env ?? { ...process.env, RUSH_NO_AUTOSTART: '1' }
  // Warm up the daemon and every worker, then take the baseline.
  for (let k = 0; k < 3; k++) await Promise.all(Array.from({ length: 6 }, () => rushAsync(['-c', 'sleep 0.1; echo ok'], goodEnv)))
  // The baseline is taken once the warm-up's sessions are over everywhere (a worker closes its
  // end some time after the client has its answer): a snapshot of a busy worker means nothing.
  const workers0 = workerPids(daemon)
  const before = await quiesce(daemon, socketPath)
  if (!before) {
    console.error('net-fuzz: the daemon and its workers never became idle after the warm-up')
    return 1
  }
  const beforeFds = Object.fromEntries(Object.keys(before).map((pid) => [pid, fdList(Number(pid))]))
  const ownFds0 = fs.readdirSync('/proc/self/fd').length
  console.log(
    `net-fuzz: seed ${opts.seed}, ${opts.connections} connections, ${opts.inFlight} in flight; daemon ${daemon}, workers ${workers0.join(' ')}; load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${os.cpus().length} cpus`,
  )

  // The well-behaved client.
  let fuzzing = true
  const good = { answers: 0, wrong: 0, maxMs: 0, totalMs: 0 }
  const goodLoop = (async () => {
    while (fuzzing) {
      const res = await rushAsync(['-c', 'echo ok'], goodEnv, { timeout: 30_000 })
      good.answers++
      good.totalMs += res.ms
      good.maxMs = Math.max(good.maxMs, res.ms)
      if (res.stdout !== 'ok\n' || res.status !== 0) {
        good.wrong++
        if (good.wrong <= 5)
          fail(
            `well-behaved client: ${JSON.stringify({ status: res.status, signal: res.signal, stdout: res.stdout, stderr: res.stderr, timedOut: res.timedOut })}`,
          )
      }
    }
  })()

  const byKind = {}
  const indices = opts.only >= 0 ? [opts.only] : Array.from({ length: opts.connections }, (_, i) => i)
  let next = 0
  let done = 0
  const t0 = performance.now()
  const lane = async () => {
    while (next < indices.length) {
      const index = indices[next++]
      let res
      try {
        res = await runPeer(index, socketPath)
      } catch (error) {
        res = { index, kind: '?', ok: false, problem: `peer threw: ${error.stack}` }
      }
      const k = (byKind[res.kind] ??= { peers: 0, failed: 0, errorReplies: 0 })
      k.peers++
      if (res.gotError) k.errorReplies++
      if (!res.ok) {
        k.failed++
        if (k.failed <= 3) fail(`peer ${res.index} (${res.kind}; rerun: --seed ${opts.seed} --only ${res.index}): ${res.problem}`)
      } else if (opts.verbose) console.log(`ok peer ${res.index} ${res.kind}: ${res.replies.join(', ')}`)
      if (++done % 1000 === 0) console.log(`  ${done}/${indices.length} peers, ${good.answers} good answers`)
      if (!alive(daemon)) break
    }
  }
  await Promise.all(Array.from({ length: opts.inFlight }, lane))
  const elapsed = performance.now() - t0
  fuzzing = false
  await goodLoop

  // The end state.
  if (!alive(daemon)) fail(`the daemon (pid ${daemon}) died`)
  const workers1 = workerPids(daemon)
  if (workers1.join() !== workers0.join()) fail(`workers changed: ${workers0.join(' ')} → ${workers1.join(' ')} (a worker died and was replaced)`)
  // Idle again (every hostile connection closed everywhere), then compared.
  let after = await quiesce(daemon, socketPath)
  if (after === undefined) {
    fail('the daemon and its workers never became idle after the fuzzing')
    after = snapshot(daemon)
  }
  const rows = []
  for (const [pid, b] of Object.entries(before)) {
    const a = after[pid]
    rows.push({ pid: Number(pid), role: b.role, fdsBefore: b.fds, fdsAfter: a?.fds ?? null, rssBeforeKb: b.rssKb, rssAfterKb: a?.rssKb ?? null })
    if (a && a.fds !== b.fds) {
      const now = fdList(Number(pid))
      fail(
        `${b.role} ${pid}: ${b.fds} fds before, ${a.fds} after (new: ${now
          .filter((x) => !beforeFds[pid].includes(x))
          .slice(0, 10)
          .join(', ')})`,
      )
    }
  }
  const strays = descendants(daemon).filter((p) => !workers1.includes(p.pid))
  if (strays.length) fail(`stray processes under the daemon: ${strays.map((p) => `${p.pid} ${p.cmd.join(' ')}`).join('; ')}`)
  const ownFds1 = fs.readdirSync('/proc/self/fd').length
  if (good.answers === 0) fail('the well-behaved client got no answer')

  console.log(`\npeers by kind (${indices.length} in ${(elapsed / 1000).toFixed(1)} s):`)
  console.log('  kind                     peers  failed  got ERR_FDWIRE_* reply')
  for (const [kind, k] of Object.entries(byKind).sort())
    console.log(`  ${kind.padEnd(24)} ${String(k.peers).padStart(5)}  ${String(k.failed).padStart(6)}  ${String(k.errorReplies).padStart(6)}`)
  console.log(
    `well-behaved client: ${good.answers} answers, ${good.wrong} wrong, mean ${(good.totalMs / Math.max(1, good.answers)).toFixed(0)} ms, slowest ${good.maxMs.toFixed(0)} ms`,
  )
  console.log('processes (fds, RSS before → after):')
  for (const row of rows)
    console.log(
      `  ${row.role.padEnd(7)} ${row.pid}: fds ${row.fdsBefore} → ${row.fdsAfter}, RSS ${(row.rssBeforeKb / 1024).toFixed(1)} → ${row.rssAfterKb === null ? '-' : (row.rssAfterKb / 1024).toFixed(1)} MB`,
    )
  console.log(`fuzzer's own fds: ${ownFds0} → ${ownFds1}`)
  const report = {
    date: new Date().toISOString(),
    seed: opts.seed,
    connections: indices.length,
    inFlight: opts.inFlight,
    elapsedMs: elapsed,
    machine: { cpus: os.cpus().length, loadavg: os.loadavg(), node: process.version },
    byKind,
    good,
    processes: rows,
    daemonAlive: alive(daemon),
    failures,
    ok: failures.length === 0,
  }
  if (opts.json) {
    fs.mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true })
    fs.writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`)
  }
  if (env) {
    stopRushd(env)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  console.log(failures.length ? `\nnet-fuzz: ${failures.length} check(s) failed (seed ${opts.seed})` : `\nnet-fuzz: all checks passed (seed ${opts.seed})`)
  return failures.length ? 1 : 0
}

process.exitCode = await main()
