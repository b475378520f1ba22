import { describe, expect, test } from "bun:test";
import { HttpError, httpErrorInfo, httpErrorName, statusReason, type HttpErrorName } from "../../src/net/http/errors.ts";
import {
  DEFAULT_LIMITS,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADER_COUNT,
  DEFAULT_MAX_TARGET_LENGTH,
  RequestHead,
  parseRequestHead,
  type ParserLimits,
} from "../../src/net/http/parser.ts";
import { connectionCases } from "./cases/connection.ts";
import { fieldCases } from "./cases/fields.ts";
import { framingCases } from "./cases/framing.ts";
import { hostCases } from "./cases/host.ts";
import { limitCases } from "./cases/limits.ts";
import { requestLineCases } from "./cases/request-line.ts";
import { bytesOf, type AcceptCase, type HeadCase, type HeadExpect, type RejectCase } from "./cases/types.ts";

const groups: [string, HeadCase[]][] = [
  ["request line", requestLineCases],
  ["field lines", fieldCases],
  ["host", hostCases],
  ["framing", framingCases],
  ["connection", connectionCases],
  ["limits", limitCases],
];
const allCases = groups.flatMap(([, cs]) => cs);


function limitsOf(c: HeadCase): ParserLimits {
  return { ...DEFAULT_LIMITS, ...c.limits };
}

/** A parse result in words. */
function fmt(r: number): string {
  if (r > 0) return `consumed ${r}`;
  if (r === 0) return "incomplete (0)";
  return `error ${httpErrorName(r)} (${httpErrorInfo(r).status})`;
}

const isReject = (c: HeadCase): c is RejectCase => "error" in c;

function wantedResult(c: HeadCase): number {
  return isReject(c) ? -HttpError[c.error] : c.raw.length;
}

/** Differences between the parsed head and the expectation, as "field: got X, wanted Y". */
function headProblems(buf: Uint8Array, head: RequestHead, want: HeadExpect): string[] {
  const problems: string[] = [];
  const cmp = (field: string, got: unknown, wanted: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(wanted))
      problems.push(`${field}: got ${JSON.stringify(got)}, wanted ${JSON.stringify(wanted)}`);
  };
  const versionMinor = want.versionMinor ?? 1;
  cmp("method", head.method, want.method ?? "GET");
  cmp("target", head.target, want.target ?? "/");
  cmp("target offsets", latinSlice(buf, head.targetStart, head.targetEnd), want.target ?? "/");
  cmp("targetForm", head.targetForm, want.targetForm ?? "origin");
  cmp("versionMinor", head.versionMinor, versionMinor);
  cmp("contentLength", head.contentLength, want.contentLength ?? -1);
  cmp("chunked", head.chunked, want.chunked ?? false);
  cmp("keepAlive", head.keepAlive, want.keepAlive ?? versionMinor === 1);
  cmp("expectContinue", head.expectContinue, want.expectContinue ?? false);
  cmp("upgrade", head.upgrade, want.upgrade ?? false);
  if (want.host !== undefined) cmp("host()", head.host(buf), want.host);
  if (want.headers !== undefined) {
    const got: [string, string][] = [];
    for (let i = 0; i < head.headerCount; i++) got.push([head.headerName(buf, i), head.headerValue(buf, i)]);
    cmp("headers", got, want.headers);
  }
  return problems;
}

function latinSlice(buf: Uint8Array, s: number, e: number): string {
  let r = "";
  for (let i = s; i < e; i++) r += String.fromCharCode(buf[i]!);
  return r;
}

// Bytes placed right after `end`: a parser that reads past `end` would see a complete, valid head end.
const TRAP = bytesOf("\r\n\r\n");
const OFFSET = 7; // the head starts at a non-zero offset, after junk

/** raw at OFFSET in a buffer with junk before it and TRAP after it. */
function embed(raw: string): Uint8Array {
  const b = new Uint8Array(OFFSET + raw.length + TRAP.length);
  b.fill(0x47); // "G"
  b.set(bytesOf(raw), OFFSET);
  b.set(TRAP, OFFSET + raw.length);
  return b;
}

const head = new RequestHead(); // shared by every test: each parse must fully reset it
const fresh = new RequestHead();

