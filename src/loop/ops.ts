// The operation table: one preallocated record per in-flight operation. user_data carries the
// record's slot (low 32 bits) and a generation (high 32 bits), never a pointer or a closure, so a
// late CQE for a recycled slot is recognised by its stale generation and dropped.

/** What an operation's owner implements; called once per CQE, after the reap (never inline). */
export interface Completer {
  complete(res: number, flags: number, tag: number, op: number): void;
}

/** user_data hi reserved for SQEs whose CQE is only counted (CQE_SKIP_SUCCESS failures, wake polls). */
export const UD_IGNORED = 0xffffffff;

const PAGE_SHIFT = 8;
const PAGE = 1 << PAGE_SHIFT;
const PAGE_MASK = PAGE - 1;

export class OpTable {
  /** Bound on in-flight operations: one slot each, and each owns SCRATCH_BYTES of native scratch. */
  readonly capacity: number;
  readonly gen: Uint32Array;
  readonly kind: Uint8Array;
  readonly multishot: Uint8Array;
  readonly refd: Uint8Array;
  readonly tag: Float64Array;
  // Owners and held objects live in pages of PAGE slots, not in two arrays of `capacity`: storing
  // into an old array puts the whole array in the GC's remembered set, and every young collection
  // then rescanned 2 x 65536 entries (~0.12 ms more per collection at one connection, measured
  // with BUN_JSC_logGC). Now only the pages written since are rescanned.
  readonly #targets: ((Completer | null)[] | null)[];
  /** Objects whose memory the kernel may touch until the op's CQE (buffers, paths): kept alive here. */
  readonly #holds: (unknown[] | null)[];
  readonly #free: Int32Array;
  #freeTop: number;
  live = 0;
  liveRefd = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.gen = new Uint32Array(capacity).fill(1);
    this.kind = new Uint8Array(capacity);
    this.multishot = new Uint8Array(capacity);
    this.refd = new Uint8Array(capacity);
    this.tag = new Float64Array(capacity);
    const pages = Math.ceil(capacity / PAGE);
    this.#targets = new Array(pages).fill(null);
    this.#holds = new Array(pages).fill(null);
    this.#free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.#free[i] = capacity - 1 - i; // low slots first
    this.#freeTop = capacity;
  }

  /** A free slot, or -1 when all `capacity` are in flight. */
  alloc(target: Completer, tag: number, kind: number, refd: boolean): number {
    if (this.#freeTop === 0) return -1;
    const slot = this.#free[--this.#freeTop]!;
    const page = slot >>> PAGE_SHIFT;
    (this.#targets[page] ?? this.#newPage(page))[slot & PAGE_MASK] = target;
    this.tag[slot] = tag;
    this.kind[slot] = kind;
    this.multishot[slot] = 0;
    this.refd[slot] = refd ? 1 : 0;
    this.live++;
    if (refd) this.liveRefd++;
    return slot;
  }

  #newPage(page: number): (Completer | null)[] {
    this.#holds[page] = new Array(PAGE).fill(undefined);
    return (this.#targets[page] = new Array(PAGE).fill(null));
  }

  /** The owner of a live slot (null when free). */
  target(slot: number): Completer | null {
    return this.#targets[slot >>> PAGE_SHIFT]?.[slot & PAGE_MASK] ?? null;
  }

  /** Keep `obj` alive until the slot's op completes. */
  hold(slot: number, obj: unknown): void {
    this.#holds[slot >>> PAGE_SHIFT]![slot & PAGE_MASK] = obj;
  }

  release(slot: number): void {
    const page = slot >>> PAGE_SHIFT, i = slot & PAGE_MASK;
    this.#targets[page]![i] = null;
    this.#holds[page]![i] = undefined;
    if (this.refd[slot]) this.liveRefd--;
    this.refd[slot] = 0;
    this.gen[slot] = (this.gen[slot]! + 1) >>> 0 || 1; // 0 never used, UD_IGNORED never reached in practice
    this.live--;
    this.#free[this.#freeTop++] = slot;
  }

  isLive(slot: number, gen: number): boolean {
    return slot < this.capacity && this.gen[slot] === gen && this.target(slot) !== null;
  }
}

/** A handle names one op: slot + generation, packed in a double (gen < 2^32, slot < 2^20). */
export const SLOT_BITS = 1048576;
export function handleOf(slot: number, gen: number): number {
  return gen * SLOT_BITS + slot;
}
export function slotOf(handle: number): number {
  return handle % SLOT_BITS;
}
export function genOf(handle: number): number {
  return Math.floor(handle / SLOT_BITS);
}
