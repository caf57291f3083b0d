// Library-owned fixtures for the protocol tests: valid envelopes of every kind, with bodies of a test-only schema.
//
// The bodies are jobs.Job and jobs.JobResult (test/fixtures/schemas/*.fbs, generated code in
// test/fixtures/generated/), handled as docs/schemas.md tells a daemon author to handle their own
// messages: encoded with flatc's generated code, described to the verifier with `fb`, and read only
// after `verifyCompiled`, with the in-place readers of `protocol.flat`.
import * as flatbuffers from 'flatbuffers'
import {
  Encoder,
  Status,
  type StringCache,
  compileRoot,
  fb,
  flat,
  verifyCompiled,
  type RootDescriptor,
  type TableDescriptor,
} from '../../src/protocol/index.js'
import { Job, Stream, User } from '../fixtures/generated/job_generated.js'
import { JobResult } from '../fixtures/generated/job_result_generated.js'

export { Stream }

const { asBuffer, bytesAt, deref, field, i32, rootTable, stringAt, stringsAt, u32, u64 } = flat

/** jobs.User */
export const UserTable: TableDescriptor = { name: 'User', fields: [fb.field('uid', 0, fb.scalar('uint')), fb.field('name', 1, fb.string)] }

/** jobs.Job */
export const JobTable: TableDescriptor = {
  name: 'Job',
  fields: [
    fb.field('name', 0, fb.string, true),
    fb.field('argv', 1, fb.vector(fb.string)),
    fb.field('priority', 2, fb.scalar('int')),
    fb.field('tags', 3, fb.vector(fb.scalar('ubyte'))),
    fb.field('owner', 4, fb.table(UserTable)),
    fb.field('env', 5, fb.vector(fb.string)),
    fb.field('streams', 6, fb.vector(fb.scalar('ubyte'))),
  ],
}

/** jobs.JobResult */
export const JobResultTable: TableDescriptor = {
  name: 'JobResult',
  fields: [fb.field('exit_code', 0, fb.scalar('int')), fb.field('signal', 1, fb.scalar('int')), fb.field('finished_at', 2, fb.scalar('ulong'))],
}

/** Roots of the test schema's messages, each with its schema's file_identifier. */
export const JobRoots = {
  job: { table: JobTable, fileIdentifier: 'JOB1' },
  result: { table: JobResultTable, fileIdentifier: 'JRES' },
} as const satisfies Record<string, RootDescriptor>

const JOB = compileRoot(JobRoots.job)
const RESULT = compileRoot(JobRoots.result)

export interface JobInit {
  readonly name: string
  readonly argv?: readonly string[]
  readonly priority?: number
  readonly tags?: readonly number[]
  readonly owner?: { readonly uid: number; readonly name: string }
  readonly env?: readonly string[]
  readonly streams?: readonly Stream[]
}

/** A Job read back: absent fields as their defaults, `owner` null when absent. */
export interface JobRead {
  name: string
  argv: string[]
  priority: number
  tags: number[]
  owner: { uid: number; name: string } | null
  env: string[]
  streams: number[]
}

/**
 * Encodes a Job body with the generated code; the result is owned (a fresh builder per call).
 * With a `cache`, `name` and the `env` entries are written from its pre-encoded bytes.
 */
export function encodeJob(init: JobInit, cache?: StringCache): Uint8Array {
  const b = new flatbuffers.Builder(256)
  const cached = (s: string) => b.createString(cache === undefined ? s : cache.get(s))
  const strings = (items: readonly string[]) => items.map((s) => b.createString(s))
  const name = cached(init.name)
  const argv = init.argv && Job.createArgvVector(b, strings(init.argv))
  const tags = init.tags && Job.createTagsVector(b, [...init.tags])
  const owner = init.owner && User.createUser(b, init.owner.uid, b.createString(init.owner.name))
  const env = init.env && Job.createEnvVector(b, init.env.map(cached))
  const streams = init.streams && Job.createStreamsVector(b, [...init.streams])
  Job.startJob(b)
  Job.addName(b, name)
  if (argv !== undefined) Job.addArgv(b, argv)
  if (init.priority !== undefined) Job.addPriority(b, init.priority)
  if (tags !== undefined) Job.addTags(b, tags)
  if (owner !== undefined) Job.addOwner(b, owner)
  if (env !== undefined) Job.addEnv(b, env)
  if (streams !== undefined) Job.addStreams(b, streams)
  b.finish(Job.endJob(b), JobRoots.job.fileIdentifier)
  return b.asUint8Array()
}

