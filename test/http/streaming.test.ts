// Responses sent as they are produced: a stream or async generator body without a Content-Type,
// server-sent events, NDJSON, X-Accel-Buffering: no, a fetch() Response returned as it is (a proxy),
// whatever its type (unless its upstream declared a small length: then whole), and a stream the app
// typed, whatever the type, even one Bun gives a Bun.file (see extractBody in src/net/http/response.ts).
import { test, expect, afterAll } from "bun:test";
import net from "node:net";
import { serve } from "../../src/index.ts";

const enc = new TextEncoder();
const STREAM_PARTS: (string | Uint8Array)[] = [
  "héllo ", "✓ ", "🌍\n", "é".repeat(15), "é".repeat(255), "\ud800x", "x".repeat(16),
  new Uint8Array(3000).fill(65), new Uint8Array(40_000).fill(66), "long ".repeat(3000),
];
let cancelled = 0;
let pulls = 0;

/** An endless stream of "tick N" lines every 20 ms; its cancel() is counted in `cancelled`. */
function ticks(): ReadableStream<Uint8Array> {
  let i = 0;
  let timer: ReturnType<typeof setInterval>;
  return new ReadableStream<Uint8Array>({
    start(c) {
      timer = setInterval(() => c.enqueue(enc.encode(`tick ${i++}\n`)), 20);
    },
    cancel() {
      clearInterval(timer);
      cancelled++;
    },
  });
}

// The upstream of the proxy routes: Bun.serve, sending an endless application/octet-stream stream
// (the type of a download, and of a Bun.file of unknown type) and a 1 MiB file.
const PROXIED = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    if (new URL(req.url).pathname === "/file") return new Response(PROXIED, { headers: { "content-type": "application/octet-stream" } });
    if (new URL(req.url).pathname === "/small") return new Response("0123456789", { headers: { "content-type": "application/octet-stream" } });
    if (new URL(req.url).pathname === "/endless-untyped") return new Response(ticks());
    return new Response(ticks(), { headers: { "content-type": "application/octet-stream" } });
  },
});
afterAll(() => upstream.stop(true));

// An upstream that sends its head at once and its body later, a chunk every 20 ms: a fetch() of it
// resolves with nothing of the body buffered. Its open sockets are counted (the proxy must let go).
let slowOpen = 0;
const slowUpstream = net.createServer((s) => {
  slowOpen++;
  s.on("close", () => slowOpen--);
  s.once("data", () => {
    s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    let i = 0;
    const timer = setInterval(() => s.write(`7\r\ntick ${i++}\n\r\n`), 20);
    s.on("close", () => clearInterval(timer));
  });
  s.on("error", () => {});
});
await new Promise<void>((resolve) => slowUpstream.listen(0, "127.0.0.1", resolve));
const slowUrl = `http://127.0.0.1:${(slowUpstream.address() as net.AddressInfo).port}/`;
afterAll(() => slowUpstream.close());

