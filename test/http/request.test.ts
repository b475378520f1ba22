// The Request a handler gets is Web-standard and lazy: instanceof Request, url/method/headers,
// usable with `new Request(req)`, `fetch(req)` and `req.clone()`; it stays lazy (no native
// Request built) when the handler reads only url, method and a header. And the interop points
// inside handlers: `await fetch()` to another local server, `setTimeout`, `Bun.file().text()`.
import { describe, expect, test, beforeAll, afterAll } from "bun:test";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve, type Server } from "../../src/index.ts";
import { RawHttp, get, sleep, waitFor } from "../support/http.ts";
import { Reactor } from "../../src/loop/reactor.ts";

/** A plain Bun.serve upstream that echoes what it got. */
let upstream: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  upstream = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    async fetch(req) {
      const body = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
      return Response.json({ method: req.method, url: req.url, xTest: req.headers.get("x-test"), type: req.headers.get("content-type"), body });
    },
  });
});
afterAll(() => upstream.stop(true));

/** serve() with `handler`; the handler's result (or its error) is what the test reads. */
async function withServer<T>(handler: (req: Request, server: Server) => T | Promise<T>, go: (s: Server) => Promise<void>): Promise<T[]> {
  const results: T[] = [];
  const s = serve({
    port: 0, hostname: "127.0.0.1", development: true,
    async fetch(req, server) {
      results.push(await handler(req, server));
      return new Response("ok");
    },
  });
  try {
    await go(s);
  } finally {
    await s.stop(true);
  }
  return results;
}

