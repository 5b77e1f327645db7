// A minimal typed event emitter (no Node `events` dependency).

/** Listener signatures by event name. */
export type EventMap = { [event: string]: (payload: never) => void };

export class TypedEmitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<E[keyof E]>>();

  on<K extends keyof E>(event: K, listener: E[K]): this {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return this;
  }

  off<K extends keyof E>(event: K, listener: E[K]): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  once<K extends keyof E>(event: K, listener: E[K]): this {
    const wrapper = ((payload: Parameters<E[K]>[0]) => {
      this.off(event, wrapper);
      (listener as (p: Parameters<E[K]>[0]) => void)(payload);
    }) as E[K];
    return this.on(event, wrapper);
  }

  /** Calls listeners synchronously; a throwing listener does not stop the others or the caller. */
  protected emit<K extends keyof E>(event: K, payload: Parameters<E[K]>[0]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as (p: Parameters<E[K]>[0]) => void)(payload);
      } catch {
        // Listener errors are the listener's business.
      }
    }
  }
}
