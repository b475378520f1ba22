// One HTTP/1.1 connection: bytes in -> parser -> requests (in order) -> handler -> responses
// (in request order, even when handlers finish out of order) -> one SEND per batch.
//
// Bounds per connection: the partial-request buffer is bounded by the parser's maxHeaderBytes
// (plus what is in flight when reading is paused); at most MAX_PIPELINED requests are in progress
// before reading pauses; unread body bytes by MAX_UNREAD_BYTES (body.ts); queued response bytes by
// the TCP layer's maxQueuedBytes and drain.
import type { Connection, ConnectionHandler } from "../tcp.ts";
import { RequestHead, parseRequestHead } from "./parser.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { HttpError, httpErrorInfo } from "./errors.ts";
import { DIRECT_MIN, RequestBody } from "./body.ts";
import { UringRequest, headCopy, type RequestContext } from "./request.ts";
import {
  serializeHead, extractBody, bodyForbidden, RESET_CONTENT, declaredContentLength, pipeReader, readyChunks, collectChunks, blobBehind, writeChunk, wantsStreaming,
  headerFields, withSetCookies, hasCloseOption, headContentLength, untypedBodyType, TEXT_TYPE, BodyKind, type ChunkReader, type ExtractedBody, type HeaderFields, type HeadOptions, type ReadResult, type ReadyChunks,
} from "./response.ts";
import { httpDate } from "./date.ts";
import { isStatic, type StaticRoute } from "./routes.ts";
import type { ServerCore } from "./core.ts";
import { sendCachedFile, sendFileUring } from "./files.ts";
import { noneMatch } from "./files/http.ts";

/** Requests in progress on one connection before it stops reading (pipelining bound). */
export const MAX_PIPELINED = 128;
/** After a response is written while its request body is still arriving, read and drop at most this much. */
const MAX_DISCARD_BYTES = 1024 * 1024;
const EMPTY_BYTES = new Uint8Array(0);
/** Largest static route body kept with its head in one buffer (StaticRoute.wire); larger ones are written as they are. */
const STATIC_WIRE_MAX = 64 * 1024;

const BODY_NONE = 0, BODY_LENGTH = 1, BODY_CHUNKED = 2;

// Request queues of connections that went idle: an idle keep-alive connection holds none.
// Bound: QUEUE_POOL_MAX arrays per thread.
const NO_SLOTS: Slot[] = [];
Object.freeze(NO_SLOTS);
const QUEUE_POOL_MAX = 1024;
const queuePool: Slot[][] = [];

// #writeWhole's head options, filled in per response (serializeHead keeps nothing of them): the
// usual response allocates no options object.
const wholeHead: HeadOptions = { status: 200, statusText: "", headers: null, fields: null, defaultType: "", length: 0, keepAlive: true, versionMinor: 1 };

// Slot.bits
const CLIENT_CLOSE = 1, IS_HEAD = 2, EXPECT_CONTINUE = 4, CONTINUE_SENT = 8, AFTER_WAIT = 16;

/** A request in progress and its answer. One per request: fields declared and set in the constructor (inline, see HttpConnection). */
class Slot {
  declare req: UringRequest | null;
  declare res: Response | null;
  declare staticRoute: StaticRoute | null;
  /** A pre-built error response (parse errors, 413, timeouts): head and body text. */
  declare errorStatus: number;
  declare errorText: string;
  declare ready: boolean;
  /** Settled for good: later settle()/fail() calls are ignored (e.g. a 413 replaced the handler's answer). */
  declare final: boolean;
  declare keepAlive: boolean;
  declare versionMinor: number;
  declare body: RequestBody | null;
  declare ifNoneMatch: string | null;
  // The rarer booleans, as bits: 12 fields keep a Slot in JSC's 112-byte size class (13 take 160).
  private declare bits: number;
  constructor() {
    this.req = null;
    this.res = null;
    this.staticRoute = null;
    this.errorStatus = 0;
    this.errorText = "";
    this.ready = false;
    this.final = false;
    this.keepAlive = true;
    this.versionMinor = 1;
    this.body = null;
    this.ifNoneMatch = null;
    this.bits = 0;
  }
  #set(bit: number, on: boolean): void {
    this.bits = on ? this.bits | bit : this.bits & ~bit;
  }
  /** The request itself asked to close (Connection: close, or HTTP/1.0 without keep-alive). */
  get clientClose(): boolean {
    return (this.bits & CLIENT_CLOSE) !== 0;
  }
  set clientClose(on: boolean) {
    this.#set(CLIENT_CLOSE, on);
  }
  get isHead(): boolean {
    return (this.bits & IS_HEAD) !== 0;
  }
  set isHead(on: boolean) {
    this.#set(IS_HEAD, on);
  }
  get expectContinue(): boolean {
    return (this.bits & EXPECT_CONTINUE) !== 0;
  }
  set expectContinue(on: boolean) {
    this.#set(EXPECT_CONTINUE, on);
  }
  get continueSent(): boolean {
    return (this.bits & CONTINUE_SENT) !== 0;
  }
  set continueSent(on: boolean) {
    this.#set(CONTINUE_SENT, on);
  }
  /** The handler's answer came after it waited on I/O (a fetch(), a timer), not within the turn that asked. */
  get afterWait(): boolean {
    return (this.bits & AFTER_WAIT) !== 0;
  }
  set afterWait(on: boolean) {
    this.#set(AFTER_WAIT, on);
  }
}

// HttpConnection.flags
const STOP_PARSING = 1;
/** Bytes came after a final request (and were dropped): the close must linger for them. */
const BYTES_AFTER_FINAL = 2;
/** A response is being streamed: later ones wait. */
const WRITING = 4;
const PAUSED = 8, PAUSED_BY_BODY = 16;
/** Inside #process (see #processPending). */
const IN_PROCESS = 32;
/** The body is being received straight into its buffer (Connection.recvInto); PROBING: cut short, to see whether it moves. */
const DIRECT = 64, PROBING = 128;

