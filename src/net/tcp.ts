// TCP on the reactor: a listener with multishot ACCEPT, connections that receive through
// multishot RECV from the shared provided-buffer ring and send from native chunks.
//
// Bounds: a connection holds no receive memory while idle (buffers are the ring's and go back
// after each data callback); its queued outgoing bytes are bounded by maxQueuedBytes (copied) and
// by the reactor's ChunkPool; its ops are at most one RECV, one SEND or SPLICE or POLL (+ its
// LINK_TIMEOUT), one CLOSE in flight (the write side is shut down by a plain call: sockopt.ts).
import { ptr as ptrOf } from "bun:ffi";
import type { Reactor } from "../loop/reactor.ts";
import type { BufferRing } from "../ffi/bufring.ts";
import type { Completer } from "../loop/ops.ts";
import { Chunk, CHUNK_SIZE } from "../loop/chunks.ts";
import { libc, F_SETFL } from "../ffi/libc.ts";
import { writePtr } from "../ffi/memory.ts";
import * as sqe from "../ffi/sqe.ts";
import {
  IOSQE_BUFFER_SELECT, IOSQE_IO_HARDLINK, IORING_CQE_F_MORE, IORING_CQE_F_BUFFER, IORING_CQE_BUFFER_SHIFT,
  MSG_NOSIGNAL, MSG_WAITALL, SOCK_CLOEXEC, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_ACCEPT,
  IORING_OP_CLOSE, IORING_OP_SPLICE, IORING_OP_POLL_ADD,
  SPLICE_F_NONBLOCK, O_NONBLOCK, POLLOUT,
} from "../ffi/constants.ts";
import {
  ENOBUFS, ECANCELED, EMFILE, ENFILE, ENOMEM, ETIME, ECONNABORTED, EINTR, EAGAIN, EPIPE, SystemError,
  errorFromResult,
} from "../ffi/errno.ts";
import { createListener, peerAddress, type SocketAddress } from "./sockaddr.ts";
import { bytesQueued, setReceiveLowWater, shutdownWrite } from "./sockopt.ts";

const TAG_RECV = 1, TAG_SEND = 2, TAG_CLOSE = 3, TAG_SPLICE = 5, TAG_WRITABLE = 6, TAG_RECV_INTO = 7;
const TAG_ACCEPT = 1, TAG_SWEEP = 2, TAG_ACCEPT_RETRY = 3;

/** Writes larger than this are sent from the caller's memory (held until sent), not copied. */
const ZERO_COPY_MIN = 65536;
/** iovecs per SENDMSG: they live in the op's scratch after the msghdr (56 + 5 * 16 <= 144). */
const MAX_IOV = 5;
/** After a peer stops reading, a SEND may wait this long before the connection is cut. */
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;
/** After our side shut down writing, wait this long for the peer's FIN before closing (lingering close). */
export const LINGER_MS = 2_000;
/**
 * A listener sweeps its connections when their earliest deadline comes, but never sooner than this
 * after scheduling: deadlines fire up to this late, and nearby ones are taken in one sweep.
 */
export const SWEEP_MS = 100;
/** After accept fails with EMFILE/ENFILE, try again this soon even if no connection closes. */
const ACCEPT_RETRY_MS = 100;

/**
 * Native memory queued with writeExternal(): sent without copying, and handed back through sent()
 * once every byte of it has been sent or the connection has dropped it (after any SEND reading it
 * completed). The file-serving layer uses it for READ buffers.
 */
export interface SendHold {
  sent(): void;
}

/**
 * Bytes waiting in a pipe (writePipe()): moved into the socket by SPLICE, so file pages go out
 * without a copy through user memory. `pipeFd` is the pipe's read end, open until sent(). sent()
 * as for SendHold: every byte spliced, or dropped with the connection.
 */
export interface PipeHold extends SendHold {
  readonly pipeFd: number;
}

export interface ConnectionHandler {
  /** Bytes received; `buf` is borrowed: valid only during the call. */
  onData(c: Connection, buf: Uint8Array, start: number, end: number): void;
  /** The queue of outgoing bytes emptied after having been over the high-water mark. */
  onDrain?(c: Connection): void;
  /** The peer finished sending (FIN). Return true to keep the connection open for writing. */
  onEnd?(c: Connection): boolean | void;
  /** The connection's deadline passed; default: close with ETIMEDOUT. */
  onTimeout?(c: Connection): void;
  /**
   * Bytes that arrived into recvInto()'s view since the last report: `complete` once the range is
   * full (normal reading then resumes), else progress of a RECV cut short (probeInto, a signal).
   */
  onReceivedInto?(c: Connection, n: number, complete: boolean): void;
  /** Always last, exactly once; `error` is null for an orderly close. */
  onClose(c: Connection, error: Error | null): void;
}

/** Segment pointer of a pipe's bytes (no address: a real one is never 0). */
const PIPE_SEG = 0;

/**
 * A connection's outgoing segments in order, a ring that doubles when full: pointer, length, and
 * what keeps the memory alive (a Chunk the pool gets back, the caller's typed array, a SendHold; a
 * pipe's bytes from writePipe are a segment with pointer PIPE_SEG and a PipeHold).
 */
class SendQueue {
  ptr: Float64Array;
  len: Float64Array;
  hold: (Chunk | Uint8Array | SendHold | null)[];
  head = 0;
  count = 0;
  /** Bytes queued and not yet acknowledged by a SEND completion (Connection.queued). */
  queued = 0;
  /** Bytes of the queued segments that were copied into chunks (bounded by maxQueuedBytes). */
  copied = 0;
  /** reactor.now when the SEND in flight was submitted; 0 when none is (Connection.sendSince). */
  since = 0;
  /** Bytes in the SEND or SPLICE in flight. */
  inflight = 0;
  /** SPLICEs in a row that moved nothing (EAGAIN) although POLL said the socket had room. */
  stalls = 0;
  constructor(size: number) {
    this.ptr = new Float64Array(size);
    this.len = new Float64Array(size);
    this.hold = new Array(size).fill(null);
  }

  /** Empty it: no segments, counts back to 0 (its holds must already be null). */
  clear(): void {
    this.head = this.count = this.queued = this.copied = this.since = this.inflight = this.stalls = 0;
  }

  /** Full: twice the room, the segments from index 0 on. A grown queue stays with its connection. */
  grow(): void {
    const n = this.ptr.length, m = n * 2;
    const p = new Float64Array(m), l = new Float64Array(m), h: (Chunk | Uint8Array | SendHold | null)[] = new Array(m).fill(null);
    for (let k = 0; k < n; k++) {
      const i = (this.head + k) & (n - 1);
      p[k] = this.ptr[i]!;
      l[k] = this.len[i]!;
      h[k] = this.hold[i]!;
    }
    this.ptr = p;
    this.len = l;
    this.hold = h;
    this.head = 0;
  }
}

