// Workers as processes or as threads, for rushd: what one more worker costs in memory and how long
// it takes to be ready, each kind loading the same code (rush's handlers on fdwire), measured in
// the same run, interleaved round by round.
//
//   node bench/worker-kinds.mjs [--rounds 5] [--workers 4]
//
// Process: a WorkerPool worker (rush's own worker script), from spawn to its Hello; its memory is
// its own VmRSS (and its PSS, which shares the pages it has in common with other processes).
// Thread: a worker_threads Worker in a host process, from `new Worker` to its first
// message after the same imports; its memory is what the host's VmRSS grew by.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { environment, median, printHeader, printTable, writeResults } from './lib/common.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const flag = (name, fallback) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const ROUNDS = flag('--rounds', 5)
const WORKERS = flag('--workers', 4)
const rssKb = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN)
// Proportional set size (proc(5), smaps_rollup): pages shared with other processes (the node
// binary's text, say) count in part; what a process really adds to the machine.
const pssKb = (pid) => Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? Number.NaN)

// A host process: with `threads`, starts WORKERS threads one after another, each importing what a
// rushd worker imports; prints its RSS before, each thread's ready time, and its RSS after.
const HOST = `
import { Worker } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
const [handlers, count] = [process.argv[2], Number(process.argv[3])]
const code = "import('fdwire').then(() => import(" + JSON.stringify(handlers) + ")).then(() => require('node:worker_threads').parentPort.postMessage('ready'))"
const ms = []
await new Promise((resolve) => setTimeout(resolve, 300))
const before = process.memoryUsage.rss()
const workers = []
for (let i = 0; i < count; i++) {
  const t0 = performance.now()
  const w = new Worker(code, { eval: true })
  await new Promise((resolve) => w.once('message', resolve))
  ms.push(performance.now() - t0)
  workers.push(w)
}
await new Promise((resolve) => setTimeout(resolve, 500))
globalThis.gc?.()
console.log(JSON.stringify({ before, after: process.memoryUsage.rss(), ms }))
for (const w of workers) await w.terminate()
`

async function threads() {
  const hostFile = path.join(root, 'bench', '.worker-kinds-host.mjs')
  fs.writeFileSync(hostFile, HOST)
  try {
    const handlers = path.join(root, 'dist', 'rush', 'handlers.js')
    const child = spawn(process.execPath, [hostFile, handlers, String(WORKERS)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
    await new Promise((resolve) => child.on('exit', resolve))
    const r = JSON.parse(out)
    const kbEach = (r.after - r.before) / 1024 / WORKERS
    return { kbEach, pssEach: kbEach, ms: r.ms }
  } finally {
    fs.rmSync(hostFile, { force: true })
  }
}

async function processes() {
  const { WorkerPool } = await import('../dist/index.js')
  const pool = new WorkerPool({
    script: path.join(root, 'dist', 'rush', 'worker.js'),
    size: WORKERS,
    minSize: 0,
    env: { ...process.env, RUSH_STATE_DIR: '/tmp', RUSH_WORKER_MODE: 'pool' },
  })
  await pool.start()
  const ms = []
  const kb = []
  const pss = []
  try {
    for (let i = 0; i < WORKERS; i++) {
      const t0 = performance.now()
      const ready = new Promise((resolve) => pool.once('workerSpawn', resolve))
      pool.warm(i + 1)
      await ready
      ms.push(performance.now() - t0)
    }
    await sleep(500)
    for (const pid of pool.pids) {
      kb.push(rssKb(pid))
      pss.push(pssKb(pid))
    }
  } finally {
    await pool.close()
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
  return { kbEach: mean(kb), pssEach: mean(pss), ms }
}

const rounds = { process: [], thread: [] }
for (let round = 0; round < ROUNDS; round++) {
  rounds.process.push(await processes())
  rounds.thread.push(await threads())
}
const row = (name, results) => {
  const kb = median(results.map((r) => r.kbEach))
  const pss = median(results.map((r) => r.pssEach))
  const ms = median(results.flatMap((r) => r.ms))
  return [name, (kb / 1024).toFixed(1), (pss / 1024).toFixed(1), ms.toFixed(0)]
}
const e = environment()
printHeader(`rushd workers as processes or threads: memory and start, median of ${ROUNDS} rounds of ${WORKERS} workers`, e)
printTable(
  ['worker kind', 'MB each (RSS)', 'MB each (PSS)', 'ms to ready'],
  [row('process (WorkerPool, rush worker)', rounds.process), row('thread (worker_threads, same imports)', rounds.thread)],
)
writeResults('worker-kinds', { env: e, rounds })
