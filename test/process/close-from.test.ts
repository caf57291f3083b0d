/**
 * native/platform/close_from.h, each strategy on its own: close_range on this kernel, and the
 * fallbacks kernels without it get (/proc/self/fd listing; a loop below RLIMIT_NOFILE). Compiled
 * from test/fixtures/close-from.c with the C compiler the native build uses, run in real processes.
 */
import { execFileSync } from 'node:child_process'
import * as path from 'node:path'
import t from 'tap'
import { fixtures, root, tempDir } from '../helpers.js'

const binary = path.join(tempDir(t), 'close-from')
execFileSync(process.env['CC'] ?? 'cc', [
  '-std=c11',
  '-D_GNU_SOURCE',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-I',
  path.join(root, 'native'),
  '-o',
  binary,
  path.join(fixtures, 'close-from.c'),
])

// The child holds 0..2, 300 more fds from 3 up and three far above them (1000, 2047, 4000); each
// strategy must leave exactly 0, 1 and 2.
for (const strategy of ['auto', 'listed', 'loop']) {
  t.test(`${strategy}: closes every fd from 3 up, close-on-exec or not, however high`, async (t) => {
    const listed = execFileSync(binary, [strategy], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    t.equal(listed, '0 1 2\n')
  })
}
