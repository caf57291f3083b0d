/** Shared by the daemon-layer tests that start `test/fixtures/daemon-server.mjs` processes. */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { alive, type leakTest } from '../helpers.js'

export type Test = Parameters<Parameters<typeof leakTest>[2]>[0]

/** Every daemon a test starts (the fixture logs `starting <pid>` first thing) is SIGKILLed at
 *  teardown if it is still there. */
export function reapDaemons(t: Test, runtimeDir: string): void {
  t.teardown(() => {
    const log = path.join(runtimeDir, 'daemon.log')
    const pids = fs.existsSync(log) ? [...fs.readFileSync(log, 'utf8').matchAll(/^starting (\d+)$/gm)].map((m) => Number(m[1])) : []
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  })
}