function runWhole(c: HeadCase): string[] {
  const buf = embed(c.raw);
  const r = parseRequestHead(buf, OFFSET, OFFSET + c.raw.length, head, limitsOf(c));
  const want = wantedResult(c);
  if (r !== want) return [`result: got ${fmt(r)}, wanted ${fmt(want)}`];
  if (isReject(c)) {
    const info = httpErrorInfo(r);
    return info.status === c.status ? [] : [`status: got ${info.status}, wanted ${c.status}`];
  }
  if (head.headBytes !== r) return [`headBytes: got ${head.headBytes}, wanted ${r}`];
  return headProblems(buf, head, c.expect);
}

// Feed every prefix (the caller accumulating bytes), then the whole thing. An accepted head must read as
// incomplete until its last byte; a rejected one as incomplete until the error shows, then that error.
function runPrefixes(c: HeadCase): string[] {
  const problems: string[] = [];
  const buf = embed(c.raw);
  const limits = limitsOf(c);
  const want = wantedResult(c);
  const saved = new Uint8Array(TRAP.length);
  let errorFrom = -1;
  for (let i = 0; i < c.raw.length; i++) {
    // Put the trap right after the prefix; restore afterwards.
    const at = OFFSET + i;
    saved.set(buf.subarray(at, at + TRAP.length));
    buf.set(TRAP, at);
    // Once as an accumulating caller would (same buffer and start: the parser resumes where it stopped),
    // once from scratch (reset() drops the resume point), on a second head.
    const r = parseRequestHead(buf, OFFSET, at, head, limits);
    fresh.reset();
    const r2 = parseRequestHead(buf, OFFSET, at, fresh, limits);
    buf.set(saved, at);
    if (r2 !== r) problems.push(`prefix of ${i}/${c.raw.length} bytes: resumed parse got ${fmt(r)}, fresh parse got ${fmt(r2)}`);
    if (r === 0 && errorFrom < 0) continue;
    if (isReject(c) && r === want) {
      if (errorFrom < 0) errorFrom = i;
      continue;
    }
    problems.push(
      `prefix of ${i}/${c.raw.length} bytes: got ${fmt(r)}, wanted ${errorFrom < 0 ? "incomplete (0)" : fmt(want)}` +
        (isReject(c) && errorFrom < 0 ? ` or ${fmt(want)}` : ""),
    );
    if (problems.length > 5) break;
  }
  const r = parseRequestHead(buf, OFFSET, OFFSET + c.raw.length, head, limits);
  if (r !== want) problems.push(`after all prefixes: got ${fmt(r)}, wanted ${fmt(want)}`);
  else if (!isReject(c)) problems.push(...headProblems(buf, head, (c as AcceptCase).expect));
  return problems;
}

for (const [group, cases] of groups) {
  describe(`parseRequestHead: ${group}`, () => {
    for (const c of cases) {
      const label = isReject(c) ? `rejects ${c.name} -> ${c.error} ${c.status}` : `accepts ${c.name}`;
      test(label, () => {
        expect(runWhole(c)).toEqual([]);
      });
      test(`${label} (every prefix)`, () => {
        expect(runPrefixes(c)).toEqual([]);
      });
    }
  });
}

describe("parseRequestHead: pipelining", () => {
  test("all accepted default-limit cases back to back in one buffer", () => {
    const accepted = allCases.filter((c): c is AcceptCase => !isReject(c) && c.limits === undefined);
    expect(accepted.length).toBeGreaterThan(80);
    const buf = bytesOf(accepted.map((c) => c.raw).join(""));
    const problems: string[] = [];
    let p = 0;
    for (const c of accepted) {
      const r = parseRequestHead(buf, p, buf.length, head);
      if (r !== c.raw.length) {
        problems.push(`${c.name}: got ${fmt(r)}, wanted ${fmt(c.raw.length)}`);
        break;
      }
      for (const m of headProblems(buf, head, c.expect)) problems.push(`${c.name}: ${m}`);
      p += r;
    }
    expect(problems).toEqual([]);
    expect(p).toBe(buf.length);
  });

  test("request with a Content-Length body, then the next request", () => {
    const a = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
    const b = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    const buf = bytesOf(a + "hello" + b + "GET /c HTTP/1.1\r\n");
    let r = parseRequestHead(buf, 0, buf.length, head);
    expect(fmt(r)).toBe(fmt(a.length));
    expect(head.contentLength).toBe(5);
    const next = r + head.contentLength;
    r = parseRequestHead(buf, next, buf.length, head);
    expect(fmt(r)).toBe(fmt(b.length));
    expect(head.target).toBe("/b");
    // The third request is incomplete.
    expect(fmt(parseRequestHead(buf, next + r, buf.length, head))).toBe(fmt(0));
  });

  test("an error in the second request does not affect the first", () => {
    const a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    const buf = bytesOf(a + "GET /b HTTP/1.1\r\nHost : h\r\n\r\n");
    expect(fmt(parseRequestHead(buf, 0, buf.length, head))).toBe(fmt(a.length));
    expect(fmt(parseRequestHead(buf, a.length, buf.length, head))).toBe(fmt(-HttpError.WHITESPACE_BEFORE_COLON));
  });
});

