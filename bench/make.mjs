// A real workload: `make -j2` over a generated Makefile of 2,000 recipe lines, with SHELL set to
// dash, bash and the rush client, interleaved (round after round, each shell once per round in
// turn). make starts SHELL for (nearly) every recipe line, so this is what a build's shell
// start-ups cost, with make's own work and two jobs at a time around them.
//
// GNU make does not start SHELL for every line. On Unix, when SHELL is exactly its default
// /bin/sh, it execs a line with no shell syntax itself (`true` here). And when SHELL's file name
// is one it knows as Bourne-compatible (sh, bash, dash, ksh, zsh, ash…), a line that is only `:`
// starts no process at all. rush it cannot know, so rush is started for every line. The bench sees
// what make does with strace, where it can, and prints for how many lines make started each
// shell. So there are two tables: (a) SHELL=X as a user types it, with make's default beside it;
// (b) every shell started for every line, through SHELL paths make does not know (symlinks named
// shell-dash and shell-bash, and rush): the like-for-like comparison.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { environment, fmt, median, printHeader, printTable, tempDir, writeResults } from './lib/common.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
// The client an installed package runs: the prebuilt one (static musl) when there is one, else
// the one built here.
const prebuiltRush = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'rush')
const rush = fs.existsSync(prebuiltRush) ? prebuiltRush : path.join(root, 'build', 'Release', 'rush')
const rushd = path.join(root, 'bin', 'rushd')
const ROUNDS = Number(process.env.BENCH_MAKE_ROUNDS ?? 5)
const JOBS = 2
const TARGETS = 200
const LINES_PER_TARGET = 10
/** `rush -c` requests the daemon serves before anything is timed (V8 optimizes late). */
const DAEMON_WARMUP = 300

/**
 * The recipe lines, as a shell sees them (make's `$$` is written out when the Makefile is made).
 * Each target has 10 lines: 4 lone programs (each kind once, the last one writing the target's
 * marker file), 3 builtins (rotating over 4 kinds from target to target), 2 pipelines and 1
 * command substitution, in an order that mixes them.
 */
const KINDS = {
  lone: [
    { name: 'true', line: () => 'true' },
    { name: 'cat file >/dev/null', line: () => 'cat input.txt >/dev/null' },
    { name: 'test -f file', line: () => 'test -f input.txt' },
    { name: "printf '%s\\n' x >marker", line: (t) => `printf '%s\\n' x >out/${t}.done` },
  ],
  builtin: [
    { name: 'echo x >/dev/null', line: () => 'echo x >/dev/null' },
    { name: ':', line: () => ':' },
    { name: 'cd sub && pwd >/dev/null', line: () => 'cd sub && pwd >/dev/null' },
    { name: 'export A=1', line: () => 'export A=1' },
  ],
  pipeline: [
    { name: 'echo a | tr a b >/dev/null', line: () => 'echo a | tr a b >/dev/null' },
    { name: 'ls | wc -l >/dev/null', line: () => 'ls | wc -l >/dev/null' },
  ],
  substitution: [{ name: 'x=$(echo y); test "$x" = y', line: () => 'x=$(echo y); test "$x" = y' }],
}
/** Category and index within it of each of a target's 10 lines, in order. */
const SLOTS = [
  ['lone', 0],
  ['builtin', 0],
  ['lone', 1],
  ['pipeline', 0],
  ['builtin', 1],
  ['lone', 2],
  ['substitution', 0],
  ['builtin', 2],
  ['pipeline', 1],
  ['lone', 3],
]

const targetName = (i) => `t${String(i).padStart(3, '0')}`

/** The kind used in `slot` of target `i`: builtins rotate, so each of the 4 kinds is used alike. */
function kindAt(i, [category, index]) {
  const kinds = KINDS[category]
  return { category, ...kinds[category === 'builtin' ? (i + index) % kinds.length : index] }
}

