// Strict, incremental HTTP/1.1 request-head parser (RFC 9112 message syntax, RFC 9110 field semantics).
//
// No I/O and no regexes. The caller owns one `RequestHead` per connection and calls `parseRequestHead` with
// the bytes received so far; header fields are recorded as offsets into the caller's buffer, so a parse
// allocates nothing but the target string (and the method string for uncommon methods).
//
// Return value of `parseRequestHead`:
//   > 0   bytes consumed, through the CRLF of the empty line that ends the head; `head` is filled in.
//   = 0   the bytes so far are a valid prefix of a head within the limits: call again with more bytes
//         from the same `start` (with the same buffer the parse resumes at the first incomplete line;
//         otherwise the head is re-scanned from `start`).
//   < 0   `-HttpError.X`: the request is malformed or over a limit; reply with `httpErrorInfo(code)` and
//         close the connection (the framing of anything after it cannot be trusted).
//
// Syntax errors (bad bytes, bad line endings, limits) are reported as soon as the offending byte arrives.
// Checks on a field's value (Host, Content-Length, Transfer-Encoding, Expect) run when its line is
// complete, and the checks that need the whole head (a missing Host, a Transfer-Encoding that does not end
// in chunked) run when the empty line arrives.

import { HttpError } from "./errors.ts";

/** Limits applied while parsing a request head. */
export interface ParserLimits {
  /** Bytes of the whole head: leading empty lines, request line, field lines and the final CRLF. */
  maxHeaderBytes: number;
  /** Number of header field lines. */
  maxHeaderCount: number;
  /** Bytes of the request-target. */
  maxTargetLength: number;
}

/** 16 KiB for the whole request head, the same default as Bun.serve (and Node's --max-http-header-size). */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** 100 header field lines, Bun's default (--max-http-header-count; Envoy's too, Node's is 2000). */
export const DEFAULT_MAX_HEADER_COUNT = 100;
/** 8 KiB request-target; RFC 9112 §3 recommends supporting at least 8000 octets. */
export const DEFAULT_MAX_TARGET_LENGTH = 8 * 1024;

export const DEFAULT_LIMITS: Readonly<ParserLimits> = Object.freeze({
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxHeaderCount: DEFAULT_MAX_HEADER_COUNT,
  maxTargetLength: DEFAULT_MAX_TARGET_LENGTH,
});

/**
 * Request-target forms (RFC 9112 §3.2): "/path?query" (§3.2.1), "http://host/path" (§3.2.2),
 * "host:port" for CONNECT only (§3.2.3), "*" for OPTIONS only (§3.2.4).
 */
export type TargetForm = "origin" | "absolute" | "authority" | "asterisk";

// ---------------------------------------------------------------------------------------------------------
// Byte classes

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const COMMA = 0x2c;
const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

const C_TCHAR = 1; // token character, RFC 9110 §5.6.2
const C_FIELD = 2; // field-content character: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5)
const C_TARGET = 4; // request-target byte accepted by this parser: visible ASCII 0x21-0x7E but "#" and "\"
const C_HEX = 8; // HEXDIG
const C_DIGIT = 16; // DIGIT
const C_REGNAME = 32; // reg-name: unreserved / sub-delims (pct-encoded handled separately), RFC 3986 §3.2.2
const C_QDTEXT = 64; // qdtext: HTAB / SP / 0x21 / 0x23-5B / 0x5D-7E / obs-text, RFC 9110 §5.6.4
const C_QPAIR = 128; // the byte after "\" in a quoted-pair: HTAB / SP / VCHAR / obs-text

/** Character-class bits for every byte value (exported for the chunked decoder). */
export const CHAR_CLASS: Uint8Array = /* @__PURE__ */ (() => {
  const t = new Uint8Array(256);
  const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (let i = 0; i < tchar.length; i++) t[tchar.charCodeAt(i)]! |= C_TCHAR;
  for (let c = 0x21; c <= 0x7e; c++) t[c]! |= C_FIELD | C_TARGET | C_QPAIR | C_QDTEXT;
  for (let c = 0x80; c <= 0xff; c++) t[c]! |= C_FIELD | C_QPAIR | C_QDTEXT;
  t[SP]! |= C_FIELD | C_QPAIR | C_QDTEXT;
  t[HTAB]! |= C_FIELD | C_QPAIR | C_QDTEXT;
  t[DQUOTE]! &= ~C_QDTEXT;
  t[BACKSLASH]! &= ~C_QDTEXT;
  // Not in a target: a fragment is no part of one (RFC 9112 §3.2), and a WHATWG URL reads "\" as "/",
  // so "/a\..\b" would route unlike what a proxy in front saw. Other bytes RFC 3986 leaves out ({, |,
  // ", ...) are sent unencoded by real clients, and are let through as llhttp and nginx do.
  t[0x23]! &= ~C_TARGET;
  t[BACKSLASH]! &= ~C_TARGET;
  const hex = "0123456789abcdefABCDEF";
  for (let i = 0; i < hex.length; i++) t[hex.charCodeAt(i)]! |= C_HEX;
  for (let c = 0x30; c <= 0x39; c++) t[c]! |= C_DIGIT;
  const reg = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=";
  for (let i = 0; i < reg.length; i++) t[reg.charCodeAt(i)]! |= C_REGNAME;
  return t;
})();
export const CharClass = {
  TCHAR: C_TCHAR,
  FIELD: C_FIELD,
  TARGET: C_TARGET,
  HEX: C_HEX,
  DIGIT: C_DIGIT,
  QDTEXT: C_QDTEXT,
  QPAIR: C_QPAIR,
} as const;
const CLS = CHAR_CLASS;

/** ASCII lower-casing table (A-Z -> a-z, every other byte unchanged). */
export const LOWER: Uint8Array = /* @__PURE__ */ (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
  return t;
})();

const bytes = (s: string): Uint8Array => {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
};

/** Case-insensitive compare of buf[s, s+lower.length) with an already lower-case ASCII word. */
function eqLower(buf: Uint8Array, s: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) if (LOWER[buf[s + i]!] !== lower[i]) return false;
  return true;
}

