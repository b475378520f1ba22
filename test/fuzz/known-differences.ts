// Known, argued differences between our parser and node:http (llhttp, strict mode), as code. Each rule
// says when a disagreement is explained by it (which side rejected which request, with which error, and
// that the case really has the feature), and how to repair the case: remove that one feature, so the
// harness (differ.ts judge) runs the repaired case again and one known difference never hides another.
// A rule with no repair ends the comparison (the rest of the bytes mean different things to each side).
// The argument for each rule, with its RFC section, is in known-differences.md; the ids match.
import type { CaseResult, SeenRequest } from "./differ.ts";
import { accepted } from "./differ.ts";

export interface KnownDifference {
  rule: string;
  /** The case with the difference removed, or null when it cannot be (the comparison ends there). */
  repaired: string | null;
}

type Side = "ours-rejects" | "node-rejects" | "ours-stops";

interface Ctx {
  raw: string;
  r: CaseResult;
  side: Side;
  /** Index of the request one side rejected and the other accepted. */
  k: number;
  /** Offset of that request in raw (its leading empty lines included). */
  start: number;
  /** Offset just past its head, when our parser got that far (else -1). */
  headEnd: number;
  /** Offset where our parser detected its error (-1: none). */
  errorAt: number;
  /** The rejecting side's error: our HttpError name or node's code. */
  error: string;
  methods: Set<string>;
}

interface Rule {
  id: string;
  applies(c: Ctx): boolean;
  repair(c: Ctx): string | null;
}

// ---------------------------------------------------------------------------------------------------------
// Locating things in a case (tolerant: the bytes may be malformed anywhere)

const isCRLF = (ch: string | undefined) => ch === "\r" || ch === "\n";

/** The request line of the request at `start`: [line start, line end (before its CR/LF)]. */
function requestLine(raw: string, start: number): { ls: number; le: number; text: string } {
  let p = start;
  while (p < raw.length && isCRLF(raw[p])) p++;
  let le = p;
  while (le < raw.length && !isCRLF(raw[le])) le++;
  return { ls: p, le, text: raw.slice(p, le) };
}

/** End of a line starting at p: index past its LF (or past a bare CR not followed by LF), or raw.length. */
function lineEnd(raw: string, p: number): number {
  while (p < raw.length && !isCRLF(raw[p])) p++;
  if (p >= raw.length) return raw.length;
  if (raw[p] === "\r" && raw[p + 1] === "\n") return p + 2;
  return p + 1;
}

interface Line {
  s: number;
  e: number;
  name: string;
  value: string;
}

/** The field lines of the head of the request at `start` (up to its empty line or the end of raw). */
function fieldLines(raw: string, start: number): Line[] {
  const rl = requestLine(raw, start);
  let p = lineEnd(raw, rl.le);
  const out: Line[] = [];
  while (p < raw.length) {
    if (isCRLF(raw[p])) break; // the empty line
    const e = lineEnd(raw, p);
    const text = raw.slice(p, e).replace(/\r?\n$/, "");
    const c = text.indexOf(":");
    out.push({ s: p, e, name: c < 0 ? "" : text.slice(0, c).toLowerCase(), value: c < 0 ? "" : text.slice(c + 1).trim() });
    p = e;
  }
  return out;
}

const splice = (raw: string, s: number, e: number, text: string) => raw.slice(0, s) + text + raw.slice(e);

/** Replace or delete (text null) several non-overlapping ranges. */
function spliceAll(raw: string, edits: { s: number; e: number; text: string }[]): string {
  let out = raw;
  for (const ed of [...edits].sort((a, b) => b.s - a.s)) out = splice(out, ed.s, ed.e, ed.text);
  return out;
}

