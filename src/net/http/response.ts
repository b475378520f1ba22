// Turning a Web Response into bytes on a connection: the head (status line, headers, Date,
// framing) and the body, from known bytes in one go or streamed with backpressure.
import { estimateShallowMemoryUsageOf } from "bun:jsc";
import type { Connection } from "../tcp.ts";
import { CHUNK_SIZE } from "../../loop/chunks.ts";
import { statusReason } from "./errors.ts";
import { httpDate } from "./date.ts";

/**
 * Headers the server owns: framing and connection management (RFC 9112 §6, §9.6). Upgrade is not
 * among them: a response may advertise protocols with it (RFC 9110 §7.8; a 426 must), and the
 * server then lists "upgrade" in its own Connection header.
 */
const HOP_BY_HOP = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection"]);

/** Whether a Connection field value has the "close" option (RFC 9112 §9.6; options are case-insensitive tokens). */
export function hasCloseOption(v: string | string[] | undefined): boolean {
  if (v === undefined) return false;
  const s = typeof v === "string" ? v : v.join(",");
  if (s.length < 5) return false;
  for (const t of s.split(",")) if (t.trim().toLowerCase() === "close") return true;
  return false;
}

/**
 * The Content-Length a handler set on a body-less answer to HEAD: the length GET would have had
 * (RFC 9110 §9.3.2, §8.6), kept as Bun.serve keeps it. 0 when absent or not 1*DIGIT.
 */
export function headContentLength(fields: HeaderFields | null): number {
  const n = declaredContentLength(fields);
  return n < 0 ? 0 : n;
}

/** The handler's own Content-Length when it is a valid one (digits, safe as a number), else -1. */
export function declaredContentLength(fields: HeaderFields | null): number {
  const v = fields?.["content-length"];
  if (typeof v !== "string" || v.length === 0 || v.length > 15) return -1;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
  }
  return Number(v);
}

export const TEXT_TYPE = "text/plain;charset=utf-8";
const BINARY_TYPE = "application/octet-stream";
/** The resource header of the WHATWG MIME Sniffing standard: bytes looked at (§3). */
const SNIFF_LENGTH = 1445;

/**
 * The Content-Type of in-memory body bytes that came without one. Bun sends text/plain for a string
 * body and application/octet-stream for bytes, but a Response does not reveal which it was given
 * (res.blob().type is text/plain for both), so the bytes decide, by the WHATWG MIME Sniffing "rules
 * for distinguishing if a resource is text or binary" (§7.2): a binary data byte makes it binary.
 */
export function untypedBodyType(bytes: Uint8Array): string {
  const n = Math.min(bytes.length, SNIFF_LENGTH);
  if (n >= 2 && ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe))) return TEXT_TYPE; // UTF-16 BOM
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    // Binary data bytes: 0x00-0x08, 0x0B, 0x0E-0x1A, 0x1C-0x1F (TAB, LF, FF, CR and ESC are text).
    if (c < 0x20 && (c <= 0x08 || c === 0x0b || (c >= 0x0e && c !== 0x1b))) return BINARY_TYPE;
  }
  return TEXT_TYPE;
}

