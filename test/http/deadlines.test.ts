// serve()'s deadlines, each on its own: the header deadline (a client dribbling its head is cut
// however slowly bytes keep coming), keep-alive idle (idleTimeout; 0 disables), the body-read
// deadline, the send deadline for a client that stops reading (sendTimeout), and
// server.timeout(req, s). Deadlines are checked when the earliest is due, at most 100 ms late, so
// each is allowed that much slack; an idle server is not woken before one is due.
import { describe, expect, test } from "bun:test";
import { serve } from "../../src/index.ts";
import { defaultReactor } from "../../src/loop/default.ts";
import { RawHttp, get, sleep, waitFor } from "../support/http.ts";

/** How long until the server ends `c`, in ms (Infinity if not within `ms`). */
async function timeToEnd(c: RawHttp, ms: number): Promise<number> {
  const t0 = performance.now();
  const ok = await waitFor(() => c.ended || c.closed, ms, 10);
  return ok ? performance.now() - t0 : Infinity;
}

describe("header deadline", () => {
  test("a client dribbling its head a byte every 100 ms is cut at headerTimeout", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", headerTimeout: 1, idleTimeout: 1, fetch: () => new Response("ok") });
    try {
      const c = await RawHttp.open(s.port);
      const t0 = performance.now();
      let sent = 0;
      const head = `GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ${"s".repeat(100)}\r\n\r\n`;
      while (!c.ended && !c.closed && performance.now() - t0 < 4000 && sent < head.length - 2) {
        await c.write(head[sent++]!);
        await sleep(100);
      }
      await c.waitEnd(1000);
      const took = performance.now() - t0;
      expect(c.ended || c.closed, `got the connection open after ${took | 0} ms of dribbling, wanted it cut at ~1000`).toBe(true);
      expect(took, `got cut after ${took | 0} ms, wanted about 1000`).toBeGreaterThan(900);
      expect(took, `got cut after ${took | 0} ms, wanted about 1000`).toBeLessThan(1800);
      expect(c.text().startsWith("HTTP/1.1 408 "), `got ${JSON.stringify(c.text().slice(0, 40))}, wanted a 408`).toBe(true);
      expect(s.stats().timeouts, "got no timeout counted, wanted 1").toBeGreaterThanOrEqual(1);
    } finally {
      await s.stop(true);
    }
  });

  test("the header deadline of a later request on a kept-alive connection starts with its first byte", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", headerTimeout: 1, idleTimeout: 3, fetch: () => new Response("ok") });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(get("/"));
      await c.response();
      await sleep(500); // idle, inside idleTimeout
      await c.write("GET / HTTP/1.1\r\n"); // starts a head, never finishes it
      const took = await timeToEnd(c, 3000);
      expect(took, `got cut ${took | 0} ms after the head began, wanted about 1000 (headerTimeout)`).toBeGreaterThan(800);
      expect(took).toBeLessThan(1600);
    } finally {
      await s.stop(true);
    }
  });
});

describe("keep-alive idle", () => {
  test("idleTimeout 1 closes a connection idle after its response", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 1, fetch: () => new Response("ok") });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(get("/"));
      const r = await c.response();
      expect(r.status).toBe(200);
      const took = await timeToEnd(c, 3000);
      expect(took, `got the idle connection closed after ${took | 0} ms, wanted about 1000`).toBeGreaterThan(800);
      expect(took).toBeLessThan(1600);
      await waitFor(() => s.stats().connections === 0, 1000);
      expect(s.stats().connections, "got a connection left on the server, wanted 0").toBe(0);
    } finally {
      await s.stop(true);
    }
  });

  test("idleTimeout 1 closes a connection that never sends a byte", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 1, fetch: () => new Response("ok") });
    try {
      const c = await RawHttp.open(s.port);
      const took = await timeToEnd(c, 3000);
      expect(took, `got the silent connection closed after ${took | 0} ms, wanted about 1000`).toBeGreaterThan(800);
      expect(took).toBeLessThan(1600);
    } finally {
      await s.stop(true);
    }
  });

  test("idleTimeout 0 disables the idle deadline", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 0, fetch: () => new Response("ok") });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(get("/"));
      await c.response();
      await sleep(1500);
      expect(c.ended || c.closed, "got the connection closed with idleTimeout 0, wanted it open").toBe(false);
      await c.write(get("/again"));
      const rs = await c.responses(2);
      expect(rs.length, `got ${rs.length} responses, wanted 2`).toBe(2);
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });
});

