// Memory of rushd as deployed (workers on demand): the resident size of its whole tree (daemon and
// workers) idle after start, right after 100 concurrent sessions, and after 1,000 more sessions
// followed by the workers' idle retirement — against an idle Node process measured in the same
// run, the floor any Node daemon pays.
//
//   node bench/memory.mjs [--sessions 1000]
//
// RUSH_WORKER_IDLE is 2 s here (30 s by default) so that the retirement is seen quickly.
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { environment, printHeader, printTable, tempDir, writeResults } from './lib/common.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const rush = path.join(root, 'build', 'Release', 'rush')
const rushd = path.join(root, 'bin', 'rushd')
const args = process.argv.slice(2)
const SESSIONS = args.includes('--sessions') ? Number(args[args.indexOf('--sessions') + 1]) : 1000
const CONCURRENT = 100

const rssKb = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN)
const mb = (kb) => (kb / 1024).toFixed(1)
const workers = (pid) => {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((child) => fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('rush/worker.js'))
  } catch {
    return []
  }
}
/** The tree's resident size now: {daemon, workers: [kb...], total}. */
const tree = (daemon) => {
  const w = workers(daemon).map(rssKb)
  const d = rssKb(daemon)
  return { daemon: d, workers: w, total: d + w.reduce((a, b) => a + b, 0) }
}
const run = (env, script) => new Promise((resolve) => spawn(rush, ['-c', script], { env, stdio: 'ignore' }).on('exit', resolve))

async function main() {
  if (!fs.existsSync(rush)) throw new Error(`${rush} is missing: run npm install`)
  const dir = tempDir()
  const env = { ...process.env, RUSH_RUNTIME_DIR: path.join(dir, 'rt'), RUSH_NO_AUTOSTART: '1', RUSH_WORKER_IDLE: '2' }
  const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  await sleep(500)
  const idleKb = rssKb(idle.pid)
  idle.kill()
  if (spawnSync(process.execPath, [rushd, 'start'], { env }).status !== 0) throw new Error('rushd start failed')
  const daemon = Number(fs.readFileSync(path.join(env.RUSH_RUNTIME_DIR, 'daemon.pid'), 'utf8'))
  try {
    await sleep(1000)
    const start = tree(daemon)
    // 100 sessions at once, each holding its session until all have started.
    await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => run(env, `echo ${i} >/dev/null; echo ${i}`)))
    const burst = tree(daemon)
    for (let i = 0; i < SESSIONS; i += 10) {
      // Mixed: builtins, a program the client execs, an sh script, and a burst of 4 at once.
      await Promise.all([0, 1, 2, 3].map((k) => run(env, `echo ${i + k} >/dev/null`)))
      await run(env, 'true')
      await run(env, 'cd /tmp && pwd >/dev/null')
      await run(env, '/bin/true')
      await run(env, 'echo a | cat >/dev/null')
      await run(env, 'exit 3')
      await run(env, ':')
    }
    const end = tree(daemon)
    // The workers retire after RUSH_WORKER_IDLE; then what stays is the daemon alone.
    for (let i = 0; i < 100 && workers(daemon).length > 0; i++) await sleep(100)
    await sleep(500)
    const rested = tree(daemon)
    const e = environment()
    printHeader(`rushd memory: resident set size (VmRSS) of the daemon and its workers, workers on demand`, e)
    const row = (name, t) => [name, mb(t.daemon), `${t.workers.length}`, mb(t.total), `${(t.total / idleKb).toFixed(2)}×`]
    printTable(
      ['moment', 'daemon MB', 'workers', 'tree MB', 'vs idle Node process'],
      [
        ['idle Node process (node -e setInterval)', mb(idleKb), '—', mb(idleKb), '1.00×'],
        ['rushd idle after start', ...row('', start).slice(1)],
        [`right after ${CONCURRENT} concurrent sessions`, ...row('', burst).slice(1)],
        [`after ${SESSIONS} more sessions (mixed, bursts of 4)`, ...row('', end).slice(1)],
        ['then idle, workers retired', ...row('', rested).slice(1)],
      ],
    )
    writeResults('memory', { env: e, sessions: SESSIONS, concurrent: CONCURRENT, idleNodeKb: idleKb, start, burst, end, rested })
  } finally {
    spawnSync(process.execPath, [rushd, 'stop'], { env })
  }
}

await main()