/** Status codes that never carry a body (RFC 9110 §6.4.1, §15.4.5). */
export function bodyForbidden(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** 205 has a body's framing but "a server MUST NOT generate content in a 205 response" (RFC 9110 §15.3.6). */
export const RESET_CONTENT = 205;

export interface HeadOptions {
  status: number;
  statusText: string;
  headers: Headers | null;
  /** Content-Type to add when the response has none ("" for none). */
  defaultType: string;
  /** Body length; -1 for chunked; -2 for no body framing at all (1xx, 204, 304); -3 for a body
   * delimited by closing the connection (a stream to an HTTP/1.0 client, RFC 9112 §6.3 item 8). */
  length: number;
  keepAlive: boolean;
  versionMinor: number;
  /** The headers as headerFields() gave them, when the caller has them already (one toJSON per response). */
  fields?: HeaderFields | null;
  /** Field lines of ours (an ETag, a Content-Disposition), each ending in CRLF, after the rest. */
  extra?: string;
}

export type HeaderFields = Record<string, string | string[]>;

/**
 * A Response's headers as one object (Bun's toJSON: lower-case names, set-cookie as an array), or
 * null when none. Read-only: the object for a lone Content-Type is shared between responses.
 */
export function headerFields(h: Headers): HeaderFields | null {
  const n = (h as unknown as { count: number }).count;
  if (n === 0) return null;
  if (n === 1) {
    // The usual lone Content-Type: get() costs about half of toJSON() and allocates nothing.
    const type = h.get("content-type");
    if (type !== null) {
      if (type !== loneType.value) loneType = { value: type, fields: { "content-type": type } };
      return loneType.fields;
    }
  }
  return (h as unknown as { toJSON(): HeaderFields }).toJSON();
}
let loneType: { value: string; fields: HeaderFields } = { value: "", fields: {} };

/** `fields` with `setCookies` added after its own Set-Cookie fields, as a new object (`fields` may be shared). */
export function withSetCookies(fields: HeaderFields | null, setCookies: readonly string[]): HeaderFields {
  const own = fields?.["set-cookie"];
  const all = own === undefined ? [...setCookies] : typeof own === "string" ? [own, ...setCookies] : [...own, ...setCookies];
  return { ...fields, "set-cookie": all };
}

// The last head built from headerFields(), kept for the next response that repeats it (the usual
// case: one handler, the same headers and length): a flat string to copy instead of a rope to build.
const memo = { status: 0, statusText: "", type: "", length: 0, keepAlive: false, minor: 0, date: "", names: [] as string[], values: [] as string[], head: "" };

function memoHit(o: HeadOptions, all: HeaderFields | null): boolean {
  const m = memo;
  if (m.status !== o.status || m.length !== o.length || m.statusText !== o.statusText || m.type !== o.defaultType ||
    m.keepAlive !== o.keepAlive || m.minor !== o.versionMinor || m.date !== httpDate()) return false;
  let n = 0;
  if (all !== null) {
    for (const name in all) {
      if (n >= m.names.length || m.names[n] !== name || m.values[n] !== all[name]) return false;
      n++;
    }
  }
  return n === m.names.length;
}

function remember(o: HeadOptions, all: HeaderFields | null, head: string): void {
  const m = memo;
  m.names.length = m.values.length = 0;
  if (all !== null) {
    for (const name in all) {
      const v = all[name]!;
      if (typeof v !== "string") return (m.head = "", m.status = 0, undefined); // set-cookie lists: not kept
      m.names.push(name);
      m.values.push(v);
    }
  }
  m.status = o.status;
  m.statusText = o.statusText;
  m.type = o.defaultType;
  m.length = o.length;
  m.keepAlive = o.keepAlive;
  m.minor = o.versionMinor;
  m.date = httpDate();
  m.head = head;
}

/**
 * statusText when it is a reason-phrase, *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4), else "".
 * Bun's Response accepts any string there: "OK\r\nSet-Cookie: ..." would have split the response,
 * and a character above U+00FF cannot be written as the single byte a head is made of.
 */
function reasonPhrase(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return "";
  }
  return s;
}

