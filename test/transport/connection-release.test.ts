// A closed connection lets go of everything at once: the addon drops its references to the JS side
// when the connection closes, so the next garbage collection frees the connection, its listeners and
// what they hold (a daemon's session, the read buffer its requests are views of). Held until the
// native wrapper's finalizer ran, each closed connection outlived a full collection: on a daemon
// serving one short session after another, that is old-generation growth and a read buffer per
// session waiting for the next major collection.
import { spawn } from 'node:child_process'
import * as path from 'node:path'
import t from 'tap'
import { collect, exitCode, fixtures, leakTest, node, tempDir } from '../helpers.js'

const CONNECTIONS = 100

leakTest(t, 'closed server connections are garbage at the next full collection', async (t) => {
  // `--expose-gc` for globalThis.gc(): the fixture counts, with WeakRefs, which of the server's
  // Connection objects one full collection after their close left alive.
  const child = spawn(node[0], [...node.slice(1), '--expose-gc', path.join(fixtures, 'connection-collect.mjs'), tempDir(t), String(CONNECTIONS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const [stdout, stderr, code] = await Promise.all([collect(child.stdout), collect(child.stderr), exitCode(child)])
  t.equal(code, 0, `the fixture ran${stderr ? `; stderr: ${stderr}` : ''}`)
  const result = JSON.parse(stdout) as { connections: number; closed: number; alive: number }
  t.same([result.connections, result.closed], [CONNECTIONS, CONNECTIONS], `the server saw ${CONNECTIONS} connections open and close`)
  t.equal(result.alive, 0, `${result.alive} of ${CONNECTIONS} closed connections survived a full collection`)
})