describe("body-read deadline", () => {
  test("a client that stops mid-body is cut after idleTimeout, and the handler's read fails", async () => {
    let readError: Error | null = null;
    const s = serve({
      port: 0, hostname: "127.0.0.1", idleTimeout: 1,
      fetch: async (req) => {
        try {
          await req.text();
        } catch (e) {
          readError = e as Error;
          return new Response("read failed");
        }
        return new Response("read it all");
      },
    });
    try {
      const c = await RawHttp.open(s.port);
      await c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
      const t0 = performance.now();
      // Keep sending a little for a while: each chunk pushes the deadline (it is per chunk, not per body).
      for (let i = 0; i < 3; i++) {
        await sleep(400);
        await c.write("x");
      }
      const stillOpen = !(c.ended || c.closed);
      expect(stillOpen, "got the connection cut while the body was still trickling within the deadline, wanted it open").toBe(true);
      const took = await timeToEnd(c, 3000);
      expect(took, `got the stalled body cut after ${took | 0} ms of silence, wanted about 1000`).toBeGreaterThan(800);
      expect(took).toBeLessThan(1600);
      await waitFor(() => readError !== null, 500);
      expect(readError, "got no error from req.text(), wanted it to reject when the connection was cut").not.toBeNull();
      void t0;
    } finally {
      await s.stop(true);
    }
  });
});

describe("send deadline", () => {
  test("a client that stops reading a large response is cut after sendTimeout", async () => {
    const big = new Uint8Array(64 * 1024 * 1024).fill(120);
    const s = serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 0, sendTimeout: 1, fetch: () => new Response(big) });
    try {
      const c = await RawHttp.open(s.port);
      c.sock.pause(); // read nothing: the socket buffers fill, the SEND cannot complete
      await c.write(get("/"));
      await waitFor(() => s.stats().connections === 1, 1000);
      const t0 = performance.now();
      // The deadline is per SEND, like nginx's send_timeout (between two successive writes): a SEND
      // cut by its LINK_TIMEOUT after partial progress (the socket buffers still grew) earns
      // another; only a SEND that moves nothing for sendTimeout ends the connection. Measured here:
      // 3.9 MB at 1 s, 0.3 MB more at 2 s, cut at 3 s. So: well under the 30 s default, over 1 s.
      const cut = await waitFor(() => s.stats().connections === 0, 6000, 10);
      const took = performance.now() - t0;
      expect(cut, `got the connection still open after ${took | 0} ms, wanted it cut within a few sendTimeouts of 1 s`).toBe(true);
      expect(took, `got cut after ${took | 0} ms, wanted over 1000 (sendTimeout 1)`).toBeGreaterThan(900);
      expect(took, `got cut after ${took | 0} ms, wanted a few seconds at most`).toBeLessThan(5000);
      expect(s.stats().sendChunksInUse, "got send chunks still in use, wanted 0").toBe(0);
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });

  test("a client that stops reading pipelined small responses is cut after sendTimeout, with idleTimeout 0", async () => {
    // Each SEND is small (no LINK_TIMEOUT rides with it): the listener's sweep must cut the one
    // left pending, or the connection would be held for ever.
    const body = "y".repeat(4096);
    const s = serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 0, sendTimeout: 1, fetch: () => new Response(body) });
    try {
      const c = await RawHttp.open(s.port);
      c.sock.pause();
      await c.write(get("/").repeat(4000));
      await waitFor(() => s.stats().connections === 1, 1000);
      const t0 = performance.now();
      const cut = await waitFor(() => s.stats().connections === 0, 4000, 10);
      const took = performance.now() - t0;
      expect(cut, `got the connection still open after ${took | 0} ms, wanted it cut after about sendTimeout (1 s)`).toBe(true);
      expect(s.stats().sendChunksInUse, "got send chunks still in use, wanted 0").toBe(0);
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });

  test("a slow but steady reader of a large response is not cut", async () => {
    const big = new Uint8Array(8 * 1024 * 1024).fill(121);
    const s = serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 0, sendTimeout: 1, fetch: () => new Response(big) });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(get("/"));
      const r = await c.response(false, 5000);
      expect(r.body.length, `got ${r.body.length} bytes, wanted ${big.length}`).toBe(big.length);
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });
});

