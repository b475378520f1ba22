// Routes match the path a handler would see in new URL(req.url).pathname: dot segments resolved.
// A raw-target mismatch would let "/b/../a" skip a route's checks. (A "#" or "\\" in a target is a 400.)
import { test, expect, afterAll } from "bun:test";
import net from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "../../src/index.ts";

const server = serve({
  port: 0,
  hostname: "127.0.0.1",
  routes: { "/a": () => new Response("route a"), "/b/*": () => new Response("route b") },
  fetch: (req) => new Response(`fetch ${new URL(req.url).pathname}`),
});
afterAll(() => server.stop(true));

function get(target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(server.port, "127.0.0.1", () => c.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let d = "";
    c.on("data", (x) => (d += x.toString("latin1")));
    c.on("close", () => resolve(d.slice(d.indexOf("\r\n\r\n") + 4)));
    c.on("error", reject);
  });
}

for (const [target, wanted] of [
  ["/a", "route a"],
  ["/b/../a", "route a"],
  ["/b/./c", "route b"],
  ["/x/..%2fa", "fetch /x/..%2fa"], // an encoded slash is not a separator
] as const) {
  test(`GET ${target} -> ${wanted}`, async () => {
    const got = await get(target);
    expect(got, `GET ${target}: got ${JSON.stringify(got)}, wanted ${JSON.stringify(wanted)}`).toBe(wanted);
  });
}

test("a static 205 route sends Content-Length: 0 and none of its body (RFC 9110 §15.3.6)", async () => {
  const s = serve({ port: 0, hostname: "127.0.0.1", routes: { "/r": new Response("dropped", { status: 205, headers: { "x-r": "1" } }) }, fetch: () => new Response("fetch") });
  try {
    const text = await new Promise<string>((resolve, reject) => {
      const c = net.connect(s.port, "127.0.0.1", () => c.write("GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      let d = "";
      c.on("data", (x) => (d += x.toString("latin1")));
      c.on("close", () => resolve(d));
      c.on("error", reject);
    });
    expect(text.startsWith("HTTP/1.1 205 "), JSON.stringify(text)).toBe(true);
    expect(text, "got no x-r: 1").toContain("\r\nx-r: 1\r\n");
    expect(text.endsWith("\r\nContent-Length: 0\r\n\r\n"), `got ${JSON.stringify(text)}, wanted Content-Length: 0 and no body`).toBe(true);
  } finally {
    await s.stop(true);
  }
});

test("a static Response route on one keep-alive connection: same bytes each time, a Date that follows the clock, 304 and HEAD", async () => {
  const s = serve({ port: 0, hostname: "127.0.0.1", routes: { "/s": new Response("static body", { headers: { "x-kind": "static" } }) }, fetch: () => new Response("fetch") });
  try {
    const c = net.connect(s.port, "127.0.0.1");
    await new Promise<void>((r) => c.once("connect", () => r()));
    let buf = "";
    c.on("data", (x) => (buf += x.toString("latin1")));
    const ask = async (extra = "", method = "GET"): Promise<string> => {
      buf = "";
      c.write(`${method} /s HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
      for (let i = 0; i < 200; i++) {
        const end = buf.indexOf("\r\n\r\n");
        if (end >= 0 && (method === "HEAD" || buf.length >= end + 4 + Number(/content-length: (\d+)/i.exec(buf)?.[1] ?? 0))) break;
        await Bun.sleep(5);
      }
      return buf;
    };
    const first = await ask();
    const date1 = /\r\nDate: ([^\r]+)\r\n/.exec(first)?.[1];
    expect(first, "status, own header and body").toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*x-kind: static\r\n[^]*\r\n\r\nstatic body$/);
    expect(Date.parse(date1 ?? ""), `got Date ${date1}`).toBeGreaterThan(Date.now() - 5000);
    const second = await ask(); // the same but for Date, which may have turned over meanwhile
    expect(second.replace(/\r\nDate: [^\r]+\r\n/, `\r\nDate: ${date1}\r\n`), "the second answer").toBe(first);
    await Bun.sleep(1100);
    const later = await ask();
    const date2 = /\r\nDate: ([^\r]+)\r\n/.exec(later)?.[1];
    expect(date2, "a Date a second later").not.toBe(date1);
    expect(later.replace(date2!, date1!), "the rest unchanged").toBe(first);
    const etag = /\r\nETag: ([^\r]+)\r\n/i.exec(first)?.[1];
    expect(etag, "an ETag").toBeTruthy();
    const nm = await ask(`If-None-Match: ${etag}\r\n`);
    expect(nm.startsWith("HTTP/1.1 304 "), `got ${JSON.stringify(nm.slice(0, 30))} for a matching If-None-Match`).toBe(true);
    expect(nm.endsWith("\r\n\r\n"), "a 304 without a body").toBe(true);
    const head = await ask("", "HEAD");
    expect(head, "HEAD: GET's length, no body").toMatch(/content-length: 11\r\n[^]*\r\n\r\n$/i);
    c.destroy();
  } finally {
    s.stop(true);
  }
});

// Before: an HTMLBundle (`import page from "./index.html"`) has no own keys, so it became a route
// with no method at all, silently; `{}` likewise.
test("a route value that cannot be served is refused when serve() starts, naming what it is", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bun-uring-html-"));
  const html = join(dir, "index.html");
  writeFileSync(html, "<!doctype html><p>hi</p>");
  try {
    const page = ((await import(html)) as { default: unknown }).default; // an HTMLBundle, as `import page from "./index.html"` gives
    expect(Object.prototype.toString.call(page)).toBe("[object HTMLBundle]");
    const errOf = (value: unknown) => {
      try {
        serve({ port: 0, hostname: "127.0.0.1", routes: { "/": value as never } }).stop(true);
        return null;
      } catch (e) {
        return e as Error & { code?: string };
      }
    };
    const bundle = errOf(page);
    expect(bundle?.code).toBe("ERR_NOT_SUPPORTED");
    expect(bundle?.message).toContain("HTML imports");
    expect(errOf({})?.code).toBe("ERR_INVALID_ROUTE");
    expect(errOf({ GET: () => new Response("x") }), "a method object still works").toBeNull();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
