// One file response (FileTransfer): find the open file (cache hit, or an OPENAT chain with the
// first READ in it), decide the HTTP answer (304, 206, 416, HEAD), then stream the body:
//
//   miss:  OPENAT/OPENAT2(direct) [LINK_TIMEOUT] -> STATX(path) -> READ(fixed, first 64 KiB) [LINK_TIMEOUT]
//   hit:   READ(fixed) [LINK_TIMEOUT]            (stat known and validated less than 1 s ago)
//   stale: STATX(path), then READ
//
// then the head and the first bytes leave in one SEND (a SENDMSG of the head chunk and the READ
// buffer, no copy). A body with at least SPLICE_MIN left after that goes on through a pipe of its
// own (pipes.ts), with no copy in user memory:
//
//   SPLICE(file -> pipe, up to 1 MiB) [LINK_TIMEOUT], then the connection's SPLICE(pipe -> socket)
//
// and again once the pipe is empty. Otherwise (smaller bodies, no pipe to be had) the body streams
// from at most MAX_BLOCKS_PER_TRANSFER 64 KiB blocks per response (256 KiB): the READ of the next
// block overlaps the SEND of the previous one, and a block is read again only once the connection
// has sent it (tcp.ts writeExternal / SendHold).
import type { Reactor } from "../../../loop/reactor.ts";
import type { Completer } from "../../../loop/ops.ts";
import * as sqe from "../../../ffi/sqe.ts";
import { IORING_OP_READ, IORING_OP_SPLICE, IOSQE_FIXED_FILE, SPLICE_F_FD_IN_FIXED, AT_FDCWD } from "../../../ffi/constants.ts";
import { ENOENT, ENOTDIR, EISDIR, EINVAL } from "../../../ffi/errno.ts";
import type { Connection } from "../../tcp.ts";
import type { HttpConnection } from "../connection.ts";
import type { UringRequest } from "../request.ts";
import type { FileResponseOptions } from "../core.ts";
import { serializeHead } from "../response.ts";
import { type Block, MAX_BLOCKS_PER_TRANSFER, READ_BLOCK } from "./pools.ts";
import { type Pipe, SPLICE_MIN } from "./pipes.ts";
import { namesFileIn } from "./disposition.ts";
import { ACCEPT_RANGES, FILE_OP_TIMEOUT_MS, type FileEntry, type FileServer, type OpenTarget, PATH_MAX, READY } from "./cache.ts";
import type { StaticTarget } from "../files.ts";
import { TEXT, headerValues, mimeType, noneMatch, parseRange, requestHeaders, statusOfErrno } from "./http.ts";

// Settled answers shared by responses written at once (connection.ts checks with Bun.peek).
const SENT = Promise.resolve(true);
const CUT = Promise.resolve(false);

