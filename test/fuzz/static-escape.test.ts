// Static-root escape fuzzing (issue #7 item 6): generated request paths against serveStatic, as a route
// with a prefix and as the fetch handler at the root: encoded and double-encoded dots and slashes,
// backslashes, NUL, overlong UTF-8, symlinks out of the root, symlink loops, very long paths, dotfiles,
// absolute-form targets. No answer may carry a byte from outside the root (or a dotfile), and none may be
// a 5xx. A few paths inside must still be served, so the fuzz is not passing by refusing everything.
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve, serveStatic, clearFileCache, defaultReactor, type Server } from "../../src/index.ts";
import { RawConn } from "./rawsock.ts";
import { Rng } from "./rng.ts";
import { waitFor } from "../support/http.ts";

const SECRETS = ["OUTSIDE-SECRET-7f3a", "SIBLING-SECRET-91c2", "DOTFILE-SECRET-5d0e", "root:x:0:0"];
let server: Server;
let base: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "bun-uring-escape-"));
  const root = join(base, "root");
  const outside = join(base, "outside");
  mkdirSync(join(root, "sub", "deeper"), { recursive: true });
  mkdirSync(outside);
  mkdirSync(join(base, "root-sibling"));
  writeFileSync(join(outside, "secret.txt"), `${SECRETS[0]}\n`);
  writeFileSync(join(base, "root-sibling", "secret.txt"), `${SECRETS[1]}\n`);
  writeFileSync(join(base, "secret.txt"), `${SECRETS[0]}\n`);
  writeFileSync(join(root, ".env"), `${SECRETS[2]}\n`);
  writeFileSync(join(root, "a.txt"), "inside-a\n");
  writeFileSync(join(root, "index.html"), "inside-index\n");
  writeFileSync(join(root, "sub", "b.txt"), "inside-b\n");
  writeFileSync(join(root, "sub", "deeper", "c.txt"), "inside-c\n");
  symlinkSync("../outside", join(root, "link-out"));
  symlinkSync(join(outside, "secret.txt"), join(root, "link-secret"));
  symlinkSync("../../outside/secret.txt", join(root, "sub", "link-up"));
  symlinkSync("/etc/passwd", join(root, "passwd"));
  symlinkSync("loop", join(root, "loop"));
  symlinkSync("loop2b", join(root, "loop2a"));
  symlinkSync("loop2a", join(root, "loop2b"));
  symlinkSync("a.txt", join(root, "link-in"));
  symlinkSync("../root-sibling", join(root, "sibling"));
  const prefixed = serveStatic(root, { prefix: "/static" });
  const atRoot = serveStatic(root, { listing: true });
  server = serve({ port: 0, hostname: "127.0.0.1", development: false, idleTimeout: 5, routes: { "/static/*": prefixed }, fetch: (req) => atRoot(req) });
});

afterAll(async () => {
  await server?.stop(true);
  rmSync(base, { recursive: true, force: true });
});

const SEGMENTS = [
  "..", ".", "...", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%252e%252e", "%25%32%65%25%32%65", "%c0%ae%c0%ae", "%e0%80%ae%e0%80%ae",
  "%c0%af", "%e0%80%af", "..%2f", "..%2F", "%2f", "%2F..", "..%5c", "%5c", "\\", "..\\", "..\\..", "%00", "a.txt%00.html", "%00..",
  "..;", ";", "..%00", "%2e%2e%2f%2e%2e", "link-out", "link-secret", "passwd", "loop", "loop2a", "sibling", "link-in", "sub", "deeper",
  "link-up", "outside", "secret.txt", "root-sibling", "root", ".env", "%2eenv", "%2e%65nv", ".git", "a.txt", "index.html", "x".repeat(300),
  "%", "%zz", "%2", "%ff", "%C3%A9", "é", "~", "*", "",
];

function genPath(r: Rng): string {
  const n = r.range(1, 8);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(r.pick(SEGMENTS));
  if (r.chance(0.1)) parts.push("x".repeat(r.range(1000, 5000)));
  const sep = () => r.pick(["/", "/", "/", "//", "\\", "/./", "%2f"]);
  let p = parts.join(sep());
  p = (r.chance(0.5) ? "/static/" : "/") + p;
  if (r.chance(0.1)) p += "?" + r.pick(["../../secret.txt", "a=%2e%2e", "x"]);
  if (r.chance(0.05)) p = "http://localhost" + p;
  // Only what the parser takes as a target (visible ASCII): the rest is the parser's business.
  return p.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
}

async function get(target: string, method = "GET"): Promise<{ status: number; text: string }> {
  const c = await RawConn.open(server.port);
  try {
    await c.write(Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, "latin1"));
    await c.readToEnd(5000);
    const text = c.received().toString("latin1");
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
    return { status: m ? Number(m[1]) : -1, text };
  } finally {
    c.close();
  }
}

describe("static-root escape", () => {
  test("paths inside the root are served (the fuzz below is not passing by refusing everything)", async () => {
    const want: [string, number, string][] = [
      ["/static/a.txt", 200, "inside-a"],
      ["/static/sub/b.txt", 200, "inside-b"],
      ["/static/sub/deeper/c.txt", 200, "inside-c"],
      ["/static/link-in", 200, "inside-a"],
      ["/static/", 200, "inside-index"],
      ["/a.txt", 200, "inside-a"],
      ["/sub/./b.txt", 200, "inside-b"],
      ["/static/sub/../a.txt", 404, ""], // ".." is refused before the file system, wherever it leads
    ];
    const got = await Promise.all(want.map(async ([p]) => get(p)));
    expect(got.map((g, i) => [want[i]![0], g.status, g.status === 200 ? g.text.split("\r\n\r\n")[1]!.trim() : ""])).toEqual(want);
  });

  test("4000 generated paths: no byte from outside the root, no dotfile, no 5xx", async () => {
    const r = new Rng(0x5ca1ab1e);
    const paths = Array.from({ length: 4000 }, () => genPath(r));
    const leaks: string[] = [];
    const statuses: Record<number, number> = {};
    let next = 0;
    const worker = async () => {
      while (next < paths.length) {
        const p = paths[next++]!;
        const method = next % 7 === 0 ? "HEAD" : "GET";
        const { status, text } = await get(p, method);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status >= 500 || status < 0) leaks.push(`${method} ${p.slice(0, 200)}: status ${status} ${JSON.stringify(text.slice(0, 120))}`);
        for (const s of SECRETS) if (text.includes(s)) leaks.push(`${method} ${p.slice(0, 200)}: ${status}, leaked ${s}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    console.log(`static escape: 4000 paths, statuses ${JSON.stringify(statuses)}`);
    expect(leaks.slice(0, 20)).toEqual([]);
    expect(statuses[200] ?? 0).toBeGreaterThan(0);
  }, 60_000);

  test("nothing is left held", async () => {
    const held = () => {
      const s = server.stats();
      return { connections: s.connections, pendingRequests: s.pendingRequests, buffersOut: s.buffersOut, fileSlotsInUse: s.fileSlotsInUse ?? 0, queuedBytes: s.queuedBytes };
    };
    const zero = { connections: 0, pendingRequests: 0, buffersOut: 0, fileSlotsInUse: 0, queuedBytes: 0 };
    // Open files the file layer caches (the answered ones) are let go by a sweep; what is left is a leak.
    await waitFor(() => (clearFileCache(defaultReactor()), JSON.stringify(held()) === JSON.stringify(zero)), 5000);
    expect(held()).toEqual(zero);
  }, 10_000);
});
