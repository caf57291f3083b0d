/** Shared by the rushd daemon process and its workers. */

/** The request with which rushd hands a client connection to a worker. */
export const ADOPT = 'rush.adopt'

/** Limits on a client connection: the client sends at most its 3 stdio fds (and a tty). */
export const RUSH_CONNECTION = { maxFdsPerFrame: 8, maxFrameSize: 4 * 1024 * 1024 }
