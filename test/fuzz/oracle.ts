// Our own parser, run in-process over a fuzz case the way src/net/http/connection.ts runs it over a
// connection's bytes: heads with parseRequestHead, bodies by Content-Length or with ChunkedDecoder,
// nothing after a request that ends the connection. It gives
//   - the expected outcome on the wire (requests, their bodies, the error), checked against what the
//     server actually did (a difference is a bug in connection.ts, not in the parser);
//   - the offset where an error is detected (feeding the bytes one at a time, on the resume path);
//   - split consistency: the whole-buffer parse, the byte-by-byte parse and the decoder fed in pieces
//     must all agree (a difference is a bug in the parser's resume logic or the decoder's state machine).
import { RequestHead, parseRequestHead, DEFAULT_LIMITS } from "../../src/net/http/parser.ts";
import { ChunkedDecoder } from "../../src/net/http/chunked.ts";
import { HttpError, httpErrorName } from "../../src/net/http/errors.ts";

export interface SimRequest {
  method: string;
  target: string;
  /** [lower-case name, value] in order. */
  headers: [string, string][];
  /** The body, or null when it did not complete (EOF or a body error). */
  body: Uint8Array | null;
  /** Offsets of the head and the end of the message in the case. */
  start: number;
  headEnd: number;
  end: number;
  versionMinor: number;
  keepAlive: boolean;
  chunked: boolean;
  contentLength: number;
}

export interface SimResult {
  requests: SimRequest[];
  /** HttpError name of the rejection, or null. */
  error: string | null;
  /** Offset of the byte at which the error was detected (one past it), -1 when none. */
  errorAt: number;
  /** Start of the request in which the error was found. */
  errorRequestStart: number;
  /** Problems of split consistency (empty when consistent). */
  splitProblems: string[];
}

const limits = DEFAULT_LIMITS;

function headSummary(h: RequestHead, buf: Uint8Array): string {
  const hs: string[] = [];
  for (let i = 0; i < h.headerCount; i++) hs.push(`${h.headerName(buf, i)}=${h.headerValue(buf, i)}`);
  return JSON.stringify([h.method, h.target, h.versionMinor, h.contentLength, h.chunked, h.keepAlive, h.upgrade, h.expectContinue, hs]);
}

/** Parse the head at `start` whole and byte by byte (resume path); returns the result, where an error was seen. */
function parseHeadBothWays(buf: Uint8Array, start: number, problems: string[]): { r: number; head: RequestHead; errorAt: number } {
  const whole = new RequestHead();
  const r = parseRequestHead(buf, start, buf.length, whole, limits);
  const inc = new RequestHead();
  let ri = 0;
  let end = start;
  let errorAt = -1;
  while (end < buf.length) {
    end++;
    ri = parseRequestHead(buf, start, end, inc, limits);
    if (ri !== 0) break;
  }
  if (ri < 0) errorAt = end;
  if (ri !== r) problems.push(`head at ${start}: whole parse gave ${r}, byte-by-byte ${ri} (stopped at ${end})`);
  else if (r > 0 && headSummary(whole, buf) !== headSummary(inc, buf)) {
    problems.push(`head at ${start}: whole ${headSummary(whole, buf)} vs byte-by-byte ${headSummary(inc, buf)}`);
  }
  return { r, head: whole, errorAt };
}

function decodeAll(buf: Uint8Array, start: number, step: number): { r: number; done: boolean; data: number[]; end: number } {
  const d = new ChunkedDecoder();
  d.reset(Number.MAX_SAFE_INTEGER, limits.maxHeaderBytes);
  const data: number[] = [];
  const onData = (b: Uint8Array, s: number, e: number) => {
    for (let i = s; i < e; i++) data.push(b[i]!);
  };
  let p = start;
  while (p < buf.length) {
    const e = Math.min(buf.length, p + step);
    const r = d.decode(buf, p, e, onData);
    if (r < 0) return { r, done: false, data, end: e };
    p += r;
    if (d.done) return { r: p - start, done: true, data, end: p };
  }
  return { r: p - start, done: false, data, end: p };
}

export function simulate(buf: Uint8Array): SimResult {
  const out: SimResult = { requests: [], error: null, errorAt: -1, errorRequestStart: -1, splitProblems: [] };
  let p = 0;
  while (p < buf.length) {
    const { r, head, errorAt } = parseHeadBothWays(buf, p, out.splitProblems);
    if (r === 0) break; // incomplete at EOF
    if (r < 0) {
      out.error = httpErrorName(r);
      out.errorAt = errorAt;
      out.errorRequestStart = p;
      break;
    }
    if (head.targetForm === "authority") {
      // serve() refuses CONNECT once its head is parsed (connection.ts, #dispatch).
      out.error = httpErrorName(HttpError.CONNECT_NOT_IMPLEMENTED);
      out.errorAt = p + r;
      out.errorRequestStart = p;
      break;
    }
    const headers: [string, string][] = [];
    for (let i = 0; i < head.headerCount; i++) headers.push([head.headerName(buf, i), head.headerValue(buf, i)]);
    const req: SimRequest = {
      method: head.method,
      target: head.target,
      headers,
      body: null,
      start: p,
      headEnd: p + r,
      end: p + r,
      versionMinor: head.versionMinor,
      keepAlive: head.keepAlive,
      chunked: head.chunked,
      contentLength: head.contentLength,
    };
    out.requests.push(req);
    p += r;
    if (head.chunked) {
      const whole = decodeAll(buf, p, buf.length);
      const bytewise = decodeAll(buf, p, 1);
      if (whole.r !== bytewise.r || whole.done !== bytewise.done || whole.data.length !== bytewise.data.length) {
        out.splitProblems.push(`chunked body at ${p}: whole ${JSON.stringify([whole.r, whole.done, whole.data.length])} vs byte-by-byte ${JSON.stringify([bytewise.r, bytewise.done, bytewise.data.length])}`);
      }
      if (whole.r < 0) {
        out.error = httpErrorName(whole.r);
        out.errorAt = bytewise.end;
        out.errorRequestStart = req.start;
        break;
      }
      if (!whole.done) break; // EOF inside the body
      req.body = Uint8Array.from(whole.data);
      p += whole.r;
    } else if (head.contentLength > 0) {
      if (buf.length - p < head.contentLength) break;
      req.body = buf.slice(p, p + head.contentLength);
      p += head.contentLength;
    } else req.body = new Uint8Array(0);
    req.end = p;
    if (!head.keepAlive) break; // nothing after a request that closes the connection is processed
  }
  return out;
}
