// `breakdown.mjs --connections`: what a daemon spends per connection, at three levels of fdwire
// (bench/floor/node-floor.mjs: the addon's handles alone, listen() and Connection, the public
// Server), each answering `rush -c exit` (build/Release/rush) with a canned Result. Per
// connection: the daemon's CPU (utime + stime from /proc/PID/stat, proc(5)) and its syscalls
// (strace -f -c, two run lengths, start-up cancelled out). The client's own process start is the
// same for all and left out.
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const CLOCK_TICKS = 100 // sysconf(_SC_CLK_TCK) on Linux: USER_HZ, 100 on every mainstream build

async function startDaemon(root, level, runtimeDir, prefix = []) {
  const [command, ...args] = [...prefix, process.execPath, path.join(root, 'bench', 'floor', 'node-floor.mjs'), level, runtimeDir]
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve)
    child.once('exit', (code) => reject(new Error(`node-floor.mjs ${level} exited (${code})`)))
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // Under strace, the daemon is strace's child: signal it, not strace (which would detach and
  // leave it running); strace writes its table once the daemon exited.
  const pid = prefix.length > 0 ? Number(fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]) : child.pid
  const stop = () => {
    process.kill(pid, 'SIGTERM')
    return exited
  }
  return { pid, stop }
}

function connect(root, runtimeDir, count) {
  const env = { ...process.env, RUSH_RUNTIME_DIR: runtimeDir, RUSH_NO_AUTOSTART: '1' }
  for (let i = 0; i < count; i++) {
    const result = spawnSync(path.join(root, 'build', 'Release', 'rush'), ['-c', 'exit'], { env, stdio: 'ignore' })
    if (result.status !== 0) throw new Error(`rush -c exit: status ${result.status}`)
  }
}

/** utime + stime of `pid` (the whole process, all threads), in µs. */
function cpuOf(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime field 15.
  return { user: (Number(fields[11]) * 1e6) / CLOCK_TICKS, system: (Number(fields[12]) * 1e6) / CLOCK_TICKS }
}

/** strace -c's table ("-U name,calls") as a Map of syscall -> calls. */
export function readStrace(file) {
  const calls = new Map()
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^(\w+)\s+(\d+)$/.exec(line.trim())
    if (match && match[1] !== 'total') calls.set(match[1], Number(match[2]))
  }
  return calls
}

const levelNames = {
  addon: 'addon handles alone',
  connection: 'listen() + Connection (canned reply)',
  server: 'Server (canned handler)',
}

export async function perConnection({ root, dir, count, warmup, table }) {
  if (!fs.existsSync(path.join(root, 'build', 'Release', 'rush'))) {
    console.log('per connection: build/Release/rush is missing (npm run build:native builds it)')
    return
  }
  const levels = ['addon', 'connection', 'server']
  const cpu = new Map(levels.map((level) => [level, []]))
  // Interleaved: each round measures every level, in alternating order.
  for (let round = 0; round < 3; round++) {
    for (const level of round % 2 === 0 ? levels : [...levels].reverse()) {
      const runtimeDir = fs.mkdtempSync(path.join(dir, `conn-${level}-`))
      const daemon = await startDaemon(root, level, runtimeDir)
      connect(root, runtimeDir, warmup)
      const before = cpuOf(daemon.pid)
      connect(root, runtimeDir, count)
      const after = cpuOf(daemon.pid)
      await daemon.stop()
      cpu.get(level).push({ user: (after.user - before.user) / count, system: (after.system - before.system) / count })
    }
  }
  const syscalls = new Map()
  if (spawnSync('strace', ['-V']).status === 0) {
    for (const level of levels) {
      const runs = []
      for (const n of [100, 300]) {
        const runtimeDir = fs.mkdtempSync(path.join(dir, `strace-${level}-`))
        const file = path.join(runtimeDir, 'strace.txt')
        const daemon = await startDaemon(root, level, runtimeDir, ['strace', '-f', '-c', '-U', 'name,calls', '-o', file])
        connect(root, runtimeDir, n)
        await daemon.stop()
        runs.push(readStrace(file))
      }
      const perConnection = [...runs[1]]
        .map(([call, calls]) => [call, (calls - (runs[0].get(call) ?? 0)) / 200])
        .filter(([, n]) => n >= 0.05)
        .sort((a, b) => b[1] - a[1])
      syscalls.set(level, perConnection)
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]
  console.log(
    `### Per connection, daemon side (rush -c exit, ${count} connections after ${warmup}, median of 3 interleaved rounds, ${os.loadavg()[0].toFixed(1)} load)\n`,
  )
  table(
    ['daemon', 'CPU µs per connection', 'of which system', 'syscalls per connection'],
    levels.map((level) => {
      const user = median(cpu.get(level).map((c) => c.user))
      const system = median(cpu.get(level).map((c) => c.system))
      const calls = syscalls.get(level)
      const total = calls ? calls.reduce((sum, [, n]) => sum + n, 0) : undefined
      return [
        levelNames[level],
        (user + system).toFixed(0),
        system.toFixed(0),
        calls ? `${total.toFixed(1)}: ${calls.map(([call, n]) => `${call} ${n.toFixed(1)}`).join(', ')}` : '—',
      ]
    }),
  )
}
