/**
 * Every fenced code block in README.md, docs/*.md, rush/docs/*.md and examples/*\/README.md is run or checked here,
 * as the Markdown has it, so no example can go stale. Each block says what it is in its info
 * string, after the language (renderers show only the language):
 *
 *   ```js file=daemon.mjs        the block is the file daemon.mjs of its example
 *   ```js file=client.mjs run    ... and is run, once all files of its example are written
 *   ```sh run                    run with `sh -c` (so `echo $?` can show a status)
 *   ```text output               what the run block just before it (only blank lines between)
 *                                prints on stdout, exactly, trailing newlines aside; `…` stands
 *                                for any text within a line. A run block with no output block
 *                                must print nothing.
 *   ```ts signature              declarations checked against the package's exports
 *                                (test/docs/signature.ts says how they are read)
 *   ```sh no-run="reason"        not run, and why (the reason is required)
 *
 * A block with none of file=, run, output, signature, no-run fails the test, named by file and
 * line; so does an unknown attribute. Blocks inside HTML comments are ignored.
 *
 * Run blocks also take `status=N` (the expected exit status, default 0) and `cwd=repo` (run in
 * the repository's root instead of the example's directory). They run in document order. A run
 * file is started by its extension: .js/.mjs/.cjs with node, .ts with tsc (strict, nodenext)
 * then node, .sh with sh.
 *
 * Examples: the file= and run blocks of one Markdown file form one example, or several with
 * `example=ID`. Each example gets a fresh directory laid out as `npm install fdwire` would leave a
 * project: package.json (`"type": "module"`), node_modules/fdwire (this checkout, so dist/ and
 * dist/cjs/ must be built: the test fails, not skips, when they are not), fdwire's dependencies,
 * @types/node, and node_modules/.bin/rush and rushd. Its runs get a private TMPDIR, HOME and
 * RUSH_RUNTIME_DIR inside that directory, no XDG_RUNTIME_DIR (so `os.tmpdir()` and
 * `defaultRuntimeDir()` land there too), and node on PATH. Afterwards every daemon the example
 * left (a locked *.pid file in its directory) is stopped with SIGTERM, and the test fails if any
 * process it started is still running a minute later; its processes are told apart by a variable
 * in their environment. So two copies of this test never meet, and none touches the user's own
 * daemons or directories.
 *
 * One doc only: npx tap test/docs/examples.test.ts --grep=api.md
 */
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { node, root } from '../helpers.js'
import { parseBlocks, roleOf, type Block, type Role } from './markdown.js'
import { checkClaims, packageView, parseSignature, type PackageView } from './signature.js'

/** Longest a run may take: a hang guard, not a timing check. */
const RUN_LIMIT_MS = 180_000
/** Longest the processes an example left may take to exit once their daemons were told to stop. */
const LEFTOVER_LIMIT_MS = 60_000
/** Marks the processes of one example (value: its directory). */
const MARKER = 'FDWIRE_DOC_EXAMPLE'
/** Starts a program without tap's NODE_OPTIONS (see helpers.ts, `node`). */
const clean = ['/usr/bin/env', '-u', 'NODE_OPTIONS'] as const

interface Classified {
  block: Block
  role: Role
  /** For a run block: the output block that follows it. */
  output?: Block
}

/** README.md, docs/*.md, rush/docs/*.md, examples/*\/README.md, relative to the repository root. */
function docFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`)
  const examples = fs
    .readdirSync(path.join(root, 'examples'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, 'examples', e.name, 'README.md')))
    .map((e) => `examples/${e.name}/README.md`)
    .sort()
  const rushDocs = fs
    .readdirSync(path.join(root, 'rush', 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `rush/docs/${f}`)
  return ['README.md', ...docs, ...rushDocs, ...examples]
}

/** Classifies a doc's blocks; a block without a usable role fails the test here. */
function classify(t: Test, blocks: Block[]): Classified[] {
  const classified: Classified[] = []
  blocks.forEach((block, i) => {
    const role = roleOf(block, blocks[i - 1])
    if ('error' in role) {
      t.fail(`${block.doc}:${block.line}: ${role.error}`, {
        info: `\`\`\`${block.lang} ${[...block.attrs].map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(' ')}`,
      })
      return
    }
    if (role.kind === 'output') {
      const run = classified[classified.length - 1]
      if (run && run.block === blocks[i - 1]) run.output = block
      return
    }
    classified.push({ block, role })
  })
  return classified
}

