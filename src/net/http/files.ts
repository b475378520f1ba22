// Files on io_uring: every Bun.file body (a fetch handler's `new Response(Bun.file(p))`, a Bun.file
// route value, serveStatic) is opened into a direct descriptor and read with READ(fixed), with no
// trip back to JS between the open and the first bytes:
//
//   miss:  OPENAT/OPENAT2(direct) [LINK_TIMEOUT] -> STATX(path) -> READ(fixed, first 64 KiB) [LINK_TIMEOUT]
//   hit:   READ(fixed) [LINK_TIMEOUT]            (stat known and validated less than 1 s ago)
//   stale: STATX(path), then READ
//
// then the head and the first bytes leave in one SEND (a SENDMSG of the head chunk and the READ
// buffer, no copy). Larger bodies stream from at most MAX_BLOCKS_PER_TRANSFER 64 KiB blocks per
// response (256 KiB): the READ of the next block overlaps the SEND of the previous one, and a block
// is read again only once the connection has sent it (tcp.ts writeExternal / SendHold).
//
// Why no CLOSE in the chain: the descriptor outlives the chain. A hot file's descriptor is kept in
// a bounded cache (CACHE_ENTRIES, LRU) with its stat, and a large body is read through it after the
// chain; it is closed (reactor.closeDirectDetached, one SQE in the next batch, so no extra
// syscall) when the last reader is done with an evicted or private entry. The steps are
// soft-linked: a failed OPENAT cancels STATX and READ, so nothing ever runs on a slot the OPENAT
// did not fill, and a slot is always closed by us before it goes back to FileSlots (a cut chain
// leaves an opened slot open: DESIGN/chain.ts).
//
// Bounds (per reactor): CACHE_ENTRIES open cached descriptors (+ stat); read memory at most
// maxBlocks * 64 KiB (DEFAULT_MAX_BLOCKS: 64 MiB) across all responses, MAX_BLOCKS_PER_TRANSFER
// per response (a response waiting for its first block queues, FIFO); per open file a 4.5 KiB
// native record (path, statx, open_how) from a pool bounded by the file table.
import type { Reactor } from "../../loop/reactor.ts";
import type { Completer } from "../../loop/ops.ts";
import { Chain } from "../../loop/chain.ts";
import { fileSlots, type FileSlots } from "../../loop/files.ts";
import { NativeRegion } from "../../ffi/memory.ts";
import * as sqe from "../../ffi/sqe.ts";
import {
  IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_STATX, IORING_OP_READ, IORING_OP_CLOSE, IORING_OP_LINK_TIMEOUT,
  IOSQE_FIXED_FILE, AT_FDCWD, O_RDONLY, STATX_BASIC_STATS, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS,
} from "../../ffi/constants.ts";
import { ENOENT, ENOTDIR, ELOOP, EXDEV, EACCES, EPERM, ECANCELED, EINTR, EISDIR, EIO } from "../../ffi/errno.ts";
import type { Connection, SendHold } from "../tcp.ts";
import type { HttpConnection } from "./connection.ts";
import type { UringRequest } from "./request.ts";
import { sendFileByStream, type FileResponseOptions } from "./core.ts";
import { serializeHead } from "./response.ts";
import { httpDate } from "./date.ts";

/** Bytes per READ and per read buffer. */
export const READ_BLOCK = 64 * 1024;
/** Read buffers one response holds at most: the bound on a response's in-flight file bytes (256 KiB). */
export const MAX_BLOCKS_PER_TRANSFER = 4;
/** Read buffers across all responses of a reactor (64 MiB). */
export const DEFAULT_MAX_BLOCKS = 1024;
/** Cached open descriptors + stats per reactor (LRU). */
export const CACHE_ENTRIES = 256;
/** A cached stat is trusted this long; after it, the next request re-validates it with a STATX first. */
export const REVALIDATE_MS = 1000;
/** A cached entry unused this long is closed by the sweep (a deleted file is not held open for ever). */
export const CACHE_IDLE_MS = 20_000;
/**
 * A cached file this small also keeps its bytes (a copy taken from its first whole READ), so a hot
 * small file is answered with no READ at all (head and bytes in one SEND; at 64 KiB the bytes go
 * out zero-copy, tcp.ts), and a hot one from a whole pre-built response (FileEntry.response). The
 * copies live and die with the entry's stat, re-validated every REVALIDATE_MS. Bound:
 * SMALL_CACHE_BYTES in all, bytes and pre-built responses together.
 */
export const SMALL_FILE_MAX = 64 * 1024;
export const SMALL_CACHE_BYTES = 16 * 1024 * 1024;
/** LINK_TIMEOUT on each OPENAT and READ: a hung file system fails the request instead of holding it. */
export const FILE_OP_TIMEOUT_MS = 10_000;

const PATH_MAX = 4096;
// Native record per open file: C path, struct statx (256 B), struct open_how (24 B).
const META_PATH = 0, META_STATX = 4096, META_HOW = 4352, META_SIZE = 4608;
const METAS_PER_SLAB = 32;
const BLOCKS_PER_SLAB = 16;
// struct statx offsets (include/uapi/linux/stat.h)
const STX_MASK = 0, STX_MODE = 28, STX_INO = 32, STX_SIZE = 40, STX_MTIME = 112;
const STATX_TYPE = 0x1, STATX_MTIME = 0x40, STATX_INO = 0x100, STATX_SIZE = 0x200;
const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000;

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