// Controls other than HTAB (RFC 9110 §5.5). Headers already refuses CR, LF and NUL, and anything
// above U+00FF (a ByteString), but lets the rest through: Bun.serve sends them, a client may reject
// the whole response (Bun's fetch: Malformed_HTTP_Response) or a proxy pass on what it misreads.
const INVALID_FIELD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** `v`, or a throw (the handler's fault: the caller answers 500) when it is no valid field value. Built heads only: the memo skips it. */
export function fieldValue(name: string, v: string): string {
  if (INVALID_FIELD_VALUE.test(v)) {
    throw Object.assign(new TypeError(`Invalid character in the value of response header "${name}"`), { code: "ERR_INVALID_CHAR" });
  }
  return v;
}

/** The response head as a Latin-1 string (header values are ByteStrings). */
export function serializeHead(o: HeadOptions): string {
  const memoized = o.fields !== undefined && o.extra === undefined;
  if (memoized && memoHit(o, o.fields!)) return memo.head;
  let head = `HTTP/1.1 ${o.status} ${reasonPhrase(o.statusText) || statusReason(o.status)}\r\n`;
  let hasType = false, hasDate = false, hasUpgrade = false;
  const all = o.fields !== undefined ? o.fields : o.headers === null ? null : headerFields(o.headers);
  if (all !== null) {
    for (const name in all) {
      if (HOP_BY_HOP.has(name)) continue;
      const v = all[name]!;
      if (typeof v === "string") head += `${name}: ${fieldValue(name, v)}\r\n`;
      else for (const one of v) head += `${name}: ${fieldValue(name, one)}\r\n`; // set-cookie: one line each (RFC 6265 §3)
      if (name === "content-type") hasType = true;
      else if (name === "date") hasDate = true;
      else if (name === "upgrade") hasUpgrade = true;
    }
  }
  if (!hasType && o.defaultType !== "" && o.length !== -2) head += `content-type: ${o.defaultType}\r\n`;
  if (!hasDate) head += `Date: ${httpDate()}\r\n`;
  // HTTP/1.1 persists unless told "close"; HTTP/1.0 only when told "keep-alive" (RFC 9112 §9.3).
  const persistence = !o.keepAlive ? "close" : o.versionMinor === 0 ? "keep-alive" : "";
  if (hasUpgrade) head += persistence === "" ? "Connection: upgrade\r\n" : `Connection: upgrade, ${persistence}\r\n`;
  else if (persistence !== "") head += `Connection: ${persistence}\r\n`;
  if (o.length >= 0) head += `Content-Length: ${o.length}\r\n`;
  else if (o.length === -1) head += "Transfer-Encoding: chunked\r\n";
  if (o.extra !== undefined) head += o.extra;
  head += "\r\n";
  if (memoized) remember(o, all, head);
  return head;
}

/** What a Response's body turned out to be, found without reading a stream. */
export const enum BodyKind {
  None = 0,
  Bytes = 1,
  File = 2,
  /** A stream taken by blob()/bytes(): its bytes come in `pending` when it ends. */
  Stream = 3,
  /** A body holding no bytes and not touched yet (a stream, an async generator): read res.body as it comes. */
  Live = 4,
}

export interface ExtractedBody {
  kind: BodyKind;
  bytes: Uint8Array | null;
  /** For File: the Blob (a BunFile) to stream. */
  blob: Blob | null;
  /** For File: the file's name (path). */
  name: string;
  /** Promise of the bytes when the body is in memory but not yet settled. */
  pending: Promise<Uint8Array> | null;
  type: string;
  /** For Live: a stream for sure (a fetch() body, or told by the probe), not an untyped Blob. */
  stream: boolean;
}

const extracted: ExtractedBody = { kind: BodyKind.None, bytes: null, blob: null, name: "", pending: null, type: "", stream: false };

/**
 * Classify the body of `res` (DESIGN.md: `Bun.peek(res.blob())` settles synchronously for every
 * in-memory body and for Bun.file bodies, and stays pending only for streams). A pending blob()
 * has taken the stream: its bytes come when the stream ends. Returns a shared record: copy what
 * you keep.
 */
export function extractBody(res: Response, fields: HeaderFields | null = headerFields(res.headers), afterWait = false): ExtractedBody {
  const e = extracted;
  e.bytes = null;
  e.blob = null;
  e.pending = null;
  e.type = "";
  e.stream = false;
  // Bytes in the Response itself (a string, bytes, JSON): not a file, not a stream, so the cheap
  // bytes() settles at once. Without a Content-Type the body is then text to Bun (its default type);
  // a body without bytes and without a type is a stream, an async generator or empty: read as it
  // comes. With a type and no bytes it may be a Bun.file (Bun types those at construction): blob().
  const untyped = fields === null || fields["content-type"] === undefined;
  const probe = bodyProbe(res);
  // A fetch() Response returned as it is (a proxy): read as it comes, whatever it holds yet, unless
  // its upstream declared a small length (then whole: one wait instead of a read per hop of Bun's
  // loop, ~2x the proxied requests a second, and a Content-Length as Bun.serve sends).
  if (probe === PROBE_FETCHED) {
    if (fetchedSmall(fields)) return takeBytes(res, e, false);
    e.kind = BodyKind.Live;
    e.stream = true;
    return e;
  }
  // A fetch() body in a Response of the app's (a proxy's `new Response(up.body, up)`, or
  // `new Response(up.body)` with no head at all) reports the bytes it has buffered so far, as if they
  // were the body. The upstream's head, when the proxy kept it, hints at it; so does an answer that
  // came after a wait on I/O (the fetch). Then the probe decides: bytes() would take the stream whole
  // (an endless one never answered, a large one held in memory).
  if (probe === PROBE_BYTES && (afterWait || (fields !== null && fromUpstream(res, fields))) && isStreamBody(res, true)) {
    e.kind = BodyKind.Live;
    e.stream = true;
    return e;
  }
  if (probe === PROBE_NO_BYTES && untyped) {
    e.kind = BodyKind.Live;
    return e;
  }
  if (probe === PROBE_BYTES || untyped) return takeBytes(res, e, untyped);
  // Typed and holding no bytes: a Bun.file, a Blob or a stream, and blob() would take a stream whole
  // (a token stream or React's HTML held back to the end, an endless download never answered). The
  // probe tells a stream without taking it, whatever the type: a stream typed like a Bun.file
  // (octet-stream, image/png: a download, a proxy's `new Response(up.body, up)`) is as common as the
  // file itself. It costs a file response ~2-3 us (its clone's body makes a file stream).
  if (isStreamBody(res, false)) {
    e.kind = BodyKind.Live;
    e.stream = true;
    return e;
  }
  const bp = res.blob();
  if (Bun.peek.status(bp) !== "fulfilled") {
    throwIfRejected(bp);
    e.kind = BodyKind.Stream;
    e.pending = bp.then((b) => b.bytes());
    return e;
  }
  const blob = Bun.peek(bp) as Blob;
  const name = (blob as { name?: unknown }).name;
  if (typeof name === "string" && typeof (blob as { exists?: unknown }).exists === "function") {
    e.kind = BodyKind.File;
    e.blob = blob;
    e.name = name;
    // e.type stays "": each Blob getter is a native call, and this Response has a Content-Type,
    // which wins over the file's.
    return e;
  }
  e.kind = BodyKind.Bytes;
  const p = blob.bytes();
  if (Bun.peek.status(p) === "fulfilled") {
    const bytes = Bun.peek(p) as Uint8Array;
    if (bytes.length === 0) e.kind = BodyKind.None;
    e.bytes = bytes;
  } else e.pending = p;
  return e;
}

/** e from res.bytes(): settled bytes, or the pending read of a stream (BodyKind.Stream). */
function takeBytes(res: Response, e: ExtractedBody, sniffType: boolean): ExtractedBody {
  const p = res.bytes();
  // Told by the value, not Bun.peek.status(), which allocates an array per call: bytes() fulfils
  // with bytes; Bun.peek gives the promise back while pending and the reason when rejected.
  const v = Bun.peek(p);
  if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
    const bytes = asBytes(v);
    e.kind = bytes.length === 0 ? BodyKind.None : BodyKind.Bytes;
    e.bytes = bytes;
    // Without a Content-Type the body is text to Bun (its default type), or binary by its bytes.
    if (sniffType && bytes.length > 0) e.type = untypedBodyType(bytes);
    return e;
  }
  throwIfRejected(p);
  e.kind = BodyKind.Stream;
  e.pending = p.then(asBytes);
  return e;
}

