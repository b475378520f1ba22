// Hand-run timing check, not a test:  bun test/http/cases/timing.ts
// Parses a typical 6-header GET in a loop and prints the time per parse.
import { ChunkedDecoder } from "../../../src/net/http/chunked.ts";
import { RequestHead, parseRequestHead } from "../../../src/net/http/parser.ts";

const raw =
  "GET /api/users/12345?include=profile HTTP/1.1\r\n" +
  "Host: api.example.com\r\n" +
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n" +
  "Accept: application/json, text/plain, */*\r\n" +
  "Accept-Encoding: gzip, deflate, br\r\n" +
  "Connection: keep-alive\r\n" +
  "Cookie: session=0123456789abcdef; theme=dark\r\n" +
  "\r\n";
const buf = new Uint8Array(4096);
for (let i = 0; i < raw.length; i++) buf[i] = raw.charCodeAt(i);
const head = new RequestHead();

function time(label: string, n: number, f: () => number): void {
  let sink = 0;
  for (let i = 0; i < 200_000; i++) sink += f(); // warm up the JIT
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < n; i++) sink += f();
    best = Math.min(best, (Bun.nanoseconds() - t0) / n);
  }
  console.log(`${label.padEnd(48)} ${best.toFixed(0).padStart(5)} ns  (${sink > 0 ? "ok" : "?"})`);
}

const N = 1_000_000;
console.log(`${raw.length}-byte head, 6 fields`);
time("parseRequestHead", N, () => parseRequestHead(buf, 0, raw.length, head));
time("parseRequestHead + all headerName/headerValue", N, () => {
  const r = parseRequestHead(buf, 0, raw.length, head);
  let l = 0;
  for (let i = 0; i < head.headerCount; i++) l += head.headerName(buf, i).length + head.headerValue(buf, i).length;
  return r + l;
});
time("  headerName x6 (interned)", N, () => {
  let l = 0;
  for (let i = 0; i < head.headerCount; i++) l += head.headerName(buf, i).length;
  return l;
});
time("  headerValue x6", N, () => {
  let l = 0;
  for (let i = 0; i < head.headerCount; i++) l += head.headerValue(buf, i).length;
  return l;
});
time("incomplete (all but the last byte), from scratch", N, () => {
  head.reset();
  return parseRequestHead(buf, 0, raw.length - 1, head) + 1;
});
time("last byte arrives: resume after the above", N, () => {
  head.reset();
  parseRequestHead(buf, 0, raw.length - 1, head);
  return parseRequestHead(buf, 0, raw.length, head);
});

const body = "400\r\n" + "x".repeat(1024) + "\r\n0\r\n\r\n";
const bbuf = new Uint8Array(body.length);
for (let i = 0; i < body.length; i++) bbuf[i] = body.charCodeAt(i);
const dec = new ChunkedDecoder();
const none = () => {};
time("ChunkedDecoder, one 1 KiB chunk", N, () => {
  dec.reset();
  return dec.decode(bbuf, 0, bbuf.length, none);
});
