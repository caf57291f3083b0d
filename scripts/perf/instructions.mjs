// `breakdown.mjs --instructions`: the instructions a daemon executes per connection, counted by
// valgrind's callgrind, at each level of fdwire (bench/floor/node-floor.mjs) and in rushd. Time
// on a shared machine moves by 20 to 30 µs per connection between runs; an instruction count
// moves by about 1%, so it resolves changes of a microsecond, which timing cannot.
//
// Each daemon runs under callgrind with instrumentation off. A C client
// (bench/floor/connect-loop.c: connect, send `rush -c exit`'s request with fds 0-2, read
// the answer, close; no process start between connections) first makes `warmup` connections so V8
// has optimized what it will, then callgrind counts over `count` more (callgrind_control -i
// on/off). Counts are user space only: the kernel's share is not in them (see strace and CPU in
// the other tables).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

export const levels = {
  addon: 'addon handles alone',
  connection: 'listen() + Connection (canned reply)',
  server: 'Server (canned handler)',
  rushd: 'rushd (in-process, as `rushd start` runs it)',
}

// Where an instruction was spent, from the function's name and object file in callgrind_annotate's
// listing. The first category that matches wins; the order matters.
const categories = [
  ['addon', (_fn, object) => object.endsWith('.node')],
  ['V8 compiler', (fn) => /v8::internal::compiler::|v8::internal::Zone|v8::internal::maglev/.test(fn)],
  [
    'V8 GC',
    (fn) =>
      /Scaveng|Marking|Sweep|v8::internal::Heap::|Evacuat|IterateObjectCache|MemoryChunk|RootScavenge|BodyDescriptor|Pretenuring|RememberedSet|SlotSet|MarkCompact|heap::base|ConcurrentMarking|OnMoveEvent|WhiteToGrey|Ephemeron|SizeFromMap|GlobalHandles::Iterate/.test(
        fn,
      ),
  ],
  ['JS (JIT code, builtins)', (fn) => fn.startsWith('0x') || fn.startsWith('Builtins_')],
  ['N-API, Node', (fn) => /napi|node::|v8impl/.test(fn)],
  ['libuv', (fn) => /^uv_|^uv__/.test(fn)],
  ['malloc', (fn) => /malloc|_int_free|^free$|^cfree|operator new|operator delete|unlink_chunk|consolidate/.test(fn)],
  ['libc', (_fn, object) => /libc\.so|libm\.so|ld-linux/.test(object)],
  ['V8 other', () => true],
]

/** What `rush -c exit` sends: one request frame (no Hello first) carrying its 3 stdio fds, framed
 *  as docs/protocol.md says. */
export async function requestFile(root, dir) {
  const wire = await import(path.join(root, 'dist', 'wire.js'))
  const { protocol } = await import(path.join(root, 'dist', 'index.js'))
  const rush = await import(path.join(root, 'dist', 'rush', 'protocol', 'messages.js'))
  const frame = (payload, id, fdCount) => {
    const header = Buffer.alloc(wire.HEADER_SIZE)
    header.writeUInt16LE(wire.MAGIC, wire.AT_MAGIC)
    header.writeUInt8(wire.VERSION, wire.AT_VERSION)
    header.writeUInt8(fdCount, wire.AT_FD_COUNT)
    header.writeUInt32LE(payload.length, wire.AT_LENGTH)
    header.writeUInt32LE(id, wire.AT_ID)
    header.writeUInt16LE(wire.FRAME_TYPE_ENVELOPE, wire.AT_TYPE)
    header.writeUInt16LE(wire.FLAGS_NONE, wire.AT_FLAGS)
    return Buffer.concat([header, payload])
  }
  const body = rush.encodeExecRequest({ argv: ['exit'], cwd: process.cwd(), env: process.env, fdRoles: [0, 1, 2] })
  const request = Buffer.from(protocol.encodeRequest(1, rush.RushMethod.exec, body))
  const file = path.join(dir, 'request.bin')
  fs.writeFileSync(file, frame(request, 1, 3))
  return file
}