/** Bound on a proxied body taken whole (fetchedSmall); longer ones and those of unknown length stream. */
const FETCHED_WHOLE_MAX = 64 * 1024;

/**
 * A fetch() Response whose upstream declared a length of at most FETCHED_WHOLE_MAX, with no content
 * coding (fetch() decompresses, so a coded body's length says nothing of what it gives).
 */
function fetchedSmall(fields: HeaderFields | null): boolean {
  const n = declaredContentLength(fields);
  if (n < 0 || n > FETCHED_WHOLE_MAX) return false;
  const coding = fields!["content-encoding"];
  return coding === undefined || (typeof coding === "string" && coding.trim().toLowerCase() === "identity");
}

// Bun (1.3.14, checked at load) reports a Response's shallow size as a constant plus the bytes of
// its in-memory body, url and statusText; headers, streams, Blobs and files add nothing. So a
// Response that reports no more than its url and statusText holds no body bytes, which is the only
// way to tell a stream body before touching it: res.body costs 0.8-1.4 us on an in-memory or file
// body, and bytes()/blob() take a stream whole. ~20 ns.
const RESPONSE_BASE = estimateShallowMemoryUsageOf(new Response(null));
const SIZE_PROBE_WORKS =
  estimateShallowMemoryUsageOf(new Response("abcd")) === RESPONSE_BASE + 4 &&
  estimateShallowMemoryUsageOf(new Response(null, { statusText: "ab" })) === RESPONSE_BASE + 2 &&
  estimateShallowMemoryUsageOf(new Response(new ReadableStream())) === RESPONSE_BASE;

