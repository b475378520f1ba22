// Failure stays local: a handler that throws, rejects or returns something other than a Response
// gets error() or a 500 (with the stack only in development) and the server goes on; 1000 clients
// that vanish at random stages (mid-head, mid-body, while the handler awaits, mid-response) leave
// nothing behind: connections, pending requests, ops, receive buffers, send chunks and open fds
// all back to their values before.
import { describe, expect, test } from "bun:test";
import { serve, type Server } from "../../src/index.ts";
import { Reactor } from "../../src/loop/reactor.ts";
import { RawHttp, get, openFds, sleep, waitFor } from "../support/http.ts";

/** Silence the server's console.error for the duration of `f` (the errors are the subject). */
async function quiet<T>(f: () => Promise<T>): Promise<{ value: T; logged: unknown[][] }> {
  const orig = console.error;
  const logged: unknown[][] = [];
  console.error = (...a: unknown[]) => void logged.push(a);
  try {
    return { value: await f(), logged };
  } finally {
    console.error = orig;
  }
}

async function fetchText(url: string): Promise<{ status: number; text: string; type: string | null }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text(), type: r.headers.get("content-type") };
}

class Boom extends Error {
  override name = "Boom";
}

function failingApp(req: Request): Response | Promise<Response> {
  const p = new URL(req.url).pathname;
  switch (p) {
    case "/throw":
      throw new Boom("thrown in the handler");
    case "/reject":
      return Promise.reject(new Boom("rejected in the handler"));
    case "/reject-later":
      return sleep(5).then(() => {
        throw new Boom("rejected later");
      });
    case "/undefined":
      return undefined as unknown as Response;
    case "/string":
      return "not a response" as unknown as Response;
    case "/number":
      return Promise.resolve(42 as unknown as Response);
    default:
      return new Response("fine");
  }
}

const FAILING = ["/throw", "/reject", "/reject-later", "/undefined", "/string", "/number"];

