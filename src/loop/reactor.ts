// The reactor: submits operations, reaps every CQE first, then runs completions from a queue
// (no recursion, bounded stack; TigerBeetle's io/linux.zig shape). How it shares the thread with
// Bun's own event loop is driver.ts.
import { Ring, type RingOptions } from "../ffi/ring.ts";
import { NativeRegion } from "../ffi/memory.ts";
import * as sqe from "../ffi/sqe.ts";
import {
  IORING_OP_NOP, IORING_OP_TIMEOUT, IORING_OP_LINK_TIMEOUT, IORING_CQE_F_MORE, IORING_ASYNC_CANCEL_ALL,
  IORING_ASYNC_CANCEL_FD_FIXED, IOSQE_IO_LINK, IOSQE_CQE_SKIP_SUCCESS, IORING_SETUP_DEFER_TASKRUN,
} from "../ffi/constants.ts";
import { OpTable, UD_IGNORED, handleOf, slotOf, genOf, type Completer } from "./ops.ts";
import { Driver } from "./driver.ts";
import { ChunkPool } from "./chunks.ts";
import { BufferRing, INITIAL_BUFFERS } from "../ffi/bufring.ts";

export interface ReactorOptions extends RingOptions {
  /** In-flight operations at most (op slots). */
  maxOps?: number;
  /**
   * Provided receive buffers (group 0): count (power of two) and size. Bound on receive memory
   * (default 512 x 8 KiB = 4 MiB; the ring is used FIFO, so all of it ends up resident). A batch of
   * more CQEs than buffers gets ENOBUFS, which re-arms (counted in stats.bufferMisses).
   */
  bufferCount?: number;
  bufferSize?: number;
  /** Bound on native memory for queued outgoing bytes. */
  maxSendBytes?: number;
}

/**
 * Group 1: larger receive buffers for connections with a large body streaming in (a CQE and a copy
 * per 64 KiB, not per 8 KiB: a 4 MiB body is 64 completions, not 512). Bound: 32 x 64 KiB = 2 MiB,
 * 4 provided at first, more as the ring runs dry (BufferRing.grow).
 */
const LARGE_BUFFER_COUNT = 32, LARGE_BUFFER_SIZE = 64 * 1024, LARGE_BUFFERS_AT_FIRST = 4;

/** Length the completion queue's owner array shrinks back to after a larger batch. */
const CQ_TARGETS_KEPT = 256;
/** Native scratch per op slot (timespecs, sockaddrs, open_how, iovecs): owned by the op until its CQE. */
// Layout a user may rely on: [0, 144) free for the op (msghdr + 5 iovecs, sockaddr, open_how), [144, 160)
// the timespec of an untracked LINK_TIMEOUT that follows it.
export const SCRATCH_BYTES = 160;
export const SCRATCH_LINK_TS = 144;

/** Counters an operator (and the leak tests) read. */
export interface ReactorStats {
  opsLive: number;
  opsCapacity: number;
  submitted: number;
  completions: number;
  staleCompletions: number;
  cqOverflowFlushes: number;
  sqFullFlushes: number;
  ignoredFailures: number;
  ticks: number;
  wakes: number;
  /** Multishot RECVs that found the buffer ring empty (ENOBUFS) and were re-armed. */
  bufferMisses: number;
}

/**
 * Throw `error` from a microtask (an uncaught exception). Not inline where it is caught: a closure
 * there would make that function allocate a scope for the captured variable on every call.
 */
function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

export class Reactor {
  readonly ring: Ring;
  readonly ops: OpTable;
  readonly scratch: NativeRegion;
  readonly driver: Driver;
  readonly stats: ReactorStats;
  /** Handle of the op most recently prepared (for linking and cancellation). */
  lastOp = 0;
  /** Word index of the SQE most recently handed out (tracked or not). */
  lastSqe = -1;
  /**
   * performance.now() as of the latest kernel entry: a coarse clock for deadlines (seconds), so
   * completions don't each pay a clock read.
   */
  now = performance.now();
  /**
   * CQEs expected back at once from what is being submitted (SENDs into sockets with room
   * complete during the submit). A wait asks for these plus one, so a reply and the next request
   * cost one io_uring_enter, not two. Reset at each enter.
   */
  quickCqes = 0;
  #closed = false;