const MAX_RESTARTS = 3;
/** Op tag of the SPLICE into the pipe (READs are tagged with their block's id, >= 0). */
const TAG_SPLICE_IN = -1;

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
  /** The body's pipe once it goes by SPLICE; busy while a SPLICE fills it or the connection holds its bytes. */
  #pipe: Pipe | null = null;
  #pipeBusy = false;
  /** Some of the body went by pipe already. */
  #piped = false;
  /** The file's filesystem refused SPLICE (EINVAL): blocks for the rest. */
  #noSplice = false;

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
    let userRanges = false;
    if (this.#plainType === null && count !== 0) {
      userValidators = o.headers.has("etag") || o.headers.has("last-modified");
      userRanges = o.headers.has("accept-ranges");
    }
    // Ours only where the handler's Response has none (a framework may set them: two Accept-Ranges read "bytes, bytes").
    const ranges = userRanges ? "" : ACCEPT_RANGES;
    this.#extra = userValidators ? ranges : userRanges ? e.tags : e.validators;
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
    if (this.#pipe !== null || (this.#headWritten && this.#end - this.#next >= SPLICE_MIN && this.#openPipe())) {
      // The pipe's bytes must follow every block already read: start once those are handed over.
      if (!this.#pipeBusy && this.#queue.length === 0 && this.#next < this.#end && !this.#finished) this.#spliceIn();
      return;
    }
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

  // ---- by pipe ------------------------------------------------------------------------------

  #openPipe(): boolean {
    const pipes = this.fs.pipes;
    if (pipes === null || this.#noSplice) return false;
    this.#pipe = pipes.open(this);
    if (this.#pipe === null) return false;
    this.fs.stats.splicedResponses++;
    return true;
  }

  /** SPLICE the next bytes of the file into the (empty) pipe. */
  #spliceIn(): void {
    const r = this.fs.reactor;
    if (!opsLeft(r, 2)) return this.#finish(false);
    const p = this.#pipe!;
    const want = Math.min(p.size, this.#end - this.#next);
    r.reserveSqes(2);
    const w = r.prepare(this, TAG_SPLICE_IN, IORING_OP_SPLICE);
    sqe.prepSplice(r.ring.sqe, w, this.#entry!.slot, this.#next, p.writeFd, -1, want, SPLICE_F_FD_IN_FIXED);
    r.linkTimeout(w, FILE_OP_TIMEOUT_MS, null);
    this.#reads++;
    this.#pipeBusy = true;
  }

  #splicedIn(res: number): void {
    this.#reads--;
    if (this.#finished) {
      this.#pipeBusy = false;
      return this.#maybeRelease();
    }
    // Fewer bytes than asked is normal (a pipe has one slot per page: an unaligned start fills them
    // first); none at all is the file ending before its stat said (truncated).
    if (res <= 0) {
      this.#pipeBusy = false;
      if (res === -EINVAL && !this.#piped) {
        // Nothing went by pipe yet and this filesystem has no splice_read: blocks instead.
        this.#noSplice = true;
        this.#closePipe();
        return this.#fill();
      }
      // Truncated, an error, or the deadline: the rest can't be framed.
      if (res === 0) this.#entry!.invalidate();
      return this.#finish(false);
    }
    this.#next += res;
    this.#piped = true;
    if (!this.conn.writePipe(res, this.#pipe!)) {
      this.#pipeBusy = false;
      return this.#finish(false);
    }
    // All queued: the response is done as far as the connection's order goes (as with blocks).
    if (this.#next >= this.#end && this.#queue.length === 0 && this.#reads === 0) this.#done();
  }

  /** The connection spliced the pipe's bytes into the socket (or dropped them as it closed). */
  pipeSent(): void {
    this.#pipeBusy = false;
    if (this.#finished) return this.#closePipe();
    if (!this.conn.open) return this.#finish(false);
    this.#fill();
  }

  #closePipe(): void {
    const p = this.#pipe;
    if (p === null || this.#pipeBusy) return;
    this.#pipe = null;
    this.fs.pipes!.close(p);
  }

  // ---- completions ------------------------------------------------------------------------

  /** A READ completed (tag: its block), or the SPLICE into the pipe. */
  complete(res: number, _flags: number, tag: number): void {
    if (tag === TAG_SPLICE_IN) return this.#splicedIn(res);
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
    if (this.#finished || this.#next >= this.#end || this.fs.blocks.waiting > 0 || this.#pipe !== null) {
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
    // The file's name where Bun.serve gives it (files/disposition.ts).
    if (e !== null && namesFileIn(status, headers, this.#type)) extra += e.disposition;
    const head = serializeHead({
      status, statusText: status === o.status ? o.statusText : "", headers,
      defaultType: length === -2 ? "" : this.#type, length, keepAlive: o.keepAlive, versionMinor: o.versionMinor, extra,
    });
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
    const head = serializeHead({
      status, statusText: "", headers: null, defaultType: this.#type, length: body.length,
      keepAlive: o.keepAlive, versionMinor: o.versionMinor, extra,
    });
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
    if (this.#finished && this.#reads === 0) {
      this.#closePipe();
      this.#unbind();
    }
  }
}