describe("a Web-standard Request", () => {
  test("instanceof Request, toStringTag, url, method, headers", async () => {
    const [r] = await withServer(
      (req) => ({
        instance: req instanceof Request,
        tag: Object.prototype.toString.call(req),
        url: req.url,
        method: req.method,
        headers: [...req.headers],
        multi: req.headers.get("x-multi"),
        signal: req.signal instanceof AbortSignal && !req.signal.aborted,
        params: (req as Request & { params?: unknown }).params,
      }),
      async (s) => {
        const c = await RawHttp.open(s.port);
        await c.write(`PATCH /p/a?x=1&y=%20 HTTP/1.1\r\nHost: h.example:81\r\nX-Test: v\r\nX-Multi: 1\r\nx-multi: 2\r\nContent-Length: 0\r\n\r\n`);
        await c.response();
        c.destroy();
      },
    );
    expect(r!.instance, "got req instanceof Request false, wanted true").toBe(true);
    expect(r!.tag).toBe("[object Request]");
    expect(r!.url).toBe("http://h.example:81/p/a?x=1&y=%20");
    expect(r!.method).toBe("PATCH");
    expect(r!.multi, `got X-Multi ${r!.multi}, wanted both values joined`).toBe("1, 2");
    expect(r!.headers).toContainEqual(["x-test", "v"]);
    expect(r!.headers).toContainEqual(["host", "h.example:81"]);
    expect(r!.signal).toBe(true);
    expect(r!.params, "req.params in fetch (Bun.serve: undefined)").toBeUndefined();
  });

  test("new Request(req) copies url, method, headers and body", async () => {
    const [r] = await withServer(
      async (req) => {
        const copy = new Request(req);
        return { url: copy.url, method: copy.method, x: copy.headers.get("x-test"), body: await copy.text() };
      },
      async (s) => {
        await fetch(`${s.url}copy?q=1`, { method: "PUT", body: "payload", headers: { "x-test": "copied" } });
      },
    );
    expect(r).toEqual({ url: `http://127.0.0.1:${new URL(r!.url).port}/copy?q=1`, method: "PUT", x: "copied", body: "payload" });
  });

  test("new Request(url, req) overrides the url and keeps the rest", async () => {
    const [r] = await withServer(
      async (req) => {
        const res = await fetch(new Request(`http://127.0.0.1:${upstream.port}/via-init`, req));
        return (await res.json()) as { method: string; url: string; xTest: string; type: string; body: string };
      },
      async (s) => {
        await fetch(`${s.url}x`, { method: "POST", body: "through", headers: { "x-test": "t1", "content-type": "text/x" } });
      },
    );
    // The copied headers include the original Host, which fetch sends and the upstream builds its
    // url from (the same happens with Bun.serve's own Request): compare the path only.
    expect({ ...r, url: new URL(r!.url).pathname }).toEqual({ method: "POST", url: "/via-init", xTest: "t1", type: "text/x", body: "through" });
  });

  test("fetch(req) sends the lazy request to another local server (GET and POST with a body)", async () => {
    const results = await withServer(
      async (req) => (await fetch(req)).json(),
      async (s) => {
        // Host names the upstream, so req.url points there and fetch(req) goes there.
        for (const raw of [
          `GET /proxied?a=1 HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\nX-Test: g\r\n\r\n`,
          `POST /proxied HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\nX-Test: p\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nbody here`,
        ]) {
          const c = await RawHttp.open(s.port);
          await c.write(raw);
          const r = await c.response();
          expect(r.status, `got ${r.status} ${r.body}, wanted 200`).toBe(200);
          c.destroy();
        }
      },
    );
    expect(results[0]).toEqual({ method: "GET", url: `http://127.0.0.1:${upstream.port}/proxied?a=1`, xTest: "g", type: null, body: "" });
    expect(results[1]).toEqual({ method: "POST", url: `http://127.0.0.1:${upstream.port}/proxied`, xTest: "p", type: "text/plain", body: "body here" });
  });

  test("req.clone(): both the clone and the original read the body", async () => {
    const [r] = await withServer(
      async (req) => {
        const c = req.clone();
        return { clone: await c.text(), original: await req.text(), cloneInstance: c instanceof Request, url: c.url === req.url };
      },
      async (s) => {
        await fetch(s.url, { method: "POST", body: "twice" });
      },
    );
    expect(r).toEqual({ clone: "twice", original: "twice", cloneInstance: true, url: true });
  });

  test("bodyUsed, and a second read rejects", async () => {
    const [r] = await withServer(
      async (req) => {
        const before = req.bodyUsed;
        const first = await req.json();
        const after = req.bodyUsed;
        const second = await req.text().then(() => "read again", (e: Error) => e.name);
        return { before, first, after, second };
      },
      async (s) => {
        await fetch(s.url, { method: "POST", body: JSON.stringify({ k: 1 }) });
      },
    );
    expect(r).toEqual({ before: false, first: { k: 1 }, after: true, second: "TypeError" });
  });

  test("req.body is a ReadableStream on POST and null on GET", async () => {
    const results = await withServer(
      async (req) => ({ isStream: req.body instanceof ReadableStream, isNull: req.body === null }),
      async (s) => {
        await fetch(s.url, { method: "POST", body: "x" });
        await fetch(s.url);
      },
    );
    expect(results).toEqual([{ isStream: true, isNull: false }, { isStream: false, isNull: true }]);
  });
});