describe("parseRequestHead: resuming an incomplete head", () => {
  const a = "GET /a HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\n";
  const b = "PUT /b HTTP/1.1\r\nHost: b\r\nX-Long: \x00123456789\r\n\r\n";

  test("resumes only with the same buffer and start", () => {
    const bufA = bytesOf(a);
    const bufB = bytesOf(b);
    const h = new RequestHead();
    const cut = a.indexOf("3456"); // inside the X-Long value
    expect(fmt(parseRequestHead(bufA, 0, cut, h))).toBe(fmt(0));
    // Another buffer: parsed from scratch, so the NUL that precedes the cut is seen.
    expect(fmt(parseRequestHead(bufB, 0, bufB.length, h))).toBe(fmt(-HttpError.INVALID_HEADER_VALUE));
    expect(fmt(parseRequestHead(bufA, 0, cut, h))).toBe(fmt(0));
    expect(fmt(parseRequestHead(bufA, 0, bufA.length, h))).toBe(fmt(a.length));
    expect([h.method, h.target, h.headerValue(bufA, 1)]).toEqual(["GET", "/a", "0123456789"]);
  });

  test("reset() drops the resume point (a reused buffer is re-validated)", () => {
    const buf = bytesOf(a);
    const h = new RequestHead();
    const cut = a.indexOf("3456");
    expect(fmt(parseRequestHead(buf, 0, cut, h))).toBe(fmt(0));
    buf.set(bytesOf(b)); // the same buffer now holds another connection's bytes
    h.reset();
    expect(fmt(parseRequestHead(buf, 0, buf.length, h))).toBe(fmt(-HttpError.INVALID_HEADER_VALUE));
  });

  // Resuming means bytes validated by an earlier call are not scanned again, which keeps a head that
  // arrives one byte per read linear instead of quadratic. Shown here by breaking the contract on purpose:
  // a byte changed behind the parser's back after it was validated goes unnoticed.
  test("validated bytes, even inside the incomplete line, are not scanned again", () => {
    for (const [label, raw, corruptAt, cutAt] of [
      ["earlier line", a, a.indexOf("Host"), a.indexOf("3456")],
      ["same line, name", a, a.indexOf("X-Long") + 1, a.indexOf("Long") + 2],
      ["same line, value", a, a.indexOf("0123"), a.indexOf("3456")],
    ] as const) {
      const buf = bytesOf(raw);
      const h = new RequestHead();
      expect(`${label}: ${fmt(parseRequestHead(buf, 0, cutAt, h))}`).toBe(`${label}: ${fmt(0)}`);
      buf[corruptAt] = 0;
      expect(`${label}: ${fmt(parseRequestHead(buf, 0, buf.length, h))}`).toBe(`${label}: ${fmt(raw.length)}`);
    }
  });

  test("a head arriving one byte per read", () => {
    const raw = "GET / HTTP/1.1\r\nHost: a\r\nX:  " + "v ".repeat(3000) + "\r\n" + "Y: 1\r\n".repeat(50) + "\r\n";
    const buf = bytesOf(raw);
    const h = new RequestHead();
    let r = 0;
    for (let i = 1; i <= raw.length; i++) {
      r = parseRequestHead(buf, 0, i, h);
      if (r !== 0 && i < raw.length) break;
    }
    expect(fmt(r)).toBe(fmt(raw.length));
    expect([h.headerCount, h.headerValue(buf, 1)]).toEqual([52, "v ".repeat(3000).trimEnd()]);
  });
});

