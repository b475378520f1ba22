// Request generator for the differential fuzzer: requests built from the HTTP/1.1 grammar (RFC 9112 §2-7),
// then mutated, first structurally (framing headers, chunk sizes, whitespace, case, line endings, target
// forms) and then, for some cases, byte by byte (flips, inserts, deletes). Strings are latin1: one char per
// byte. A case is a pure function of (seed, index).
import { Rng } from "./rng.ts";

export interface FuzzCase {
  /** The bytes, as a latin1 string. */
  raw: string;
  /** Where the bytes are cut into separate writes (ascending offsets inside raw). */
  cuts: number[];
  /** Names of the generator choices and mutations applied (for statistics and reports). */
  tags: string[];
  seed: number;
  index: number;
}

interface Header {
  name: string;
  /** ":" and the OWS after it. */
  sep: string;
  value: string;
  /** OWS after the value. */
  tail: string;
  eol: string;
}

interface Chunk {
  size: string;
  ext: string;
  eol: string;
  data: string;
  dataEol: string;
}

interface Req {
  leading: string;
  method: string;
  sp1: string;
  target: string;
  sp2: string;
  version: string;
  eol: string;
  headers: Header[];
  headEnd: string;
  framing: "none" | "length" | "chunked";
  body: string;
  chunks: Chunk[];
  lastChunk: string; // "0" + ext + eol
  trailers: string; // trailer field lines, each ending in CRLF
  finalEol: string;
  /** Extra bytes after the body (e.g. a stray CRLF). */
  after: string;
}

const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz";
const PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
const VCHAR = (() => {
  let s = "";
  for (let c = 0x21; c <= 0x7e; c++) s += String.fromCharCode(c);
  return s;
})();
const OBS_TEXT = (() => {
  let s = "";
  for (let c = 0x80; c <= 0xff; c++) s += String.fromCharCode(c);
  return s;
})();
const SPECIAL_BYTES = ["\r", "\n", "\0", " ", "\t", ":", ",", ";", "=", '"', "\\", "/", "?", "#", "%", "\x7f", "\x80", "\xff", "\x01", "\x0b", "\x0c", "-", "+", "0", "a", "A", "x"];

