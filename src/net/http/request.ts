// A lazy Web Request. A native `new Request(url, { method, headers })` costs 1.5-1.9 us here, most
// of a request's budget; this class answers url, method and headers from the parsed head and builds
// a native Request only when a rare member is read (DESIGN.md). Its prototype chain reaches
// Request.prototype, so `req instanceof Request` holds; every member is overridden because
// Request's own getters throw on a foreign receiver.
import { RequestHead, LastBytes, headerLineStarts, parseRequestHead, latin1, sameBytes } from "./parser.ts";
import type { RequestBody } from "./body.ts";

const scratchHead = new RequestHead(256);

/** What the server knows about the request's connection (requestIP, disconnect signal). */
export interface RequestContext {
  readonly remote: { address: string; family: string; port: number } | null;
  /** The server's own host, for a request without Host (HTTP/1.0). */
  readonly defaultHost: string;
}

/** Bun.CookieMap (Bun 1.2+): what req.cookies gives in a route handler. */
interface CookieMap {
  get(name: string): string | null;
  toSetCookieHeaders(): string[];
}
type CookieMapClass = new (init: string) => CookieMap;

/** What few requests need, made on first use: the request object itself stays at 11 fields. */
class RequestRare {
  /** req.signal's controller, once asked for. */
  abort: AbortController | null = null;
  /** The client left before the response finished. */
  gone = false;
  /** A native Request, built for the parts of the API this class does not implement. */
  native: Request | null = null;
  /** req.cookies, once asked for: its changes become Set-Cookie fields of the response. */
  cookies: CookieMap | null = null;
}

/** req.params of a route handler's request whose pattern has no parameters (the fetch handler's: undefined, as Bun's). */
export const ROUTE_NO_PARAMS: Record<string, string> = Object.freeze(Object.create(null));
const COOKIE_MAP = (Bun as unknown as { CookieMap?: CookieMapClass }).CookieMap;
/** _host packs the Host value's start and end offsets in the head: a head is far below 2^26 bytes. */
const HOST_SPAN = 2 ** 26;

// req.url is a serialized URL, as a native Request's always is (so `new Request(req).url` equals
// it) and as Bun.serve gives it: "/a/../b" -> "/b", "/%2e/b" -> "/b", '"' -> "%22",
// "EXAMPLE.com:80" -> "example.com". The WHATWG URL parser costs ~0.7 us here, so it runs only for
// a target with a byte it would change, and once per distinct Host value.
const URL_SPECIAL = new Uint8Array(128);
for (const c of "\"<>`{}^'") URL_SPECIAL[c.charCodeAt(0)] = 1;
URL_SPECIAL[0x2e] = 2; // "." : a dot segment when it follows "/"
URL_SPECIAL[0x25] = 3; // "%" : "%2e" is a dot too

function pathNeedsUrlParser(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    const k = c < 128 ? URL_SPECIAL[c]! : 1;
    if (k === 0) continue;
    if (k === 1) return true;
    if (k === 2 && p.charCodeAt(i - 1) === 0x2f) return true;
    if (k === 3 && p.charCodeAt(i + 1) === 0x32 && (p.charCodeAt(i + 2) | 0x20) === 0x65) return true;
  }
  return false;
}

/** A body's JSON, failing with the SyntaxError messages of Bun's own Request.json(). */
function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new SyntaxError(text.length === 0 ? "Unexpected end of JSON input" : "Failed to parse JSON");
  }
}

function serializeUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url; // the strict parser accepted it; keep it as sent rather than fail the request
  }
}

// The last Host's bytes and the origin made from them: nearly every request repeats it.
const lastHost = new LastBytes(256);
const hostCache = new Map<string, string>();

