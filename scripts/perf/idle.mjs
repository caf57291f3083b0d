// `breakdown.mjs --idle`: what a connection costs when the machine sat idle before it. `rush -c
// exit` (build/Release/rush) against each level of instructions.mjs (the addon's handles, listen()
// + Connection, Server, rushd), interleaved by bench/floor/interleave.c, which leaves the machine
// idle a given time after each command. On the machine docs/performance.md describes, every level
// costs more after a pause, and the levels that touch more per connection most.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { daemonCommand, levels, listening, requestFile } from './instructions.mjs'

async function startLevel(root, dir, level, client, request, warmup) {
  const runtimeDir = fs.mkdtempSync(path.join(dir, `idle-${level}-`))
  fs.chmodSync(runtimeDir, 0o700)
  const { args, env } = daemonCommand(root, level, runtimeDir)
  const daemon = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] })
  const exited = new Promise((resolve) => daemon.once('exit', resolve))
  const socket = await listening(daemon, runtimeDir, 15_000, () => `${level}: the daemon did not listen`)
  // V8 optimizes a daemon's per-connection code only after some thousands of connections.
  execFileSync(client, ['--fds', socket, request, String(warmup)], { stdio: 'ignore' })
  return {
    runtimeDir,
    stop: () => {
      daemon.kill('SIGTERM')
      return exited
    },
  }
}

export async function idleCost({ root, dir, pauses, runs, warmup, table }) {
  if (spawnSync('cc', ['--version'], { stdio: 'ignore' }).error) {
    console.log('per connection after idle: no C compiler (apt-get install gcc)')
    return
  }
  const rush = path.join(root, 'build', 'Release', 'rush')
  const client = path.join(dir, 'connect-loop')
  const interleave = path.join(dir, 'interleave')
  execFileSync('cc', ['-O2', '-o', client, path.join(root, 'bench', 'floor', 'connect-loop.c')])
  execFileSync('cc', ['-O2', '-o', interleave, path.join(root, 'bench', 'floor', 'interleave.c')])
  const request = await requestFile(root, dir)
  const chosen = Object.keys(levels)
  const daemons = []
  try {
    for (const level of chosen) daemons.push(await startLevel(root, dir, level, client, request, warmup))
    const rows = []
    for (const pause of pauses) {
      const args = ['--pause-us', String(pause), '100', String(runs)]
      for (const { runtimeDir } of daemons) args.push('--', `RUSH_RUNTIME_DIR=${runtimeDir}`, 'RUSH_NO_AUTOSTART=1', rush, '-c', 'exit')
      const lines = execFileSync(interleave, args, { encoding: 'utf8', maxBuffer: 1 << 26 })
        .trim()
        .split('\n')
      const p50 = lines.map((line) => {
        const times = line.split(' ').map(Number)
        return times[times.length >> 1]
      })
      rows.push([
        pause === 0 ? 'none' : `${pause / 1000} ms`,
        ...p50.map((us, i) => (i === 0 ? us.toFixed(0) : `${us.toFixed(0)} (${us >= p50[0] ? '+' : '−'}${Math.abs(us - p50[0]).toFixed(0)})`)),
      ])
    }
    console.log(
      `### Per connection after idle: \`rush -c exit\` p50 µs, and over the addon's handles (node ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg()[0].toFixed(1)}; ${runs} interleaved rounds per pause, each daemon warmed by ${warmup} connections)\n`,
    )
    table(['machine idle after each command', ...chosen.map((level) => levels[level])], rows)
  } finally {
    await Promise.all(daemons.map((daemon) => daemon.stop()))
  }
}