export class BlockPool {
  readonly maxBlocks: number;
  readonly #slabs: NativeRegion[] = [];
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
      const slab = new NativeRegion(BLOCKS_PER_SLAB * READ_BLOCK);
      this.#slabs.push(slab);
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
    return this.#slabs.length * BLOCKS_PER_SLAB * READ_BLOCK;
  }

  /** Unmap every slab (the reactor is closed and nothing of the kernel's reads into them any more). */
  free(): void {
    for (const slab of this.#slabs) slab.free();
    this.#slabs.length = 0;
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

class MetaPool {
  readonly #slabs: NativeRegion[] = [];
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
      const region = new NativeRegion(METAS_PER_SLAB * META_SIZE);
      this.#slabs.push(region);
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
    return this.#slabs.length * METAS_PER_SLAB * META_SIZE;
  }

  /** Unmap every slab (see BlockPool.free). */
  free(): void {
    for (const slab of this.#slabs) slab.free();
    this.#slabs.length = 0;
    this.#free.length = 0;
    this.count = 0;
  }
}

const encoder = new TextEncoder();

// ---- open files: the cache ------------------------------------------------------------------------

const PENDING = 0, READY = 1, REVALIDATING = 2, DEAD = 3;
const E_OPEN = 1, E_STATX = 2, E_REVALIDATE = 3;

/** What a response asks to open: a path (relative paths: to `dfd`) and how to resolve it. */
export interface OpenTarget {
  key: string;
  dfd: number;
  path: string;
  /** RESOLVE_* flags for OPENAT2 (0: plain OPENAT). */
  resolve: number;
}

/** An open file (direct descriptor) and its stat, cached or private to one response. */
export class FileEntry implements Completer {
  readonly fs: FileServer;
  readonly key: string;
  readonly dfd: number;
  readonly path: string;
  readonly resolve: number;
  meta: Meta | null;
  slot: number;
  state = PENDING;
  cached: boolean;
  /** -errno of a failed open (with state DEAD). */
  error = 0;
  size = 0;
  mtimeMs = 0;
  mtimeSec = 0;
  mtimeNsec = 0;
  ino = 0;
  mode = 0;
  etag = "";
  lastModified = "";
  /** "Last-Modified: ...\r\nETag: ...\r\nAccept-Ranges: bytes\r\n" */
  validators = "";
  validatedAt = 0;
  lastUsed = 0;
  /** When it last moved to the LRU's young end. */
  bumpedAt = 0;
  /** Responses reading through the slot. */
  refs = 0;
  waiters: FileTransfer[] = [];
  #openRes = 0;
  /** Content-Type for serveStatic responses (from Bun's table, by extension). */
  type = "";
  /** The whole file, for a cached file of at most SMALL_FILE_MAX bytes (see there). */
  #bytes: Uint8Array | null = null;
  get bytes(): Uint8Array | null {
    return this.#bytes;
  }
  set bytes(b: Uint8Array | null) {
    if (this.#bytes !== null) this.fs.bytesCached -= this.#bytes.length;
    if (b !== null) this.fs.bytesCached += b.length;
    this.#bytes = b;
    this.#dropResponse();
  }

  // The whole plain 200 response (head() then the bytes) in one buffer, rebuilt when the head
  // changes (once a second, for its Date): one zero-copy SEND segment, or one copy, per response.
  // Counted in bytesCached with the bytes it repeats.
  #response: Uint8Array | null = null;
  #responseHead = "";
  /** head(type) followed by the bytes (only while bytes is set), or null when the cache's bound has no room for it. */
  response(type: string): Uint8Array | null {
    const head = this.head(type);
    if (this.#response !== null && this.#responseHead === head) return this.#response;
    const bytes = this.#bytes!;
    this.#dropResponse();
    if (this.fs.bytesCached + head.length + bytes.length > this.fs.smallCacheBytes) return null;
    // Its own ArrayBuffer (not a pooled slab): a large one is sent from its address without a copy.
    const r = Buffer.allocUnsafeSlow(head.length + bytes.length);
    r.write(head, 0, head.length, "latin1");
    r.set(bytes, head.length);
    this.#response = r;
    this.#responseHead = head;
    this.fs.bytesCached += r.length;
    return r;
  }

  #dropResponse(): void {
    if (this.#response === null) return;
    this.fs.bytesCached -= this.#response.length;
    this.#response = null;
    this.#responseHead = "";
  }

  constructor(fs: FileServer, t: OpenTarget, meta: Meta, slot: number, cached: boolean) {
    this.fs = fs;
    this.key = t.key;
    this.dfd = t.dfd;
    this.path = t.path;
    this.resolve = t.resolve;
    this.meta = meta;
    this.slot = slot;
    this.cached = cached;
  }

  get isDir(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
  get isRegular(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }

  /** Submit OPENAT -> STATX [-> READ into `block` at `off` for `reader`], linked, in one batch. */
  open(reader: FileTransfer | null, block: Block | null, off: number): void {
    const fs = this.fs;
    const r = fs.reactor;
    const s = r.ring.sqe;
    const m = this.meta!;
    const pathPtr = m.ptr + META_PATH;
    const slot = this.slot;
    const c = new Chain(r, block ? 5 : 3);
    if (this.resolve !== 0) {
      const how = m.ptr + META_HOW;
      const u32 = m.region.u32, w0 = (m.off + META_HOW) >>> 2;
      u32[w0] = O_RDONLY; u32[w0 + 1] = 0; // flags
      u32[w0 + 2] = 0; u32[w0 + 3] = 0; // mode
      u32[w0 + 4] = this.resolve; u32[w0 + 5] = 0; // resolve
      c.step(this, E_OPEN, IORING_OP_OPENAT2, (w) => sqe.prepOpenat2Direct(s, w, this.dfd, pathPtr, how, slot));
    } else {
      // No O_CLOEXEC: the kernel refuses it for a direct descriptor (-EINVAL).
      c.step(this, E_OPEN, IORING_OP_OPENAT, (w) => sqe.prepOpenatDirect(s, w, this.dfd, pathPtr, O_RDONLY, 0, slot));
    }
    // A FIFO's open blocks until a writer comes: the deadline bounds it like a hung file system.
    c.deadline(FILE_OP_TIMEOUT_MS);
    // STATX of the path (STATX on a fixed file is not supported), same dirfd.
    c.step(this, E_STATX, IORING_OP_STATX, (w) => sqe.prepStatx(s, w, this.dfd, pathPtr, 0, STATX_BASIC_STATS, m.ptr + META_STATX));
    if (block && reader) {
      c.step(reader, block.id, IORING_OP_READ, (w) => {
        sqe.prepRead(s, w, slot, block.ptr, READ_BLOCK, off);
        sqe.setSqeFlags(s, w, IOSQE_FIXED_FILE);
      });
      c.deadline(FILE_OP_TIMEOUT_MS);
    }
  }

  /** STATX the path again; waiters resume when it completes. */
  revalidate(): void {
    this.state = REVALIDATING;
    const r = this.fs.reactor;
    const m = this.meta!;
    const w = r.prepare(this, E_REVALIDATE, IORING_OP_STATX);
    sqe.prepStatx(r.ring.sqe, w, this.dfd, m.ptr + META_PATH, 0, STATX_BASIC_STATS, m.ptr + META_STATX);
  }

  complete(res: number, _flags: number, tag: number): void {
    if (tag === E_OPEN) {
      this.#openRes = res;
      return;
    }
    if (tag === E_STATX) return this.#opened(res);
    if (tag === E_REVALIDATE) return this.#revalidated(res);
  }

  #opened(statRes: number): void {
    const openRes = this.#openRes;
    const fs = this.fs;
    if (openRes < 0) {
      // Nothing was installed; but an OPENAT cut by its deadline may have raced its cancellation:
      // close the slot anyway before it goes back (a no-op -EBADF if empty).
      if (openRes === -ECANCELED || openRes === -EINTR) fs.reactor.closeDirectDetached(this.slot);
      fs.slots.give(this.slot);
      this.slot = -1;
      this.error = openRes === -ECANCELED ? -EINTR : openRes;
      return this.#kill();
    }
    if (statRes < 0 || !this.#readStat()) {
      this.#closeSlot();
      this.error = statRes < 0 ? statRes : -EIO; // a statx without type, size, mtime or inode
      return this.#kill();
    }
    // Directories and other non-regular files keep their stat only (serveStatic's index lookup).
    if (!this.isRegular) this.#closeSlot();
    this.state = READY;
    this.validatedAt = this.lastUsed = performance.now();
    this.#wake();
    this.maybeDispose(); // a private entry nobody kept
  }

  #revalidated(res: number): void {
    const m = this.meta!;
    const v = m.region.view, b = m.off + META_STATX;
    const same = res >= 0 && this.#statOk()
      && this.ino === v.getUint32(b + STX_INO, true) + v.getUint32(b + STX_INO + 4, true) * 4294967296
      && this.size === v.getUint32(b + STX_SIZE, true) + v.getUint32(b + STX_SIZE + 4, true) * 4294967296
      && this.mtimeSec === v.getInt32(b + STX_MTIME, true) + v.getInt32(b + STX_MTIME + 4, true) * 4294967296
      && this.mtimeNsec === v.getUint32(b + STX_MTIME + 8, true)
      && this.mode === v.getUint16(b + STX_MODE, true);
    if (same) {
      this.state = READY;
      this.validatedAt = performance.now();
      return this.#wake();
    }
    // Changed or gone: this entry serves no new response; its waiters look the path up afresh.
    this.#kill();
  }

  #statOk(): boolean {
    const m = this.meta!;
    const need = STATX_TYPE | STATX_SIZE | STATX_MTIME | STATX_INO;
    return (m.region.u32[(m.off + META_STATX + STX_MASK) >>> 2]! & need) === need;
  }

  #readStat(): boolean {
    if (!this.#statOk()) return false;
    const m = this.meta!;
    const v = m.region.view, b = m.off + META_STATX;
    this.mode = v.getUint16(b + STX_MODE, true);
    this.ino = v.getUint32(b + STX_INO, true) + v.getUint32(b + STX_INO + 4, true) * 4294967296;
    this.size = v.getUint32(b + STX_SIZE, true) + v.getUint32(b + STX_SIZE + 4, true) * 4294967296;
    this.mtimeSec = v.getInt32(b + STX_MTIME, true) + v.getInt32(b + STX_MTIME + 4, true) * 4294967296;
    this.mtimeNsec = v.getUint32(b + STX_MTIME + 8, true);
    this.mtimeMs = this.mtimeSec * 1000 + Math.floor(this.mtimeNsec / 1e6);
    // Weak: a second write within the same millisecond with the same size keeps the tag (RFC 9110 §8.8.1).
    this.etag = `W/"${this.size.toString(16)}-${this.mtimeMs.toString(16)}"`;
    this.lastModified = new Date(this.mtimeSec * 1000).toUTCString();
    this.validators = `Last-Modified: ${this.lastModified}\r\nETag: ${this.etag}\r\nAccept-Ranges: bytes\r\n`;
    return true;
  }

  #wake(): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const t of w) t.onEntry(this);
  }

  /** No new response may use this entry; it closes once the last reader lets go. */
  #kill(): void {
    this.state = DEAD;
    this.bytes = null;
    this.fs.forget(this);
    this.#wake();
    this.maybeDispose();
  }

  /** Close the direct descriptor (we close it ourselves, always, before the slot is reused). */
  #closeSlot(): void {
    if (this.slot < 0) return;
    this.fs.reactor.closeDirectDetached(this.slot);
    this.fs.slots.give(this.slot);
    this.slot = -1;
  }

  /** Drop it from use: dead entries close when their last reader is done. */
  evict(): void {
    if (this.state === PENDING || this.state === REVALIDATING) return;
    this.state = DEAD;
    this.fs.forget(this);
    this.maybeDispose();
  }

  release(): void {
    this.refs--;
    this.maybeDispose();
  }

  /** Close and free a dead or private entry once no response uses it. */
  maybeDispose(): void {
    if (this.meta === null || this.state === PENDING || this.state === REVALIDATING) return;
    if ((this.cached && this.state !== DEAD) || this.refs > 0 || this.waiters.length > 0) return;
    this.state = DEAD;
    this.bytes = null;
    this.#closeSlot();
    this.fs.metas.give(this.meta);
    this.meta = null;
    this.fs.disposed();
  }

  #headType = "";
  #headDate = "";
  #head = "";
  /** The head of a plain 200 for the whole file (keep-alive, HTTP/1.1), rebuilt when the Date second or the type changes. */
  head(type: string): string {
    const date = httpDate();
    if (date !== this.#headDate || type !== this.#headType) {
      this.#headDate = date;
      this.#headType = type;
      this.#head = `HTTP/1.1 200 OK\r\n${type === "" ? "" : `content-type: ${type}\r\n`}Date: ${date}\r\nContent-Length: ${this.size}\r\n${this.validators}\r\n`;
    }
    return this.#head;
  }

  /** Mark the cached stat as not to be trusted: the next response re-validates it first. */
  invalidate(): void {
    this.validatedAt = -Infinity;
    this.bytes = null;
  }
}

