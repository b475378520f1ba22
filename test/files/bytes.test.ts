// Files sent by the io_uring path arrive byte for byte as they are on disk (sha256), whatever their
// size: 0 B, 1 B, 4 KiB (one READ, head and body in one SEND), 1 MiB and 64 MiB (streamed through
// at most 4 read buffers). From a fetch handler's `new Response(Bun.file(p))` and from a Bun.file
// route value; with the headers a file response carries; HEAD; a missing file (404); and the
// fallback to Bun's reader when the reactor lacks an opcode. Ends with the leak check.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, statSync, symlinkSync } from "node:fs";
import { serve, type Server } from "../../src/index.ts";
import { Reactor } from "../../src/loop/reactor.ts";
import { defaultReactor } from "../../src/loop/default.ts";
import { fileServerStats, fileServer, statusOfErrno } from "../../src/net/http/files.ts";
import { tempTree, writeRandomFile, bodyDigest, rawGet, leakBaseline, expectBackToBaseline, writeFileSync, RawHttp, sha256 } from "./support.ts";
import { RawClient } from "../support/uring.ts";
import { parseResponses } from "../support/http.ts";

const SIZES: [string, number][] = [["0B", 0], ["1B", 1], ["4KiB", 4096], ["1MiB", 1 << 20], ["64MiB", 64 << 20]];
const tree = tempTree("bytes");
const digests = new Map<string, string>();
let server: Server;
let base: string;
let baseline: { ops: number; slots: number };

beforeAll(() => {
  baseline = leakBaseline(defaultReactor());
  for (const [name, size] of SIZES) digests.set(name, writeRandomFile(tree.path(`${name}.bin`), size));
  writeFileSync(tree.path("page.html"), "<!doctype html><p>hi</p>\n");
  writeFileSync(tree.path("style.css"), "p { color: red }\n");
  mkdirSync(tree.path("dir"));
  server = serve({
    port: 0,
    hostname: "127.0.0.1",
    development: false,
    routes: {
      "/route/4KiB": Bun.file(tree.path("4KiB.bin")),
      "/route/page": Bun.file(tree.path("page.html")),
    },
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/custom") return new Response(Bun.file(tree.path("page.html")), { status: 201, headers: { "content-type": "text/x-custom", "x-extra": "1" } });
      if (path === "/relative") return new Response(Bun.file(`./${require("node:path").relative(process.cwd(), tree.path("page.html"))}`));
      return new Response(Bun.file(tree.path(path.slice(1))));
    },
  }) as Server;
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.stop(true);
  tree.remove();
});

describe("bytes on the wire are the bytes on disk", () => {
  for (const [name, size] of SIZES) {
    test(`${name}: sha256 and Content-Length match the file`, async () => {
      const res = await fetch(`${base}/${name}.bin`);
      expect(res.status, `status: got ${res.status}, wanted 200`).toBe(200);
      expect(res.headers.get("content-length"), "Content-Length").toBe(String(size));
      const { sha, length } = await bodyDigest(res);
      expect(length, `length: got ${length}, wanted ${size}`).toBe(size);
      expect(sha, `sha256 of ${name}`).toBe(digests.get(name)!);
    }, 30_000);
  }

  test("the same file fetched 20 times on one keep-alive connection, and 8 files at once", async () => {
    const c = await RawHttp.open(server.port);
    const reqs = Array.from({ length: 20 }, () => `GET /4KiB.bin HTTP/1.1\r\nHost: x\r\n\r\n`).join("");
    await c.write(reqs); // pipelined: responses must come in order, each framed
    const rs = await c.responses(20, [], 5000);
    c.destroy();
    expect(rs.length, `got ${rs.length} responses, wanted 20`).toBe(20);
    for (const r of rs) expect(new Bun.CryptoHasher("sha256").update(r.body).digest("hex")).toBe(digests.get("4KiB")!);
    const all = await Promise.all(["0B", "1B", "4KiB", "1MiB", "4KiB", "1MiB", "1B", "0B"].map(async (n) => [n, await bodyDigest(await fetch(`${base}/${n}.bin`))] as const));
    for (const [n, d] of all) expect(d.sha, `concurrent ${n}`).toBe(digests.get(n)!);
  });

  test("a Bun.file route value is sent by the io_uring path too", async () => {
    const before = fileServerStats(defaultReactor())!;
    const res = await fetch(`${base}/route/4KiB`);
    const { sha } = await bodyDigest(res);
    expect(sha).toBe(digests.get("4KiB")!);
    const after = fileServerStats(defaultReactor())!;
    expect(after.hits + after.misses, "the route's file went through the file cache").toBeGreaterThan(before.hits + before.misses);
    const page = await fetch(`${base}/route/page`);
    expect(page.headers.get("content-type")).toBe("text/html;charset=utf-8");
    expect(await page.text()).toBe("<!doctype html><p>hi</p>\n");
  });
});