/** "http://" and the Host in buf[start, end) as the URL serializer writes it (lower case, no default port, canonical IP forms). */
function originAt(buf: Uint8Array, start: number, end: number): string {
  if (lastHost.matches(buf, start, end)) return lastHost.value;
  const raw = latin1(buf, start, end);
  let h = hostCache.get(raw);
  if (h === undefined) {
    try {
      h = new URL(`http://${raw}/`).host;
    } catch {
      h = raw;
    }
    if (hostCache.size >= 256) hostCache.clear(); // bounded: Host values are the client's choice
    hostCache.set(raw, h);
  }
  return lastHost.remember(buf, start, end, `http://${h}`);
}

let lastDefaultHost = "", lastDefaultOrigin = "";

/** "http://" and the server's own host, for a request without Host (HTTP/1.0). */
function originOf(host: string): string {
  if (host !== lastDefaultHost) {
    lastDefaultHost = host;
    lastDefaultOrigin = `http://${host}`;
  }
  return lastDefaultOrigin;
}

// Identical request heads (a client repeating its request: keep-alive polling, benchmarks) share one
// copy, which is never written, and the url made from it. Comparing the bytes costs less than the
// copy, the url's concatenation and their garbage; a different request differs in its first line.
let lastHead: Uint8Array | null = null;
let lastPathTarget = "", lastPath = "";
let lastUrlHead: Uint8Array | null = null, lastUrlDefaultHost = "", lastUrl = "";

/** A copy of the head buf[start, start + n) that outlives the receive buffer: the last one when the bytes are the same. */
export function headCopy(buf: Uint8Array, start: number, n: number): Uint8Array {
  const last = lastHead;
  if (last !== null && last.length === n && sameBytes(last, buf, start, n)) return last;
  return (lastHead = buf.slice(start, start + n));
}

// Made for every request: its fields are declared and assigned in the constructor, which JSC lays
// out inline, in size classes: 12 fields take 112 bytes (~18 ns a request), 13 to 18 take 160, and
// as class fields ~224 (~33 ns). Keep it at 12 or fewer: rarer state is in _rare, _host is packed.
export class UringRequest {
  /** @internal Raw head bytes (a copy), re-parsed on first use of headers. */
  declare _head: Uint8Array;
  /** @internal */ declare _ctx: RequestContext;
  /** @internal */ declare _body: RequestBody | null;
  /** @internal */ declare _rare: RequestRare | null;
  /** @internal The target as sent (path and query for origin-form). */
  declare readonly _target: string;
  /** A route's parameters (Bun's BunRequest); undefined in the fetch handler, as with Bun.serve. */
  declare params: Record<string, string>;
  private declare readonly _method: string;
  private declare readonly _absolute: boolean;
  private declare _url: string | null;
  /** Where the Host value sits in the head copy, start * HOST_SPAN + end (so url needs no re-parse); -1 when absent. */
  private declare _host: number;
  private declare _headers: Headers | null;

  constructor(head: Uint8Array, method: string, target: string, absolute: boolean, ctx: RequestContext, body: RequestBody | null) {
    this._head = head;
    this._ctx = ctx;
    this._body = body;
    this._rare = null;
    this._target = target;
    this.params = undefined as unknown as Record<string, string>;
    this._method = method;
    this._absolute = absolute;
    this._url = null;
    this._host = -1;
    this._headers = null;
  }

  /** @internal Where the Host value sits in the head copy. */
  _hostAt(start: number, end: number): void {
    this._host = start * HOST_SPAN + end;
  }

  /** @internal The client is gone before the response finished: req.signal, when asked for, reads aborted. The controller to abort now, if one is live. */
  _clientGone(): AbortController | null {
    const rare = (this._rare ??= new RequestRare());
    if (rare.gone) return null;
    rare.gone = true;
    return rare.abort;
  }

  /** @internal Whether _clientGone() was called: the client left before its answer. */
  get _gone(): boolean {
    return this._rare?.gone === true;
  }

  get method(): string {
    return this._method;
  }

