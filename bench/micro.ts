// Micro-benchmarks (mitata): `bun run bench/micro.ts`. Parser, response head writer, SQE encoding,
// NOP round trips through the ring, and the whole in-process HTTP path (no sockets). Figures are
// per operation; compare runs on the same machine only.
import { bench, group, run, do_not_optimize } from "mitata";
import { RequestHead, parseRequestHead } from "../src/net/http/parser.ts";
import { serializeHead } from "../src/net/http/response.ts";
import { Reactor } from "../src/loop/reactor.ts";
import { prepRecvMultishot, prepSend, prepNop, setUserData } from "../src/ffi/sqe.ts";
import { HttpConnection } from "../src/net/http/connection.ts";
import { ServerCore } from "../src/net/http/core.ts";

const enc = new TextEncoder();
const wrkGet = enc.encode("GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n");
const browserGet = enc.encode(
  "GET /assets/app.js?v=3 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n" +
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n" +
    "Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session=abc123; theme=dark\r\n\r\n",
);
const post = enc.encode("POST /api/items HTTP/1.1\r\nHost: api.local\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"message\":\"Hello, World!\"}");
const head = new RequestHead();

group("parser", () => {
  bench("GET, 3 headers (wrk)", () => {
    head.reset();
    return do_not_optimize(parseRequestHead(wrkGet, 0, wrkGet.length, head));
  });
  bench("GET, 7 headers (browser)", () => {
    head.reset();
    return do_not_optimize(parseRequestHead(browserGet, 0, browserGet.length, head));
  });
  bench("POST with Content-Length", () => {
    head.reset();
    return do_not_optimize(parseRequestHead(post, 0, post.length, head));
  });
});

const headers = new Headers({ "content-type": "text/plain", server: "bun-uring" });
group("response head", () => {
  bench("no headers", () =>
    do_not_optimize(serializeHead({ status: 200, statusText: "", headers: null, defaultType: "text/plain;charset=utf-8", length: 13, keepAlive: true, versionMinor: 1 })),
  );
  bench("2 headers", () =>
    do_not_optimize(serializeHead({ status: 200, statusText: "", headers, defaultType: "", length: 13, keepAlive: true, versionMinor: 1 })),
  );
});

const reactor = new Reactor({ entries: 1024 });
const ring = reactor.ring;
group("SQE encoding", () => {
  bench("prepRecvMultishot", () => {
    // Encoded into SQE 0, never published: this measures the encoder alone.
    prepRecvMultishot(ring.sqe, 0, 5, 0, 0, 0);
    setUserData(ring.sqe, 0, 7, 1);
  });
  bench("prepSend", () => {
    prepSend(ring.sqe, 16, 5, 0x7f0000001000, 130, 0x4000);
    setUserData(ring.sqe, 16, 8, 1);
  });
  bench("prepNop", () => prepNop(ring.sqe, 32));
});
// getSqe() above advanced the local tail; a fresh reactor for round trips.

const r2 = new Reactor({ entries: 256 });
let done = 0;
const sink = { complete() { done++; } };
group("NOP round trips", () => {
  bench("64 NOPs: submit, wait, reap, dispatch", () => {
    for (let i = 0; i < 64; i++) r2.nop(sink, i);
    const want = done + 64;
    while (done < want) r2.poll(0);
  });
});

let written = 0;
const fakeConn = {
  open: true, deadline: 0, remoteAddress: null, reactor: { now: 1 },
  writeLatin1(s: string) { written += s.length; return true; },
  write(b: Uint8Array) { written += b.length; return true; },
  writeUtf8(s: string) { written += s.length; return true; },
  end() {}, close() {}, pause() {}, resume() {}, needsDrain: false,
};
const core = new ServerCore({
  fetch: () => new Response("Hello, World!"),
  development: false, maxRequestBodySize: 1 << 20, idleTimeoutMs: 10_000, headerTimeoutMs: 10_000,
});
const hc = new HttpConnection(fakeConn as never, core);
group("HTTP path in process (parse, Request, handler, Response, head)", () => {
  bench("GET -> new Response(string)", () => hc.onData(fakeConn as never, wrkGet, 0, wrkGet.length));
});

await run();
reactor.close();
r2.close();