const server = serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/sse") {
      let i = 0;
      let timer: ReturnType<typeof setInterval>;
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          timer = setInterval(() => c.enqueue(enc.encode(`data: ${i++}\n\n`)), 20);
        },
        cancel() {
          clearInterval(timer);
          cancelled++;
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    }
    if (path === "/ndjson") {
      async function* lines() {
        for (let i = 0; i < 3; i++) {
          yield `{"n":${i}}\n`;
          await Bun.sleep(10);
        }
      }
      return new Response(lines() as unknown as ReadableStream, { headers: { "content-type": "application/x-ndjson" } });
    }
    if (path === "/firehose") {
      // A producer much faster than the client: pull() must stop being called while the socket is full.
      const chunk = new Uint8Array(64 * 1024).fill(120);
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          pulls++;
          c.enqueue(chunk);
        },
      }, { highWaterMark: 1 });
      return new Response(stream, { headers: { "x-accel-buffering": "no", "content-type": "application/octet-stream" } });
    }
    if (path === "/plain-stream") {
      // No Content-Type: the usual `new Response(stream)`. Endless: only a streamed answer arrives.
      return new Response(ticks());
    }
    // A proxy: req.signal (aborted when the client leaves) ends the upstream fetch; Bun's fetch keeps
    // reading an upstream whose body was only cancelled.
    if (path === "/proxy") return fetch(`${upstream.url}endless`, { signal: req.signal });
    // A proxy that rebuilds the Response: no URL, the upstream's type (one Bun gives a Bun.file).
    if (path === "/proxy-rebuilt") {
      return fetch(`${upstream.url}endless`, { signal: req.signal }).then((up) => new Response(up.body, { status: up.status, headers: up.headers }));
    }
    // Hono's proxy() drops the hop-by-hop fields, Transfer-Encoding among them.
    if (path === "/proxy-hop-dropped") {
      return fetch(`${upstream.url}endless`, { signal: req.signal }).then((up) => {
        const headers = new Headers(up.headers);
        for (const h of ["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"]) headers.delete(h);
        return new Response(up.body, { status: up.status, headers });
      });
    }
    // Proxies that keep nothing of the upstream's head (its body reports the bytes it has buffered,
    // as an in-memory body would), or whose upstream sent no type.
    if (path === "/proxy-untyped") return fetch(`${upstream.url}endless-untyped`, { signal: req.signal });
    if (path === "/proxy-bare") return fetch(`${upstream.url}endless`, { signal: req.signal }).then((up) => new Response(up.body));
    if (path === "/proxy-bare-untyped") return fetch(`${upstream.url}endless-untyped`, { signal: req.signal }).then((up) => new Response(up.body));
    if (path === "/proxy-bare-slow") return fetch(slowUrl, { signal: req.signal }).then((up) => new Response(up.body));
    if (path === "/proxy-own-head") {
      return fetch(`${upstream.url}endless`, { signal: req.signal }).then((up) =>
        new Response(up.body, { headers: { "content-type": "application/octet-stream", "cache-control": "no-store" } }));
    }
    // In-memory answers that come after a wait (the stream probe's case): still whole, with a length.
    if (path === "/after-wait-text") return Bun.sleep(5).then(() => new Response("answered after a wait"));
    if (path === "/after-wait-bytes") return Bun.sleep(5).then(() => new Response(new Uint8Array([1, 2, 3, 4, 5]), { headers: { "content-type": "application/octet-stream" } }));
    if (path === "/after-wait-json") return Bun.sleep(5).then(() => Response.json({ after: "a wait" }));
    if (path === "/proxy-file") return fetch(`${upstream.url}file`);
    if (path === "/proxy-file-rebuilt") return fetch(`${upstream.url}file`).then((up) => new Response(up.body, up));
    if (path === "/proxy-head") return fetch(`${upstream.url}file`, { method: "HEAD" });
    if (path === "/proxy-small") return fetch(`${upstream.url}small`);
    if (path === "/declared") {
      const cl = new URL(req.url).searchParams.get("cl")!;
      return new Response(ticks(), { headers: { "content-length": cl } });
    }
    if (path === "/plain-gen") {
      async function* words() {
        for (const w of ["one ", "two ", "three"]) {
          await Bun.sleep(30);
          yield w;
        }
      }
      return new Response(words() as unknown as ReadableStream);
    }
    if (path === "/at-once") {
      return new Response(new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(enc.encode("all "));
          c.enqueue(enc.encode("at once"));
          c.close();
        },
      }));
    }
    if (path === "/untyped-blob") return new Response(new Blob(["blob bytes"]));
    if (path === "/empty-blob") return new Response(new Blob([]));
    if (path === "/typed-empty-blob") return new Response(new Blob([], { type: "text/x-empty" }));
    if (path === "/typed-blob") return new Response(new Blob(["typed blob"], { type: "text/x-typed" }));
    if (path === "/empty-stream") return new Response(new ReadableStream({ start(c) { c.close(); } }));
    if (path === "/strings-at-once" || path === "/strings-pulled") {
      // String chunks are written as UTF-8 straight into the send queue: lengths count bytes. Some
      // need a size line a digit longer than their length in UTF-16 units (15 -> 0x1e, 255 -> 0x1fe
      // bytes; a lone surrogate becomes 3 bytes); bytes small and large are framed too.
      const parts = STREAM_PARTS;
      if (path === "/strings-at-once") {
        return new Response(new ReadableStream({ start(c) { for (const p of parts) c.enqueue(p); c.close(); } }));
      }
      let i = 0;
      return new Response(new ReadableStream({ pull(c) { if (i < parts.length) c.enqueue(parts[i++]!); else c.close(); } }), {
        headers: { "content-type": "text/event-stream" },
      });
    }
    return new Response("ok");
  },
});
afterAll(() => server.stop(true));

