/**
 * The fenced code blocks of a Markdown file and the attributes of their info strings, and what
 * each block is for (the convention is described at the top of examples.test.ts).
 */

/** One fenced code block. */
export interface Block {
  /** The Markdown file, relative to the repository root. */
  doc: string
  /** 1-based line of the opening fence. */
  line: number
  /** First word of the info string ('' when there is none). */
  lang: string
  /** The other words of the info string: `key=value`, `key="value with spaces"`, or a bare `key` (true). */
  attrs: Map<string, string | true>
  /** What the info string had that is not an attribute (reported as an error). */
  junk: string
  /** The block's content, the fence's indentation removed; ends with a newline unless empty. */
  text: string
  /** Only blank lines separate this block from the block before it. */
  followsDirectly: boolean
}

const OPEN = /^(\s*)(`{3,}|~{3,})(.*)$/

/** Every fenced block of `markdown` outside HTML comments, in order. */
export function parseBlocks(markdown: string, doc: string): Block[] {
  const lines = markdown.split('\n')
  const blocks: Block[] = []
  let inComment = false
  let blankSinceLastBlock = false
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (inComment) {
      if (line.includes('-->')) inComment = false
      blankSinceLastBlock = false
      continue
    }
    const open = OPEN.exec(line)
    if (!open || (open[2]![0] === '`' && open[3]!.includes('`'))) {
      if (commentOpensHere(line)) inComment = true
      if (line.trim() !== '') blankSinceLastBlock = false
      continue
    }
    const [, indent, fence, info] = open as unknown as [string, string, string, string]
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(lines[j]!)
      if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) break
      body.push(stripIndent(lines[j]!, indent.length))
    }
    const { lang, attrs, junk } = parseInfo(info)
    blocks.push({
      doc,
      line: i + 1,
      lang,
      attrs,
      junk,
      text: body.length ? `${body.join('\n')}\n` : '',
      followsDirectly: blocks.length > 0 && blankSinceLastBlock,
    })
    blankSinceLastBlock = true
    i = j
  }
  return blocks
}

/** Whether an HTML comment starts on this line and does not end on it. */
function commentOpensHere(line: string): boolean {
  const start = line.lastIndexOf('<!--')
  return start >= 0 && !line.slice(start).includes('-->')
}

function stripIndent(line: string, indent: number): string {
  let n = 0
  while (n < indent && line[n] === ' ') n++
  return line.slice(n)
}

/** Splits an info string into its language and attributes. */
export function parseInfo(info: string): { lang: string; attrs: Map<string, string | true>; junk: string } {
  const trimmed = info.trim()
  const space = trimmed.search(/\s/)
  const lang = space < 0 ? trimmed : trimmed.slice(0, space)
  const rest = space < 0 ? '' : trimmed.slice(space)
  const attrs = new Map<string, string | true>()
  const attr = /\s+([A-Za-z][\w-]*)(?:=(?:"([^"]*)"|'([^']*)'|([^\s"']+)))?/y
  let junk = ''
  let at = 0
  while (at < rest.length) {
    attr.lastIndex = at
    const match = attr.exec(rest)
    if (!match) {
      junk = rest.slice(at).trim()
      break
    }
    attrs.set(match[1]!, match[2] ?? match[3] ?? match[4] ?? true)
    at = attr.lastIndex
  }
  return { lang, attrs, junk }
}

/** What a block is for. */
export type Role =
  | { kind: 'file'; name: string; run: boolean }
  | { kind: 'script'; lang: 'sh' } // `sh run` without file=
  | { kind: 'output' }
  | { kind: 'signature' }
  | { kind: 'no-run'; reason: string }

const KNOWN = new Set(['file', 'run', 'example', 'cwd', 'status', 'output', 'signature', 'no-run'])
const SHELLS = new Set(['sh', 'shell', 'bash', 'console'])

/** The block's role, or the reason it has none (an unclassified or mis-annotated block). */
export function roleOf(block: Block, previous: Block | undefined): Role | { error: string } {
  const { attrs } = block
  if (block.junk) return { error: `cannot read the info string after "${block.lang}": ${block.junk}` }
  const unknown = [...attrs.keys()].filter((k) => !KNOWN.has(k))
  if (unknown.length) return { error: `unknown attribute ${unknown.join(', ')} (known: ${[...KNOWN].join(', ')})` }
  const kinds = ['file', 'run', 'output', 'signature', 'no-run'].filter((k) => attrs.has(k))
  if (kinds.length === 0)
    return { error: 'unclassified example: give its info string run, file=NAME, signature, or no-run="reason" (see test/docs/examples.test.ts)' }
  if (attrs.has('no-run')) {
    const reason = attrs.get('no-run')
    if (typeof reason !== 'string' || reason.trim() === '') return { error: 'no-run needs a reason: no-run="why this block cannot run"' }
    if (kinds.length > 1) return { error: `no-run cannot go with ${kinds.filter((k) => k !== 'no-run').join(', ')}` }
    return { kind: 'no-run', reason }
  }
  if (attrs.has('signature')) {
    if (kinds.length > 1) return { error: `signature cannot go with ${kinds.filter((k) => k !== 'signature').join(', ')}` }
    if (attrs.get('signature') !== true) return { error: 'signature takes no value' }
    return { kind: 'signature' }
  }
  if (attrs.has('output')) {
    if (kinds.length > 1 || attrs.get('output') !== true) return { error: 'an output block has only the attribute output' }
    if (!previous || !block.followsDirectly || !previous.attrs.has('run'))
      return { error: 'an output block must directly follow a run block (only blank lines between)' }
    return { kind: 'output' }
  }
  const status = attrs.get('status')
  if (status !== undefined && (status === true || !/^\d+$/.test(status))) return { error: 'status=N takes an exit status' }
  const cwd = attrs.get('cwd')
  if (cwd !== undefined && cwd !== 'repo') return { error: "cwd= takes only repo (the default is the example's scratch directory)" }
  if (attrs.get('run') !== undefined && attrs.get('run') !== true) return { error: 'run takes no value' }
  const file = attrs.get('file')
  if (file !== undefined) {
    if (file === true || file.startsWith('/') || file.split('/').includes('..')) return { error: "file= takes a relative path inside the example's directory" }
    return { kind: 'file', name: file, run: attrs.has('run') }
  }
  if (!SHELLS.has(block.lang)) return { error: `a ${block.lang || 'plain'} block with run needs file=NAME (only sh blocks run as they are)` }
  return { kind: 'script', lang: 'sh' }
}
