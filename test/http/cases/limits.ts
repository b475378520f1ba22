// Limits: head bytes and header count (431), request-target length (414).
import type { HeadCase } from "./types.ts";

const x = (n: number) => "x".repeat(n);
// "GET / HTTP/1.1\r\nHost: a\r\nX: " + v + "\r\n\r\n" is 32 bytes plus the value.
const sized = (total: number) => `GET / HTTP/1.1\r\nHost: a\r\nX: ${x(total - 32)}\r\n\r\n`;

export const limitCases: HeadCase[] = [
  { name: "head of exactly maxHeaderBytes", raw: sized(64), limits: { maxHeaderBytes: 64 }, expect: {} },
  { name: "head one byte over maxHeaderBytes", raw: sized(65), limits: { maxHeaderBytes: 64 }, error: "HEADERS_TOO_LARGE", status: 431 },
  { name: "leading empty lines count toward maxHeaderBytes", raw: "\r\n" + sized(63), limits: { maxHeaderBytes: 64 }, error: "HEADERS_TOO_LARGE", status: 431 },
  { name: "huge head with the default limit", raw: sized(16 * 1024 + 1), error: "HEADERS_TOO_LARGE", status: 431 },
  { name: "head of 16 KiB with the default limit", raw: sized(16 * 1024), expect: {} },
  {
    name: "maxHeaderCount fields",
    raw: "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n",
    limits: { maxHeaderCount: 3 },
    expect: { headers: [["host", "a"], ["a", "1"], ["b", "2"]] },
  },
  {
    name: "one field over maxHeaderCount",
    raw: "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
    limits: { maxHeaderCount: 3 },
    error: "TOO_MANY_HEADERS",
    status: 431,
  },
  { name: "101 fields with the default limit", raw: `GET / HTTP/1.1\r\nHost: a\r\n${"X: y\r\n".repeat(100)}\r\n`, error: "TOO_MANY_HEADERS", status: 431 },
  { name: "target of exactly maxTargetLength", raw: `GET /${x(9)} HTTP/1.1\r\nHost: a\r\n\r\n`, limits: { maxTargetLength: 10 }, expect: { target: `/${x(9)}` } },
  { name: "target one byte over maxTargetLength", raw: `GET /${x(10)} HTTP/1.1\r\nHost: a\r\n\r\n`, limits: { maxTargetLength: 10 }, error: "URI_TOO_LONG", status: 414 },
  { name: "target over the default 8 KiB", raw: `GET /${x(8 * 1024)} HTTP/1.1\r\nHost: a\r\n\r\n`, error: "URI_TOO_LONG", status: 414 },
];