function rawRequest(text: string): { socket: net.Socket; data: () => string; closed: Promise<void> } {
  const socket = net.connect(server.port, "127.0.0.1");
  let buf = "";
  socket.on("data", (d) => (buf += d.toString("latin1")));
  const closed = new Promise<void>((r) => socket.on("close", () => r()));
  socket.write(text);
  return { socket, data: () => buf, closed };
}

test("a server-sent event reaches the client before the stream ends, chunked", async () => {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${server.port}/sse`);
  const reader = res.body!.getReader();
  const first = await reader.read();
  const ms = performance.now() - t0;
  expect(new TextDecoder().decode(first.value), "first event").toBe("data: 0\n\n");
  expect(res.headers.get("transfer-encoding"), "framing").toBe("chunked");
  expect(ms, `first event after ${ms.toFixed(0)} ms, wanted well before any end (the stream never ends)`).toBeLessThan(1000);
  await reader.cancel();
});

test("the producer is cancelled when the client goes away", async () => {
  const before = cancelled;
  const c = rawRequest("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n");
  for (let i = 0; i < 50 && !c.data().includes("data: 1"); i++) await Bun.sleep(10);
  c.socket.destroy();
  for (let i = 0; i < 100 && cancelled === before; i++) await Bun.sleep(10);
  expect(cancelled - before, "cancel() calls on the stream after the client left").toBe(1);
});

/** GET `path`, an endless "tick N" stream: its head and first chunks must come within 1 s, chunked. */
async function endlessAnswer(path: string): Promise<{ c: ReturnType<typeof rawRequest>; text: string }> {
  const c = rawRequest(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  for (let i = 0; i < 100 && !c.data().includes("tick 1\n"); i++) await Bun.sleep(10);
  const text = c.data();
  expect(text, "got no head and first chunks of an endless stream within 1 s").toContain("tick 1\n");
  expect(text, "framing").toMatch(/transfer-encoding: chunked\r\n/i);
  expect(/content-length/i.test(text), "a Content-Length on an endless stream").toBe(false);
  return { c, text };
}

test("a stream without a Content-Type is sent as it is produced, chunked (it never ends)", async () => {
  const { c } = await endlessAnswer("/plain-stream");
  const before = cancelled;
  c.socket.destroy();
  for (let i = 0; i < 100 && cancelled === before; i++) await Bun.sleep(10);
  expect(cancelled - before, "cancel() calls on the stream after the client left").toBe(1);
});

// type: the Content-Type the answer must carry, or null for none (the upstream sent none).
for (const [what, path, type] of [
  ["returned as it is", "/proxy", "application/octet-stream"],
  ["rebuilt with its body and headers", "/proxy-rebuilt", "application/octet-stream"],
  ["rebuilt without its hop-by-hop fields", "/proxy-hop-dropped", "application/octet-stream"],
  ["of an untyped upstream, returned as it is", "/proxy-untyped", null],
  ["rebuilt from its body alone", "/proxy-bare", null],
  ["of an untyped upstream, rebuilt from its body alone", "/proxy-bare-untyped", null],
  ["rebuilt from its body with the proxy's own head", "/proxy-own-head", "application/octet-stream"],
] as const) test(`a fetch() Response ${what} (a proxy) of an endless stream is sent as it comes, not held whole`, async () => {
  const before = cancelled;
  const { c, text } = await endlessAnswer(path);
  expect(text.match(/transfer-encoding/gi)?.length, "one Transfer-Encoding field").toBe(1);
  if (type) expect(text.toLowerCase(), "type").toContain(`content-type: ${type}\r\n`);
  else expect(/content-type/i.test(text), "a type the upstream did not send").toBe(false);
  c.socket.destroy();
  for (let i = 0; i < 100 && cancelled === before; i++) await Bun.sleep(10);
  expect(cancelled - before, "cancel() calls on the upstream's producer after the client left").toBe(1);
});

for (const [path, type, body] of [
  ["/after-wait-text", "text/plain;charset=utf-8", "answered after a wait"],
  ["/after-wait-bytes", "application/octet-stream", "\x01\x02\x03\x04\x05"],
  ["/after-wait-json", "application/json;charset=utf-8", '{"after":"a wait"}'],
] as const) test(`an in-memory answer that comes after a wait (${path}) goes out whole with its Content-Length`, async () => {
  const c = rawRequest(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await c.closed;
  const text = c.data();
  const head = text.slice(0, text.indexOf("\r\n\r\n")).toLowerCase();
  expect(head).toMatch(new RegExp(`content-length: ${body.length}(\r\n|$)`));
  expect(head).toContain(`content-type: ${type}`);
  expect(head).not.toContain("transfer-encoding");
  expect(text.endsWith(`\r\n\r\n${body}`)).toBe(true);
});

test("a proxy's `new Response(up.body)` of an upstream that has sent no body byte yet streams (not taken for a Blob)", async () => {
  const { c, text } = await endlessAnswer("/proxy-bare-slow");
  expect(/content-type/i.test(text), "a type the upstream did not send").toBe(false);
  c.socket.destroy();
  for (let i = 0; i < 100 && slowOpen > 0; i++) await Bun.sleep(10);
  expect(slowOpen, "upstream connections left open after the client left").toBe(0);
});

test("a proxied small body (its upstream declared 10 bytes) goes out whole with its Content-Length, as Bun.serve's", async () => {
  const c = rawRequest(`GET /proxy-small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await c.closed;
  const text = c.data();
  const head = text.slice(0, text.indexOf("\r\n\r\n")).toLowerCase();
  expect(head).toContain("content-length: 10");
  expect(head).not.toContain("transfer-encoding");
  expect(text.endsWith("\r\n\r\n0123456789")).toBe(true);
});