// Latin-1 slice of a Uint8Array into a string. Buffer#latin1Slice works on any Uint8Array receiver in Bun
// and is a single native copy (about 30 ns for 20 bytes, versus 70 ns for TextDecoder and 100+ ns for
// String.fromCharCode); TextDecoder("latin1") would be wrong anyway: the WHATWG "latin1" is windows-1252.
const latin1SliceImpl = (Buffer.prototype as unknown as { latin1Slice(start: number, end: number): string })
  .latin1Slice;
/** The bytes buf[start, end) as a latin1 string (one char per byte). */
export function latin1(buf: Uint8Array, start: number, end: number): string {
  return latin1SliceImpl.call(buf, start, end);
}

/**
 * Whether a header line of the raw head `head` starts with the letter `a` or `b` (lower-case ASCII
 * codes), in either case: a cheap test before parsing a head again for a header or two.
 */
export function headerLineStarts(head: Uint8Array, a: number, b: number = a): boolean {
  for (let i = head.indexOf(10); i >= 0 && i < head.length - 1; i = head.indexOf(10, i + 1)) {
    const c = head[i + 1]! | 0x20;
    if (c === a || c === b) return true;
  }
  return false;
}

/**
 * Whether a[0, n) equals b[start, start + n): a JS loop for short runs (in the server's hot path it
 * cost less than a native call), Buffer#compare (a memcmp) past 128 bytes.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array, start: number, n: number): boolean {
  if (n > 128) return bufferCompare.call(a, b, start, start + n) === 0;
  let i = 0;
  while (i < n && b[start + i] === a[i]) i++;
  return i === n;
}
const bufferCompare = (Buffer.prototype as unknown as { compare(target: Uint8Array, start: number, end: number): number }).compare;

/**
 * The last string made from some bytes, with a copy of them (up to `capacity` bytes), for what
 * clients repeat (a request-target, a Host): comparing a few bytes costs less than a native slice
 * and its garbage.
 */
export class LastBytes {
  readonly #bytes: Uint8Array;
  #len = -1;
  value = "";
  constructor(capacity: number) {
    this.#bytes = new Uint8Array(capacity);
  }
  /** True when buf[start, end) are the remembered bytes: `value` is theirs. */
  matches(buf: Uint8Array, start: number, end: number): boolean {
    return end - start === this.#len && sameBytes(this.#bytes, buf, start, end - start);
  }
  /** Remember `value` as made from buf[start, end) (unless they are too long); returns it. */
  remember(buf: Uint8Array, start: number, end: number, value: string): string {
    if (end - start <= this.#bytes.length) {
      this.#bytes.set(buf.subarray(start, end));
      this.#len = end - start;
      this.value = value;
    }
    return value;
  }
}

const lastTarget = new LastBytes(128);

/** The request-target as a string, the last one's when the bytes are the same. */
function targetString(b: Uint8Array, start: number, end: number): string {
  return lastTarget.matches(b, start, end) ? lastTarget.value : lastTarget.remember(b, start, end, latin1(b, start, end));
}

// ---------------------------------------------------------------------------------------------------------
// Interned strings

const M_GET = "GET";
const M_HEAD = "HEAD";
const M_POST = "POST";
const M_PUT = "PUT";
const M_DELETE = "DELETE";
const M_OPTIONS = "OPTIONS";
const M_PATCH = "PATCH";
const M_CONNECT = "CONNECT";
const M_TRACE = "TRACE";

// The other methods passed to the app: those Bun.serve accepts (WebDAV, CalDAV, UPnP, PURGE, QUERY, ... from
// the IANA registry), so an app sees the same methods under both. Any other method is 501: "An origin server
// that receives a request method that is unrecognized or not implemented SHOULD respond with the 501 (Not
// Implemented) status code" (RFC 9110 §9.1). Methods are case-sensitive: "get" is not GET (a Request would
// have turned it into GET), so it is 501 too.
const EXTENSION_METHODS = new Set([
  "ACL", "BIND", "CHECKOUT", "COPY", "LINK", "LOCK", "M-SEARCH", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL",
  "MOVE", "NOTIFY", "PROPFIND", "PROPPATCH", "PURGE", "QUERY", "REBIND", "REPORT", "SEARCH", "SOURCE",
  "SUBSCRIBE", "UNBIND", "UNLINK", "UNLOCK", "UNSUBSCRIBE",
]);
/** Bytes of the longest method above ("UNSUBSCRIBE"): a longer one is refused before it is read whole. */
const MAX_METHOD_LENGTH = Math.max(...[...EXTENSION_METHODS].map((m) => m.length));

/** GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, CONNECT and TRACE as interned strings; null for others. */
function internMethod(b: Uint8Array, s: number, len: number): string | null {
  switch (len) {
    case 3:
      if (b[s] === 0x47 && b[s + 1] === 0x45 && b[s + 2] === 0x54) return M_GET;
      if (b[s] === 0x50 && b[s + 1] === 0x55 && b[s + 2] === 0x54) return M_PUT;
      return null;
    case 4:
      if (b[s + 1] === 0x4f && b[s] === 0x50 && b[s + 2] === 0x53 && b[s + 3] === 0x54) return M_POST;
      if (b[s] === 0x48 && b[s + 1] === 0x45 && b[s + 2] === 0x41 && b[s + 3] === 0x44) return M_HEAD;
      return null;
    case 5:
      if (b[s] === 0x50 && b[s + 1] === 0x41 && b[s + 2] === 0x54 && b[s + 3] === 0x43 && b[s + 4] === 0x48)
        return M_PATCH;
      if (b[s] === 0x54 && b[s + 1] === 0x52 && b[s + 2] === 0x41 && b[s + 3] === 0x43 && b[s + 4] === 0x45)
        return M_TRACE;
      return null;
    case 6:
      return b[s] === 0x44 && b[s + 1] === 0x45 && b[s + 2] === 0x4c && b[s + 3] === 0x45 && b[s + 4] === 0x54 &&
        b[s + 5] === 0x45
        ? M_DELETE
        : null;
    case 7:
      if (b[s] === 0x4f && b[s + 1] === 0x50 && b[s + 2] === 0x54 && b[s + 3] === 0x49 && b[s + 4] === 0x4f &&
        b[s + 5] === 0x4e && b[s + 6] === 0x53)
        return M_OPTIONS;
      if (b[s] === 0x43 && b[s + 1] === 0x4f && b[s + 2] === 0x4e && b[s + 3] === 0x4e && b[s + 4] === 0x45 &&
        b[s + 5] === 0x43 && b[s + 6] === 0x54)
        return M_CONNECT;
      return null;
  }
  return null;
}