describe("handler failures", () => {
  test("without error(): a 500 without the stack when development is false, and the server goes on", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", development: false, fetch: failingApp });
    try {
      const { logged } = await quiet(async () => {
        for (const p of FAILING) {
          const r = await fetchText(`${s.url}${p.slice(1)}`);
          expect(r.status, `${p}: got ${r.status}, wanted 500`).toBe(500);
          expect(r.text.includes("at "), `${p}: got a stack in production: ${JSON.stringify(r.text)}, wanted none`).toBe(false);
          expect(r.text.includes("Boom"), `${p}: got the error's text in production, wanted none`).toBe(false);
        }
        const ok = await fetchText(`${s.url}ok`);
        expect(ok.text, `got ${ok.text} after the failures, wanted the server to go on`).toBe("fine");
      });
      expect(logged.length, `got ${logged.length} errors logged, wanted one per failure (${FAILING.length})`).toBe(FAILING.length);
    } finally {
      await s.stop(true);
    }
  });

  test("without error(): development: true puts the stack in the 500", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", development: true, fetch: failingApp });
    try {
      await quiet(async () => {
        for (const p of ["/throw", "/reject", "/reject-later"]) {
          const r = await fetchText(`${s.url}${p.slice(1)}`);
          expect(r.status).toBe(500);
          expect(r.text.includes("Boom"), `${p}: got ${JSON.stringify(r.text.slice(0, 80))}, wanted the error named`).toBe(true);
          expect(/\n\s+at /.test(r.text), `${p}: got no stack in development, wanted one`).toBe(true);
        }
      });
    } finally {
      await s.stop(true);
    }
  });

  test("error() answers for a throw, a rejection and a non-Response", async () => {
    const seen: string[] = [];
    const s = serve({
      port: 0, hostname: "127.0.0.1", development: false, fetch: failingApp,
      error(err) {
        seen.push(err.name);
        return new Response(`handled: ${err.message}`, { status: 503, headers: { "x-error": "1" } });
      },
    });
    try {
      for (const p of FAILING) {
        const r = await fetch(`${s.url}${p.slice(1)}`);
        expect(r.status, `${p}: got ${r.status}, wanted error()'s 503`).toBe(503);
        expect(r.headers.get("x-error")).toBe("1");
        expect((await r.text()).startsWith("handled: ")).toBe(true);
      }
      expect(seen.slice(0, 3), `got error() called with ${seen}, wanted the Boom errors first`).toEqual(["Boom", "Boom", "Boom"]);
      expect(seen.length).toBe(FAILING.length);
    } finally {
      await s.stop(true);
    }
  });

  test("an async error() works; an error() that throws or returns nothing gives a 500", async () => {
    for (const [name, error, want] of [
      ["async", async () => new Response("async handled", { status: 502 }), 502],
      ["throws", () => { throw new Error("error() failed too"); }, 500],
      ["rejects", () => Promise.reject(new Error("error() rejected")), 500],
      ["returns undefined", () => undefined, 500],
    ] as const) {
      const s = serve({ port: 0, hostname: "127.0.0.1", development: false, fetch: failingApp, error: error as any });
      try {
        const { value: r } = await quiet(() => fetchText(`${s.url}throw`));
        expect(r.status, `error() ${name}: got ${r.status}, wanted ${want}`).toBe(want);
        const ok = await fetchText(`${s.url}ok`);
        expect(ok.text).toBe("fine");
      } finally {
        await s.stop(true);
      }
    }
  });

  test("a Response whose body was already used gives a 500, not a dropped connection", async () => {
    const shared = new Response("shared");
    const s = serve({ port: 0, hostname: "127.0.0.1", development: false, fetch: async () => shared });
    try {
      const first = await fetchText(s.url.href);
      expect(first.text).toBe("shared");
      const { value: second } = await quiet(() => fetchText(s.url.href));
      expect(second.status, `got ${second.status} for a used body, wanted 500`).toBe(500);
    } finally {
      await s.stop(true);
    }
  });

  // Before: "HTTP/1.1 0 Unknown", which is no HTTP response (status-code is 3DIGIT, RFC 9112 §4).
  test("Response.error() (a network error, status 0) gives a 500 and the server goes on", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1", development: false,
      fetch: (req) => (new URL(req.url).pathname === "/error" ? Response.error() : new Response("fine")),
    });
    try {
      const c = await RawHttp.open(s.port);
      const { logged } = await quiet(async () => {
        await c.write(get("/error"));
        await c.waitEnd();
      });
      expect(c.buf.toString("latin1").startsWith("HTTP/1.1 500 "), `got ${JSON.stringify(c.buf.toString("latin1").slice(0, 40))}`).toBe(true);
      expect(String(logged[0]?.[0] ?? "")).toContain("Response.error()");
      const after = await fetchText(s.url.href);
      expect(after.text).toBe("fine");
    } finally {
      await s.stop(true);
    }
  });

  // Headers refuses CR, LF and NUL in a value but lets other controls through; Bun.serve sends them.
  test("a control character in a response header value gives a 500 and an error with code ERR_INVALID_CHAR; HTAB is kept", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1", development: false,
      fetch: (req) => {
        const p = new URL(req.url).pathname;
        return new Response("body", { headers: { "x-v": p === "/ctl" ? "a\x01b" : p === "/del" ? "a\x7fb" : "a\tb" } });
      },
    });
    try {
      const { value: answers, logged } = await quiet(async () => {
        const out = [];
        for (const path of ["ctl", "del"]) out.push(await fetchText(`${s.url.href}${path}`));
        return out;
      });
      for (const a of answers) expect(a).toEqual({ status: 500, text: "Internal Server Error\n", type: "text/plain;charset=utf-8" });
      expect(logged.map((l) => (l[0] as { code?: string }).code)).toEqual(["ERR_INVALID_CHAR", "ERR_INVALID_CHAR"]);
      expect(String(logged[0]![0])).toContain('"x-v"');
      const ok = await fetch(`${s.url.href}tab`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get("x-v")).toBe("a\tb");
    } finally {
      await s.stop(true);
    }
    // A static route's headers are checked once, when the server starts.
    let thrown: unknown;
    try {
      serve({ port: 0, hostname: "127.0.0.1", routes: { "/s": new Response("x", { headers: { "x-v": "a\x02" } }) }, fetch: () => new Response("f") });
    } catch (e) {
      thrown = e;
    }
    expect((thrown as { code?: string } | undefined)?.code).toBe("ERR_INVALID_CHAR");
  });

  test("a response stream that fails before producing anything gives a 500 and a close", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1", development: false,
      fetch: () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.error(new Boom("stream broke at once"));
            },
          }),
        ),
    });
    try {
      const c = await RawHttp.open(s.port);
      await quiet(async () => {
        await c.write(get("/"));
        const r = await c.response();
        expect(r.status, `got ${r.status}, wanted 500`).toBe(500);
        expect(await c.waitEnd(), "got the connection open after a failed body, wanted it closed").toBe(true);
      });
      const ok = await fetchText(s.url.href).catch(() => null);
      expect(ok?.status, "got the server down after a failed stream, wanted it going on").toBe(500);
    } finally {
      await s.stop(true);
    }
  });

  test("a response stream that fails midway cuts the connection: the body never looks complete", async () => {
    const s = serve({
      port: 0, hostname: "127.0.0.1", development: false,
      fetch: () =>
        new Response(
          new ReadableStream({
            async pull(c) {
              await sleep(2);
              c.enqueue(new TextEncoder().encode("partial"));
              await sleep(20);
              c.error(new Boom("stream broke"));
            },
          }),
        ),
    });
    try {
      const c = await RawHttp.open(s.port);
      await quiet(async () => {
        await c.write(get("/"));
        expect(await c.waitEnd(), "got the connection open after a failed body, wanted it closed").toBe(true);
      });
      const text = c.text();
      // The head went out before the failure (the body is streamed): chunked, the chunk that was
      // produced, and no last chunk (RFC 9112 §7.1), so no client takes the body as whole.
      expect(text, "got no streamed head").toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*transfer-encoding: chunked\r\n/i);
      expect(text.endsWith("7\r\npartial\r\n"), `got ${JSON.stringify(text.slice(-40))}, wanted the body to stop after the chunk produced`).toBe(true);
      const again = await fetchText(s.url.href).catch((e) => e as Error);
      expect(again instanceof Error, "got a complete response from a stream that failed midway").toBe(true);
      const probe = await RawHttp.open(s.port);
      expect(probe.error, "got the server down after a failed stream, wanted it going on").toBeNull();
      probe.destroy();
    } finally {
      await s.stop(true);
    }
  });

  test("a failure inside a pipeline answers only its own request", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", development: false, fetch: failingApp });
    try {
      const c = await RawHttp.open(s.port);
      await quiet(async () => {
        await c.write(get("/a") + get("/reject-later") + get("/b"));
        const rs = await c.responses(3);
        const statuses = rs.map((r) => r.status);
        // In order, the first request unharmed, and the connection kept after the 500 (as Bun.serve
        // keeps it): a handler's failure is not the client's.
        expect(statuses, `got ${statuses}, wanted 200, 500, 200`).toEqual([200, 500, 200]);
        expect(rs[1]!.get("connection"), "got Connection: close on the 500, wanted the connection kept").toBeNull();
        expect(rs[2]!.body.toString()).toBe("fine");
      });
      c.destroy();
    } finally {
      await s.stop(true);
    }
  });
});