  get url(): string {
    if (this._url !== null) return this._url;
    // The same head copy (a repeated request, see headCopy) means the same url.
    const defaultHost = this._ctx.defaultHost;
    if (this._head === lastUrlHead && defaultHost === lastUrlDefaultHost) return (this._url = lastUrl);
    let url: string;
    // (No authority-form here: CONNECT is refused with a 501 before a Request is made.)
    if (this._absolute) url = serializeUrl(this._target);
    else {
      const host = this._host;
      const origin = host >= 0 ? originAt(this._head, Math.floor(host / HOST_SPAN), host % HOST_SPAN) : originOf(defaultHost);
      const path = this._target === "*" ? "/*" : this._target;
      url = pathNeedsUrlParser(path) ? serializeUrl(origin + path) : origin + path;
    }
    lastUrlHead = this._head;
    lastUrlDefaultHost = defaultHost;
    lastUrl = url;
    return (this._url = url);
  }

  #parseHead(): RequestHead {
    scratchHead.reset();
    parseRequestHead(this._head, 0, this._head.length, scratchHead);
    return scratchHead;
  }

  get headers(): Headers {
    if (this._headers) return this._headers;
    const h = this.#parseHead();
    const buf = this._head;
    const headers = new Headers();
    for (let i = 0; i < h.headerCount; i++) headers.append(h.headerName(buf, i), h.headerValue(buf, i));
    return (this._headers = headers);
  }

  /** @internal One header's value (lower-case name) with no Headers built; null when absent. */
  _headerValue(lowerName: string): string | null {
    if (this._headers) return this._headers.get(lowerName);
    const h = this.#parseHead();
    const i = h.indexOf(this._head, lowerName);
    return i < 0 ? null : h.headerValue(this._head, i);
  }

  /** @internal The If-None-Match header, for pre-encoded static routes. */
  _ifNoneMatch(): string | null {
    if (!this._headers && !headerLineStarts(this._head, 0x69)) return null; // no "If-..." line: no parse
    return this._headerValue("if-none-match");
  }

  /** @internal Values of several headers (lower-case names) with one parse and no Headers built; null when absent. */
  _headerValues(names: readonly string[], out: (string | null)[]): void {
    if (this._headers) {
      for (let k = 0; k < names.length; k++) out[k] = this._headers.get(names[k]!);
      return;
    }
    const h = this.#parseHead();
    for (let k = 0; k < names.length; k++) {
      const i = h.indexOf(this._head, names[k]!);
      out[k] = i < 0 ? null : h.headerValue(this._head, i);
    }
  }

  /** @internal Path of the target (no query), for routing. */
  get _path(): string {
    let t = this._target;
    const originForm = !this._absolute;
    // The parser hands back the same string for the same target bytes (a client repeating its
    // request), and an origin-form target alone decides the path.
    if (originForm && t === lastPathTarget) return lastPath;
    // Routes see the path the handler would see in new URL(req.url).pathname: dot segments
    // resolved (a route must not be matched by "/b/../a"). The URL parser runs only when the target
    // has a byte it would change. (No fragment: the parser refuses "#" in a target.)
    if (!originForm || pathNeedsUrlParser(t)) {
      const u = this.url;
      const slash = u.indexOf("/", u.indexOf("//") + 2);
      t = slash < 0 ? "/" : u.slice(slash);
    }
    const q = t.indexOf("?");
    const path = q < 0 ? t : t.slice(0, q);
    if (originForm) {
      lastPathTarget = this._target;
      lastPath = path;
    }
    return path;
  }

  get body(): ReadableStream<Uint8Array> | null {
    const native = this._rare?.native;
    if (native) return native.body;
    return this._body ? this._body.stream() : null;
  }

  get bodyUsed(): boolean {
    const native = this._rare?.native;
    if (native) return native.bodyUsed;
    return this._body ? this._body.used : false;
  }

  get signal(): AbortSignal {
    const rare = (this._rare ??= new RequestRare());
    if (rare.abort === null) {
      rare.abort = new AbortController();
      if (rare.gone) rare.abort.abort();
    }
    return rare.abort.signal;
  }

  /**
   * Bun's req.cookies: in a route handler, one CookieMap of the Cookie header whose changes (set,
   * delete) the response carries as Set-Cookie fields; undefined in the fetch handler, as with Bun.serve.
   */
  get cookies(): CookieMap | undefined {
    if (this.params === undefined || COOKIE_MAP === undefined) return undefined;
    const rare = (this._rare ??= new RequestRare());
    return (rare.cookies ??= new COOKIE_MAP(this._headerValue("cookie") ?? ""));
  }

  /** @internal The Set-Cookie field values req.cookies' changes call for; null when none. */
  _setCookies(): string[] | null {
    const lines = this._rare?.cookies?.toSetCookieHeaders() ?? null;
    return lines !== null && lines.length > 0 ? lines : null;
  }

  #bytes(): Promise<Uint8Array> {
    const native = this._rare?.native;
    if (native) return native.bytes();
    if (!this._body) return Promise.resolve(new Uint8Array(0));
    return this._body.bytes();
  }

  bytes(): Promise<Uint8Array> {
    return this.#bytes();
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes().then((b) => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer)));
  }
  text(): Promise<string> {
    return this.#bytes().then((b) => new TextDecoder().decode(b));
  }
  json(): Promise<any> {
    return this.text().then(parseJsonBody);
  }
  blob(): Promise<Blob> {
    return this.#bytes().then((b) => new Blob([b as Uint8Array<ArrayBuffer>], { type: this.headers.get("content-type") ?? "" }));
  }
  formData(): Promise<FormData> {
    return this.#bytes().then((b) =>
      new Response(b as Uint8Array<ArrayBuffer>, { headers: { "content-type": this.headers.get("content-type") ?? "" } }).formData() as Promise<FormData>,
    );
  }

  /** A native Request with the same url, method, headers, body and signal. */
  #toNative(): Request {
    const rare = this._rare;
    if (rare?.native) return rare.native;
    const init: RequestInit & { duplex?: string } = { method: this._method, headers: this.headers, signal: this.signal };
    if (this._body && this._method !== "GET" && this._method !== "HEAD") {
      init.body = this._body.stream();
      init.duplex = "half";
    }
    return ((this._rare ??= new RequestRare()).native = new Request(this.url, init as RequestInit) as unknown as Request);
  }

  clone(): Request {
    return this.#toNative().clone() as unknown as Request;
  }
  get cache(): string {
    return this.#toNative().cache;
  }
  get credentials(): string {
    return this.#toNative().credentials;
  }
  get destination(): string {
    return this.#toNative().destination;
  }
  get integrity(): string {
    return this.#toNative().integrity;
  }
  get keepalive(): boolean {
    return this.#toNative().keepalive;
  }
  get mode(): string {
    return this.#toNative().mode;
  }
  get redirect(): string {
    return this.#toNative().redirect;
  }
  get referrer(): string {
    return this.#toNative().referrer;
  }
  get referrerPolicy(): string {
    return this.#toNative().referrerPolicy;
  }
  get [Symbol.toStringTag](): string {
    return "Request";
  }
  /** console.log(req) shows what Bun's Request shows (method, url, headers), not this class's internals. */
  [Symbol.for("nodejs.util.inspect.custom")](_depth: number, options: unknown): string {
    return `Request ${Bun.inspect({ method: this.method, url: this.url, headers: this.headers }, options as Parameters<typeof Bun.inspect>[1])}`;
  }
  /** True once a native Request was built (tests assert laziness with it). */
  get _materialized(): boolean {
    return (this._rare?.native ?? null) !== null || this._headers !== null;
  }
  get _nativeBuilt(): boolean {
    return (this._rare?.native ?? null) !== null;
  }
}

Object.setPrototypeOf(UringRequest.prototype, Request.prototype);