// Header names returned by `headerName` without allocating. Looked up by length, then byte compare.
const COMMON_HEADER_NAMES = [
  "accept", "accept-charset", "accept-encoding", "accept-language", "access-control-request-headers",
  "access-control-request-method", "authorization", "baggage", "cache-control", "connection",
  "content-disposition", "content-encoding", "content-language", "content-length", "content-type", "cookie",
  "date", "dnt", "expect", "forwarded", "from", "host", "if-match", "if-modified-since", "if-none-match",
  "if-range", "if-unmodified-since", "keep-alive", "max-forwards", "origin", "pragma", "priority",
  "proxy-authorization", "range", "referer", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
  "sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-user", "sec-purpose",
  "sec-websocket-extensions", "sec-websocket-key", "sec-websocket-protocol", "sec-websocket-version", "te",
  "traceparent", "tracestate", "trailer", "transfer-encoding", "upgrade", "upgrade-insecure-requests",
  "user-agent", "via", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
  "x-request-id", "x-requested-with",
] as const;

interface NameEntry {
  readonly b: Uint8Array;
  readonly s: string;
}
const NAMES_BY_LENGTH: NameEntry[][] = [];
for (const s of COMMON_HEADER_NAMES) (NAMES_BY_LENGTH[s.length] ??= []).push({ b: bytes(s), s });

function internHeaderName(buf: Uint8Array, s: number, len: number): string | null {
  const bucket = NAMES_BY_LENGTH[len];
  if (bucket === undefined) return null;
  const first = LOWER[buf[s]!];
  for (let i = 0; i < bucket.length; i++) {
    const e = bucket[i]!;
    if (e.b[0] === first && eqLower(buf, s, e.b)) return e.s;
  }
  return null;
}

const W_HOST = bytes("host");
const W_EXPECT = bytes("expect");
const W_UPGRADE = bytes("upgrade");
const W_CONNECTION = bytes("connection");
const W_CONTENT_LENGTH = bytes("content-length");
const W_TRANSFER_ENCODING = bytes("transfer-encoding");
const W_CLOSE = bytes("close");
const W_KEEP_ALIVE = bytes("keep-alive");
const W_CHUNKED = bytes("chunked");
const W_100_CONTINUE = bytes("100-continue");
const W_HTTP = bytes("http");
const W_HTTPS = bytes("https");
const HTTP_SLASH = bytes("HTTP/");

// ---------------------------------------------------------------------------------------------------------

/**
 * The parsed request head. Keep one per connection; every field is overwritten by each parse. After an
 * incomplete parse (0) it remembers where to resume; call `reset()` before reusing it for another
 * connection whose bytes could sit at the same place in the same buffer.
 */
export class RequestHead {
  /** Request method; the nine RFC 9110 methods are interned constants, other tokens are sliced. */
  method = "";
  /** The request-target exactly as received (visible ASCII). */
  target = "";
  targetForm: TargetForm = "origin";
  /** Offsets of the request-target in the parsed buffer. */
  targetStart = 0;
  targetEnd = 0;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  versionMinor: 0 | 1 = 1;
  headerCount = 0;
  /** 4 offsets per header field line: nameStart, nameEnd, valueStart, valueEnd (value trimmed of OWS). */
  headers: Int32Array;
  /** Content-Length, or -1 when absent. */
  contentLength = -1;
  /** Transfer-Encoding: chunked (the only coding accepted); the body is then read with ChunkedDecoder. */
  chunked = false;
  /** Whether the connection persists after this request (RFC 9112 §9.3). */
  keepAlive = true;
  /** `Expect: 100-continue` in an HTTP/1.1 request (RFC 9110 §10.1.1; ignored in HTTP/1.0). */
  expectContinue = false;
  /** `Connection: upgrade` plus an Upgrade header, in HTTP/1.1 (RFC 9110 §7.8). */
  upgrade = false;
  /** Offsets of the Host header value, -1 when there is none. */
  hostStart = -1;
  hostEnd = -1;
  /** Offsets of the authority in an absolute-form or authority-form target, -1 otherwise (RFC 9112 §3.2.2). */
  authorityStart = -1;
  authorityEnd = -1;
  /** Bytes of the head (what parseRequestHead returned), 0 until a parse succeeds. */
  headBytes = 0;

  // Per-parse scratch state for list-valued fields that may span several field lines.
  /** @internal */ _te = 0; // bit 1: Transfer-Encoding seen, 2: chunked seen, 4: another coding seen
  /** @internal */ _conn = 0; // bit 1: close, 2: keep-alive, 4: upgrade
  /** @internal */ _upgradeHeader = false;
  /** @internal */ _methodStart = 0;
  /** @internal */ _methodEnd = 0;
  // Resume point of an incomplete parse (see parseRequestHead).
  /** @internal */ _resumeBuf: Uint8Array | null = null;
  /** @internal */ _resumeStart = 0;
  /** @internal */ _resumeEnd = 0;
  /** @internal */ _resumeAt = 0;
  /** @internal */ _resumeCount = 0;
  /** @internal */ _resumeScan = 0; // > 0: bytes of the incomplete line before this offset are validated
  /** @internal */ _resumeNameEnd = -1; // >= 0: ... and the line's name ended (colon) here
  /** @internal */ _resumeValueStart = 0;

  constructor(maxHeaderCount: number = DEFAULT_MAX_HEADER_COUNT) {
    this.headers = new Int32Array(maxHeaderCount * 4);
  }

  /** Clear every field, including the resume point of an incomplete parse. */
  reset(): void {
    this.method = "";
    this.target = "";
    this.targetForm = "origin";
    this.targetStart = 0;
    this.targetEnd = 0;
    this.versionMinor = 1;
    this.headerCount = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.keepAlive = true;
    this.expectContinue = false;
    this.upgrade = false;
    this.hostStart = -1;
    this.hostEnd = -1;
    this.authorityStart = -1;
    this.authorityEnd = -1;
    this.headBytes = 0;
    this._te = 0;
    this._conn = 0;
    this._upgradeHeader = false;
    this._methodStart = 0;
    this._methodEnd = 0;
    this._resumeBuf = null;
  }

