// spawnProcess watching exits through exit fds (a pidfd on Linux 5.3+).
import t from 'tap'
import { exitWatchCases } from './exit-watch-cases.js'

delete process.env['FDWIRE_EXIT_WATCH']
exitWatchCases(t, 'exit-fd')