/** Writes the Makefile and the files its recipes read; returns how often each kind is used. */
function writeWorkload(dir) {
  fs.writeFileSync(path.join(dir, 'input.txt'), 'a line of input text, as a recipe might read\n'.repeat(100))
  fs.mkdirSync(path.join(dir, 'sub'))
  fs.mkdirSync(path.join(dir, 'out'))
  const names = Array.from({ length: TARGETS }, (_, i) => targetName(i))
  // Kinds in the order of KINDS, so that the printed mix reads by category.
  const counts = new Map(
    Object.entries(KINDS).flatMap(([category, kinds]) => kinds.map((kind) => [kind.name, { category, line: kind.line(names[0]), count: 0 }])),
  )
  let text = `# Made by bench/make.mjs: ${TARGETS} targets of ${LINES_PER_TARGET} recipe lines.\n.PHONY: all ${names.join(' ')}\nall: ${names.join(' ')}\n`
  for (const [i, name] of names.entries()) {
    text += `${name}:\n`
    for (const slot of SLOTS) {
      const kind = kindAt(i, slot)
      counts.get(kind.name).count++
      text += `\t${kind.line(name).replaceAll('$', () => '$$')}\n`
    }
  }
  fs.writeFileSync(path.join(dir, 'Makefile'), text)
  return counts
}