describe("bodies read whole", () => {
  // Content-Length bodies up to 16 MiB are received straight into one buffer of that length once the
  // handler reads (body.ts); what arrived before the read is copied in first. Chunked bodies and
  // longer ones go through the list of received pieces.
  const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + (i >> 8)) & 255);

  test("a Content-Length body that arrives before, during and after the read is whole and in order", async () => {
    const body = pattern(300_000);
    let got: Uint8Array | null = null;
    const s = serve({
      port: 0, hostname: "127.0.0.1",
      async fetch(req) {
        await sleep(80); // the first part is buffered before the read starts
        got = await req.bytes();
        return new Response(String(got.length));
      },
    });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
      await c.write(body.subarray(0, 100_000));
      await sleep(150);
      for (let at = 100_000; at < body.length; at += 7_000) {
        await c.write(body.subarray(at, Math.min(body.length, at + 7_000)));
        if (at % 70_000 === 30_000) await sleep(5);
      }
      const [r] = await c.responses(1);
      expect(r!.body.toString()).toBe(String(body.length));
      expect(got).not.toBeNull();
      expect(Buffer.compare(Buffer.from(got!), Buffer.from(body)), "bytes differ from those sent").toBe(0);
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });

  test("text(), arrayBuffer() and json() of the same, and a chunked body and a 17 MiB one, read whole", async () => {
    const big = pattern(17 << 20);
    const seen: string[] = [];
    const s = serve({
      port: 0, hostname: "127.0.0.1", maxRequestBodySize: 64 << 20,
      async fetch(req) {
        const kind = new URL(req.url).pathname;
        if (kind === "/json") seen.push(JSON.stringify(await req.json()));
        else if (kind === "/ab") {
          const ab = await req.arrayBuffer();
          seen.push(`${ab.byteLength}:${Buffer.compare(Buffer.from(ab), Buffer.from(big)) === 0}`);
        } else seen.push(await req.text());
        return new Response("ok");
      },
    });
    try {
      const base = `http://127.0.0.1:${s.port}`;
      await (await fetch(`${base}/json`, { method: "POST", body: JSON.stringify({ a: [1, 2, 3], b: "é" }) })).text();
      await (await fetch(`${base}/text`, { method: "POST", body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("chun")); c.enqueue(new TextEncoder().encode("ked")); c.close(); } }), duplex: "half" } as RequestInit)).text();
      await (await fetch(`${base}/ab`, { method: "POST", body: big })).text();
      expect(seen).toEqual([JSON.stringify({ a: [1, 2, 3], b: "é" }), "chunked", `${big.length}:true`]);
    } finally {
      await s.stop(true);
    }
  });
});