/** The queue of a connection with nothing queued: empty and shared, so frozen (a write would throw). */
const NO_QUEUE = Object.freeze(new SendQueue(0));

// Queues of the first size (SEG_RING_MIN) that emptied: a connection holds one only while it has
// bytes queued, so an idle keep-alive connection holds none (~300 bytes with its arrays).
// Bound: SEG_POOL_MAX queues per thread; past it an emptied one is dropped for the GC.
const SEG_RING_MIN = 4;
const SEG_POOL_MAX = 1024;
const queuePool: SendQueue[] = [];

// Connection state bits.
const OPEN = 1, READ_EOF = 2, CLOSING = 4, CLOSED = 8, WANT_DRAIN = 16, END_AFTER_FLUSH = 32, SHUT = 64,
  FLUSH_QUEUED = 128, PAUSED = 256, SPLICING = 512, NONBLOCKING = 1024, INTO = 2048, LOWAT = 4096,
  WANT_LARGE = 8192, RECV_LARGE = 16384, CLOSE_ONCE_SENT = 32768,
  // The CLOSE was submitted; its CQE came.
  CLOSE_SUBMITTED = 65536, CLOSE_DONE = 131072;

/**
 * What a RECV into a view (a large body) waits for before it completes, or the rest of the range
 * when less (SO_RCVLOWAT): a wake-up and a CQE per MiB, not per arriving segment. Measured, 4 MiB
 * POSTs on one connection: one MSG_WAITALL RECV woke the loop ~16 times a body (750 req/s); this,
 * ~2.5 (980 req/s, as Bun.serve). Set per RECV, back to 1 when the range is full.
 */
const RECV_INTO_STEP = 1 << 20;

/** A recvInto() in progress: the view, the next byte the kernel writes, the range's end, what was reported. */
class RecvInto {
  reported: number;
  constructor(readonly view: Uint8Array, public pos: number, readonly end: number) {
    this.reported = pos;
  }
}

/** A SEND (or the POLL for room) that failed: cancelled means its LINK_TIMEOUT, the send deadline. */
function sendError(res: number): Error {
  return res === -ECANCELED ? errorFromResult(-ETIME, "send", "send deadline passed") : errorFromResult(res, "send");
}

/** Send limits, shared by a listener's connections until one is given its own (Connection setters). */
export interface SendLimits {
  /** Deadline for a SEND that cannot complete (client stopped reading); 0 = none. */
  sendTimeoutMs: number;
  /** Bound on copied bytes queued for sending; writing past it fails the connection. */
  maxQueuedBytes: number;
  /** Queued bytes above which needsDrain is true and a SEND carries its own LINK_TIMEOUT. */
  highWaterMark: number;
}

export const DEFAULT_SEND_LIMITS: Readonly<SendLimits> = Object.freeze({
  sendTimeoutMs: DEFAULT_SEND_TIMEOUT_MS, maxQueuedBytes: 16 * 1024 * 1024, highWaterMark: 256 * 1024,
});

/** What few connections need: made on first use (a peer address asked for, a large body, a close with an error). */
class ConnectionRare {
  /** Send limits of its own (a setter was used), else the listener's. */
  limits: SendLimits | null = null;
  peer: SocketAddress | null | undefined = undefined;
  /** recvInto()'s range while one is being received. */
  into: RecvInto | null = null;
  closeError: Error | null = null;
}

// Per-connection state is what an idle keep-alive connection costs, so this class keeps it small:
// its fields are declared (`declare`) and assigned in the constructor, which JSC lays out inline in
// the object. Measured on Bun 1.3: 12 such fields take 112 bytes, 13-18 take 160; as class fields
// (`x = 0`, `#x = 0`), 16 took 192-224. State that few connections need is in `rare`; the send
// queue (with the queued-byte count and the send's start) is pooled and held only while bytes are
// queued.
export class Connection implements Completer {
  declare readonly fd: number;
  declare readonly reactor: Reactor;
  declare readonly listener: Listener | null;
  declare handler: ConnectionHandler;
  /** OPEN, READ_EOF, ... bits. */
  declare state: number;
  // Linked-list membership in the listener's set of connections (no Set allocation per connection).
  declare next: Connection | null;
  declare prev: Connection | null;
  private declare deadlineAt: number;
  private declare recvOp: number;
  private declare sendOp: number;
  private declare q: SendQueue;
  private declare rare: ConnectionRare | null;

  constructor(reactor: Reactor, fd: number, handler: ConnectionHandler, listener: Listener | null) {
    this.fd = fd;
    this.reactor = reactor;
    this.listener = listener;
    this.handler = handler;
    this.state = OPEN;
    this.next = null;
    this.prev = null;
    this.deadlineAt = 0;
    this.recvOp = 0;
    this.sendOp = 0;
    this.q = NO_QUEUE;
    this.rare = null;
  }

  /** ms timestamp (performance.now()) after which onTimeout runs; 0 = none. */
  get deadline(): number {
    return this.deadlineAt;
  }
  set deadline(at: number) {
    this.deadlineAt = at;
    if (at !== 0) this.listener?.sweepBy(at);
  }

  /** Bytes queued and not yet acknowledged by a SEND completion. */
  get queued(): number {
    return this.q.queued;
  }
  /** reactor.now when the SEND in flight was submitted; 0 when none is. */
  get sendSince(): number {
    return this.q.since;
  }

