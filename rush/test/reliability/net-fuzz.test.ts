/**
 * The network fuzzer (full size: `node scripts/reliability/net-fuzz.mjs --connections 10000`)
 * with 1,000 hostile connections to a rushd while `rush -c 'echo ok'` runs in a loop: every good
 * answer right, the daemon never dies, no worker dies, fds back to their start values, no stray
 * process, and every peer gets what the protocol promises (error reply or plain close).
 * Seed: FDWIRE_FUZZ_SEED, else 1 (the same 1,000 peers every run; the seed is printed).
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { collect, root, tempDir } from '../../../test/helpers.js'
import { haveRush } from './lib.js'

t.setTimeout(300_000) // longer than the default per-file timeout: this runs a whole soak/fuzz

interface Report {
  ok: boolean
  failures: string[]
  seed: number
  connections: number
  daemonAlive: boolean
  byKind: Record<string, { peers: number; failed: number; errorReplies: number }>
  good: { answers: number; wrong: number }
  processes: { pid: number; role: string; fdsBefore: number; fdsAfter: number | null }[]
}

t.test(
  '1,000 hostile connections: the daemon keeps answering, leaks nothing, and refuses each bad peer as the protocol says',
  { timeout: 300_000 },
  async (t) => {
    if (!haveRush(t)) return
    const out = path.join(tempDir(t), 'fuzz.json')
    const seed = process.env['FDWIRE_FUZZ_SEED'] ?? '1'
    const child = spawn(
      '/usr/bin/env',
      [
        '-u',
        'NODE_OPTIONS',
        process.execPath,
        path.join(root, 'scripts', 'reliability', 'net-fuzz.mjs'),
        '--connections',
        '1000',
        '--seed',
        seed,
        '--peer-timeout',
        '60000',
        '--json',
        out,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const [stdout, stderr, code] = await Promise.all([collect(child.stdout), collect(child.stderr), new Promise((resolve) => child.on('close', resolve))])
    for (const line of stdout.trimEnd().split('\n')) t.comment(line)
    t.equal(code, 0, `net-fuzz.mjs passed (seed ${seed})${stderr ? `; stderr: ${stderr}` : ''}`)
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report
    t.same(report.failures, [], 'no check failed')
    t.equal(report.connections, 1000, '1,000 peers')
    t.ok(report.daemonAlive, 'the daemon never crashed')
    t.ok(report.good.answers > 0 && report.good.wrong === 0, `the well-behaved client got ${report.good.answers} right answers, ${report.good.wrong} wrong`)
    for (const [kind, k] of Object.entries(report.byKind))
      t.equal(k.failed, 0, `${kind}: ${k.peers} peers, ${k.errorReplies} got an ERR_FDWIRE_* reply, none misbehaved`)
    for (const kind of ['malformed-flatbuffer', 'wrong-version', 'unknown-method', 'zero-length', 'bad-exec-body']) {
      const k = report.byKind[kind]
      t.ok(k && k.peers > 0 && k.errorReplies === k.peers, `${kind}: every peer got an error reply (${k?.errorReplies}/${k?.peers})`)
    }
    for (const row of report.processes) t.equal(row.fdsAfter, row.fdsBefore, `${row.role} ${row.pid}: fds back to ${row.fdsBefore}`)
  },
)