/** Per-reactor file serving state: descriptor slots, read buffers, the open-file cache. */
export class FileServer {
  readonly reactor: Reactor;
  readonly slots: FileSlots;
  readonly blocks: BlockPool;
  readonly metas: MetaPool;
  readonly cacheLimit: number;
  readonly hasOpenat2: boolean;
  readonly smallFileMax: number;
  readonly smallCacheBytes: number;
  /** Bytes of small files held by cache entries (bound: smallCacheBytes). */
  bytesCached = 0;
  /** LRU: Map order is use order (oldest first). */
  readonly cache = new Map<string, FileEntry>();
  /** Private (uncached) entries alive: responses that found the cache full of busy entries. */
  privateEntries = 0;
  activeTransfers = 0;
  readonly stats = { hits: 0, misses: 0, revalidations: 0, evictions: 0, uncached: 0, restarts: 0 };
  #sweep: ReturnType<typeof setInterval> | null = null;

  constructor(reactor: Reactor, o: FileServerOptions = {}) {
    this.reactor = reactor;
    this.slots = fileSlots(reactor);
    this.blocks = new BlockPool(Math.max(BLOCKS_PER_SLAB, o.maxReadBuffers ?? DEFAULT_MAX_BLOCKS));
    this.metas = new MetaPool(this.slots.capacity + METAS_PER_SLAB);
    // 0: every response opens its own descriptor (a private entry, closed after it).
    this.cacheLimit = Math.max(0, o.cacheEntries ?? CACHE_ENTRIES);
    this.smallFileMax = Math.max(0, o.smallFileMax ?? SMALL_FILE_MAX);
    this.smallCacheBytes = Math.max(0, o.smallCacheBytes ?? SMALL_CACHE_BYTES);
    this.hasOpenat2 = reactor.ring.supportedOps.has(IORING_OP_OPENAT2);
    reactor.onClose(() => this.#close());
  }

  /**
   * The reactor closed: its descriptors go with the ring; the native read buffers and stat records
   * are unmapped here, unless an operation outlived the reactor's cancellation (the kernel might
   * still write into them: then they are left mapped, a bounded leak rather than a write into
   * memory reused by someone else).
   */
  #close(): void {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = null;
    for (const e of this.cache.values()) e.bytes = null;
    this.cache.clear();
    if (this.reactor.ops.live > 0) return;
    this.blocks.free();
    this.metas.free();
  }

  /** Cached entries holding an open descriptor (for leak checks: FileSlots.inUse minus these). */
  get cachedSlots(): number {
    let n = 0;
    for (const e of this.cache.values()) if (e.slot >= 0) n++;
    return n;
  }

