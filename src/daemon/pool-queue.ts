/**
 * The pool's helpers: its request queue, and the crash-loop guard of its respawns.
 */

/** Crash-loop guard: more than CRASH_LOOP_DEATHS worker deaths within CRASH_WINDOW_MS delays the
 *  respawns, RESPAWN_BACKOFF_MIN_MS at first, doubling up to RESPAWN_BACKOFF_MAX_MS, instead of
 *  spawning in a tight loop (a worker script that dies at once). */
const CRASH_WINDOW_MS = 1000
const CRASH_LOOP_DEATHS = 5
const RESPAWN_BACKOFF_MIN_MS = 100
const RESPAWN_BACKOFF_MAX_MS = 5000

/** Counts worker deaths; past CRASH_LOOP_DEATHS within CRASH_WINDOW_MS, each respawn waits. */
export class CrashBackoff {
  #deaths: number[] = []
  #delay = 0

  /** A worker died: how long to wait before replacing it, in ms (0: at once). */
  death(): number {
    const now = Date.now()
    this.#deaths.push(now)
    while (this.#deaths.length > 0 && this.#deaths[0]! < now - CRASH_WINDOW_MS) this.#deaths.shift()
    this.#delay = this.#deaths.length > CRASH_LOOP_DEATHS ? Math.min(Math.max(this.#delay * 2, RESPAWN_BACKOFF_MIN_MS), RESPAWN_BACKOFF_MAX_MS) : 0
    return this.#delay
  }

  /** A worker started: the next crash loop starts from the shortest delay. */
  reset(): void {
    this.#delay = 0
  }
}

/**
 * A FIFO with O(1) push and shift: an array read from a moving head, compacted once the consumed
 * part dominates (Array#shift is O(n) on large arrays).
 */
export class Fifo<T> {
  #items: (T | undefined)[] = []
  #head = 0

  get length(): number {
    return this.#items.length - this.#head
  }

  push(item: T): void {
    this.#items.push(item)
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  /** Empties the queue, returning what it held (in order). */
  drain(): T[] {
    const rest = this.#items.slice(this.#head) as T[]
    this.#items = []
    this.#head = 0
    return rest
  }
}