  // Completions reaped and not yet run; a FIFO drained after every reap.
  #cqTarget: (Completer | null)[] = [];
  #cqRes = new Int32Array(1024);
  #cqFlags = new Uint32Array(1024);
  #cqTag = new Float64Array(1024);
  #cqOp = new Float64Array(1024);
  #cqLen = 0;
  #running = false;
  // Objects with bytes to send: flushed once per iteration, just before entering the kernel, so
  // that everything written during a batch (pipelined responses) leaves in one SEND.
  #flushers: { flush(): void }[] = [];
  #flushing = false;
  #buffers: BufferRing | null = null;
  #chunks: ChunkPool | null = null;
  readonly #bufferCount: number;
  readonly #bufferSize: number;
  readonly #recordBound: (lo: number, hi: number, res: number, flags: number) => void;

  constructor(options: ReactorOptions = {}) {
    this.ring = new Ring({ entries: options.entries ?? 2048, cqEntries: options.cqEntries, flags: options.flags });
    const maxOps = options.maxOps ?? 65536;
    if (options.maxSendBytes) this.#maxSendBytes = options.maxSendBytes;
    this.ops = new OpTable(maxOps);
    this.scratch = new NativeRegion(maxOps * SCRATCH_BYTES);
    this.stats = {
      opsLive: 0, opsCapacity: maxOps, submitted: 0, completions: 0, staleCompletions: 0,
      cqOverflowFlushes: 0, sqFullFlushes: 0, ignoredFailures: 0, ticks: 0, wakes: 0, bufferMisses: 0,
    };
    this.#bufferCount = options.bufferCount ?? 512;
    this.#bufferSize = options.bufferSize ?? 8192;
    this.#recordBound = this.#record.bind(this);
    this.driver = new Driver(this);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The shared provided-buffer ring (group 0), registered on first use. */
  get buffers(): BufferRing {
    return (this.#buffers ??= new BufferRing(this.ring, 0, this.#bufferCount, this.#bufferSize));
  }

  /** The large provided-buffer ring (group 1), registered on first use. */
  get largeBuffers(): BufferRing {
    return (this.#largeBuffers ??= new BufferRing(this.ring, 1, LARGE_BUFFER_COUNT, LARGE_BUFFER_SIZE, LARGE_BUFFERS_AT_FIRST));
  }
  #largeBuffers: BufferRing | null = null;

  /** Provided buffers of both groups handed to JS and not yet back in their ring. */
  get buffersOut(): number {
    return (this.#buffers?.out ?? 0) + (this.#largeBuffers?.out ?? 0);
  }

  get chunks(): ChunkPool {
    return (this.#chunks ??= new ChunkPool(this.#maxSendBytes));
  }

  /**
   * The loop goes idle (driver.ts, parking): give back the pages of send chunks and receive buffers
   * a burst touched. Receive buffers only where the kernel fills them in our own io_uring_enter
   * (DEFER_TASKRUN) and no CQE naming one is waiting: otherwise one could be written, or hold
   * unread bytes, while its pages go.
   */
  trimIdle(): void {
    this.#chunks?.trim();
    const ring = this.ring;
    if (!(ring.flags & IORING_SETUP_DEFER_TASKRUN) || ring.cqReady !== 0 || ring.needsEnter) return;
    this.#buffers?.trim(INITIAL_BUFFERS);
    this.#largeBuffers?.trim(LARGE_BUFFERS_AT_FIRST);
  }
  #maxSendBytes = 256 * 1024 * 1024;

  /** Ask for `f.flush()` before the next submission (once per iteration however often asked). */
  deferFlush(f: { flush(): void }): void {
    this.#flushers.push(f);
    this.driver.wantTick();
  }

  #runFlushers(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      // Flushers may add flushers (a send completing frees room): the loop sees them too.
      for (let i = 0; i < this.#flushers.length; i++) this.#flushers[i]!.flush();
    } finally {
      this.#flushers.length = 0;
      this.#flushing = false;
    }
  }

  /** Byte offset and pointer of an op slot's native scratch. */
  scratchOffset(handle: number): number {
    return slotOf(handle) * SCRATCH_BYTES;
  }
  scratchPtr(handle: number): number {
    return this.scratch.ptr + slotOf(handle) * SCRATCH_BYTES;
  }

  // ---- submission -------------------------------------------------------------------------

  /**
   * Allocate an op slot and an SQE for it; returns the SQE's word index for an encoder in
   * ffi/sqe.ts. The op's handle is left in `lastOp`. Throws when every op slot is in flight.
   */
  prepare(target: Completer, tag: number, kind: number, refd = true): number {
    if (this.#closed) throw new Error("reactor is closed");
    const slot = this.ops.alloc(target, tag, kind, refd);
    if (slot < 0) {
      const err = new Error(`all ${this.ops.capacity} op slots are in flight`) as Error & { code: string };
      err.code = "ERR_OPS_EXHAUSTED";
      throw err;
    }
    const w = this.#getSqe();
    const gen = this.ops.gen[slot]!;
    sqe.setUserData(this.ring.sqe, w, slot, gen);
    this.lastOp = handleOf(slot, gen);
    this.stats.submitted++;
    this.driver.wantTick();
    return w;
  }

  /** An SQE whose CQE we do not want (CQE_SKIP_SUCCESS) or only count: no op slot. */
  prepareUntracked(): number {
    const w = this.#getSqe();
    sqe.setUserData(this.ring.sqe, w, 0, UD_IGNORED);
    this.driver.wantTick();
    return w;
  }

  #getSqe(): number {
    let w = this.ring.getSqe();
    if (w < 0) {
      // SQ full: submit what is queued, keep the CQEs for the completion queue, go on.
      this.stats.sqFullFlushes++;
      this.ring.enter(0, 0);
      this.#reapRecord();
      w = this.ring.getSqe();
      if (w < 0) throw new Error("io_uring SQ stays full after a submit");
    }
    this.lastSqe = w;
    return w;
  }

  /** Make room for `n` SQEs in a row (a chain must not be split across two submissions). */
  reserveSqes(n: number): void {
    // A chain longer than the SQ would be split across two submissions, and the kernel does not
    // link SQEs of different submissions: its later steps would run unlinked. Refuse it.
    if (n > this.ring.sqEntries) throw new RangeError(`a chain of ${n} SQEs does not fit an SQ of ${this.ring.sqEntries}`);
    if (this.ring.sqEntries - this.ring.sqPending < n) {
      this.stats.sqFullFlushes++;
      this.ring.enter(0, 0);
      this.#reapRecord();
    }
  }

  /**
   * Submit what is queued now, without reaping: for a caller that needs the kernel to have acted
   * before it goes on (a cancel that must drop the kernel's reference to a file before close).
   * The CQEs are reaped by the next poll as usual.
   */
  submitNow(): void {
    if (this.#closed || this.ring.sqPending === 0) return;
    this.ring.enter(0, 0);
  }

  /** Mark the op as keeping the process alive or not (Bun's ref/unref). */
  setOpRef(handle: number, refd: boolean): void {
    const slot = slotOf(handle);
    if (!this.ops.isLive(slot, genOf(handle))) return;
    const was = this.ops.refd[slot] === 1;
    if (was === refd) return;
    this.ops.refd[slot] = refd ? 1 : 0;
    this.ops.liveRefd += refd ? 1 : -1;
    this.driver.wantTick();
  }

  isLive(handle: number): boolean {
    return this.ops.isLive(slotOf(handle), genOf(handle));
  }

  /** Keep `obj` alive until the op's CQE (memory the kernel reads or writes). */
  hold(handle: number, obj: unknown): void {
    this.ops.hold(slotOf(handle), obj);
  }

  // ---- operations not tied to sockets or files -------------------------------------------

  nop(target: Completer, tag = 0): number {
    sqe.prepNop(this.ring.sqe, this.prepare(target, tag, IORING_OP_NOP));
    return this.lastOp;
  }

  /** IORING_OP_TIMEOUT: completes with -ETIME after `ms` (or 0 when cancelled... see cancel). */
  timeout(ms: number, target: Completer, tag = 0, refd = true): number {
    const w = this.prepare(target, tag, IORING_OP_TIMEOUT, refd);
    const ts = this.writeTimespec(this.lastOp, 0, ms);
    sqe.prepTimeout(this.ring.sqe, w, ts, 0, 0);
    return this.lastOp;
  }

  /**
   * Follow the SQE just prepared with a LINK_TIMEOUT: `ms` from submission, the linked op is cut
   * with -ECANCELED and the timeout completes with -ETIME; if the op finishes first, the timeout
   * completes with -ECANCELED. The previous SQE gets IOSQE_IO_LINK here.
   */
  linkTimeout(prevW: number, ms: number, target: Completer | null, tag = 0): number {
    sqe.orSqeFlags(this.ring.sqe, prevW, IOSQE_IO_LINK);
    if (target === null) {
      const w = this.prepareUntracked();
      // Its CQE is wanted by nobody, but its timespec must outlive the prep: use the linked op's scratch.
      const ts = this.writeTimespec(this.lastOp, SCRATCH_LINK_TS, ms);
      sqe.prepLinkTimeout(this.ring.sqe, w, ts, 0);
      return 0;
    }
    const w = this.prepare(target, tag, IORING_OP_LINK_TIMEOUT, false);
    const ts = this.writeTimespec(this.lastOp, 0, ms);
    sqe.prepLinkTimeout(this.ring.sqe, w, ts, 0);
    return this.lastOp;
  }

  /** Write a struct __kernel_timespec of `ms` into an op's scratch at `offset`; returns its pointer. */
  writeTimespec(handle: number, offset: number, ms: number): number {
    const base = this.scratchOffset(handle) + offset;
    const u32 = this.scratch.u32;
    const sec = Math.floor(ms / 1000);
    const nsec = Math.round((ms - sec * 1000) * 1e6);
    const w = base >>> 2;
    u32[w] = sec >>> 0;
    u32[w + 1] = 0;
    u32[w + 2] = nsec >>> 0;
    u32[w + 3] = 0;
    return this.scratch.ptr + base;
  }

  /**
   * Cancel an op (IORING_OP_ASYNC_CANCEL). The op still completes exactly once, usually with
   * -ECANCELED; a cancel that finds nothing (already completing) is not an error.
   */
  cancel(handle: number): boolean {
    const slot = slotOf(handle), gen = genOf(handle);
    if (!this.ops.isLive(slot, gen)) return false;
    const w = this.prepareUntracked();
    sqe.prepCancel64(this.ring.sqe, w, slot, gen, 0);
    return true;
  }

  // Cancels by fd look through every op in flight on the ring (every armed poll: each connection's
  // RECV), so each costs O(ops in flight); cancel(handle) is a hash lookup. Not on any hot path.

  /** Cancel every op on a registered (direct) file slot. */
  cancelFixedFile(fileIndex: number): void {
    const w = this.prepareUntracked();
    sqe.prepCancelFd(this.ring.sqe, w, fileIndex, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
  }

  /** Cancel every op on a plain fd. */
  cancelFd(fd: number): void {
    const w = this.prepareUntracked();
    sqe.prepCancelFd(this.ring.sqe, w, fd, IORING_ASYNC_CANCEL_ALL);
  }

  /** Close a direct descriptor with nobody waiting for the result (its failure is only counted). */
  closeDirectDetached(fileIndex: number): void {
    const w = this.prepareUntracked();
    sqe.prepCloseDirect(this.ring.sqe, w, fileIndex);
    sqe.setSqeFlags(this.ring.sqe, w, IOSQE_CQE_SKIP_SUCCESS);
  }

  /** Close a plain fd with nobody waiting for the result. */
  closeDetached(fd: number): void {
    const w = this.prepareUntracked();
    sqe.prepClose(this.ring.sqe, w, fd);
    sqe.setSqeFlags(this.ring.sqe, w, IOSQE_CQE_SKIP_SUCCESS);
  }

  // ---- completion -------------------------------------------------------------------------

  #record(lo: number, hi: number, res: number, flags: number): void {
    if (hi === UD_IGNORED) {
      if (res < 0 && lo === 0) this.stats.ignoredFailures++;
      else if (lo !== 0) this.driver.onInternal(lo, res, flags);
      return;
    }
    const ops = this.ops;
    if (!ops.isLive(lo, hi)) {
      this.stats.staleCompletions++;
      return;
    }
    let n = this.#cqLen;
    if (n === this.#cqRes.length) this.#growQueue();
    this.#cqTarget[n] = ops.target(lo)!;
    this.#cqRes[n] = res;
    this.#cqFlags[n] = flags;
    this.#cqTag[n] = ops.tag[lo]!;
    this.#cqOp[n] = handleOf(lo, hi);
    this.#cqLen = n + 1;
    // A multishot op stays live until a CQE without F_MORE; everything else ends at its CQE.
    if (!(flags & IORING_CQE_F_MORE)) ops.release(lo);
  }

  #growQueue(): void {
    const cap = this.#cqRes.length * 2;
    const grow = <T extends Int32Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.#cqRes = grow(this.#cqRes, (n) => new Int32Array(n));
    this.#cqFlags = grow(this.#cqFlags, (n) => new Uint32Array(n));
    this.#cqTag = grow(this.#cqTag, (n) => new Float64Array(n));
    this.#cqOp = grow(this.#cqOp, (n) => new Float64Array(n));
  }

  #reapRecord(): number {
    let n = this.ring.reap(this.#recordBound);
    // IORING_FEAT_NODROP keeps overflowed CQEs in the kernel; entering flushes them back.
    for (let i = 0; i < 64 && this.ring.cqOverflowPending; i++) {
      this.stats.cqOverflowFlushes++;
      this.ring.enter(0, 0);
      const m = this.ring.reap(this.#recordBound);
      n += m;
      if (m === 0) break;
    }
    return n;
  }

  /** Run queued completions in order; callbacks may submit (never reap) more. */
  #runCompletions(): void {
    if (this.#running) return;
    this.#running = true;
    let error: unknown = undefined;
    let i = 0;
    try {
      for (; i < this.#cqLen; i++) {
        const t = this.#cqTarget[i]!;
        this.#cqTarget[i] = null;
        try {
          t.complete(this.#cqRes[i]!, this.#cqFlags[i]!, this.#cqTag[i]!, this.#cqOp[i]!);
        } catch (e) {
          error ??= e;
        }
      }
    } finally {
      this.stats.completions += i;
      this.#cqLen = 0;
      this.#running = false;
      // Written every batch, this array is in each young collection's remembered set, which
      // rescans all of it: after a burst (a connection storm) it goes back to a small size.
      if (this.#cqTarget.length > CQ_TARGETS_KEPT) this.#cqTarget.length = CQ_TARGETS_KEPT;
    }
    // A throwing callback is a bug in its owner: the batch finishes, then it surfaces like any
    // uncaught exception in Bun.
    if (error !== undefined) rethrowLater(error);
  }

  /**
   * One iteration: submit, wait up to `waitNs` for at least one CQE (0: don't wait; negative: no
   * bound, for a caller that has a timer op in flight), reap all, run completions. Returns the
   * number of CQEs handled.
   */
  poll(waitNs: number): number {
    if (this.#closed) return 0;
    this.stats.ticks++;
    if (this.#flushers.length) this.#runFlushers();
    // Completions in the CQ already: no need to enter, unless the kernel holds more (needsEnter).
    if (this.ring.cqReady === 0 || this.ring.sqPending > 0 || this.ring.needsEnter) this.ring.enter(waitNs !== 0 ? 1 + this.quickCqes : 0, waitNs);
    this.quickCqes = 0;
    this.now = performance.now();
    const n = this.#reapRecord();
    if (this.#cqLen) this.#runCompletions();
    this.stats.opsLive = this.ops.live;
    return n;
  }

  /** Drive the ring until `done()` or `timeoutMs`: for tests and scripts without Bun's loop. */
  runUntil(done: () => boolean, timeoutMs = 5000): boolean {
    const end = performance.now() + timeoutMs;
    while (!done()) {
      const left = end - performance.now();
      if (left <= 0) return false;
      this.poll(Math.min(left, 50) * 1e6);
    }
    return true;
  }

  readonly #closers: (() => void)[] = [];

  /**
   * Run `fn` when the reactor closes, after its operations were cancelled and before the ring goes:
   * for layers above that keep per-reactor native memory (the file server's read buffers).
   */
  onClose(fn: () => void): void {
    this.#closers.push(fn);
  }

  /** Cancel everything, wait briefly for the cancellations, release the ring. */
  close(): void {
    if (this.#closed) return;
    if (this.ops.live > 0) {
      const w = this.prepareUntracked();
      sqe.prepCancel64(this.ring.sqe, w, 0, 0, 4 /* IORING_ASYNC_CANCEL_ANY */ | IORING_ASYNC_CANCEL_ALL);
      this.runUntil(() => this.ops.live === 0, 200);
    }
    this.#closed = true;
    for (const fn of this.#closers.splice(0)) {
      try {
        fn();
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
    this.driver.close();
    this.#buffers?.close();
    this.#largeBuffers?.close();
    this.#chunks?.close();
    this.ring.close();
    this.scratch.free();
  }
}