function startRushd(runtimeDir) {
  const result = spawnSync(process.execPath, [rushd, 'start'], { env: { ...process.env, RUSH_RUNTIME_DIR: runtimeDir }, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`rushd start failed: ${result.stderr}`)
}

/** The daemon's pid, or undefined when none answers at `runtimeDir`. */
function rushdPid(runtimeDir) {
  const result = spawnSync(process.execPath, [rushd, 'status'], { env: { ...process.env, RUSH_RUNTIME_DIR: runtimeDir }, encoding: 'utf8' })
  const pid = /pid (\d+)/.exec(result.stdout)?.[1]
  return result.status === 0 && !/did not answer/.test(result.stdout) ? pid : undefined
}

function stopRushd(runtimeDir) {
  spawnSync(process.execPath, [rushd, 'stop'], { env: { ...process.env, RUSH_RUNTIME_DIR: runtimeDir }, stdio: 'ignore' })
}

/**
 * Runs the whole Makefile once with `shell` (undefined: make's default) and returns the wall time
 * in seconds. Any failure throws: a non-zero status, any output (every line's output goes to
 * /dev/null or a file, and -s silences make), or a missing or wrong marker file.
 */
function runMake(dir, env, shell, label) {
  const out = path.join(dir, 'out')
  fs.rmSync(out, { recursive: true, force: true })
  fs.mkdirSync(out)
  const args = [`-j${JOBS}`, '-s', '-f', 'Makefile', ...(shell ? [`SHELL=${shell}`] : [])]
  const start = process.hrtime.bigint()
  const result = spawnSync('make', args, { cwd: dir, env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const failed = (why) => new Error(`make ${args.join(' ')} (${label}) ${why}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
  if (result.error) throw failed(`did not run: ${result.error.message}`)
  if (result.status !== 0) throw failed(`exited with ${result.signal ?? result.status}`)
  if (result.stdout !== '' || result.stderr !== '') throw failed('printed output (it should print nothing)')
  const markers = fs.readdirSync(out)
  if (markers.length !== TARGETS) throw failed(`left ${markers.length} marker files, not ${TARGETS}`)
  for (const marker of markers) if (fs.readFileSync(path.join(out, marker), 'utf8') !== 'x\n') throw failed(`wrote a wrong ${marker}`)
  return seconds
}

/**
 * How make runs each kind of line with `shell` (undefined: make's default, /bin/sh), seen with
 * strace: one Makefile per kind, and the programs make's process tree execs. Returns a Map from
 * kind name to 'shell' (make started the shell), 'direct' (make exec'd the program itself) or
 * 'skipped' (no process at all), or undefined when strace cannot trace here.
 */
function howMakeRuns(work, probeDir, env, shell, counts) {
  fs.mkdirSync(probeDir, { recursive: true })
  const log = path.join(probeDir, 'strace.log')
  // No strace, or no ptrace here (some containers forbid it): not checked, which the table says.
  if (spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-o', log, 'true'], { stdio: 'ignore' }).status !== 0) return undefined
  const how = new Map()
  for (const [name, { line }] of counts) {
    const makefile = path.join(probeDir, 'Makefile')
    // Lines that read or write files need the work directory, so the probe runs there too (its
    // Makefile lives outside, so that `ls` in the timed runs sees the same files throughout).
    fs.writeFileSync(makefile, `probe:\n\t${line.replaceAll('$', () => '$$').replace(/out\/t\d+\.done/, 'out/probe.done')}\n`)
    const args = ['-f', '-qq', '-e', 'trace=execve', '-o', log, 'make', '-s', '-f', makefile, ...(shell ? [`SHELL=${shell}`] : [])]
    const result = spawnSync('strace', args, { cwd: work, env, encoding: 'utf8' })
    if (result.status !== 0)
      throw new Error(`strace make (SHELL=${shell ?? 'default'}) on the line '${line}' exited ${result.status ?? result.signal}: ${result.stderr}`)
    // The first execve is make's own; the rest are what make ran for the line.
    const execs = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .map((l) => /execve\("([^"]*)"/.exec(l)?.[1])
      .filter((program) => program !== undefined)
      .slice(1)
    how.set(name, execs.includes(shell ?? '/bin/sh') ? 'shell' : execs.length > 0 ? 'direct' : 'skipped')
  }
  return how
}

function which(name) {
  const result = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`${name} is not installed`)
  return result.stdout.trim()
}

async function main() {
  if (!fs.existsSync(rush)) throw new Error(`${rush} is missing: run npm install (it builds the client)`)
  if (spawnSync('make', ['--version']).status !== 0) throw new Error('make.mjs needs GNU make')
  const makeVersion = spawnSync('make', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]
  const dir = tempDir()
  const work = path.join(dir, 'work')
  fs.mkdirSync(work)
  const counts = writeWorkload(work)
  const totalLines = TARGETS * LINES_PER_TARGET
  const dash = which('dash')
  const bash = which('bash')
  fs.symlinkSync(dash, path.join(dir, 'shell-dash'))
  fs.symlinkSync(bash, path.join(dir, 'shell-bash'))

  const runtimeDir = path.join(dir, 'rt')
  const env = { ...process.env, RUSH_RUNTIME_DIR: runtimeDir, RUSH_NO_AUTOSTART: '1' }
  delete env.MAKEFLAGS
  delete env.MFLAGS
  delete env.MAKELEVEL

  const variants = [
    { name: `make's default: SHELL=/bin/sh (→ ${path.basename(fs.realpathSync('/bin/sh'))})`, shell: undefined, table: 'a' },
    { name: `SHELL=${dash}`, shell: dash, table: 'a', baseline: 'dash' },
    { name: `SHELL=${bash}`, shell: bash, table: 'a', baseline: 'bash' },
    { name: `SHELL=<rush client: ${rush === prebuiltRush ? 'prebuilt' : 'built here'}>`, shell: rush, table: 'ab' },
    { name: 'SHELL=<tmp>/shell-dash → dash', shell: path.join(dir, 'shell-dash'), table: 'b', baseline: 'dash' },
    { name: 'SHELL=<tmp>/shell-bash → bash', shell: path.join(dir, 'shell-bash'), table: 'b', baseline: 'bash' },
  ]
  const envInfo = { ...environment(), make: makeVersion, dash, bash }
  const results = { env: envInfo, rounds: ROUNDS, jobs: JOBS, targets: TARGETS, linesPerTarget: LINES_PER_TARGET, daemonWarmup: DAEMON_WARMUP }
  results.mix = Object.fromEntries([...counts].map(([name, { category, count }]) => [name, { category, count }]))

  // Stop the daemon whatever happens: in `finally`, and on exit (a signal ends the process through
  // process.exit, which skips `finally`). Before tempDir's own exit handler removes its directory.
  let daemonUp = false
  const stop = () => {
    if (daemonUp) stopRushd(runtimeDir)
    daemonUp = false
  }
  process.prependListener('exit', stop)
  const began = process.hrtime.bigint()
  try {
    startRushd(runtimeDir)
    daemonUp = true
    const pid = rushdPid(runtimeDir)
    if (!pid) throw new Error('rushd did not answer after starting')

    // The warm daemon is the one to measure: a few hundred requests of the Makefile's own lines.
    const lines = [...counts.values()].map(({ line }) => line.replace(/out\/t\d+\.done/, 'out/warm.done'))
    for (let i = 0; i < DAEMON_WARMUP; i++) {
      const result = spawnSync(rush, ['-c', lines[i % lines.length]], { cwd: work, env, stdio: 'ignore' })
      if (result.status !== 0) throw new Error(`warming rushd: rush -c '${lines[i % lines.length]}' exited ${result.status ?? result.signal}`)
    }

    for (const variant of variants) variant.how = howMakeRuns(work, path.join(dir, 'probe'), env, variant.shell, counts)
    // Table (b) says every line started its shell: fail rather than print a false note.
    for (const v of variants.filter((v) => v.table.includes('b') && v.how)) {
      const missed = [...v.how].filter(([, how]) => how !== 'shell').map(([name]) => name)
      if (missed.length > 0) throw new Error(`make did not start ${v.name} for: ${missed.join(', ')}`)
    }
    const starts = (variant) => (variant.how ? [...counts].reduce((n, [name, { count }]) => n + (variant.how.get(name) === 'shell' ? count : 0), 0) : undefined)

    // One untimed round: every variant must work before anything is timed, and the files make
    // and the shells read are in the page cache for all of them alike.
    for (const variant of variants) runMake(work, env, variant.shell, variant.name)
    for (const variant of variants) variant.times = []
    for (let round = 0; round < ROUNDS; round++) {
      for (const variant of variants) variant.times.push(runMake(work, env, variant.shell, variant.name))
      // With RUSH_NO_AUTOSTART, a client that finds no daemon runs its line in a local sh: the
      // rush rows would then time sh. The same daemon must still answer after every round.
      if (rushdPid(runtimeDir) !== pid) throw new Error(`rushd (pid ${pid}) no longer answers after round ${round + 1}`)
    }

    const byCategory = {}
    for (const { category, count } of counts.values()) byCategory[category] = (byCategory[category] ?? 0) + count
    printHeader(
      `make -j${JOBS} -s over ${totalLines.toLocaleString('en-US')} recipe lines (${TARGETS} phony targets × ${LINES_PER_TARGET}), ${ROUNDS} interleaved rounds after one untimed round; rushd warmed by ${DAEMON_WARMUP} requests first`,
      envInfo,
    )
    console.log(`${makeVersion}; the recipe lines, by kind (all ${TARGETS} targets together):\n`)
    printTable(
      ['category', 'line', 'lines', 'share'],
      [...counts].map(([name, { category, count }]) => [category, name, count, `${((100 * count) / totalLines).toFixed(1)}%`]),
    )
    const shares = Object.entries(byCategory).map(([category, count]) => `${category} ${((100 * count) / totalLines).toFixed(0)}%`)
    console.log(`${shares.join(', ')}\n`)

    const stats = (v) => ({ median: median(v.times), min: Math.min(...v.times), max: Math.max(...v.times) })
    for (const variant of variants) variant.stats = stats(variant)
    const base = (table, shell) => variants.find((v) => v.table === table && v.baseline === shell)
    const startsCell = (v) => (v.how ? `${fmt.int(starts(v))} of ${fmt.int(totalLines)}` : 'not checked (no strace)')
    const rows = (table) =>
      variants
        .filter((v) => v.table.includes(table))
        .map((v) => [
          v.name,
          startsCell(v),
          v.stats.median.toFixed(3),
          v.stats.min.toFixed(3),
          v.stats.max.toFixed(3),
          fmt.ratio(v.stats.median / base(table, 'dash').stats.median),
          fmt.ratio(v.stats.median / base(table, 'bash').stats.median),
        ])
    const columns = ['make -j2 -s with', 'lines make started the shell for', 'median s', 'min s', 'max s', 'vs dash', 'vs bash']
    const kindsNotStarted = (v) =>
      v.how
        ? [...v.how]
            .filter(([, how]) => how !== 'shell')
            .map(([name, how]) => `\`${name}\` ${how === 'direct' ? "exec'd by make itself" : 'skipped (no process)'}`)
            .join(', ') || 'none'
        : 'not checked (no strace)'
    console.log('(a) SHELL=X as a user types it, and make with its default SHELL\n')
    printTable(columns, rows('a'))
    console.log('Lines make ran without starting the shell (strace, one line of each kind):')
    for (const v of variants.filter((v) => v.table.includes('a'))) console.log(`- ${v.name}: ${kindsNotStarted(v)}`)
    console.log(
      '\nSo (a) is not like for like: make spares dash and bash the lines it skips or runs itself, and rush none. vs dash / vs bash compare with the SHELL=dash / SHELL=bash rows.\n',
    )
    console.log('(b) every shell started for every line: SHELL paths make does not know, so it starts the shell for each line (the like-for-like comparison)\n')
    printTable(columns, rows('b'))
    console.log(
      'shell-dash and shell-bash are symlinks to dash and bash; vs dash / vs bash compare with those rows. Ratios of medians, all from the same rounds.\n',
    )

    results.variants = variants.map((v) => ({
      name: v.name,
      shell: v.shell ?? null,
      tables: v.table,
      shellStartedForLines: starts(v) ?? null,
      howMakeRanEachKind: v.how ? Object.fromEntries(v.how) : null,
      ...v.stats,
      times: v.times,
    }))
  } finally {
    stop()
  }
  const seconds = Number(process.hrtime.bigint() - began) / 1e9
  results.benchSeconds = seconds
  console.log(`make.mjs took ${seconds.toFixed(0)} s`)
  writeResults('make', results)
}

await main()