/** How many blocks of each kind, e.g. "2 file (1 run), 1 sh run, 2 output, 3 signature, 1 no-run". */
function summary(classified: Classified[]): string {
  const count = (test: (c: Classified) => boolean) => classified.filter(test).length
  const parts: [number, string][] = [
    [count((c) => c.role.kind === 'file'), `file (${count((c) => c.role.kind === 'file' && c.role.run)} run)`],
    [count((c) => c.role.kind === 'script'), 'sh run'],
    [count((c) => c.output !== undefined), 'output'],
    [count((c) => c.role.kind === 'signature'), 'signature'],
    [count((c) => c.role.kind === 'no-run'), 'no-run'],
  ]
  return (
    parts
      .filter(([n]) => n > 0)
      .map(([n, what]) => `${n} ${what}`)
      .join(', ') || 'none'
  )
}

/** The examples of one doc: its file= and run blocks, by example=ID, in order. */
function examplesOf(classified: Classified[]): Map<string, Classified[]> {
  const examples = new Map<string, Classified[]>()
  for (const c of classified) {
    if (c.role.kind !== 'file' && c.role.kind !== 'script') continue
    const id = c.block.attrs.get('example')
    const key = typeof id === 'string' ? id : ''
    examples.set(key, [...(examples.get(key) ?? []), c])
  }
  return examples
}

/** The package as a user imports it: dist/, through package.json's exports (loaded once built). */
let fdwire: typeof import('fdwire')
let view: PackageView | undefined
function pkg(): PackageView {
  view ??= packageView(fdwire as unknown as Record<string, unknown>, path.join(root, 'dist', 'index.d.ts'))
  return view
}

function checkSignature(t: Test, block: Block): void {
  const { claims, errors } = parseSignature(block.text)
  for (const error of errors) t.fail(`${block.doc}:${block.line}: ${error}`)
  t.ok(claims.length > 0, `${block.doc}:${block.line}: the signature block declares something`)
  const failures = checkClaims(claims, pkg())
  t.same(failures, [], `${block.doc}:${block.line}: ${claims.length} declarations match the package's exports`)
}

/**
 * A fresh directory for one example, laid out as after `npm install fdwire`: the package (this
 * checkout), its dependencies, its bin links, and @types/node for TypeScript examples.
 */
function exampleDir(t: Test): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(fs.realpathSync(process.env['TMPDIR'] || '/tmp'), 'fdwire-docs-')))
  fs.chmodSync(dir, 0o700)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>
    bin?: Record<string, string>
  }
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'doc-example', private: true, type: 'module' }, null, 2)}\n`)
  const modules = path.join(dir, 'node_modules')
  const link = (target: string, name: string) => {
    fs.mkdirSync(path.dirname(path.join(modules, name)), { recursive: true })
    fs.symlinkSync(target, path.join(modules, name))
  }
  link(root, 'fdwire')
  for (const dep of [...Object.keys(manifest.dependencies ?? {}), '@types/node']) link(path.join(root, 'node_modules', dep), dep)
  for (const [name, file] of Object.entries(manifest.bin ?? {})) link(path.join('..', 'fdwire', file), path.join('.bin', name))
  for (const sub of ['tmp', 'home']) fs.mkdirSync(path.join(dir, sub), { mode: 0o700 })
  return dir
}

/** The environment of an example's runs: everything private to its directory. */
function exampleEnv(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(NODE_OPTIONS|XDG_RUNTIME_DIR|RUSH_.*|RUSHD|FILE_SERVER_.*)$/.test(key)) env[key] = value
  }
  return {
    ...env,
    PATH: `${path.dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    TMPDIR: path.join(dir, 'tmp'),
    HOME: path.join(dir, 'home'),
    RUSH_RUNTIME_DIR: path.join(dir, 'tmp', `rush-${process.getuid!()}`),
    [MARKER]: dir,
  }
}

