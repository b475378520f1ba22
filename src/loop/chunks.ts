// Fixed-size native chunks for outgoing bytes. A SEND reads its memory until its CQE, so queued
// bytes live here (never in a movable JS typed array). Chunks come from 1 MiB slabs and go back
// to a free list; untouched pages cost no RSS, so idle connections hold nothing. A burst touches
// a page or more of as many chunks as responses were in flight at once (10 000 connections
// answered together: ~40 MB), and the pool keeps them: trim() gives those pages back when the loop
// goes idle, all but the TRIM_KEEP most recently used chunks.
import { NativeRegion, releasePages } from "../ffi/memory.ts";

export const CHUNK_SIZE = 16384;
const CHUNKS_PER_SLAB = 64;
/** Free chunks trim() leaves alone: the top of the free stack, the next ones take() hands out. */
export const TRIM_KEEP = 64;

/** Buffer's fast string writers (Bun and Node have them; @types/node does not declare them). */
export interface ChunkBytes extends Uint8Array {
  latin1Write(s: string, offset: number, length: number): number;
  utf8Write(s: string, offset: number, length?: number): number;
}

export class Chunk {
  readonly ptr: number;
  readonly u8: ChunkBytes;
  /** Bytes written / bytes already sent, in [0, CHUNK_SIZE]. */
  w = 0;
  /** Taken since its pages were last given back (or since the slab was made): trim() has work. */
  used = false;
  constructor(ptr: number, slab: NativeRegion, offset: number) {
    this.ptr = ptr;
    this.u8 = Buffer.from(slab.buffer, offset, CHUNK_SIZE) as unknown as ChunkBytes;
  }
}

export class ChunkPool {
  /** Bound on native memory for queued outgoing bytes, across all connections of a reactor. */
  readonly maxBytes: number;
  readonly #slabs: NativeRegion[] = [];
  readonly #free: Chunk[] = [];
  /** The bottom #cleanBelow chunks of #free have had their pages given back since they were last used. */
  #cleanBelow = 0;
  inUse = 0;

  constructor(maxBytes = 256 * 1024 * 1024) {
    this.maxBytes = maxBytes;
  }

  get allocatedBytes(): number {
    return this.#slabs.length * CHUNKS_PER_SLAB * CHUNK_SIZE;
  }

  /** A chunk with w = 0, or null when the pool's bound is reached. */
  take(): Chunk | null {
    let c = this.#free.pop();
    if (this.#free.length < this.#cleanBelow) this.#cleanBelow = this.#free.length;
    if (!c) {
      if ((this.#slabs.length + 1) * CHUNKS_PER_SLAB * CHUNK_SIZE > this.maxBytes) return null;
      const slab = new NativeRegion(CHUNKS_PER_SLAB * CHUNK_SIZE);
      this.#slabs.push(slab);
      for (let i = CHUNKS_PER_SLAB - 1; i > 0; i--) this.#free.push(new Chunk(slab.ptr + i * CHUNK_SIZE, slab, i * CHUNK_SIZE));
      c = new Chunk(slab.ptr, slab, 0);
    }
    c.w = 0;
    c.used = true;
    this.inUse++;
    return c;
  }

  give(c: Chunk): void {
    this.inUse--;
    this.#free.push(c);
  }

  /**
   * Give back to the kernel the pages of free chunks used since the last trim, all but the TRIM_KEEP
   * most recently freed (a later write faults in zeroed pages). Returns how many chunks it trimmed.
   */
  trim(keep = TRIM_KEEP): number {
    const free = this.#free;
    const end = free.length - keep;
    let n = 0;
    for (let i = this.#cleanBelow; i < end; i++) {
      const c = free[i]!;
      if (!c.used) continue; // never written since: no pages to give back
      releasePages(c.ptr, CHUNK_SIZE);
      c.used = false;
      n++;
    }
    if (end > this.#cleanBelow) this.#cleanBelow = end;
    return n;
  }

  close(): void {
    for (const s of this.#slabs) s.free();
    this.#slabs.length = 0;
    this.#free.length = 0;
  }
}
