// A real framework switches by one import: the same Hono app under `Bun.serve({ fetch: app.fetch })`
// and `serve({ fetch: app.fetch })`, compared by status, headers (Date aside) and body. Routes with
// params, JSON in and out, middleware headers (cors, etag, a custom timer), cookies, redirects,
// errors through onError, and the 404.
//
// KNOWN_DIFFERENCES (beyond those of compat.test.ts, which apply here too)
// - Hono's c.text() returns `new Response(text)` without a Content-Type; a middleware that sets a
//   header after `await next()` rebuilds the Response from `res.body`. Bun.serve then sends
//   application/octet-stream; we send text/plain;charset=utf-8, the type the body had.
import { describe, expect, test, beforeAll, afterAll } from "bun:test";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { etag } from "hono/etag";
import { setCookie, getCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { bothServers, type Impl, type Snap } from "../support/frameworks.ts";
import { serve } from "../../src/index.ts";

function makeApp(): Hono {
  const app = new Hono();
  app.use("*", async (c, next) => {
    await next();
    c.header("X-Powered-By", "hono-test");
  });
  app.use("/api/*", cors({ origin: "https://example.com", allowMethods: ["GET", "POST"] }));
  app.use("/etag/*", etag());
  app.get("/", (c) => c.text("Hello Hono!"));
  app.get("/html", (c) => c.html("<h1>hi</h1>"));
  app.get("/users/:id", (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null }));
  app.get("/users/:id/posts/:post", (c) => c.json(c.req.param()));
  app.post("/api/echo", async (c) => {
    const body = await c.req.json();
    return c.json({ got: body, type: c.req.header("content-type") }, 201);
  });
  app.post("/api/form", async (c) => {
    const body = await c.req.parseBody();
    return c.json(body);
  });
  app.get("/api/list", (c) => c.json([1, 2, 3]));
  app.get("/etag/thing", (c) => c.text("cacheable thing"));
  app.get("/cookie", (c) => {
    setCookie(c, "session", "abc", { path: "/", httpOnly: true });
    setCookie(c, "theme", "dark");
    return c.text(`had ${getCookie(c, "prior") ?? "none"}`);
  });
  app.get("/redirect", (c) => c.redirect("/users/1"));
  app.get("/teapot", (c) => c.text("I'm a teapot", 418));
  app.get("/throw", () => {
    throw new Error("boom");
  });
  app.get("/forbidden", () => {
    throw new HTTPException(403, { message: "no entry" });
  });
  app.get("/stream", (c) =>
    c.body(
      new ReadableStream({
        async pull(ctl) {
          await Bun.sleep(1);
          ctl.enqueue(new TextEncoder().encode("streamed "));
          ctl.enqueue(new TextEncoder().encode("body"));
          ctl.close();
        },
      }),
    ),
  );
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    return c.json({ error: err.message }, 500);
  });
  return app;
}

