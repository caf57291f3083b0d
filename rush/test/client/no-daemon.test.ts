// No daemon to reach: the command runs locally as sh -c runs it, and rushd is autostarted (without
// holding the caller's pipes) unless RUSH_NO_AUTOSTART says not to.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { alive, tempDir, until } from '../../../test/helpers.js'
import { requireClient, rushC } from './lib.js'

requireClient()

t.test('no daemon: runs locally with the same output and status; autostart as configured', async (t) => {
  const dir = tempDir(t)
  const script = 'echo "$0:$1"; echo e >&2; exit 5'
  const expected = spawnSync('/bin/sh', ['-c', script, 'zero', 'one'], { encoding: 'utf8' })
  const r = await rushC(dir, [script, 'zero', 'one'])
  t.equal(r.stdout, expected.stdout)
  t.equal(r.stderr, expected.stderr)
  t.equal(r.code, 5)
  await sleep(300)
  t.notOk(fs.existsSync(path.join(dir, 'rushd-ran')), 'RUSH_NO_AUTOSTART=1: rushd was not started')

  const started = await rushC(dir, [script, 'zero', 'one'], { RUSH_NO_AUTOSTART: undefined })
  t.equal(started.code, 5)
  t.equal(started.stdout, expected.stdout)
  // The fixture creates the file and then writes its line: wait for a whole line, not for the file.
  const ran = path.join(dir, 'rushd-ran')
  const ranLines = () => (fs.existsSync(ran) ? fs.readFileSync(ran, 'utf8') : '')
  t.ok(await until(() => ranLines().endsWith('\n')), 'rushd was started')
  t.equal(ranLines(), '["start"]\n')
})

t.test("autostart does not hold the caller's pipes open", async (t) => {
  const dir = tempDir(t)
  // A rushd that lingers (until killed below): if it inherited our stdout pipe, collecting stdout
  // would wait for it. It says who it is first, so the test knows whom to check and to kill.
  const slow = path.join(dir, 'slow-rushd')
  const pidFile = path.join(dir, 'slow-rushd.pid')
  fs.writeFileSync(slow, `#!/bin/sh\necho $$ > '${pidFile}.tmp' && mv '${pidFile}.tmp' '${pidFile}'\nexec sleep 600\n`, { mode: 0o755 })
  const lingering = () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined)
  const killLingering = () => {
    const pid = lingering()
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL')
  }
  t.teardown(killLingering)
  // A hang guard: a rushd holding the pipe is killed after 60 s, so the run ends and the check
  // below fails (instead of the test hanging for 600 s).
  let guarded = false
  const guard = setTimeout(() => {
    guarded = true
    killLingering()
  }, 60_000)
  const r = await rushC(dir, ['echo hi'], { RUSH_NO_AUTOSTART: undefined, RUSHD: slow }, 90_000)
  clearTimeout(guard)
  t.equal(r.stdout, 'hi\n')
  t.ok(await until(() => lingering() !== undefined, 60_000), 'rushd was started')
  t.notOk(guarded, 'the output ended while rushd still ran: it did not hold our pipes')
  t.ok(alive(lingering()!), 'rushd is still running')
})

t.test('a socket path too long for sun_path: clear message, runs locally', async (t) => {
  const dir = path.join(tempDir(t), 'x'.repeat(120))
  const r = await rushC(dir, ['echo local'])
  t.equal(r.code, 0)
  t.equal(r.stdout, 'local\n')
  t.match(r.stderr, /rush: socket path too long/)
})
