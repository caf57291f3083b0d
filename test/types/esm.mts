// Type test (ESM consumer: .mts, so ESM whatever the project's "type"): compiled with `tsc --noEmit`
// against the installed tarball by scripts/pack-test.sh. It checks that `import 'fdwire'` resolves to the package's types.
import { socketPair, pipe, closeFd, FdwireError, MAX_FDS_PER_MESSAGE, protocol } from 'fdwire'
import type { Connection, Message, SendOptions, PeerCredentials } from 'fdwire'

const [a, b]: [Connection, Connection] = socketPair()
const [r, w]: [number, number] = pipe()
const options: SendOptions = { fds: [w], closeFds: true, id: 1, type: 2 }
const sent: boolean = a.send('hello', options)
b.once('message', (m: Message) => {
  const fd: number = m.takeFd(0)
  const text: string = m.payload.toString()
  closeFd(fd)
  void text
})
const max: 253 | number = MAX_FDS_PER_MESSAGE
const err: Error = new FdwireError('ERR_FDWIRE_STATE', 'x')
let creds: PeerCredentials | undefined
void [sent, max, err, creds, r, protocol]
// @ts-expect-error send() takes a payload
a.send()