  /** A usable entry for `t`, or null (with the waiter queued) when it must wait. */
  lookup(t: OpenTarget): FileEntry | null | undefined {
    const e = this.cache.get(t.key);
    if (e === undefined) return undefined;
    if (e.state === READY) {
      if (this.fresh(e)) return e;
      this.stats.revalidations++;
      e.revalidate();
    }
    return null; // PENDING or REVALIDATING: the caller queues on e.waiters
  }

  /** A hit on a READY entry whose stat is still trusted (counted, LRU touched); false when it is due for a STATX. */
  fresh(e: FileEntry): boolean {
    const now = this.reactor.now; // at most a tick old: the 1 s revalidation bound holds
    if (now - e.validatedAt >= REVALIDATE_MS) return false;
    this.stats.hits++;
    if (now - e.bumpedAt > 100) {
      // Move to the LRU's young end at most every 100 ms per entry (a Map delete+set each hit costs).
      e.bumpedAt = now;
      this.cache.delete(e.key);
      this.cache.set(e.key, e);
    }
    e.lastUsed = now;
    return true;
  }

  peek(key: string): FileEntry | undefined {
    return this.cache.get(key);
  }

  /** A new entry for a miss: cached if the cache has room (evicting an idle entry), else private. */
  create(t: OpenTarget): FileEntry | null {
    const slot = this.slots.take();
    if (slot < 0) return null;
    const meta = this.metas.take();
    if (!meta) {
      this.slots.give(slot);
      return null;
    }
    const r = encoder.encodeInto(t.path, meta.region.u8.subarray(meta.off + META_PATH, meta.off + META_PATH + PATH_MAX - 1));
    if (r.read !== t.path.length) throw new RangeError("path longer than PATH_MAX"); // checked by the caller
    meta.region.u8[meta.off + META_PATH + r.written] = 0;
    let cached = true;
    if (this.cache.size >= this.cacheLimit && !this.#evictOne()) cached = false;
    const e = new FileEntry(this, t, meta, slot, cached);
    this.stats.misses++;
    if (cached) {
      this.cache.set(t.key, e);
      this.#startSweep();
    } else {
      this.stats.uncached++;
      this.privateEntries++;
    }
    return e;
  }

  #evictOne(): boolean {
    for (const e of this.cache.values()) {
      if (e.state === READY && e.refs === 0 && e.waiters.length === 0) {
        this.stats.evictions++;
        e.evict();
        return true;
      }
    }
    return false;
  }

  /** An entry leaves the cache (dead: changed, failed, evicted). */
  forget(e: FileEntry): void {
    if (e.cached) {
      if (this.cache.get(e.key) === e) this.cache.delete(e.key);
      e.cached = false;
      this.privateEntries++;
    }
  }

  /** Called when a private/dead entry is disposed. */
  disposed(): void {
    this.privateEntries--;
  }

  #startSweep(): void {
    if (this.#sweep) return;
    this.#sweep = setInterval(() => this.sweep(), CACHE_IDLE_MS / 2);
    this.#sweep.unref?.();
  }

