// One io_uring: set up by liburing, then driven from JS through views over the shared ring memory.
// No FFI call per SQE or per CQE; one io_uring_enter2 per loop iteration (Ring.enter).
import { toArrayBuffer, read, type Pointer } from "bun:ffi";
import { ioUringEnter2, liburing, type Enter2 } from "./liburing.ts";
import { NativeRegion, readPtr, writePtr } from "./memory.ts";
import type { SqeViews } from "./sqe.ts";
import {
  IORING_SETUP_CQSIZE, IORING_SETUP_SUBMIT_ALL, IORING_SETUP_COOP_TASKRUN, IORING_SETUP_TASKRUN_FLAG, IORING_SETUP_SINGLE_ISSUER,
  IORING_SETUP_DEFER_TASKRUN, IORING_SQ_CQ_OVERFLOW, IORING_SQ_TASKRUN, IORING_ENTER_GETEVENTS,
  IORING_ENTER_EXT_ARG, IORING_FEAT_EXT_ARG, IORING_CQ_EVENTFD_DISABLED, IORING_OP_LAST,
} from "./constants.ts";
import { EINVAL, EINTR, ETIME, EAGAIN, EBUSY, unavailableFromSetup, SystemError, IoUringUnavailableError } from "./errno.ts";

export interface RingOptions {
  /** SQ size (power of two; the kernel rounds up). Bounds SQEs queued between two enters. */
  entries?: number;
  /** CQ size; larger than the SQ because multishot ops post many CQEs per SQE. */
  cqEntries?: number;
  /** Setup flags to try first; each is dropped in turn on EINVAL (older kernels). */
  flags?: number;
}

// The flags tried, most wanted first; dropped from the end of this list on EINVAL.
// SINGLE_ISSUER + DEFER_TASKRUN were worth ~35% req/CPU-s in DESIGN.md's measurement; they
// require that every wait enters with GETEVENTS from this thread, which Ring.enter always does.
// TASKRUN_FLAG makes deferred completion work visible (IORING_SQ_TASKRUN, Ring.needsEnter): the
// kernel signals the registered eventfd only when that work goes from none to some, so a loop that
// parked with some left over would never be woken for it (loop/driver.ts).
export const DEFAULT_SETUP_FLAGS =
  IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
const DROP_ORDER = [IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_TASKRUN_FLAG, IORING_SETUP_COOP_TASKRUN, IORING_SETUP_SUBMIT_ALL];

// struct io_uring (x86_64, liburing 2.3): 216 bytes; offsets measured in DESIGN.md.
const RING_STRUCT_SIZE = 216;
const SQ = { khead: 0, ktail: 8, kflags: 32, kdropped: 40, array: 48, sqes: 56, ringMask: 88, ringEntries: 92 };
const CQ = { base: 104, khead: 0, ktail: 8, kflags: 32, koverflow: 40, cqes: 48, ringMask: 72, ringEntries: 76 };
const RING_FD = 196, RING_FEATURES = 200;
// Scratch after the struct: io_uring_params (120), io_uring_getevents_arg (24), __kernel_timespec (16).
const PARAMS_OFF = 256, ARG_OFF = 384, TS_OFF = 416, MEM_SIZE = 512;

export class Ring {
  readonly fd: number;
  readonly flags: number;
  readonly features: number;
  readonly sqEntries: number;
  readonly cqEntries: number;
  /** Opcodes this kernel supports (io_uring_get_probe_ring). */
  readonly supportedOps: ReadonlySet<number>;
  /** Views over the SQE array, for the encoders in sqe.ts. */
  readonly sqe: SqeViews;
  /** CQE array as words: [user_data lo, user_data hi, res, flags] per CQE. */
  cqeU32: Uint32Array;
  cqeI32: Int32Array;
  readonly cqMask: number;

