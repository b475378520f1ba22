// Native memory of file responses, in slabs that never move (ffi/memory.ts): 64 KiB read buffers
// (Block: the kernel READs into one, the connection SENDs from it without a copy and hands it back
// through SendHold) and one record per open file (Meta: the C path, struct statx and struct
// open_how that OPENAT and STATX point at).
//
// Bounds (per reactor): read buffers at most maxBlocks * 64 KiB (DEFAULT_MAX_BLOCKS: 64 MiB) across
// all responses, MAX_BLOCKS_PER_TRANSFER per response (a response waiting for its first block
// queues, FIFO); Meta records by the file table (4.5 KiB each).
import { NativeRegion } from "../../../ffi/memory.ts";
import type { SendHold } from "../../tcp.ts";
import type { FileTransfer } from "./transfer.ts";

/** Bytes per READ and per read buffer. */
export const READ_BLOCK = 64 * 1024;
/** Read buffers one response holds at most: the bound on a response's in-flight file bytes (256 KiB). */
export const MAX_BLOCKS_PER_TRANSFER = 4;
/** Read buffers across all responses of a reactor (64 MiB). */
export const DEFAULT_MAX_BLOCKS = 1024;
// Native record per open file: C path, struct statx (256 B), struct open_how (24 B).
export const META_PATH = 0, META_STATX = 4096, META_HOW = 4352, META_SIZE = 4608;
export const METAS_PER_SLAB = 32;
export const BLOCKS_PER_SLAB = 16;

// ---- native memory pools ------------------------------------------------------------------------

/** A 64 KiB read buffer; also the SendHold the connection hands back once it is sent. */
export class Block implements SendHold {
  readonly id: number;
  readonly ptr: number;
  readonly pool: BlockPool;
  readonly u8: Uint8Array;
  owner: FileTransfer | null = null;
  /** File offset read into it, bytes wanted, result (bytes or -errno), completed. */
  off = 0;
  want = 0;
  res = 0;
  done = false;
  /** Read speculatively (the miss chain) at an offset the response turned out not to need. */
  discard = false;
  constructor(id: number, ptr: number, pool: BlockPool, u8: Uint8Array) {
    this.id = id;
    this.ptr = ptr;
    this.pool = pool;
    this.u8 = u8;
  }
  sent(): void {
    const o = this.owner;
    if (o !== null) o.blockSent(this);
    else this.pool.give(this);
  }
}

/** Native slabs of one size, mapped on demand and unmapped together (the pools' memory). */
class Slabs {
  readonly #regions: NativeRegion[] = [];
  constructor(readonly bytesEach: number) {}

  add(): NativeRegion {
    const r = new NativeRegion(this.bytesEach);
    this.#regions.push(r);
    return r;
  }

  get bytes(): number {
    return this.#regions.length * this.bytesEach;
  }

  free(): void {
    for (const r of this.#regions) r.free();
    this.#regions.length = 0;
  }
}

export class BlockPool {
  readonly maxBlocks: number;
  readonly #slabs = new Slabs(BLOCKS_PER_SLAB * READ_BLOCK);
  readonly #free: Block[] = [];
  readonly all: Block[] = [];
  #waiters: FileTransfer[] = [];
  #waitHead = 0;
  inUse = 0;

  constructor(maxBlocks: number) {
    this.maxBlocks = maxBlocks;
  }

  get waiting(): number {
    return this.#waiters.length - this.#waitHead;
  }

  /** A free block, or null at the bound (or when responses are queued for one: they go first). */
  take(): Block | null {
    if (this.#waiters.length > this.#waitHead) return null;
    return this.#take();
  }

  #take(): Block | null {
    let b = this.#free.pop();
    if (!b) {
      if (this.all.length + BLOCKS_PER_SLAB > this.maxBlocks) return null;
      const slab = this.#slabs.add();
      for (let i = BLOCKS_PER_SLAB - 1; i >= 0; i--) {
        const blk = new Block(this.all.length, slab.ptr + i * READ_BLOCK, this, new Uint8Array(slab.buffer, i * READ_BLOCK, READ_BLOCK));
        this.all.push(blk);
        this.#free.push(blk);
      }
      b = this.#free.pop()!;
    }
    this.inUse++;
    b.owner = null;
    b.discard = false;
    return b;
  }

  /** Queue `t` for the next freed block (it holds none: it is guaranteed to get one in turn). */
  wait(t: FileTransfer): void {
    this.#waiters.push(t);
  }

  give(b: Block): void {
    b.owner = null;
    // Hand it to the first queued response still wanting one.
    while (this.#waitHead < this.#waiters.length) {
      const t = this.#waiters[this.#waitHead]!;
      this.#waiters[this.#waitHead++] = null as unknown as FileTransfer;
      if (this.#waitHead === this.#waiters.length) {
        this.#waiters.length = 0;
        this.#waitHead = 0;
      }
      b.discard = false;
      if (t.gotBlock(b)) return;
    }
    this.inUse--;
    this.#free.push(b);
  }

  get allocatedBytes(): number {
    return this.#slabs.bytes;
  }

  /** Unmap every slab (the reactor is closed and nothing of the kernel's reads into them any more). */
  free(): void {
    this.#slabs.free();
    this.#free.length = 0;
    this.all.length = 0;
    this.#waiters.length = 0;
    this.#waitHead = 0;
    this.inUse = 0;
  }
}

/** One native record (path, statx, open_how) of an open file. */
export interface Meta {
  readonly ptr: number;
  readonly off: number;
  readonly region: NativeRegion;
}

export class MetaPool {
  readonly #slabs = new Slabs(METAS_PER_SLAB * META_SIZE);
  readonly #free: Meta[] = [];
  readonly max: number;
  count = 0;
  constructor(max: number) {
    this.max = max;
  }
  take(): Meta | null {
    let m = this.#free.pop();
    if (!m) {
      if (this.count + METAS_PER_SLAB > this.max) return null;
      const region = this.#slabs.add();
      for (let i = METAS_PER_SLAB - 1; i >= 0; i--) this.#free.push({ ptr: region.ptr + i * META_SIZE, off: i * META_SIZE, region });
      this.count += METAS_PER_SLAB;
      m = this.#free.pop()!;
    }
    return m;
  }
  give(m: Meta): void {
    this.#free.push(m);
  }

  get allocatedBytes(): number {
    return this.#slabs.bytes;
  }

  /** Unmap every slab (see BlockPool.free). */
  free(): void {
    this.#slabs.free();
    this.#free.length = 0;
    this.count = 0;
  }
}
