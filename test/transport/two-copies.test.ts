// Two copies of fdwire in one process, as a dual-package install can load them (the ES module and
// the CommonJS build): the addon is loaded once, and each copy registers its own pair of native
// callbacks, so each copy's connections reach its own Connection class.
import { once } from 'node:events'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Connection, Message, socketPairFds } from '../../src/index.js'
import { cleanup, leakTest } from '../helpers.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const cjs = createRequire(import.meta.url)(path.join(here, '..', '..', 'dist', 'cjs', 'index.js')) as typeof import('../../src/index.js')

leakTest(t, 'a connection of each copy, on the two ends of one socket pair, talk both ways', async (t) => {
  t.not(cjs.Connection, Connection, 'two copies of the class')
  const [x, y] = socketPairFds()
  const mine = new Connection(x)
  const theirs = new cjs.Connection(y)
  cleanup(t, () => {
    mine.destroy()
    theirs.destroy()
  })
  const toTheirs = once(theirs, 'message')
  const toMine = once(mine, 'message')
  mine.send('from the ES module', { id: 1 })
  theirs.send('from CommonJS', { id: 2 })
  const [a] = (await toTheirs) as [Message]
  const [b] = (await toMine) as [Message]
  t.equal(a.payload.toString(), 'from the ES module')
  t.ok(a instanceof cjs.Message, "the CommonJS copy's own Message")
  t.equal(b.payload.toString(), 'from CommonJS')
  t.ok(b instanceof Message, "the ES module's own Message")
  mine.end()
  theirs.end()
  await Promise.all([once(mine, 'close'), once(theirs, 'close')])
})
