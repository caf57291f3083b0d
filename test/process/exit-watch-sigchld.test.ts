// spawnProcess watching exits through SIGCHLD, as on a Linux kernel without pidfd_open (before 5.3):
// FDWIRE_EXIT_WATCH=sigchld forces it. Set before the first spawn (it is read once), and inherited
// by the fixtures and workers the cases start.
import t from 'tap'
import { exitWatchCases } from './exit-watch-cases.js'

process.env['FDWIRE_EXIT_WATCH'] = 'sigchld'
exitWatchCases(t, 'sigchld')