/** Verifies a Job body (throws ERR_FDWIRE_MALFORMED), then reads every field in place. */
export function readJob(body: Uint8Array): JobRead {
  verifyCompiled(body, JOB)
  const b = asBuffer(body)
  const t = rootTable(b)
  const at = (id: number): number => field(b, t, id)
  let owner: JobRead['owner'] = null
  if (at(4) !== 0) {
    const o = deref(b, at(4))
    const uid = field(b, o, 0)
    const name = field(b, o, 1)
    owner = { uid: uid === 0 ? 0 : u32(b, uid), name: name === 0 ? '' : stringAt(b, name) }
  }
  return {
    name: stringAt(b, at(0)), // required: the verifier rejects a Job without it
    argv: at(1) === 0 ? [] : stringsAt(b, at(1)),
    priority: at(2) === 0 ? 0 : i32(b, at(2)),
    tags: at(3) === 0 ? [] : [...bytesAt(b, at(3))],
    owner,
    env: at(5) === 0 ? [] : stringsAt(b, at(5)),
    streams: at(6) === 0 ? [] : [...bytesAt(b, at(6))],
  }
}

/** Encodes a JobResult body with the generated code; the result is owned. */
export function encodeJobResult(exitCode: number, signal = 0, finishedAt = 0n): Uint8Array {
  const b = new flatbuffers.Builder(64)
  b.finish(JobResult.createJobResult(b, exitCode, signal, finishedAt), JobRoots.result.fileIdentifier)
  return b.asUint8Array()
}

/** Verifies a JobResult body (throws ERR_FDWIRE_MALFORMED), then reads it in place. */
export function readJobResult(body: Uint8Array): { exitCode: number; signal: number; finishedAt: bigint } {
  verifyCompiled(body, RESULT)
  const t = rootTable(body)
  const code = field(body, t, 0)
  const signal = field(body, t, 1)
  const finished = field(body, t, 2)
  return { exitCode: code === 0 ? 0 : i32(body, code), signal: signal === 0 ? 0 : i32(body, signal), finishedAt: finished === 0 ? 0n : u64(body, finished) }
}

/** The Job carried by the 'request' fixture. */
export const fixtureJob: JobInit = {
  name: 'nightly',
  argv: ['make', '-j2', 'all'],
  priority: 7,
  owner: { uid: 1000, name: 'me' },
  env: ['PATH=/usr/bin:/bin', 'HOME=/home/me', 'LANG=C.UTF-8'],
  streams: [Stream.Stdout, Stream.Stderr],
}

/** When the 'response ok' fixture's job finished: past 2^32, so it needs the 64-bit field. */
export const fixtureFinishedAt = 1_700_000_000_123n

/** Each entry is an owned copy (encoders return views into a reused builder). */
export function validMessages(): { name: string; bytes: Buffer }[] {
  const enc = new Encoder()
  const job = Buffer.from(encodeJob(fixtureJob))
  return [
    { name: 'hello', bytes: Buffer.from(enc.hello(1, 'fdwire 0.1.0 (abc123)')) },
    { name: 'request', bytes: Buffer.from(enc.request(42, 'jobs.run', job)) },
    { name: 'request without body', bytes: Buffer.from(enc.request(1, 'ping')) },
    { name: 'response ok', bytes: Buffer.from(enc.response(42, { body: Buffer.from(encodeJobResult(3, 0, fixtureFinishedAt)) })) },
    {
      name: 'response error',
      bytes: Buffer.from(enc.response(43, { status: Status.Error, error: { code: 'ENOENT', message: 'no such file: ünïcode' } })),
    },
    { name: 'stream item', bytes: Buffer.from(enc.streamItem(5, 9, Buffer.from('chunk of output\n'))) },
    { name: 'stream end', bytes: Buffer.from(enc.streamEnd(5, { error: { code: 'E', message: 'm' } })) },
    { name: 'cancel', bytes: Buffer.from(enc.cancel(5, 'user pressed ^C')) },
  ]
}

/** Places `bytes` at an odd offset inside a larger buffer, like a transport's receive buffer. */
export function asReceived(bytes: Uint8Array, offset = 13): Buffer {
  const big = Buffer.alloc(offset + bytes.length + 7, 0xee)
  big.set(bytes, offset)
  return big.subarray(offset, offset + bytes.length)
}