/** Made on first use (a request with a body, a streamed response): an idle connection that never had either holds none. */
class HttpConnectionRare {
  // The request body being received (bodyMode not BODY_NONE): made with the first request that has one.
  /** BODY_LENGTH: bytes of it still to come. */
  bodyLeft = 0;
  bodySlot: Slot | null = null;
  /** > 0 while the body is read and dropped (its response went out first): 1 + bytes dropped. */
  discarding = 0;
  /** For chunked request bodies. */
  decoder: ChunkedDecoder | null = null;
  /** receiveInto() asked while a buffer was being parsed: started once it is (#startDirect). */
  directWanted: Uint8Array | null = null;
  drainWaiters: (() => void)[] | null = null;
  onChunk: ((b: Uint8Array, s: number, e: number) => void) | null = null;
  waitDrain: (() => Promise<void>) | null = null;
  streamReader: ChunkReader | null = null;
}

// An idle keep-alive connection costs this object and its Connection, so, like Connection, its
// fields are declared and assigned in the constructor (laid out inline by JSC) and few: booleans in
// `flags`, what few connections need in `rare`.
export class HttpConnection implements ConnectionHandler, RequestContext {
  declare readonly conn: Connection;
  declare readonly core: ServerCore;
  // Taken from the server's pool while a head is being parsed, given back when none is in
  // progress: idle connections hold no parser state (its offsets table is 1.6 KB).
  private declare head: RequestHead | null;
  private declare pend: Uint8Array | null;
  private declare pendLen: number;
  private declare queue: Slot[];
  private declare flags: number;
  private declare bodyMode: number;
  private declare body: RequestBody | null;
  private declare headStartedAt: number;
  private declare rare: HttpConnectionRare | null;

  constructor(conn: Connection, core: ServerCore) {
    this.conn = conn;
    this.core = core;
    this.head = null;
    this.pend = null;
    this.pendLen = 0;
    this.queue = NO_SLOTS;
    this.flags = 0;
    this.bodyMode = BODY_NONE;
    this.body = null;
    this.headStartedAt = 0;
    this.rare = null;
  }