  get #limits(): Readonly<SendLimits> {
    return this.rare?.limits ?? this.listener?.sendLimits ?? DEFAULT_SEND_LIMITS;
  }
  get sendTimeoutMs(): number {
    return this.#limits.sendTimeoutMs;
  }
  set sendTimeoutMs(ms: number) {
    this.#ownLimits().sendTimeoutMs = ms;
  }
  get maxQueuedBytes(): number {
    return this.#limits.maxQueuedBytes;
  }
  set maxQueuedBytes(n: number) {
    this.#ownLimits().maxQueuedBytes = n;
  }
  get highWaterMark(): number {
    return this.#limits.highWaterMark;
  }
  set highWaterMark(n: number) {
    this.#ownLimits().highWaterMark = n;
  }
  #ownLimits(): SendLimits {
    const rare = this.#rare();
    return (rare.limits ??= { ...this.#limits });
  }

  #rare(): ConnectionRare {
    return (this.rare ??= new ConnectionRare());
  }

  get open(): boolean {
    return (this.state & (CLOSING | CLOSED)) === 0;
  }
  get closed(): boolean {
    return (this.state & CLOSED) !== 0;
  }
  get readEnded(): boolean {
    return (this.state & READ_EOF) !== 0;
  }

  /** The peer's address (getpeername, once, on first use). */
  get remoteAddress(): SocketAddress | null {
    // Once the CLOSE is submitted the fd number may already name another socket: no lookup then.
    const rare = this.#rare();
    if (rare.peer === undefined) rare.peer = this.state & (CLOSING | CLOSED) ? null : peerAddress(this.fd);
    return rare.peer;
  }

  /** Start receiving (multishot RECV on buffer group 0, or 1 for large reads). */
  startReading(): void {
    if (this.recvOp || !this.open || this.state & (READ_EOF | PAUSED)) return;
    if (this.state & INTO) return this.#armInto();
    const r = this.reactor;
    const large = (this.state & WANT_LARGE) !== 0;
    const group = large ? r.largeBuffers : r.buffers; // registered on first use
    const w = r.prepare(this, TAG_RECV, IORING_OP_RECV);
    sqe.prepRecvMultishot(r.ring.sqe, w, this.fd, 0, 0, 0);
    sqe.setSqeFlags(r.ring.sqe, w, IOSQE_BUFFER_SELECT);
    sqe.setBufGroup(r.ring.sqe, w, group.bgid);
    this.recvOp = r.lastOp;
    this.state = large ? this.state | RECV_LARGE : this.state & ~RECV_LARGE; // the group its CQEs name buffers of
  }

  /**
   * Receive into the reactor's 64 KiB buffers (a large body streaming in: 8 times fewer completions
   * and copies) or back into the 8 KiB ones. The armed RECV keeps its group until re-armed.
   */
  setLargeReads(on: boolean): void {
    if (((this.state & WANT_LARGE) !== 0) === on) return;
    this.state ^= WANT_LARGE;
    // Paused, the RECV is being cancelled already; its last CQE re-arms (startReading).
    if (this.recvOp && !(this.state & (INTO | PAUSED))) this.reactor.cancel(this.recvOp);
  }

  /** The buffer group the armed (or last) multishot RECV takes buffers from. */
  #recvBuffers(): BufferRing {
    return this.state & RECV_LARGE ? this.reactor.largeBuffers : this.reactor.buffers;
  }

  /** Stop delivering data (e.g. a request body nobody reads yet); resume() re-arms. */
  pause(): void {
    if (this.state & PAUSED) return;
    this.state |= PAUSED;
    // A RECV into a view is bounded by its range: let it finish; nothing is read after it.
    if (this.recvOp && !(this.state & INTO)) this.reactor.cancel(this.recvOp);
  }
  resume(): void {
    if (!(this.state & PAUSED)) return;
    this.state &= ~PAUSED;
    this.startReading();
  }

  complete(res: number, flags: number, tag: number): void {
    switch (tag) {
      case TAG_RECV: this.#onRecv(res, flags); break;
      case TAG_SEND: this.#onSend(res); break;
      case TAG_CLOSE: this.#onClosed(res); break;
      case TAG_SPLICE: this.#onSplice(res); break;
      case TAG_WRITABLE: this.#onWritable(res); break;
      case TAG_RECV_INTO: this.#onRecvInto(res); break;
    }
    // After close() the RECV and SEND complete with -ECANCELED; the last one finishes the close.
    if (this.state & CLOSING) this.#maybeFinish();
  }

  #onRecv(res: number, flags: number): void {
    const more = (flags & IORING_CQE_F_MORE) !== 0;
    if (!more) this.recvOp = 0;
    if (res > 0) {
      const bufs = this.#recvBuffers();
      const bid = flags >>> IORING_CQE_BUFFER_SHIFT;
      bufs.out++;
      this.state &= ~CLOSE_ONCE_SENT; // the peer is still sending: close in stages after all (end())
      try {
        if (this.open) {
          const at = bid * bufs.bufferSize;
          if (this.state & SHUT) this.#lingerBytes(res);
          else if (this.state & INTO) this.#copyInto(bufs.data.u8, at, at + res);
          else this.handler.onData(this, bufs.data.u8, at, at + res);
        }
      } finally {
        bufs.recycle(bid);
      }
      if (!more) this.startReading();
      return;
    }
    if (flags & IORING_CQE_F_BUFFER) this.#recvBuffers().recycle(flags >>> IORING_CQE_BUFFER_SHIFT);
    if (res === 0) return this.#onEof();
    if (res === -ENOBUFS) {
      // The ring ran dry: not a disconnect. Buffers go back as this batch's data callbacks finish,
      // and more join the ring while it has fewer than its count (BufferRing.grow).
      this.reactor.stats.bufferMisses++;
      this.#recvBuffers().grow();
      if (!more) this.startReading();
      return;
    }
    if (res === -ECANCELED || res === -EINTR || res === -EAGAIN) {
      if (!more && this.open) this.startReading(); // paused, or a spurious cancel
      return;
    }
    if (this.open) this.#fail(errorFromResult(res, "recv"));
  }

  // ---- receiving into a view -----------------------------------------------------------------

  /**
   * Receive the next end - start bytes straight into view[start, end), for a large body read whole:
   * RECVs into the caller's memory of a MiB or more each (RECV_INTO_STEP) instead of a CQE and a
   * copy per provided buffer (a 4 MiB upload: 512 of each). The multishot RECV is cancelled first;
   * bytes it still delivers go into the view too, and what comes after the range goes to onData.
   * onReceivedInto reports the bytes; reading goes back to the multishot RECV once the range is
   * full. `view` must not be a small typed array (its storage may move: DESIGN.md); the reactor
   * holds it until the RECV's CQE. False (nothing changed) when the connection can't.
   */
  recvInto(view: Uint8Array, start: number, end: number): boolean {
    if (!this.open || this.state & (READ_EOF | INTO | SHUT) || end <= start) return false;
    void view.buffer; // materialise the storage before taking its address
    this.#rare().into = new RecvInto(view, start, end);
    this.state |= INTO;
    if (this.recvOp) this.reactor.cancel(this.recvOp); // its final CQE arms the RECV (startReading)
    else this.startReading();
    return true;
  }

  /** While receiving into a view: cut the RECV short to learn its progress (onReceivedInto, complete false). */
  probeInto(): boolean {
    if (!(this.state & INTO) || !this.recvOp) return false;
    // Bytes below the low-water mark wait in the socket, not in the view: when some came, lower the
    // mark so the RECV completes with them, rather than cut it short with nothing to show.
    if (this.state & LOWAT && bytesQueued(this.fd) > 0 && setReceiveLowWater(this.fd, 1) === 0) {
      this.state &= ~LOWAT;
      return true;
    }
    this.reactor.cancel(this.recvOp);
    return true;
  }

  #armInto(): void {
    const r = this.reactor;
    const into = this.rare!.into!;
    const left = into.end - into.pos;
    // Not MSG_WAITALL: the low-water mark does the batching, and it never exceeds what is left, or
    // the range's last bytes would never wake the RECV. If it can't be set, a RECV per arrival.
    if (setReceiveLowWater(this.fd, Math.min(left, RECV_INTO_STEP)) === 0) this.state |= LOWAT;
    const w = r.prepare(this, TAG_RECV_INTO, IORING_OP_RECV);
    sqe.prepRecv(r.ring.sqe, w, this.fd, ptrOf(into.view) + into.pos, left, 0);
    this.recvOp = r.lastOp;
    r.hold(this.recvOp, into.view);
  }

  /** Bytes of the multishot RECV that arrived after recvInto(): the range's first, the rest as data. */
  #copyInto(buf: Uint8Array, start: number, end: number): void {
    const into = this.rare!.into!;
    const n = Math.min(end - start, into.end - into.pos);
    into.view.set(buf.subarray(start, start + n), into.pos);
    into.pos += n;
    if (into.pos === into.end) this.#reportInto(true);
    if (start + n < end && this.open) this.handler.onData(this, buf, start + n, end);
  }

  #onRecvInto(res: number): void {
    this.recvOp = 0;
    const into = this.rare?.into ?? null;
    if (!this.open || !(this.state & INTO) || into === null) return;
    if (res > 0) into.pos += res;
    if (into.pos === into.end) {
      this.#reportInto(true);
      return this.startReading();
    }
    if (res === 0) {
      this.#reportInto(false);
      return this.#onEof(); // the peer finished before the range did
    }
    if (res < 0 && res !== -ECANCELED && res !== -EINTR && res !== -EAGAIN) return this.#fail(errorFromResult(res, "recv"));
    this.#reportInto(false);
    this.startReading(); // the rest of the range (unless paused or closed meanwhile)
  }

  #reportInto(complete: boolean): void {
    const into = this.rare!.into!;
    const n = into.pos - into.reported;
    into.reported = into.pos;
    if (complete) {
      // Before the multishot RECV is armed again: a mark left set would hold back the next request.
      if (this.state & LOWAT) setReceiveLowWater(this.fd, 1);
      this.state &= ~(INTO | LOWAT);
      this.rare!.into = null;
    }
    this.handler.onReceivedInto?.(this, n, complete);
  }

  #onEof(): void {
    this.state |= READ_EOF;
    this.state &= ~(INTO | LOWAT);
    if (this.rare) this.rare.into = null;
    if (!this.open) return;
    if (this.state & SHUT) return this.close();
    const keep = this.handler.onEnd?.(this);
    if (keep !== true) this.end();
  }

  #lingerBytes(_n: number): void {
    // After shutdown(SHUT_WR) we read and drop whatever the peer still sends, until its FIN.
  }

  // ---- sending ------------------------------------------------------------------------------

  #pushSeg(ptr: number, len: number, hold: Chunk | Uint8Array | SendHold | null): void {
    if (this.q.count === this.q.ptr.length) this.#growSegs();
    const i = (this.q.head + this.q.count) & (this.q.ptr.length - 1);
    this.q.ptr[i] = ptr;
    this.q.len[i] = len;
    this.q.hold[i] = hold;
    this.q.count++;
  }

  #growSegs(): void {
    if (this.q === NO_QUEUE) {
      this.q = queuePool.pop() ?? new SendQueue(SEG_RING_MIN);
      return;
    }
    this.q.grow();
  }

  /** The chunk at the queue's end with room, or a fresh one. */
  #tailChunk(): Chunk | null {
    if (this.q.count) {
      const i = (this.q.head + this.q.count - 1) & (this.q.ptr.length - 1);
      const h = this.q.hold[i];
      if (h instanceof Chunk && h.w < CHUNK_SIZE && this.q.ptr[i]! + this.q.len[i]! === h.ptr + h.w) return h;
    }
    const c = this.reactor.chunks.take();
    if (!c) return null;
    this.#pushSeg(c.ptr, 0, c);
    return c;
  }

  /** Grow the last segment by n bytes just written into chunk c. */
  #commit(c: Chunk, n: number): void {
    c.w += n;
    const i = (this.q.head + this.q.count - 1) & (this.q.ptr.length - 1);
    this.q.len[i]! += n;
    this.q.queued += n;
    this.q.copied += n;
  }

  /**
   * Queue bytes for sending; they leave with the next flush (once per loop iteration, so writes
   * made in one batch share a SEND). Returns false when the connection is closed or the queue is
   * over its bound (the connection is then failed).
   */
  write(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
    if (!this.open || this.state & (END_AFTER_FLUSH | SHUT)) return false;
    let len = end - start;
    if (len <= 0) return true;
    if (len >= ZERO_COPY_MIN) {
      void bytes.buffer; // materialise the storage before taking its address (DESIGN.md: pointer stability)
      this.#pushSeg(ptrOf(bytes) + start, len, bytes);
      this.q.queued += len;
      this.#scheduleFlush();
      return true;
    }
    if (this.#queueFull(len)) return false;
    while (len > 0) {
      const c = this.#tailChunk();
      if (!c) return this.#poolExhausted();
      const n = Math.min(len, CHUNK_SIZE - c.w);
      c.u8.set(start === 0 && n === bytes.length ? bytes : bytes.subarray(start, start + n), c.w);
      this.#commit(c, n);
      start += n;
      len -= n;
    }
    this.#scheduleFlush();
    return true;
  }

  /**
   * Queue `len` bytes of native memory at `ptr` without copying; `hold.sent()` runs once they are
   * sent or dropped. Returns false (and keeps nothing: the caller still owns the memory) when the
   * connection no longer sends.
   */
  writeExternal(ptr: number, len: number, hold: SendHold): boolean {
    if (!this.open || this.state & (END_AFTER_FLUSH | SHUT)) return false;
    if (len <= 0) {
      hold.sent();
      return true;
    }
    this.#pushSeg(ptr, len, hold);
    this.q.queued += len;
    this.#scheduleFlush();
    return true;
  }

  /**
   * Queue `len` bytes that wait in a pipe; they follow what is queued before them. Returns false
   * (and keeps nothing) when the connection no longer sends.
   */
  writePipe(len: number, hold: PipeHold): boolean {
    if (!this.open || this.state & (END_AFTER_FLUSH | SHUT)) return false;
    this.#pushSeg(PIPE_SEG, len, hold);
    this.q.queued += len;
    this.#scheduleFlush();
    return true;
  }

  /** Whether `len` more copied bytes would pass maxQueuedBytes; if so the connection is failed. */
  #queueFull(len: number): boolean {
    if (this.q.copied + len <= this.maxQueuedBytes) return false;
    this.#fail(Object.assign(new Error(`more than ${this.maxQueuedBytes} bytes queued for sending`), { code: "ERR_SOCKET_QUEUE_FULL" }));
    return true;
  }

  /** Queue a string as Latin-1 bytes (HTTP heads): no intermediate allocation. */
  writeLatin1(s: string): boolean {
    if (!this.open || this.state & (END_AFTER_FLUSH | SHUT)) return false;
    const len = s.length;
    if (len === 0) return true;
    if (len > CHUNK_SIZE) return this.write(Buffer.from(s, "latin1"));
    const c = this.#chunkWithRoom(len);
    if (!c) return false;
    this.#commit(c, c.u8.latin1Write(s, c.w, len));
    this.#scheduleFlush();
    return true;
  }

  /** Queue a string as UTF-8: into a chunk when it surely fits (3 bytes a UTF-16 unit at most), else by way of a Buffer. */
  writeUtf8(s: string): boolean {
    if (!this.open || this.state & (END_AFTER_FLUSH | SHUT)) return false;
    const most = s.length * 3;
    if (most === 0) return true;
    if (most > CHUNK_SIZE) return this.write(Buffer.from(s, "utf8"));
    const c = this.#chunkWithRoom(most);
    if (!c) return false;
    this.#commit(c, c.u8.utf8Write(s, c.w));
    this.#scheduleFlush();
    return true;
  }

  /**
   * Room for `n` (<= CHUNK_SIZE) bytes at the queue's end, for a caller that encodes in place (a
   * framing line around a body chunk) instead of building a string: it writes `c.u8` from `c.w` on,
   * then calls commit(c, written). Null when the connection no longer sends (or was failed: past
   * maxQueuedBytes, pool exhausted).
   */
  reserve(n: number): Chunk | null {
    if (!this.open || this.state & (END_AFTER_FLUSH | SHUT)) return null;
    return this.#chunkWithRoom(n);
  }

  /** Queue the `n` bytes written in place after reserve() returned `c` (nothing queued in between). */
  commit(c: Chunk, n: number): void {
    this.#commit(c, n);
    this.#scheduleFlush();
  }

  /**
   * A chunk with `n` (<= CHUNK_SIZE) bytes of room at the queue's end: the tail, or a fresh one.
   * Null, with the connection failed, past maxQueuedBytes or when the pool is exhausted.
   */
  #chunkWithRoom(n: number): Chunk | null {
    if (this.#queueFull(n)) return null;
    let c = this.#tailChunk();
    if (c && CHUNK_SIZE - c.w < n) c = this.#freshChunk();
    if (!c) this.#poolExhausted();
    return c;
  }

  #freshChunk(): Chunk | null {
    const c = this.reactor.chunks.take();
    if (c) this.#pushSeg(c.ptr, 0, c);
    return c;
  }

  #poolExhausted(): boolean {
    this.#fail(Object.assign(new Error("send memory pool exhausted"), { code: "ERR_SEND_POOL_EXHAUSTED" }));
    return false;
  }

  #scheduleFlush(): void {
    if (this.state & FLUSH_QUEUED || this.sendOp) return;
    this.state |= FLUSH_QUEUED;
    this.reactor.deferFlush(this);
  }

  /** Called by the reactor just before it enters the kernel: one SEND for everything queued. */
  flush(): void {
    this.state &= ~FLUSH_QUEUED;
    if (this.sendOp || this.state & (CLOSING | CLOSED)) return;
    if (this.q.count === 0) return this.#afterFlushed();
    if (this.q.ptr[this.q.head] === PIPE_SEG) return this.#splice();
    const r = this.reactor;
    const mask = this.q.ptr.length - 1;
    const most = Math.min(this.q.count, MAX_IOV);
    let nseg = 0;
    let total = 0;
    for (; nseg < most; nseg++) {
      const i = (this.q.head + nseg) & mask;
      if (this.q.ptr[i] === PIPE_SEG) break; // sent once the bytes before it are
      total += this.q.len[i]!;
    }
    const w = r.prepare(this, TAG_SEND, IORING_OP_SEND);
    this.sendOp = r.lastOp;
    r.quickCqes++;
    if (nseg === 1) {
      sqe.prepSend(r.ring.sqe, w, this.fd, this.q.ptr[this.q.head]!, total, MSG_NOSIGNAL | MSG_WAITALL);
    } else {
      // struct msghdr (56 bytes) then the iovecs, in the op's scratch.
      const base = r.scratchOffset(this.sendOp);
      const u32 = r.scratch.u32;
      r.scratch.u8.fill(0, base, base + 56);
      const iovPtr = r.scratch.ptr + base + 56;
      writePtr(u32, (base + 16) >>> 2, iovPtr);
      u32[(base + 24) >>> 2] = nseg;
      for (let k = 0; k < nseg; k++) {
        const i = (this.q.head + k) & mask;
        const iw = (base + 56 + k * 16) >>> 2;
        writePtr(u32, iw, this.q.ptr[i]!);
        writePtr(u32, iw + 2, this.q.len[i]!);
      }
      sqe.prepSendmsg(r.ring.sqe, w, this.fd, r.scratch.ptr + base, MSG_NOSIGNAL | MSG_WAITALL);
    }
    this.q.inflight = total;
    // A SEND that cannot complete means the peer stopped reading: cut it after sendTimeoutMs. Past
    // the high-water mark (a long transfer) a LINK_TIMEOUT rides with the SEND. Below it, on a
    // listener's connection, the listener's sweep cuts a SEND pending that long (sendSince): a
    // LINK_TIMEOUT per response arms and cancels a kernel timer each time (a timer reprogram, a VM
    // exit here), and the sweep also covers small SENDs when idleTimeout is 0.
    const limits = this.#limits;
    if (limits.sendTimeoutMs > 0 && (this.q.queued > limits.highWaterMark || (this.listener === null && total > 65536))) {
      r.linkTimeout(w, limits.sendTimeoutMs, null);
    }
    this.#sendPending(r.now); // after the link: it may queue the sweep's TIMEOUT
  }

  /**
   * A send from `now` on: a listener's sweep cuts it after sendTimeoutMs (see flush). It may queue an
   * SQE (the sweep's TIMEOUT), so never between an op and its LINK_TIMEOUT.
   */
  #sendPending(now: number): void {
    this.q.since = now;
    if (this.sendTimeoutMs > 0) this.listener?.sweepBy(now + this.sendTimeoutMs);
  }
  /**
   * The queue starts with a pipe's bytes: SPLICE them into the socket. The socket is made
   * non-blocking first: SPLICE always runs in an io-wq worker, and on a blocking socket a client
   * that stops reading would hold that kernel thread until the deadline; non-blocking, a full
   * socket ends the SPLICE short (or with EAGAIN) and a POLL_ADD waits for room instead.
   */
  #splice(): void {
    const r = this.reactor;
    if (!(this.state & NONBLOCKING)) {
      this.state |= NONBLOCKING;
      libc.fcntl(this.fd, F_SETFL, O_NONBLOCK); // a socket's only other status flag is O_RDWR, not settable
    }
    const hold = this.q.hold[this.q.head] as PipeHold;
    const len = this.q.len[this.q.head]!;
    const w = r.prepare(this, TAG_SPLICE, IORING_OP_SPLICE);
    sqe.prepSplice(r.ring.sqe, w, hold.pipeFd, -1, this.fd, -1, len, SPLICE_F_NONBLOCK);
    this.sendOp = r.lastOp;
    this.q.inflight = len;
    this.state |= SPLICING;
    this.#sendPending(r.now);
  }

  #onSplice(res: number): void {
    this.sendOp = 0;
    this.state &= ~SPLICING;
    if (this.state & CLOSING) return this.#closeWhenDeferred(); // complete() then sees whether the close is finished
    if (res < 0 && res !== -EAGAIN) {
      this.q.since = 0;
      if (this.open) this.#fail(errorFromResult(res, "splice"));
      return;
    }
    if (res > 0) {
      this.q.since = 0;
      this.q.stalls = 0;
      this.#consume(res);
    } else if (res === 0 || ++this.q.stalls > 2) {
      // The pipe holds fewer bytes than were queued (its owner's bug), or the socket keeps saying
      // it has room and takes nothing: end it rather than spin between POLL and SPLICE.
      if (this.open) this.#fail(errorFromResult(res === 0 ? -EPIPE : -EAGAIN, "splice", "no progress"));
      return;
    }
    // Short or EAGAIN: the socket's buffer is full; send on when it has room.
    if (res < this.q.inflight) return this.#waitWritable();
    this.#sendRest();
  }

  #waitWritable(): void {
    const r = this.reactor;
    const w = r.prepare(this, TAG_WRITABLE, IORING_OP_POLL_ADD);
    sqe.prepPollAdd(r.ring.sqe, w, this.fd, POLLOUT);
    this.sendOp = r.lastOp;
    this.q.inflight = 0;
    // A client that stops reading: cut after sendTimeoutMs without room (the listener's sweep, or here).
    if (this.sendTimeoutMs > 0 && this.listener === null) r.linkTimeout(w, this.sendTimeoutMs, null);
    if (this.q.since === 0) this.#sendPending(r.now); // after the link: it may queue the sweep's TIMEOUT
  }

  #onWritable(res: number): void {
    this.sendOp = 0;
    if (this.state & CLOSING) return;
    if (res < 0) {
      this.q.since = 0;
      if (this.open) this.#fail(sendError(res));
      return;
    }
    this.flush();
  }

  #onSend(res: number): void {
    this.sendOp = 0;
    this.q.since = 0;
    if (res < 0) {
      if (this.open) this.#fail(sendError(res));
      else this.#maybeFinish();
      return;
    }
    this.#consume(res);
    if (this.state & CLOSING) return this.#maybeFinish();
    this.#sendRest();
  }

  /**
   * After a SEND or SPLICE: more than one's worth may have been queued (MAX_IOV segments, a pipe's
   * bytes after copied ones): the rest goes out now, and a writer waiting for drain may go on once
   * what is left is under the high-water mark. Drain used to wait for the whole queue, so a peer that
   * stopped reading left the writer stalled with less than the mark queued (tcp.test.ts, backpressure).
   */
  #sendRest(): void {
    if (this.q.count) this.flush();
    else this.#releaseSegs();
    this.#afterFlushed();
  }

  /**
   * An empty ring of the first size goes back to the pool (its holds are all null once consumed),
   * or to the GC when the pool is full: an idle connection keeps none. A grown ring stays with its
   * connection, which has queued that much before.
   */
  #releaseSegs(): void {
    const q = this.q;
    if (q.count !== 0 || q.ptr.length !== SEG_RING_MIN) return;
    q.clear();
    if (queuePool.length < SEG_POOL_MAX) queuePool.push(q);
    this.q = NO_QUEUE;
  }

  /** Drop `n` sent bytes from the front of the queue; chunks go back to the pool. */
  #consume(n: number): void {
    if (n <= 0) return;
    const mask = this.q.ptr.length - 1;
    this.q.queued -= n;
    while (n > 0 && this.q.count) {
      const i = this.q.head;
      const len = this.q.len[i]!;
      const hold = this.q.hold[i]!;
      if (n < len) {
        if (this.q.ptr[i] !== PIPE_SEG) this.q.ptr[i]! += n;
        this.q.len[i] = len - n;
        if (hold instanceof Chunk) this.q.copied -= n;
        return;
      }
      n -= len;
      if (hold instanceof Chunk) {
        this.q.copied -= len;
        // The chunk may still be the tail being written into: only recycle when fully sent.
        if (this.q.ptr[i]! + len === hold.ptr + hold.w) this.reactor.chunks.give(hold);
      } else if (hold !== null && !(hold instanceof Uint8Array)) {
        hold.sent();
      }
      this.q.hold[i] = null;
      this.q.head = (i + 1) & mask;
      this.q.count--;
    }
  }

  /** Drain when queued bytes are under the mark; the write side's shutdown once nothing is queued. */
  #afterFlushed(): void {
    if (this.state & WANT_DRAIN && this.queued <= this.highWaterMark) {
      this.state &= ~WANT_DRAIN;
      this.handler.onDrain?.(this);
    }
    if (this.q.count === 0 && this.state & END_AFTER_FLUSH && !(this.state & SHUT) && this.open) this.#endSent();
  }

  /** True when queued bytes are over the high-water mark: wait for onDrain before writing more. */
  get needsDrain(): boolean {
    const queued = this.q.queued;
    if (queued !== 0 && queued > this.#limits.highWaterMark) {
      this.state |= WANT_DRAIN;
      return true;
    }
    return false;
  }

  // ---- closing ------------------------------------------------------------------------------

  /**
   * Send what is queued, then half-close, then close when the peer finishes (lingering close: a
   * close with unread bytes would reset the connection, and a reset can erase the last response
   * before the peer reads it, RFC 9112 §9.6). `closeOnceSent`: the peer said it sends nothing more
   * and nothing more came (HTTP's Connection: close): close as soon as everything is sent, as nginx
   * does when it sees no reason to linger; a byte received before then brings the lingering back.
   */
  end(closeOnceSent = false): void {
    if (!this.open || this.state & END_AFTER_FLUSH) return;
    this.state |= END_AFTER_FLUSH;
    if (closeOnceSent) this.state |= CLOSE_ONCE_SENT;
    if (this.q.count === 0 && !this.sendOp) this.#endSent();
  }

  /** Everything queued before end() is sent. */
  #endSent(): void {
    if (this.state & CLOSE_ONCE_SENT) this.close();
    else this.#shutdownWrite();
  }

  #shutdownWrite(): void {
    this.state |= SHUT;
    if (this.state & READ_EOF) return this.close();
    if (shutdownWrite(this.fd) !== 0) return this.close(); // the peer reset it meanwhile: nothing to linger for
    this.deadline = performance.now() + LINGER_MS;
    this.startReading();
  }

  /** Close now: cancel what is in flight, drop what is queued. onClose follows, once. */
  close(error: Error | null = null): void {
    if (this.state & (CLOSING | CLOSED)) return;
    this.state |= CLOSING;
    if (error !== null) this.#rare().closeError = error;
    // SPLICE runs in io-wq and looks the socket up only there: a CLOSE that ran first would free the
    // fd number, and the SPLICE would then write into whatever socket got that number next (the same
    // hazard an IORING_OP_SHUTDOWN had, found by the differential fuzzer: fresh connections got EPIPE
    // on their first write, ~1 in 1000 under load; shutdown is now a plain call, sockopt.ts). A
    // SPLICE never blocks (non-blocking socket), so the CLOSE waits for it (#onSplice).
    this.#closeWhenDeferred();
  }

  /** Closing: submit the CLOSE unless it was submitted or an io-wq op still has to look the fd up. */
  #closeWhenDeferred(): void {
    if (this.state & (CLOSE_SUBMITTED | SPLICING)) return;
    this.#submitClose();
  }

  #submitClose(): void {
    const r = this.reactor;
    // Cancel the ops still in flight on the fd, then close it, hard-linked so the close runs whatever
    // the cancels found. By user_data, a hash lookup each: a cancel by fd looks through every armed
    // poll of the ring (all the other connections' RECVs), which made each close cost O(connections):
    // 105 against 40 µs a request under `ab` without keep-alive, 5 000 idle connections open. Usually
    // nothing is in flight (the peer's FIN ended the RECV).
    r.reserveSqes(3);
    if (this.recvOp && r.cancel(this.recvOp)) sqe.setSqeFlags(r.ring.sqe, r.lastSqe, IOSQE_IO_HARDLINK);
    if (this.sendOp && r.cancel(this.sendOp)) sqe.setSqeFlags(r.ring.sqe, r.lastSqe, IOSQE_IO_HARDLINK);
    const w = r.prepare(this, TAG_CLOSE, IORING_OP_CLOSE);
    sqe.prepClose(r.ring.sqe, w, this.fd);
    this.state |= CLOSE_SUBMITTED;
  }

  #fail(error: Error): void {
    this.close(error);
  }

  #onClosed(_res: number): void {
    this.state |= CLOSE_DONE;
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (!(this.state & CLOSE_DONE) || this.recvOp || this.sendOp || this.state & CLOSED) return;
    this.state = (this.state | CLOSED) & ~CLOSING;
    this.#consume(this.queued);
    const q = this.q;
    if (q !== NO_QUEUE) {
      for (let k = 0; k < q.hold.length; k++) {
        const h = q.hold[k];
        if (h instanceof Chunk) this.reactor.chunks.give(h);
        else if (h !== null && !(h instanceof Uint8Array)) h.sent();
        q.hold[k] = null;
      }
      q.clear();
      this.#releaseSegs();
    }
    this.listener?.remove(this);
    this.handler.onClose(this, this.rare?.closeError ?? null);
  }
}

