// The open-file cache (per reactor): a FileEntry is an open direct descriptor with its stat,
// opened by OPENAT/OPENAT2 -> STATX linked in one submission, kept in an LRU of CACHE_ENTRIES and
// re-validated with a STATX at most every REVALIDATE_MS; a small file keeps its bytes too.
//
// Why no CLOSE in the chain: the descriptor outlives the chain. A hot file's descriptor is kept
// with its stat, and a large body is read through it after the chain; it is closed
// (reactor.closeDirectDetached, one SQE in the next batch, so no extra syscall) when the last
// reader is done with an evicted or private entry. The steps are soft-linked: a failed OPENAT
// cancels STATX and READ, so nothing ever runs on a slot the OPENAT did not fill, and a slot is
// always closed by us before it goes back to FileSlots (a cut chain leaves an opened slot open:
// DESIGN/chain.ts).
//
// Bounds (per reactor): CACHE_ENTRIES open cached descriptors (+ stat), SMALL_CACHE_BYTES of file
// bytes, CACHE_IDLE_MS before an unused descriptor is closed.
import type { Reactor } from "../../../loop/reactor.ts";
import type { Completer } from "../../../loop/ops.ts";
import { Chain } from "../../../loop/chain.ts";
import { fileSlots, type FileSlots } from "../../../loop/files.ts";
import * as sqe from "../../../ffi/sqe.ts";
import {
  IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_STATX, IORING_OP_READ, IORING_OP_CLOSE, IORING_OP_LINK_TIMEOUT,
  IORING_OP_SPLICE, IOSQE_FIXED_FILE, O_RDONLY, STATX_BASIC_STATS,
} from "../../../ffi/constants.ts";
import { ECANCELED, EINTR, EIO } from "../../../ffi/errno.ts";
import { httpDate } from "../date.ts";
import { dispositionField, namesFile } from "./disposition.ts";
import {
  BLOCKS_PER_SLAB, type Block, BlockPool, DEFAULT_MAX_BLOCKS, METAS_PER_SLAB, META_HOW, META_PATH, META_STATX, type Meta, MetaPool, READ_BLOCK,
} from "./pools.ts";
import { DEFAULT_MAX_PIPES, PipePool } from "./pipes.ts";
import type { FileTransfer } from "./transfer.ts";

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
/** Our Accept-Ranges field (left out where a handler set its own: files/transfer.ts). */
export const ACCEPT_RANGES = "Accept-Ranges: bytes\r\n";
/** LINK_TIMEOUT on each OPENAT and READ: a hung file system fails the request instead of holding it. */
export const FILE_OP_TIMEOUT_MS = 10_000;

export const PATH_MAX = 4096;
// struct statx offsets (include/uapi/linux/stat.h)
const STX_MASK = 0, STX_MODE = 28, STX_INO = 32, STX_SIZE = 40, STX_MTIME = 112;
const STATX_TYPE = 0x1, STATX_MTIME = 0x40, STATX_INO = 0x100, STATX_SIZE = 0x200;
const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000;

const encoder = new TextEncoder();

// ---- open files: the cache ------------------------------------------------------------------------

export const PENDING = 0, READY = 1, REVALIDATING = 2, DEAD = 3;
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
  /** "Last-Modified: ...\r\nETag: ...\r\n" */
  tags = "";
  /** tags + ACCEPT_RANGES: what a plain answer carries. */
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
    this.tags = `Last-Modified: ${this.lastModified}\r\nETag: ${this.etag}\r\n`;
    this.validators = this.tags + ACCEPT_RANGES;
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
      const named = namesFile(type) ? this.disposition : "";
      this.#head = `HTTP/1.1 200 OK\r\n${type === "" ? "" : `content-type: ${type}\r\n`}${named}Date: ${date}\r\nContent-Length: ${this.size}\r\n${this.validators}\r\n`;
    }
    return this.#head;
  }

  #disposition: string | null = null;
  /** The Content-Disposition line naming this file (files/disposition.ts), made once. */
  get disposition(): string {
    return (this.#disposition ??= dispositionField(this.path));
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
  /** Null when the kernel has no IORING_OP_SPLICE or maxPipes is 0. */
  readonly pipes: PipePool | null;
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
  readonly stats = { hits: 0, misses: 0, revalidations: 0, evictions: 0, uncached: 0, restarts: 0, splicedResponses: 0 };
  #sweep: ReturnType<typeof setInterval> | null = null;

  constructor(reactor: Reactor, o: FileServerOptions = {}) {
    this.reactor = reactor;
    this.slots = fileSlots(reactor);
    this.blocks = new BlockPool(Math.max(BLOCKS_PER_SLAB, o.maxReadBuffers ?? DEFAULT_MAX_BLOCKS));
    this.metas = new MetaPool(this.slots.capacity + METAS_PER_SLAB);
    const maxPipes = Math.max(0, o.maxPipes ?? DEFAULT_MAX_PIPES);
    this.pipes = maxPipes > 0 && reactor.ring.supportedOps.has(IORING_OP_SPLICE) ? new PipePool(maxPipes) : null;
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
    this.pipes?.free();
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
  /**
   * Pipes open at once for large bodies sent by SPLICE (pipes.ts). Default DEFAULT_MAX_PIPES (64);
   * 0: every body is read into blocks and sent from them.
   */
  maxPipes?: number;
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
    pipesInUse: fs.pipes?.inUse ?? 0,
  };
}

/** Close every cached descriptor now (tests; a process that wants its files released). */
export function clearFileCache(reactor: Reactor): void {
  servers.get(reactor)?.sweep(true);
}