interface RunResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  hung: boolean
}

/** Runs argv to its end (or the hang guard), collecting its output. */
function runProcess(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    let hung = false
    const guard = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
      // A process the run left behind may hold the pipes open: stop waiting for them.
      child.stdout.destroy()
      child.stderr.destroy()
    }, RUN_LIMIT_MS)
    const spawnError = (error: Error) => {
      clearTimeout(guard)
      resolve({ status: null, signal: null, stdout, stderr: `${stderr}${String(error)}`, hung })
    }
    child.on('error', spawnError)
    child.on('close', (status, signal) => {
      clearTimeout(guard)
      resolve({ status, signal, stdout, stderr, hung })
    })
  })
}

/** How a run block is started: its argv (after compiling a .ts file), or why it cannot be. */
async function commandOf(c: Classified, dir: string, env: NodeJS.ProcessEnv): Promise<string[] | { error: string }> {
  if (c.role.kind === 'script') return [...clean, 'sh', '-c', c.block.text]
  if (c.role.kind !== 'file') return { error: 'not a run block' }
  const file = path.join(dir, c.role.name)
  const ext = path.extname(file)
  if (['.js', '.mjs', '.cjs'].includes(ext)) return [...node, file]
  if (ext === '.sh') return [...clean, 'sh', file]
  if (ext === '.ts' || ext === '.mts') {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    const options = ['--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node']
    const compiled = await runProcess([...node, tsc, ...options, file], dir, env)
    if (compiled.status !== 0) return { error: `tsc failed:\n${compiled.stdout}${compiled.stderr}` }
    return [...node, file.replace(/\.(m?)ts$/, '.$1js')]
  }
  return { error: `cannot run a ${ext || 'file without extension'} (run knows .js, .mjs, .cjs, .ts, .sh)` }
}

/** The regular expression an output block stands for: its lines exactly, `…` any text in a line. */
function outputPattern(expected: string): RegExp {
  const lines = expected.replace(/\n+$/, '').split('\n')
  return new RegExp(`^${lines.map((l) => l.split('…').map(escapeRegExp).join('.*')).join('\n')}$`)
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')
}

async function runExample(t: Test, doc: string, blocks: Classified[]): Promise<void> {
  const dir = exampleDir(t)
  const env = exampleEnv(dir)
  try {
    for (const { role, block } of blocks) {
      if (role.kind !== 'file') continue
      const file = path.join(dir, role.name)
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, block.text)
      t.comment(`${doc}:${block.line}: wrote ${role.name}`)
    }
    for (const c of blocks) {
      if (c.role.kind === 'file' && !c.role.run) continue
      await runBlock(t, c, dir, env)
    }
  } finally {
    await stopLeftovers(t, dir)
  }
}

async function runBlock(t: Test, c: Classified, dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { block } = c
  const where = `${block.doc}:${block.line}`
  const argv = await commandOf(c, dir, env)
  if ('error' in argv) {
    t.fail(`${where}: ${argv.error}`)
    return
  }
  const cwd = block.attrs.get('cwd') === 'repo' ? root : dir
  const result = await runProcess(argv, cwd, env)
  const diagnostics = { stdout: result.stdout, stderr: result.stderr, signal: result.signal, cwd }
  t.notOk(result.hung, `${where}: ends (hang guard ${RUN_LIMIT_MS / 1000} s)`, diagnostics)
  const status = block.attrs.get('status')
  t.equal(result.status, typeof status === 'string' ? Number(status) : 0, `${where}: exit status`, diagnostics)
  if (c.output)
    t.match(result.stdout.replace(/\n+$/, ''), outputPattern(c.output.text), `${where}: prints what ${block.doc}:${c.output.line} shows`, diagnostics)
  else t.equal(result.stdout, '', `${where}: prints nothing (no output block follows it)`, diagnostics)
}