export function daemonCommand(root, level, runtimeDir) {
  if (level === 'rushd') {
    // As `rushd start` runs it (rush/src/cli.ts), with no pool: every session in the daemon.
    return {
      args: ['--max-semi-space-size=1', path.join(root, 'dist', 'rush', 'cli.js'), 'run'],
      env: { ...process.env, RUSH_RUNTIME_DIR: runtimeDir, RUSH_POOL_SIZE: '0', MALLOC_MMAP_THRESHOLD_: '16384' },
    }
  }
  return { args: [path.join(root, 'bench', 'floor', 'node-floor.mjs'), level, runtimeDir], env: process.env }
}

/** Waits until `daemon` listens on daemon.sock in `runtimeDir`; returns the socket's path. */
export async function listening(daemon, runtimeDir, timeoutMs, failure) {
  const socket = path.join(runtimeDir, 'daemon.sock')
  for (const deadline = Date.now() + timeoutMs; !fs.existsSync(socket); ) {
    if (daemon.exitCode !== null || Date.now() > deadline) throw new Error(failure())
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return socket
}

async function countLevel({ root, dir, level, client, request, count, warmup }) {
  const runtimeDir = fs.mkdtempSync(path.join(dir, `instructions-${level}-`))
  const out = path.join(runtimeDir, 'callgrind.out')
  const { args, env } = daemonCommand(root, level, runtimeDir)
  // --smc-check: V8 writes machine code to the heap, which valgrind must see change.
  // --perf-basic-prof: V8 names its JIT code in /tmp/perf-PID.map, for the listing by function.
  // --single-threaded --no-memory-reducer: V8 compiles and collects on the main thread, when its
  // counters say so, instead of on background threads and timers. Under valgrind those run at
  // times that vary from run to run (threads take turns, time runs some 50 times slower), and a
  // compilation or a marking then falls in the counted window or not: totals moved by 3 to 25%.
  // Like this they repeat to half a percent.
  const node = [process.execPath, '--perf-basic-prof', '--single-threaded', '--no-memory-reducer']
  const daemon = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${out}`, ...node, ...args], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  daemon.stderr.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise((resolve) => daemon.once('exit', resolve))
  const socket = await listening(daemon, runtimeDir, 120_000, () => `${level}: the daemon did not listen under valgrind:\n${stderr.slice(-2000)}`)
  const connect = (n) => execFileSync(client, ['--fds', socket, request, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] })
  connect(warmup)
  const control = (...flags) => execFileSync('callgrind_control', [...flags, String(daemon.pid)], { stdio: 'ignore' })
  control('--instr=on')
  connect(count)
  control('--instr=off')
  control('--dump')
  daemon.kill('SIGTERM')
  await exited
  // The dump holds the counted window; the file written at exit holds nothing more (instrumentation off).
  const dumps = fs.readdirSync(runtimeDir).filter((name) => name.startsWith('callgrind.out'))
  const counted = dumps.map((name) => path.join(runtimeDir, name)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]
  const listing = execFileSync('callgrind_annotate', ['--threshold=100', '--inclusive=no', counted], { encoding: 'utf8', maxBuffer: 1 << 28 })
  const jitNames = perfMap(`/tmp/perf-${daemon.pid}.map`)
  const byCategory = new Map(categories.map(([name]) => [name, 0]))
  const byFunction = new Map()
  let total = 0
  for (const line of listing.split('\n')) {
    const match = /^\s*([\d,]+) \([ \d.]+%\)\s+(.*?)(?: \[(.*)\])?$/.exec(line)
    if (!match) continue
    const ir = Number(match[1].replaceAll(',', ''))
    if (match[2].includes('PROGRAM TOTALS')) {
      total = ir
      continue
    }
    const fn = match[2].replace(/^[^:]*:/, '')
    const object = match[3] ?? ''
    const [name] = categories.find(([, test]) => test(fn, object))
    byCategory.set(name, byCategory.get(name) + ir)
    const named = fn.startsWith('0x') ? (jitNames(Number.parseInt(fn, 16)) ?? 'JIT code (unnamed)') : fn
    byFunction.set(named, (byFunction.get(named) ?? 0) + ir)
  }
  if (!process.env.FDWIRE_BREAKDOWN_KEEP) fs.rmSync(`/tmp/perf-${daemon.pid}.map`, { force: true })
  const perConnection = (map) => new Map([...map].map(([name, ir]) => [name, ir / count]))
  return { total: total / count, byCategory: perConnection(byCategory), byFunction: perConnection(byFunction) }
}

/** A lookup of JIT code addresses in V8's perf map (lines "START SIZE NAME", hex). V8 reuses
 *  code space, so a later line for the same start wins: the map is appended as code is made. */
function perfMap(file) {
  const byStart = new Map()
  if (fs.existsSync(file)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const [start, size, ...name] = line.split(' ')
      if (name.length > 0) byStart.set(Number.parseInt(start, 16), [Number.parseInt(size, 16), name.join(' ')])
    }
  }
  const entries = [...byStart].map(([start, [size, name]]) => [start, size, name]).sort((a, b) => a[0] - b[0])
  return (address) => {
    let lo = 0
    let hi = entries.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const [start, size, name] = entries[mid]
      if (address < start) hi = mid - 1
      else if (address >= start + size) lo = mid + 1
      else return name
    }
    return undefined
  }
}

export async function perConnectionInstructions({ root, dir, count, warmup, table, only, top = 0, rounds = 2 }) {
  for (const tool of ['valgrind', 'callgrind_control', 'callgrind_annotate', 'cc']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
      console.log(`per connection, instructions: ${tool} is missing (apt-get install valgrind gcc)`)
      return
    }
  }
  const client = path.join(dir, 'connect-loop')
  execFileSync('cc', ['-O2', '-o', client, path.join(root, 'bench', 'floor', 'connect-loop.c')])
  const request = await requestFile(root, dir)
  const chosen = only ?? Object.keys(levels)
  // Now and then a run still finds an optimization of V8's in its window (a few million
  // instructions, and the code waiting for it runs unoptimized meanwhile): the lowest of the
  // rounds is the one without.
  const results = new Map()
  for (let round = 0; round < rounds; round++) {
    for (const level of chosen) {
      const result = await countLevel({ root, dir, level, client, request, count, warmup })
      if (!results.has(level) || result.total < results.get(level).total) results.set(level, result)
    }
  }
  console.log(
    `### Per connection, daemon side, instructions (callgrind, user space, all threads; ${count} connections from a C client after ${warmup}; the lowest of ${rounds} rounds)\n`,
  )
  const names = categories.map(([name]) => name)
  // What the connections themselves run, without the collections and compilations they cause.
  const steady = (r) => r.total - r.byCategory.get('V8 GC') - r.byCategory.get('V8 compiler')
  const k = (ir) => `${(ir / 1000).toFixed(1)}k`
  const base = results.get('addon')
  table(
    ['daemon', 'instructions', 'over the addon', 'without GC and compiler', ...names],
    chosen.map((level) => {
      const r = results.get(level)
      return [
        levels[level],
        k(r.total),
        base && level !== 'addon' ? k(r.total - base.total) : '—',
        k(steady(r)),
        ...names.map((name) => k(r.byCategory.get(name))),
      ]
    }),
  )
  for (const level of top > 0 ? chosen : []) {
    console.log(`#### ${levels[level]}: the ${top} functions with the most instructions per connection\n`)
    const rows = [...results.get(level).byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)
    table(
      ['function', 'instructions'],
      rows.map(([name, ir]) => [name.length > 120 ? `${name.slice(0, 117)}...` : name, ir.toFixed(0)]),
    )
  }
}