export interface ListenerOptions {
  hostname?: string;
  port?: number;
  reusePort?: boolean;
  /** On an IPv6 address ("::"), IPv6 clients only; by default IPv4 ones too. */
  ipv6Only?: boolean;
  backlog?: number;
  /** Maximum simultaneous connections; accept pauses at the bound. */
  maxConnections?: number;
  /** Its connections' send limits (each may be given its own later); DEFAULT_SEND_LIMITS otherwise. */
  sendLimits?: Partial<SendLimits>;
}

export interface ListenerHandler {
  /** A new connection: return its handler (and set c.data etc.). */
  onAccept(c: Connection): ConnectionHandler;
  onError?(error: Error): void;
}

/** A listening TCP socket on the reactor, with the set of its connections. */
export class Listener implements Completer {
  readonly reactor: Reactor;
  readonly fd: number;
  readonly hostname: string;
  readonly port: number;
  readonly address: SocketAddress;
  readonly maxConnections: number;
  /** Shared by its connections (frozen): one object, not three fields in each. */
  readonly sendLimits: Readonly<SendLimits>;
  handler: ListenerHandler;
  connectionCount = 0;
  #head: Connection | null = null;
  #acceptOp = 0;
  #sweepOp = 0;
  /** When the scheduled sweep runs (performance.now() ms); Infinity while none is. */
  #sweepAt = Infinity;
  #retryOp = 0;
  #stopped = false;
  #closedFd = false;
  #refd = true;
  acceptErrors = 0;