// Methods llhttp knows (node's http.METHODS) and ones it does not (extension tokens, RFC 9110 §9.1).
const COMMON_METHODS = ["GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const RARE_METHODS = ["TRACE", "PROPFIND", "MKCOL", "M-SEARCH", "PURGE", "QUERY", "REPORT", "LOCK", "get", "Get", "FOO", "BREW", "X-METHOD", "GETX", "POS", "PRI"];

const COMMON_HEADERS = [
  "Accept", "Accept-Encoding", "Accept-Language", "User-Agent", "Cache-Control", "Content-Type", "Cookie", "Referer", "Origin",
  "X-Forwarded-For", "X-Request-Id", "Authorization", "If-None-Match", "Pragma", "Via", "Range", "DNT", "Priority",
];

function headerValue(r: Rng): string {
  switch (r.int(9)) {
    case 0:
      return "";
    case 1:
      return r.string(ALNUM, r.range(1, 12));
    case 2:
      return `text/html, application/json;q=0.${r.int(10)}, */*`;
    case 3:
      return `"${r.string(ALNUM + " ,;", r.range(0, 8))}"`;
    case 4:
      return r.string(VCHAR + " \t", r.range(1, 24)).trim();
    case 5:
      return r.string(ALNUM, 3) + r.string(OBS_TEXT, r.range(1, 4)) + r.string(ALNUM, 2);
    case 6:
      return `${r.string(ALNUM, 4)}=${r.string(ALNUM, 6)}; ${r.string(ALNUM, 3)}=${r.string(ALNUM, 2)}`;
    case 7:
      return `${r.range(1, 255)}.${r.range(0, 255)}.${r.range(0, 255)}.${r.range(0, 255)}, ${r.string(ALNUM, 5)}`;
    default:
      return r.string(ALNUM + "-_./:", r.range(1, 30));
  }
}

function hostValue(r: Rng): string {
  return r.weighted([
    [10, "localhost"],
    [4, `${r.string(ALNUM, r.range(1, 10))}.example`],
    [3, `localhost:${r.range(1, 65535)}`],
    [2, `127.0.0.1:${r.range(1, 9999)}`],
    [1, "[::1]:8080"],
    [1, `${r.string(ALNUM, 4)}.${r.string(ALNUM, 3)}`],
  ] as const);
}

function originTarget(r: Rng): string {
  let t = "";
  const segs = r.range(0, 4);
  for (let i = 0; i < segs; i++) t += "/" + r.string(PCHAR, r.range(0, 8));
  if (t === "") t = "/";
  if (r.chance(0.15)) t += "/%" + r.string("0123456789ABCDEFabcdef", 2);
  if (r.chance(0.3)) t += "?" + r.string(PCHAR + "/?", r.range(0, 16));
  return t;
}

function target(r: Rng, tags: string[]): string {
  const k = r.weighted([
    [85, "origin"],
    [6, "absolute"],
    [3, "asterisk"],
    [2, "authority"],
    [2, "weird"],
    [2, "long"],
  ] as const);
  if (k !== "origin") tags.push(`target:${k}`);
  switch (k) {
    case "origin":
      return originTarget(r);
    case "absolute":
      return `${r.pick(["http", "http", "https", "HTTP", "ftp", "h2"])}://${r.pick([hostValue(r), "", "user@host", "a:b@host"])}${r.chance(0.8) ? originTarget(r) : ""}`;
    case "asterisk":
      return "*";
    case "authority":
      return `${hostValue(r)}:${r.range(1, 65535)}`;
    case "weird":
      return r.pick(["abc", "//x", "/a b", "/\x80", "/a#frag", "/\"<>", "/{|}^`\\", "?", "/%", "/%zz", ""]);
    default:
      return "/" + r.string(PCHAR, r.range(200, 2000));
  }
}

function chunkExt(r: Rng, tags: string[]): string {
  if (!r.chance(0.15)) return "";
  tags.push("chunk-ext");
  return r.pick([
    ";a",
    ";a=b",
    `;name="quoted value"`,
    ";a=b;c",
    ` ;a`,
    `; a`,
    `;a = b`,
    `;a="\\"q"`,
    ";",
    ";=b",
    ";a=",
    `;a="unterminated`,
    ";a=b c",
    ";a=\x80",
  ]);
}

function buildBody(r: Rng, req: Req, tags: string[]): void {
  const f = r.weighted([
    [45, "none"],
    [30, "length"],
    [25, "chunked"],
  ] as const);
  req.framing = f;
  if (f === "none") return;
  if (f === "length") {
    req.body = r.string(VCHAR + "\r\n\0\xff", r.range(0, 40));
    req.headers.push({ name: "Content-Length", sep: ": ", value: String(req.body.length), tail: "", eol: "\r\n" });
    return;
  }
  req.headers.push({ name: "Transfer-Encoding", sep: ": ", value: "chunked", tail: "", eol: "\r\n" });
  const n = r.range(0, 3);
  for (let i = 0; i < n; i++) {
    const data = r.string(VCHAR + "\r\n", r.range(1, 20));
    let size = data.length.toString(16);
    if (r.chance(0.1)) size = size.toUpperCase();
    if (r.chance(0.05)) size = "000" + size;
    req.chunks.push({ size, ext: chunkExt(r, tags), eol: "\r\n", data, dataEol: "\r\n" });
  }
  req.lastChunk = r.pick(["0", "0", "0", "0", "00", "000"]) + chunkExt(r, tags) + "\r\n";
  if (r.chance(0.1)) {
    tags.push("trailers");
    req.trailers = r.pick(["X-Trailer: 1\r\n", "A: b\r\nC: d\r\n", "Expires: never\r\n", "X: \r\n"]);
  }
  req.finalEol = "\r\n";
}

function baseRequest(r: Rng, tags: string[]): Req {
  const rare = r.chance(0.06);
  const method = rare ? r.pick(RARE_METHODS) : r.pick(COMMON_METHODS);
  if (rare) tags.push(`method:${method}`);
  const version = r.chance(0.9) ? "HTTP/1.1" : "HTTP/1.0";
  if (version === "HTTP/1.0") tags.push("http/1.0");
  const req: Req = {
    leading: "",
    method,
    sp1: " ",
    target: target(r, tags),
    sp2: " ",
    version,
    eol: "\r\n",
    headers: [],
    headEnd: "\r\n",
    framing: "none",
    body: "",
    chunks: [],
    lastChunk: "",
    trailers: "",
    finalEol: "",
    after: "",
  };
  if (req.target === "*" && r.chance(0.7)) req.method = "OPTIONS";
  if (version === "HTTP/1.1" || r.chance(0.5)) req.headers.push({ name: "Host", sep: ": ", value: hostValue(r), tail: "", eol: "\r\n" });
  const n = r.weighted([
    [30, 0],
    [30, 1],
    [20, 3],
    [15, 6],
    [5, 12],
  ] as const);
  for (let i = 0; i < n; i++) {
    const name = r.chance(0.8) ? r.pick(COMMON_HEADERS) : r.chance(0.5) ? "X-" + r.string(ALNUM + "-", r.range(1, 10)) : r.string(TCHAR, r.range(1, 8));
    req.headers.push({ name, sep: r.pick([": ", ": ", ": ", ":", ":\t", ":  "]), value: headerValue(r), tail: r.pick(["", "", "", "", " ", "\t", "  "]), eol: "\r\n" });
  }
  buildBody(r, req, tags);
  // Shuffle the fields a little (framing headers not always last).
  if (req.headers.length > 1 && r.chance(0.5)) {
    for (let i = req.headers.length - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [req.headers[i], req.headers[j]] = [req.headers[j]!, req.headers[i]!];
    }
  }
  if (r.chance(0.05)) {
    req.headers.push({ name: "Connection", sep: ": ", value: r.pick(["keep-alive", "close", "Keep-Alive", "upgrade", "foo, close", "keep-alive, te"]), tail: "", eol: "\r\n" });
    tags.push("connection");
  }
  return req;
}

function serialize(q: Req): string {
  let s = q.leading + q.method + q.sp1 + q.target + q.sp2 + q.version + q.eol;
  for (const h of q.headers) s += h.name + h.sep + h.value + h.tail + h.eol;
  s += q.headEnd;
  if (q.framing === "length") s += q.body;
  else if (q.framing === "chunked") {
    for (const c of q.chunks) s += c.size + c.ext + c.eol + c.data + c.dataEol;
    s += q.lastChunk + q.trailers + q.finalEol;
  } else s += q.body;
  return s + q.after;
}

const findHeader = (q: Req, lower: string) => q.headers.findIndex((h) => h.name.toLowerCase() === lower);

// Structural mutations, each a rule of the grammar bent one way. Returns the tag.
type Mutation = (r: Rng, q: Req, all: Req[]) => string;

const MUTATIONS: [number, Mutation][] = [
  // --- request line
  [3, (r, q) => ((q.method = r.pick(["get", "Get", "GE T", "G\tET", "GET\0", "", "G:ET", "GÉT", "GET/", "PATCHX", "DELET", "OPTION"])), "method-bent")],
  [2, (r, q) => ((q.sp1 = r.pick(["  ", "\t", "", " \t"])), "sp1")],
  [2, (r, q) => ((q.sp2 = r.pick(["  ", "\t", "", " \t"])), "sp2")],
  [3, (r, q) => ((q.version = r.pick(["HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "HTTP/2", "HTTP/1", "http/1.1", "HTTP/1.1 ", "HTTP/11", "HTTP/1.01", "HTTP/3.0", "HTTPS/1.1", "HTTP/1.x", "HTTP/1.1\0", "HTTP /1.1"])), "version")],
  [2, (r, q) => ((q.target = r.pick(["*", "http://h/", "https://h:1/p?q", "HTTP://H", "h:80", "/a\x80", "/a\x7f", "/a\tb", "/\0", "/é", "/a?b#c", "/a%00", "//", "/.."])), "target-bent")],
  [2, (r, q) => ((q.eol = r.pick(["\n", "\r", "\r\r\n", " \r\n", "\r\n\r\n"])), "request-line-eol")],
  [2, (r, q) => ((q.leading = r.pick(["\r\n", "\r\n\r\n", "\r\n\r\n\r\n", "\n", "\r", " ", "\t", "\n\n"])), "leading")],
  // --- field lines
  [3, (r, q) => {
    if (!q.headers.length) return "none";
    const h = r.pick(q.headers);
    h.eol = r.pick(["\n", "\r", "\r\r\n", "\n\r"]);
    return "field-eol";
  }],
  [2, (r, q) => ((q.headEnd = r.pick(["\n", "\r", "\r\r\n", " \r\n", "\t\r\n"])), "head-end")],
  [3, (r, q) => {
    if (!q.headers.length) return "none";
    const h = r.pick(q.headers);
    h.name = r.pick([h.name + " ", h.name + "\t", "", " " + h.name, h.name + "\0", h.name.toUpperCase(), h.name.toLowerCase(), h.name + "@", h.name + "é", "(" + h.name + ")", h.name + "\x7f", h.name + '"']);
    return "name-bent";
  }],
  [3, (r, q) => {
    if (!q.headers.length) return "none";
    const h = r.pick(q.headers);
    const i = r.int(h.value.length + 1);
    h.value = h.value.slice(0, i) + r.pick(["\0", "\x01", "\x7f", "\r", "\n", "\x0b", "\x1f", "\xff", "\t", " ", "\r\n", "\r\n ", "\r\n\t"]) + h.value.slice(i);
    return "value-ctl";
  }],
  [3, (r, q) => {
    // obs-fold (RFC 9112 §5.2)
    if (!q.headers.length) return "none";
    const h = r.pick(q.headers);
    h.value += r.pick(["\r\n ", "\r\n\t", "\r\n  "]) + r.string(ALNUM, 3);
    return "obs-fold";
  }],
  [2, (r, q) => {
    q.headers.splice(0, 0, { name: r.pick([" X", "\tX"]), sep: ": ", value: "1", tail: "", eol: "\r\n" });
    return "ws-before-first-field";
  }],
  [2, (r, q) => {
    if (!q.headers.length) return "none";
    const h = r.pick(q.headers);
    h.sep = r.pick([" :", "\t:", "::", ": :", ""]) + h.sep;
    return "sep-bent";
  }],
  // --- Host
  [2, (_r, q) => {
    const i = findHeader(q, "host");
    if (i >= 0) q.headers.splice(i, 1);
    return "host-missing";
  }],
  [2, (r, q) => {
    q.headers.push({ name: r.pick(["Host", "host", "HOST"]), sep: ": ", value: r.pick(["localhost", "other", ""]), tail: "", eol: "\r\n" });
    return "host-duplicate";
  }],
  [2, (r, q) => {
    const i = findHeader(q, "host");
    const v = r.pick(["", "a b", "a/b", "a@b", "[::1", "h:99999", "h:x", "h:", "é", "a,b", "_", "%41", "%4", "[v1.x]", "[::1]:80", ".", "1.2.3.4.5"]);
    if (i >= 0) q.headers[i]!.value = v;
    else q.headers.push({ name: "Host", sep: ": ", value: v, tail: "", eol: "\r\n" });
    return "host-value";
  }],
  // --- Content-Length
  [5, (r, q) => {
    const v = r.pick(["+5", "-1", "5a", "0x5", " 5", "5 ", "5,5", "5, 5", "5, 6", ",5", "5,", "", "1e3", "05", "00", "9007199254740991", "9007199254740992", "99999999999999999999", "5 5", "\t5", "\x80"]);
    const i = findHeader(q, "content-length");
    if (i >= 0) q.headers[i]!.value = v;
    else q.headers.push({ name: "Content-Length", sep: ": ", value: v, tail: "", eol: "\r\n" });
    return "cl-value";
  }],
  [4, (r, q) => {
    const i = findHeader(q, "content-length");
    const cur = i >= 0 ? q.headers[i]!.value : String(q.body.length);
    const v = r.chance(0.5) ? cur : String(Number(cur) + 1 || 3);
    q.headers.splice(r.int(q.headers.length + 1), 0, { name: r.pick(["Content-Length", "content-length", "CONTENT-LENGTH"]), sep: ": ", value: v, tail: "", eol: "\r\n" });
    return v === cur ? "cl-duplicate-equal" : "cl-duplicate-unequal";
  }],
  [3, (r, q) => {
    // A wrong Content-Length for the body that follows: the rest is read as the next request.
    const i = findHeader(q, "content-length");
    if (i < 0 || q.framing !== "length") return "none";
    q.headers[i]!.value = String(Math.max(0, q.body.length + r.pick([-3, -1, 1, 5, 100])));
    return "cl-wrong";
  }],
  // --- Transfer-Encoding
  [6, (r, q) => {
    const v = r.pick([
      "xchunked", " chunked", "chunked ", "\tchunked", "chunked, identity", "identity, chunked", "gzip, chunked", "chunked, gzip",
      "chunked,chunked", "chunked, chunked", "Chunked", "CHUNKED", "chunk", "chunked;q=1", "chunked ;a=b", "gzip;q=1, chunked", "chunked\0",
      ",chunked", "chunked,", ", , chunked", "x-gzip, chunked", "deflate", "", "\"chunked\"", "chunked, \"x\"", "chunkedé", "ch unked",
    ]);
    const i = findHeader(q, "transfer-encoding");
    if (i >= 0) q.headers[i]!.value = v;
    else q.headers.push({ name: "Transfer-Encoding", sep: ": ", value: v, tail: "", eol: "\r\n" });
    return "te-value";
  }],
  [3, (r, q) => {
    q.headers.splice(r.int(q.headers.length + 1), 0, { name: r.pick(["Transfer-Encoding", "transfer-encoding", "Transfer-encoding"]), sep: ": ", value: r.pick(["chunked", "identity", "gzip", "", "chunked, identity"]), tail: "", eol: "\r\n" });
    return "te-duplicate";
  }],
  [3, (r, q) => {
    // CL.TE and TE.CL: both framing headers.
    if (q.framing === "chunked") q.headers.splice(r.int(q.headers.length + 1), 0, { name: "Content-Length", sep: ": ", value: String(r.range(0, 30)), tail: "", eol: "\r\n" });
    else q.headers.splice(r.int(q.headers.length + 1), 0, { name: "Transfer-Encoding", sep: ": ", value: "chunked", tail: "", eol: "\r\n" });
    return "cl-and-te";
  }],
  [1, (r, q) => {
    const h = { name: r.pick(["Transfer-Encoding", "Content-Length"]), sep: ": ", value: "", tail: "", eol: "\r\n" };
    h.value = h.name === "Content-Length" ? "5" : "chunked";
    h.name = r.pick([h.name + " ", h.name + "\t", "X-" + h.name, h.name.replace("-", "_"), h.name.replace("-", " ")]);
    q.headers.push(h);
    return "framing-name-bent";
  }],
  // --- chunked body
  [6, (r, q) => {
    if (q.framing !== "chunked" || !q.chunks.length) return "none";
    const c = r.pick(q.chunks);
    const n = c.data.length;
    c.size = r.pick(["+" + n.toString(16), "-" + n.toString(16), "0x" + n.toString(16), " " + n.toString(16), n.toString(16) + " ", "fffffffffffffffff", "ffffffffffffff", "1" + "0".repeat(15), "", "g", n.toString(16) + "\t", "0".repeat(20) + n.toString(16), (n + 1).toString(16), Math.max(0, n - 1).toString(16)]);
    return "chunk-size";
  }],
  [3, (r, q) => {
    if (q.framing !== "chunked" || !q.chunks.length) return "none";
    const c = r.pick(q.chunks);
    if (r.chance(0.5)) c.eol = r.pick(["\n", "\r", "\r\r\n", " \r\n"]);
    else c.dataEol = r.pick(["\n", "\r", "", "x\r\n", "\r\n\r\n"]);
    return "chunk-eol";
  }],
  [3, (r, q) => {
    if (q.framing !== "chunked") return "none";
    q.lastChunk = r.pick(["0\n", "0\r", "0 \r\n", "0;a=b\r\n", "0;\r\n", "-0\r\n", "0x0\r\n", "\r\n", "1\r\n"]);
    return "last-chunk";
  }],
  [3, (r, q) => {
    if (q.framing !== "chunked") return "none";
    q.trailers = r.pick(["X: 1\r\n", "Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n", " X: 1\r\n", "X : 1\r\n", "X: a\0\r\n", "X\r\n", ": x\r\n", "X: 1\n", "Host: x\r\n"]);
    if (r.chance(0.3)) q.finalEol = r.pick(["\n", "", "\r"]);
    return "trailer-bent";
  }],
  // --- Connection, Expect, Upgrade
  [3, (r, q) => {
    q.headers.push({ name: "Connection", sep: ": ", value: r.pick(["close", "Close", "keep-alive", "close, keep-alive", "keep-alive, close", "clos", "upgrade", ""]), tail: "", eol: "\r\n" });
    return "connection";
  }],
  [2, (r, q) => {
    q.headers.push({ name: "Expect", sep: ": ", value: r.pick(["100-continue", "100-Continue", "foo", "", "100-continue, foo", "100-continuex"]), tail: "", eol: "\r\n" });
    return "expect";
  }],
  [1, (r, q) => {
    q.headers.push({ name: "Upgrade", sep: ": ", value: r.pick(["websocket", "h2c", ""]), tail: "", eol: "\r\n" });
    if (r.chance(0.7)) q.headers.push({ name: "Connection", sep: ": ", value: "Upgrade", tail: "", eol: "\r\n" });
    return "upgrade";
  }],
  [1, (_r, q) => {
    q.method = "CONNECT";
    q.target = "localhost:443";
    return "connect";
  }],
  // --- bytes after the message
  [3, (r, q) => ((q.after = r.pick(["\r\n", "\n", "\r\n\r\n", " ", "x", "\0"])), "after-body")],
];

// Byte-level mutations on the serialized case.
function byteMutate(r: Rng, s: string, tags: string[]): string {
  const n = r.range(1, 3);
  for (let k = 0; k < n && s.length > 0; k++) {
    const i = r.int(s.length);
    switch (r.int(5)) {
      case 0: {
        const c = s.charCodeAt(i) ^ (1 << r.int(8));
        s = s.slice(0, i) + String.fromCharCode(c) + s.slice(i + 1);
        tags.push("byte-flip");
        break;
      }
      case 1:
        s = s.slice(0, i) + r.pick(SPECIAL_BYTES) + s.slice(i + 1);
        tags.push("byte-replace");
        break;
      case 2:
        s = s.slice(0, i) + r.pick(SPECIAL_BYTES) + s.slice(i);
        tags.push("byte-insert");
        break;
      case 3:
        s = s.slice(0, i) + s.slice(i + r.range(1, 3));
        tags.push("byte-delete");
        break;
      default: {
        const j = Math.min(s.length, i + r.range(1, 16));
        s = s.slice(0, j) + s.slice(i, j) + s.slice(j);
        tags.push("byte-duplicate");
      }
    }
  }
  return s;
}

/** Case `index` of run `seed`. */
export function generateCase(seed: number, index: number): FuzzCase {
  const r = Rng.forCase(seed, index);
  const tags: string[] = [];
  const reqs: Req[] = [baseRequest(r, tags)];
  const more = r.weighted([
    [70, 0],
    [20, 1],
    [10, 2],
  ] as const);
  for (let i = 0; i < more; i++) reqs.push(baseRequest(r, tags));
  if (more) tags.push(`pipelined:${more + 1}`);
  // Structural mutations: most cases get none or one, on one of their requests.
  const nm = r.weighted([
    [45, 0],
    [40, 1],
    [15, 2],
  ] as const);
  for (let k = 0; k < nm; k++) {
    const q = r.pick(reqs);
    const tag = r.weighted(MUTATIONS)(r, q, reqs);
    if (tag !== "none") tags.push(tag);
  }
  let raw = reqs.map(serialize).join("");
  if (r.chance(0.2)) raw = byteMutate(r, raw, tags);
  // Split points: most cases go in one write.
  const cuts: number[] = [];
  const pieces = r.weighted([
    [60, 1],
    [25, 2],
    [10, 3],
    [5, 5],
  ] as const);
  if (raw.length > 1) {
    const set = new Set<number>();
    for (let i = 1; i < pieces; i++) set.add(r.range(1, raw.length - 1));
    cuts.push(...[...set].sort((a, b) => a - b));
  }
  return { raw, cuts, tags, seed, index };
}

/** latin1 string -> bytes. */
export function toBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** The case's writes (raw cut at `cuts`). */
export function pieces(c: { raw: string; cuts: number[] }): string[] {
  const out: string[] = [];
  let p = 0;
  for (const q of c.cuts) {
    if (q > p && q < c.raw.length) {
      out.push(c.raw.slice(p, q));
      p = q;
    }
  }
  out.push(c.raw.slice(p));
  return out;
}
