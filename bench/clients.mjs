// Which rush client, reached how: `rush -c exit` through one warm rushd with
//   - the prebuilt client (static, musl, cross-built by `npm run prebuild:all`): what the install
//     script puts at node_modules/.bin/rush;
//   - the same client reached through bin/rush, the sh launcher (an install with scripts disabled);
//   - the client built from source on this machine (build/Release/rush, static glibc when libc.a is
//     there);
// and do-nothing static binaries (glibc, and musl when musl-gcc is here) as the floor, and
// `dash -c exit` for scale. All interleaved (bench/floor/interleave.c), so the
// load's drift favours none. Needs `npm run prebuild:all` (or `--only linux-x64-glibc`) first.
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { environment, printHeader, printTable, quantile, tempDir, writeResults } from './lib/common.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUNS = Number(process.env.BENCH_CLIENT_RUNS ?? 2000)
const WARMUP = 200
const target = `${process.platform}-${process.arch}`
const prebuilt = path.join(root, 'prebuilds', target, 'rush')
const built = path.join(root, 'build', 'Release', 'rush')

if (!fs.existsSync(prebuilt) || !fs.existsSync(built)) {
  console.log(`clients: needs ${path.relative(root, prebuilt)} (npm run prebuild:all) and ${path.relative(root, built)} (npm install); skipped`)
  process.exit(0)
}
const dir = tempDir()
const compile = (name, source, flags = []) => {
  const out = path.join(dir, name)
  execFileSync('cc', ['-O2', ...flags, '-o', out, source])
  return out
}
const interleave = compile('interleave', path.join(root, 'bench', 'floor', 'interleave.c'))
fs.writeFileSync(path.join(dir, 'nothing.c'), 'int main(void) { return 0; }\n')
const nothing = compile('nothing', path.join(dir, 'nothing.c'), ['-static'])
// The same do-nothing program on musl, when musl-gcc is here: the floor for a static musl client.
let nothingMusl = null
if (spawnSync('musl-gcc', ['--version']).status === 0) {
  nothingMusl = path.join(dir, 'nothing-musl')
  execFileSync('musl-gcc', ['-O2', '-static', '-o', nothingMusl, path.join(dir, 'nothing.c')])
}

// A package as an install with --ignore-scripts leaves it: bin/rush is the launcher, no build/.
const pkg = path.join(dir, 'pkg')
fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true })
fs.mkdirSync(path.join(pkg, 'prebuilds', target), { recursive: true })
fs.copyFileSync(path.join(root, 'bin', 'rush'), path.join(pkg, 'bin', 'rush'))
fs.copyFileSync(prebuilt, path.join(pkg, 'prebuilds', target, 'rush'))
fs.chmodSync(path.join(pkg, 'prebuilds', target, 'rush'), 0o755)

const runtimeDir = path.join(dir, 'rush')
const env = { ...process.env, RUSH_RUNTIME_DIR: runtimeDir }
const start = spawnSync(process.execPath, [path.join(root, 'bin', 'rushd'), 'start'], { env, encoding: 'utf8' })
if (start.status !== 0) throw new Error(`rushd start failed: ${start.stderr}`)
process.on('exit', () => spawnSync(process.execPath, [path.join(root, 'bin', 'rushd'), 'stop'], { env }))

const via = [`RUSH_RUNTIME_DIR=${runtimeDir}`, 'RUSH_NO_AUTOSTART=1']
const commands = [
  { name: 'do-nothing static binary (glibc)', argv: [nothing] },
  ...(nothingMusl ? [{ name: 'do-nothing static binary (musl)', argv: [nothingMusl] }] : []),
  ...(fs.existsSync('/bin/dash') ? [{ name: 'dash -c exit', argv: ['/bin/dash', '-c', 'exit'] }] : []),
  { name: 'prebuilt client (static musl)', argv: [...via, prebuilt, '-c', 'exit'], file: prebuilt },
  { name: 'prebuilt client via bin/rush launcher', argv: [...via, path.join(pkg, 'bin', 'rush'), '-c', 'exit'] },
  { name: 'client built here (build/Release/rush)', argv: [...via, built, '-c', 'exit'], file: built },
]
const args = [String(WARMUP), String(RUNS)]
for (const command of commands) args.push('--', ...command.argv)
const lines = execFileSync(interleave, args, { encoding: 'utf8', maxBuffer: 64 << 20 })
  .trim()
  .split('\n')
const results = commands.map((command, i) => {
  const us = lines[i].split(' ').map(Number)
  return { name: command.name, p50: quantile(us, 0.5), p90: quantile(us, 0.9), bytes: command.file ? fs.statSync(command.file).size : null }
})
const env0 = environment()
printHeader(`rush clients: rush -c exit through one warm rushd, ${RUNS} interleaved rounds after ${WARMUP}`, env0)
const base = results.find((r) => r.name.startsWith('prebuilt client ('))
printTable(
  ['command', 'p50 µs', 'p90 µs', 'p50 vs prebuilt client', 'p50 above prebuilt µs', 'size KB'],
  results.map((r) => [
    r.name,
    r.p50.toFixed(0),
    r.p90.toFixed(0),
    `${(r.p50 / base.p50).toFixed(2)}×`,
    (r.p50 - base.p50).toFixed(0),
    r.bytes === null ? '' : (r.bytes / 1024).toFixed(0),
  ]),
)
writeResults('clients', { environment: env0, runs: RUNS, results })
