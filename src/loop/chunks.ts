// Fixed-size native chunks for outgoing bytes. A SEND reads its memory until its CQE, so queued
// bytes live here (never in a movable JS typed array). Chunks come from 1 MiB slabs and go back
// to a free list; untouched pages cost no RSS, so idle connections hold nothing.
import { NativeRegion } from "../ffi/memory.ts";

export const CHUNK_SIZE = 16384;
const CHUNKS_PER_SLAB = 64;

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
    if (!c) {
      if ((this.#slabs.length + 1) * CHUNKS_PER_SLAB * CHUNK_SIZE > this.maxBytes) return null;
      const slab = new NativeRegion(CHUNKS_PER_SLAB * CHUNK_SIZE);
      this.#slabs.push(slab);
      for (let i = CHUNKS_PER_SLAB - 1; i > 0; i--) this.#free.push(new Chunk(slab.ptr + i * CHUNK_SIZE, slab, i * CHUNK_SIZE));
      c = new Chunk(slab.ptr, slab, 0);
    }
    c.w = 0;
    this.inUse++;
    return c;
  }

  give(c: Chunk): void {
    this.inUse--;
    this.#free.push(c);
  }

  close(): void {
    for (const s of this.#slabs) s.free();
    this.#slabs.length = 0;
    this.#free.length = 0;
  }
}
