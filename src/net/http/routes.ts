// Bun.serve's `routes`: exact paths before `:param` paths before `/*` wildcards; a value is a
// static Response (pre-encoded once, with an ETag), a handler, an object of per-method handlers,
// a Bun.file, or false (fall through to fetch).
import { RESET_CONTENT, fieldValue, untypedBodyType } from "./response.ts";

export type RouteHandler = (req: any, server: any) => Response | Promise<Response> | undefined | void;
export type RouteValue = Response | RouteHandler | Blob | false | Partial<Record<string, RouteHandler | Response>>;

export interface RouteEntry {
  /** Per method (upper-case) handler or static response; "*" for every method. */
  handlers: Map<string, RouteHandler | StaticRoute>;
  paramNames: string[];
  fallthrough: boolean;
}

/** A Response given as a route value: its bytes and head are taken once, at serve()/reload(). */
export interface StaticRoute {
  readonly kind: "static";
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly body: Uint8Array | null;
  readonly blob: Blob | null; // a Bun.file: served per request (it may change)
  readonly type: string;
  readonly etag: string;
  /**
   * The usual answer (full status, keep-alive HTTP/1.1, not HEAD) as one buffer, head and body,
   * and the Date second it was built in. Bound: one per route, for bodies up to 64 KiB
   * (STATIC_WIRE_MAX in connection.ts): the body's size plus its head.
   */
  wire: Uint8Array | null;
  wireDate: string;
}

export function isStatic(h: RouteHandler | StaticRoute): h is StaticRoute {
  return typeof h !== "function";
}

function staticFrom(value: Response | Blob): StaticRoute {
  if (value instanceof Blob) {
    return { kind: "static", status: 200, statusText: "", headers: new Headers(), body: null, blob: value, type: value.type, etag: "", wire: null, wireDate: "" };
  }
  const res = value.clone();
  const bp = res.blob();
  if (Bun.peek.status(bp) !== "fulfilled") {
    throw Object.assign(new TypeError("routes: a static Response must have an in-memory or file body, not a stream"), { code: "ERR_INVALID_ROUTE" });
  }
  const blob = Bun.peek(bp) as Blob;
  const isFile = typeof (blob as { name?: unknown }).name === "string";
  // A 205 sends none of its body (RFC 9110 §15.3.6): the route keeps none, and so no type or ETag.
  const noContent = value.status === RESET_CONTENT;
  let body: Uint8Array | null = null;
  if (!isFile && !noContent) {
    const p = blob.bytes();
    body = Bun.peek.status(p) === "fulfilled" ? (Bun.peek(p) as Uint8Array) : null;
  }
  // None for an empty body (a redirect, a bare 200), as Bun.serve: nothing to validate.
  const etag = body !== null && body.length > 0 ? `"${Bun.hash(body).toString(16)}"` : "";
  const headers = new Headers(value.headers);
  for (const [name, v] of headers) fieldValue(name, v); // at serve(), not as a 500 on every request
  // A typed body has its type in the headers; blob.type is text/plain for any untyped one.
  const type = noContent ? "" : body !== null && body.length > 0 && !headers.has("content-type") ? untypedBodyType(body) : blob.type;
  return { kind: "static", status: value.status, statusText: value.statusText, headers, body, blob: isFile && !noContent ? blob : null, type, etag, wire: null, wireDate: "" };
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];

function entryFor(value: RouteValue, paramNames: string[]): RouteEntry {
  const handlers = new Map<string, RouteHandler | StaticRoute>();
  if (value === false) return { handlers, paramNames, fallthrough: true };
  if (typeof value === "function") handlers.set("*", value);
  else if ((value as object) instanceof Response || (value as object) instanceof Blob) handlers.set("*", staticFrom(value as Response | Blob));
  else if (Object.prototype.toString.call(value) === "[object HTMLBundle]") {
    // `import page from "./index.html"`: Bun.serve bundles it; here it would be an empty method object.
    throw Object.assign(new Error("routes: HTML imports (an HTMLBundle) are not supported by bun-uring (use Bun.serve for them, or serve built files with serveStatic)"), { code: "ERR_NOT_SUPPORTED" });
  } else if (value && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) throw Object.assign(new TypeError("routes: an object of methods with no method in it"), { code: "ERR_INVALID_ROUTE" });
    for (const [m, h] of entries) {
      const method = m.toUpperCase();
      if (!METHODS.includes(method)) throw Object.assign(new TypeError(`routes: unknown method "${m}"`), { code: "ERR_INVALID_ROUTE" });
      if (typeof h === "function") handlers.set(method, h);
      else if (h instanceof Response || h instanceof Blob) handlers.set(method, staticFrom(h));
      else throw Object.assign(new TypeError(`routes: ${m} must be a handler or a Response`), { code: "ERR_INVALID_ROUTE" });
    }
  } else {
    throw Object.assign(new TypeError("routes: a value must be a Response, a handler, an object of methods, a Bun.file or false"), { code: "ERR_INVALID_ROUTE" });
  }
  return { handlers, paramNames, fallthrough: false };
}

interface ParamRoute {
  segments: (string | null)[]; // null: a :param
  entry: RouteEntry;
}

