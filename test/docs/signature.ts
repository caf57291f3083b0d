/**
 * Checks a `signature` block — the TypeScript-like declarations the docs show — against what the
 * package really exports. It reads declarations, not full TypeScript:
 *
 * - `class X { ... }`: X is an exported class; each member written `m(` or `m<` is a method on its
 *   prototype (`static m(`: on the class), each other member (`readonly p: T`, `p`) a property of
 *   its declared type; `constructor(` and index signatures are skipped.
 * - `interface X { ... }`, `type X = ...`: X is an exported type; an interface's members are
 *   properties of the exported type.
 * - `function f(`, `const C`, `f(...)`, `C: T`, `ns.f(...)`, `ns.*`: exported values (a call: a
 *   function; `C: 253`: that number; `C: number`: a number). Names joined by ` / ` after
 *   `ns.f` are looked up in `ns` first (`protocol.encodeRequest / verify`), then at the top.
 * - `new X(...).m(...).n(...)`: X is an exported class with methods m and n; `x.m(...)` for an
 *   unexported lower-case x: `X` is an exported class with a method m (`client.request(`).
 *
 * Statements end at a line break or `;` outside brackets; a line starting with `.`, `|` or `&`,
 * or following one that ends with `=`, `|`, `&`, `,` or `=>`, continues the statement. Comments
 * are ignored. Values and methods are looked up in the loaded package; types and properties in
 * its declarations (dist/index.d.ts, read with the TypeScript compiler).
 */
import ts from 'typescript'

export type Claim =
  | { kind: 'value'; text: string; paths: string[][]; call: boolean; valueType?: string; wildcard?: boolean; orMember?: MemberClaim }
  | { kind: 'type'; text: string; name: string }
  | MemberClaim

export interface MemberClaim {
  kind: 'member'
  text: string
  owner: string
  ownerKind: 'class' | 'interface'
  name: string
  method: boolean
  isStatic: boolean
}

/** What the package exports, as the checks need it. */
export interface PackageView {
  /** The runtime value at `path` in the package's namespace, or `missing`. */
  value(path: readonly string[]): unknown
  /** Exported names that are types (classes, interfaces, type aliases, enums). */
  typeNames: ReadonlySet<string>
  /** Property names of an exported class's instances / its constructor / an interface; undefined if not exported. */
  properties(name: string, isStatic: boolean): ReadonlySet<string> | undefined
}

export const missing = Symbol('missing')

/** The claims a signature block makes, or an error naming what could not be read. */
export function parseSignature(text: string): { claims: Claim[]; errors: string[] } {
  const claims: Claim[] = []
  const errors: string[] = []
  for (const statement of statements(stripComments(text))) {
    const declaration = /^(?:export\s+)?(?:declare\s+)?(?:abstract\s+)?(class|interface|type|enum|function\s*\*?|const|let|var)\s+([A-Za-z_$][\w$]*)/.exec(
      statement,
    )
    if (declaration) {
      claims.push(...declarationClaims(declaration[1]!.replace(/\s*\*$/, ''), declaration[2]!, statement))
      continue
    }
    let namespace: string[] = []
    for (const item of splitTop(statement, [' / '])) {
      const parsed = parseExpression(item.trim())
      if ('error' in parsed) {
        errors.push(parsed.error)
        continue
      }
      claims.push(...expressionClaims(parsed, namespace))
      if (parsed.path.length > 1) namespace = parsed.path.slice(0, -1)
    }
  }
  return { claims, errors }
}

/** The claims that fail against `pkg`, as messages. */
export function checkClaims(claims: readonly Claim[], pkg: PackageView): string[] {
  const failures: string[] = []
  for (const claim of claims) {
    const failure = checkClaim(claim, pkg)
    if (failure) failures.push(`${failure} (from: ${claim.text})`)
  }
  return failures
}

function checkClaim(claim: Claim, pkg: PackageView): string | undefined {
  switch (claim.kind) {
    case 'type':
      return pkg.typeNames.has(claim.name) ? undefined : `${claim.name} is not an exported type`
    case 'value': {
      const found = claim.paths.map((path) => ({ path, value: pkg.value(path) })).find(({ value }) => value !== missing)
      const name = claim.paths[0]!.join('.')
      if (!found && claim.orMember && pkg.value([claim.paths[0]![0]!]) === missing) return checkMember(claim.orMember, pkg)
      if (!found) return `${name} is not exported`
      const { value, path } = found
      if (claim.wildcard) return value !== null && typeof value === 'object' ? undefined : `${path.join('.')} is not a namespace`
      if (claim.call && typeof value !== 'function') return `${path.join('.')} is not a function`
      const type = claim.valueType
      if (type !== undefined && /^\d+$/.test(type) && value !== Number(type)) return `${path.join('.')} is ${String(value)}, not ${type}`
      if (type !== undefined && ['number', 'string', 'boolean'].includes(type) && typeof value !== type) return `${path.join('.')} is not a ${type}`
      return undefined
    }
    case 'member':
      return checkMember(claim, pkg)
  }
}

