/**
 * EventEmitter with typed listener methods: `on`, `once`, `off`, `addListener`, `removeListener`,
 * `prependListener` and `prependOnceListener` accept only the names of `Events`, each with its
 * listener's signature. At run time it is `EventEmitter` itself (`instanceof EventEmitter` holds).
 */
import { EventEmitter } from 'node:events'

/** Listener signatures by event name. */
export type EventMap = Record<string, (...args: never[]) => void>

type ListenerMethod = 'on' | 'once' | 'off' | 'addListener' | 'removeListener' | 'prependListener' | 'prependOnceListener'

/** The typed listener methods of an emitter of `Events`. */
export interface TypedListeners<Events extends EventMap> {
  on<E extends keyof Events>(event: E, listener: Events[E]): this
  once<E extends keyof Events>(event: E, listener: Events[E]): this
  off<E extends keyof Events>(event: E, listener: Events[E]): this
  addListener<E extends keyof Events>(event: E, listener: Events[E]): this
  removeListener<E extends keyof Events>(event: E, listener: Events[E]): this
  prependListener<E extends keyof Events>(event: E, listener: Events[E]): this
  prependOnceListener<E extends keyof Events>(event: E, listener: Events[E]): this
}

/** What `extends TypedEventEmitter<Events>` gives a class: EventEmitter, with typed listeners. */
export type TypedEventEmitterOf<Events extends EventMap> = Omit<EventEmitter, ListenerMethod> & TypedListeners<Events>

/** `class X extends TypedEventEmitter<XEvents>`: EventEmitter at run time, typed at compile time. */
export const TypedEventEmitter = EventEmitter as unknown as new <Events extends EventMap>() => TypedEventEmitterOf<Events>