/** The processes marked as this example's, each with its parent's pid. */
function markedProcesses(dir: string): Map<number, number> {
  const found = new Map<number, number>()
  const mark = `${MARKER}=${dir}`
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (!fs.readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(mark)) continue
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'latin1')
      found.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found
}

/** Pids in the locked *.pid files under dir: the daemons running there. */
function lockedPidFiles(dir: string): { file: string; pid: number }[] {
  const found: { file: string; pid: number }[] = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory() && entry.name !== 'node_modules') found.push(...lockedPidFiles(full))
    else if (entry.isFile() && entry.name.endsWith('.pid')) {
      const { pid, locked } = fdwire.readPidFile(full)
      if (locked && pid) found.push({ file: full, pid })
    }
  }
  return found
}

/** Whether pid is one of roots or runs under one of them. */
function under(pid: number, roots: ReadonlySet<number>, parents: ReadonlyMap<number, number>): boolean {
  for (let p: number | undefined = pid; p !== undefined && p > 1; p = parents.get(p)) if (roots.has(p)) return true
  return false
}

/**
 * Stops what the example left running. Starters (a `rushd start`, an `ensureDaemon` client still
 * connecting) are left to finish; once only daemons (pids in locked *.pid files in the example's
 * directory) and the processes under them remain, the daemons get SIGTERM. Anything still there
 * after LEFTOVER_LIMIT_MS is killed and fails the test: most likely a daemon whose runtime
 * directory is not in the example's directory (not isolated).
 */
async function stopLeftovers(t: Test, dir: string): Promise<void> {
  const deadline = Date.now() + LEFTOVER_LIMIT_MS
  const told = new Set<number>()
  for (;;) {
    const processes = markedProcesses(dir)
    if (processes.size === 0) return
    const daemons = lockedPidFiles(dir).filter(({ pid }) => processes.has(pid))
    const daemonPids = new Set(daemons.map(({ pid }) => pid))
    const strays = [...processes.keys()].filter((pid) => !under(pid, daemonPids, processes))
    if (strays.length === 0) {
      for (const { file, pid } of daemons) {
        if (told.has(pid)) continue
        told.add(pid)
        t.comment(`stopping the daemon the example left running: pid ${pid} (${path.relative(dir, file)})`)
        try {
          process.kill(pid, 'SIGTERM')
        } catch {
          // Exited meanwhile.
        }
      }
    }
    if (Date.now() > deadline) {
      const describe = (pids: number[]) => pids.map((pid) => `${pid} ${commandLine(pid)}`)
      const rest = [...processes.keys()].filter((pid) => !strays.includes(pid))
      for (const pid of processes.keys()) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {}
      }
      t.fail(`processes the example started still ran after ${LEFTOVER_LIMIT_MS / 1000} s (killed now)`, {
        "not under a daemon of the example's directory (a locked *.pid there)": describe(strays),
        'daemons told to stop, and what runs under them': describe(rest),
      })
      return
    }
    await sleep(20)
  }
}

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {
    return '?'
  }
}

/** What the examples need built; missing, the test fails saying how to build it. */
function checkBuilt(t: Test): boolean {
  const needed = ['dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js'].filter((f) => !fs.existsSync(path.join(root, f)))
  t.same(needed, [], 'the package is built: dist/ and dist/cjs/ (npm run prepare builds both)')
  return needed.length === 0
}

if (checkBuilt(t)) {
  fdwire = await import('fdwire')
  for (const doc of docFiles()) {
    t.test(doc, async (t) => {
      const blocks = parseBlocks(fs.readFileSync(path.join(root, doc), 'utf8'), doc)
      const classified = classify(t, blocks)
      for (const { block, role } of classified) {
        if (role.kind === 'no-run') t.pass(`${doc}:${block.line}: not run: ${role.reason}`)
        if (role.kind === 'signature') checkSignature(t, block)
      }
      for (const [id, example] of examplesOf(classified)) {
        await t.test(`${doc}: example${id ? ` ${id}` : ''} (line ${example[0]!.block.line})`, (t) => runExample(t, doc, example))
      }
      t.comment(`${doc}: ${blocks.length} blocks: ${summary(classified)}`)
    })
  }
}
