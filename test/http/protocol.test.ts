// serve() on the wire, one RFC 9112 rule per test, with raw node:net sockets: persistence,
// HTTP/1.0, pipelining, chunked request bodies, Expect, absolute-form targets, the 4xx/5xx
// rejections (400 and close), HEAD/204/304 framing, Date, and Content-Length/Transfer-Encoding.
import { describe, expect, test, beforeAll, afterAll } from "bun:test";
import { serve, type Server } from "../../src/index.ts";
import { Reactor } from "../../src/loop/reactor.ts";
import { RawClient } from "../support/uring.ts";
import { RawHttp, exchange, get, parseResponses, sleep, waitFor } from "../support/http.ts";

let server: Server;
let port: number;
/** Paths the handler saw, in order. */
const calls: string[] = [];

/** A server of its own answering with `fetch`, and one raw connection to it; both closed after `go`. */
async function onOwnServer(fetch: (req: Request) => Response, go: (c: RawHttp, s: Server) => Promise<void>): Promise<void> {
  const s = serve({ port: 0, hostname: "127.0.0.1", fetch });
  let c: RawHttp | null = null;
  try {
    c = await RawHttp.open(s.port);
    await go(c, s);
  } finally {
    c?.destroy();
    await s.stop(true);
  }
}

function app(req: Request): Response | Promise<Response> {
  const url = new URL(req.url);
  calls.push(url.pathname);
  switch (url.pathname) {
    case "/slow":
      return sleep(50).then(() => new Response("slow"));
    case "/fast":
      return new Response("fast");
    case "/echo":
      return req.text().then((t) => new Response(t, { headers: { "x-method": req.method, "x-url": req.url } }));
    case "/stream-echo":
      return (async () => {
        let n = 0;
        for await (const c of req.body as unknown as AsyncIterable<Uint8Array>) n += c.length;
        return new Response(`streamed ${n}`);
      })();
    case "/url":
      return new Response(req.url);
    case "/204":
      return new Response(null, { status: 204, headers: { "x-a": "1" } });
    case "/304":
      return new Response(null, { status: 304, headers: { etag: '"x"' } });
    case "/empty":
      return new Response("");
    case "/utf8":
      return new Response("héllo wörld ✓");
    case "/bytes":
      return new Response(new Uint8Array([0, 1, 2, 255]));
    case "/stream":
      return new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode("ab"));
            c.enqueue(new TextEncoder().encode("cd"));
            c.close();
          },
        }),
      );
    case "/big":
      return new Response("x".repeat(100_000));
    case "/head":
      return new Response("body of GET", { headers: { "x-kind": "head-test" } });
    default:
      return new Response(`path ${url.pathname}`);
  }
}

beforeAll(() => {
  server = serve({ port: 0, hostname: "127.0.0.1", fetch: app, development: false, idleTimeout: 5 });
  port = server.port;
});
afterAll(async () => {
  await server.stop(true);
});

