// Memory of rushd: resident size of the daemon and of each pool worker, idle after start and after
// 1,000 sessions (some of them concurrent, so workers serve too), against an idle Node process
// measured in the same run — the floor any Node daemon pays.
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { environment, printHeader, printTable, tempDir, writeResults } from './lib/common.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const rush = path.join(root, 'build', 'Release', 'rush')
const rushd = path.join(root, 'bin', 'rushd')
const SESSIONS = 1000

const rssKb = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN)
const mb = (kb) => (kb / 1024).toFixed(1)
const children = (pid) =>
  fs
    .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((child) => fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('rush/worker.js'))

async function main() {
  if (!fs.existsSync(rush)) throw new Error(`${rush} is missing: run npm install`)
  const dir = tempDir()
  const env = { ...process.env, RUSH_RUNTIME_DIR: path.join(dir, 'rt'), RUSH_NO_AUTOSTART: '1' }
  const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  await sleep(500)
  const idleKb = rssKb(idle.pid)
  idle.kill()
  if (spawnSync(process.execPath, [rushd, 'start'], { env }).status !== 0) throw new Error('rushd start failed')
  const daemon = Number(fs.readFileSync(path.join(env.RUSH_RUNTIME_DIR, 'daemon.pid'), 'utf8'))
  try {
    await sleep(1000)
    const before = { daemon: rssKb(daemon), workers: children(daemon).map(rssKb) }
    for (let i = 0; i < SESSIONS; i += 10) {
      // Bursts of 4 concurrent sessions, so the pool's workers serve some of them.
      const burst = [0, 1, 2, 3].map(() => new Promise((resolve) => spawn(rush, ['-c', 'echo $0 >/dev/null'], { env, stdio: 'ignore' }).on('exit', resolve)))
      await Promise.all(burst)
      for (let k = 0; k < 6; k++) spawnSync(rush, ['-c', 'true'], { env })
    }
    await sleep(500)
    const after = { daemon: rssKb(daemon), workers: children(daemon).map(rssKb) }
    const e = environment()
    printHeader(`rushd memory: resident set size (VmRSS), idle and after ${SESSIONS} sessions`, e)
    printTable(
      ['process', 'idle MB', `after ${SESSIONS} sessions MB`, 'vs idle Node process'],
      [
        ['idle Node process (node -e setInterval)', mb(idleKb), '—', '1.00×'],
        ['rushd daemon', mb(before.daemon), mb(after.daemon), `${(after.daemon / idleKb).toFixed(2)}×`],
        ...after.workers.map((kb, i) => [`rushd worker ${i + 1}`, mb(before.workers[i] ?? NaN), mb(kb), `${(kb / idleKb).toFixed(2)}×`]),
        [
          'rushd in all (daemon + workers)',
          mb(before.daemon + before.workers.reduce((a, b) => a + b, 0)),
          mb(after.daemon + after.workers.reduce((a, b) => a + b, 0)),
          '—',
        ],
      ],
    )
    writeResults('memory', { env: e, sessions: SESSIONS, idleNodeKb: idleKb, before, after })
  } finally {
    spawnSync(process.execPath, [rushd, 'stop'], { env })
  }
}

await main()