  /** Lower-cased name of header `i`; common names are interned constants. */
  headerName(buf: Uint8Array, i: number): string {
    const s = this.headers[i * 4]!;
    const len = this.headers[i * 4 + 1]! - s;
    const interned = internHeaderName(buf, s, len);
    if (interned !== null) return interned;
    return latin1(buf, s, s + len).toLowerCase();
  }

  /** Value of header `i` as a latin1 string, without leading/trailing SP/HTAB. */
  headerValue(buf: Uint8Array, i: number): string {
    return latin1(buf, this.headers[i * 4 + 2]!, this.headers[i * 4 + 3]!);
  }

  /** Index of the first header named `lowerName` (lower-case ASCII), or -1. */
  indexOf(buf: Uint8Array, lowerName: string): number {
    const h = this.headers;
    const len = lowerName.length;
    outer: for (let i = 0; i < this.headerCount; i++) {
      const s = h[i * 4]!;
      if (h[i * 4 + 1]! - s !== len) continue;
      for (let k = 0; k < len; k++) if (LOWER[buf[s + k]!] !== lowerName.charCodeAt(k)) continue outer;
      return i;
    }
    return -1;
  }

  /**
   * The request's authority: the target's authority for absolute-form and authority-form requests
   * (authoritative over Host, RFC 9112 §3.2.2), otherwise the Host header value; "" when neither exists.
   */
  host(buf: Uint8Array): string {
    if (this.authorityStart >= 0) return latin1(buf, this.authorityStart, this.authorityEnd);
    if (this.hostStart >= 0) return latin1(buf, this.hostStart, this.hostEnd);
    return "";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Authority syntax (RFC 3986 §3.2.2-3.2.3), used for Host, absolute-form and authority-form.

function isHex(c: number): boolean {
  return (CLS[c]! & C_HEX) !== 0;
}

// dec-octet "." dec-octet "." dec-octet "." dec-octet, no leading zeros (RFC 3986 §3.2.2)
function validIPv4(b: Uint8Array, s: number, e: number): boolean {
  let p = s;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (p >= e || b[p] !== 0x2e) return false;
      p++;
    }
    const ds = p;
    let v = 0;
    while (p < e && p - ds < 3 && (CLS[b[p]!]! & C_DIGIT) !== 0) v = v * 10 + b[p++]! - 0x30;
    if (p === ds || v > 255 || (p - ds > 1 && b[ds] === 0x30)) return false;
  }
  return p === e;
}

// IPv6address (RFC 3986 §3.2.2): eight 16-bit groups, at most one "::", optionally ending in an IPv4 address.
function validIPv6(b: Uint8Array, s: number, e: number): boolean {
  let p = s;
  let groups = 0;
  let elided = false;
  if (p < e && b[p] === COLON) {
    if (p + 1 >= e || b[p + 1] !== COLON) return false;
    elided = true;
    p += 2;
  }
  while (p < e) {
    let q = p;
    while (q < e && isHex(b[q]!)) q++;
    if (q < e && b[q] === 0x2e) {
      if (!validIPv4(b, p, e)) return false;
      groups += 2;
      break;
    }
    if (q === p || q - p > 4) return false;
    groups++;
    p = q;
    if (p === e) break;
    if (b[p] !== COLON) return false;
    p++;
    if (p < e && b[p] === COLON) {
      if (elided) return false;
      elided = true;
      p++;
    } else if (p === e) return false;
  }
  return elided ? groups <= 7 : groups === 8;
}

// IP-literal = "[" ( IPv6address / IPvFuture ) "]"; IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
function validIPLiteral(b: Uint8Array, s: number, e: number): boolean {
  if (s < e && (b[s] === 0x76 || b[s] === 0x56)) {
    let p = s + 1;
    while (p < e && isHex(b[p]!)) p++;
    if (p === s + 1 || p >= e || b[p] !== 0x2e) return false;
    p++;
    if (p === e) return false;
    for (; p < e; p++) if ((CLS[b[p]!]! & C_REGNAME) === 0 && b[p] !== COLON) return false;
    return true;
  }
  return validIPv6(b, s, e);
}

/**
 * uri-host [ ":" port ] with a non-empty host (RFC 3986 §3.2.2). `port` may be empty only when not required
 * (RFC 3986 allows "host:"); a port must be at most 65535.
 */
export function validAuthority(b: Uint8Array, s: number, e: number, requirePort: boolean): boolean {
  if (s >= e) return false;
  let p = s;
  if (b[p] === 0x5b) {
    let q = p + 1;
    while (q < e && b[q] !== 0x5d) q++;
    if (q >= e || !validIPLiteral(b, p + 1, q)) return false;
    p = q + 1;
  } else {
    while (p < e && b[p] !== COLON) {
      const c = b[p]!;
      if (c === 0x25) {
        // pct-encoded
        if (p + 2 >= e || !isHex(b[p + 1]!) || !isHex(b[p + 2]!)) return false;
        p += 3;
      } else if ((CLS[c]! & C_REGNAME) !== 0) p++;
      else return false;
    }
    if (p === s) return false;
  }
  if (p === e) return !requirePort;
  if (b[p] !== COLON) return false;
  p++;
  if (p === e) return !requirePort;
  if (e - p > 5) return false;
  let port = 0;
  for (; p < e; p++) {
    const c = b[p]!;
    if ((CLS[c]! & C_DIGIT) === 0) return false;
    port = port * 10 + c - 0x30;
  }
  return port <= 65535;
}

