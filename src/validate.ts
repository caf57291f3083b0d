/**
 * Argument checks for the public API, raised in JS before anything reaches the addon (which trusts
 * what it is given). A bad argument fails only its own call: nothing is opened, closed or sent.
 *
 * The errors are Node's own, codes and wording as `fs`/`net` raise them (lib/internal/errors.js):
 * - `ERR_INVALID_ARG_TYPE` (TypeError): `The "fd" argument must be of type number. Received type string ('3')`
 * - `ERR_OUT_OF_RANGE` (RangeError): `The value of "fd" is out of range. It must be an integer. Received 1.5`
 * - `ERR_INVALID_ARG_VALUE` (TypeError): `The property 'options.command' must be a non-empty array. Received []`
 * A name with a dot (`options.fds[0]`) is a "property", any other an "argument", as in Node.
 */
import { inspect } from 'node:util'

/** A usage error: a `TypeError` or `RangeError` with one of Node's argument error codes. */
export type ArgumentError = (TypeError | RangeError) & {
  code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE'
}

/** Largest fd (and int32) Node's `fs` accepts. */
export const MAX_FD = 0x7fffffff

function nodeError(
  Base: typeof TypeError | typeof RangeError,
  code: ArgumentError['code'],
  message: string,
  caller: (...args: never[]) => unknown,
): ArgumentError {
  const error = new Base(message) as ArgumentError
  // Like Node's: the stack's first line and toString() read `TypeError [ERR_…]: message`, while
  // `name` stays `TypeError`.
  error.name = `${Base.name} [${code}]`
  Error.captureStackTrace(error, caller)
  void error.stack // formats the header now, with the code in it
  delete (error as { name?: string }).name
  error.code = code
  Object.defineProperty(error, 'toString', {
    value: () => `${error.name} [${code}]: ${error.message}`,
    enumerable: false,
    writable: true,
    configurable: true,
  })
  return error
}

function kind(name: string): string {
  return name.includes('.') ? 'property' : 'argument'
}

/** How Node's ERR_INVALID_ARG_TYPE describes what it got. */
function receivedType(value: unknown): string {
  if (value == null) return String(value)
  if (typeof value === 'function' && value.name) return `function ${value.name}`
  if (typeof value === 'object') {
    const constructorName = (value as { constructor?: { name?: unknown } }).constructor?.name
    if (typeof constructorName === 'string' && constructorName) return `an instance of ${constructorName}`
    return inspect(value, { depth: -1 })
  }
  let inspected = typeof value === 'bigint' ? String(value) : inspect(value, { colors: false })
  if (inspected.length > 28) inspected = `${inspected.slice(0, 25)}...`
  return `type ${typeof value} (${inspected})`
}

/** `ERR_INVALID_ARG_TYPE`; `expected` reads as in Node: `of type number`, `an instance of AbortSignal`. */
export function invalidArgType(name: string, expected: string, value: unknown): ArgumentError {
  return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" ${kind(name)} must be ${expected}. Received ${receivedType(value)}`, invalidArgType)
}

/** `ERR_INVALID_ARG_VALUE`; `reason` reads as in Node: `is invalid`, `must be a non-empty array`.
 *  A TypeError, or with `Base` a RangeError (Node raises both under this code). */
export function invalidArgValue(name: string, value: unknown, reason = 'is invalid', Base: typeof TypeError | typeof RangeError = TypeError): ArgumentError {
  let inspected = inspect(value)
  if (inspected.length > 128) inspected = `${inspected.slice(0, 128)}...`
  return nodeError(Base, 'ERR_INVALID_ARG_VALUE', `The ${kind(name)} '${name}' ${reason}. Received ${inspected}`, invalidArgValue)
}

/** `ERR_OUT_OF_RANGE`; `range` reads as in Node: `an integer`, `>= 0 && <= 2147483647`. */
export function outOfRange(name: string, range: string, value: unknown): ArgumentError {
  return nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`, outOfRange)
}

/** An integer in `min..max`, as Node's `validateInteger` checks one. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value)
  return value
}

export function optionalInteger(name: string, value: unknown, min: number, max: number, fallback: number): number {
  return value === undefined ? fallback : checkInteger(name, value, min, max)
}

/** An fd: an integer in 0..2^31-1, as `fs.closeSync` checks it. */
export function checkFd(name: string, value: unknown): number {
  return checkInteger(name, value, 0, MAX_FD)
}

/** An array of at most `max` fds (e.g. `options.fds`), each checked; a copy. */
export function checkFdArray(name: string, value: unknown, max: number): number[] {
  if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value)
  if (value.length > max) throw outOfRange(`${name}.length`, `<= ${max} (the most fds one message carries)`, value.length)
  const fds = new Array<number>(value.length)
  for (let i = 0; i < value.length; i++) fds[i] = checkFd(`${name}[${i}]`, value[i])
  return fds
}

export function optionalBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value)
  return value
}

export function checkFunction<T extends (...args: never[]) => unknown>(name: string, value: unknown): T {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value)
  return value as T
}

export function optionalFunction<T extends (...args: never[]) => unknown>(name: string, value: unknown): T | undefined {
  return value === undefined ? undefined : checkFunction<T>(name, value)
}

/** A string; with `nonEmpty`, an empty one is `ERR_INVALID_ARG_VALUE`. */
export function checkString(name: string, value: unknown, nonEmpty = false): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  if (nonEmpty && value.length === 0) throw invalidArgValue(name, value, 'must be a non-empty string')
  return value
}

/** An array of strings (a copy); with `nonEmpty`, an empty array is `ERR_INVALID_ARG_VALUE`. */
export function checkStringArray(name: string, value: unknown, nonEmpty = false): string[] {
  if (!Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value)
  if (nonEmpty && value.length === 0) throw invalidArgValue(name, value, 'must be a non-empty array')
  return value.map((item, i) => checkString(`${name}[${i}]`, item))
}

export function optionalSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', value)
  return value
}

/** An options object (`undefined` reads as `{}`). */
export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type object', value)
  return value as Record<string, unknown>
}