describe("a handler stopped by req.signal when its client leaves", () => {
  // As a proxy does: fetch(upstream, { signal: req.signal }) rejects with the signal's reason. That
  // is the request's expected end, not a failure to log or hand to error(); another error is.
  for (const how of ["half-closes (FIN)", "resets"] as const) {
    test(`the client ${how}: nothing logged, error() not called, nothing left behind; a different error still is`, async () => {
      let errorCalls = 0;
      const s = serve({
        port: 0,
        hostname: "127.0.0.1",
        fetch(req) {
          return new Promise<Response>((_, reject) => {
            req.signal.addEventListener("abort", () => {
              if (new URL(req.url).pathname === "/other") reject(new Boom("failed after the client left"));
              else reject(req.signal.reason);
            });
          });
        },
        error() {
          errorCalls++;
          return new Response("from error()", { status: 500 });
        },
      });
      try {
        const { logged } = await quiet(async () => {
          for (const path of ["/proxy", "/other"]) {
            const c = await RawHttp.open(s.port);
            await c.write(get(path));
            await waitFor(() => s.pendingRequests === 1, 1000);
            if (how === "resets") c.destroy();
            else c.sock.end();
            await waitFor(() => s.pendingRequests === 0, 1000);
            c.destroy();
          }
          await sleep(20);
        });
        expect(logged.length, `logged: ${JSON.stringify(logged.map((a) => String(a[0])))}`).toBe(0);
        expect(errorCalls, "error() calls: only for the other error").toBe(1);
        expect(s.pendingRequests).toBe(0);
      } finally {
        await s.stop(true);
      }
    });
  }
});