describe("bounded memory per connection", () => {
  test("40 pipelined requests for a 192 KiB file, client not reading: the connection holds a few blocks, not 40 files", async () => {
    // A 192 KiB response fits its 4 blocks: it could finish without any byte sent, and the next
    // would start. The next waits until the connection's queue is under its high-water mark.
    const want = writeRandomFile(tree.path("192KiB.bin"), 192 << 10);
    const c = new RawClient(server.port);
    try {
      c.send(Array.from({ length: 40 }, () => "GET /192KiB.bin HTTP/1.1\r\nHost: x\r\n\r\n").join(""));
      await Bun.sleep(300);
      const held = fileServerStats(defaultReactor())!.blocksInUse;
      // One response's blocks, plus at most the 256 KiB high-water mark of earlier ones queued.
      expect(held <= 8, `got ${held} read blocks held for one stalled connection, wanted <= 8`).toBe(true);
      await c.readUntil(() => c.received >= 40 * (192 << 10), 20_000);
      await Bun.sleep(50);
      c.drain();
      const rs = parseResponses(Buffer.from(c.bytes())).responses;
      expect(rs.length, `got ${rs.length} responses`).toBe(40);
      for (const r of rs) expect(sha256(r.body)).toBe(want);
    } finally {
      c.close();
    }
  }, 30_000);
});

describe("headers", () => {
  test("Content-Type from Bun's table, Last-Modified, weak ETag W/\"size-mtime\", Accept-Ranges", async () => {
    const res = await fetch(`${base}/style.css`);
    await res.arrayBuffer();
    const st = statSync(tree.path("style.css"));
    expect(res.headers.get("content-type")).toBe(Bun.file("x.css").type);
    expect(res.headers.get("last-modified")).toBe(new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString());
    expect(res.headers.get("etag")).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    expect(res.headers.get("etag")).toStartWith(`W/"${st.size.toString(16)}-`);
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("date")).not.toBeNull();
  });

  test("the handler's status and headers are kept (Content-Type given wins)", async () => {
    const res = await fetch(`${base}/custom`);
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toBe("text/x-custom");
    expect(res.headers.get("x-extra")).toBe("1");
    expect(await res.text()).toBe("<!doctype html><p>hi</p>\n");
  });

  test("a relative Bun.file path is opened relative to the working directory", async () => {
    const res = await fetch(`${base}/relative`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("<!doctype html><p>hi</p>\n");
  });

  test("HEAD: the GET head (Content-Length = size), no body", async () => {
    const r = await rawGet(server.port, "/1MiB.bin", "", "HEAD");
    expect(r.status).toBe(200);
    expect(r.get("content-length")).toBe(String(1 << 20));
    expect(r.body.length).toBe(0);
  });
});

describe("errors", () => {
  test("a missing file: 404, the connection stays usable", async () => {
    const c = await RawHttp.open(server.port);
    await c.write(`GET /nope.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /1B.bin HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [a, b] = await c.responses(2);
    c.destroy();
    expect(a?.status, "missing file").toBe(404);
    expect(b?.status, "next request on the same connection").toBe(200);
  });

  test("a directory given as a Bun.file: 404, not a 500", async () => {
    const r = await rawGet(server.port, "/dir");
    expect(r.status).toBe(404);
  });

  test("a file we may not read: 403", async () => {
    // The mapping itself (root reads every file, so EACCES is only reachable as a non-root user).
    expect(statusOfErrno(-13 /* EACCES */)).toBe(403);
    expect(statusOfErrno(-1 /* EPERM */)).toBe(403);
    expect(statusOfErrno(-2 /* ENOENT */)).toBe(404);
    expect(statusOfErrno(-18 /* EXDEV: left the root */)).toBe(404);
    expect(statusOfErrno(-5 /* EIO */)).toBe(500);
    expect((await rawGet(server.port, "/page.html/x")).status, "ENOTDIR").toBe(404);
    if (process.getuid?.() === 0) return;
    const p = tree.path("secret.bin");
    writeFileSync(p, "no");
    chmodSync(p, 0);
    const r = await rawGet(server.port, "/secret.bin");
    expect(r.status).toBe(403);
  });

  test("a dangling symlink: 404", async () => {
    symlinkSync(tree.path("gone"), tree.path("dangling"));
    expect((await rawGet(server.port, "/dangling")).status).toBe(404);
  });
});

describe("fallback", () => {
  test("a sliced Bun.file is sent by Bun's reader (it knows the offsets): exactly the slice", async () => {
    const s = serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(Bun.file(tree.path("4KiB.bin")).slice(100, 300)) });
    try {
      const got = new Uint8Array(await (await fetch(`http://127.0.0.1:${s.port}/`)).arrayBuffer());
      const want = new Uint8Array(await Bun.file(tree.path("4KiB.bin")).arrayBuffer()).subarray(100, 300);
      expect(Buffer.compare(Buffer.from(got), Buffer.from(want))).toBe(0);
    } finally {
      await s.stop(true);
    }
  });


  test("a reactor without STATX sends files with Bun's reader (same bytes)", async () => {
    const r = new Reactor({ entries: 64, maxOps: 256 });
    Object.defineProperty(r.ring, "supportedOps", { value: new Set([...r.ring.supportedOps].filter((op) => op !== 21 /* STATX */)) });
    expect(fileServer(r), "no file server on that reactor").toBeNull();
    const s = serve({ port: 0, hostname: "127.0.0.1", reactor: r, fetch: () => new Response(Bun.file(tree.path("1MiB.bin"))) });
    try {
      const d = await bodyDigest(await fetch(`http://127.0.0.1:${s.port}/`));
      expect(d.sha).toBe(digests.get("1MiB")!);
    } finally {
      await s.stop(true);
      r.close();
    }
  });
});

describe("leaks", () => {
  test("after all of it, op slots and uncached file slots are back to baseline", async () => {
    await server.stop(true);
    const why = await expectBackToBaseline(defaultReactor(), baseline);
    expect(why).toBeNull();
  });
});
