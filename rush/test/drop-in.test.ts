/**
 * rush as a drop-in for sh: each case runs once with `rush` and once with `/bin/sh` in the same
 * caller (a bash script that sets up fds, limits, signal dispositions, nice value, bytes), and the
 * two must give the same stdout, stderr and status. Then what a comparison cannot show: a
 * recursive make that keeps its jobserver, `kill $PPID`, and a client killed with SIGKILL.
 */
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { alive, daemonPid, haveClient, leftovers, processesWith, run, runtimeDir, rushBin, startRushd, until } from './scripts/harness.js'

if (haveClient(t)) {
  t.setTimeout(600_000)
  const dir = runtimeDir(t)
  const work = fs.mkdtempSync('/tmp/rush-dropin-')
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }))
  const baseEnv: Record<string, string> = { PATH: '/usr/bin:/bin', HOME: work, LANG: 'C.UTF-8', RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1' }
  t.before(() => {
    startRushd(t, dir)
  })

  /** Runs `caller` (a bash script in which `$SH` is the shell under test) in `cwd`. */
  const viaBash = async (caller: string, sh: string, cwd = work) => {
    const r = await run(['/bin/bash', '-c', caller], { cwd, env: { ...baseEnv, SH: sh } })
    return { stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1'), status: r.signal ?? r.code }
  }

  const cases: [string, string][] = [
    // The caller's process context.
    ['fd 3 and up, with their numbers', `"$SH" -c 'echo to-three >&3; echo to-nine >&9' 3>three 9>nine; cat three nine`],
    ['an fd the script only reads', `exec 5<<<'from five'; "$SH" -c 'cat <&5'`],
    ['rlimits', `ulimit -n 100; ulimit -s 4096; "$SH" -c 'ulimit -n; ulimit -s'`],
    ['rlimits, seen by a program', `ulimit -n 64; "$SH" -c 'grep "open files" /proc/self/limits'`],
    ['ignored signals', `trap '' HUP INT; "$SH" -c 'grep -E "^SigIgn" /proc/self/status; :'`],
    ['ignored signals, seen by a lone program', `trap '' INT TERM; "$SH" -c 'grep -E "^SigIgn" /proc/self/status'`],
    [
      'the signal mask',
      `python3 -c 'import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1}); os.execvp(sys.argv[1], sys.argv[1:])' "$SH" -c 'grep -E "^SigBlk" /proc/self/status; :'`,
    ],
    ['nice value', `nice -n 5 "$SH" -c 'nice; :'`],
    ['umask', `umask 027; "$SH" -c 'umask; :'`],
    ['$PPID is the caller', `"$SH" -c 'test "$PPID" = "$1" && echo parent-is-caller' n $$; true`],
    // Bytes, not text.
    ['a non-UTF-8 argument', `"$SH" -c 'printf %s "$1"' n "$(printf 'a\\377b')"`],
    ['a non-UTF-8 env value', `XV="$(printf '\\377')" "$SH" -c 'printenv XV'`],
    ['a non-UTF-8 script', `"$SH" -c "$(printf 'echo \\351t\\351')"`],
    ['a non-UTF-8 directory', `d="$(printf 'd\\377')"; mkdir -p "$d" && cd "$d" && "$SH" -c 'pwd; ls -d "$PWD" >/dev/null; echo $?'`],
    // The same bytes where rushd itself reads them: builtins, PATH search, a program it names.
    ['pwd of a non-UTF-8 directory', `d="$(printf 'd\\377')"; mkdir -p "$d" && cd "$d" && "$SH" -c pwd`],
    ['echo and cd with non-UTF-8 words', `d="$(printf 'd\\377\\240')"; mkdir -p "$d" && "$SH" -c "echo 'x$d'; cd '$d' && pwd && cd .. && pwd"`],
    ['a program with a non-UTF-8 argument', `f="$(printf 'f\\351')"; echo in-file >"$f"; "$SH" -c "cat '$f'"`],
    [
      'a program on a non-UTF-8 PATH directory',
      `d="$PWD/$(printf 'b\\377')"; mkdir -p "$d"; printf '#!/bin/sh\\necho "found $0"\\n' >"$d/tool"; chmod +x "$d/tool"; PATH="$d:$PATH" "$SH" -c tool`,
    ],
    ['a program with a non-UTF-8 env value', `XV="$(printf '\\376\\205\\240')" "$SH" -c 'env' | grep '^XV='`],
    // sh's own invocation.
    ['-ec', `"$SH" -ec 'false; echo not reached'; echo "status $?"`],
    ['-e -c', `"$SH" -e -c 'false; echo not reached'; echo "status $?"`],
    ['-xc', `"$SH" -xc 'echo traced'`],
    ['-c, then an option', `"$SH" -c -u 'echo "$nosuch"'; echo "status $?"`],
    ['-o errexit, +o', `"$SH" -o errexit +o xtrace -c 'false; echo not reached'; echo "status $?"`],
    ['-s with arguments', `echo 'echo "s: $1 $2"' | "$SH" -s one two`],
    ['a script file', `printf 'echo "file: $0 $1"\\n' >script.sh; "$SH" script.sh arg`],
    ['a bad option', `"$SH" -Q; echo "status $?"`],
    ['a bad -o name', `"$SH" -o nosuch -c true; echo "status $?"`],
    // Builtins that cannot write.
    // (bash's own report of the signal names a pid: kept out of the comparison.)
    ['echo past a file size limit', `{ bash -c 'ulimit -f 0; exec "$0" -c "echo hi"' "$SH" >big; } 2>/dev/null; echo "status $?"`],
    ['echo into a full device', `"$SH" -c 'echo hi' >/dev/full; echo "status $?"`],
    ['pwd and umask into a full device', `"$SH" -c pwd >/dev/full; "$SH" -c umask >/dev/full; echo "status $?"`],
    ['echo into a closed stdout', `"$SH" -c 'echo hi' >&-; echo "status $?"`],
    // A pipe whose reading end is closed before the script starts (python ignores SIGPIPE; exec keeps that).
    [
      'echo into a pipe nobody reads, SIGPIPE ignored',
      `python3 -c 'import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); os.execvp(sys.argv[1], sys.argv[1:])' "$SH" -c 'echo hi'; echo "status $?" >&2`,
    ],
    [
      'echo into a pipe nobody reads, SIGPIPE default',
      `python3 -c 'import os, signal, sys; signal.signal(signal.SIGPIPE, signal.SIG_DFL); r, w = os.pipe(); os.close(r); os.dup2(w, 1); os.execvp(sys.argv[1], sys.argv[1:])' "$SH" -c 'echo hi'; echo "status $?" >&2`,
    ],
    // Special variables.
    ['OPTIND=-1', `"$SH" -c 'OPTIND=-1'; echo "status $?"`],
    ['export OPTIND=x', `"$SH" -c 'export OPTIND=x'; echo "status $?"`],
  ]
  for (const [name, caller] of cases) {
    t.test(name, async (t) => {
      // Both in the same fresh directory (`sh` found on PATH: its messages name it `sh`).
      const cwd = fs.mkdtempSync(path.join(work, 'case-'))
      const [viaRush, viaSh] = [await viaBash(caller, rushBin, cwd), await viaBash(caller, 'sh', cwd)]
      t.same(viaRush, viaSh, 'rush gives what sh gives')
      t.not(viaSh.stdout + viaSh.stderr, '', 'the case shows something to compare')
    })
  }

  t.test('make -j4 SHELL=rush: a recursive make keeps its jobserver', async (t) => {
    const mk = path.join(work, 'jobserver')
    fs.mkdirSync(mk)
    fs.writeFileSync(path.join(mk, 'Makefile'), 'all:\n\t+$(MAKE) -f sub.mk\n')
    fs.writeFileSync(path.join(mk, 'sub.mk'), `all: ${Array.from({ length: 8 }, (_, i) => `t${i}`).join(' ')}\nt%:\n\t@echo $@ >/dev/null\n`)
    for (const shell of [rushBin, '/bin/sh']) {
      const r = await run(['make', '-j4', `SHELL=${shell}`], { cwd: mk, env: baseEnv })
      t.equal(r.code, 0, `${shell}: make succeeds`)
      t.notMatch(r.stderr.toString(), /jobserver unavailable/, `${shell}: the sub-make reaches the jobserver`)
    }
  })

  t.test('kill $PPID signals the caller, never rushd', async (t) => {
    const daemon = daemonPid(dir)
    const caller = `"$SH" -c 'kill $PPID'; echo survived`
    const [viaRush, viaSh] = [await viaBash(caller, rushBin), await viaBash(caller, 'sh')]
    t.same(viaRush, viaSh, 'as under sh')
    t.equal(viaSh.status, 'SIGTERM', 'the caller got the SIGTERM')
    t.equal(daemonPid(dir), daemon, 'rushd is the same process')
    t.ok(daemon !== undefined && alive(daemon), 'and still running')
  })

  t.test('a client killed with SIGKILL: its shell stops, as sh does', async (t) => {
    for (const shell of [rushBin, '/bin/sh']) {
      const mark = `dropin-kill-${process.pid}-${path.basename(shell)}`
      const late = path.join(work, `${mark}.late`)
      // The script starts a child, then would write a file once the child is done.
      const child = spawnSync('/bin/bash', ['-c', `RUSH_DROPIN_MARK=${mark} "$SH" -c 'sleep 2; echo late >"$1"' n ${late} >/dev/null 2>&1 & echo $!`], {
        env: { ...baseEnv, SH: shell },
        encoding: 'utf8',
      })
      const pid = Number(child.stdout.trim())
      t.ok(await until(() => processesWith('RUSH_DROPIN_MARK', mark).some((p) => p !== pid), 20_000), `${shell}: the sleep started`)
      process.kill(pid, 'SIGKILL')
      // The sleep, orphaned, runs to its end as under sh; then nothing may be left to write.
      t.same(await leftovers('RUSH_DROPIN_MARK', mark, 30_000), [], `${shell}: nothing left running`)
      t.notOk(fs.existsSync(late), `${shell}: the script did not go on after its shell was killed`)
    }
  })
}