function checkMember(claim: MemberClaim, pkg: PackageView): string | undefined {
  const where = `${claim.owner}${claim.isStatic ? '.' : '#'}${claim.name}`
  if (claim.ownerKind === 'class') {
    const ctor = pkg.value([claim.owner])
    if (typeof ctor !== 'function') return `${claim.owner} is not an exported class`
    if (claim.method) {
      const holder = (claim.isStatic ? ctor : ctor.prototype) as Record<PropertyKey, unknown>
      const key = claim.name === 'Symbol.asyncIterator' ? Symbol.asyncIterator : claim.name
      return typeof holder[key] === 'function' ? undefined : `${where} is not a method`
    }
  }
  const properties = pkg.properties(claim.owner, claim.isStatic)
  if (!properties) return `${claim.owner} is not an exported ${claim.ownerKind}`
  return properties.has(claim.name) ? undefined : `${where} is not declared`
}

function declarationClaims(keyword: string, name: string, statement: string): Claim[] {
  const text = firstLine(statement)
  if (keyword === 'type') return [{ kind: 'type', text, name }]
  if (keyword === 'interface' || keyword === 'class') {
    const claims: Claim[] =
      keyword === 'class'
        ? [
            { kind: 'value', text, paths: [[name]], call: false },
            { kind: 'type', text, name },
          ]
        : [{ kind: 'type', text, name }]
    const body = braceBody(statement)
    for (const member of body === undefined ? [] : members(body)) {
      claims.push({ kind: 'member', text: member.text, owner: name, ownerKind: keyword, name: member.name, method: member.method, isStatic: member.isStatic })
    }
    return claims
  }
  return [{ kind: 'value', text, paths: [[name]], call: keyword === 'function' }]
}

interface Expression {
  text: string
  isNew: boolean
  path: string[]
  call: boolean
  wildcard: boolean
  chain: string[]
  valueType?: string
}

const IDENT = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*/