const PROBE_UNSURE = 0, PROBE_BYTES = 1, PROBE_NO_BYTES = 2, PROBE_FETCHED = 3;

/**
 * Whether `res` holds in-memory body bytes, by its size report (PROBE_UNSURE where the probe does not
 * work), or is a fetch() Response: the only kind with a URL, whose size also counts the bytes it has
 * buffered from the network (PROBE_FETCHED: a stream, unless fetched from a file: URL).
 */
function bodyProbe(res: Response): number {
  if (!SIZE_PROBE_WORKS) return isFetchedUrl(res.url) ? PROBE_FETCHED : PROBE_UNSURE;
  const extra = estimateShallowMemoryUsageOf(res) - RESPONSE_BASE;
  if (extra <= 0) return PROBE_NO_BYTES;
  const url = res.url;
  if (isFetchedUrl(url)) return PROBE_FETCHED;
  // statusText counts 1 byte a character, or 2 when it is not Latin-1.
  const st = res.statusText.length, u = url.length;
  if (extra === st + u || extra === 2 * st + u) return PROBE_NO_BYTES;
  return extra > 2 * st + u ? PROBE_BYTES : PROBE_UNSURE;
}

/**
 * Whether `fields` look like an upstream's head passed on: framing of a stream (chunked), a length
 * over the bytes `res` holds, or a Date (we add ours; an app's own Response rarely has one, and a
 * proxy that drops hop-by-hop fields, as Hono's proxy() does, keeps it).
 */
function fromUpstream(res: Response, fields: HeaderFields): boolean {
  if (fields["transfer-encoding"] !== undefined || fields["date"] !== undefined) return true;
  const declared = declaredContentLength(fields);
  return declared >= 0 && declared > estimateShallowMemoryUsageOf(res) - RESPONSE_BASE;
}

/** A Response's URL that only fetch() gives (not a file: one, whose body is a file). */
function isFetchedUrl(url: string): boolean {
  return url.length !== 0 && !url.startsWith("file:");
}

/**
 * Whether `res`'s body is a stream rather than a Blob or a Bun.file, without reading it: cloning a
 * stream body tees it (the cloned Response's body becomes a new branch), cloning a Blob body shares
 * the Blob (its body stream stays). Asked of a clone, for res.body itself would lose a sliced Blob's
 * end (Bun 1.3.14: res.blob() after res.body gives the file from the slice's start to its end). The
 * probe's branches are cancelled, so nothing piles up for them. ~2-3 us for a file (the clone's body
 * makes a file stream; no syscall), ~0.9 us for an in-memory Blob. PROBE_TEE_WORKS (checked at
 * load): otherwise a typed stream is taken whole, as a Blob.
 */
function isStreamBody(res: Response, holdsBytes: boolean): boolean {
  if (!PROBE_TEE_WORKS) return false;
  let probe: Response;
  try {
    probe = res.clone() as Response;
  } catch {
    return false; // unreadable (used): the caller's blob() says so
  }
  // `res` reports body bytes and so does its clone: they are its own (a string or JSON body). A
  // stream's clone is a new branch, which holds none yet. Spares the body getter and a second clone
  // (~1.2-2.3 us in all instead of 3-6); bytes bodies, whose clones report none, take the full probe.
  if (holdsBytes && estimateShallowMemoryUsageOf(probe) === estimateShallowMemoryUsageOf(res)) return false;
  const body = probe.body;
  if (body === null) return false;
  const again = probe.clone() as Response;
  if (probe.body === body) return false;
  probe.body?.cancel().catch(() => {});
  again.body?.cancel().catch(() => {});
  return true;
}

