// The rush client binary and its command line: a static executable, --version, --help, sh's own
// usage errors, and $0, $1, $@ as sh -c gives them.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { root, tempDir } from '../../../test/helpers.js'
import { fake, requireClient, run, rush, rushC } from './lib.js'

requireClient()

t.test('the binary is static', async (t) => {
  const r = spawnSync('ldd', [rush], { encoding: 'utf8' })
  t.match(r.stdout + r.stderr, /not a dynamic executable/)
})

t.test('--version, --help, usage errors', async (t) => {
  const dir = tempDir(t)
  const v = await run([rush, '--version'], dir)
  t.equal(v.code, 0)
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
  t.equal(v.stdout, `rush ${pkg.version}\n`)
  const h = await run([rush, '--help'], dir)
  t.equal(h.code, 0)
  t.match(h.stdout, /rush -c SCRIPT \[NAME \[ARG\.\.\.\]\]/)
  for (const name of ['RUSH_RUNTIME_DIR', 'RUSH_NO_AUTOSTART', 'RUSHD']) t.match(h.stdout, name)
  // Anything but `-c SCRIPT`, `--version` and `--help` is /bin/sh's to parse and report.
  for (const args of [['-Q'], ['-c'], ['+Q', '-c', 'true'], ['-o', 'nosuch', '-c', 'true'], ['-cQ', 'true']]) {
    const r = await run([rush, ...args], dir)
    const sh = spawnSync('/bin/sh', args, { encoding: 'utf8', input: '', argv0: 'sh' })
    t.same({ stderr: r.stderr, code: r.code }, { stderr: sh.stderr, code: sh.status }, `rush ${args.join(' ')}: what sh says`)
  }
})

t.test('$0, $1, $@ mean what they mean for sh -c', async (t) => {
  const dir = tempDir(t)
  await fake(t, dir, { reply: { kind: 'run' } })
  const script = 'printf "[%s]" "$0" "$#" "$@"; echo'
  for (const args of [[], ['name'], ['name', 'a b', ''], ['n', '*', '-c']]) {
    const r = await rushC(dir, [script, ...args])
    const expected = spawnSync('/bin/sh', ['-c', script, ...args], { encoding: 'utf8' })
    t.equal(r.stdout, expected.stdout, JSON.stringify(args))
    t.equal(r.code, 0)
  }
  const status = await rushC(dir, ['echo to-stderr >&2; exit 7'])
  t.equal(status.stderr, 'to-stderr\n', 'the command writes straight to our stderr')
  t.equal(status.code, 7)
})