  constructor(reactor: Reactor, options: ListenerOptions, handler: ListenerHandler) {
    this.reactor = reactor;
    this.handler = handler;
    const { fd, address } = createListener({
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 0,
      reusePort: options.reusePort,
      backlog: options.backlog,
      ipv6Only: options.ipv6Only,
    });
    this.fd = fd;
    this.address = address;
    this.hostname = options.hostname ?? "0.0.0.0";
    this.port = address.port;
    this.maxConnections = options.maxConnections ?? 1_000_000;
    this.sendLimits = options.sendLimits ? Object.freeze({ ...DEFAULT_SEND_LIMITS, ...options.sendLimits }) : DEFAULT_SEND_LIMITS;
    reactor.driver.ref();
    this.#armAccept();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  #armAccept(): void {
    if (this.#acceptOp || this.#stopped || this.connectionCount >= this.maxConnections) return;
    const r = this.reactor;
    const w = r.prepare(this, TAG_ACCEPT, IORING_OP_ACCEPT, this.#refd);
    sqe.prepMultishotAccept(r.ring.sqe, w, this.fd, 0, 0, SOCK_CLOEXEC);
    this.#acceptOp = r.lastOp;
  }

  complete(res: number, flags: number, tag: number, op: number): void {
    if (tag === TAG_SWEEP) {
      if (op === this.#sweepOp) this.#sweep(); // else one that sweepBy() cancelled for an earlier one
      return;
    }
    if (tag === TAG_ACCEPT_RETRY) {
      this.#retryOp = 0;
      return this.#armAccept();
    }
    if (!(flags & IORING_CQE_F_MORE)) this.#acceptOp = 0;
    if (res >= 0) {
      if (this.#stopped) {
        libc.close(res);
        return;
      }
      this.#onConnection(res);
    } else if (res === -EMFILE || res === -ENFILE || res === -ENOMEM || res === -ENOBUFS) {
      // Out of fds: keep serving the connections we have; accept again when one closes or soon.
      this.acceptErrors++;
      if (!this.#acceptOp) this.#retryLater();
      return;
    } else if (res !== -ECANCELED && res !== -ECONNABORTED && res !== -EINTR && res !== -EAGAIN) {
      this.acceptErrors++;
      this.handler.onError?.(errorFromResult(res, "accept"));
    }
    if (!this.#acceptOp) {
      if (res === -ECONNABORTED || res === -EINTR || res === -EAGAIN) this.#armAccept();
      else if (res !== -ECANCELED) this.#retryLater();
    }
  }

  #retryLater(): void {
    if (this.#retryOp || this.#stopped) return;
    this.#retryOp = this.reactor.timeout(ACCEPT_RETRY_MS, this, TAG_ACCEPT_RETRY, false);
  }

  #onConnection(fd: number): void {
    const c = new Connection(this.reactor, fd, NOOP_HANDLER, this);
    c.next = this.#head;
    if (this.#head) this.#head.prev = c;
    this.#head = c;
    this.connectionCount++;
    let handler: ConnectionHandler;
    try {
      handler = this.handler.onAccept(c);
    } catch (e) {
      c.close(e as Error);
      return;
    }
    c.handler = handler;
    if (c.open) c.startReading();
    if (this.connectionCount >= this.maxConnections && this.#acceptOp) {
      this.reactor.cancel(this.#acceptOp);
    }
  }

  remove(c: Connection): void {
    if (c.prev) c.prev.next = c.next;
    else if (this.#head === c) this.#head = c.next;
    if (c.next) c.next.prev = c.prev;
    c.next = c.prev = null;
    this.connectionCount--;
    if (this.#head === null) this.#cancelSweep(); // no timer outlives the last connection
    // A closed fd may be what a failed accept was waiting for.
    if (!this.#acceptOp && !this.#stopped) this.#armAccept();
    if (this.#stopped && this.connectionCount === 0) this.#allClosed?.();
  }

  #allClosed: (() => void) | null = null;

  /** Connections, newest first. */
  *connections(): IterableIterator<Connection> {
    for (let c = this.#head; c; ) {
      const next = c.next;
      yield c;
      c = next;
    }
  }

  /**
   * A connection's deadline (or send deadline) at `at`: make sure a sweep runs by then, or at most
   * SWEEP_MS later. Sweeping only when something is due keeps an idle server with idle keep-alive
   * connections asleep for their idle timeout, not woken ten times a second.
   */
  sweepBy(at: number): void {
    if (at >= this.#sweepAt || this.#closedFd) return;
    const now = performance.now();
    const fireAt = Math.max(at, now + SWEEP_MS);
    if (fireAt >= this.#sweepAt) return;
    this.#cancelSweep();
    this.#sweepOp = this.reactor.timeout(fireAt - now, this, TAG_SWEEP, false);
    this.#sweepAt = fireAt;
  }

  /** Its CQE, if it still comes, is ignored: complete() only sweeps for the current #sweepOp. */
  #cancelSweep(): void {
    if (this.#sweepOp) this.reactor.cancel(this.#sweepOp);
    this.#sweepOp = 0;
    this.#sweepAt = Infinity;
  }

  #sweep(): void {
    this.#sweepOp = 0;
    this.#sweepAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (let c = this.#head; c; ) {
      const after = c.next;
      if (c.open) {
        const due = c.deadline;
        const sendDue = c.sendSince !== 0 && c.sendTimeoutMs > 0 ? c.sendSince + c.sendTimeoutMs : 0;
        if (due !== 0 && now >= due) {
          c.deadline = 0;
          if (c.state & SHUT) c.close();
          else if (c.handler.onTimeout) c.handler.onTimeout(c);
          else c.close(new SystemError(110, "timeout", "connection deadline passed"));
        } else if (sendDue !== 0 && now >= sendDue) {
          c.close(errorFromResult(-ETIME, "send", "send deadline passed"));
        } else {
          if (due !== 0 && due < next) next = due;
          if (sendDue !== 0 && sendDue < next) next = sendDue;
        }
      }
      c = after;
    }
    if (next !== Infinity) this.sweepBy(next);
  }

  ref(): void {
    if (this.#refd || this.#stopped) return;
    this.#refd = true;
    this.reactor.driver.ref();
    if (this.#acceptOp) this.reactor.setOpRef(this.#acceptOp, true);
  }
  unref(): void {
    if (!this.#refd) return;
    this.#refd = false;
    this.reactor.driver.unref();
    if (this.#acceptOp) this.reactor.setOpRef(this.#acceptOp, false);
  }

  /** Stop accepting and close the listening socket. Existing connections go on (closeAll ends them). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#refd) {
      this.#refd = false;
      this.reactor.driver.unref();
    }
    if (this.#acceptOp) this.reactor.cancel(this.#acceptOp);
    if (this.#retryOp) this.reactor.cancel(this.#retryOp);
    // The listening fd is closed at once so the port is free when stop() returns (Bun does the same).
    // The armed ACCEPT holds its own reference to the socket: submit its cancel first, or the port
    // kept accepting connections (then lost) until the next tick (test/net/tcp.test.ts, stop()).
    this.reactor.submitNow();
    libc.close(this.fd);
    this.#closedFd = this.connectionCount === 0;
  }

  /** Resolves when every connection has closed. */
  whenClosed(): Promise<void> {
    if (this.connectionCount === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = this.#allClosed;
      this.#allClosed = () => {
        prev?.();
        resolve(); // remove() cancelled the sweep with the last connection
      };
    });
  }

  closeAll(error: Error | null = null): void {
    for (const c of this.connections()) c.close(error);
  }
}

const NOOP_HANDLER: ConnectionHandler = { onData() {}, onClose() {} };