  /** Close cached descriptors unused for CACHE_IDLE_MS (and everything when `all`). */
  sweep(all = false): void {
    if (this.reactor.closed) {
      if (this.#sweep) clearInterval(this.#sweep);
      this.#sweep = null;
      return;
    }
    const now = performance.now();
    for (const e of [...this.cache.values()]) {
      if (all || now - e.lastUsed > CACHE_IDLE_MS) e.evict();
    }
    if (this.cache.size === 0 && this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  }
}

/** Knobs of a reactor's file server (configureFileServer), each with its default bound. */
export interface FileServerOptions {
  /** Open descriptors + stats kept (LRU). Default CACHE_ENTRIES (256); 0: open per response. */
  cacheEntries?: number;
  /** 64 KiB read buffers across all responses. Default DEFAULT_MAX_BLOCKS (1024: 64 MiB). */
  maxReadBuffers?: number;
  /** Cached files up to this size keep their bytes. Default SMALL_FILE_MAX (64 KiB); 0: never. */
  smallFileMax?: number;
  /** Bound on those bytes in all. Default SMALL_CACHE_BYTES (16 MiB). */
  smallCacheBytes?: number;
}

const servers = new WeakMap<Reactor, FileServer | null>();
const pendingOptions = new WeakMap<Reactor, FileServerOptions>();

/** Set the file server's bounds for `reactor` (before its first file response). */
export function configureFileServer(reactor: Reactor, o: FileServerOptions): void {
  if (servers.get(reactor)) throw new Error("configureFileServer: this reactor already serves files; configure it before the first file response");
  pendingOptions.set(reactor, o);
}

/** The reactor's file server, or null when its kernel lacks an opcode (Bun's reader is used then). */
export function fileServer(reactor: Reactor): FileServer | null {
  let fs = servers.get(reactor);
  if (fs !== undefined) return fs;
  const ops = reactor.ring.supportedOps;
  fs = null;
  if ([IORING_OP_OPENAT, IORING_OP_STATX, IORING_OP_READ, IORING_OP_CLOSE, IORING_OP_LINK_TIMEOUT].every((op) => ops.has(op))) {
    try {
      fs = new FileServer(reactor, pendingOptions.get(reactor));
    } catch {
      fs = null; // e.g. the file table cannot be registered: fall back
    }
  }
  servers.set(reactor, fs);
  return fs;
}

/** Counters for operators and leak tests. */
export function fileServerStats(reactor: Reactor) {
  const fs = servers.get(reactor);
  if (!fs) return null;
  return {
    ...fs.stats,
    cachedEntries: fs.cache.size,
    bytesCached: fs.bytesCached,
    cachedSlots: fs.cachedSlots,
    slotsInUse: fs.slots.inUse,
    privateEntries: fs.privateEntries,
    blocksInUse: fs.blocks.inUse,
    blocksAllocatedBytes: fs.blocks.allocatedBytes,
    metasAllocatedBytes: fs.metas.allocatedBytes,
    blocksWaiting: fs.blocks.waiting,
    activeTransfers: fs.activeTransfers,
  };
}

/** Close every cached descriptor now (tests; a process that wants its files released). */
export function clearFileCache(reactor: Reactor): void {
  servers.get(reactor)?.sweep(true);
}

// ---- one response ----------------------------------------------------------------------------------

/** serveStatic's part of a response: the root it is confined to and what to do with directories. */
export interface StaticTarget {
  /** Directory fd of the root (opened once), the key prefix and the root path (listings). */
  rootFd: number;
  rootId: number;
  rootPath: string;
  /** Path relative to the root, lexically clean ("." for the root itself; "dir/" keeps its slash). */
  rel: string;
  /** Name of the Bun.file the handler put in its Response (a different body is not ours to confine). */
  fileName: string;
  /** The request's path and query as received (redirects to "dir/"). */
  urlPath: string;
  query: string;
  index: string[];
  listing: boolean;
  /** OPENAT2 resolve flags (RESOLVE_BENEATH...), 0 when the kernel lacks OPENAT2. */
  resolve: number;
  /** A directory listing, rendered by static.ts. */
  renderListing(t: StaticTarget, dirRel: string): Promise<string | null>;
  /** realpath confinement check of a path relative to root (used only without OPENAT2). */
  checkSync(rel: string): boolean;
  /** Called once the response is written (status sent; body bytes, or -1 when cut short). */
  onResponse: ((status: number, bytes: number) => void) | null;
}

/** Requests that serveStatic answered: their Bun.file is opened beneath the root. */
export const staticTargets = new WeakMap<object, StaticTarget>();

// A sliced BunFile (file.slice(a, b)) keeps its name, and the Blob a handler's Response hands on
// (res.blob()) is a new object whose offset is not visible (its size is, but for a whole file
// that costs a stat syscall). So slice() records the names it slices, and a Bun.file of such a
// name is sent by Bun's reader, which knows the offsets. Bound: SLICED_NAMES_MAX names; past it
// every Bun.file is sent by Bun's reader (an app slicing that many files).
const SLICED_NAMES_MAX = 100_000;
const bunFileProto = Object.getPrototypeOf(Bun.file("/")) as { slice: (...a: unknown[]) => Blob };
const slicedNames = new Set<string>();
let slicedOverflow = false;
{
  const slice = bunFileProto.slice;
  bunFileProto.slice = function (this: Blob, ...args: unknown[]) {
    const name = (this as unknown as { name?: unknown }).name;
    if (typeof name === "string" && !slicedOverflow) {
      slicedNames.add(name);
      if (slicedNames.size > SLICED_NAMES_MAX) slicedOverflow = true;
    }
    return slice.apply(this, args);
  };
}

function isWholeBunFile(file: Blob): file is Blob & { name: string } {
  if (Object.getPrototypeOf(file) !== bunFileProto) return false;
  const name = (file as { name?: unknown }).name;
  return typeof name === "string" && !slicedOverflow && (slicedNames.size === 0 || !slicedNames.has(name));
}

/** ServerCore.sendFile's default: the io_uring path, Bun's reader where it cannot be used. */
export function sendFileUring(hc: HttpConnection, file: Blob, req: UringRequest | null, o: FileResponseOptions): Promise<boolean> {
  const fs = fileServer(hc.conn.reactor);
  if (!isWholeBunFile(file)) return sendFileByStream(hc, file, req, o);
  const name = file.name;
  let target = req ? staticTargets.get(req) : undefined;
  if (target !== undefined && target.fileName !== name) target = undefined;
  if (fs === null) {
    if (target !== undefined && !target.checkSync(target.rel)) return sendFileByStream(hc, Bun.file("/dev/null/none"), req, o); // a 404
    return sendFileByStream(hc, file, req, o);
  }
  if (target === undefined && (name.length === 0 || name.includes("\0"))) return sendFileByStream(hc, file, req, o);
  if (target !== undefined && !fs.hasOpenat2) target = { ...target, resolve: 0 };
  return new FileTransfer(fs, hc, req, o, target ?? null, name).result();
}

/**
 * The hot path of the usual `new Response(Bun.file(path))`: a small cached file, sent whole as a
 * plain 200 (or its HEAD) to a keep-alive HTTP/1.1 request with no Range or If-* header. Head and
 * bytes are written at once, without a FileTransfer. False (nothing written) sends the caller down
 * the full path: not cached, due for revalidation, sliced, other headers, serveStatic.
 * `name` is the BunFile's name; `fields` the Response's headers (headerFields()).
 */
export function sendCachedFile(
  hc: HttpConnection, file: Blob, name: string, fields: Record<string, string | string[]> | null,
  req: UringRequest | null, status: number, keepAlive: boolean, versionMinor: number, isHead: boolean,
): boolean {
  if (status !== 200 || !keepAlive || versionMinor !== 1 || req === null || fields === null) return false;
  if (!isHead && req.method !== "GET") return false;
  if (Object.getPrototypeOf(file) !== bunFileProto) return false;
  const fs = fileServer(hc.conn.reactor);
  if (fs === null) return false;
  const e = fs.cache.get(name);
  if (e === undefined || e.state !== READY || e.bytes === null) return false;
  // Only the Content-Type Bun gave the Response (or the handler set): anything else takes the full path.
  let n = 0;
  for (const _ in fields) if (++n > 1) return false;
  const plainType = fields["content-type"];
  if (typeof plainType !== "string") return false;
  if (slicedNames.size !== 0 && (slicedOverflow || slicedNames.has(name))) return false;
  if (mayHaveFileHeaders(req._head) || staticTargets.has(req)) return false;
  if (!fs.fresh(e)) return false;
  const whole = isHead ? null : e.response(plainType);
  if (whole !== null) hc.conn.write(whole);
  else {
    hc.conn.writeLatin1(e.head(plainType));
    if (!isHead) hc.conn.write(e.bytes);
  }
  return true;
}

// Settled answers shared by responses written at once (connection.ts checks with Bun.peek).
const SENT = Promise.resolve(true);
const CUT = Promise.resolve(false);

const HEADER_NAMES = ["range", "if-none-match", "if-modified-since", "if-range"] as const;
const headerValues: (string | null)[] = [null, null, null, null];

/** Whether a raw head may hold Range or If-* (a header line starting with r or i): else no parse. */
function mayHaveFileHeaders(head: Uint8Array): boolean {
  for (let i = 0, n = head.length - 1; i < n; i++) {
    if (head[i] === 10) {
      const c = head[i + 1]! | 0x20;
      if (c === 0x72 || c === 0x69) return true;
    }
  }
  return false;
}

/** Read request headers from a UringRequest without building its Headers. */
function requestHeaders(req: UringRequest | null): void {
  headerValues[0] = headerValues[1] = headerValues[2] = headerValues[3] = null;
  if (!req) return;
  const raw = (req as { _head?: Uint8Array })._head;
  if (raw instanceof Uint8Array && !mayHaveFileHeaders(raw)) return;
  const r = req as unknown as { _headerValues?: (names: readonly string[], out: (string | null)[]) => void; headers: Headers };
  if (typeof r._headerValues === "function") r._headerValues(HEADER_NAMES, headerValues);
  else for (let i = 0; i < 4; i++) headerValues[i] = r.headers.get(HEADER_NAMES[i]!);
}

const mimeByExt = new Map<string, string>();
/** Bun's Content-Type for a file name (its table, by extension), memoised. */
export function mimeType(name: string): string {
  const slash = name.lastIndexOf("/");
  const dot = name.lastIndexOf(".");
  const ext = dot > slash + 1 ? name.slice(dot).toLowerCase() : "";
  let t = mimeByExt.get(ext);
  if (t === undefined) {
    t = Bun.file(`x${ext}`).type;
    if (mimeByExt.size < 1024) mimeByExt.set(ext, t);
  }
  return t;
}

const TEXT = "text/plain;charset=utf-8";

/** Parse a single-range `bytes=` header; [start, endExclusive], "none" (ignore it) or "unsatisfiable". */
export function parseRange(h: string, size: number): [number, number] | "none" | "unsatisfiable" {
  // RFC 9110 §14.1.2: ranges-specifier = range-unit "=" range-set; unknown units are ignored.
  const eq = h.indexOf("=");
  if (eq < 0 || h.slice(0, eq).trim().toLowerCase() !== "bytes") return "none";
  const set = h.slice(eq + 1);
  // Several ranges: answered with the whole file (200), allowed by §14.2.
  if (set.includes(",")) return "none";
  const m = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(set);
  if (!m || (m[1] === "" && m[2] === "")) return "none";
  if (m[1] === "") {
    // suffix-range: the last N bytes
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) return "none";
    if (n === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - n), size];
  }
  const first = Number(m[1]);
  if (!Number.isSafeInteger(first)) return first > 0 ? "unsatisfiable" : "none";
  let last = m[2] === "" ? Infinity : Number(m[2]);
  if (Number.isNaN(last)) last = Infinity;
  if (last < first) return "none"; // invalid range-spec: ignore the header (§14.1.1)
  if (first >= size) return "unsatisfiable";
  return [first, Math.min(last, size - 1) + 1];
}