  /** Pointer of the struct io_uring, for liburing register calls. */
  readonly ptr: number;
  readonly #mem: NativeRegion;
  readonly #sqMask: number;
  readonly #sqKhead: Uint32Array;
  readonly #sqKtail: Uint32Array;
  readonly #sqKflags: Uint32Array;
  readonly #cqKhead: Uint32Array;
  readonly #cqKtail: Uint32Array;
  readonly #cqOverflow: Uint32Array;
  readonly #cqKflags: Uint32Array;
  #sqTail = 0; // SQEs handed out (local tail)
  #sqFlushed = 0; // tail published to the kernel
  #cqHead = 0;
  #closed = false;
  readonly #enter2: Enter2 = ioUringEnter2();

  constructor(options: RingOptions = {}) {
    const entries = options.entries ?? 1024;
    const cqEntries = options.cqEntries ?? entries * 8;
    const lib = liburing();
    const mem = new NativeRegion(MEM_SIZE);
    this.#mem = mem;
    this.ptr = mem.ptr;
    let flags = (options.flags ?? DEFAULT_SETUP_FLAGS) | IORING_SETUP_CQSIZE;
    let res = -EINVAL;
    for (let drop = 0; ; drop++) {
      mem.u8.fill(0, PARAMS_OFF, PARAMS_OFF + 120);
      mem.u32[PARAMS_OFF / 4 + 1] = cqEntries;
      mem.u32[PARAMS_OFF / 4 + 2] = flags;
      res = lib.io_uring_queue_init_params(entries, mem.ptr as unknown as Pointer, (mem.ptr + PARAMS_OFF) as unknown as Pointer);
      if (res !== -EINVAL || drop >= DROP_ORDER.length) break;
      flags &= ~DROP_ORDER[drop]!;
      if (drop === 0) flags &= ~IORING_SETUP_SINGLE_ISSUER; // DEFER_TASKRUN without SINGLE_ISSUER is EINVAL too
    }
    if (res < 0) {
      mem.free();
      throw unavailableFromSetup(res);
    }
    const u32 = mem.u32;
    this.fd = mem.i32[RING_FD / 4]!;
    this.flags = u32[192 / 4]!;
    this.features = u32[RING_FEATURES / 4]!;
    if (!(this.features & IORING_FEAT_EXT_ARG)) {
      lib.io_uring_queue_exit(mem.ptr as unknown as Pointer);
      mem.free();
      throw new IoUringUnavailableError("EOLDKERNEL", "io_uring lacks IORING_FEAT_EXT_ARG (Linux 5.11+); bun-uring needs Linux 5.19 or later");
    }
    const at = (off: number) => readPtr(u32, off / 4);
    const view32 = (p: number, n: number) => new Uint32Array(toArrayBuffer(p as unknown as Pointer, 0, n * 4));
    this.#sqMask = u32[SQ.ringMask / 4]!;
    this.sqEntries = u32[SQ.ringEntries / 4]!;
    this.#sqKhead = view32(at(SQ.khead), 1);
    this.#sqKtail = view32(at(SQ.ktail), 1);
    this.#sqKflags = view32(at(SQ.kflags), 1);
    const sqArray = view32(at(SQ.array), this.sqEntries);
    for (let i = 0; i < this.sqEntries; i++) sqArray[i] = i; // identity: SQE i sits in slot i
    const sqeBuf = toArrayBuffer(at(SQ.sqes) as unknown as Pointer, 0, this.sqEntries * 64);
    this.sqe = { u8: new Uint8Array(sqeBuf), u16: new Uint16Array(sqeBuf), u32: new Uint32Array(sqeBuf), i32: new Int32Array(sqeBuf) };
    this.cqMask = u32[(CQ.base + CQ.ringMask) / 4]!;
    this.cqEntries = u32[(CQ.base + CQ.ringEntries) / 4]!;
    this.#cqKhead = view32(at(CQ.base + CQ.khead), 1);
    this.#cqKtail = view32(at(CQ.base + CQ.ktail), 1);
    this.#cqOverflow = view32(at(CQ.base + CQ.koverflow), 1);
    this.#cqKflags = view32(at(CQ.base + CQ.kflags), 1);
    const cqeBuf = toArrayBuffer(at(CQ.base + CQ.cqes) as unknown as Pointer, 0, this.cqEntries * 16);
    this.cqeU32 = new Uint32Array(cqeBuf);
    this.cqeI32 = new Int32Array(cqeBuf);
    this.#sqTail = this.#sqFlushed = this.#sqKtail[0]!;
    this.#cqHead = this.#cqKhead[0]!;
    this.supportedOps = probe(mem.ptr);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** SQEs handed out and not yet consumed by the kernel. */
  get sqPending(): number {
    return (this.#sqTail - Atomics.load(this.#sqKhead, 0)) >>> 0;
  }

  /**
   * A zeroed SQE, as a word index for the encoders; -1 when the SQ is full (the caller submits
   * with enter(0) and asks again).
   */
  getSqe(): number {
    const tail = this.#sqTail;
    if (((tail - Atomics.load(this.#sqKhead, 0)) >>> 0) >= this.sqEntries) return -1;
    this.#sqTail = (tail + 1) >>> 0;
    const w = (tail & this.#sqMask) << 4;
    this.sqe.u32.fill(0, w, w + 16);
    return w;
  }

  /** Publish SQEs handed out since the last flush; returns how many. */
  flush(): number {
    const n = (this.#sqTail - this.#sqFlushed) >>> 0;
    if (n) {
      Atomics.store(this.#sqKtail, 0, this.#sqTail);
      this.#sqFlushed = this.#sqTail;
    }
    return n;
  }

  /** True when the kernel holds CQEs we can't see yet (overflow list, deferred task work). */
  get needsEnter(): boolean {
    return (Atomics.load(this.#sqKflags, 0) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) !== 0;
  }

  /** True when CQEs wait in the kernel's overflow list (the CQ was full). */
  get cqOverflowPending(): boolean {
    return (Atomics.load(this.#sqKflags, 0) & IORING_SQ_CQ_OVERFLOW) !== 0;
  }

  /**
   * IORING_CQ_EVENTFD_DISABLED, toggled in shared memory without a syscall: the registered eventfd
   * is only wanted while the loop is parked (loop/driver.ts).
   */
  set eventfdEnabled(on: boolean) {
    const f = Atomics.load(this.#cqKflags, 0);
    Atomics.store(this.#cqKflags, 0, on ? f & ~IORING_CQ_EVENTFD_DISABLED : f | IORING_CQ_EVENTFD_DISABLED);
  }

  /** CQEs dropped by the kernel (only without IORING_FEAT_NODROP, i.e. never on 5.5+). */
  get cqOverflowCount(): number {
    return this.#cqOverflow[0]!;
  }

  /**
   * Submit what is queued and wait for at least `minComplete` CQEs or `timeoutNs` (a negative
   * timeout waits without a bound). Always passes GETEVENTS, which DEFER_TASKRUN needs to run
   * completion work. Returns SQEs consumed, 0 on timeout or interruption.
   */
  enter(minComplete: number, timeoutNs = -1): number {
    if (this.#closed) return 0;
    this.flush();
    let argPtr = 0;
    if (timeoutNs >= 0) {
      // struct io_uring_getevents_arg, only when there is a timeout to pass.
      const mem = this.#mem;
      const argW = ARG_OFF / 4;
      mem.u32.fill(0, argW, argW + 6);
      const tsW = TS_OFF / 4;
      const sec = Math.floor(timeoutNs / 1e9);
      mem.u32[tsW] = sec >>> 0;
      mem.u32[tsW + 1] = 0;
      mem.u32[tsW + 2] = (timeoutNs - sec * 1e9) >>> 0;
      mem.u32[tsW + 3] = 0;
      writePtr(mem.u32, argW + 4, mem.ptr + TS_OFF);
      argPtr = mem.ptr + ARG_OFF;
    }
    const pending = (this.#sqFlushed - Atomics.load(this.#sqKhead, 0)) >>> 0;
    const flags = IORING_ENTER_GETEVENTS | (argPtr ? IORING_ENTER_EXT_ARG : 0);
    const res = this.#enter2(this.fd | 0, pending | 0, minComplete | 0, flags | 0, argPtr || null, argPtr ? 24 : 8);
    if (res >= 0) return res;
    if (res === -ETIME || res === -EINTR) return 0;
    // CQ full with overflow backlog: the caller reaps, then enters again.
    if (res === -EBUSY || res === -EAGAIN) return 0;
    throw new SystemError(-res, "io_uring_enter");
  }

  /**
   * Visit every CQE now in the CQ, then release them to the kernel in one store. The callback
   * must only record (loop/reactor.ts queues completions and runs them after the reap).
   */
  reap(visit: (udLo: number, udHi: number, res: number, flags: number) => void): number {
    const tail = Atomics.load(this.#cqKtail, 0);
    let head = this.#cqHead;
    if (head === tail) return 0;
    const u32 = this.cqeU32, i32 = this.cqeI32, mask = this.cqMask;
    let n = 0;
    while (head !== tail) {
      const w = (head & mask) << 2;
      visit(u32[w]!, u32[w + 1]!, i32[w + 2]!, u32[w + 3]!);
      head = (head + 1) >>> 0;
      n++;
    }
    this.#cqHead = head;
    Atomics.store(this.#cqKhead, 0, head);
    return n;
  }

  /** CQEs ready in the CQ now. */
  get cqReady(): number {
    return (Atomics.load(this.#cqKtail, 0) - this.#cqHead) >>> 0;
  }

  registerFilesSparse(count: number): void {
    const res = liburing().io_uring_register_files_sparse(this.ptr as unknown as Pointer, count);
    if (res < 0) throw new SystemError(-res, "io_uring_register_files_sparse", `${count} slots`);
  }

  /** Reserve [offset, offset+len) of the file table for IORING_FILE_INDEX_ALLOC. */
  registerFileAllocRange(offset: number, len: number): void {
    const res = liburing().io_uring_register_file_alloc_range(this.ptr as unknown as Pointer, offset, len);
    if (res < 0) throw new SystemError(-res, "io_uring_register_file_alloc_range");
  }

  registerEventfd(fd: number): void {
    const res = liburing().io_uring_register_eventfd(this.ptr as unknown as Pointer, fd);
    if (res < 0) throw new SystemError(-res, "io_uring_register_eventfd");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    liburing().io_uring_queue_exit(this.ptr as unknown as Pointer);
    this.#mem.free();
    // The views named memory that is now unmapped: swap in empty ones so a stray write is a
    // no-op instead of a segfault.
    const s = this.sqe as { u8: Uint8Array; u16: Uint16Array; u32: Uint32Array; i32: Int32Array };
    s.u8 = new Uint8Array(0);
    s.u16 = new Uint16Array(0);
    s.u32 = new Uint32Array(0);
    s.i32 = new Int32Array(0);
    this.cqeU32 = new Uint32Array(0);
    this.cqeI32 = new Int32Array(0);
  }
}

function probe(ringPtr: number): Set<number> {
  const lib = liburing();
  const p = lib.io_uring_get_probe_ring(ringPtr as unknown as Pointer);
  const ops = new Set<number>();
  if (!p) return ops;
  // struct io_uring_probe { u8 last_op; u8 ops_len; u16; u32[3]; struct { u8 op; u8; u16 flags; u32 } ops[] }
  const opsLen = read.u8(p, 1);
  for (let i = 0; i < opsLen && i < IORING_OP_LAST + 16; i++) {
    if (read.u16(p, 16 + i * 8 + 2) & 1 /* IO_URING_OP_SUPPORTED */) ops.add(read.u8(p, 16 + i * 8));
  }
  lib.io_uring_free_probe(p);
  return ops;
}
