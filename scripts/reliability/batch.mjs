// The batch driver of scripts/reliability/soak.mjs (--batch): many `rush` sessions through one /bin/sh,
// so that 100,000 sessions take minutes (a spawnSync from Node costs several times what the
// session itself does).
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

const quote = (arg) => `'${arg.replace(/'/g, `'\\''`)}'`

/**
 * Runs `steps` through one `/bin/sh`: each step is a session ({args, out, err, status}) or a burst
 * (an array of sessions, started together and waited for). Every session's stdout and stderr go
 * to files of their own, its status to the shell's stdout; all three are checked against what is
 * expected once the shell is done. Resolves with the sessions that gave something else:
 * [{index, args, got: [status, stdout, stderr], want}].
 */
export async function runBatch(rushBin, env, steps, scratchDir) {
  const lines = ['R=$1; D=$2']
  const sessions = []
  const session = (s) => {
    const k = sessions.push(s) - 1
    return `"$R" ${s.args.map(quote).join(' ')} >"$D/${k}.o" 2>"$D/${k}.e"; echo "${k} $?"`
  }
  for (const step of steps) {
    if (Array.isArray(step)) lines.push(`${step.map((s) => `{ ${session(s)}; } &`).join(' ')} wait`)
    else lines.push(session(step))
  }
  const script = path.join(scratchDir, 'batch.sh')
  fs.writeFileSync(script, `${lines.join('\n')}\n`)
  const child = spawn('/bin/sh', [script, rushBin, scratchDir], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let text = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (text += d))
  const code = await new Promise((resolve) => child.on('close', resolve))
  if (code !== 0) throw new Error(`the batch shell exited with ${code}`)
  const status = new Map(
    text
      .trim()
      .split('\n')
      .map((line) => line.split(' ').map(Number)),
  )
  const wrong = []
  for (const [k, s] of sessions.entries()) {
    const stdout = fs.readFileSync(path.join(scratchDir, `${k}.o`), 'utf8')
    const stderr = fs.readFileSync(path.join(scratchDir, `${k}.e`), 'utf8')
    if (status.get(k) !== s.status || stdout !== s.out || stderr !== s.err) {
      wrong.push({ index: k, args: s.args, got: [status.get(k), stdout, stderr], want: [s.status, s.out, s.err] })
    }
  }
  for (const name of fs.readdirSync(scratchDir)) fs.rmSync(path.join(scratchDir, name))
  return { sessions: sessions.length, wrong }
}
