// valgrind memcheck of a dynamic build of the client's sources: no memory errors and no leaks on
// the main paths (a result, refusal, garbage, odd framing, and a local run).
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { aptInstall, needs, root, tempDir } from '../../../test/helpers.js'
import { fake, raw, requireClient, run } from './lib.js'

requireClient()

const noValgrind =
  spawnSync('valgrind', ['--version']).status !== 0
    ? 'valgrind is not installed'
    : spawnSync('cc', ['--version']).status !== 0
      ? 'cc is not installed'
      : undefined

t.test('valgrind memcheck: no errors, no leaks on the main paths', async (t) => {
  if (!needs(t, noValgrind, aptInstall('valgrind', 'gcc'))) return
  // Static glibc's own start-up code trips memcheck, and memcheck cannot follow malloc in a static
  // binary; so this checks a dynamic build of the same sources.
  const dir = tempDir(t)
  const bin = path.join(dir, 'rush-dynamic')
  const sources = fs
    .readdirSync(path.join(root, 'rush', 'client'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => path.join(root, 'rush', 'client', f))
  const cc = spawnSync('cc', ['-g', '-O1', '-std=c11', '-D_GNU_SOURCE', '-o', bin, ...sources], { encoding: 'utf8' })
  t.equal(cc.status, 0, cc.stderr)
  // Without a sanitizer runtime preloaded for the test run (npm run test:asan): valgrind and ASan
  // cannot share a process.
  const vg = (d: string, args: string[]) =>
    run(
      ['valgrind', '-q', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect', bin, ...args],
      d,
      { LD_PRELOAD: undefined },
      { timeout: 30_000 },
    )
  const sub = (name: string) => {
    const d = path.join(dir, name)
    fs.mkdirSync(d, { mode: 0o700 })
    return d
  }
  const a = sub('a')
  await fake(t, a, { reply: { kind: 'result', status: 3 }, replyFds: true })
  const result = await vg(a, ['-c', 'exit', 'n', 'x'])
  t.equal(result.code, 3, result.stderr)
  for (const [mode, code] of [
    ['badBody', 1],
    ['coalesced', 42],
    ['huge', 1],
    ['refuse', 0],
  ] as const) {
    const d = sub(mode)
    await raw(t, d, mode)
    const r = await vg(d, ['-c', 'true'])
    t.equal(r.code, code, `${mode}: ${r.stderr}`)
  }
  const local = await vg(path.join(dir, 'none'), ['-c', 'exit 6'])
  t.equal(local.code, 6, local.stderr)
})
