// Helpers shared by the benches: child servers, timing statistics, and reporting.
import { fork } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const benchDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

/** A fresh private directory for the bench's sockets, removed when the process exits. */
export function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-bench-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  // A signal would skip 'exit' handlers; exiting explicitly runs them.
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(128 + os.constants.signals[signal]))
  return dir
}

/**
 * Starts `bench/lib/<script>` in its own process and resolves once it reports 'ready'. The IPC
 * channel doubles as the child's lifeline: it exits when the channel closes, so a killed or crashed
 * parent never leaves a server behind.
 */
export function startServer(script, args) {
  const child = fork(path.join(benchDir, 'lib', script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => reject(new Error(`${script} exited early (${signal ?? code})`)))
    child.once('message', (message) => {
      if (message !== 'ready') return reject(new Error(`${script}: unexpected message ${message}`))
      child.removeAllListeners('exit')
      resolve({ stop: () => stopServer(child) })
    })
  })
}

function stopServer(child) {
  return new Promise((resolve) => {
    child.once('exit', resolve)
    child.disconnect()
  })
}

/** Server side of startServer(): report readiness, and exit with the parent. */
export function serveUntilParentExits() {
  process.once('disconnect', () => process.exit(0))
  process.send('ready')
}

/** The q-quantile (0..1) of an ascending array, nearest-rank. */
export function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

export function median(values) {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  )
}

/** Context the numbers mean nothing without. */
export function environment() {
  return {
    node: process.version,
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    platform: `${os.platform()} ${os.release()}`,
    // On a shared machine, the other load explains much of the spread between runs.
    loadAverage: os.loadavg()[0],
  }
}

export function printHeader(title, env) {
  console.log(`\n### ${title}\n`)
  console.log(`node ${env.node}, ${env.date}, ${env.cpu} (${env.cpus} cpus), ${env.platform}, load average ${env.loadAverage.toFixed(1)} at start\n`)
}

/** Prints rows (arrays of cells) as a markdown table, numbers right-aligned. */
export function printTable(columns, rows) {
  const cells = [columns, ...rows].map((row) => row.map(String))
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)))
  const numeric = columns.map((_, i) => rows.every((row) => typeof row[i] === 'number' || /^[\d.,x ×-]+$/.test(row[i])))
  const line = (row) => `| ${row.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join(' | ')} |`
  console.log(line(cells[0]))
  console.log(`|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`)
  for (const row of cells.slice(1)) console.log(line(row))
  console.log()
}

export function writeResults(name, results) {
  const dir = path.join(benchDir, 'results')
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${name}.json`)
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`raw results: ${path.relative(process.cwd(), file)}`)
}

export const fmt = {
  us: (ns) => (ns / 1000).toFixed(1),
  int: (n) => Math.round(n).toLocaleString('en-US'),
  ratio: (x) => `${x.toFixed(2)}×`,
}
