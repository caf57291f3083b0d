/**
 * An interactive session's state carried from one line run by /bin/sh to the next: the capturing
 * script runs in a real sh, the session adopts the dump, and the next line sees what sh -i would
 * (aliases, readonly names, positional parameters, variables, line numbers in messages).
 */
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import t from 'tap'
import { adoptCapturedState, adoptTerminalRun, capturingScript, shellQuote } from '../src/state-capture.js'
import { evaluate } from '../src/builtins.js'
import { parseScript } from '../src/script.js'
import { ShellState } from '../src/shell-state.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rush-capture-'))
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
let files = 0

/**
 * Runs `line` as the session's line `lineNumber`; the session adopts what sh left behind. The
 * state's strings are byte strings (one char per byte), and sh gets them as those bytes: Node would
 * encode a string argument, directory or environment entry as UTF-8, so a wrapper script written
 * as bytes enters the directory and execs sh with the script and environment, quoted.
 */
function runLine(state: ShellState, line: string, lineNumber: number): { stdout: string; stderr: string; status: number | null; adopted: boolean } {
  const file = path.join(dir, `state-${++files}`)
  const wrapper = path.join(dir, `wrapper-${files}`)
  // argv[0] 'sh', as rushd runs it.
  const script = capturingScript(line, state, file, lineNumber)
  const entries = state.envList().map(shellQuote).join(' ')
  fs.writeFileSync(wrapper, `cd -- ${shellQuote(state.cwd)} && exec env -i ${entries} /bin/sh -c ${shellQuote(script)} sh`, 'latin1')
  const r = spawnSync('/bin/sh', [wrapper])
  fs.rmSync(wrapper)
  const adopted = adoptCapturedState(file, state)
  t.notOk(fs.existsSync(file), 'the dump file is removed')
  return { stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1'), status: r.status, adopted }
}

// The session's strings are byte strings: the temporary directory's path as its bytes.
const home = Buffer.from(dir).toString('latin1')
const fresh = () => new ShellState(home, ['PATH=/usr/bin:/bin', `HOME=${home}`], 0o022)

t.test('aliases, readonly names, positional parameters and variables survive to the next line', async (t) => {
  const state = fresh()
  const tricky = `it's "quoted"\nand @@rush-section@@\n on lines`
  const first = runLine(
    state,
    [`alias hi='echo alias-hi' q="printf '%s|' it\\'s"`, 'readonly R=1 UNSET_RO', `set -- a 'b c' '' "$(printf 'x\\ny')"`, `v=${shellQuote(tricky)}`].join(
      '; ',
    ),
    2,
  )
  t.equal(first.status, 0, first.stderr)
  t.ok(first.adopted)
  t.same(
    [...state.aliases],
    [
      ['hi', 'echo alias-hi'],
      ['q', "printf '%s|' it\\'s"],
    ],
  )
  t.same([...state.readonly].sort(), ['R', 'UNSET_RO'])
  t.same(state.positional, ['a', 'b c', '', 'x\ny'])
  t.equal(state.vars.get('v'), tricky, 'a value containing the section marker is read whole')
  t.equal(state.vars.get('R'), '1')

  const second = runLine(state, 'hi; q; echo; echo "$# [$2] [$3] $R $v" | head -n 1; R=2; echo not reached', 7)
  t.equal(second.stdout, `alias-hi\nit's|\n4 [b c] [] 1 it's "quoted"\n`)
  t.equal(second.stderr, 'sh: 7: R: is read only\n', 'the message carries the session line number')
  t.equal(second.status, 2)
  t.ok(second.adopted, 'the EXIT trap ran after the error')
  t.ok(state.readonly.has('R'), 'still readonly')
  t.equal(state.positional.length, 4)

  runLine(state, 'set --; unalias hi', 9)
  t.same(state.positional, [], '`set --` empties them')
  t.same([...state.aliases.keys()], ['q'])
  t.equal(runLine(state, 'hi', 10).stderr, 'sh: 10: hi: not found\n', 'an alias removed is gone')
})

t.test('the first line of a session keeps its line number 1', async (t) => {
  const state = fresh()
  const r = runLine(state, 'nosuchcmd-rush-test', 1)
  t.equal(r.stderr, 'sh: 1: nosuchcmd-rush-test: not found\n')
  t.equal(r.status, 127)
})

t.test('a dump that cannot be read leaves the state as it was', async (t) => {
  const state = fresh()
  state.aliases = new Map([['keep', 'echo kept']])
  state.positional = ['p']
  const file = path.join(dir, 'broken')
  for (const text of [
    `/\n0022\n`, // no sections
    `/\n0022\n@@rush-section@@\nbad alias line\n`,
    `/\n0022\n@@rush-section@@\n@@rush-section@@\n@@rush-section@@\n2\none\0`, // count and parameters disagree
  ]) {
    fs.writeFileSync(file, text)
    t.notOk(adoptCapturedState(file, state), JSON.stringify(text))
    t.same([...state.aliases], [['keep', 'echo kept']])
    t.same(state.positional, ['p'])
  }
})

t.test('in-process builtins leave to sh what readonly names and aliases change', async (t) => {
  const state = fresh()
  const run = (script: string) => evaluate(parseScript(script)!, state)
  t.ok(run('R=2'), 'an ordinary assignment runs in-process')
  t.ok(run('true'), 'so does true')
  state.readonly = new Set(['R'])
  state.aliases = new Map([['true', 'echo aliased']])
  for (const script of ['R=2', 'x=1 R=2', 'export R=3', 'unset R', 'true', 'x=1; true']) {
    t.equal(run(script), undefined, `${script}: sh's to run`)
  }
  state.readonly = new Set(['R', 'PWD'])
  t.equal(run('cd /'), undefined, 'cd with a readonly PWD')
  t.ok(run('x=1; false'), 'other scripts still run in-process')
})

t.test('options set with `set` carry to the next line, except those sh -i would not keep for it', async (t) => {
  const state = fresh()
  const existing = path.join(dir, 'existing')
  fs.writeFileSync(existing, 'keep\n')
  t.equal(runLine(state, 'set -f -C -u -x -e -a', 2).status, 0)
  t.same([...state.options].sort(), ['allexport', 'noclobber', 'noglob', 'nounset', 'xtrace'], 'errexit is not carried')
  const traced = runLine(state, 'echo /*; v=1', 3)
  t.equal(traced.stdout, '/*\n', 'noglob')
  t.equal(traced.stderr, '+ echo /*\n+ v=1\n', 'xtrace shows the line, and nothing of the prelude')
  t.equal(state.env.get('v'), '1', 'allexport exported the assignment')
  t.equal(runLine(state, 'echo "$nosuch"', 4).stderr, 'sh: 4: nosuch: parameter not set\n', 'nounset')
  t.equal(runLine(state, 'false; echo "after $?"', 5).stdout, 'after 1\n', 'errexit did not come along')
  const clobber = runLine(state, `set +x +u +a; echo new > ${shellQuote(existing)}`, 6)
  t.equal(clobber.stderr, `+ set +x +u +a\nsh: 6: cannot create ${existing}: File exists\n`, 'noclobber')
  t.equal(fs.readFileSync(existing, 'utf8'), 'keep\n')
  t.same([...state.options].sort(), ['noclobber', 'noglob'], 'options turned off are dropped')
})

t.test('in-process builtins leave to sh the lines xtrace or allexport would change', async (t) => {
  const state = fresh()
  t.ok(evaluate(parseScript('x=1')!, state))
  for (const option of ['xtrace', 'allexport']) {
    state.options = new Set([option])
    t.equal(evaluate(parseScript('x=1')!, state), undefined, option)
  }
  state.options = new Set(['noglob', 'noclobber', 'nounset'])
  t.ok(evaluate(parseScript('x=1')!, state), 'the other options change nothing the recogniser accepts')
})

t.test('a line run on the client terminal: the session state on the way in, its state and status on the way out', async (t) => {
  const state = fresh()
  const sub = path.join(dir, 'sub dir')
  fs.mkdirSync(sub, { recursive: true })
  state.status = runLine(state, `cd ${shellQuote(sub)}; export EXPORTED='e v'; plain=p; umask 027; false`, 1).status! // as rushd does
  t.equal(state.status, 1)
  t.equal(state.cwd, sub)
  t.equal(state.get('OLDPWD'), dir)
  const file = path.join(dir, `terminal-${++files}`)
  const statusFile = `${file}.status`
  const script = capturingScript('echo "$?|$EXPORTED|$plain|$OLDPWD"; pwd; umask; cd /; exit 5', state, file, 3, true)
  // As the client runs it: in its own directory (not the session's) with the session's environment.
  const r = spawnSync('/bin/sh', ['-c', script], {
    argv0: 'sh',
    cwd: '/tmp',
    env: Object.fromEntries([...state.env, ['OLDPWD', '/nowhere']]),
    encoding: 'utf8',
  })
  t.equal(r.stderr, '')
  t.equal(r.status, 5)
  t.equal(r.stdout, `1|e v|p|${dir}\n${sub}\n0027\n`, "the session's directory, variables, OLDPWD, $? and umask")
  t.ok(adoptTerminalRun(file, state), 'adopted')
  t.equal(state.cwd, '/', 'the cd it made carries to the next line')
  t.equal(state.status, 5, "its status is the next line's $?")
  t.notOk(fs.existsSync(file) || fs.existsSync(statusFile), 'both files are removed')

  const untouched = state.clone()
  t.notOk(adoptTerminalRun(path.join(dir, 'never-written'), state), 'killed before its EXIT trap: nothing to adopt')
  t.equal(state.cwd, untouched.cwd)
  t.equal(state.status, untouched.status)
})

// Bytes that are not UTF-8, and 0x85 and 0xA0, which a JavaScript regex's \s matches in a byte
// string (sh's blanks are space, tab and newline only), and a quote.
const odd = "caf\xe9 \x85\xa0 it's \xff"

t.test('bytes, not text: a directory, variables, exported values and a line that are not UTF-8 go through sh and back unchanged', async (t) => {
  const state = fresh()
  const sub = `${home}/d\xff\xe9`
  fs.mkdirSync(Buffer.from(sub, 'latin1'))
  state.cwd = sub
  state.vars.set('v', odd)
  state.env.set('E', `\xfe${odd}`)
  state.positional = ['p\xff', '\xa0']
  const first = runLine(state, `printf '%s|' "$(pwd)" "$v" "$E" "$@"; w='\xe9\xa0\x85'; export F="\x80$v"`, 2)
  t.equal(first.stderr, '')
  t.equal(first.stdout, `${sub}|${odd}|\xfe${odd}|p\xff|\xa0|`, 'sh got the bytes of the directory, variable, exported value and parameters')
  t.ok(first.adopted)
  t.equal(state.cwd, sub, 'the directory comes back byte for byte')
  t.equal(state.vars.get('v'), odd)
  t.equal(state.vars.get('w'), '\xe9\xa0\x85', 'a variable the line set')
  t.equal(state.env.get('E'), `\xfe${odd}`)
  t.equal(state.env.get('F'), `\x80${odd}`, 'a value the line exported')
  t.same(state.positional, ['p\xff', '\xa0'])
  const second = runLine(state, `printf '%s|' "$PWD" "$w" "$F"`, 3)
  t.equal(second.stdout, `${sub}|\xe9\xa0\x85|\x80${odd}|`, 'and goes to sh again unchanged')
})

t.test('in-process builtins work on bytes: cd, pwd, echo and assignments that are not UTF-8', async (t) => {
  const state = fresh()
  const sub = `${home}/b\xff \xa0`
  fs.mkdirSync(Buffer.from(sub, 'latin1'))
  const e = evaluate(parseScript(`cd 'b\xff \xa0' && pwd && echo 'x\xe9' "\x85" && v='\xa0\x85' && export X='\xfe'`)!, state)
  t.equal(e?.stdout, `${sub}\nx\xe9 \x85\n`, 'the bytes of the directory and the words')
  t.equal(e?.state.cwd, sub)
  t.equal(e?.state.get('PWD'), sub)
  t.equal(e?.state.vars.get('v'), '\xa0\x85')
  t.equal(e?.state.env.get('X'), '\xfe')
  const link = `${home}/l\xe9`
  fs.symlinkSync(Buffer.from(sub, 'latin1'), Buffer.from(link, 'latin1'))
  t.equal(new ShellState(sub, [`PWD=${link}`], 0o022).cwd, link, 'the start directory is $PWD when it names the same directory')
})
