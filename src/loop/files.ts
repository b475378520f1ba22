// Direct descriptors: a sparse registered file table whose slots we hand out ourselves, so that a
// READ can be linked behind the OPENAT that fills its slot (IORING_FILE_INDEX_ALLOC would only tell
// us the slot in the OPENAT's CQE, too late for a link). The table's size is the bound.
import type { Reactor } from "./reactor.ts";

export const DEFAULT_FILE_SLOTS = 4096;

export class FileSlots {
  readonly capacity: number;
  readonly #free: Int32Array;
  #top: number;

  constructor(reactor: Reactor, capacity = DEFAULT_FILE_SLOTS) {
    reactor.ring.registerFilesSparse(capacity);
    this.capacity = capacity;
    this.#free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.#free[i] = capacity - 1 - i;
    this.#top = capacity;
  }

  get inUse(): number {
    return this.capacity - this.#top;
  }

  /** A free slot index, or -1 when all are taken. The taker must close it (CLOSE direct) and give it back. */
  take(): number {
    return this.#top === 0 ? -1 : this.#free[--this.#top]!;
  }

  give(slot: number): void {
    this.#free[this.#top++] = slot;
  }
}

const slotsByReactor = new WeakMap<Reactor, FileSlots>();

/** The reactor's file table, registered on first use. */
export function fileSlots(reactor: Reactor): FileSlots {
  let s = slotsByReactor.get(reactor);
  if (!s) {
    s = new FileSlots(reactor);
    slotsByReactor.set(reactor, s);
  }
  return s;
}

/** The reactor's file table if it is registered already (stats: never registers one). */
export function registeredFileSlots(reactor: Reactor): FileSlots | undefined {
  return slotsByReactor.get(reactor);
}