describe("persistence", () => {
  test("HTTP/1.1 keeps the connection open between requests", async () => {
    const c = await RawHttp.open(port);
    await c.write(get("/a"));
    const r1 = await c.response();
    expect(r1.status, `got status ${r1.status}, wanted 200`).toBe(200);
    expect(r1.get("connection"), `got Connection ${r1.get("connection")}, wanted none (1.1 persists)`).toBeNull();
    await sleep(30);
    expect(c.ended, "got the connection closed after the first request, wanted it kept open").toBe(false);
    await c.write(get("/b"));
    const rs = await c.responses(2);
    expect(rs.length, `got ${rs.length} responses, wanted 2`).toBe(2);
    expect(rs[1]!.body.toString()).toBe("path /b");
    c.destroy();
  });

  test("HTTP/1.0 closes after the response unless keep-alive", async () => {
    const { text, closed } = await exchange(port, "GET /x HTTP/1.0\r\n\r\n");
    expect(closed, "got the connection open, wanted it closed after an HTTP/1.0 response").toBe(true);
    const [r] = parseResponses(Buffer.from(text, "latin1"), [], true).responses;
    expect(r?.status).toBe(200);
    expect(r!.body.toString()).toBe("path /x");
  });

  test("HTTP/1.0 with Connection: keep-alive stays open and echoes keep-alive", async () => {
    const c = await RawHttp.open(port);
    await c.write("GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const r = await c.response();
    expect(r.get("connection")?.toLowerCase(), `got Connection ${r.get("connection")}, wanted keep-alive`).toBe("keep-alive");
    expect(r.framing, `got framing ${r.framing}, wanted length (1.0 has no chunked)`).toBe("length");
    await sleep(30);
    expect(c.ended, "got the connection closed, wanted it kept alive").toBe(false);
    await c.write("GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const rs = await c.responses(2);
    expect(rs[1]?.body.toString()).toBe("path /k2");
    c.destroy();
  });

  test("HTTP/1.0 gets a streamed body close-delimited, not chunked", async () => {
    const { text, closed } = await exchange(port, "GET /stream HTTP/1.0\r\n\r\n");
    expect(closed).toBe(true);
    const [r] = parseResponses(Buffer.from(text, "latin1"), [], true).responses;
    expect(r?.get("transfer-encoding"), "got Transfer-Encoding in a response to HTTP/1.0, wanted none (RFC 9112 §6.1)").toBeNull();
    expect(r!.body.toString()).toBe("abcd");
  });

  test("nothing after a Connection: close request is processed", async () => {
    calls.length = 0;
    const c = await RawHttp.open(port);
    await c.write(get("/first", "Connection: close\r\n") + get("/second"));
    const closed = await c.waitEnd();
    expect(closed, "got the connection open, wanted it closed after Connection: close").toBe(true);
    const rs = parseResponses(c.buf, [], true).responses;
    expect(rs.length, `got ${rs.length} responses, wanted 1`).toBe(1);
    expect(rs[0]!.get("connection")?.toLowerCase()).toBe("close");
    expect(calls, `got handler calls ${JSON.stringify(calls)}, wanted only /first`).toEqual(["/first"]);
  });
});

describe("pipelining", () => {
  test("responses leave in request order when handlers finish out of order", async () => {
    const c = await RawHttp.open(port);
    await c.write(get("/slow") + get("/fast") + get("/slow") + get("/fast"));
    const rs = await c.responses(4);
    const bodies = rs.map((r) => r.body.toString());
    expect(bodies, `got ${JSON.stringify(bodies)}, wanted slow, fast, slow, fast`).toEqual(["slow", "fast", "slow", "fast"]);
    c.destroy();
  });

  test("several pipelined responses leave together (one read on the client gets them all)", async () => {
    // A private reactor, so its SQE count is this connection's alone.
    const reactor = new Reactor({ entries: 256, maxOps: 1024 });
    const s = serve({ port: 0, hostname: "127.0.0.1", reactor, fetch: () => new Response("ok") });
    const c = new RawClient(s.port);
    try {
      const N = 16;
      // Warm up (RECV armed, Date formatted), then count.
      c.send(get("/warm"));
      await c.readUntil(() => c.text().includes("ok"), 2000);
      c.chunks.length = 0;
      c.received = 0;
      const before = reactor.stats.submitted;
      c.send(get("/p").repeat(N));
      await sleep(100);
      c.drain();
      const submitted = reactor.stats.submitted - before;
      const got = c.chunks.length;
      const rs = parseResponses(Buffer.from(c.bytes())).responses;
      expect(rs.length, `got ${rs.length} responses, wanted ${N}`).toBe(N);
      expect(got, `got the ${N} responses in ${got} reads, wanted 1`).toBe(1);
      // One SEND for the batch (plus at most a sweep timer or two): not one SEND per response.
      expect(submitted, `got ${submitted} SQEs for ${N} pipelined requests, wanted far fewer than ${N}`).toBeLessThan(N / 2);
    } finally {
      c.close();
      await s.stop(true);
      reactor.close();
    }
  });

  test("a large pipelined batch (500 requests in one write) is answered in full and in order", async () => {
    const c = await RawHttp.open(port);
    let raw = "";
    for (let i = 0; i < 500; i++) raw += get(`/n${i}`);
    await c.write(raw);
    const rs = await c.responses(500, [], 5000);
    expect(rs.length, `got ${rs.length} responses, wanted 500`).toBe(500);
    for (let i = 0; i < 500; i++) {
      if (rs[i]!.body.toString() !== `path /n${i}`) throw new Error(`got response ${i} = ${rs[i]!.body}, wanted path /n${i}`);
    }
    c.destroy();
  });

  test("a client that pipelines requests and never reads does not make the server queue without bound", async () => {
    // Each response is fresh memory (100 KB); 300 of them would be 30 MB queued for a client that
    // reads nothing. Reading requests must stop while responses wait (output backpressure).
    await onOwnServer(() => new Response(new Uint8Array(100_000).fill(7)), async (c, s) => {
      c.sock.pause();
      await c.write(get("/fresh").repeat(300));
      await sleep(300);
      const queued = s.stats().queuedBytes;
      expect(queued, `got ${queued} bytes queued for a client that reads nothing, wanted under 16 MB`).toBeLessThan(16 * 1024 * 1024);
      c.sock.resume();
      const rs = await c.responses(300, [], 10_000);
      expect(rs.length, `got ${rs.length} responses once the client read, wanted 300`).toBe(300);
      expect(rs.every((r) => r.body.length === 100_000)).toBe(true);
    });
  });

  test("a request split across many writes byte by byte is parsed", async () => {
    const c = await RawHttp.open(port);
    const raw = get("/split", "X-A: 1\r\n");
    for (const ch of raw) {
      await c.write(ch);
      await sleep(1);
    }
    const r = await c.response();
    expect(r.body.toString()).toBe("path /split");
    c.destroy();
  });
});

describe("request bodies", () => {
  test("Content-Length body", async () => {
    const c = await RawHttp.open(port);
    await c.write("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
    const r = await c.response();
    expect(r.body.toString()).toBe("hello world");
    c.destroy();
  });

  test("chunked body with extensions and trailers, then a pipelined request", async () => {
    const c = await RawHttp.open(port);
    await c.write(
      "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5;ext=1\r\nhello\r\n" +
        '6;a="b c";flag\r\n world\r\n' +
        "0\r\nX-Trailer: v\r\nX-Other: w\r\n\r\n" +
        get("/after"),
    );
    const rs = await c.responses(2);
    expect(rs.length, `got ${rs.length} responses, wanted 2`).toBe(2);
    expect(rs[0]!.body.toString(), `got body ${JSON.stringify(rs[0]!.body.toString())}, wanted "hello world"`).toBe("hello world");
    expect(rs[1]!.body.toString()).toBe("path /after");
    c.destroy();
  });

  test("a body read as a stream, then the next request on the same connection", async () => {
    // Regression: a stream reader that fell behind paused the connection, the body ended, and
    // nothing resumed it: the second request was never read.
    const c = await RawHttp.open(port);
    const body = "b".repeat(300_000);
    await c.write(`POST /stream-echo HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const r1 = await c.response();
    expect(r1.body.toString()).toBe("streamed 300000");
    await c.write(get("/next"));
    const rs = await c.responses(2);
    expect(rs.length, `got ${rs.length} responses, wanted 2 (the connection stayed paused)`).toBe(2);
    expect(rs[1]!.body.toString()).toBe("path /next");
    c.destroy();
  });

  test("a body the handler never reads is dropped and the connection goes on", async () => {
    const c = await RawHttp.open(port);
    const body = "u".repeat(200_000);
    await c.write(`POST /fast HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}` + get("/after-unread"));
    const rs = await c.responses(2);
    expect(rs.map((r) => r.body.toString()), "got the request after an unread body lost, wanted it answered").toEqual(["fast", "path /after-unread"]);
    c.destroy();
  });

  test("chunked body arriving in pieces across writes", async () => {
    const c = await RawHttp.open(port);
    await c.write("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
    await sleep(20);
    await c.write("c\r\n");
    await sleep(20);
    await c.write("2\r\nde\r\n0\r");
    await sleep(20);
    await c.write("\n\r\n");
    const r = await c.response();
    expect(r.body.toString()).toBe("abcde");
    c.destroy();
  });

  for (const [name, body] of [
    ["a non-hex chunk size", "zz\r\nhello\r\n0\r\n\r\n"],
    ["chunk data not followed by CRLF", "5\r\nhelloXX0\r\n\r\n"],
  ] as const) {
    test(`400 and close for ${name}`, async () => {
      const { text, closed } = await exchange(port, `POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
      expect(text.startsWith("HTTP/1.1 400 "), `got ${JSON.stringify(text.slice(0, 40))}, wanted a 400`).toBe(true);
      expect(closed, "got the connection open, wanted it closed").toBe(true);
    });
  }
});

test("413 for a chunk size over maxRequestBodySize (decided from the size line)", async () => {
  const { text, closed } = await exchange(port, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffff\r\n");
  expect(text.startsWith("HTTP/1.1 413 "), `got ${JSON.stringify(text.slice(0, 40))}, wanted a 413`).toBe(true);
  expect(closed).toBe(true);
});

test("400 for a chunk size that overflows 2^53 when the body limit does not stop it first", async () => {
  const s = serve({ port: 0, hostname: "127.0.0.1", maxRequestBodySize: Number.MAX_SAFE_INTEGER, fetch: (req) => req.text().then((t) => new Response(t)) });
  try {
    const { text, closed } = await exchange(s.port, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n");
    expect(text.startsWith("HTTP/1.1 400 "), `got ${JSON.stringify(text.slice(0, 40))}, wanted a 400`).toBe(true);
    expect(closed).toBe(true);
  } finally {
    await s.stop(true);
  }
});

describe("Expect", () => {
  for (const value of ["100-continue", "100-Continue", "100-CONTINUE"]) {
    test(`Expect: ${value} gets 100 Continue before the final response`, async () => {
      const c = await RawHttp.open(port);
      await c.write(`POST /echo HTTP/1.1\r\nHost: a\r\nExpect: ${value}\r\nContent-Length: 5\r\n\r\n`);
      const ok = await waitFor(() => c.text().includes("\r\n\r\n"), 2000);
      expect(ok, "got no 100 Continue, wanted one before sending the body").toBe(true);
      expect(c.text(), `got ${JSON.stringify(c.text())}, wanted HTTP/1.1 100 Continue`).toBe("HTTP/1.1 100 Continue\r\n\r\n");
      await c.write("hello");
      await waitFor(() => c.text().includes("hello"), 2000);
      const rs = parseResponses(c.buf).responses;
      expect(rs.map((r) => r.status), `got statuses ${rs.map((r) => r.status)}, wanted 100 then 200`).toEqual([100, 200]);
      expect(rs[1]!.body.toString()).toBe("hello");
      c.destroy();
    });
  }

  test("no 100 Continue when the handler answers without reading the body", async () => {
    const c = await RawHttp.open(port);
    await c.write("POST /fast HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    const r = await c.response();
    expect(r.status === 100 || r.status === 200, `got ${r.status}, wanted 200 (or 100 first)`).toBe(true);
    c.destroy();
  });

  test("no 100 Continue when the body came with the head (RFC 9110 §10.1.1: the server MAY omit it)", async () => {
    const c = await RawHttp.open(port);
    await c.write("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello");
    await waitFor(() => c.text().includes("hello"), 2000);
    const rs = parseResponses(c.buf).responses;
    expect(rs.map((r) => r.status), `got statuses ${rs.map((r) => r.status)}, wanted only the 200`).toEqual([200]);
    expect(rs[0]!.body.toString()).toBe("hello");
    c.destroy();
  });

  test("417 for an expectation other than 100-continue", async () => {
    calls.length = 0;
    const { text, closed } = await exchange(port, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\nhello");
    expect(text.startsWith("HTTP/1.1 417 "), `got ${JSON.stringify(text.slice(0, 40))}, wanted a 417`).toBe(true);
    expect(closed).toBe(true);
    expect(calls.length, `got ${calls.length} handler calls, wanted 0`).toBe(0);
  });
});

describe("methods", () => {
  // The methods Bun.serve hands to its handler (Bun 1.3.14, measured): Node's http.METHODS (QUERY included) but CONNECT.
  const passed = [...new Set([...(require("node:http").METHODS as string[]), "QUERY"])].filter((m) => m !== "CONNECT");
  test(`all ${passed.length} methods Bun.serve passes on reach the handler, in one pipeline`, async () => {
    const raw = passed.map((m, i) => `${m} /echo HTTP/1.1\r\nHost: a\r\n${i === passed.length - 1 ? "Connection: close\r\n" : ""}\r\n`).join("");
    const { text } = await exchange(port, raw);
    const seen = parseResponses(Buffer.from(text, "latin1"), passed.map((m) => m === "HEAD"), true).responses.map((r) => `${r.status} ${r.get("x-method")}`);
    expect(seen).toEqual(passed.map((m) => `200 ${m}`));
  });
  for (const m of ["FOO", "get", "Post", "PRI", "M-SEARCHX", "PROPFINDPROPFIND"]) {
    test(`${m}: 501 and close, the handler never called`, async () => {
      calls.length = 0;
      const { text, closed } = await exchange(port, `${m} /echo HTTP/1.1\r\nHost: a\r\n\r\n`);
      expect(text.startsWith("HTTP/1.1 501 "), `got ${JSON.stringify(text.slice(0, 40))}, wanted a 501`).toBe(true);
      expect(closed).toBe(true);
      expect(calls).toEqual([]);
    });
  }
});

describe("targets", () => {
  test("absolute-form: req.url uses the target's authority, not Host", async () => {
    const c = await RawHttp.open(port);
    await c.write("GET http://example.com:8080/url?q=1 HTTP/1.1\r\nHost: other.org\r\n\r\n");
    const r = await c.response();
    expect(r.body.toString(), `got req.url ${r.body}, wanted http://example.com:8080/url?q=1`).toBe("http://example.com:8080/url?q=1");
    c.destroy();
  });

  test("origin-form: req.url is built from Host", async () => {
    const c = await RawHttp.open(port);
    await c.write("GET /url?a=b HTTP/1.1\r\nHost: my.host:1234\r\n\r\n");
    const r = await c.response();
    expect(r.body.toString()).toBe("http://my.host:1234/url?a=b");
    c.destroy();
  });

  test("authority-form (CONNECT) gets 501 and close: no tunnels (RFC 9110 §9.3.6), the handler is not called", async () => {
    calls.length = 0;
    const { text, closed } = await exchange(port, "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
    expect(text.startsWith("HTTP/1.1 501 "), `got ${JSON.stringify(text.slice(0, 60))}, wanted a 501`).toBe(true);
    expect(closed).toBe(true);
    expect(calls).toEqual([]);
  });

  test("HTTP/1.0 without Host: req.url uses the server's address", async () => {
    const { text } = await exchange(port, "GET /url HTTP/1.0\r\n\r\n");
    const [r] = parseResponses(Buffer.from(text, "latin1"), [], true).responses;
    expect(r!.body.toString()).toBe(`http://127.0.0.1:${port}/url`);
  });
});

describe("rejections: 400 and close, handler never called", () => {
  const cases: [string, string, number][] = [
    ["whitespace before a colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n", 400],
    ["obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  continued\r\n\r\n", 400],
    ["missing Host in 1.1", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400],
    ["repeated Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400],
    ["Host with userinfo", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400],
    ["Content-Length with Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
    ["invalid Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\nhello", 400],
    ["negative Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400],
    ["conflicting Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400],
    ["Transfer-Encoding whose last coding is not chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400],
    ["a control character in a header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", 400],
    ["a NUL in a header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", 400],
    ["a fragment in the target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["a backslash in the target (Bun.serve: /a/b)", "GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["a control character in the target", "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["an invalid token character in a header name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): 1\r\n\r\n", 400],
    ["an invalid method token", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["a bare LF line ending", "GET / HTTP/1.1\nHost: a\n\n", 400],
    ["an unsupported version (505)", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
    ["an unrecognized method (501)", "FOOBAR / HTTP/1.1\r\nHost: a\r\n\r\n", 501],
    ["a lower-case method (501)", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 501],
  ];
  for (const [name, raw, status] of cases) {
    test(name, async () => {
      calls.length = 0;
      const { text, closed } = await exchange(port, raw);
      const want = `HTTP/1.1 ${status} `;
      expect(text.startsWith(want), `got ${JSON.stringify(text.slice(0, 40))}, wanted ${want}`).toBe(true);
      expect(closed, "got the connection open, wanted it closed").toBe(true);
      const [r] = parseResponses(Buffer.from(text, "latin1"), [], true).responses;
      expect(r?.get("connection")?.toLowerCase(), "got no Connection: close on an error response, wanted it").toBe("close");
      expect(calls.length, `got ${calls.length} handler calls, wanted 0`).toBe(0);
    });
  }

  test("an error after a good pipelined request: the good one is answered first", async () => {
    calls.length = 0;
    const { text, closed } = await exchange(port, get("/good") + "GET / HTTP/1.1\r\nX-A : 1\r\n\r\n");
    const rs = parseResponses(Buffer.from(text, "latin1"), [], true).responses;
    expect(rs.map((r) => r.status), `got ${rs.map((r) => r.status)}, wanted 200 then 400`).toEqual([200, 400]);
    expect(closed).toBe(true);
    expect(calls).toEqual(["/good"]);
  });
});

describe("limits", () => {
  let limited: Server;
  beforeAll(() => {
    limited = serve({
      port: 0, hostname: "127.0.0.1", development: false,
      limits: { maxTargetLength: 100, maxHeaderBytes: 1024 },
      maxRequestBodySize: 1000,
      fetch: (req) => req.text().then((t) => new Response(`got ${t.length}`)),
    });
  });
  afterAll(() => limited.stop(true));

  test("414 for a target over maxTargetLength", async () => {
    const { text, closed } = await exchange(limited.port, get("/" + "a".repeat(200)));
    expect(text.startsWith("HTTP/1.1 414 "), `got ${JSON.stringify(text.slice(0, 40))}, wanted a 414`).toBe(true);
    expect(closed).toBe(true);
  });

  test("a target at the limit is served", async () => {
    const { c } = await exchange(limited.port, get("/" + "a".repeat(99), "Connection: close\r\n"));
    const r = parseResponses(c.buf, [], true).responses[0];
    expect(r?.status).toBe(200);
  });

  test("414 with the default limit (8 KiB)", async () => {
    const { text } = await exchange(port, get("/" + "a".repeat(9000)));
    expect(text.startsWith("HTTP/1.1 414 "), `got ${JSON.stringify(text.slice(0, 40))}, wanted a 414`).toBe(true);
  });

  test("431 for a head over maxHeaderBytes", async () => {
    const { text, closed } = await exchange(limited.port, get("/", `X-Big: ${"b".repeat(2000)}\r\n`));
    expect(text.startsWith("HTTP/1.1 431 "), `got ${JSON.stringify(text.slice(0, 40))}, wanted a 431`).toBe(true);
    expect(closed).toBe(true);
  });

  test("431 with the default limit (16 KiB), head sent in several writes", async () => {
    const c = await RawHttp.open(port);
    await c.write("GET / HTTP/1.1\r\nHost: a\r\n");
    for (let i = 0; i < 20 && !c.ended; i++) {
      await c.write(`X-H${i}: ${"v".repeat(1000)}\r\n`);
      await sleep(2);
    }
    const closed = await c.waitEnd();
    expect(c.text().startsWith("HTTP/1.1 431 "), `got ${JSON.stringify(c.text().slice(0, 40))}, wanted a 431`).toBe(true);
    expect(closed).toBe(true);
  });

  test("413 for Content-Length over maxRequestBodySize, decided from the head alone", async () => {
    const c = await RawHttp.open(limited.port);
    await c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"); // no body sent
    const ok = await waitFor(() => c.text().includes("\r\n\r\n"), 2000);
    expect(ok, "got no response before the body was sent, wanted a 413 at once").toBe(true);
    expect(c.text().startsWith("HTTP/1.1 413 "), `got ${JSON.stringify(c.text().slice(0, 40))}, wanted a 413`).toBe(true);
    expect(await c.waitEnd(), "got the connection open after 413, wanted it closed").toBe(true);
  });

  test("413 for a chunked body that grows over maxRequestBodySize", async () => {
    const c = await RawHttp.open(limited.port);
    await c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    await c.write("400\r\n" + "x".repeat(1024) + "\r\n"); // 1024 > 1000
    await c.waitEnd();
    expect(c.text().startsWith("HTTP/1.1 413 "), `got ${JSON.stringify(c.text().slice(0, 40))}, wanted a 413`).toBe(true);
  });

  test("a body at maxRequestBodySize is accepted", async () => {
    const c = await RawHttp.open(limited.port);
    await c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + "y".repeat(1000));
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("got 1000");
    c.destroy();
  });
});

describe("response framing", () => {
  test("HEAD gets GET's headers and no body", async () => {
    const c = await RawHttp.open(port);
    await c.write(get("/head") + `HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n` + get("/after-head"));
    const rs = await c.responses(3, [false, true, false]);
    expect(rs.length, `got ${rs.length} responses, wanted 3 (HEAD framed without a body)`).toBe(3);
    const [g, h, after] = rs;
    expect(h!.body.length).toBe(0);
    expect(h!.get("content-length"), `got HEAD Content-Length ${h!.get("content-length")}, wanted GET's ${g!.get("content-length")}`).toBe(g!.get("content-length"));
    expect(h!.get("content-type")).toBe(g!.get("content-type"));
    expect(h!.get("x-kind")).toBe("head-test");
    expect(after!.body.toString()).toBe("path /after-head");
    c.destroy();
  });

  test("HEAD of a streamed body sends no body", async () => {
    const c = await RawHttp.open(port);
    await c.write(`HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n` + get("/after"));
    const rs = await c.responses(2, [true, false]);
    expect(rs.length).toBe(2);
    expect(rs[1]!.body.toString(), `got ${JSON.stringify(rs[1]!.head + rs[1]!.body)}, wanted the next response intact`).toBe("path /after");
    c.destroy();
  });

  test("204 and 304 carry no body and no Content-Length on 204", async () => {
    const c = await RawHttp.open(port);
    await c.write(get("/204") + get("/304") + get("/after"));
    const rs = await c.responses(3);
    expect(rs.map((r) => r.status)).toEqual([204, 304, 200]);
    expect(rs[0]!.get("content-length"), "got Content-Length on a 204, wanted none (RFC 9110 §8.6)").toBeNull();
    expect(rs[0]!.get("transfer-encoding")).toBeNull();
    expect(rs[0]!.get("x-a")).toBe("1");
    expect(rs[1]!.get("transfer-encoding")).toBeNull();
    expect(rs[1]!.get("etag")).toBe('"x"');
    expect(rs[2]!.body.toString(), "got the response after 204/304 garbled, wanted it intact").toBe("path /after");
    c.destroy();
  });

  test("Date header is an IMF-fixdate within a second or two of now", async () => {
    const c = await RawHttp.open(port);
    await c.write(get("/date"));
    const r = await c.response();
    const d = r.get("date");
    expect(d, "got no Date header, wanted one").not.toBeNull();
    expect(d!, `got Date ${d}, wanted IMF-fixdate`).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const skew = Math.abs(Date.parse(d!) - Date.now());
    expect(skew, `got Date ${skew} ms from now, wanted within 2000`).toBeLessThan(2000);
    c.destroy();
  });

  test("Content-Length or Transfer-Encoding is always correct", async () => {
    const paths = ["/empty", "/utf8", "/bytes", "/stream", "/big", "/fast", "/echo"];
    const want = ["", "héllo wörld ✓", "\x00\x01\x02\xff", "abcd", "x".repeat(100_000), "fast", ""];
    const c = await RawHttp.open(port);
    await c.write(paths.map((p) => get(p)).join(""));
    const rs = await c.responses(paths.length);
    expect(rs.length, `got ${rs.length} responses, wanted ${paths.length}`).toBe(paths.length);
    for (let i = 0; i < paths.length; i++) {
      const r = rs[i]!;
      const hasCl = r.get("content-length") !== null, hasTe = r.get("transfer-encoding") !== null;
      expect(hasCl !== hasTe, `${paths[i]}: got Content-Length ${hasCl} and Transfer-Encoding ${hasTe}, wanted exactly one`).toBe(true);
      const body = paths[i] === "/bytes" ? r.body.toString("latin1") : r.body.toString();
      expect(body, `${paths[i]}: got body of ${body.length} chars, wanted ${want[i]!.length}`).toBe(want[i]!);
    }
    c.destroy();
  });

  test("handler headers that are the server's (Content-Length, Transfer-Encoding, Keep-Alive) are replaced", async () => {
    const framing = { "content-length": "99", "transfer-encoding": "chunked", "keep-alive": "timeout=1" };
    await onOwnServer(() => new Response("hello", { headers: framing }), async (c) => {
      await c.write(get("/") + get("/"));
      const rs = await c.responses(2);
      expect(rs.length, `got ${rs.length} responses, wanted 2 (the handler's framing headers ignored)`).toBe(2);
      expect(rs[0]!.get("content-length")).toBe("5");
      expect(rs[0]!.get("transfer-encoding")).toBeNull();
      expect(rs[0]!.get("keep-alive")).toBeNull();
    });
  });

  // Before: the handler's Connection: close was dropped and the connection kept going.
  test("a handler's Connection: close is honoured: said, then closed, nothing after it processed (RFC 9112 §9.6)", async () => {
    const seen: string[] = [];
    const bye = (req: Request) => {
      seen.push(new URL(req.url).pathname);
      return new Response("bye", { headers: { Connection: "Keep-Alive, CLOSE" } });
    };
    await onOwnServer(bye, async (c) => {
      await c.write(get("/first") + get("/second"));
      const closed = await c.waitEnd();
      expect(closed, "got the connection open, wanted it closed after the handler's Connection: close").toBe(true);
      const rs = parseResponses(c.buf, [], true).responses;
      expect(rs.length, `got ${rs.length} responses, wanted 1`).toBe(1);
      expect(rs[0]!.get("connection")).toBe("close");
      expect(rs[0]!.body.toString()).toBe("bye");
      // /second may have reached the handler (pipelined), but its answer must not be sent.
      expect(seen[0]).toBe("/first");
    });
  });

  // A client that keeps its side open after the server's FIN (allowHalfOpen): what the server
  // does next shows whether it lingers (staged close) or closed at once. `go` runs once the
  // server's FIN came; no reset may come at all.
  async function afterLastRequest(raw: string, go: (c: { s: Server; sock: import("node:net").Socket; got: string }) => Promise<void>): Promise<void> {
    const s = serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => new Response(`bye ${new URL(req.url).pathname}`) });
    const net = await import("node:net");
    const sock = net.connect({ port: s.port, host: "127.0.0.1", allowHalfOpen: true });
    let got = "", ended = false, error: Error | null = null;
    sock.on("data", (d: Buffer) => (got += d.toString("latin1")));
    sock.on("end", () => (ended = true));
    sock.on("error", (e: Error) => (error = e));
    try {
      await new Promise<void>((r) => sock.once("connect", () => r()));
      sock.write(raw);
      expect(await waitFor(() => ended, 2000), "the server's FIN").toBe(true);
      await go({ s, sock, got });
      expect(error, "a reset").toBeNull();
    } finally {
      sock.destroy();
      await s.stop(true);
    }
  }

  // Before: every close lingered (shutdown, then wait up to 2 s for the client's FIN), also when the
  // client had said it was done; nginx closes at once then, and it was ~8% of a close's CPU.
  test("a client's last request (Connection: close, HTTP/1.0): closed once the response is sent, without waiting for the client's FIN", async () => {
    for (const raw of ["GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET /b HTTP/1.0\r\n\r\n"]) {
      await afterLastRequest(raw, async ({ s, got }) => {
        expect(got).toContain("bye /");
        expect(await waitFor(() => s.stats().connections === 0, 1000), "closed on the server while the client's side is still open").toBe(true);
      });
    }
  });

  test("bytes after a client's last request: the close lingers for them (RFC 9112 §9.6), so no reset can cut the response", async () => {
    await afterLastRequest("GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /more HTTP/1.1\r\nHost: a\r\n\r\n", async ({ s, sock, got }) => {
      expect(got).toContain("bye /a");
      expect(got).not.toContain("/more");
      await sleep(300);
      expect(s.stats().connections, "lingering: still open until the client's FIN").toBe(1);
      sock.end();
      expect(await waitFor(() => s.stats().connections === 0, 1000), "closed after the client's FIN").toBe(true);
    });
  });

  // Before: Bun's Response takes any statusText, and "OK\r\nX-Injected: 1" went out as a header line.
  test("a statusText that is not a reason-phrase is replaced by the standard one: no response splitting (RFC 9112 §4)", async () => {
    const texts: Record<string, string> = { "/crlf": "OK\r\nX-Injected: 1", "/wide": "Gr\u00fc\u00df \u20ac", "/fine": "Fine Indeed", "/latin1": "Gr\u00fc\u00df" };
    await onOwnServer((req) => new Response("x", { status: 200, statusText: texts[new URL(req.url).pathname] ?? "" }), async (c) => {
      await c.write(get("/crlf") + get("/wide") + get("/fine") + get("/latin1"));
      const rs = await c.responses(4);
      expect(rs.length).toBe(4);
      const lines = rs.map((r) => r.head.split("\r\n")[0]);
      expect(lines).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 Fine Indeed", "HTTP/1.1 200 Gr\u00fc\u00df"]);
      expect(rs[0]!.get("x-injected"), "a header injected through statusText").toBeNull();
    });
  });

  // Before: Content-Length: 0, which tells the client GET's body is empty.
  test("HEAD answered with no body and a Content-Length keeps that Content-Length (RFC 9110 §9.3.2)", async () => {
    const claimed = (req: Request) => req.method === "HEAD"
      ? new Response(null, { headers: { "Content-Length": "1234", "Content-Type": "application/zip" } })
      : new Response(null, { headers: { "Content-Length": "1234" } });
    await onOwnServer(claimed, async (c) => {
      await c.write(`HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n` + get("/y"));
      const rs = await c.responses(2, [true, false]);
      expect(rs[0]!.get("content-length"), "HEAD").toBe("1234");
      expect(rs[0]!.body.length).toBe(0);
      // A GET's body is what is sent, whatever the handler claimed.
      expect(rs[1]!.get("content-length"), "GET with no body").toBe("0");
    });
  });

  // Before: Upgrade was stripped as hop-by-hop, which made a 426 invalid (RFC 9110 §15.5.22 requires it).
  test("a handler's Upgrade header is sent, with upgrade in the server's Connection header (RFC 9110 §7.8)", async () => {
    const upgrade = { Upgrade: "TLS/1.2, HTTP/1.1", Connection: "Upgrade" };
    await onOwnServer(() => new Response("use TLS", { status: 426, headers: upgrade }), async (c) => {
      await c.write(get("/") + get("/"));
      const rs = await c.responses(2);
      expect(rs.length, "the connection stays usable").toBe(2);
      expect(rs[0]!.status).toBe(426);
      expect(rs[0]!.get("upgrade")).toBe("TLS/1.2, HTTP/1.1");
      expect(rs[0]!.get("connection")).toBe("upgrade");
    });
  });
});