interface WildRoute {
  prefix: string; // up to and including the last "/"
  entry: RouteEntry;
  match: RouteMatch;
}

export interface RouteMatch {
  entry: RouteEntry;
  params: Record<string, string> | null;
}

export class Router {
  // Exact and wildcard routes answer with one match record each, made here: no object per request.
  readonly #exact = new Map<string, RouteMatch>();
  readonly #params: ParamRoute[] = [];
  readonly #wild: WildRoute[] = [];
  readonly size: number;

  constructor(routes: Record<string, RouteValue> | undefined) {
    let n = 0;
    for (const [path, value] of Object.entries(routes ?? {})) {
      if (!path.startsWith("/")) throw Object.assign(new TypeError(`routes: "${path}" must start with "/"`), { code: "ERR_INVALID_ROUTE" });
      n++;
      if (path.endsWith("/*")) {
        const entry = entryFor(value, []);
        this.#wild.push({ prefix: path.slice(0, -1), entry, match: { entry, params: null } });
      } else if (path.includes("/:")) {
        const parts = path.split("/").slice(1);
        const names: string[] = [];
        const segments = parts.map((p) => {
          if (p.startsWith(":")) {
            names.push(p.slice(1));
            return null;
          }
          return p;
        });
        this.#params.push({ segments, entry: entryFor(value, names) });
      } else {
        this.#exact.set(path, { entry: entryFor(value, []), params: null });
      }
    }
    // More literal segments first; longer wildcard prefixes first.
    this.#params.sort((a, b) => b.segments.filter((s) => s !== null).length - a.segments.filter((s) => s !== null).length);
    this.#wild.sort((a, b) => b.prefix.length - a.prefix.length);
    this.size = n;
  }

  match(path: string): RouteMatch | null {
    const exact = this.#exact.get(path);
    if (exact) return exact;
    if (this.#params.length) {
      const parts = path.split("/");
      for (const r of this.#params) {
        if (r.segments.length !== parts.length - 1) continue;
        let ok = true;
        const values: string[] = [];
        for (let i = 0; i < r.segments.length; i++) {
          const seg = r.segments[i], part = parts[i + 1]!;
          if (seg === null) {
            if (part === "") { ok = false; break; }
            values.push(part);
          } else if (seg !== part) { ok = false; break; }
        }
        if (!ok) continue;
        const params: Record<string, string> = Object.create(null);
        r.entry.paramNames.forEach((name, i) => (params[name] = safeDecode(values[i]!)));
        return { entry: r.entry, params };
      }
    }
    for (const w of this.#wild) {
      // "/files/*" matches "/files/" and below, not "/files": Bun.serve 1.3.14 routes "/files" past
      // it (to fetch or a shorter wildcard), and a drop-in must route the same.
      if (path.startsWith(w.prefix)) return w.match;
    }
    return null;
  }
}

function safeDecode(s: string): string {
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return decodeLoosely(s);
  }
}

const REPLACEMENT = "\ufffd";

/**
 * A parameter decodeURIComponent refuses, decoded as Bun.serve decodes it: "%" and the two characters
 * after it that are not hex, or a "%" with fewer than two after it, become U+FFFD; the bytes are read
 * as UTF-8 with one U+FFFD for each ill-formed sequence (a lead byte and the continuation bytes it
 * got; an overlong form, a surrogate or a code point past U+10FFFF) and for each stray byte.
 * Only for a parameter with bad escapes, so it may allocate. The target is ASCII (the parser's rule).
 */
function decodeLoosely(s: string): string {
  let out = "";
  const bytes: number[] = [];
  const flush = () => {
    out += decodeUtf8Loosely(bytes);
    bytes.length = 0;
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x25 /* % */) {
      bytes.push(c);
      continue;
    }
    if (i + 2 >= s.length) {
      flush();
      out += REPLACEMENT;
      continue;
    }
    const h = hexValue(s.charCodeAt(i + 1)), l = hexValue(s.charCodeAt(i + 2));
    i += 2;
    if (h < 0 || l < 0) {
      flush();
      out += REPLACEMENT;
    } else bytes.push((h << 4) | l);
  }
  flush();
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  return c >= 0x61 && c <= 0x66 ? c - 0x61 + 10 : -1;
}

function decodeUtf8Loosely(b: number[]): string {
  let out = "";
  for (let i = 0; i < b.length; ) {
    const lead = b[i]!;
    if (lead < 0x80) {
      out += String.fromCharCode(lead);
      i++;
      continue;
    }
    const n = lead >= 0xf0 && lead < 0xf8 ? 4 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xc0 && lead < 0xe0 ? 2 : 0;
    if (n === 0) {
      out += REPLACEMENT; // a stray continuation byte or 0xF8-0xFF
      i++;
      continue;
    }
    let cp = lead & (0xff >> (n + 1));
    let j = 1;
    for (; j < n && i + j < b.length && (b[i + j]! & 0xc0) === 0x80; j++) cp = (cp << 6) | (b[i + j]! & 0x3f);
    i += j;
    const min = n === 2 ? 0x80 : n === 3 ? 0x800 : 0x10000;
    if (j < n || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) out += REPLACEMENT;
    else out += String.fromCodePoint(cp);
  }
  return out;
}
