// What scripts/reliability/soak.mjs measures and prints: per process, fds and RSS after warm-up and at
// the end (compare, table); and the RSS of the whole rushd tree (the daemon and every process under
// it) at each phase of a run (treeRss, memoryTable).
import { descendants, fdList, procStats } from './lib.mjs'

/** VmRSS of the daemon `pid` and of each process under it (workers), summed: {treeRssKb,
 *  daemonRssKb, processes}. A process that went meanwhile counts for nothing. */
export function treeRss(pid) {
  let daemonRssKb = 0
  try {
    daemonRssKb = procStats(pid).rssKb
  } catch {
    return { treeRssKb: 0, daemonRssKb: 0, processes: 0 }
  }
  let treeRssKb = daemonRssKb
  let processes = 1
  for (const child of descendants(pid)) {
    try {
      treeRssKb += procStats(child.pid).rssKb
      processes++
    } catch {}
  }
  return { treeRssKb, daemonRssKb, processes }
}

/** Prints the memory phases of a run (see soak.mjs), each with its growth over the first. */
export function memoryTable(log, phases) {
  const mb = (kb) => `${(kb / 1024).toFixed(1)} MB`
  log('\nrush daemon tree RSS (VmRSS of the daemon and every process under it; no forced GC)')
  log('  phase                                  sessions  processes   tree RSS   vs. start   daemon RSS')
  for (const p of phases) {
    const growth = p.treeRssKb - phases[0].treeRssKb
    log(
      `  ${p.phase.padEnd(38)} ${String(p.sessions).padStart(8)}  ${String(p.processes).padStart(9)}  ${mb(p.treeRssKb).padStart(9)}  ${`${growth >= 0 ? '+' : ''}${mb(growth)}`.padStart(10)}  ${mb(p.daemonRssKb).padStart(11)}`,
    )
  }
}

/** Per process: fds and RSS before/after; reports each failure to `fail`. `rssLimitMb` (0: none)
 *  bounds each process's growth. `workersMayRetire`: workers start on demand and retire when idle,
 *  so one gone is no failure, and the daemon holds one connection fewer for each. */
export function compare(what, before, after, beforeFds, { fail, rssLimitMb, workersMayRetire = false }) {
  const rows = []
  const retired = workersMayRetire ? Object.entries(before).filter(([pid, b]) => b.role === 'worker' && !after[pid]).length : 0
  for (const [pid, b] of Object.entries(before)) {
    const a = after[pid]
    if (!a) {
      if (!(workersMayRetire && b.role === 'worker')) fail(`${what}: ${b.role} ${pid} is gone (restarted?)`)
      rows.push({ pid: Number(pid), role: b.role, fdsBefore: b.fds, fdsAfter: null, rssBeforeKb: b.rssKb, rssAfterKb: null })
      continue
    }
    const row = {
      pid: Number(pid),
      role: b.role,
      fdsBefore: b.fds,
      fdsAfter: a.fds,
      rssBeforeKb: b.rssKb,
      rssAfterKb: a.rssKb,
      rssGrowthKb: a.rssKb - b.rssKb,
      rawRssBeforeKb: b.rawRssKb,
      rawRssAfterKb: a.rawRssKb,
      heapBeforeKb: b.heapKb,
      heapAfterKb: a.heapKb,
    }
    rows.push(row)
    if (a.fds !== b.fds - (b.role === 'daemon' ? retired : 0)) {
      let detail = ''
      try {
        const now = fdList(Number(pid))
        detail = ` new: ${now.filter((x) => !beforeFds[pid].includes(x)).join(', ')}; gone: ${beforeFds[pid].filter((x) => !now.includes(x)).join(', ')}`
      } catch {}
      fail(`${what}: ${b.role} ${pid} had ${b.fds} fds after warm-up, ${a.fds} at the end${detail}`)
    }
    if (rssLimitMb > 0 && row.rssGrowthKb > rssLimitMb * 1024)
      fail(`${what}: ${b.role} ${pid} RSS grew by ${(row.rssGrowthKb / 1024).toFixed(1)} MB (limit ${rssLimitMb} MB)`)
  }
  for (const pid of Object.keys(after))
    if (!before[pid])
      rows.push({
        pid: Number(pid),
        role: `${after[pid].role} (new)`,
        fdsBefore: null,
        fdsAfter: after[pid].fds,
        rssBeforeKb: null,
        rssAfterKb: after[pid].rssKb,
      })
  return rows
}

/** Prints compare()'s rows. */
export function table(log, title, rows) {
  log(`\n${title}`)
  log('  pid      role          fds before  fds after  RSS before  RSS after  growth    V8 heap used after GC   RSS, no forced GC')
  for (const r of rows) {
    const mb = (kb) => (kb === null || kb === undefined ? '-' : `${(kb / 1024).toFixed(1)} MB`)
    log(
      `  ${String(r.pid).padEnd(8)} ${r.role.padEnd(13)} ${String(r.fdsBefore ?? '-').padStart(10)}  ${String(r.fdsAfter ?? '-').padStart(9)}  ${mb(r.rssBeforeKb).padStart(10)}  ${mb(r.rssAfterKb).padStart(9)}  ${(r.rssGrowthKb === undefined ? '-' : `${r.rssGrowthKb >= 0 ? '+' : ''}${(r.rssGrowthKb / 1024).toFixed(1)} MB`).padEnd(9)} ${`${mb(r.heapBeforeKb)} → ${mb(r.heapAfterKb)}`.padEnd(22)}  ${mb(r.rawRssBeforeKb)} → ${mb(r.rawRssAfterKb)}`,
    )
  }
}
