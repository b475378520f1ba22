// Turning a Web Response into bytes on a connection: the head (status line, headers, Date,
// framing) and the body, from known bytes in one go or streamed with backpressure.
import type { Connection } from "../tcp.ts";
import { statusReason } from "./errors.ts";
import { httpDate } from "./date.ts";

/** Headers the server owns: framing and connection management (RFC 9112 §6, §9.6). */
const HOP_BY_HOP = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "proxy-connection"]);

/** Status codes that never carry a body (RFC 9110 §6.4.1, §15.4.5). */
export function bodyForbidden(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

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
}

export type HeaderFields = Record<string, string | string[]>;

/** A Response's headers as one object (Bun's toJSON: lower-case names, set-cookie as an array), or null when none. */
export function headerFields(h: Headers): HeaderFields | null {
  return (h as unknown as { count: number }).count === 0 ? null : (h as unknown as { toJSON(): HeaderFields }).toJSON();
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

/** The response head as a Latin-1 string (header values are ByteStrings). */
export function serializeHead(o: HeadOptions): string {
  if (o.fields !== undefined && memoHit(o, o.fields)) return memo.head;
  let head = `HTTP/1.1 ${o.status} ${o.statusText || statusReason(o.status)}\r\n`;
  let hasType = false, hasDate = false;
  const all = o.fields !== undefined ? o.fields : o.headers === null ? null : headerFields(o.headers);
  if (all !== null) {
    for (const name in all) {
      if (HOP_BY_HOP.has(name)) continue;
      const v = all[name]!;
      if (typeof v === "string") head += `${name}: ${v}\r\n`;
      else for (const one of v) head += `${name}: ${one}\r\n`; // set-cookie: one line each (RFC 6265 §3)
      if (name === "content-type") hasType = true;
      else if (name === "date") hasDate = true;
    }
  }
  if (!hasType && o.defaultType !== "" && o.length !== -2) head += `content-type: ${o.defaultType}\r\n`;
  if (!hasDate) head += `Date: ${httpDate()}\r\n`;
  if (!o.keepAlive) head += "Connection: close\r\n";
  else if (o.versionMinor === 0) head += "Connection: keep-alive\r\n";
  if (o.length >= 0) head += `Content-Length: ${o.length}\r\n`;
  else if (o.length === -1) head += "Transfer-Encoding: chunked\r\n";
  head += "\r\n";
  if (o.fields !== undefined) remember(o, all, head);
  return head;
}

/** What a Response's body turned out to be, found without reading a stream. */
export const enum BodyKind {
  None = 0,
  Bytes = 1,
  File = 2,
  Stream = 3,
}

export interface ExtractedBody {
  kind: BodyKind;
  bytes: Uint8Array | null;
  /** For File: the Blob (a BunFile) to stream; for Stream: the stream. */
  blob: Blob | null;
  stream: ReadableStream<Uint8Array> | null;
  /** For File: the file's name (path). */
  name: string;
  /** Promise of the bytes when the body is in memory but not yet settled. */
  pending: Promise<Uint8Array> | null;
  type: string;
}

const extracted: ExtractedBody = { kind: BodyKind.None, bytes: null, blob: null, stream: null, name: "", pending: null, type: "" };

/**
 * Classify the body of `res` (DESIGN.md: `Bun.peek(res.blob())` settles synchronously for every
 * in-memory body and for Bun.file bodies, and stays pending only for streams). A pending blob()
 * has taken the stream: its bytes come when the stream ends. Returns a shared record: copy what
 * you keep.
 */
export function extractBody(res: Response, fields: HeaderFields | null = headerFields(res.headers)): ExtractedBody {
  const e = extracted;
  e.bytes = null;
  e.blob = null;
  e.stream = null;
  e.pending = null;
  e.type = "";
  // No Content-Type means no Bun.file body (Bun gives those one at construction): the cheap bytes()
  // settles at once for every in-memory body (and then Bun's default type is text/plain).
  if (fields === null || fields["content-type"] === undefined) {
    const p = res.bytes();
    if (Bun.peek.status(p) === "fulfilled") {
      const bytes = asBytes(Bun.peek(p) as Uint8Array);
      e.kind = bytes.length === 0 ? BodyKind.None : BodyKind.Bytes;
      e.bytes = bytes;
      e.type = "text/plain;charset=utf-8";
      return e;
    }
    throwIfRejected(p);
    e.kind = BodyKind.Stream;
    e.pending = p.then(asBytes);
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

const CRLF = "\r\n";

/** Stream `stream` to `conn` as chunked (length < 0) or raw bytes, waiting for drain when queued bytes pile up. */
export async function pipeStream(
  conn: Connection,
  stream: ReadableStream<Uint8Array>,
  chunked: boolean,
  waitDrain: () => Promise<void>,
  maxBytes = Infinity,
  onReader?: (reader: ReadableStreamDefaultReader<Uint8Array> | null) => void,
): Promise<boolean> {
  const reader = stream.getReader();
  onReader?.(reader as unknown as ReadableStreamDefaultReader<Uint8Array>);
  let sent = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      let chunk = r.value;
      if (!conn.open) {
        reader.cancel().catch(() => {}); // the client is gone: stop the producer
        return false;
      }
      if (!(chunk instanceof Uint8Array)) chunk = typeof chunk === "string" ? Buffer.from(chunk as string) : new Uint8Array(chunk as ArrayBuffer);
      if (chunk.length === 0) continue;
      if (sent + chunk.length > maxBytes) chunk = chunk.subarray(0, maxBytes - sent);
      sent += chunk.length;
      if (chunked) conn.writeLatin1(chunk.length.toString(16) + CRLF);
      conn.write(chunk.length >= 65536 ? chunk.slice() : chunk);
      if (chunked) conn.writeLatin1(CRLF);
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
    reader.releaseLock?.();
  }
}

/**
 * Response types that mean "send as produced": server-sent events, NDJSON and JSON sequences,
 * multipart replace, or X-Accel-Buffering: no (nginx's convention). Such a Response's body is read
 * as a stream and sent chunked; every other body is taken whole (extractBody), because a Response
 * does not reveal cheaply whether its body is a stream (reading res.body costs ~1 us for in-memory
 * bodies, and bytes()/blob() consume a stream before it can be told apart).
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
