// The workload of the round-trip bench: what a CLI client sends a daemon to run a command.

const env = Object.fromEntries([
  ['HOME', '/home/builder'],
  ['USER', 'builder'],
  ['SHELL', '/bin/bash'],
  ['LANG', 'en_US.UTF-8'],
  ['TERM', 'xterm-256color'],
  [
    'PATH',
    '/home/builder/.local/bin:/home/builder/.cargo/bin:/home/builder/.nvm/versions/node/v20.20.2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin',
  ],
  ['PWD', '/home/builder/src/app'],
  ['LOGNAME', 'builder'],
  ['EDITOR', 'vim'],
  ['PAGER', 'less'],
  ['TZ', 'UTC'],
  ['LC_ALL', 'en_US.UTF-8'],
  ['NODE_ENV', 'development'],
  ['CI', 'false'],
  ['XDG_RUNTIME_DIR', '/run/user/1000'],
  ['XDG_CONFIG_HOME', '/home/builder/.config'],
  ['XDG_CACHE_HOME', '/home/builder/.cache'],
  ['XDG_DATA_HOME', '/home/builder/.local/share'],
  ['SSH_AUTH_SOCK', '/run/user/1000/ssh-agent.socket'],
  ['HOSTNAME', 'build-7'],
  ['GIT_AUTHOR_NAME', 'Builder'],
  ['GIT_AUTHOR_EMAIL', 'builder@example.com'],
  ['COLORTERM', 'truecolor'],
  ['NPM_CONFIG_CACHE', '/home/builder/.npm'],
  ['HISTSIZE', '10000'],
  ['SHLVL', '2'],
  ['TMPDIR', '/tmp'],
  ['MAKEFLAGS', '-j2'],
  ['NODE_OPTIONS', '--max-old-space-size=4096 --enable-source-maps'],
  ['OLDPWD', '/home/builder/src'],
])

/** A ~1.4 KB (stringified) run-command request: argv, cwd and 30 environment entries. */
export function makeRequest(id) {
  return {
    id,
    method: 'run',
    argv: [
      'npm',
      'run',
      'test',
      '--',
      '--reporter=dot',
      '--timeout=120000',
      'test/protocol/frame.test.ts',
      'test/protocol/reader.test.ts',
      'test/transport/connection.test.ts',
      'test/transport/listener.test.ts',
    ],
    cwd: '/home/builder/src/app',
    env,
    stdio: ['inherit', 'pipe', 'pipe'],
    timeoutMs: 120000,
    tty: { columns: 120, rows: 40 },
    client: { pid: 48213, version: '0.1.0', startedAt: '2026-11-21T20:01:05.000Z' },
  }
}

export const REPLY = { status: 0 }