const PROBE_TEE_WORKS = ((): boolean => {
  const typed = { headers: { "content-type": "application/octet-stream" } };
  const blob = new Response(new Blob(["a"]), typed);
  const stream = new Response(new ReadableStream({ pull: (c) => c.close() }), typed);
  const b = blob.body, s = stream.body;
  blob.clone();
  stream.clone().body?.cancel().catch(() => {});
  return blob.body === b && stream.body !== s;
})();

/**
 * A body that cannot be read at all (already used: a handler returned the same Response twice)
 * rejects at once; throw, so the caller answers 500 rather than treat it as a stream that failed
 * and close the connection without a response.
 */
function throwIfRejected(p: Promise<unknown>): void {
  if (Bun.peek.status(p) === "rejected") {
    p.catch(() => {});
    throw Bun.peek(p);
  }
}

/**
 * Bun 1.3.14's Response.bytes() resolves with an ArrayBuffer, not a Uint8Array, when the body is a
 * ReadableStream that delivered more than one chunk (measured: two enqueued chunks -> ArrayBuffer,
 * one -> Uint8Array). Without this the length was undefined: no Content-Length, no body sent.
 */
function asBytes(b: Uint8Array | ArrayBuffer): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b);
}

/** What is used of a stream's default reader. */
export interface ChunkReader {
  read(): Promise<ReadResult>;
  cancel(reason?: unknown): Promise<void>;
  releaseLock(): void;
}
export type ReadResult = { done: boolean; value?: unknown };

/** Stream `stream` to `conn`, chunked or as raw bytes (up to `maxBytes`), waiting for drain when queued bytes pile up. */
export function pipeStream(
  conn: Connection,
  stream: ReadableStream<Uint8Array>,
  chunked: boolean,
  waitDrain: () => Promise<void>,
  maxBytes = Infinity,
  onReader?: (reader: ChunkReader | null) => void,
): Promise<boolean> {
  return pipeReader(conn, stream.getReader() as unknown as ChunkReader, null, chunked, waitDrain, maxBytes, onReader);
}

/**
 * Send what `reader` produces (after `first`, a read already started), with backpressure: it waits
 * for the socket to drain past the high-water mark. False when the client went away or a fixed
 * length came up short.
 */
export async function pipeReader(
  conn: Connection,
  reader: ChunkReader,
  first: Promise<ReadResult> | null,
  chunked: boolean,
  waitDrain: () => Promise<void>,
  maxBytes = Infinity,
  onReader?: (reader: ChunkReader | null) => void,
): Promise<boolean> {
  onReader?.(reader);
  let sent = 0;
  try {
    for (;;) {
      const r = await (first ?? reader.read());
      first = null;
      if (r.done) break;
      if (!conn.open) {
        reader.cancel().catch(() => {}); // the client is gone: stop the producer
        return false;
      }
      let chunk = chunkPiece(r.value);
      if (chunk.length === 0) continue; // an empty chunk would end a chunked body
      if (maxBytes !== Infinity) {
        // A fixed length to keep to (a file's bytes): counted in bytes; an unbounded body is not counted.
        if (typeof chunk === "string") chunk = Buffer.from(chunk);
        if (sent + chunk.length > maxBytes) chunk = chunk.subarray(0, maxBytes - sent);
        sent += chunk.length;
      }
      writeChunk(conn, chunk, chunked);
      if (conn.needsDrain) await waitDrain();
      if (sent >= maxBytes) break;
    }
    if (chunked && conn.open) conn.writeLatin1("0\r\n\r\n");
    // A fixed-length body that came up short (a file truncated meanwhile) can't be framed: report it.
    return conn.open && (maxBytes === Infinity || sent === maxBytes);
  } catch (e) {
    reader.cancel(e).catch(() => {});
    throw e;
  } finally {
    onReader?.(null);
    reader.releaseLock();
  }
}