/** The line of raw containing offset p - 1 (where our parser's value checks fire: after the line's LF). */
function lineBefore(raw: string, p: number): { s: number; e: number } {
  let s = Math.min(p - 1, raw.length - 1);
  if (raw[s] === "\n") s--;
  if (raw[s] === "\r") s--;
  while (s >= 0 && !isCRLF(raw[s])) s--;
  s++;
  return { s, e: lineEnd(raw, s) };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// The body of a chunked request starting at `p`: the chunk-size lines, as [start, end of the line content).
function chunkSizeLines(raw: string, p: number): { s: number; e: number }[] {
  const out: { s: number; e: number }[] = [];
  while (p < raw.length) {
    let e = p;
    while (e < raw.length && !isCRLF(raw[e])) e++;
    out.push({ s: p, e });
    const m = /^[0-9a-fA-F]+/.exec(raw.slice(p, e));
    if (!m) break;
    const size = parseInt(m[0], 16);
    const next = lineEnd(raw, e);
    if (size === 0 || !Number.isSafeInteger(size)) break;
    p = next + size;
    if (raw[p] === "\r") p++;
    if (raw[p] === "\n") p++;
  }
  return out;
}

function bodyStart(c: Ctx): number {
  if (c.headEnd >= 0) return c.headEnd;
  const sim = c.r.sim.requests.find((q) => q.start === c.start);
  return sim ? sim.headEnd : -1;
}

/** Trailer field lines of the chunked request in `c` (content ranges, without line ends). */
function trailerLines(c: Ctx): { s: number; e: number }[] {
  const req = c.r.sim.requests.find((q) => q.start === c.start);
  const b = bodyStart(c);
  if (!req?.chunked || b < 0) return [];
  const sizes = chunkSizeLines(c.raw, b);
  const last = sizes[sizes.length - 1];
  if (!last) return [];
  const out: { s: number; e: number }[] = [];
  let p = lineEnd(c.raw, last.e);
  while (p < c.raw.length && !isCRLF(c.raw[p])) {
    let e = p;
    while (e < c.raw.length && !isCRLF(c.raw[e])) e++;
    out.push({ s: p, e });
    p = lineEnd(c.raw, e);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The rules (ids as in known-differences.md)

const RULES: Rule[] = [
  {
    // Not a difference of rules but of timing: we check a field when its line ends, llhttp some of them
    // only when the head ends; when the bytes stop inside the head, only we have a verdict. Repair: end
    // the head, so node gets to judge it too.
    id: "verdict-before-eof",
    applies: (c) => {
      if (c.side !== "ours-rejects" || c.r.node.rawError !== "HPE_INVALID_EOF_STATE") return false;
      if (c.r.node.requests.length !== c.k) return false;
      const rest = c.raw.slice(c.start).replace(/^[\r\n]+/, "");
      return !/\r?\n\r?\n/.test(rest);
    },
    repair: (c) => c.raw + (c.raw.endsWith("\n") ? "\r\n" : "\r\n\r\n"),
  },
  {
    // The same timing difference the other way: llhttp judges a request line byte by byte (a target
    // that cannot begin with "(", a bad version character), we some of it when the line ends; at EOF
    // inside the line only node has a verdict. Repair: end the line and the head.
    id: "verdict-before-eof",
    applies: (c) => {
      if (c.side !== "node-rejects" || c.k !== c.r.sim.requests.length || c.r.sim.error !== null) return false;
      if (!/^HPE_INVALID_(URL|VERSION|CONSTANT)$/.test(c.error)) return false;
      const rest = c.raw.slice(c.start).replace(/^[\r\n]+/, "");
      return rest.length > 0 && !/[\r\n]/.test(rest);
    },
    repair: (c) => c.raw + " HTTP/1.1\r\nHost: a\r\n\r\n",
  },
  {
    // The same at a field line: llhttp judges some field values as their bytes arrive (a coding in
    // Transfer-Encoding, Content-Length's digits, a name's characters), we a field line when it ends;
    // at EOF inside the head only node has a verdict. Repair: end the line and the head.
    id: "verdict-before-eof",
    applies: (c) => {
      if (c.side !== "node-rejects" || c.k !== c.r.sim.requests.length || c.r.sim.error !== null) return false;
      if (!/^HPE_INVALID_(TRANSFER_ENCODING|CONTENT_LENGTH|HEADER_TOKEN)$/.test(c.error)) return false;
      const rest = c.raw.slice(c.start).replace(/^[\r\n]+/, "");
      return /\n/.test(rest) && !/\r?\n\r?\n/.test(rest);
    },
    repair: (c) => c.raw + (c.raw.endsWith("\n") ? "\r\n" : "\r\n\r\n"),
  },
  {
    // RFC 9110 §9.1: the same method list, but llhttp refuses a method at its first impossible byte.
    id: "method-token",
    applies: (c) => {
      // Node did not accept request k (it rejected it, or waits for more: "PRI" begins HTTP/2's preface).
      if (c.side === "ours-stops" || accepted(c.r.node).length > c.k) return false;
      const m = c.r.sim.requests[c.k]?.method;
      if (m !== undefined) return TOKEN.test(m) && !c.methods.has(m);
      // The bytes after the last request are an incomplete head (EOF came first): llhttp rejects a
      // method as soon as no method of its list can begin with it; we wait for the SP.
      const t = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(requestLine(c.raw, c.start).text);
      if (!t) return false;
      const complete = requestLine(c.raw, c.start).text.length > t[0].length;
      return complete ? !c.methods.has(t[0]) : ![...c.methods].some((x) => x.startsWith(t[0]));
    },
    repair: (c) => {
      const rl = requestLine(c.raw, c.start);
      const m = c.r.sim.requests[c.k]?.method ?? /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(rl.text)![0];
      return splice(c.raw, rl.ls, rl.ls + m.length, "GET");
    },
  },
  {
    // RFC 9110 §7.8 (a server may ignore Upgrade), §9.3.6: node hands these to 'upgrade'/'connect'.
    id: "upgrade-handoff",
    applies: (c) => c.side === "node-rejects" && c.error === "UPGRADE",
    repair: (c) => spliceAll(c.raw, fieldLines(c.raw, c.start).filter((l) => l.name === "upgrade").map((l) => ({ s: l.s, e: l.e, text: "" }))),
  },
  {
    // RFC 9110 §10.1.1.
    id: "expect",
    applies: (c) => c.error === "EXPECTATION_FAILED",
    repair: (c) => spliceAll(c.raw, fieldLines(c.raw, c.start).filter((l) => l.name === "expect").map((l) => ({ s: l.s, e: l.e, text: "" }))),
  },
  {
    // RFC 9112 §5: OWS around a field value is not part of it; llhttp refuses a Content-Length
    // followed by HTAB.
    id: "content-length-ows",
    applies: (c) => {
      if (c.side !== "node-rejects" || c.error !== "HPE_INVALID_CONTENT_LENGTH") return false;
      return fieldLines(c.raw, c.start).some((l) => l.name === "content-length" && /^[^:]*:.*\t[^\S\r\n]*\r?\n?$/.test(c.raw.slice(l.s, l.e)) && /^\d+$/.test(l.value));
    },
    repair: (c) =>
      spliceAll(
        c.raw,
        fieldLines(c.raw, c.start)
          .filter((l) => l.name === "content-length" && /^\d+$/.test(l.value))
          .map((l) => ({ s: l.s, e: l.e, text: `Content-Length: ${l.value}\r\n` })),
      ),
  },
  {
    // RFC 9112 §6.1 (501 for codings we do not decode), RFC 9110 §5.6.1.2 (empty list elements), and an
    // empty Transfer-Encoding field that node treats as absent.
    id: "transfer-coding-list",
    applies: (c) => {
      const te = fieldLines(c.raw, c.start).filter((l) => l.name === "transfer-encoding");
      if (te.length === 0) return false;
      const allEmpty = te.every((l) => /^[\s,]*$/.test(l.value));
      if (c.side === "ours-rejects") {
        if (c.error === "UNSUPPORTED_TRANSFER_CODING" || c.error === "INVALID_TRANSFER_ENCODING") return true;
        return (c.error === "TRANSFER_ENCODING_NOT_CHUNKED" || c.error === "CONTENT_LENGTH_WITH_TRANSFER_ENCODING") && allEmpty;
      }
      return c.error === "HPE_INVALID_TRANSFER_ENCODING" && c.r.sim.requests[c.k]?.chunked === true;
    },
    repair: (c) => {
      let kept = false;
      const edits = fieldLines(c.raw, c.start)
        .filter((l) => l.name === "transfer-encoding")
        .map((l) => {
          const chunked = l.value.split(",").some((t) => t.trim().toLowerCase() === "chunked");
          const text = chunked && !kept ? "Transfer-Encoding: chunked\r\n" : "";
          if (text) kept = true;
          return { s: l.s, e: l.e, text };
        });
      return spliceAll(c.raw, edits);
    },
  },
  {
    // RFC 9112 §9.3: "close" ends the connection whatever else the field says; llhttp lets "keep-alive"
    // win in HTTP/1.0.
    id: "connection-close-precedence",
    applies: (c) => {
      if (c.side !== "ours-stops") return false;
      const q = c.r.sim.requests[c.k];
      if (!q || q.versionMinor !== 0) return false;
      const opts = fieldLines(c.raw, c.start)
        .filter((l) => l.name === "connection")
        .flatMap((l) => l.value.split(",").map((t) => t.trim().toLowerCase()));
      return opts.includes("close") && opts.includes("keep-alive");
    },
    repair: (c) =>
      spliceAll(
        c.raw,
        fieldLines(c.raw, c.start)
          .filter((l) => l.name === "connection")
          .map((l) => {
            const rest = l.value.split(",").map((t) => t.trim()).filter((t) => t && t.toLowerCase() !== "close");
            return { s: l.s, e: l.e, text: rest.length ? `Connection: ${rest.join(", ")}\r\n` : "" };
          }),
      ),
  },
  {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing.
    id: "transfer-encoding-http10",
    applies: (c) => c.side === "ours-rejects" && c.error === "TRANSFER_ENCODING_IN_HTTP10",
    repair: (c) => {
      const rl = requestLine(c.raw, c.start);
      const v = rl.text.lastIndexOf("HTTP/1.0");
      if (v < 0) return null;
      const lines = fieldLines(c.raw, c.start);
      let add = "";
      if (!lines.some((l) => l.name === "host")) add += "Host: localhost\r\n";
      if (!lines.some((l) => l.name === "connection" && /keep-alive/i.test(l.value))) add += "Connection: close\r\n";
      const at = lineEnd(c.raw, rl.le);
      return spliceAll(c.raw, [
        { s: rl.ls + v, e: rl.ls + v + 8, text: "HTTP/1.1" },
        { s: at, e: at, text: add },
      ]);
    },
  },
  {
    // RFC 9112 §3.2: Host must be uri-host [":" port]; one Host field line.
    id: "host-syntax",
    applies: (c) => c.side === "ours-rejects" && (c.error === "INVALID_HOST" || c.error === "DUPLICATE_HOST"),
    repair: (c) => {
      if (c.errorAt < 0) return null;
      const l = lineBefore(c.raw, c.errorAt);
      if (!/^host:/i.test(c.raw.slice(l.s, l.e))) return null;
      return splice(c.raw, l.s, l.e, c.error === "DUPLICATE_HOST" ? "" : "Host: localhost\r\n");
    },
  },
  {
    // RFC 9112 §3.2 (target forms, no fragment), RFC 9110 §4.2 (http(s) URIs), RFC 3986; no "\\".
    id: "target-form",
    applies: (c) => c.side === "ours-rejects" && c.error === "INVALID_TARGET",
    repair: (c) => {
      const rl = requestLine(c.raw, c.start);
      const sp1 = rl.text.indexOf(" ");
      if (sp1 < 0) return null;
      let sp2 = rl.text.indexOf(" ", sp1 + 1);
      if (sp2 < 0) sp2 = rl.text.length;
      const method = rl.text.slice(0, sp1) === "CONNECT" ? "GET" : rl.text.slice(0, sp1);
      return splice(c.raw, rl.ls, rl.ls + sp2, `${method} /`);
    },
  },
  {
    // RFC 9112 §3: request-line = method SP request-target SP HTTP-version; no HTTP-version is HTTP/0.9,
    // which llhttp still parses.
    id: "http09-request-line",
    applies: (c) => {
      if (c.side !== "ours-rejects" || c.error !== "INVALID_REQUEST_LINE") return false;
      const parts = requestLine(c.raw, c.start).text.split(/[ \t]+/).filter(Boolean);
      return parts.length === 2;
    },
    repair: () => null,
  },
  {
    // RFC 9112 §3: single SP between the parts (lenient whitespace is a MAY).
    id: "request-line-whitespace",
    applies: (c) => {
      if (c.side !== "ours-rejects" || !["INVALID_REQUEST_LINE", "INVALID_METHOD", "INVALID_VERSION"].includes(c.error)) return false;
      const t = requestLine(c.raw, c.start).text;
      return /[ \t]{2,}|\t/.test(t);
    },
    repair: (c) => {
      const rl = requestLine(c.raw, c.start);
      return splice(c.raw, rl.ls, rl.le, rl.text.replace(/[ \t]+/g, " "));
    },
  },
  {
    // RFC 9112 §2.2: at least one empty line before a request line SHOULD be ignored; we ignore two CRLFs.
    id: "leading-empty-lines",
    applies: (c) => {
      if (c.side !== "ours-rejects" || !["TOO_MANY_EMPTY_LINES", "BARE_LF", "BARE_CR"].includes(c.error)) return false;
      let e = c.start;
      while (e < c.raw.length && isCRLF(c.raw[e])) e++;
      return e > c.start && c.errorAt > c.start && c.errorAt <= e + 1;
    },
    repair: (c) => {
      let e = c.start;
      while (e < c.raw.length && isCRLF(c.raw[e])) e++;
      return splice(c.raw, c.start, e, "");
    },
  },
  {
    // RFC 9110 §15.6.6, RFC 9112 §2.3: we serve HTTP/1.x only (505 otherwise).
    id: "http-version",
    applies: (c) => c.side === "ours-rejects" && c.error === "UNSUPPORTED_VERSION",
    repair: (c) => {
      const rl = requestLine(c.raw, c.start);
      const sp = rl.text.lastIndexOf(" ");
      if (sp < 0) return null;
      return splice(c.raw, rl.ls + sp + 1, rl.le, "HTTP/1.1");
    },
  },
  {
    // RFC 9110 §2.5: a higher minor version of HTTP/1 is read as HTTP/1.1; llhttp refuses HTTP/1.2-1.9.
    id: "http-minor-version",
    applies: (c) => c.side === "node-rejects" && c.error === "HPE_INVALID_VERSION" && / HTTP\/1\.[2-9]$/.test(requestLine(c.raw, c.start).text),
    repair: (c) => {
      const rl = requestLine(c.raw, c.start);
      return splice(c.raw, rl.le - 8, rl.le, "HTTP/1.1");
    },
  },
  {
    // RFC 9112 §7.1, RFC 9110 §8.6: lengths up to 2^53-1 (a JS number), chunk-sizes of 64 hex digits; llhttp takes 2^64-1.
    id: "length-limits",
    applies: (c) => {
      if (c.side !== "ours-rejects") return false;
      if (c.error === "CHUNK_SIZE_OVERFLOW") return true;
      if (c.error !== "INVALID_CONTENT_LENGTH" || c.errorAt < 0) return false;
      const l = lineBefore(c.raw, c.errorAt);
      const v = c.raw.slice(l.s, l.e).replace(/^[^:]*:/, "").trim();
      return /^\d+$/.test(v) && Number(v) > Number.MAX_SAFE_INTEGER;
    },
    repair: () => null,
  },
  {
    // RFC 9110 §6.5.1: framing fields in a trailer section are not processed; llhttp applies its
    // Content-Length and Transfer-Encoding checks to trailer fields too.
    id: "trailer-framing-fields",
    applies: (c) => {
      if (c.side !== "node-rejects" || !/CONTENT_LENGTH|TRANSFER_ENCODING/.test(c.error)) return false;
      return trailerLines(c).some((l) => /^(content-length|transfer-encoding)\s*:/i.test(c.raw.slice(l.s, l.e)));
    },
    repair: (c) =>
      spliceAll(
        c.raw,
        trailerLines(c)
          .filter((l) => /^(content-length|transfer-encoding)\s*:/i.test(c.raw.slice(l.s, l.e)))
          .map((l) => ({ s: l.s, e: lineEnd(c.raw, l.e), text: "" })),
      ),
  },
  {
    // RFC 9112 §7.1.1: chunk-ext syntax (BWS around ";" and "=", token or quoted-string values).
    id: "chunk-extensions",
    applies: (c) => {
      const req = c.r.sim.requests.find((q) => q.start === c.start);
      if (!req?.chunked) return false;
      if (c.side === "ours-rejects" && c.error !== "INVALID_CHUNK_EXTENSION") return false;
      const b = bodyStart(c);
      return b >= 0 && chunkSizeLines(c.raw, b).some((l) => /[;\s]/.test(c.raw.slice(l.s, l.e)));
    },
    repair: (c) => {
      const lines = chunkSizeLines(c.raw, bodyStart(c));
      const edits = lines
        .map((l) => {
          const t = c.raw.slice(l.s, l.e);
          const m = /^[0-9a-fA-F]*/.exec(t)![0];
          return { s: l.s, e: l.e, text: /^[0-9a-fA-F]*[;\s]/.test(t) ? m : t };
        })
        .filter((ed) => ed.text !== c.raw.slice(ed.s, ed.e));
      return spliceAll(c.raw, edits);
    },
  },
];

export const RULE_IDS: readonly string[] = [...new Set(RULES.map((r) => r.id))];

const same = (a: SeenRequest, b: SeenRequest) => a.m === b.m && a.u === b.u && a.b === b.b && JSON.stringify(a.h) === JSON.stringify(b.h);

/** The known difference that explains why ours and node disagree on `raw`, or null. */
export function classify(raw: string, r: CaseResult, methods: Set<string>): KnownDifference | null {
  const oa = accepted(r.ours);
  const na = accepted(r.node);
  for (let i = 0; i < Math.min(oa.length, na.length); i++) if (!same(oa[i]!, na[i]!)) return null; // no content rules
  const ko = r.ours.error !== null ? oa.length : Infinity;
  const kn = r.node.error !== null ? na.length : Infinity;
  let c: Ctx;
  if (ko < kn) {
    // Our parser's error name (the wire may only show a status: answers to HEAD have no body).
    c = { raw, r, side: "ours-rejects", k: ko, start: r.sim.errorRequestStart, headEnd: -1, errorAt: r.sim.errorAt, error: r.sim.error ?? r.ours.error!, methods };
    if (c.start < 0) return null;
  } else if (r.ours.error === null && r.sim.error === null && oa.length === r.sim.requests.length && oa.length > 0 && !r.sim.requests[oa.length - 1]!.keepAlive && na.length >= oa.length) {
    // We stopped after a request that ends the connection; node read on (and maybe rejected what came).
    // Only when node accepted all of ours: one it did not take (e.g. it waits for more bytes at EOF) is
    // where the two differ, not our stop.
    const stop = r.sim.requests[oa.length - 1]!;
    c = { raw, r, side: "ours-stops", k: oa.length - 1, start: stop.start, headEnd: stop.headEnd, errorAt: -1, error: "", methods };
  } else if (kn < ko) {
    const q = r.sim.requests[kn];
    const stop = r.sim.requests[kn - 1];
    if (!q && stop && !stop.keepAlive && r.sim.error === null && kn === r.sim.requests.length) {
      // We stopped after a request that ends the connection; node read on.
      c = { raw, r, side: "ours-stops", k: kn - 1, start: stop.start, headEnd: stop.headEnd, errorAt: -1, error: "", methods };
      return apply(c);
    }
    if (q) c = { raw, r, side: "node-rejects", k: kn, start: q.start, headEnd: q.headEnd, errorAt: -1, error: r.node.error!, methods };
    else if (kn === r.sim.requests.length && r.sim.error === null) {
      // Node rejected what we took as an incomplete head at EOF.
      const last = r.sim.requests[kn - 1];
      c = { raw, r, side: "node-rejects", k: kn, start: last ? last.end : 0, headEnd: -1, errorAt: -1, error: r.node.error!, methods };
    } else return null;
  } else if (ko === kn && oa.length > na.length) {
    // Node stopped at a request we accepted, without an error (it waits for bytes that never come).
    const q = r.sim.requests[na.length];
    if (!q) return null;
    c = { raw, r, side: "node-rejects", k: na.length, start: q.start, headEnd: q.headEnd, errorAt: -1, error: r.node.rawError ?? "", methods };
  } else if (ko === kn && oa.length < na.length) {
    const stop = r.sim.requests[oa.length - 1];
    if (!stop || stop.keepAlive) return null;
    c = { raw, r, side: "ours-stops", k: oa.length - 1, start: stop.start, headEnd: stop.headEnd, errorAt: -1, error: "", methods };
  } else return null;
  return apply(c);
}

function apply(c: Ctx): KnownDifference | null {
  const raw = c.raw;
  for (const rule of RULES) {
    if (!rule.applies(c)) continue;
    const repaired = rule.repair(c);
    if (repaired === raw) continue; // nothing of the rule's feature to remove: not this rule
    return { rule: rule.id, repaired };
  }
  return null;
}
