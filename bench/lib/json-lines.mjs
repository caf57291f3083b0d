// The net + JSON lines server side, shared by bench/roundtrip.mjs and scripts/perf/breakdown.mjs so
// that both measure the same baseline: each line is a JSON request; the reply is one JSON line with
// its id.

/** Answers every JSON line that arrives on `socket` with `{"id":…,"status":0}\n`. */
export function serveJsonLines(socket) {
  socket.setEncoding('utf8')
  let pending = ''
  socket.on('data', (chunk) => {
    pending += chunk
    let start = 0
    for (let end; (end = pending.indexOf('\n', start)) !== -1; start = end + 1) {
      const request = JSON.parse(pending.slice(start, end))
      socket.write(`${JSON.stringify({ id: request.id, status: 0 })}\n`)
    }
    pending = pending.slice(start)
  })
}