/** All that `reader` produces, as one buffer. */
export async function collectChunks(reader: ChunkReader, first: Promise<ReadResult> | null = null): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const r = await (first ?? reader.read());
      first = null;
      if (r.done) break;
      const p = chunkPiece(r.value);
      chunks.push(typeof p === "string" ? Buffer.from(p) : p);
    }
  } finally {
    reader.releaseLock();
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * A stream chunk: bytes, or a string kept as it is, to be written as UTF-8 straight into the send
 * queue (Buffer.from per string chunk was 15% of a server-sent-events server's CPU).
 */
export type Piece = Uint8Array | string;

/** A piece's length in bytes on the wire. */
function pieceLength(p: Piece): number {
  return typeof p === "string" ? Buffer.byteLength(p) : p.length;
}

/** One body chunk (not empty) on the wire: as is, or framed for chunked coding (RFC 9112 §7.1). */
export function writeChunk(conn: Connection, chunk: Piece, chunked: boolean): void {
  if (chunked) {
    if (typeof chunk === "string") {
      if (chunk.length * 3 + FRAME_MAX <= CHUNK_SIZE) return writeFramedString(conn, chunk);
      chunk = Buffer.from(chunk);
    } else if (chunk.length + FRAME_MAX <= SMALL_FRAME) return writeFramedBytes(conn, chunk);
    writeSizeLine(conn, chunk.length);
  }
  if (typeof chunk === "string") conn.writeUtf8(chunk);
  else conn.write(chunk.length >= 65536 ? chunk.slice() : chunk); // large ones are held, not copied: own them
  if (chunked) writeCrlf(conn);
}

// Chunked framing is encoded in place in the send queue (Connection.reserve): a size string, its
// toString(16) and three native writes a chunk were a fifth of a server-sent-events server's CPU.
/** A frame's overhead at most: 13 hex digits (lengths < 2^52) and two CRLFs. */
const FRAME_MAX = 17;
/** Byte chunks up to this size are copied with their framing in one go. */
const SMALL_FRAME = 4096;
const HEX = Buffer.from("0123456789abcdef", "latin1");

function hexDigits(n: number): number {
  let d = 1;
  for (; n >= 16; d++) n = Math.floor(n / 16);
  return d;
}

/** CRLF at u8[at]; returns the index after it. */
function putCrlf(u8: Uint8Array, at: number): number {
  u8[at] = 13;
  u8[at + 1] = 10;
  return at + 2;
}

/** `n` as `d` hex digits then CRLF at u8[at]; returns the index after the LF. */
function putSizeLine(u8: Uint8Array, at: number, n: number, d: number): number {
  for (let i = at + d - 1; i >= at; i--) {
    u8[i] = HEX[n % 16]!;
    n = Math.floor(n / 16);
  }
  return putCrlf(u8, at + d);
}

/** A chunk's size line, before data written on its own. */
function writeSizeLine(conn: Connection, length: number): void {
  const c = conn.reserve(FRAME_MAX);
  if (c !== null) conn.commit(c, putSizeLine(c.u8, c.w, length, hexDigits(length)) - c.w);
}

/** The CRLF after a chunk's data. */
function writeCrlf(conn: Connection): void {
  const c = conn.reserve(2);
  if (c !== null) conn.commit(c, putCrlf(c.u8, c.w) - c.w);
}

function writeFramedBytes(conn: Connection, bytes: Uint8Array): void {
  const c = conn.reserve(bytes.length + FRAME_MAX);
  if (c === null) return;
  const u8 = c.u8, at = c.w, n = bytes.length;
  const data = putSizeLine(u8, at, n, hexDigits(n));
  u8.set(bytes, data);
  conn.commit(c, putCrlf(u8, data + n) - at);
}

/**
 * A string as UTF-8 with its framing, without counting its bytes first: written after room for the
 * size line that its length in UTF-16 units needs (right for ASCII); moved up when it came out
 * long enough to need another digit.
 */
function writeFramedString(conn: Connection, s: string): void {
  const c = conn.reserve(s.length * 3 + FRAME_MAX);
  if (c === null) return;
  const u8 = c.u8, at = c.w;
  let d = hexDigits(s.length);
  const n = u8.utf8Write(s, at + d + 2);
  const need = hexDigits(n);
  if (need > d) {
    u8.copyWithin(at + need + 2, at + d + 2, at + d + 2 + n);
    d = need;
  }
  conn.commit(c, putCrlf(u8, putSizeLine(u8, at, n, d) + n) - at);
}

/** A stream chunk as a piece: Uint8Array, any other view, ArrayBuffer or string (UTF-8), as Bun.serve takes them. */
function chunkPiece(v: unknown): Piece {
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw Object.assign(new TypeError(`a response body stream produced ${v === null ? "null" : typeof v}, not bytes or a string`), { code: "ERR_INVALID_STREAM_CHUNK" });
}

/**
 * For a body that holds no bytes in the Response (BodyKind.Live), once the caller holds its reader
 * and before any read: a Blob when it is one after all (an untyped Blob reports no bytes either),
 * else null. Bun refuses blob() then as "already used" for a Blob body and as "locked" for a
 * stream; nothing is consumed. (After a read has started, a stream says "already used" too.)
 */
export function blobBehind(res: Response): Blob | "unread" | null {
  const p = res.blob();
  const status = Bun.peek.status(p);
  if (status === "fulfilled") return Bun.peek(p) as Blob;
  if (status === "rejected") {
    p.catch(() => {});
    return (Bun.peek(p) as { code?: unknown }).code === "ERR_BODY_ALREADY_USED" ? "unread" : null;
  }
  return null;
}

/** Bound on what readyChunks() gathers before the response must go out chunked. */
const READY_MAX_BYTES = 64 * 1024;

export interface ReadyChunks {
  chunks: Piece[];
  bytes: number;
  /** The stream ended: the chunks are the whole body. */
  done: boolean;
  /** The read left waiting (not done, under the bound), to go on from. */
  next: Promise<ReadResult> | null;
}

/**
 * The chunks `reader` has ready now, without waiting (Bun.peek on each read), up to
 * READY_MAX_BYTES. A stream that ends here is sent with a Content-Length, as Bun.serve does; one
 * that does not goes out chunked at once, so a producer that waits is never held back. Throws what
 * the stream failed with.
 */
export function readyChunks(reader: ChunkReader): ReadyChunks {
  const chunks: Piece[] = [];
  let bytes = 0;
  while (bytes < READY_MAX_BYTES) {
    const p = reader.read();
    const status = Bun.peek.status(p);
    if (status === "pending") return { chunks, bytes, done: false, next: p };
    if (status === "rejected") {
      p.catch(() => {});
      throw Bun.peek(p);
    }
    const r = Bun.peek(p) as ReadResult;
    if (r.done) return { chunks, bytes, done: true, next: null };
    const c = chunkPiece(r.value);
    const length = pieceLength(c);
    if (length === 0) continue;
    chunks.push(c);
    bytes += length;
  }
  return { chunks, bytes, done: false, next: null };
}

/**
 * A Response with a Content-Type whose body is to be read as a stream: server-sent events, NDJSON
 * and JSON sequences, multipart replace, or X-Accel-Buffering: no (nginx's convention): read as a
 * stream without asking extractBody, which tells any other stream (BodyKind.Live) by its size and,
 * when typed, by isStreamBody.
 */
export function wantsStreaming(fields: HeaderFields | null): boolean {
  if (fields === null) return false;
  const ct = fields["content-type"];
  if (typeof ct === "string" && streamingType(ct)) return true;
  const xab = fields["x-accel-buffering"];
  return typeof xab === "string" && xab.toLowerCase() === "no";
}

// The last Content-Type asked about and the answer: responses of one app repeat a few types.
let lastType = "", lastTypeStreams = false;

function streamingType(ct: string): boolean {
  if (ct === lastType) return lastTypeStreams;
  const t = ct.trimStart().toLowerCase();
  lastType = ct;
  return (lastTypeStreams =
    t.startsWith("text/event-stream") || t.startsWith("application/x-ndjson") || t.startsWith("application/jsonl") ||
    t.startsWith("application/json-seq") || t.startsWith("application/stream+json") || t.startsWith("multipart/x-mixed-replace"));
}