describe("clients vanishing at random stages", () => {
  test("1000 clients disconnecting mid-head, mid-body, while the handler awaits, mid-response free everything", async () => {
    const reactor = new Reactor({ entries: 1024, maxOps: 8192 });
    const big = new Uint8Array(512 * 1024).fill(98);
    let aborted = 0;
    let handled = 0;
    const s: Server = serve({
      port: 0, hostname: "127.0.0.1", reactor, development: false, idleTimeout: 5,
      async fetch(req) {
        handled++;
        const p = new URL(req.url).pathname;
        if (p === "/wait") {
          req.signal.addEventListener("abort", () => aborted++);
          await sleep(30);
          return new Response("waited");
        }
        if (p === "/body") {
          try {
            return new Response(`read ${(await req.text()).length}`);
          } catch {
            return new Response("body failed");
          }
        }
        if (p === "/stream-body") {
          try {
            let n = 0;
            for await (const c of req.body!) n += c.length;
            return new Response(`streamed ${n}`);
          } catch {
            return new Response("stream failed");
          }
        }
        if (p === "/big") return new Response(big);
        return new Response("ok");
      },
    });
    const settle = async () => {
      await waitFor(() => s.stats().connections === 0 && s.pendingRequests === 0, 5000);
      await sleep(250); // the sweep timer stops one period after the last connection
    };
    try {
      // Warm up: Date timer, buffer ring, chunk pool, sweep timer all exist before the baseline.
      const w = await RawHttp.open(s.port);
      await w.write(get("/big") + get("/", "Connection: close\r\n"));
      await w.waitEnd(3000);
      w.destroy();
      await settle();
      const before = { ...s.stats(), fds: openFds() };

      const stages = ["connect-only", "mid-head", "mid-body", "mid-chunked", "stream-body", "handler-awaits", "mid-response", "after-response", "reset-mid-body"] as const;
      let seed = 12345;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const counts: Record<string, number> = {};
      const client = async (stage: (typeof stages)[number]) => {
        counts[stage] = (counts[stage] ?? 0) + 1;
        const c = new RawHttp(s.port);
        try {
          await c.connected;
        } catch {
          return;
        }
        switch (stage) {
          case "connect-only":
            break;
          case "mid-head":
            await c.write("GET /x HTTP/1.1\r\nHost: a\r\nX-Partial: ");
            break;
          case "mid-body":
            await c.write("POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + "z".repeat(rand(20000)));
            break;
          case "mid-chunked":
            await c.write("POST /body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n8");
            break;
          case "stream-body":
            await c.write("POST /stream-body HTTP/1.1\r\nHost: a\r\nContent-Length: 50000\r\n\r\n" + "s".repeat(rand(30000)));
            break;
          case "handler-awaits":
            await c.write(get("/wait"));
            await sleep(rand(10));
            break;
          case "mid-response":
            await c.write(get("/big"));
            await waitFor(() => c.buf.length > 0, 1000, 1);
            break;
          case "after-response":
            await c.write(get("/"));
            await waitFor(() => c.buf.includes("ok"), 1000, 1);
            break;
          case "reset-mid-body":
            await c.write("POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nabc");
            c.sock.resetAndDestroy?.();
            return;
        }
        if (rand(2)) c.sock.resetAndDestroy?.() ?? c.destroy();
        else c.destroy();
      };
      const N = 1000, PARALLEL = 100;
      for (let i = 0; i < N; i += PARALLEL) {
        const batch: Promise<void>[] = [];
        for (let k = 0; k < PARALLEL; k++) batch.push(client(stages[rand(stages.length)]!));
        await Promise.all(batch);
      }
      await settle();
      const ok = await waitFor(() => {
        const st = s.stats();
        return st.opsInFlight === before.opsInFlight && st.buffersOut === before.buffersOut && st.sendChunksInUse === before.sendChunksInUse && openFds() === before.fds;
      }, 3000, 20);
      const after = { ...s.stats(), fds: openFds() };
      const show = (k: keyof typeof after) => `${k}: got ${after[k]}, wanted ${before[k]}`;
      expect(after.connections, show("connections")).toBe(0);
      expect(after.pendingRequests, show("pendingRequests")).toBe(0);
      expect(after.opsInFlight, show("opsInFlight")).toBe(before.opsInFlight);
      expect(after.buffersOut, show("buffersOut")).toBe(before.buffersOut);
      expect(after.sendChunksInUse, show("sendChunksInUse")).toBe(before.sendChunksInUse);
      expect(after.fds, show("fds")).toBe(before.fds);
      expect(ok).toBe(true);
      expect(handled, "got no handler calls, wanted the clients to have reached the handlers").toBeGreaterThan(100);
      if ((counts["handler-awaits"] ?? 0) > 0) expect(aborted, "got no req.signal aborts, wanted some for clients gone while the handler awaited").toBeGreaterThan(0);
      // And the server still serves.
      const r = await fetch(`http://127.0.0.1:${s.port}/`);
      expect(await r.text()).toBe("ok");
    } finally {
      await s.stop(true);
      reactor.close();
    }
  }, 60_000);
});