describe("server.timeout(req, seconds)", () => {
  test("server.timeout(req, 1) cuts a request whose handler never answers", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1", idleTimeout: 10,
      fetch(req, server) {
        server.timeout(req, 1);
        return new Promise<Response>(() => {}); // never settles
      },
    });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(get("/"));
      const took = await timeToEnd(c, 3000);
      expect(took, `got the connection cut after ${took | 0} ms, wanted about 1000 (server.timeout 1)`).toBeGreaterThan(800);
      expect(took).toBeLessThan(1600);
      await waitFor(() => s.pendingRequests === 0, 500);
      expect(s.pendingRequests, "got pendingRequests left, wanted 0").toBe(0);
    } finally {
      await s.stop(true);
    }
  });

  test("server.timeout(req, 0) lets a handler outlive idleTimeout", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1", idleTimeout: 1,
      async fetch(req, server) {
        server.timeout(req, 0);
        await sleep(1500);
        return new Response("late but fine");
      },
    });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(get("/"));
      const r = await c.response(false, 4000);
      expect(r.body.toString(), `got ${JSON.stringify(c.text().slice(0, 60))}, wanted the late response`).toBe("late but fine");
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });

  test("without server.timeout, a handler slower than idleTimeout is cut", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1", idleTimeout: 1,
      async fetch() {
        await sleep(2000);
        return new Response("too late");
      },
    });
    try {
      const c = await RawHttp.open(s.port);
      await c.write(get("/"));
      const took = await timeToEnd(c, 3000);
      expect(took, `got the slow request cut after ${took | 0} ms, wanted about 1000`).toBeLessThan(1600);
      expect(c.text().includes("too late"), "got the late response, wanted the connection cut first").toBe(false);
      await sleep(1100); // let the handler finish on a closed connection: nothing must throw
    } finally {
      await s.stop(true);
    }
  });
});

describe("sweeps", () => {
  test("idle keep-alive connections do not wake the server until a deadline is due", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 2, fetch: () => new Response("ok") });
    const clients: RawHttp[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const c = await RawHttp.open(s.port);
        await c.write(get("/"));
        clients.push(c);
      }
      expect(await waitFor(() => clients.every((c) => c.text().includes("\r\n\r\nok")), 2000), "20 responses").toBe(true);
      const r = defaultReactor();
      expect(await waitFor(() => r.driver.parked, 1000), "the loop parked").toBe(true);
      const wakes = r.stats.wakes;
      await sleep(1000); // 1 s of the 2 s idle timeout: nothing is due
      expect(r.stats.wakes - wakes, "wakes of the parked loop over 1 s with 20 idle connections (sweeping every 100 ms: ~10)").toBeLessThanOrEqual(1);
      expect(clients.every((c) => !c.ended && !c.closed), "connections still open").toBe(true);
      // ... and the idle deadline still fires when it comes.
      expect(await waitFor(() => clients.every((c) => c.ended || c.closed), 2000, 20), "all closed at the 2 s idle timeout").toBe(true);
    } finally {
      for (const c of clients) c.destroy();
      await s.stop(true);
    }
  });
});