function parseExpression(item: string): Expression | { error: string } {
  let rest = item
  const isNew = /^new\s+/.test(rest)
  if (isNew) rest = rest.replace(/^new\s+/, '')
  const ident = IDENT.exec(rest)
  if (!ident) return { error: `cannot read a declaration in: ${item}` }
  const path = ident[0].split('.')
  rest = rest.slice(ident[0].length)
  let wildcard = false
  if (rest.startsWith('.*')) {
    wildcard = true
    rest = rest.slice(2)
  }
  if (rest.startsWith('<')) rest = skipBalanced(rest, '<', '>')
  let call = false
  if (rest.startsWith('(')) {
    call = true
    rest = skipBalanced(rest, '(', ')')
  }
  const chain: string[] = []
  for (let link = /^\s*\.([A-Za-z_$][\w$]*)\s*\(/.exec(rest); link; link = /^\s*\.([A-Za-z_$][\w$]*)\s*\(/.exec(rest)) {
    chain.push(link[1]!)
    rest = skipBalanced(rest.slice(link[0].length - 1), '(', ')')
  }
  const typed = call ? null : /^\s*\??\s*:\s*(.+)$/.exec(rest)
  const expression: Expression = { text: item, isNew, path, call, wildcard, chain }
  if (typed) expression.valueType = typed[1]!.trim()
  if (chain.length && !isNew) return { error: `a chain of calls is read only after new X(...): ${item}` }
  return expression
}

function expressionClaims(e: Expression, namespace: readonly string[]): Claim[] {
  if (e.isNew) {
    const owner = e.path.join('.')
    return [
      { kind: 'value', text: e.text, paths: [e.path], call: true },
      ...e.chain.map((name): Claim => ({ kind: 'member', text: e.text, owner, ownerKind: 'class', name, method: true, isStatic: false })),
    ]
  }
  const paths = namespace.length && e.path.length === 1 ? [[...namespace, ...e.path], e.path] : [e.path]
  const claim: Claim = { kind: 'value', text: e.text, paths, call: e.call, wildcard: e.wildcard }
  if (e.valueType !== undefined) claim.valueType = e.valueType
  // `client.request(`: when no export is named client, a member of the exported class Client.
  const [head, member] = e.path
  if (e.path.length === 2 && /^[a-z]/.test(head!) && !e.wildcard) {
    claim.orMember = {
      kind: 'member',
      text: e.text,
      owner: head![0]!.toUpperCase() + head!.slice(1),
      ownerKind: 'class',
      name: member!,
      method: e.call,
      isStatic: false,
    }
  }
  return [claim]
}

interface Member {
  text: string
  name: string
  method: boolean
  isStatic: boolean
}

function members(body: string): Member[] {
  const found: Member[] = []
  for (const raw of statements(body)) {
    let text = raw.trim()
    let isStatic = false
    for (
      let m = /^(static|readonly|public|protected|abstract|override|declare|async|get|set)\s+/.exec(text);
      m;
      m = /^(static|readonly|public|protected|abstract|override|declare|async|get|set)\s+/.exec(text)
    ) {
      if (m[1] === 'static') isStatic = true
      if (m[1] === 'get' || m[1] === 'set') text = text.replace(/^(get|set)\s+([\w$]+)\s*\(\s*[^)]*\)/, '$2:')
      else text = text.slice(m[0].length)
    }
    const symbol = /^\[Symbol\.(\w+)\]\s*(\(|<)?/.exec(text)
    if (symbol) {
      found.push({ text: raw.trim(), name: `Symbol.${symbol[1]}`, method: symbol[2] !== undefined, isStatic })
      continue
    }
    const named = /^([A-Za-z_$][\w$]*)\s*\??\s*(\(|<|:|$)/.exec(text)
    if (!named || named[1] === 'constructor') continue
    found.push({ text: raw.trim(), name: named[1]!, method: named[2] === '(' || named[2] === '<', isStatic })
  }
  return found
}

/** Removes `// ...` and `/* ... *\/` comments. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '')
}

/** Top-level statements: split at line breaks and `;` outside brackets, continuations joined. */
function statements(text: string): string[] {
  const joined: string[] = []
  let depth = 0
  for (const line of text.split('\n')) {
    const trimmed = line.trim()
    const last = joined[joined.length - 1]
    const continues = last !== undefined && (depth > 0 || /^[.|&]/.test(trimmed) || /(=|\||&|,|=>)\s*$/.test(last))
    if (continues) joined[joined.length - 1] = `${last}\n${line}`
    else if (trimmed) joined.push(line)
    depth = Math.max(0, depth + bracketBalance(line))
  }
  return joined
    .flatMap((s) => splitTop(s, [';']))
    .map((s) => s.trim())
    .filter(Boolean)
}

/** Splits at separators that are outside (), {} and []. */
function splitTop(text: string, separators: readonly string[]): string[] {
  const parts: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if ('({['.includes(c)) depth++
    else if (')}]'.includes(c)) depth--
    else if (depth === 0) {
      const sep = separators.find((s) => text.startsWith(s, i))
      if (sep) {
        parts.push(text.slice(start, i))
        start = i + sep.length
        i = start - 1
      }
    }
  }
  parts.push(text.slice(start))
  return parts
}

function bracketBalance(line: string): number {
  let n = 0
  for (const c of line) {
    if ('({['.includes(c)) n++
    else if (')}]'.includes(c)) n--
  }
  return n
}

/** The text inside the first `{ ... }` of a statement. */
function braceBody(statement: string): string | undefined {
  const open = statement.indexOf('{')
  if (open < 0) return undefined
  let depth = 0
  for (let i = open; i < statement.length; i++) {
    if (statement[i] === '{') depth++
    else if (statement[i] === '}' && --depth === 0) return statement.slice(open + 1, i)
  }
  return undefined
}

/** `text` after the balanced group that starts it. */
function skipBalanced(text: string, open: string, close: string): string {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    if (text[i] === open) depth++
    else if (text[i] === close && --depth === 0) return text.slice(i + 1)
  }
  return ''
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim()
}

/**
 * The package as its users see it: runtime values from the module namespace `runtime`, types
 * from the declaration file `dts` (read with the TypeScript compiler, following re-exports).
 */
export function packageView(runtime: Record<string, unknown>, dts: string): PackageView {
  const program = ts.createProgram([dts], {
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: ['node'],
  })
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(dts)
  const moduleSymbol = source && checker.getSymbolAtLocation(source)
  if (!moduleSymbol) throw new Error(`cannot read the declarations in ${dts}`)
  const exported = new Map<string, ts.Symbol>()
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    exported.set(symbol.name, symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol)
  }
  const typeFlags = ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum
  const typeNames = new Set([...exported].filter(([, s]) => s.flags & typeFlags).map(([name]) => name))
  const propertyNames = (type: ts.Type) => new Set(checker.getPropertiesOfType(type).map((p) => p.name.replace(/^__@(\w+)@\d+$/, 'Symbol.$1')))
  return {
    typeNames,
    value(path) {
      let value: unknown = runtime
      for (const key of path) {
        if ((typeof value !== 'object' && typeof value !== 'function') || value === null || !(key in value)) return missing
        value = (value as Record<string, unknown>)[key]
      }
      return value
    },
    properties(name, isStatic) {
      const symbol = exported.get(name)
      if (!symbol || !(symbol.flags & typeFlags)) return undefined
      return propertyNames(isStatic ? checker.getTypeOfSymbol(symbol) : checker.getDeclaredTypeOfSymbol(symbol))
    },
  }
}