  #rare(): HttpConnectionRare {
    return (this.rare ??= new HttpConnectionRare());
  }

  get #onChunk(): (b: Uint8Array, s: number, e: number) => void {
    return (this.#rare().onChunk ??= (b, s, e) => {
      const rare = this.rare!;
      if (rare.discarding) rare.discarding += e - s;
      else this.body?.push(b, s, e);
    });
  }

  get remote() {
    return this.conn.remoteAddress;
  }
  get defaultHost(): string {
    return this.core.defaultHost;
  }

  /** Number of requests received and not yet answered. */
  get inProgress(): number {
    return this.queue.length;
  }
  get idle(): boolean {
    return this.queue.length === 0 && this.pendLen === 0 && this.bodyMode === BODY_NONE;
  }

  // ---- receiving ----------------------------------------------------------------------------

  onData(_c: Connection, buf: Uint8Array, start: number, end: number): void {
    if (this.flags & STOP_PARSING && this.bodyMode === BODY_NONE) {
      this.flags |= BYTES_AFTER_FINAL; // nothing after a final request is processed
      return;
    }
    if (this.pendLen > 0 || this.#blocked()) {
      this.#append(buf, start, end);
      this.#processPending();
      return;
    }
    const p = this.#process(buf, start, end);
    if (p < end) this.#append(buf, p, end);
    if (this.rare !== null && this.rare.directWanted !== null) this.#startDirect();
    this.#hibernate();
  }

  #blocked(): boolean {
    // Output backpressure too: while responses wait on a client that is not reading, parsing more
    // of its pipelined requests would queue more responses without bound (300 x 100 KB queued
    // 26 MB in test/http/protocol.test.ts). needsDrain also asks for onDrain, which resumes.
    return this.queue.length >= MAX_PIPELINED || this.conn.needsDrain;
  }

  #append(buf: Uint8Array, start: number, end: number): void {
    const n = end - start;
    let pend = this.pend;
    if (!pend || pend.length - this.pendLen < n) {
      const grown = new Uint8Array(Math.max(4096, (this.pendLen + n) * 2));
      if (pend) grown.set(pend.subarray(0, this.pendLen));
      this.head?.reset(); // the parser's resume point named the old buffer
      pend = this.pend = grown;
    }
    pend.set(buf.subarray(start, end), this.pendLen);
    this.pendLen += n;
  }

  #processPending(): void {
    // Re-entered from a synchronous handler (dispatch -> settle -> #pump -> here): the #process
    // loop already running goes on with the rest. Without this guard the same pending bytes were
    // parsed again from the start (requests dispatched twice) and the stack overflowed on a long
    // pipeline (500 requests in one write, or a head that arrived byte by byte).
    if (this.flags & IN_PROCESS) return;
    const pend = this.pend;
    if (!pend || this.pendLen === 0) return;
    const p = this.#process(pend, 0, this.pendLen);
    if (p >= this.pendLen) {
      this.pendLen = 0;
      this.pend = null; // idle connections keep no buffer
      this.head?.reset();
    } else if (p > 0) {
      pend.copyWithin(0, p, this.pendLen);
      this.pendLen -= p;
      this.head?.reset();
    }
    if (this.rare !== null && this.rare.directWanted !== null) this.#startDirect();
  }

  /** Parse and dispatch what buf[p, end) holds; returns how far it got. */
  #process(buf: Uint8Array, p: number, end: number): number {
    if (this.flags & IN_PROCESS) return p; // see #processPending
    this.flags |= IN_PROCESS;
    try {
      return this.#processLoop(buf, p, end);
    } finally {
      this.flags &= ~IN_PROCESS;
      if (this.headStartedAt === 0 && this.head !== null) {
        this.core.giveHead(this.head);
        this.head = null;
      }
    }
  }

  #processLoop(buf: Uint8Array, p: number, end: number): number {
    const core = this.core;
    while (p < end) {
      if (this.bodyMode !== BODY_NONE) {
        p = this.#feedBody(buf, p, end);
        if (this.bodyMode !== BODY_NONE) return p;
        continue;
      }
      if (this.flags & STOP_PARSING) {
        this.flags |= BYTES_AFTER_FINAL; // bytes after a final request are dropped
        return end;
      }
      if (this.#blocked()) {
        this.#pause();
        return p;
      }
      if (this.headStartedAt === 0) this.#startHead();
      const head = (this.head ??= core.takeHead());
      const n = parseRequestHead(buf, p, end, head, core.limits);
      if (n === 0) return p;
      if (n < 0) {
        this.#parseError(-n);
        return end;
      }
      this.headStartedAt = 0;
      // Known before the handler answers (it may at once): bytes after the last request's body.
      if (!head.keepAlive && p + n + (head.chunked || head.contentLength < 0 ? 0 : head.contentLength) < end) this.flags |= BYTES_AFTER_FINAL;
      // A client already sending its body needs no 100 (Continue): RFC 9110 §10.1.1 lets the server omit it.
      if (head.expectContinue && p + n < end) head.expectContinue = false;
      this.#dispatch(buf, p, n);
      head.reset();
      p += n;
    }
    return p;
  }

  #startHead(): void {
    this.headStartedAt = this.conn.reactor.now || 1;
    // A client dribbling its head is cut at the header deadline, however slowly bytes keep coming.
    if (this.queue.length === 0 && this.core.headerTimeoutMs > 0) this.conn.deadline = this.headStartedAt + this.core.headerTimeoutMs;
  }

  #feedBody(buf: Uint8Array, p: number, end: number): number {
    const rare = this.rare!; // made with the body (#dispatch)
    if (this.bodyMode === BODY_LENGTH) {
      const n = Math.min(end - p, rare.bodyLeft);
      if (rare.discarding) rare.discarding += n;
      else this.body!.push(buf, p, p + n);
      rare.bodyLeft -= n;
      p += n;
      if (rare.bodyLeft === 0) this.#endBody();
    } else {
      const decoder = rare.decoder!;
      const r = decoder.decode(buf, p, end, this.#onChunk);
      if (r < 0) {
        this.#bodyError(-r);
        return end;
      }
      p += r;
      if (decoder.done) this.#endBody();
      else if (this.body !== null && this.body.received >= DIRECT_MIN) this.conn.setLargeReads(true); // a large one, it turns out
    }
    if (this.bodyMode !== BODY_NONE) {
      if (rare.discarding > MAX_DISCARD_BYTES) {
        // Not worth reading: the response is out; close after it (RFC 9112 §9.6 lets us).
        this.flags |= STOP_PARSING;
        this.bodyMode = BODY_NONE;
        this.conn.end();
        return end;
      }
      if (this.core.idleTimeoutMs > 0) this.conn.deadline = this.conn.reactor.now + this.core.idleTimeoutMs; // body-read deadline, per chunk
    }
    return p;
  }

  // The body's state is cleared before the body hears of its end: end() and fail() resume a paused
  // connection, which may parse the next request and start its body.
  #endBody(): void {
    const body = this.body;
    this.#leaveBody();
    body?.end();
  }

  #bodyError(code: number): void {
    const info = httpErrorInfo(code);
    const err = Object.assign(new Error(info.message), { code: `ERR_HTTP_${info.name}`, status: info.status });
    this.flags |= STOP_PARSING;
    const body = this.body;
    const slot = this.#leaveBody();
    body?.fail(err);
    if (slot && !slot.final && this.queue.includes(slot)) {
      this.#replaceWithError(slot, info.status, info.message);
    } else {
      this.#queueError(info.status, info.message);
    }
  }

  /** No request body in progress any more; returns the slot whose body it was. */
  #leaveBody(): Slot | null {
    this.conn.setLargeReads(false);
    this.bodyMode = BODY_NONE;
    this.body = null;
    const rare = this.rare;
    if (rare === null) return null;
    const slot = rare.bodySlot;
    rare.discarding = 0;
    rare.bodySlot = null;
    return slot;
  }

  #parseError(code: number): void {
    const info = httpErrorInfo(code);
    this.core.stats.parseErrors++;
    this.flags |= STOP_PARSING;
    this.#queueError(info.status, info.message);
  }

  #queueError(status: number, text: string): void {
    const s = new Slot();
    s.errorStatus = status;
    s.errorText = text;
    s.ready = s.final = true;
    s.keepAlive = false;
    this.#takeQueue().push(s);
    this.#pump();
  }

  /** Answer `slot` with an error of ours; `close` unless the request itself is sound (a handler failed). */
  #replaceWithError(slot: Slot, status: number, text: string, close = true): void {
    slot.res = null;
    slot.staticRoute = null;
    slot.errorStatus = status;
    slot.errorText = text;
    slot.ready = slot.final = true;
    if (close) slot.keepAlive = false;
    this.#pump();
  }

  #dispatch(buf: Uint8Array, start: number, n: number): void {
    const head = this.head!;
    const core = this.core;
    // A 2xx to CONNECT makes the connection a tunnel (RFC 9110 §9.3.6), which neither serve() nor Bun.serve
    // can give an app: refused here rather than answered with a response the client would take for one.
    if (head.targetForm === "authority") return this.#parseError(HttpError.CONNECT_NOT_IMPLEMENTED);
    const slot = new Slot();
    slot.versionMinor = head.versionMinor;
    slot.isHead = head.method === "HEAD";
    slot.keepAlive = head.keepAlive && !core.stopping;
    slot.clientClose = !head.keepAlive;
    if (!slot.keepAlive) this.flags |= STOP_PARSING; // Connection: close — nothing after it is processed
    let body: RequestBody | null = null;
    if (head.chunked || head.contentLength > 0) {
      if (head.contentLength > core.maxRequestBodySize) {
        // Decided from the head alone, before any of the body is read.
        this.flags |= STOP_PARSING;
        const info = httpErrorInfo(HttpError.BODY_TOO_LARGE);
        return this.#queueError(info.status, `Request body of ${head.contentLength} bytes is over the limit of ${core.maxRequestBodySize}`);
      }
      body = new RequestBody(this, head.chunked ? -1 : head.contentLength);
      const rare = this.#rare();
      this.body = body;
      rare.bodySlot = slot;
      if (head.chunked) {
        this.bodyMode = BODY_CHUNKED;
        (rare.decoder ??= new ChunkedDecoder()).reset(core.maxRequestBodySize, core.limits.maxHeaderBytes);
      } else {
        this.bodyMode = BODY_LENGTH;
        rare.bodyLeft = head.contentLength;
        if (head.contentLength >= DIRECT_MIN) {
          body.holdUntilRead();
          this.conn.setLargeReads(true); // if it is streamed; read whole, it goes into its buffer (recvInto)
        }
      }
      slot.expectContinue = head.expectContinue;
    }
    slot.body = body;
    const req = new UringRequest(
      headCopy(buf, start, n),
      head.method,
      head.target,
      head.targetForm === "absolute",
      this,
      body,
    );
    if (head.hostStart >= 0) req._hostAt(head.hostStart - start, head.hostEnd - start);
    slot.req = req;
    this.#takeQueue().push(slot);
    core.pendingRequests++;
    core.stats.requests++;
    if (core.idleTimeoutMs > 0) this.conn.deadline = this.conn.reactor.now + core.idleTimeoutMs;
    else this.conn.deadline = 0;
    if (slot.expectContinue && this.queue.length === 1) this.#sendContinue(slot);
    core.handle(req, slot, this);
  }

  #sendContinue(slot: Slot): void {
    if (slot.continueSent || slot.ready || !slot.body || slot.body.done) return;
    slot.continueSent = true;
    this.conn.writeLatin1("HTTP/1.1 100 Continue\r\n\r\n");
  }

  // BodySource: a large body read whole is received into its buffer by the kernel.
  receiveInto(body: RequestBody, whole: Uint8Array): boolean {
    if (body !== this.body || this.bodyMode !== BODY_LENGTH) return false;
    this.#rare().directWanted = whole;
    // Asked from a handler run while a receive buffer is being parsed: the rest of that buffer is
    // body bytes still to be pushed, so the kernel's part starts after them (#startDirect, then).
    if (!(this.flags & IN_PROCESS)) this.#startDirect();
    return true;
  }

  #startDirect(): void {
    const rare = this.rare!;
    const whole = rare.directWanted!;
    rare.directWanted = null;
    // Only for the body being received, with none of it waiting here unparsed.
    const from = whole.length - rare.bodyLeft;
    if (this.bodyMode === BODY_LENGTH && !rare.discarding && this.pendLen === 0 && from === this.body?.wholeReceived) {
      if (this.conn.recvInto(whole, from, whole.length)) this.flags |= DIRECT;
    }
    this.resume(); // the body's reader is here: the RECV into its buffer, or the usual reading
  }

  onReceivedInto(_c: Connection, n: number, complete: boolean): void {
    const rare = this.rare!; // a body is being received into its buffer (#startDirect)
    rare.bodyLeft -= n;
    if (rare.discarding) rare.discarding += n;
    else this.body?.advance(n);
    if (complete) {
      this.flags &= ~(DIRECT | PROBING);
      if (this.bodyMode === BODY_LENGTH && rare.bodyLeft === 0) this.#endBody();
      return;
    }
    const probed = (this.flags & PROBING) !== 0;
    if (probed) this.flags &= ~PROBING;
    if (n > 0) {
      // Bytes keep coming: the body-read deadline is idle time, as when they come in pieces.
      if (this.core.idleTimeoutMs > 0) this.conn.deadline = this.conn.reactor.now + this.core.idleTimeoutMs;
    } else if (probed) {
      this.flags &= ~DIRECT;
      this.onTimeout(); // nothing arrived since the deadline was set: it stands
    }
  }

  // BodySource: a request body nobody reads stops the connection's reading.
  pause(): void {
    this.flags |= PAUSED_BY_BODY;
    this.#pause();
  }
  resume(): void {
    this.flags &= ~PAUSED_BY_BODY;
    if (!this.#blocked()) this.#resume();
  }
  #pause(): void {
    if (this.flags & PAUSED) return;
    this.flags |= PAUSED;
    this.conn.pause();
  }
  #resume(): void {
    if (!(this.flags & PAUSED)) return;
    this.flags &= ~PAUSED;
    this.conn.resume();
    this.#processPending();
  }

  // ---- answering ----------------------------------------------------------------------------

  /** The handler's answer for `slot` (called by ServerCore). */
  settle(slot: Slot, res: Response | null, staticRoute: StaticRoute | null = null): void {
    if (slot.final) return;
    slot.res = res;
    slot.staticRoute = staticRoute;
    slot.ready = slot.final = true;
    if (this.queue[0] === slot) this.#pump();
  }

  /**
   * Our own answer for `slot` (a handler that failed: 500). The connection stays open, as with
   * Bun.serve: the error response is framed like any other and the request was read whole (or its
   * body is read and dropped by #pump, or the connection closes if that body is large).
   */
  settleError(slot: Slot, status: number, text: string): void {
    if (slot.final) return;
    this.#replaceWithError(slot, status, text, false);
  }

  /** Write every ready response at the head of the queue, in order. */
  #pump(): void {
    const q = this.queue;
    while (q.length && q[0]!.ready && !(this.flags & WRITING)) {
      const slot = q[0]!;
      if (!this.conn.open) return;
      if (slot.body && !slot.body.done && this.rare?.bodySlot === slot) {
        // Answered before its body arrived: read and drop the rest, or close if it is large.
        if (slot.expectContinue && !slot.continueSent) {
          slot.keepAlive = false; // the client may or may not send it now: don't guess, close after
          this.flags |= STOP_PARSING;
        }
        this.rare!.discarding = 1;
        this.body?.fail(Object.assign(new Error("response sent before the request body was read"), { code: "ERR_BODY_DISCARDED" }));
      }
      let done: boolean;
      try {
        done = this.#write(slot);
      } catch (err) {
        // e.g. a Response whose body was already used: the client gets a 500, the server goes on.
        this.core.reportError(err);
        slot.res = null;
        slot.staticRoute = null;
        slot.errorStatus = 500;
        slot.errorText = "Internal Server Error";
        slot.keepAlive = false;
        done = this.#write(slot);
      }
      if (!done) return; // streaming; #finishStreamed continues
      this.#finish(slot);
      if (!slot.keepAlive) return;
    }
    const next = q[0];
    if (next && next.expectContinue) this.#sendContinue(next);
    if (q.length === 0) {
      this.#idle();
      if (this.flags & PAUSED && !(this.flags & PAUSED_BY_BODY)) this.#resume();
      else if (this.pendLen) this.#processPending();
      this.#hibernate();
    }
  }

  #finish(slot: Slot): void {
    const q = this.queue;
    // A response still being written when the connection closed: onClose already dropped (and
    // uncounted) its slot. Counting it again drove pendingRequests negative (found by the soak:
    // clients that abort a file download).
    if (q[0] !== slot) return;
    q.shift();
    if (slot.req) this.core.pendingRequests--;
    if (!slot.keepAlive) {
      this.flags |= STOP_PARSING;
      for (const s of q) if (s.req) this.core.pendingRequests--;
      q.length = 0;
      // The client said this was its last request and sent nothing after it: no need to linger
      // for more (a reset can only come of bytes that arrive after the close).
      this.conn.end(slot.clientClose && !(this.flags & BYTES_AFTER_FINAL) && this.bodyMode === BODY_NONE && this.pendLen === 0);
    }
  }

  #takeQueue(): Slot[] {
    if (this.queue === NO_SLOTS) this.queue = queuePool.pop() ?? [];
    return this.queue;
  }

  #idle(): void {
    if (this.queue.length || this.bodyMode !== BODY_NONE) return;
    if (this.queue !== NO_SLOTS) {
      if (queuePool.length < QUEUE_POOL_MAX) queuePool.push(this.queue);
      this.queue = NO_SLOTS;
    }
    awaitNextRequest(this.core, this.conn);
  }

  /**
   * Between requests, with nothing of them left, give this object up (as nginx frees a request's
   * memory in ngx_http_set_keepalive): the connection's handler becomes the server's Dormant, which
   * makes a new HttpConnection when bytes come. An idle keep-alive connection then costs its
   * Connection alone (10 000 idle: ~1.1 MB less). Not inside #process (it goes on with `this`).
   */
  #hibernate(): void {
    if (this.queue !== NO_SLOTS || this.pendLen !== 0 || this.bodyMode !== BODY_NONE || this.head !== null || this.flags !== 0) return;
    const rare = this.rare, conn = this.conn;
    if (rare !== null && (rare.drainWaiters !== null || rare.streamReader !== null || rare.directWanted !== null || rare.bodySlot !== null || rare.discarding !== 0)) return;
    if (conn.handler !== this || !conn.open || this.core.stopping) return;
    conn.handler = dormant(this.core);
  }

  /** Write `slot`'s response; false when it continues asynchronously (streamed or pending body). */
  #write(slot: Slot): boolean {
    const conn = this.conn;
    if (slot.errorStatus) {
      const body = slot.errorText + "\n";
      conn.writeLatin1(serializeHead({
        status: slot.errorStatus, statusText: "", headers: null, defaultType: TEXT_TYPE,
        length: Buffer.byteLength(body), keepAlive: slot.keepAlive, versionMinor: slot.versionMinor,
      }));
      if (!slot.isHead) conn.writeUtf8(body);
      return true;
    }
    if (slot.staticRoute) return this.#writeStatic(slot, slot.staticRoute);
    const res = slot.res!;
    const status = res.status;
    // Response.error() (status 0, a network error) has no HTTP form: a 500, as for a throw (#pump).
    if (status === 0) throw Object.assign(new TypeError("the handler answered Response.error(), a network error"), { code: "ERR_INVALID_RESPONSE" });
    const forbidden = bodyForbidden(status);
    const noContent = forbidden || status === RESET_CONTENT; // a 205's body is dropped: Content-Length: 0
    let fields = headerFields(res.headers); // one toJSON per response, shared by everything below
    // A route handler's changes to req.cookies go out as Set-Cookie fields, as with Bun.serve.
    const setCookies = slot.req !== null ? slot.req._setCookies() : null;
    if (setCookies !== null) fields = withSetCookies(fields, setCookies);
    // The handler asked to close: say so and close after this response (RFC 9112 §9.6).
    if (fields !== null && fields.connection !== undefined && hasCloseOption(fields.connection)) slot.keepAlive = false;
    if (!noContent && wantsStreaming(fields)) return this.#writeStream(slot, res, fields, false);
    const e = extractBody(res, fields, slot.afterWait);
    if (e.kind === BodyKind.Live && !noContent) return this.#writeStream(slot, res, fields, !e.stream && (fields === null || fields["content-type"] === undefined));
    const keepAlive = slot.keepAlive;
    const minor = slot.versionMinor;
    if (noContent || e.kind === BodyKind.None || e.kind === BodyKind.Live) {
      if (e.kind === BodyKind.Stream) e.pending!.catch(() => {});
      else if (e.kind === BodyKind.Live) res.body?.cancel().catch(() => {});
      conn.writeLatin1(serializeHead({
        status, statusText: res.statusText, headers: null, fields, defaultType: "",
        length: forbidden ? -2 : slot.isHead && !noContent ? headContentLength(fields) : 0, keepAlive, versionMinor: minor,
      }));
      return true;
    }
    if (e.kind === BodyKind.Bytes && e.bytes) {
      this.#writeWhole(slot, status, res.statusText, fields, e.type, e.bytes, keepAlive);
      return true;
    }
    return this.#writeLater(slot, res, e, fields, status, setCookies);
  }

  /**
   * The bodies #write cannot send at once: a file, or in-memory bytes not yet settled. A method of
   * its own because its closures would cost #write a scope object on every response.
   */
  #writeLater(slot: Slot, res: Response, e: ExtractedBody, fields: HeaderFields | null, status: number, setCookies: string[] | null): boolean {
    const conn = this.conn;
    const core = this.core;
    const keepAlive = slot.keepAlive;
    const minor = slot.versionMinor;
    this.flags |= WRITING;
    const statusText = res.statusText;
    let work: Promise<boolean>;
    if (e.kind === BodyKind.File) {
      const file = e.blob!;
      const type = e.type;
      if (core.sendFile === sendFileUring && sendCachedFile(this, file, e.name, fields, slot.req, status, keepAlive, minor, slot.isHead)) {
        this.flags &= ~WRITING;
        return true;
      }
      let headers = res.headers;
      if (setCookies !== null) {
        // req.cookies' changes (in `fields` already, #write): the file path reads Headers, and the handler's Response is left as it was.
        headers = new Headers(headers);
        for (const c of setCookies) headers.append("set-cookie", c);
      }
      work = core.sendFile(this, file, slot.req, { status, statusText, headers, type, keepAlive, versionMinor: minor, isHead: slot.isHead });
      // Written at once (a small cached file, a 304): finish now, without a promise round trip.
      if (Bun.peek.status(work) === "fulfilled" && Bun.peek(work) === true) {
        this.flags &= ~WRITING;
        return true;
      }
    } else {
      const type = e.type;
      work = e.pending!.then(
        (bytes) => {
          if (!conn.open) return false;
          this.#writeWhole(slot, status, statusText, fields, type, bytes, keepAlive);
          return true;
        },
        (err) => {
          // The body stream failed before anything was sent (it is collected whole): the client
          // gets a 500 and a close, not a connection reset with no answer.
          core.reportError(err);
          if (!conn.open) return false;
          slot.keepAlive = false;
          slot.errorStatus = 500;
          slot.errorText = "Internal Server Error";
          return this.#write(slot);
        },
      );
    }
    this.#finishWhen(slot, work);
    return false;
  }

  /** Finish `slot` when `work` settles; false or a failure closes the connection (the head may be out). */
  #finishWhen(slot: Slot, work: Promise<boolean>): void {
    work.then(
      (ok) => this.#finishStreamed(slot, ok),
      (err) => {
        this.core.reportError(err);
        this.#finishStreamed(slot, false);
      },
    );
  }

  /** A body known whole: its head with a Content-Length, then the bytes (none for HEAD). */
  #writeWhole(
    slot: Slot, status: number, statusText: string, fields: HeaderFields | null, defaultType: string, bytes: Uint8Array, keepAlive: boolean,
  ): void {
    const o = wholeHead;
    o.status = status;
    o.statusText = statusText;
    o.fields = fields;
    o.defaultType = defaultType;
    o.length = bytes.length;
    o.keepAlive = keepAlive;
    o.versionMinor = slot.versionMinor;
    this.conn.writeLatin1(serializeHead(o));
    o.fields = null;
    if (!slot.isHead) this.conn.write(bytes);
  }

  /**
   * A body read as it is produced (a stream, an async generator, server-sent events). What it has
   * ready at once is gathered: if it ends there, the response has a Content-Length (as Bun.serve
   * does); if not, the head goes out now and the rest follows chunked, with backpressure.
   */
  #writeStream(slot: Slot, res: Response, fields: HeaderFields | null, mayBeBlob: boolean): boolean {
    const conn = this.conn;
    const body = res.body;
    const head = (length: number) => conn.writeLatin1(serializeHead({
      status: res.status, statusText: res.statusText, headers: null, fields, defaultType: "",
      length, keepAlive: slot.keepAlive, versionMinor: slot.versionMinor,
    }));
    if (body === null) {
      head(0);
      return true;
    }
    const reader = body.getReader() as unknown as ChunkReader;
    // Untyped and not known to be a stream: it may be a Blob after all (an untyped Blob reports no bytes either).
    let waiting: Promise<ReadResult> | null = null;
    if (mayBeBlob) {
      const blob = blobBehind(res);
      if (blob === "unread") {
        // A Blob, or a fetch() body with nothing buffered yet (a proxy's `new Response(up.body)`):
        // both say "already used" to blob(). A Blob's first read settles at once, a network body's
        // waits for the network: that one streams.
        const first = reader.read();
        if (Bun.peek.status(first) !== "pending") return this.#writeUntypedBlob(slot, res, fields, reader, blob, first);
        waiting = first;
      } else if (blob !== null) return this.#writeUntypedBlob(slot, res, fields, reader, blob, null);
    }
    // HEAD gets GET's head (RFC 9110 §9.3.2): the length the handler declared (a proxied upstream's
    // HEAD answer), or that of a body that ends with what it has ready (an empty or typed Blob), else none.
    const declared = slot.isHead ? declaredContentLength(fields) : -1;
    let ready: ReadyChunks;
    try {
      ready = waiting !== null || declared >= 0 ? { chunks: [], bytes: 0, done: false, next: waiting } : readyChunks(reader);
    } catch (err) {
      reader.releaseLock();
      throw err; // nothing is out yet: the caller answers 500
    }
    if (slot.isHead) {
      // What was read is dropped.
      ready.next?.catch(() => {});
      reader.cancel().catch(() => {});
      head(declared >= 0 ? declared : ready.done ? ready.bytes : -2);
      return true;
    }
    if (ready.done) {
      reader.releaseLock();
      head(ready.bytes);
      for (const c of ready.chunks) writeChunk(conn, c, false);
      return true;
    }
    const chunked = slot.versionMinor === 1;
    if (!chunked) slot.keepAlive = false; // HTTP/1.0 has no chunked coding: the close ends the body
    head(chunked ? -1 : -3);
    for (const c of ready.chunks) writeChunk(conn, c, chunked);
    this.flags |= WRITING;
    pipeReader(conn, reader, ready.next, chunked, this.waitDrain, Infinity, (r) => (this.#rare().streamReader = r)).then(
      (ok) => this.#finishStreamed(slot, ok),
      (err) => {
        this.core.reportError(err);
        this.#finishStreamed(slot, false); // the head is out: a cut connection tells the client
      },
    );
    return false;
  }

  /**
   * An untyped Blob body (or an empty one): sent whole with a length and, when it has bytes, Bun's
   * default type. `blob` is the Blob when Bun gave it, "unread" when only the reader has the bytes
   * (`first`: the read #writeStream made of them already, or null).
   */
  #writeUntypedBlob(slot: Slot, res: Response, fields: HeaderFields | null, reader: ChunkReader, blob: Blob | "unread", first: Promise<ReadResult> | null): boolean {
    const conn = this.conn;
    const send = (bytes: Uint8Array) =>
      this.#writeWhole(slot, res.status, res.statusText, fields, bytes.length > 0 ? untypedBodyType(bytes) : "", bytes, slot.keepAlive);
    if (blob !== "unread" && blob.size === 0) {
      reader.releaseLock();
      send(EMPTY_BYTES);
      return true;
    }
    this.flags |= WRITING;
    const whole = blob === "unread" ? collectChunks(reader, first) : (reader.releaseLock(), blob.bytes());
    whole.then(
      (bytes) => {
        if (conn.open) send(bytes);
        this.#finishStreamed(slot, conn.open);
      },
      (err) => {
        this.core.reportError(err);
        this.#finishStreamed(slot, false);
      },
    );
    return false;
  }

  #writeStatic(slot: Slot, r: StaticRoute): boolean {
    const conn = this.conn;
    if (r.blob) {
      this.flags |= WRITING;
      this.core
        .sendFile(this, r.blob, slot.req, {
          status: r.status, statusText: r.statusText, headers: r.headers, type: r.type,
          keepAlive: slot.keepAlive, versionMinor: slot.versionMinor, isHead: slot.isHead,
        })
        .then((ok) => this.#finishStreamed(slot, ok), (err) => {
          this.core.reportError(err);
          this.#finishStreamed(slot, false);
        });
      return false;
    }
    const inm = slot.req?._ifNoneMatch() ?? null;
    const notModified = r.etag !== "" && inm !== null && noneMatch(inm, r.etag);
    const status = notModified ? 304 : r.status;
    const forbidden = bodyForbidden(status);
    if (!notModified && !forbidden && slot.keepAlive && slot.versionMinor === 1 && !slot.isHead && r.body && r.body.length <= STATIC_WIRE_MAX) {
      if (r.wireDate !== httpDate()) {
        r.wireDate = httpDate();
        r.wire = Buffer.concat([Buffer.from(this.#staticHead(r, status, false, slot), "latin1"), r.body]);
      }
      conn.write(r.wire!);
      return true;
    }
    conn.writeLatin1(this.#staticHead(r, status, notModified, slot));
    if (!forbidden && !slot.isHead && r.body) conn.write(r.body);
    return true;
  }

  #staticHead(r: StaticRoute, status: number, notModified: boolean, slot: Slot): string {
    return serializeHead({
      status, statusText: notModified ? "" : r.statusText, headers: r.headers, defaultType: r.type,
      length: bodyForbidden(status) ? -2 : r.body ? r.body.length : 0, keepAlive: slot.keepAlive, versionMinor: slot.versionMinor,
      extra: r.etag ? `ETag: ${r.etag}\r\n` : undefined,
    });
  }

  #finishStreamed(slot: Slot, ok: boolean): void {
    this.flags &= ~WRITING;
    if (!ok) {
      slot.keepAlive = false;
      if (this.conn.open) this.conn.close(); // a body cut short can't be framed: the client must see the end
    }
    this.#finish(slot);
    this.#pump();
  }

  /** Resolves when queued bytes are back under the high-water mark (streaming backpressure). */
  get waitDrain(): () => Promise<void> {
    return (this.#rare().waitDrain ??= () => {
      if (!this.conn.open) return Promise.resolve();
      return new Promise((resolve) => (this.#rare().drainWaiters ??= []).push(resolve));
    });
  }

  onDrain(): void {
    const w = this.rare?.drainWaiters;
    if (w) {
      this.rare!.drainWaiters = null;
      for (const f of w) f();
    }
    if (this.flags & PAUSED && !(this.flags & PAUSED_BY_BODY) && this.conn.open && !this.#blocked()) this.#resume();
  }

  onTimeout(): void {
    // Receiving into the body's buffer shows no progress until it is cut short: look first.
    if (this.flags & DIRECT && !(this.flags & PROBING) && this.conn.probeInto()) {
      this.flags |= PROBING;
      return;
    }
    if (this.queue.length === 0 && (this.pendLen > 0 || this.headStartedAt > 0) && this.conn.open) {
      // Part of a head and no more: 408 (RFC 9110 §15.5.9), then close.
      this.flags |= STOP_PARSING;
      this.#queueError(408, "Request headers were not received in time");
      this.core.stats.timeouts++;
      return;
    }
    idleTimedOut(this.core, this.conn);
  }

  onEnd(): boolean {
    // The client finished sending: answer what it asked, then close.
    this.flags |= STOP_PARSING;
    if (this.bodyMode !== BODY_NONE) {
      this.body?.fail(Object.assign(new Error("client closed before the body ended"), { code: "ECONNRESET" }));
      this.bodyMode = BODY_NONE;
    }
    // A FIN cannot be told from a half-close without writing, and from browsers, fetch and curl it
    // means the client is gone: abort the signals of requests still being handled, as Bun.serve
    // does (the handler may stop its work), yet still deliver the answers to a half-open client.
    let gone: DOMException | null = null;
    // Only the last response closes: marking every queued one made #finish drop the rest of a
    // pipeline after the first answer (requests handled, never answered).
    const last = this.queue[this.queue.length - 1];
    if (last) last.keepAlive = false;
    for (const s of this.queue) {
      if (s.req && !s.ready) s.req._clientGone()?.abort((gone ??= clientGone("The client closed the connection")));
    }
    if (this.queue.length === 0) return false;
    return true;
  }

  onClose(_c: Connection, _err: Error | null): void {
    // Made only when something is there to tell: an Error with its stack trace costs microseconds,
    // and most connections close with nothing in progress.
    let reset: Error | null = null;
    const resetError = () => (reset ??= Object.assign(new Error("client disconnected"), { code: "ECONNRESET" }));
    this.rare?.streamReader?.cancel(resetError()).catch(() => {}); // a producing stream stops with its client
    if (this.body) this.body.fail(resetError());
    let gone: DOMException | null = null;
    for (const s of this.queue) {
      if (s.req) {
        this.core.pendingRequests--;
        s.req._clientGone()?.abort((gone ??= clientGone("The client disconnected")));
        if (s.body) s.body.fail(resetError());
      }
    }
    if (this.queue.length) this.queue.length = 0;
    this.pend = null;
    this.pendLen = 0;
    this.onDrain();
  }

  /** server.timeout(req, seconds) for the request in progress. */
  setRequestTimeout(ms: number): void {
    this.conn.deadline = ms > 0 ? performance.now() + ms : 0;
  }

  /** Graceful stop: idle connections close now, busy ones after their current responses. */
  stopGracefully(_c: Connection): void {
    this.flags |= STOP_PARSING;
    // The last queued response closes (not each: #finish would drop the rest of a pipeline).
    const last = this.queue[this.queue.length - 1];
    if (last) last.keepAlive = false;
    if (this.idle) this.conn.end();
  }
}

export type { Slot };

/** A connection with nothing in progress waits for a request until idleTimeout; a stopping server ends it. */
function awaitNextRequest(core: ServerCore, conn: Connection): void {
  if (core.stopping) conn.end();
  else conn.deadline = core.idleTimeoutMs > 0 ? conn.reactor.now + core.idleTimeoutMs : 0;
}

/** The timeout of a connection with nothing in progress: it closes. */
function idleTimedOut(core: ServerCore, conn: Connection): void {
  core.stats.timeouts++;
  conn.close(Object.assign(new Error("connection timed out"), { code: "ETIMEDOUT" }));
}

/**
 * The handler of every connection of a server that has no HttpConnection: accepted and silent yet,
 * or idle between requests (HttpConnection#hibernate). One per server, so it holds no connection's state.
 */
export class Dormant implements ConnectionHandler {
  readonly core: ServerCore;
  constructor(core: ServerCore) {
    this.core = core;
  }
  get idle(): boolean {
    return true;
  }
  onData(c: Connection, buf: Uint8Array, start: number, end: number): void {
    // After a graceful stop began (stopGracefully ended it): nothing more is processed.
    if (this.core.stopping) return;
    const hc = new HttpConnection(c, this.core);
    c.handler = hc;
    hc.onData(c, buf, start, end);
  }
  onTimeout(c: Connection): void {
    idleTimedOut(this.core, c);
  }
  onEnd(): boolean {
    return false; // nothing asked, nothing to answer: close
  }
  onClose(): void {}
  stopGracefully(c: Connection): void {
    c.end();
  }
}

/** What a server's Connection's handler is: its request state, or none (idle). */
export type HttpHandler = HttpConnection | Dormant;

function dormant(core: ServerCore): Dormant {
  return (core.dormant ??= new Dormant(core));
}

/** The handler of a connection just accepted: none of its own until it sends, the idle deadline meanwhile. */
export function acceptHttp(c: Connection, core: ServerCore): ConnectionHandler {
  awaitNextRequest(core, c);
  return dormant(core);
}

/**
 * The reason a Request's signal aborts with when its client goes: an "AbortError" DOMException, as
 * for any aborted fetch (Fetch standard) and in Bun.serve, so `err.name === "AbortError"` checks in
 * handlers (and a fetch() given req.signal) see what they expect.
 */
function clientGone(message: string): DOMException {
  return new DOMException(message, "AbortError");
}
