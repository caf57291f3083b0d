// Type test (CommonJS consumer): `require('fdwire')` in a .cts file resolves the package's
// "require" types (dist/cjs/index.d.ts). Compiled by scripts/ci/pack-test.sh with `tsc --noEmit`.
import fdwire = require('fdwire')
import type { Connection, Message } from 'fdwire'

const pair: [Connection, Connection] = fdwire.socketPair()
pair[1].on('message', (m: Message) => {
  const n: number = m.fdCount
  void n
})
const e: Error = new fdwire.FdwireError('ERR_FDWIRE_STATE', 'x')
void e
// @ts-expect-error not an export
fdwire.noSuchExport()
declare const client: fdwire.Client
// @ts-expect-error Client has no 'nonsense' event
client.on('nonsense', () => {})
client.off('close', (reason: Error | undefined) => void reason)