describe("parseRequestHead: limits are reported before the head completes", () => {
  test("431 as soon as an unfinished head passes maxHeaderBytes", () => {
    const raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + "x".repeat(DEFAULT_MAX_HEADER_BYTES + 100);
    const buf = bytesOf(raw);
    expect(fmt(parseRequestHead(buf, 0, DEFAULT_MAX_HEADER_BYTES, head))).toBe(fmt(0));
    expect(fmt(parseRequestHead(buf, 0, DEFAULT_MAX_HEADER_BYTES + 1, head))).toBe(fmt(-HttpError.HEADERS_TOO_LARGE));
    expect(httpErrorInfo(-HttpError.HEADERS_TOO_LARGE).status).toBe(431);
  });

  test("431 while still in the request line", () => {
    const limits = { ...DEFAULT_LIMITS, maxHeaderBytes: 100, maxTargetLength: 1000 };
    const buf = bytesOf("GET /" + "a".repeat(200));
    expect(fmt(parseRequestHead(buf, 0, 100, head, limits))).toBe(fmt(0));
    expect(fmt(parseRequestHead(buf, 0, 101, head, limits))).toBe(fmt(-HttpError.HEADERS_TOO_LARGE));
  });

  test("414 as soon as an unfinished target passes maxTargetLength", () => {
    const buf = bytesOf("GET /" + "a".repeat(DEFAULT_MAX_TARGET_LENGTH + 100));
    // "GET " is 4 bytes; the target may be DEFAULT_MAX_TARGET_LENGTH bytes long.
    expect(fmt(parseRequestHead(buf, 0, 4 + DEFAULT_MAX_TARGET_LENGTH, head))).toBe(fmt(0));
    expect(fmt(parseRequestHead(buf, 0, 4 + DEFAULT_MAX_TARGET_LENGTH + 1, head))).toBe(fmt(-HttpError.URI_TOO_LONG));
    expect(httpErrorInfo(-HttpError.URI_TOO_LONG).status).toBe(414);
  });

  test("431 on the field line after the last allowed one, before the head ends", () => {
    const raw = "GET / HTTP/1.1\r\nHost: a\r\n" + "X: y\r\n".repeat(DEFAULT_MAX_HEADER_COUNT - 1) + "Z";
    const buf = bytesOf(raw);
    expect(fmt(parseRequestHead(buf, 0, buf.length - 1, head))).toBe(fmt(0));
    expect(fmt(parseRequestHead(buf, 0, buf.length, head))).toBe(fmt(-HttpError.TOO_MANY_HEADERS));
  });

  test("limits at a non-zero start offset", () => {
    const limits = { ...DEFAULT_LIMITS, maxHeaderBytes: 40 };
    const first = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"; // 27 bytes
    const buf = bytesOf(first + "GET / HTTP/1.1\r\nHost: a\r\nX: 12345\r\n\r\n"); // second head is 37 bytes
    expect(fmt(parseRequestHead(buf, 0, buf.length, head, limits))).toBe(fmt(first.length));
    expect(fmt(parseRequestHead(buf, first.length, buf.length, head, limits))).toBe(fmt(37));
    const tight = { ...limits, maxHeaderBytes: 36 };
    expect(fmt(parseRequestHead(buf, first.length, buf.length, head, tight))).toBe(fmt(-HttpError.HEADERS_TOO_LARGE));
  });

  test("a maxHeaderCount above the head's capacity grows its offsets array", () => {
    const small = new RequestHead(2);
    const raw = "GET / HTTP/1.1\r\nHost: a\r\n" + "X: y\r\n".repeat(150) + "\r\n";
    const buf = bytesOf(raw);
    const r = parseRequestHead(buf, 0, buf.length, small, { ...DEFAULT_LIMITS, maxHeaderCount: 200 });
    expect(fmt(r)).toBe(fmt(raw.length));
    expect(small.headerCount).toBe(151);
    expect(small.headerValue(buf, 150)).toBe("y");
  });
});