// absolute-form, restricted to http and https (RFC 9110 §4.2): "http" ["s"] "://" authority [path-abempty]
// ["?" query]. A server only serves http(s) targets, and an http(s) URI must have a non-empty host
// (RFC 9110 §4.2.1); userinfo is deprecated and treated as an error (RFC 9110 §4.2.4).
// Sets head.authorityStart/End and returns true when valid.
function parseAbsoluteForm(b: Uint8Array, s: number, e: number, head: RequestHead): boolean {
  let p = s;
  if (e - s > 4 && eqLower(b, s, W_HTTP) && b[s + 4] === COLON) p = s + 5;
  else if (e - s > 5 && eqLower(b, s, W_HTTPS) && b[s + 5] === COLON) p = s + 6;
  else return false;
  if (e - p < 2 || b[p] !== 0x2f || b[p + 1] !== 0x2f) return false;
  p += 2;
  const as = p;
  while (p < e && b[p] !== 0x2f && b[p] !== 0x3f && b[p] !== 0x23) {
    if (b[p] === 0x40) return false; // userinfo "@"
    p++;
  }
  if (!validAuthority(b, as, p, false)) return false;
  head.authorityStart = as;
  head.authorityEnd = p;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Field value semantics

/** Index just past a quoted-string starting at b[p] === DQUOTE, or -1 (RFC 9110 §5.6.4). */
export function skipQuotedString(b: Uint8Array, p: number, e: number): number {
  p++;
  while (p < e) {
    const c = b[p]!;
    if (c === DQUOTE) return p + 1;
    if (c === BACKSLASH) {
      if (p + 1 >= e || (CLS[b[p + 1]!]! & C_QPAIR) === 0) return -1;
      p += 2;
    } else if ((CLS[c]! & C_QDTEXT) !== 0) p++;
    else return -1;
  }
  return -1;
}

function skipOWS(b: Uint8Array, p: number, e: number): number {
  while (p < e && (b[p] === SP || b[p] === HTAB)) p++;
  return p;
}

// Content-Length = 1*DIGIT (RFC 9110 §8.6): one value on one line. A list ("5, 5") or a second line is
// refused even when the values agree: §8.6 lets a recipient either reject it or take the one value, and
// refusing leaves nothing for a proxy in front to read differently (llhttp and nginx refuse it too).
// No sign, no inner whitespace, at most 2^53-1.
function onContentLength(b: Uint8Array, s: number, e: number, head: RequestHead): number {
  if (head._te !== 0) return -HttpError.CONTENT_LENGTH_WITH_TRANSFER_ENCODING;
  if (head.contentLength >= 0) return -HttpError.DUPLICATE_CONTENT_LENGTH;
  let p = s;
  let value = 0;
  while (p < e && (CLS[b[p]!]! & C_DIGIT) !== 0) {
    value = value * 10 + (b[p]! - 0x30);
    if (value > Number.MAX_SAFE_INTEGER) return -HttpError.INVALID_CONTENT_LENGTH;
    p++;
  }
  if (p === s || p !== e) return -HttpError.INVALID_CONTENT_LENGTH; // the value is already trimmed of OWS
  head.contentLength = value;
  return 0;
}

// Transfer-Encoding = #transfer-coding; transfer-coding = token *( OWS ";" OWS transfer-parameter )
// (RFC 9112 §6.1, RFC 9110 §10.1.4). Codings accumulate across field lines. chunked must be last and
// appear once (§6.1, §6.3); anything after chunked is a 400 right away.
function onTransferEncoding(b: Uint8Array, s: number, e: number, head: RequestHead): number {
  // §6.1: "A server that receives a request message with a transfer coding it does not understand SHOULD
  // respond with 501"; "MUST ... treat [an HTTP/1.0 message with Transfer-Encoding] as having faulty framing".
  if (head.versionMinor === 0) return -HttpError.TRANSFER_ENCODING_IN_HTTP10;
  // §6.1: a sender MUST NOT send Content-Length with Transfer-Encoding. §6.3 allows the server to process
  // it as chunked and close; like llhttp (strict), we reject it: it is the classic smuggling vector.
  if (head.contentLength >= 0) return -HttpError.CONTENT_LENGTH_WITH_TRANSFER_ENCODING;
  head._te |= 1;
  let p = s;
  while (p < e) {
    // Empty list elements are ignored (RFC 9110 §5.6.1.2).
    if (b[p] === COMMA) {
      p = skipOWS(b, p + 1, e);
      continue;
    }
    const ts = p;
    while (p < e && (CLS[b[p]!]! & C_TCHAR) !== 0) p++;
    if (p === ts) return -HttpError.INVALID_TRANSFER_ENCODING;
    const isChunked = p - ts === 7 && eqLower(b, ts, W_CHUNKED);
    let hasParams = false;
    p = skipOWS(b, p, e);
    while (p < e && b[p] === SEMI) {
      // transfer-parameter = token BWS "=" BWS ( token / quoted-string )
      hasParams = true;
      p = skipOWS(b, p + 1, e);
      const ns = p;
      while (p < e && (CLS[b[p]!]! & C_TCHAR) !== 0) p++;
      if (p === ns) return -HttpError.INVALID_TRANSFER_ENCODING;
      p = skipOWS(b, p, e);
      if (p >= e || b[p] !== EQUALS) return -HttpError.INVALID_TRANSFER_ENCODING;
      p = skipOWS(b, p + 1, e);
      if (p < e && b[p] === DQUOTE) {
        p = skipQuotedString(b, p, e);
        if (p < 0) return -HttpError.INVALID_TRANSFER_ENCODING;
      } else {
        const vs = p;
        while (p < e && (CLS[b[p]!]! & C_TCHAR) !== 0) p++;
        if (p === vs) return -HttpError.INVALID_TRANSFER_ENCODING;
      }
      p = skipOWS(b, p, e);
    }
    if (p < e && b[p] !== COMMA) return -HttpError.INVALID_TRANSFER_ENCODING;
    // chunked takes no parameters (RFC 9112 §7.1).
    if (isChunked && hasParams) return -HttpError.INVALID_TRANSFER_ENCODING;
    if ((head._te & 2) !== 0) return isChunked ? -HttpError.REPEATED_CHUNKED : -HttpError.TRANSFER_ENCODING_NOT_CHUNKED;
    head._te |= isChunked ? 2 : 4;
  }
  return 0;
}

// Connection = #connection-option (RFC 9110 §7.6.1), options are case-insensitive tokens. Only close,
// keep-alive and upgrade mean anything here; other options are ignored.
function onConnection(b: Uint8Array, s: number, e: number, head: RequestHead): void {
  let p = s;
  while (p < e) {
    while (p < e && (b[p] === COMMA || b[p] === SP || b[p] === HTAB)) p++;
    const ts = p;
    while (p < e && b[p] !== COMMA) p++;
    let te = p;
    while (te > ts && (b[te - 1] === SP || b[te - 1] === HTAB)) te--;
    const len = te - ts;
    if (len === 5 && eqLower(b, ts, W_CLOSE)) head._conn |= 1;
    else if (len === 10 && eqLower(b, ts, W_KEEP_ALIVE)) head._conn |= 2;
    else if (len === 7 && eqLower(b, ts, W_UPGRADE)) head._conn |= 4;
  }
}

// Expect = #expectation (RFC 9110 §10.1.1). The only expectation defined is 100-continue (case-insensitive);
// "A server that receives an Expect field value containing a member other than 100-continue MAY respond
// with a 417" - we do. An empty list expects nothing.
function onExpect(b: Uint8Array, s: number, e: number, head: RequestHead): number {
  let p = s;
  while (p < e) {
    while (p < e && (b[p] === COMMA || b[p] === SP || b[p] === HTAB)) p++;
    if (p === e) break;
    const ts = p;
    while (p < e && b[p] !== COMMA) p++;
    let te = p;
    while (te > ts && (b[te - 1] === SP || b[te - 1] === HTAB)) te--;
    if (te - ts !== 12 || !eqLower(b, ts, W_100_CONTINUE)) return -HttpError.EXPECTATION_FAILED;
    // §10.1.1: "A server that receives a 100-continue expectation in an HTTP/1.0 request MUST ignore it."
    if (head.versionMinor === 1) head.expectContinue = true;
  }
  return 0;
}

// Host = uri-host [ ":" port ] (RFC 9112 §3.2). "A server MUST respond with a 400 to any HTTP/1.1 request
// message that lacks a Host header field and to any request message that contains more than one Host
// header field line or a Host header field with an invalid field value."
// An empty Host is what a client sends when the target URI has no authority (§3.2); an http(s) target
// always has one (RFC 9110 §4.2.1), so we allow an empty Host only with absolute-form, where the target's
// authority is used instead (§3.2.2).
function onHost(b: Uint8Array, s: number, e: number, head: RequestHead): number {
  if (head.hostStart >= 0) return -HttpError.DUPLICATE_HOST;
  head.hostStart = s;
  head.hostEnd = e;
  if (s === e) return head.targetForm === "absolute" ? 0 : -HttpError.INVALID_HOST;
  return validAuthority(b, s, e, false) ? 0 : -HttpError.INVALID_HOST;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Parse one request head from buf[start, end). See the top of this file for the return value.
 * `head` is filled in; header offsets refer to `buf`.
 *
 * Resuming: when the previous call with this `head` returned 0 and this call passes the same `buf` and
 * `start` (and an `end` no smaller), parsing resumes at the first incomplete line instead of re-scanning
 * the head, so a head trickling in one byte per read costs O(length), not O(length^2). The bytes in
 * [start, previous end) must therefore be unchanged between the calls, which is what accumulating a head
 * in a receive buffer does. Any other call (another buffer or start, or after `head.reset()`) starts over.
 */
export function parseRequestHead(
  buf: Uint8Array,
  start: number,
  end: number,
  head: RequestHead,
  limits: Readonly<ParserLimits> = DEFAULT_LIMITS,
): number {
  // Scan at most maxHeaderBytes. Running out of bytes at `lim` means "incomplete" if that is all the caller
  // has, and "too large" if the caller has more bytes than the limit (so 431 comes as soon as it is passed).
  const maxEnd = start + limits.maxHeaderBytes;
  const lim = end < maxEnd ? end : maxEnd;
  const more = end > maxEnd ? -HttpError.HEADERS_TOO_LARGE : 0;
  const b = buf;
  let p: number;
  let n: number;
  // Where the previous call stopped inside the first line to scan (0: at the line start).
  let rScan = 0;
  let rNameEnd = -1;
  let rValueStart = 0;
  if (head._resumeBuf === buf && head._resumeStart === start && end >= head._resumeEnd) {
    p = head._resumeAt;
    n = head._resumeCount;
    rScan = head._resumeScan;
    rNameEnd = head._resumeNameEnd;
    rValueStart = head._resumeValueStart;
    head._resumeBuf = null;
  } else {
    head.reset();
    p = parseRequestLine(b, start, lim, more, head, limits);
    if (p <= 0) return p;
    n = 0;
  }
  const versionMinor = head.versionMinor;
  let c = 0;

  // field-line = field-name ":" OWS field-value OWS CRLF (RFC 9112 §5)
  const maxCount = limits.maxHeaderCount;
  let h = head.headers;
  if (h.length < maxCount * 4) {
    const grown = new Int32Array(maxCount * 4);
    grown.set(h.subarray(0, n * 4));
    h = head.headers = grown;
  }
  const lim4 = lim - 4;
  for (;;) {
    const ls = p; // start of this line: where to resume if it is incomplete
    if (p >= lim) return suspend(head, b, start, end, ls, n, more, 0, -1, 0);
    c = b[p]!;
    if (c === CR) {
      if (p + 1 >= lim) return suspend(head, b, start, end, ls, n, more, 0, -1, 0);
      if (b[p + 1] !== LF) return -HttpError.BARE_CR;
      p += 2;
      break;
    }
    if (c === LF) return -HttpError.BARE_LF;
    if (c === SP || c === HTAB) {
      // RFC 9112 §2.2: whitespace between the start-line and the first field line MUST be rejected or the
      // line ignored; we reject. Later, a line starting with whitespace is obs-fold (§5.2), which a server
      // MUST either reject with 400 or replace with SP; we reject (llhttp too).
      return n === 0 ? -HttpError.WHITESPACE_AFTER_START_LINE : -HttpError.OBS_FOLD;
    }
    if (n >= maxCount) return -HttpError.TOO_MANY_HEADERS;

    // field-name = token (RFC 9110 §5.1). Four bytes per step while all are in the class (about twice as
    // fast in JSC as one at a time), then byte by byte.
    const ns = p;
    let ne = -1;
    let vs = 0;
    if (rScan !== 0) {
      // Resuming inside this line: skip what the previous call validated.
      p = rScan;
      ne = rNameEnd;
      vs = rValueStart;
      rScan = 0;
    }
    if (ne < 0) {
      while (p <= lim4 && (CLS[b[p]!]! & CLS[b[p + 1]!]! & CLS[b[p + 2]!]! & CLS[b[p + 3]!]! & C_TCHAR) !== 0) p += 4;
      while (p < lim && (CLS[b[p]!]! & C_TCHAR) !== 0) p++;
      if (p >= lim) return suspend(head, b, start, end, ls, n, more, p, -1, 0);
      c = b[p]!;
      if (c !== COLON) {
        // RFC 9112 §5.1: "No whitespace is allowed between the field name and colon ... A server MUST reject,
        // with a response status code of 400 (Bad Request), any received request message that contains
        // whitespace between a header field name and colon."
        if ((c === SP || c === HTAB) && p > ns) return -HttpError.WHITESPACE_BEFORE_COLON;
        return -HttpError.INVALID_HEADER_NAME;
    }
    if (p === ns) return -HttpError.INVALID_HEADER_NAME;
    ne = p++;
    vs = p;
    }

    // field-value = *field-content; VCHAR, obs-text, SP, HTAB. NUL, other CTLs and DEL are invalid
    // (RFC 9110 §5.5: "a recipient ... MUST either reject the message or replace each such character").
    if (p === vs) {
      while (p < lim && (b[p] === SP || b[p] === HTAB)) p++;
      vs = p;
    }
    while (p <= lim4 && (CLS[b[p]!]! & CLS[b[p + 1]!]! & CLS[b[p + 2]!]! & CLS[b[p + 3]!]! & C_FIELD) !== 0) p += 4;
    while (p < lim && (CLS[b[p]!]! & C_FIELD) !== 0) p++;
    if (p >= lim) return suspend(head, b, start, end, ls, n, more, p, ne, vs);
    c = b[p]!;
    // Lines end in CRLF; bare LF and bare CR are rejected (see parseRequestLine).
    if (c !== CR) return c === LF ? -HttpError.BARE_LF : -HttpError.INVALID_HEADER_VALUE;
    if (p + 1 >= lim) return suspend(head, b, start, end, ls, n, more, p, ne, vs);
    if (b[p + 1] !== LF) return -HttpError.BARE_CR;
    let ve = p;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    p += 2;

    const o = n * 4;
    h[o] = ns;
    h[o + 1] = ne;
    h[o + 2] = vs;
    h[o + 3] = ve;
    n++;

    // Fields that matter for framing and connection handling. Names are case-insensitive (RFC 9110 §5.1).
    let r = 0;
    switch (ne - ns) {
      case 4:
        if (eqLower(b, ns, W_HOST)) r = onHost(b, vs, ve, head);
        break;
      case 6:
        if (eqLower(b, ns, W_EXPECT)) r = onExpect(b, vs, ve, head);
        break;
      case 7:
        if (eqLower(b, ns, W_UPGRADE)) head._upgradeHeader = ve > vs;
        break;
      case 10:
        if (eqLower(b, ns, W_CONNECTION)) onConnection(b, vs, ve, head);
        break;
      case 14:
        if (eqLower(b, ns, W_CONTENT_LENGTH)) r = onContentLength(b, vs, ve, head);
        break;
      case 17:
        if (eqLower(b, ns, W_TRANSFER_ENCODING)) r = onTransferEncoding(b, vs, ve, head);
        break;
    }
    if (r < 0) return r;
  }

  // Checks that need the whole head.
  if (versionMinor === 1 && head.hostStart < 0) return -HttpError.MISSING_HOST; // RFC 9112 §3.2
  const teState = head._te;
  if (teState !== 0) {
    // RFC 9112 §6.3: "If a Transfer-Encoding header field is present in a request and the chunked transfer
    // coding is not the final encoding, the message body length cannot be determined reliably; the server
    // MUST respond with the 400 (Bad Request) status code and then close the connection."
    if ((teState & 2) === 0) return -HttpError.TRANSFER_ENCODING_NOT_CHUNKED;
    // §6.1: an unknown (to us: any other) coding SHOULD get 501. llhttp accepts "gzip, chunked" and leaves
    // the decoding to the application; we do not decode gzip, so we refuse.
    if ((teState & 4) !== 0) return -HttpError.UNSUPPORTED_TRANSFER_CODING;
    head.chunked = true;
  }

  // RFC 9112 §9.3: HTTP/1.1 persists unless "close" is a connection option; HTTP/1.0 persists only with
  // "keep-alive" (and not "close").
  const conn = head._conn;
  head.keepAlive = (conn & 1) === 0 && (versionMinor === 1 || (conn & 2) !== 0);
  // RFC 9110 §7.8: Upgrade is ignored in HTTP/1.0, and only meaningful with the "upgrade" connection option.
  head.upgrade = versionMinor === 1 && (conn & 4) !== 0 && head._upgradeHeader;

  const ms = head._methodStart;
  const me = head._methodEnd;
  head.method = internMethod(b, ms, me - ms) ?? latin1(b, ms, me);
  const ts = head.targetStart;
  const te = head.targetEnd;
  head.target = te - ts === 1 && b[ts] === 0x2f ? "/" : targetString(b, ts, te);
  head.headerCount = n;
  const consumed = p - start;
  head.headBytes = consumed;
  return consumed;
}

// When the head is incomplete (not too large), remember where to resume: the start of the incomplete line,
// how far into it the bytes are validated (`scan`, 0 for none) and, once past the colon, where the name
// ended and the value started.
function suspend(
  head: RequestHead,
  buf: Uint8Array,
  start: number,
  end: number,
  lineStart: number,
  n: number,
  more: number,
  scan: number,
  nameEnd: number,
  valueStart: number,
): number {
  if (more === 0) {
    head._resumeBuf = buf;
    head._resumeStart = start;
    head._resumeEnd = end;
    head._resumeAt = lineStart;
    head._resumeCount = n;
    head._resumeScan = scan;
    head._resumeNameEnd = nameEnd;
    head._resumeValueStart = valueStart;
  }
  return more;
}

/**
 * Leading empty lines and the request line. Fills in the method and target offsets, target form, authority
 * and version. Returns the offset just past the request line's CRLF (> start), or `more` (0 or -431) when
 * the bytes run out, or `-HttpError.X`.
 */
function parseRequestLine(
  b: Uint8Array,
  start: number,
  lim: number,
  more: number,
  head: RequestHead,
  limits: Readonly<ParserLimits>,
): number {
  let p = start;
  let c = 0;

  // RFC 9112 §2.2: "a server that is expecting to receive and parse a request-line SHOULD ignore at least
  // one empty line (CRLF) received prior to the request-line". We ignore up to two (clients have been
  // known to send a CRLF after a POST body) and reject more; llhttp ignores any number, and bare LFs too.
  let empty = 0;
  for (;;) {
    if (p >= lim) return more;
    c = b[p]!;
    if (c === CR) {
      if (p + 1 >= lim) return more;
      if (b[p + 1] !== LF) return -HttpError.BARE_CR;
      if (++empty > 2) return -HttpError.TOO_MANY_EMPTY_LINES;
      p += 2;
    } else if (c === LF) return -HttpError.BARE_LF;
    else break;
  }

  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3). Exactly one SP between parts:
  // §3 allows lenient whitespace parsing, but strict parsing is what the grammar says (llhttp is lenient).
  // method = token (RFC 9110 §9.1).
  const ms = p;
  const mLim = lim < ms + MAX_METHOD_LENGTH + 1 ? lim : ms + MAX_METHOD_LENGTH + 1;
  while (p < mLim && (CLS[b[p]!]! & C_TCHAR) !== 0) p++;
  // "A server that receives a method longer than any that it implements SHOULD respond with a 501" (§3).
  if (p - ms > MAX_METHOD_LENGTH) return -HttpError.UNRECOGNIZED_METHOD;
  if (p >= lim) return more;
  if (p === ms || b[p] !== SP) return -HttpError.INVALID_METHOD;
  const me = p++;

  // request-target: this parser accepts visible ASCII only, 0x21-0x7E: no SP, CTL or bytes >= 0x80
  // (RFC 9112 §3.2; RFC 3986 has no other bytes, and §3.2 says to reject invalid targets with 400).
  const ts = p;
  const maxT = limits.maxTargetLength;
  const tLim = lim < ts + maxT + 1 ? lim : ts + maxT + 1;
  const t4 = tLim - 4;
  while (p <= t4 && (CLS[b[p]!]! & CLS[b[p + 1]!]! & CLS[b[p + 2]!]! & CLS[b[p + 3]!]! & C_TARGET) !== 0) p += 4;
  while (p < tLim && (CLS[b[p]!]! & C_TARGET) !== 0) p++;
  if (p - ts > maxT) return -HttpError.URI_TOO_LONG;
  if (p >= lim) return more;
  c = b[p]!;
  if (c !== SP) {
    if (c === CR || c === LF) return -HttpError.INVALID_REQUEST_LINE; // no HTTP-version (HTTP/0.9 style)
    return -HttpError.INVALID_TARGET;
  }
  if (p === ts) return -HttpError.INVALID_REQUEST_LINE; // two SPs after the method
  const te = p++;

  const method = internMethod(b, ms, me - ms);
  // Target form (RFC 9112 §3.2): CONNECT takes authority-form only (§3.2.3), asterisk-form is for OPTIONS
  // only (§3.2.4), otherwise origin-form (§3.2.1) or absolute-form (§3.2.2).
  if (method === M_CONNECT) {
    if (!validAuthority(b, ts, te, true)) return -HttpError.INVALID_TARGET;
    head.targetForm = "authority";
    head.authorityStart = ts;
    head.authorityEnd = te;
  } else if (b[ts] === 0x2f) {
    head.targetForm = "origin";
  } else if (b[ts] === 0x2a && te - ts === 1) {
    if (method !== M_OPTIONS) return -HttpError.INVALID_TARGET;
    head.targetForm = "asterisk";
  } else {
    if (!parseAbsoluteForm(b, ts, te, head)) return -HttpError.INVALID_TARGET;
    head.targetForm = "absolute";
  }

  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3). Another major version, even
  // without its minor ("HTTP/2"), is 505 (RFC 9110 §15.6.6); "HTTP/1" and anything else malformed, 400.
  for (let k = 0; k < 5; k++, p++) {
    if (p >= lim) return more;
    if (b[p] !== HTTP_SLASH[k]) return -HttpError.INVALID_VERSION;
  }
  if (p >= lim) return more;
  const major = b[p++]!;
  if ((CLS[major]! & C_DIGIT) === 0) return -HttpError.INVALID_VERSION;
  if (p >= lim) return more;
  let minor = -1;
  if (b[p] === 0x2e) {
    if (++p >= lim) return more;
    minor = b[p++]!;
    if ((CLS[minor]! & C_DIGIT) === 0) return -HttpError.INVALID_VERSION;
    if (p >= lim) return more;
  }
  // Lines end in CRLF (RFC 9112 §2.2). "A recipient MAY recognize a single LF as a line terminator": we do
  // not, matching Node's llhttp in strict mode (the default), which answers a bare LF with 400.
  // "A sender MUST NOT generate a bare CR ... a recipient of such a bare CR MUST consider that element to be
  // invalid or replace each bare CR with SP": we reject.
  c = b[p]!;
  if (c !== CR) return c === LF ? -HttpError.BARE_LF : -HttpError.INVALID_VERSION;
  if (p + 1 >= lim) return more;
  if (b[p + 1] !== LF) return -HttpError.BARE_CR;
  p += 2;
  if (major !== 0x31) return -HttpError.UNSUPPORTED_VERSION;
  if (minor < 0) return -HttpError.INVALID_VERSION;
  // HTTP/1.2 and later minors are read as HTTP/1.1: a recipient "SHOULD process the message as if it were in
  // the highest minor version within that major version to which the recipient is conformant" (RFC 9110 §2.5).
  head.versionMinor = minor === 0x30 ? 0 : 1;
  if (method === null && !EXTENSION_METHODS.has(latin1(b, ms, me))) return -HttpError.UNRECOGNIZED_METHOD;
  head._methodStart = ms;
  head._methodEnd = me;
  head.targetStart = ts;
  head.targetEnd = te;
  return p;
}
