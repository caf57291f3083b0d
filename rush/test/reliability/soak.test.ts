/**
 * A short soak (the full size is `npm run soak`): scripts/reliability/soak.mjs with 500 rush
 * sessions after 3,000 of warm-up (by then V8's heap has its working size) and 10 connections x 100
 * library round trips. Every answer right, the fd count of the daemon, each worker and the library
 * server unchanged, some concurrent sessions served by workers, the daemon tree's RSS taken at each
 * phase. RSS growth is reported here but not bounded: on a loaded machine it varies with GC
 * timing, so its goal is checked by `npm run soak` (--rss-limit-mb, --idle-growth-limit-mb), a
 * measurement, not by the test suite.
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { collect, root, tempDir } from '../../../test/helpers.js'
import { haveRush } from './lib.js'

t.setTimeout(300_000) // longer than the default per-file timeout: this runs a whole soak/fuzz

interface Row {
  pid: number
  role: string
  fdsBefore: number | null
  fdsAfter: number | null
  rssGrowthKb?: number
}
interface Report {
  ok: boolean
  failures: string[]
  rush: {
    sessions: number
    warmupSessions: number
    mismatches: number
    servedByWorkers: number
    processes: Row[]
    memory: { phase: string; sessions: number; treeRssKb: number; processes: number }[]
  }
  library: { connections: number; roundTrips: number; wrong: number; errors: number; processes: Row[] }
}

t.test('500 rush sessions and 1,000 library round trips: every answer right, no fd leaked', { timeout: 300_000 }, async (t) => {
  if (!haveRush(t)) return
  const out = path.join(tempDir(t), 'soak.json')
  // `env -u NODE_OPTIONS`: tap's loaders must not reach the script, rushd or its workers.
  const child = spawn(
    '/usr/bin/env',
    [
      '-u',
      'NODE_OPTIONS',
      process.execPath,
      path.join(root, 'scripts', 'reliability', 'soak.mjs'),
      '--rss-limit-mb',
      '0',
      '--warmup',
      '3000',
      '--sessions',
      '500',
      '--connections',
      '10',
      '--round-trips',
      '100',
      '--recovery-rounds',
      '0',
      '--out',
      out,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const [stdout, stderr, code] = await Promise.all([collect(child.stdout), collect(child.stderr), new Promise((resolve) => child.on('close', resolve))])
  for (const line of stdout.trimEnd().split('\n')) t.comment(line)
  t.equal(code, 0, `soak.mjs passed${stderr ? `; stderr: ${stderr}` : ''}`)
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report
  t.same(report.failures, [], 'no check failed')
  t.ok(report.rush.sessions - report.rush.warmupSessions >= 500, `${report.rush.sessions - report.rush.warmupSessions} sessions after warm-up`)
  t.equal(report.rush.mismatches, 0, 'every session gave the output and status sh would')
  t.ok(report.rush.servedByWorkers > 0, `${report.rush.servedByWorkers} concurrent sessions were served by workers`)
  t.same(
    [report.library.connections, report.library.roundTrips, report.library.wrong, report.library.errors],
    [10, 1000, 0, 0],
    'every round trip echoed its request',
  )
  t.same(
    report.rush.memory.map((m) => m.phase.replace(/\d+ sessions$/, 'N sessions')),
    ['idle after start', 'after 100 concurrent sessions', 'after N sessions'],
    'the daemon tree RSS was taken idle after start, after 100 concurrent sessions and at the end',
  )
  for (const m of report.rush.memory) {
    t.ok(m.treeRssKb > 0 && m.processes >= 1, `${m.phase}: ${m.processes} processes, ${(m.treeRssKb / 1024).toFixed(1)} MB`)
  }
  for (const row of [...report.rush.processes, ...report.library.processes]) {
    if (row.role.includes('(new)')) continue
    t.equal(row.fdsAfter, row.fdsBefore, `${row.role} ${row.pid}: ${row.fdsBefore} fds after warm-up, ${row.fdsAfter} at the end`)
    t.comment(`${row.role} ${row.pid}: RSS growth ${((row.rssGrowthKb ?? NaN) / 1024).toFixed(1)} MB`)
  }
})