describe("RequestHead helpers", () => {
  const raw =
    "GET /x HTTP/1.1\r\nHOST: Example.COM\r\nuser-agent: t\r\nX-Weird-Name: v\r\nContent-Type: text/plain\r\n" +
    "X-Latin: \xe9\x80\r\n\r\n";
  const buf = bytesOf(raw);

  test("headerName lower-cases and headerValue keeps case", () => {
    expect(fmt(parseRequestHead(buf, 0, buf.length, head))).toBe(fmt(raw.length));
    const names = Array.from({ length: head.headerCount }, (_, i) => head.headerName(buf, i));
    expect(names).toEqual(["host", "user-agent", "x-weird-name", "content-type", "x-latin"]);
    expect(head.headerValue(buf, 0)).toBe("Example.COM");
    expect(head.headerValue(buf, 4)).toBe("\xe9\x80");
    expect(head.host(buf)).toBe("Example.COM");
    expect(head.hostStart).toBe(raw.indexOf("Example.COM"));
    expect(head.hostEnd).toBe(raw.indexOf("Example.COM") + "Example.COM".length);
  });

  test("headers holds 4 offsets per field", () => {
    parseRequestHead(buf, 0, buf.length, head);
    const h = head.headers;
    expect([h[4], h[5], h[6], h[7]]).toEqual([
      raw.indexOf("user-agent"),
      raw.indexOf("user-agent") + 10,
      raw.indexOf(": t") + 2,
      raw.indexOf(": t") + 3,
    ]);
  });

  test("indexOf finds a header by lower-case name", () => {
    parseRequestHead(buf, 0, buf.length, head);
    expect(head.indexOf(buf, "content-type")).toBe(3);
    expect(head.indexOf(buf, "x-weird-name")).toBe(2);
    expect(head.indexOf(buf, "cookie")).toBe(-1);
  });

  test("host() is empty without Host and authority", () => {
    const b = bytesOf("GET / HTTP/1.0\r\n\r\n");
    parseRequestHead(b, 0, b.length, head);
    expect([head.host(b), head.hostStart, head.hostEnd, head.authorityStart]).toEqual(["", -1, -1, -1]);
  });

  test("defaults", () => {
    expect(DEFAULT_LIMITS).toEqual({ maxHeaderBytes: 16384, maxHeaderCount: 100, maxTargetLength: 8192 });
  });
});

describe("errors", () => {
  const names = Object.keys(HttpError) as HttpErrorName[];

  test("codes are distinct small positive integers", () => {
    const codes = names.map((n) => HttpError[n]);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(Number.isInteger(c) && c > 0 && c < 256).toBe(true);
  });

  test("httpErrorInfo names the rule and uses a standard status", () => {
    const problems: string[] = [];
    for (const n of names) {
      for (const code of [HttpError[n], -HttpError[n]]) {
        const info = httpErrorInfo(code);
        if (info.name !== n) problems.push(`${n}: name got ${info.name}, wanted ${n}`);
        if (![400, 413, 414, 417, 431, 501, 505].includes(info.status)) problems.push(`${n}: status got ${info.status}`);
        if (info.reason !== statusReason(info.status)) problems.push(`${n}: reason got ${info.reason}, wanted ${statusReason(info.status)}`);
        if (!/RFC \d+ §/.test(info.message)) problems.push(`${n}: message "${info.message}" does not cite a rule`);
      }
    }
    expect(problems).toEqual([]);
    expect(httpErrorInfo(HttpError.CONTENT_LENGTH_WITH_TRANSFER_ENCODING).message).toBe(
      "Request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1)",
    );
    expect(httpErrorInfo(9999).name).toBe("UNKNOWN");
  });

  test("statusReason", () => {
    const got = [100, 101, 200, 204, 301, 304, 400, 404, 413, 414, 417, 418, 422, 431, 500, 501, 505, 511].map(statusReason);
    expect(got).toEqual([
      "Continue",
      "Switching Protocols",
      "OK",
      "No Content",
      "Moved Permanently",
      "Not Modified",
      "Bad Request",
      "Not Found",
      "Content Too Large",
      "URI Too Long",
      "Expectation Failed",
      "I'm a Teapot",
      "Unprocessable Content",
      "Request Header Fields Too Large",
      "Internal Server Error",
      "Not Implemented",
      "HTTP Version Not Supported",
      "Network Authentication Required",
    ]);
    expect([99, 306, 299, 599, 600, 200.5, -1].map(statusReason)).toEqual(Array(7).fill("Unknown"));
  });
});