for (const [what, path] of [["", "/proxy-file"], [" (the Response rebuilt)", "/proxy-file-rebuilt"]]) test(`a proxied 1 MiB body with its Content-Length${what}: exact bytes, one framing`, async () => {
  const c = rawRequest(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  await c.closed;
  const raw = Buffer.from(c.data(), "latin1");
  const headEnd = raw.indexOf("\r\n\r\n");
  const head = raw.subarray(0, headEnd).toString("latin1");
  const framings = (head.match(/^(content-length|transfer-encoding):/gim) ?? []).length;
  expect(framings, head).toBe(1);
  let body = raw.subarray(headEnd + 4);
  if (/transfer-encoding: chunked/i.test(head)) {
    const parts: Buffer[] = [];
    for (let p = 0; ; ) {
      const eol = body.indexOf("\r\n", p);
      const size = parseInt(body.subarray(p, eol).toString("latin1"), 16);
      if (size === 0) break;
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      p = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else expect(head).toMatch(/content-length: 1048576$/im);
  expect(Buffer.compare(body, Buffer.from(PROXIED)), "the upstream's bytes").toBe(0);
});

test("an async generator without a Content-Type streams each piece as it is yielded", async () => {
  const c = rawRequest("GET /plain-gen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  for (let i = 0; i < 100 && !c.data().includes("one "); i++) await Bun.sleep(5);
  expect(c.data().includes("three"), "the first piece came only with the last").toBe(false);
  await c.closed;
  expect(c.data(), "chunked pieces, then the last chunk").toMatch(/\r\n\r\n4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n$/);
});

test("a stream that ends at once goes out with a Content-Length, as Bun.serve sends it", async () => {
  const res = await fetch(`http://127.0.0.1:${server.port}/at-once`);
  expect(res.headers.get("content-length")).toBe("11");
  expect(res.headers.get("transfer-encoding")).toBeNull();
  expect(await res.text()).toBe("all at once");
});

test("string chunks: UTF-8 bytes, counted as bytes in the Content-Length and in each chunk size", async () => {
  const want = Buffer.concat(STREAM_PARTS.map((p) => Buffer.from(p as string)));
  const once = await fetch(`http://127.0.0.1:${server.port}/strings-at-once`);
  expect(once.headers.get("content-length")).toBe(String(want.length));
  expect(Buffer.compare(Buffer.from(await once.arrayBuffer()), want)).toBe(0);
  // Pulled one at a time, the answer goes out chunked: read the framing off the wire.
  const r = rawRequest("GET /strings-pulled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  await r.closed;
  const raw = Buffer.from(r.data(), "latin1");
  const headEnd = raw.indexOf("\r\n\r\n");
  expect(raw.subarray(0, headEnd).toString()).toContain("Transfer-Encoding: chunked");
  const sizes: number[] = [];
  const body: Buffer[] = [];
  for (let p = headEnd + 4; ;) {
    const eol = raw.indexOf("\r\n", p);
    const line = raw.subarray(p, eol).toString();
    const size = parseInt(line, 16);
    expect(line, "the size in lower-case hex, no leading zeros").toBe(size.toString(16));
    if (size === 0) break;
    sizes.push(size);
    body.push(raw.subarray(eol + 2, eol + 2 + size));
    expect(raw.subarray(eol + 2 + size, eol + 4 + size).toString(), "CRLF after the chunk data").toBe("\r\n");
    p = eol + 4 + size;
  }
  expect(sizes).toEqual(STREAM_PARTS.map((p) => Buffer.from(p as string).length));
  expect(Buffer.compare(Buffer.concat(body), want)).toBe(0);
});

test("an untyped Blob body (no bytes in the Response either) is sent whole, typed as Bun.serve types it", async () => {
  const res = await fetch(`http://127.0.0.1:${server.port}/untyped-blob`);
  expect(res.headers.get("content-length")).toBe("10");
  expect(res.headers.get("content-type")).toBe("text/plain;charset=utf-8");
  expect(await res.text()).toBe("blob bytes");
});

test("HEAD of a streamed body: the head alone, and the producer is cancelled", async () => {
  const before = cancelled;
  const c = rawRequest("HEAD /plain-stream HTTP/1.1\r\nHost: x\r\n\r\nGET /at-once HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  await c.closed;
  const text = c.data();
  const heads = text.split("HTTP/1.1 200 OK").length - 1;
  expect(heads, `got ${JSON.stringify(text)}`).toBe(2);
  expect(text.includes("tick"), "a HEAD response with a body").toBe(false);
  expect(text.endsWith("all at once"), "the pipelined GET after the HEAD").toBe(true);
  for (let i = 0; i < 100 && cancelled === before; i++) await Bun.sleep(10);
  expect(cancelled - before, "the HEAD's stream cancelled").toBe(1);
});

test("HEAD of a body that ends at once (a Blob, empty or typed; a stream) has GET's Content-Length", async () => {
  const lengthOf = (text: string) => /\r\ncontent-length: *(\d+)\r\n/i.exec(text.slice(0, text.indexOf("\r\n\r\n") + 2))?.[1] ?? null;
  for (const [path, want] of [["/empty-blob", "0"], ["/typed-empty-blob", "0"], ["/typed-blob", "10"], ["/empty-stream", "0"], ["/at-once", "11"], ["/untyped-blob", "10"]] as const) {
    const g = rawRequest(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const h = rawRequest(`HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET /at-once HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await Promise.all([g.closed, h.closed]);
    expect(lengthOf(g.data()), `GET ${path}`).toBe(want);
    expect(lengthOf(h.data()), `HEAD ${path}: ${JSON.stringify(h.data())}`).toBe(want);
    expect(h.data().toLowerCase(), path).not.toContain("transfer-encoding");
    expect(h.data().endsWith("\r\n\r\nall at once"), `${path}: no body after the HEAD's head, then the pipelined GET`).toBe(true);
  }
});

test("HEAD of a streamed body: the handler's declared Content-Length is sent (a proxy's HEAD), an invalid one is not", async () => {
  for (const [path, want] of [["/proxy-head", "content-length: 1048576"], ["/declared?cl=11", "content-length: 11"], ["/declared?cl=abc", null]] as const) {
    const c = rawRequest(`HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET /at-once HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await c.closed;
    const text = c.data();
    const head = text.slice(0, text.indexOf("\r\n\r\n")).toLowerCase();
    if (want) expect(head, path).toContain(want);
    else expect(head, path).not.toContain("content-length");
    expect(head, path).not.toContain("transfer-encoding");
    expect(text.endsWith("\r\n\r\nall at once"), `${path}: the pipelined GET right after the HEAD's head: ${JSON.stringify(text)}`).toBe(true);
  }
});

test("an async generator with an NDJSON type streams each line", async () => {
  const res = await fetch(`http://127.0.0.1:${server.port}/ndjson`);
  expect(await res.text()).toBe('{"n":0}\n{"n":1}\n{"n":2}\n');
});

test("HTTP/1.0: no chunked coding; the body ends with the connection", async () => {
  const c = rawRequest("GET /ndjson HTTP/1.0\r\n\r\n");
  await c.closed;
  const text = c.data();
  expect(text.startsWith("HTTP/1.1 200"), text.slice(0, 40)).toBe(true);
  expect(/transfer-encoding/i.test(text), "no Transfer-Encoding to a 1.0 client").toBe(false);
  expect(text.endsWith('{"n":0}\n{"n":1}\n{"n":2}\n'), `got ${JSON.stringify(text.slice(-40))}`).toBe(true);
});

test.skipIf(!Bun.which("python3"))("backpressure: a client that does not read stops the producer (a python3 client that never reads)", async () => {
  // A client that really never reads (Bun's node:net keeps reading into its own buffer when paused).
  const py = "import socket,sys,time\ns=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n" +
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,65536)\ns.sendall(b'GET /firehose HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\ntime.sleep(5)";
  const p0 = pulls;
  const client = Bun.spawn(["python3", "-c", py, String(server.port)], { stdout: "ignore", stderr: "inherit" });
  // python3 takes ~0.5 s to start on a slow machine: wait for the request, then for pulls to stop.
  for (let i = 0; i < 500 && pulls === p0; i++) await Bun.sleep(10);
  let p1 = pulls;
  for (let i = 0; i < 30; i++) {
    await Bun.sleep(100);
    if (pulls === p1) break;
    p1 = pulls;
  }
  await Bun.sleep(300);
  const p2 = pulls;
  p1 -= p0;
  const open = server.stats().connections;
  client.kill();
  await client.exited;
  // A few MB fill the socket buffers on both ends; after that pull() must stop.
  console.log(`firehose: ${p1 * 64} KiB produced before the producer stopped`);
  // Socket buffers on both ends take a few MiB; without backpressure the queue would reach the
  // connection's 16 MiB bound and the connection would fail.
  expect(p1 * 64, `KiB produced while the client did not read: ${p1 * 64}`).toBeLessThan(12 * 1024);
  expect(open, "the stalled connection is still open (not failed for queueing too much)").toBeGreaterThan(0);
  expect(p1, "the producer was never pulled").toBeGreaterThan(0);
  expect(p2 - p0 - p1, `pulls in the last 300 ms with the client stalled: got ${p2 - p0 - p1}, wanted 0`).toBe(0);
});
