// Concurrent sessions through rushd: the wall time of a burst of 8 `rush -c 'echo …'` started at
// once, until the last one exits, for
//   - the default pool right after its workers retired (the first burst after idle, which may
//     pay for starting a worker),
//   - a pool whose 4 workers are kept running (RUSH_POOL_MIN=4: warm),
//   - no workers at all (RUSH_POOL_SIZE=0: the daemon serves every session),
// interleaved round by round so that the load's drift favours none.
//
//   node bench/burst.mjs [--rounds 30] [--burst 8]
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Client } from '../dist/index.js'
import { environment, fmt, median, printHeader, printTable, quantile, tempDir, writeResults } from './lib/common.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const rush = path.join(root, 'build', 'Release', 'rush')
const rushd = path.join(root, 'bin', 'rushd')
const args = process.argv.slice(2)
const flag = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback)
const ROUNDS = flag('--rounds', 30)
const BURST = flag('--burst', 8)

async function status(dir) {
  const client = await Client.connect(path.join(dir, 'daemon.sock'))
  try {
    return (await client.request('fdwire.status')).json()
  } finally {
    await client.close()
  }
}

function burst(env) {
  const t0 = performance.now()
  return Promise.all(
    Array.from({ length: BURST }, (_, i) => new Promise((resolve) => spawn(rush, ['-c', `echo ${i}`], { env, stdio: 'ignore' }).on('exit', resolve))),
  ).then(() => performance.now() - t0)
}

async function main() {
  if (!fs.existsSync(rush)) throw new Error(`${rush} is missing: run npm install`)
  const dir = tempDir()
  const configs = [
    { name: 'first burst after idle (default pool, workers retired)', env: { RUSH_WORKER_IDLE: '0.2' }, cold: true },
    { name: 'warm pool (RUSH_POOL_MIN=4)', env: { RUSH_POOL_MIN: '4' } },
    { name: 'no workers (RUSH_POOL_SIZE=0)', env: { RUSH_POOL_SIZE: '0' } },
  ]
  for (const [i, c] of configs.entries()) {
    c.dir = path.join(dir, `rt${i}`)
    c.env = { ...process.env, ...c.env, RUSH_RUNTIME_DIR: c.dir, RUSH_NO_AUTOSTART: '1' }
    if (spawnSync(process.execPath, [rushd, 'start'], { env: c.env }).status !== 0) throw new Error(`rushd start failed (${c.name})`)
    c.times = []
  }
  try {
    for (const c of configs) for (let w = 0; w < 5; w++) await burst(c.env) // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of configs) {
        if (c.cold) {
          for (let s = await status(c.dir); s.workers + s.workersStarting > 0; s = await status(c.dir)) await sleep(50)
        } else if (c.env.RUSH_POOL_MIN) {
          while ((await status(c.dir)).workers < 4) await sleep(50)
        }
        c.times.push(await burst(c.env))
      }
    }
  } finally {
    for (const c of configs) spawnSync(process.execPath, [rushd, 'stop'], { env: c.env })
  }
  const e = environment()
  printHeader(`rushd under a burst of ${BURST} concurrent sessions: wall time until the last exits, ${ROUNDS} interleaved rounds`, e)
  const warm = median(configs[1].times)
  printTable(
    ['daemon', 'p50 ms', 'p90 ms', 'p50 vs warm pool'],
    configs.map((c) => {
      const sorted = [...c.times].sort((a, b) => a - b)
      return [c.name, median(c.times).toFixed(1), quantile(sorted, 0.9).toFixed(1), fmt.ratio(median(c.times) / warm)]
    }),
  )
  writeResults('burst', { env: e, rounds: ROUNDS, burst: BURST, times: Object.fromEntries(configs.map((c) => [c.name, c.times])) })
}

await main()
