/**
 * rush on a real terminal, driven through tmux (private server socket, `send-keys`,
 * `capture-pane`): Ctrl-C ends the job, Ctrl-Z stops it and `fg` resumes it, and the interactive
 * session (`rush` with no arguments) keeps cd and variables, survives Ctrl-C and ends on Ctrl-D
 * or `exit N`. The pane's shell is dash (`sh -i`) with a clean environment, so prompts are known.
 */
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import t from 'tap'
import { comm, haveClient, processesWith, runtimeDir, rushBin, startRushd, until } from './scripts/harness.js'
import { aptInstall, needs } from '../../test/helpers.js'

type Test = Parameters<Parameters<typeof t.test>[1]>[0]

const server = `rush-e2e-${process.pid}`
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', server, '-f', '/dev/null', ...args], { encoding: 'utf8', timeout: 20_000 })

function haveTmux(t: Test): boolean {
  return needs(t, spawnSync('tmux', ['-V']).status === 0 ? undefined : 'tmux is not installed', aptInstall('tmux'))
}

if (haveClient(t) && haveTmux(t)) {
  t.setTimeout(600_000)
  const dir = runtimeDir(t)
  const cwd = fs.mkdtempSync('/tmp/rush-term-')
  t.teardown(() => fs.rmSync(cwd, { recursive: true, force: true }))
  t.before(() => {
    startRushd(t, dir)
    // A session for the server's lifetime: closing a test's session must not end the server
    // while the next test starts its own.
    const keep = tmux('new-session', '-d', '-s', 'keep', '-x', '80', '-y', '10', 'sleep 3600')
    if (keep.status !== 0) throw new Error(`tmux: ${keep.stderr}`)
  })
  t.teardown(() => {
    tmux('kill-server')
  })

  let sessions = 0
  /** A new tmux session running `sh -i` in a clean environment (no PS1: dash's default prompt). */
  const pane = (t: Test, extraEnv: string[] = []) => {
    const name = `s${++sessions}`
    const mark = `term-${process.pid}-${name}`
    const shell = [
      'env',
      '-i',
      ...extraEnv,
      'PATH=/usr/local/bin:/usr/bin:/bin',
      `HOME=${cwd}`,
      'TERM=screen',
      `RUSH_RUNTIME_DIR=${dir}`,
      'RUSH_NO_AUTOSTART=1',
      `RUSH_TERM_MARK=${mark}`,
      'LC_ALL=C',
      '/bin/sh',
      '-i',
    ]
    const r = tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '40', '-c', cwd, ...shell)
    if (r.status !== 0) throw new Error(`tmux new-session: ${r.stderr}`)
    t.teardown(() => {
      tmux('kill-session', '-t', name)
    })
    const screen = () => tmux('capture-pane', '-p', '-t', name, '-S', '-500').stdout ?? ''
    /** Types a line: its chars are bytes (a byte string), those past ASCII typed as themselves (not as UTF-8). */
    const type = (text: string) => {
      for (const run of text.match(/[^\x80-\xff]+|[\x80-\xff]+/g) ?? []) {
        if (run.charCodeAt(0) < 0x80) tmux('send-keys', '-t', name, '-l', run)
        else tmux('send-keys', '-t', name, '-H', ...Array.from(run, (c) => c.charCodeAt(0).toString(16)))
      }
      tmux('send-keys', '-t', name, 'Enter')
    }
    const key = (k: string) => tmux('send-keys', '-t', name, k)
    const count = (re: RegExp) => (screen().match(new RegExp(re.source, 'gm')) ?? []).length
    /** Waits until `re` matches (at least `n` times). */
    const waitFor = (re: RegExp, n = 1, ms = 20_000) => until(() => count(re) >= n, ms, 100)
    const sleeps = () => processesWith('RUSH_TERM_MARK', mark).filter((pid) => comm(pid) === 'sleep')
    return { name, mark, screen, type, key, count, waitFor, sleeps }
  }

  /** A pane with `rush` started in it, at its first prompt. */
  const rushSession = async (t: Test) => {
    const p = pane(t)
    t.ok(await p.waitFor(/^[$#]( |$)/m), 'outer prompt')
    p.type(rushBin)
    t.ok(await p.waitFor(/^rush\$( |$)/m), 'rush prompt', { screen: p.screen() })
    return p
  }

  t.test('Ctrl-C ends the job; status 130', async (t) => {
    const p = pane(t)
    t.ok(await p.waitFor(/^[$#]( |$)/m), 'outer prompt')
    p.type(`${rushBin} -c 'sleep 30; echo done'`)
    t.ok(await until(() => p.sleeps().length > 0, 20_000), 'the sleep runs')
    p.key('C-c')
    t.ok(await until(() => p.sleeps().length === 0, 20_000), 'the sleep is gone')
    p.type('echo "st=$?"')
    t.ok(await p.waitFor(/\bst=130$/m), 'status 130', { screen: p.screen() })
    t.notOk(/^done$/m.test(p.screen()), 'the script did not go on')
  })

  t.test('Ctrl-Z stops the job, fg resumes it', async (t) => {
    const p = pane(t)
    t.ok(await p.waitFor(/^[$#]( |$)/m), 'outer prompt')
    p.type(`${rushBin} -c 'for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.3; done'`)
    t.ok(await p.waitFor(/^tick 2$/m), 'ticking')
    p.key('C-z')
    t.ok(await p.waitFor(/Stopped/), 'the shell reports it stopped', { screen: p.screen() })
    const stoppedAt = p.count(/^tick \d$/)
    t.ok(stoppedAt < 8, `stopped before the end (at ${stoppedAt} ticks)`)
    // The one fixed wait: ticks come every 0.3 s, so a second without one means stopped.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const a = p.screen()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    t.equal(p.screen(), a, 'no ticks while stopped')
    t.equal(p.count(/^tick \d$/), stoppedAt, 'tick count unchanged')
    p.type('fg')
    t.ok(await p.waitFor(/^tick 8$/m), 'resumed and finished', { screen: p.screen() })
    p.type('echo "st=$?"')
    t.ok(await p.waitFor(/\bst=0$/m), 'status 0 after fg', { screen: p.screen() })
    t.equal(p.count(/^tick \d$/), 8, 'each tick once')
  })

  t.test("interactive session: a line that needs the terminal runs there, in the session's state", async (t) => {
    const p = await rushSession(t)
    p.type('cd /tmp && export TERMVAR=kept && plain=unexported && umask 027')
    t.ok(await p.waitFor(/^rush\$( |$)/m, 2), 'prompt after cd, export, umask')
    // An interactive shell needs the terminal: the client runs it, and it reads the next line.
    p.type('sh')
    p.type('echo "in=$(pwd) $TERMVAR [$plain] $(umask)"; exit 7')
    // Typed ahead: the line may reach the screen before sh's prompt ("# " as root, "$ " otherwise),
    // and then the output follows that prompt on its line.
    t.ok(await p.waitFor(/^(?:[#$] )?in=\/tmp kept \[\] 0027$/m), 'the directory, exports and umask of the session, as under sh -i', { screen: p.screen() })
    p.type('echo "after=$? $(pwd)"')
    t.ok(await p.waitFor(/^(?:rush\$ )?after=7 \/tmp$/m), "its status is the next line's $?", { screen: p.screen() })
  })

  t.test('interactive session', async (t) => {
    const p = await rushSession(t)
    p.type('cd /tmp')
    t.ok(await p.waitFor(/^rush\$( |$)/m, 2), 'prompt after cd')
    p.type('pwd')
    t.ok(await p.waitFor(/^\/tmp$/m), 'pwd shows /tmp (cd kept)', { screen: p.screen() })
    p.type('FOO=bar')
    t.ok(await p.waitFor(/^rush\$( |$)/m, 4), 'prompt after FOO=bar')
    p.type('echo $FOO')
    t.ok(await p.waitFor(/^bar$/m), 'echo $FOO shows bar (variable kept)', { screen: p.screen() })
    p.type('export BAZ=qux; ls >/dev/null')
    p.type('printenv BAZ') // typed ahead: its output may follow the prompt on the prompt's line
    t.ok(await p.waitFor(/^(?:rush\$ )?qux$/m), 'export through sh kept for the next line', { screen: p.screen() })
    p.type('false')
    p.type('echo "st $?"')
    t.ok(await p.waitFor(/\bst 1$/m), "$? is the previous line's status", { screen: p.screen() })
    p.type('sleep 30')
    t.ok(await until(() => p.sleeps().length > 0, 20_000), 'sleep runs')
    const prompts = p.count(/^rush\$( |$)/)
    p.key('C-c')
    t.ok(await until(() => p.sleeps().length === 0, 20_000), 'Ctrl-C ended the sleep')
    t.ok(await p.waitFor(/rush\$( |$)/m, prompts + 1), 'prompt returns', { screen: p.screen() })
    p.type('echo "alive $?"')
    t.ok(await p.waitFor(/\balive 130$/m), 'session alive, $? is 130', { screen: p.screen() })
    const before = p.count(/^[$#]( |$)/)
    p.key('C-d')
    t.ok(await p.waitFor(/^[$#]( |$)/m, before + 1), 'Ctrl-D: outer prompt')
    p.type('echo "outer=$?"')
    t.ok(await p.waitFor(/\bouter=\d+$/m), 'Ctrl-D: back in the outer shell', { screen: p.screen() })
    // `exit N` in a session ends it with N.
    const rushPrompts = p.count(/rush\$( |$)/)
    p.type(rushBin)
    t.ok(await p.waitFor(/rush\$( |$)/m, rushPrompts + 1), 'rush prompt again')
    const outer = p.count(/^[$#]( |$)/)
    p.type('exit 5')
    t.ok(await p.waitFor(/^[$#]( |$)/m, outer + 1), 'outer prompt after exit 5')
    p.type('echo "after-exit=$?"')
    t.ok(await p.waitFor(/\bafter-exit=5$/m), 'exit 5 ends the session with status 5', { screen: p.screen() })
  })

  t.test('interactive session: Ctrl-C at the prompt, Ctrl-Z and fg', async (t) => {
    const p = await rushSession(t)
    tmux('send-keys', '-t', p.name, '-l', 'echo discarded-line')
    p.key('C-c')
    t.ok(await p.waitFor(/rush\$( |$)/m, 2), 'Ctrl-C at the prompt: a fresh prompt', { screen: p.screen() })
    p.type('echo "kept $?"')
    t.ok(await p.waitFor(/\bkept \d+$/m), 'the next line runs', { screen: p.screen() })
    t.notOk(/^discarded-line$/m.test(p.screen()), 'the abandoned line did not run')
    p.type('for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.3; done')
    t.ok(await p.waitFor(/^tick 2$/m), 'ticking')
    p.key('C-z')
    t.ok(await p.waitFor(/Stopped/), 'the outer shell reports rush stopped', { screen: p.screen() })
    const stoppedAt = p.count(/^tick \d$/)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    t.equal(p.count(/^tick \d$/), stoppedAt, 'no ticks while stopped')
    p.type('fg')
    t.ok(await p.waitFor(/^tick 6$/m), 'resumed and finished', { screen: p.screen() })
    p.type('echo "back $?"')
    t.ok(await p.waitFor(/\bback 0$/m), 'the session goes on, status 0', { screen: p.screen() })
    const before = p.count(/^[$#]( |$)/)
    p.key('C-d')
    t.ok(await p.waitFor(/^[$#]( |$)/m, before + 1), 'Ctrl-D: outer prompt', { screen: p.screen() })
  })

  // The same lines typed into `rush` and into `sh -i` (both with PS1='rush$ '): each line's echo
  // and output on the screen must match. Line numbers in sh's messages count lines in `sh -i`.
  const sessionLines: [string, string?][] = [
    ['cd /tmp && ls >/dev/null'], // the first line too runs in sh and keeps its state
    ['pwd'],
    ['cd -'],
    ['echo "$PWD $OLDPWD"'],
    ['x=1'],
    ['echo "x=$x"'],
    ['export Y=2'],
    [`sh -c 'echo "Y=$Y"'`],
    ['unset Y'],
    ['echo "${Y-unset}"'],
    ['umask 027'],
    ['umask'],
    ['false'],
    ['echo "st=$?"'],
    ['(exit 3)'],
    ['echo "st=$?"'],
    ['f() { echo "in f $1"; }'],
    ['f arg', 'functions: the session does not keep them across lines (dash cannot print their definitions for src/rush/state-capture.ts to carry)'],
    ['set -- a b c'],
    ['echo "$# $2"'],
    ['z=$((x + 41)); echo $z'],
    ['readonly R=1'],
    ['R=2; echo "R=$R"'],
    ['R=3'],
    ['alias hi="echo alias-hi"'],
    ['hi'],
    ['alias true="echo aliased-true"'],
    ['true'],
    ['set -f'],
    ['echo /*'],
    ['set +f -x'],
    ['echo traced'],
    ['set +x'],
    [''],
    ['nosuchcmd'],
    ['echo "$0"'],
    ['cd /nonexistent'],
    ['echo "st=$?"'],
    // Bytes that are not UTF-8 (od shows them on the screen), made by sh or typed as such.
    [`cd && mkdir -p "$(printf 'd\\377')" && cd "$(printf 'd\\377')"`],
    ['pwd | od -c'],
    ['pwd'],
    ['cd .. && cd -'],
    ['cd ..'],
    [`cd 'd\xff'`],
    ['echo "$PWD|$OLDPWD" | od -c'],
    [`echo 'caf\xe9' "x\xa0"`],
    [`v='a\xe9\xa0b'`],
    [`x=$(printf '\\376\\205'); export E="$x$v"`],
    ['echo "$x|$v|$E" | od -c'],
    ['export v'],
    ['printenv v | od -c'],
    [`echo 'caf\xe9' "$v" | od -c`],
    [`set -- 'p\xff' "$x"; echo "$@" | od -c`],
    ['echo "$1" | od -c'],
  ]
  t.test('interactive session vs sh -i: the same lines give the same screen', async (t) => {
    const screens: string[][][] = []
    for (const program of [rushBin, 'sh -i']) {
      const p = pane(t, ['PS1=rush$ '])
      t.ok(await p.waitFor(/^rush\$( |$)/m), `outer prompt (${program})`)
      p.type(program)
      t.ok(await p.waitFor(/^rush\$( |$)/m, 2), `prompt of ${program}`)
      for (const [line] of sessionLines) {
        const prompts = p.count(/rush\$( |$)/)
        p.type(line)
        if (!(await p.waitFor(/rush\$( |$)/m, prompts + 1))) t.fail(`${program}: no prompt after ${line}`, { screen: p.screen() })
      }
      // Blocks: from one prompt to the next; the first is the outer shell's (same PS1).
      const blocks = p
        .screen()
        .replace(/\n+$/, '')
        .split(/^(?=rush\$)/m)
        .map((b) => b.replace(/\n+$/, '').split('\n'))
      screens.push(blocks.slice(1, 1 + sessionLines.length))
      p.key('C-d')
    }
    const [viaRush, viaSh] = screens as [string[][], string[][]]
    sessionLines.forEach(([line, todo], i) => {
      t.same(viaRush[i], viaSh[i], line, todo ? { todo } : {})
    })
  })
}