/** Weak comparison of If-None-Match against our ETag (RFC 9110 §13.1.2). */
function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === "*") return true;
  const bare = etag.slice(2);
  for (const part of header.split(",")) {
    const t = part.trim();
    if ((t.startsWith("W/") ? t.slice(2) : t) === bare) return true;
  }
  return false;
}

/** Status for a failed open: missing -> 404, forbidden -> 403, deadline -> 503, other -> 500. */
export function statusOfErrno(res: number): number {
  const e = -res;
  if (e === ENOENT || e === ENOTDIR || e === ELOOP || e === EXDEV || e === EISDIR || e === 36 /* ENAMETOOLONG */) return 404;
  if (e === EACCES || e === EPERM) return 403;
  if (e === EINTR || e === ECANCELED) return 503;
  return 500;
}

const MAX_RESTARTS = 3;

function opsLeft(r: Reactor, n: number): boolean {
  return r.ops.capacity - r.ops.live >= n;
}
const STATUS_TEXT: Record<number, string> = { 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable" };

export class FileTransfer implements Completer {
  readonly fs: FileServer;
  readonly hc: HttpConnection;
  readonly conn: Connection;
  readonly o: FileResponseOptions;
  readonly #static: StaticTarget | null;
  #promise: Promise<boolean> | null = null;
  #resolve: ((ok: boolean) => void) | null = null;
  #ok = false;
  /** The head is the entry's cached one (200, whole file, only a Content-Type from the handler). */
  #plainType: string | null = null;
  #target: OpenTarget;
  #type: string;
  #entry: FileEntry | null = null;
  #isGet: boolean;
  #range: string | null = null;
  #inm: string | null = null;
  #ims: string | null = null;
  #ifRange: string | null = null;
  #conditional = false;
  /** Body to send: [start, end) of the file. */
  #start = 0;
  #end = 0;
  #next = 0;
  #status = 200;
  #extra = "";
  #headWritten = false;
  #sentStatus = 0;
  #bodyBytes = 0;
  #finished = false;
  #queue: Block[] = [];
  #held = 0;
  #reads = 0;
  #waitingBlock = false;
  #restarts = 0;
  #triedIndex = false;

  constructor(fs: FileServer, hc: HttpConnection, req: UringRequest | null, o: FileResponseOptions, st: StaticTarget | null, name: string) {
    this.fs = fs;
    this.hc = hc;
    this.conn = hc.conn;
    this.o = o;
    this.#static = st;
    this.#type = o.type;
    fs.activeTransfers++;
    const method = req ? req.method : "GET";
    this.#isGet = method === "GET" || method === "HEAD";
    if (o.status === 200 && this.#isGet) {
      requestHeaders(req);
      this.#range = headerValues[0];
      this.#inm = headerValues[1];
      this.#ims = headerValues[2];
      this.#ifRange = headerValues[3];
      this.#conditional = this.#inm !== null || this.#ims !== null;
    }
    this.#target = st
      ? { key: `s${st.rootId}\0${st.rel}`, dfd: st.rootFd, path: st.rel, resolve: st.resolve }
      : { key: name, dfd: AT_FDCWD, path: name, resolve: 0 };
    if (st) this.#type = "";
    this.#begin();
  }

  /** What ServerCore.sendFile returns: settled already when the response was written at once. */
  result(): Promise<boolean> {
    if (this.#finished) return this.#ok ? SENT : CUT;
    return (this.#promise ??= new Promise<boolean>((r) => (this.#resolve = r)));
  }

  // ---- finding the open file --------------------------------------------------------------

  #begin(): void {
    if (!this.conn.open) return this.#finish(false);
    const fs = this.fs;
    // A chain half prepared when op slots run out would link the next SQE to it: check first.
    if (!opsLeft(fs.reactor, 8)) return this.#error(503, "Service Unavailable");
    const e = fs.lookup(this.#target);
    if (e) return this.#bind(e);
    if (e === null) {
      fs.peek(this.#target.key)!.waiters.push(this);
      return;
    }
    const path = this.#target.path;
    if (path.length * 3 >= PATH_MAX && Buffer.byteLength(path) >= PATH_MAX) return this.#error(404, "Not Found"); // ENAMETOOLONG
    // Without OPENAT2 the kernel does not keep the open beneath the root: check the realpath first.
    const st = this.#static;
    if (st !== null && st.resolve === 0 && !st.checkSync(path)) return this.#error(404, "Not Found");
    const ne = fs.create(this.#target);
    if (!ne) return this.#error(503, "Service Unavailable"); // every file slot in use
    // The first READ rides in the open's chain unless the response will likely have no body.
    const wantRead = !this.o.isHead && !this.#conditional && (this.#static === null || this.#static.rel !== ".");
    const block = wantRead ? fs.blocks.take() : null;
    let off = 0;
    if (block) {
      const m = this.#range !== null ? /^\s*bytes\s*=\s*(\d+)\s*-\s*\d*\s*$/i.exec(this.#range) : null;
      if (m) off = Number(m[1]);
      if (!Number.isSafeInteger(off)) off = 0;
      block.owner = this;
      block.off = off;
      block.want = READ_BLOCK;
      block.done = false;
      block.discard = false;
      this.#queue.push(block);
      this.#held++;
      this.#reads++;
    }
    ne.waiters.push(this);
    ne.open(this, block, off);
  }

  /** The entry this response waited for is ready, failed or went stale. */
  onEntry(e: FileEntry): void {
    if (this.#finished) return;
    if (e.state === READY) return this.#bind(e);
    if (e.error !== 0 && this.#queue.length === 0 && this.#reads === 0) return this.#openFailed(e.error);
    if (e.error !== 0) {
      // Our chained READ still has to complete (it was cancelled with the open); answer after it.
      this.#pendingError = e.error;
      return;
    }
    this.#restart();
  }

  #pendingError = 0;

  #restart(): void {
    this.fs.stats.restarts++;
    if (++this.#restarts > MAX_RESTARTS) return this.#error(503, "file keeps changing");
    this.#begin();
  }

  #openFailed(res: number): void {
    const st = this.#static;
    if (st && this.#triedIndex && (res === -ENOENT || res === -ENOTDIR)) {
      // dir/ without index.html
      if (st.listing) return this.#listing(st);
      return this.#error(404, "Not Found");
    }
    const status = statusOfErrno(res);
    this.#error(status, STATUS_TEXT[status]!);
  }

  #bind(e: FileEntry): void {
    if (!this.conn.open) return this.#finish(false);
    const st = this.#static;
    if (!e.isRegular) {
      if (e.isDir && st) return this.#directory(st);
      return this.#error(404, "Not Found");
    }
    this.#entry = e;
    e.refs++;
    if (st && this.#type === "") this.#type = e.type || (e.type = mimeType(e.path));
    this.#decide(e);
  }

  #directory(st: StaticTarget): void {
    // A READ chained behind the directory's open fails (EISDIR); it is dropped when it completes.
    for (const b of this.#queue) b.discard = true;
    if (!st.urlPath.endsWith("/")) {
      // "dir" -> "dir/" so that relative links in its index resolve inside it.
      const location = `${st.urlPath}/${st.query}`;
      return this.#simple(301, "Moved Permanently\n", `Location: ${location}\r\n`);
    }
    if (this.#triedIndex || st.index.length === 0) {
      if (st.listing) return this.#listing(st);
      return this.#error(404, "Not Found");
    }
    this.#triedIndex = true;
    const rel = st.rel === "." ? st.index[0]! : st.rel.endsWith("/") ? st.rel + st.index[0] : `${st.rel}/${st.index[0]}`;
    this.#target = { key: `s${st.rootId}\0${rel}`, dfd: st.rootFd, path: rel, resolve: st.resolve };
    this.#type = "";
    this.#begin();
  }

  #listing(st: StaticTarget): void {
    st.renderListing(st, st.rel).then(
      (html) => {
        if (this.#finished) return;
        if (html === null) return this.#error(404, "Not Found");
        this.#type = "text/html;charset=utf-8";
        this.#simpleBody(200, Buffer.from(html), "");
      },
      () => this.#error(404, "Not Found"),
    );
  }

  // ---- deciding the response --------------------------------------------------------------

  #decide(e: FileEntry): void {
    const o = this.o;
    let userValidators = false;
    const count = (o.headers as unknown as { count: number }).count;
    // The usual Response(Bun.file): its only header is the Content-Type Bun gave it.
    if (count === 0) this.#plainType = this.#type;
    else if (count === 1 && !this.#triedIndex) this.#plainType = o.headers.get("content-type");
    if (this.#plainType === null && count !== 0) {
      userValidators = o.headers.has("etag") || o.headers.has("last-modified");
    }
    this.#extra = userValidators ? "Accept-Ranges: bytes\r\n" : e.validators;
    this.#start = 0;
    this.#end = e.size;
    this.#status = o.status;
    if (o.status === 200 && this.#isGet && !userValidators) {
      // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
      let notModified = false;
      if (this.#inm !== null) notModified = noneMatch(this.#inm, e.etag);
      else if (this.#ims !== null) {
        const t = Date.parse(this.#ims);
        notModified = !Number.isNaN(t) && e.mtimeSec * 1000 <= t;
      }
      if (notModified) {
        this.#writeHead(304, -2, this.#extra);
        return this.#done();
      }
      if (this.#range !== null && this.#ifRangeHolds(e)) {
        const r = parseRange(this.#range, e.size);
        if (r === "unsatisfiable") {
          this.#writeHead(416, 0, `${this.#extra}Content-Range: bytes */${e.size}\r\n`);
          return this.#done();
        }
        if (r !== "none") {
          this.#status = 206;
          this.#start = r[0];
          this.#end = r[1];
          this.#extra += `Content-Range: bytes ${r[0]}-${r[1] - 1}/${e.size}\r\n`;
        }
      }
    }
    if (o.isHead || this.#end === this.#start) {
      this.#writeHead(this.#status, this.#end - this.#start, this.#extra);
      return this.#done();
    }
    this.#next = this.#start;
    if (e.bytes !== null) {
      // A small hot file: head and bytes copied into the connection's queue, one SEND, no READ.
      this.#writeHead(this.#status, this.#end - this.#start, this.#extra);
      this.conn.write(this.#start === 0 && this.#end === e.size ? e.bytes : e.bytes.subarray(this.#start, this.#end));
      this.#next = this.#end;
      if (this.#queue.length === 0) return this.#done();
      for (const b of this.#queue) b.discard = true;
      return;
    }
    // The chained READ: kept when it starts where the body starts, dropped (once complete) otherwise.
    let first: Block | undefined;
    for (const b of this.#queue) {
      if (!b.discard) {
        first = b;
        break;
      }
    }
    if (first !== undefined && first.off === this.#start) {
      first.want = Math.min(READ_BLOCK, this.#end - this.#start);
      this.#next = this.#start + first.want;
      return this.#drain();
    }
    if (first !== undefined) first.discard = true;
    this.#fill();
  }

  /** If-Range (RFC 9110 §13.1.5): a weak ETag never matches; a date must equal Last-Modified. */
  #ifRangeHolds(e: FileEntry): boolean {
    const h = this.#ifRange;
    if (h === null) return true;
    const v = h.trim();
    if (v.startsWith('"') || v.startsWith("W/")) return false;
    const t = Date.parse(v);
    return !Number.isNaN(t) && t === e.mtimeSec * 1000;
  }

  // ---- reading and sending ----------------------------------------------------------------

  /** Issue READs while the body has bytes left and this response holds fewer than its bound. */
  #fill(): void {
    // Before the head is out, one READ at a time: its length is checked against the stat first.
    const limit = this.#headWritten ? MAX_BLOCKS_PER_TRANSFER : 1;
    while (this.#next < this.#end && this.#held < limit && !this.#waitingBlock && !this.#finished) {
      const b = this.fs.blocks.take();
      if (!b) {
        if (this.#held === 0) {
          this.#waitingBlock = true;
          this.fs.blocks.wait(this);
        }
        return;
      }
      this.#read(b);
    }
  }

  /** A block from the pool's queue; false when this response no longer wants one. */
  gotBlock(b: Block): boolean {
    this.#waitingBlock = false;
    if (this.#finished || this.#next >= this.#end || this.#entry === null) return false;
    if (!this.conn.open) {
      this.#finish(false);
      return false;
    }
    this.#read(b);
    return true;
  }

  #read(b: Block): void {
    const e = this.#entry!;
    if (!opsLeft(this.fs.reactor, 2)) {
      // Every op slot is in flight: this response can't go on (prepare() would throw in a callback).
      this.fs.blocks.give(b);
      return this.#finish(false);
    }
    const want = Math.min(READ_BLOCK, this.#end - this.#next);
    // Ask for a whole block when the body runs to the end of the file: more than expected means
    // the file grew since its stat, fewer that it shrank (both caught before the head is written).
    const ask = this.#end === e.size ? READ_BLOCK : want;
    b.owner = this;
    b.off = this.#next;
    b.want = want;
    b.done = false;
    b.discard = false;
    this.#next += want;
    this.#queue.push(b);
    this.#held++;
    this.#reads++;
    const r = this.fs.reactor;
    r.reserveSqes(2); // READ and its LINK_TIMEOUT in one submission (a split link loses the deadline)
    const w = r.prepare(this, b.id, IORING_OP_READ);
    sqe.prepRead(r.ring.sqe, w, e.slot, b.ptr, ask, b.off);
    sqe.setSqeFlags(r.ring.sqe, w, IOSQE_FIXED_FILE);
    r.linkTimeout(w, FILE_OP_TIMEOUT_MS, null);
  }

  /** A READ completed (tag: its block). */
  complete(res: number, _flags: number, tag: number): void {
    const b = this.fs.blocks.all[tag]!;
    this.#reads--;
    b.res = res;
    b.done = true;
    if (this.#finished || b.discard || this.#entry === null) {
      // Nobody wants it (the response ended, or it failed before binding): the memory is free now.
      this.#dropBlock(b);
      if (this.#finished) return this.#maybeRelease();
      if (this.#entry !== null) return this.#drain();
      if (this.#pendingError !== 0 && this.#reads === 0) return this.#openFailed(this.#pendingError);
      return;
    }
    this.#drain();
  }

  #dropBlock(b: Block): void {
    const i = this.#queue.indexOf(b);
    if (i >= 0) this.#queue.splice(i, 1);
    this.#held--;
    this.fs.blocks.give(b);
  }

  /** Hand completed blocks to the connection, in file order. */
  #drain(): void {
    const q = this.#queue;
    while (q.length > 0 && q[0]!.done) {
      const b = q.shift()!;
      if (b.discard) {
        this.#held--;
        this.fs.blocks.give(b);
        continue;
      }
      const res = b.res;
      const e = this.#entry!;
      if (res < 0 || res < b.want || (!this.#headWritten && this.#end === e.size && res > b.want)) {
        // Read error, or the file is not what its stat said (truncated, grown, replaced).
        this.#held--;
        this.fs.blocks.give(b);
        e.invalidate();
        if (!this.#headWritten && res >= 0) return this.#retryStale();
        if (!this.#headWritten) return this.#openFailed(res);
        return this.#finish(false); // can't frame the rest: the connection ends
      }
      const fs = this.fs;
      if (b.off === 0 && res === e.size && res <= fs.smallFileMax && e.cached && e.state === READY && e.bytes === null && fs.bytesCached + res <= fs.smallCacheBytes) {
        e.bytes = b.u8.slice(0, res);
      }
      if (!this.#headWritten) this.#writeHead(this.#status, this.#end - this.#start, this.#extra);
      if (!this.conn.writeExternal(b.ptr, b.want, b)) {
        this.#held--;
        this.fs.blocks.give(b);
        return this.#finish(false);
      }
    }
    if (this.#next >= this.#end && q.length === 0 && this.#reads === 0) return this.#done();
    this.#fill();
  }

  /** The first READ disagreed with the stat: re-validate and start over (head not yet written). */
  #retryStale(): void {
    this.#unbind();
    this.#restart();
  }

  /** The connection sent a block (or dropped it). */
  blockSent(b: Block): void {
    this.#held--;
    b.owner = null;
    if (this.#finished || this.#next >= this.#end || this.fs.blocks.waiting > 0) {
      this.fs.blocks.give(b);
      if (!this.#finished) this.#fill();
      return;
    }
    if (!this.conn.open) {
      this.fs.blocks.give(b);
      return this.#finish(false);
    }
    this.#read(b);
    this.#fill();
  }

  // ---- writing heads and ending -----------------------------------------------------------

  #writeHead(status: number, length: number, extra: string): void {
    const o = this.o;
    const e = this.#entry;
    if (status === 200 && this.#plainType !== null && e !== null && length === e.size && o.keepAlive && o.versionMinor === 1 && extra === e.validators) {
      this.#headWritten = true;
      this.#sentStatus = 200;
      this.#bodyBytes = o.isHead ? 0 : length;
      this.conn.writeLatin1(e.head(this.#plainType));
      return;
    }
    let headers = o.headers;
    if (this.#triedIndex && headers.has("content-type")) {
      // The handler's Response typed the directory's path (Bun gives a Bun.file Response a
      // Content-Type); the index file's type is ours to say.
      headers = new Headers(headers);
      headers.delete("content-type");
    }
    let head = serializeHead({
      status, statusText: status === o.status ? o.statusText : "", headers,
      defaultType: length === -2 ? "" : this.#type, length, keepAlive: o.keepAlive, versionMinor: o.versionMinor,
    });
    if (extra !== "") head = head.slice(0, -2) + extra + "\r\n";
    this.#headWritten = true;
    this.#sentStatus = status;
    this.#bodyBytes = o.isHead || length < 0 ? 0 : length;
    this.conn.writeLatin1(head);
  }

  /** A response of our own (errors, redirects), not the handler's headers. */
  #simple(status: number, text: string, extra = ""): void {
    this.#type = TEXT;
    this.#simpleBody(status, Buffer.from(text), extra);
  }

  #simpleBody(status: number, body: Uint8Array, extra: string): void {
    if (!this.conn.open) return this.#finish(false);
    const o = this.o;
    let head = serializeHead({
      status, statusText: "", headers: null, defaultType: this.#type, length: body.length,
      keepAlive: o.keepAlive, versionMinor: o.versionMinor,
    });
    if (extra !== "") head = head.slice(0, -2) + extra + "\r\n";
    this.#headWritten = true;
    this.#sentStatus = status;
    this.#bodyBytes = o.isHead ? 0 : body.length;
    this.conn.writeLatin1(head);
    if (!o.isHead) this.conn.write(body);
    this.#done();
  }

  #error(status: number, text: string): void {
    if (this.#headWritten) return this.#finish(false);
    this.#simple(status, `${text}\n`);
  }

  #done(): void {
    // The next response on this connection starts only once its queue is back under the high-water
    // mark (256 KiB): a client pipelining requests without reading holds at most that much plus
    // one response's blocks, not a block set per request.
    if (this.conn.open && this.conn.needsDrain) {
      this.hc.waitDrain().then(() => this.#finish(this.conn.open));
      return;
    }
    this.#finish(this.conn.open);
  }

  #unbind(): void {
    if (this.#entry) {
      const e = this.#entry;
      this.#entry = null;
      e.release();
    }
  }

  #finish(ok: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.fs.activeTransfers--;
    // Blocks done but not handed over go back now; blocks still being read go back at their CQE.
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const b = this.#queue[i]!;
      if (b.done) {
        this.#queue.splice(i, 1);
        this.#held--;
        this.fs.blocks.give(b);
      }
    }
    this.#maybeRelease();
    this.#ok = ok;
    this.#resolve?.(ok);
    const cb = this.#static?.onResponse;
    if (cb) {
      try {
        cb(this.#sentStatus, ok ? this.#bodyBytes : -1);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }

  #maybeRelease(): void {
    if (this.#finished && this.#reads === 0) this.#unbind();
  }
}
