/** The request with which rushd hands a client connection to a worker. */
export const ADOPT = 'rush.adopt'