describe("large bodies", () => {
  // With 64 KiB or more of it still to come, a Content-Length body read whole is received by one
  // RECV into its buffer (Connection.recvInto), not a completion and a copy per 8 KiB; such a body
  // (streamed too) is not read ahead of the handler. Progress moves the body-read deadline as pieces would.
  const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 10)) & 255);

  test("a 4 MiB upload: the bytes in order, in a few completions rather than one per 8 KiB", async () => {
    const r = new Reactor({ entries: 256, maxOps: 1024 });
    const body = pattern(4 << 20);
    let got: Uint8Array | null = null;
    let completions = 0;
    const s = serve({
      port: 0, hostname: "127.0.0.1", reactor: r,
      async fetch(req) {
        const before = r.stats.completions;
        got = await req.bytes();
        completions = r.stats.completions - before;
        return new Response(String(got.length));
      },
    });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
      const [res] = await c.responses(1, [], 10_000);
      expect(res!.body.toString()).toBe(String(body.length));
      expect(Buffer.compare(Buffer.from(got!), Buffer.from(body)), "bytes differ from those sent").toBe(0);
      // Through the receive buffers it took at least 512 (one per 8 KiB); the loop's own timer adds
      // one a millisecond to what is counted.
      expect(completions, "completions while the body came").toBeLessThan(256);
      c.destroy();
    } finally {
      await s.stop(true);
      r.close();
    }
  });

  // Streamed, such a body (or a chunked one past its first 64 KiB) comes through the reactor's 64 KiB
  // receive buffers instead of the 8 KiB ones: 8 times fewer completions and copies.
  for (const framing of ["content-length", "chunked"] as const) {
    test(`a 2 MiB ${framing} body read as a stream arrives in pieces larger than 8 KiB; the next request is read as usual`, async () => {
      const r = new Reactor({ entries: 256, maxOps: 1024 });
      const body = pattern(2 << 20);
      const sizes: number[] = [];
      let got: Buffer | null = null;
      const s = serve({
        port: 0, hostname: "127.0.0.1", reactor: r,
        async fetch(req) {
          if (!req.body) return new Response("no body");
          const parts: Uint8Array[] = [];
          for await (const c of req.body) (parts.push(c), sizes.push(c.length));
          got = Buffer.concat(parts);
          return new Response(String(got.length));
        },
      });
      try {
        const c = await RawHttp.open(s.port);
        const wire = framing === "chunked"
          ? Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")])
          : Buffer.concat([Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
        await c.write(wire);
        const [res] = await c.responses(1, [], 10_000);
        expect(res!.body.toString()).toBe(String(body.length));
        expect(Buffer.compare(got!, Buffer.from(body)), "bytes differ from those sent").toBe(0);
        expect(Math.max(...sizes), `piece sizes ${sizes.slice(0, 40).join(",")}`).toBeGreaterThan(8192);
        expect(sizes.length, "pieces").toBeLessThan((2 << 20) / 8192 / 2);
        await c.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); // back on the small buffers, nothing held back
        const both = await c.responses(2, [], 2_000);
        expect(both[1]!.body.toString()).toBe("no body");
        expect(r.buffersOut, "receive buffers all back").toBe(0);
        c.destroy();
      } finally {
        await s.stop(true);
        r.close();
      }
    });
  }

  test("a request pipelined behind a large body (in the same write) is answered, and the body is whole", async () => {
    const body = pattern(200_000);
    const seen: string[] = [];
    const s = serve({
      port: 0, hostname: "127.0.0.1",
      async fetch(req) {
        if (req.method === "POST") {
          const b = await req.bytes();
          seen.push(`${b.length}:${Buffer.compare(Buffer.from(b), Buffer.from(body)) === 0}`);
        } else seen.push(new URL(req.url).pathname);
        return new Response(req.method);
      },
    });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(Buffer.concat([
        Buffer.from(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body,
        Buffer.from("GET /after HTTP/1.1\r\nHost: x\r\n\r\n"),
      ]));
      const rs = await c.responses(2, [], 5000);
      expect(rs.map((x) => x.body.toString()), "responses in request order").toEqual(["POST", "GET"]);
      // Handlers run as their requests arrive: the GET's may finish before the POST's body is in.
      expect(seen.sort()).toEqual(["/after", `${body.length}:true`]);
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });

  // Read whole (bytes()) or streamed (for await over req.body): either way a body that keeps coming
  // is not cut by the body-read deadline, and one that stops is.
  for (const mode of ["bytes()", "for await"] as const) {
    test(`idleTimeout 1 s, ${mode}: a body that keeps coming for 2.4 s is read to its end; one that stops is cut, and the read fails`, async () => {
      const results: string[] = [];
      const s = serve({
        port: 0, hostname: "127.0.0.1", idleTimeout: 1,
        async fetch(req) {
          let n = 0;
          try {
            if (mode === "bytes()") n = (await req.bytes()).length;
            else for await (const c of req.body!) n += c.length;
            results.push(`ok ${n}`);
          } catch {
            results.push(`failed after ${n}`);
          }
          return new Response("done");
        },
      });
      try {
        const body = pattern(400_000);
        const slow = await RawHttp.open(s.port);
        await slow.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
        for (let at = 0; at < body.length; at += 25_000) {
          await slow.write(body.subarray(at, at + 25_000));
          await sleep(150); // 16 pieces: 2.4 s in all, each well inside the 1 s deadline
        }
        const [r1] = await slow.responses(1, [], 3000);
        expect(r1?.status, "the slow but steady body was answered").toBe(200);
        expect(results).toEqual([`ok ${body.length}`]);
        slow.destroy();

        const stuck = await RawHttp.open(s.port);
        await stuck.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
        await stuck.write(body.subarray(0, 100_000));
        const t0 = performance.now();
        expect(await stuck.waitEnd(4000), "the connection of a body that stopped is closed").toBe(true);
        expect(performance.now() - t0, "within the deadline and a sweep or two").toBeLessThan(3000);
        expect(await waitFor(() => results.length === 2, 2000)).toBe(true);
        expect(results[1]).toMatch(/^failed after /);
        expect(s.pendingRequests).toBe(0);
      } finally {
        await s.stop(true);
      }
    }, 15_000);
  }

  test("a client that leaves mid-body: bytes() rejects with ECONNRESET; no op is left behind", async () => {
    const r = new Reactor({ entries: 256, maxOps: 1024 });
    let outcome = "";
    const s = serve({
      port: 0, hostname: "127.0.0.1", reactor: r,
      async fetch(req) {
        try {
          await req.bytes();
          outcome = "resolved";
        } catch (e) {
          outcome = String((e as { code?: string }).code);
        }
        return new Response("x");
      },
    });
    try {
      const idleOps = r.ops.live;
      const c = await RawHttp.open(s.port);
      await c.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n`);
      await c.write(pattern(300_000));
      await sleep(50);
      c.destroy();
      expect(await waitFor(() => outcome !== "", 3000), "the read settled").toBe(true);
      expect(outcome).toBe("ECONNRESET");
      expect(await waitFor(() => r.ops.live === idleOps, 2000), `ops live ${r.ops.live}, before ${idleOps}`).toBe(true);
    } finally {
      await s.stop(true);
      r.close();
    }
  });


  test("a streamed body whose reader cancels: the rest is read and dropped, and the next request is answered", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1",
      async fetch(req) {
        if (req.method === "GET") return new Response("next");
        const reader = req.body!.getReader();
        const first = await reader.read();
        await reader.cancel();
        return new Response(`first ${first.value?.length ?? 0}`);
      },
    });
    try {
      const c = await RawHttp.open(s.port);
      const body = pattern(600_000); // under the 1 MiB read-and-drop bound
      await c.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
      for (let at = 0; at < body.length; at += 100_000) {
        await c.write(body.subarray(at, at + 100_000));
        await sleep(5);
      }
      await c.write("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
      const rs = await c.responses(2, [], 5000);
      expect(rs.length, "both answered").toBe(2);
      expect(rs[0]!.body.toString()).toMatch(/^first \d+$/);
      expect(rs[1]!.body.toString()).toBe("next");
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });

  test("answered without reading a large body: the response comes, and the connection goes on or closes cleanly", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => new Response(new URL(req.url).pathname) });
    try {
      const c = await RawHttp.open(s.port);
      // Under the discard bound (1 MiB): read and dropped, the next request is answered.
      await c.write(Buffer.concat([Buffer.from("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n"), pattern(300_000), Buffer.from("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")]));
      const rs = await c.responses(2, [], 5000);
      expect(rs.map((x) => x.body.toString())).toEqual(["/a", "/b"]);
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });
});

describe("inspection", () => {
  // Before: console.log(req) printed "UringRequest { _head: Uint8Array(...), _ctx: ... }".
  test("console.log / Bun.inspect of a request shows Request with method, url and headers, not internals", async () => {
    const [shown] = await withServer(
      (req) => Bun.inspect(req),
      async (s) => {
        const c = await RawHttp.open(s.port);
        await c.write(`PUT /i?x=1 HTTP/1.1\r\nHost: h.example\r\nX-Test: seen\r\nContent-Length: 0\r\n\r\n`);
        await c.response();
        c.destroy();
      },
    );
    expect(shown!.startsWith("Request {"), `got ${shown!.slice(0, 40)}`).toBe(true);
    expect(shown).toContain(`method: "PUT"`);
    expect(shown).toContain(`url: "http://h.example/i?x=1"`);
    expect(shown).toContain(`"x-test": "seen"`);
    expect(shown).not.toContain("_head");
    expect(shown).not.toContain("UringRequest");
  });
});

describe("laziness", () => {
  test("a Request stays lazy when the handler reads only url, method and one header", async () => {
    const results = await withServer(
      (req) => {
        void req.url;
        void req.method;
        void req.headers.get("x-test");
        return (req as unknown as { _nativeBuilt: boolean })._nativeBuilt;
      },
      async (s) => {
        const c = await RawHttp.open(s.port);
        await c.write(get("/lazy", "X-Test: 1\r\n"));
        await c.response();
        c.destroy();
      },
    );
    expect(results, "got a native Request built for url, method and one header, wanted none").toEqual([false]);
  });

  test("reading the body whole keeps it lazy too; a rare member builds the native Request", async () => {
    const results = await withServer(
      async (req) => {
        await req.text();
        const afterText = (req as unknown as { _nativeBuilt: boolean })._nativeBuilt;
        void req.mode; // rare: answered by a native Request
        return [afterText, (req as unknown as { _nativeBuilt: boolean })._nativeBuilt];
      },
      async (s) => {
        await fetch(s.url, { method: "POST", body: "x" });
      },
    );
    expect(results, "got [after text(), after req.mode]").toEqual([[false, true]]);
  });
});

describe("interop inside handlers", () => {
  test("await fetch() to another local Bun.serve", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1",
      async fetch() {
        const r = await fetch(`http://127.0.0.1:${upstream.port}/inner`, { headers: { "x-test": "inner" } });
        const j = (await r.json()) as { xTest: string };
        return new Response(`upstream said ${j.xTest}`);
      },
    });
    try {
      const texts = await Promise.all(Array.from({ length: 20 }, () => fetch(s.url).then((r) => r.text())));
      expect(new Set(texts), `got ${[...new Set(texts)]}, wanted every answer from the upstream`).toEqual(new Set(["upstream said inner"]));
    } finally {
      await s.stop(true);
    }
  });

  test("setTimeout inside a handler fires on time", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1",
      fetch() {
        const t0 = performance.now();
        return new Promise<Response>((res) => setTimeout(() => res(new Response(String(performance.now() - t0))), 30));
      },
    });
    try {
      const took = Number(await (await fetch(s.url)).text());
      expect(took, `got setTimeout(30) firing after ${took} ms, wanted 30-80`).toBeGreaterThanOrEqual(29);
      expect(took).toBeLessThan(80);
    } finally {
      await s.stop(true);
    }
  });

  test("Bun.file().text() inside a handler", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-uring-req-"));
    const path = join(dir, "data.txt");
    writeFileSync(path, "from the disk ✓");
    const s = serve({
      port: 0, hostname: "127.0.0.1",
      async fetch() {
        return new Response(`read: ${await Bun.file(path).text()}`);
      },
    });
    try {
      expect(await (await fetch(s.url)).text()).toBe("read: from the disk ✓");
    } finally {
      await s.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a handler awaiting sleep, fetch and a file in turn, many at once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bun-uring-req-"));
    const path = join(dir, "n.txt");
    writeFileSync(path, "7");
    const s = serve({
      port: 0, hostname: "127.0.0.1",
      async fetch(req) {
        await sleep(5);
        const up = (await (await fetch(`http://127.0.0.1:${upstream.port}/`)).json()) as { method: string };
        const n = await Bun.file(path).text();
        return new Response(`${new URL(req.url).searchParams.get("i")} ${up.method} ${n}`);
      },
    });
    try {
      const texts = await Promise.all(Array.from({ length: 30 }, (_, i) => fetch(`${s.url}?i=${i}`).then((r) => r.text())));
      for (let i = 0; i < 30; i++) expect(texts[i], `got ${texts[i]}, wanted "${i} GET 7"`).toBe(`${i} GET 7`);
    } finally {
      await s.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("repeated request heads", () => {
  test("each request sees its own url, target and headers when pipelined heads repeat, differ in one byte, or change Host", async () => {
    const seen: string[] = [];
    const s = serve({
      port: 0, hostname: "127.0.0.1",
      fetch(req) {
        seen.push(`${req.url} ${req.headers.get("x-n")}`);
        return new Response(req.url);
      },
    });
    try {
      const heads = [
        ["/ab", "h1.test", "1"], ["/ab", "h1.test", "1"], ["/ac", "h1.test", "1"], ["/ab", "h2.test", "1"],
        ["/ab", "h2.test", "2"], ["/ab", "h2.test", "2"], ["/ab?q", "h2.test", "2"], ["/ab", "h1.test", "1"],
      ];
      const c = await RawHttp.open(s.port);
      await c.write(heads.map(([p, h, n]) => `GET ${p} HTTP/1.1\r\nHost: ${h}\r\nX-N: ${n}\r\n\r\n`).join(""));
      const rs = await c.responses(heads.length);
      const want = heads.map(([p, h, n]) => `http://${h}${p} ${n}`);
      expect(seen, "what the handler saw, in order").toEqual(want);
      expect(rs.map((r) => r.body.toString()), "bodies").toEqual(heads.map(([p, h]) => `http://${h}${p}`));
      c.destroy();
    } finally {
      s.stop(true);
    }
  });
});