describe("a Hono app under Bun.serve and serve()", () => {
  const app = makeApp();
  const pair = bothServers(app.fetch);
  const servers = pair.servers;
  beforeAll(() => pair.start());
  afterAll(() => pair.stop());
  const both = pair.ask;

  const cases: [string, string, () => RequestInit | undefined][] = [
    ["text", "/", () => undefined],
    ["html", "/html", () => undefined],
    ["route param and query", "/users/42?q=x%20y", () => undefined],
    ["percent-encoded param", "/users/a%20b", () => undefined],
    ["two params", "/users/7/posts/99", () => undefined],
    ["JSON in and out with status", "/api/echo", () => ({ method: "POST", body: JSON.stringify({ a: [1, "b"] }), headers: { "content-type": "application/json", origin: "https://example.com" } })],
    ["form body", "/api/form", () => ({ method: "POST", body: new URLSearchParams({ a: "1", b: "two" }) })],
    ["cors preflight", "/api/list", () => ({ method: "OPTIONS", headers: { origin: "https://example.com", "access-control-request-method": "POST" } })],
    ["cors simple", "/api/list", () => ({ headers: { origin: "https://example.com" } })],
    ["etag middleware", "/etag/thing", () => undefined],
    ["cookies in and out", "/cookie", () => ({ headers: { cookie: "prior=yes" } })],
    ["redirect", "/redirect", () => undefined],
    ["custom status", "/teapot", () => undefined],
    ["onError for a throw", "/throw", () => undefined],
    ["HTTPException", "/forbidden", () => undefined],
    ["404", "/no/such/route", () => undefined],
    ["405-ish: POST on a GET route is a 404 in Hono", "/", () => ({ method: "POST", body: "x" })],
    ["HEAD", "/users/1", () => ({ method: "HEAD" })],
  ];
  for (const [name, path, init] of cases) {
    test(name, async () => {
      const r = await both(path, init());
      let { bun, uring } = r;
      const drop = (s: Snap, name: string): Snap => ({ ...s, headers: s.headers.filter(([k]) => k !== name) });
      const type = (s: Snap) => s.headers.find(([k]) => k === "content-type")?.[1];
      if (init()?.method === "HEAD") {
        // KNOWN_DIFFERENCES (compat.test.ts): Bun drops Content-Type from HEAD answers; we keep GET's.
        bun = drop(bun, "content-type");
        uring = drop(uring, "content-type");
      }
      if (type(bun) === "application/octet-stream" && type(uring) === "text/plain;charset=utf-8") {
        // KNOWN_DIFFERENCES: c.text() makes `new Response(text)` (no Content-Type); a middleware
        // header set after next() rebuilds it as `new Response(res.body, res)`. Bun.serve then
        // sends application/octet-stream, we send the text/plain the body had.
        bun = drop(bun, "content-type");
        uring = drop(uring, "content-type");
      }
      if (bun.status === 204) bun = drop(bun, "content-length"); // KNOWN_DIFFERENCES: Bun sends Content-Length: 0 on 204
      const o = JSON.stringify(uring), b = JSON.stringify(bun);
      if (o !== b) throw new Error(`${name}: got ${o}, wanted (as Bun.serve) ${b}`);
    });
  }

  test("set-cookie fields arrive separately", async () => {
    const r = await fetch(`http://127.0.0.1:${servers.uring.port}/cookie`);
    expect(r.headers.getSetCookie()).toEqual(["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]);
  });

  test("etag: a matching If-None-Match gets 304 on both", async () => {
    for (const i of ["bun", "uring"] as Impl[]) {
      const first = await fetch(`http://127.0.0.1:${servers[i].port}/etag/thing`);
      const tag = first.headers.get("etag");
      expect(tag, `${i}: got no ETag from hono/etag, wanted one`).not.toBeNull();
      const second = await fetch(`http://127.0.0.1:${servers[i].port}/etag/thing`, { headers: { "if-none-match": tag! } });
      expect(second.status, `${i}: got ${second.status}, wanted 304`).toBe(304);
      expect(await second.text()).toBe("");
    }
  });

  test("a streamed Hono body arrives whole on both", async () => {
    for (const i of ["bun", "uring"] as Impl[]) {
      const r = await fetch(`http://127.0.0.1:${servers[i].port}/stream`);
      expect(await r.text(), `${i}: got a different streamed body`).toBe("streamed body");
    }
  });
});

// Hono's proxy() rebuilds the upstream's Response without its hop-by-hop fields: no URL and no
// Transfer-Encoding left, and the size report counts the bytes its body has buffered.
test("Hono's proxy() of an endless upstream streams through serve(), not collected whole", async () => {
  const { proxy } = await import("hono/proxy");
  let produced = 0;
  const upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) =>
      new Response(
        new ReadableStream({
          async pull(c) {
            await Bun.sleep(20);
            c.enqueue(new TextEncoder().encode(`tick ${produced++}\n`));
          },
        }),
        { headers: { "content-type": "application/octet-stream" } },
      ),
  });
  const app = new Hono();
  app.get("/p", (c) => proxy(upstream.url, { raw: c.req.raw }));
  const impl = serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  try {
    const ac = new AbortController();
    const res = await fetch(`${impl.url}p`, { signal: ac.signal });
    const reader = res.body!.getReader();
    let text = "";
    const deadline = Date.now() + 2000;
    while (!text.includes("tick 1\n") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ac.abort();
    expect(text, "the first ticks of an endless upstream, through Hono's proxy()").toContain("tick 1\n");
  } finally {
    await impl.stop(true);
    upstream.stop(true);
  }
});
