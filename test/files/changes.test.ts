// Files that change under the server. The open-descriptor cache keeps a stat for at most 1 s
// (REVALIDATE_MS): a file rewritten in place, replaced by a rename, grown, shrunk or deleted is
// served as it now is within ~1 s. A file truncated while it is being sent: the response can't be
// framed any more, so its connection ends early (never a padded or garbled body) and the server
// goes on serving others. A file deleted while it is being sent: the open descriptor still reads
// the old bytes, so that response completes whole; new requests get 404.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { renameSync, truncateSync, unlinkSync, readFileSync } from "node:fs";
import { serve, type Server } from "../../src/index.ts";
import { defaultReactor } from "../../src/loop/default.ts";
import { REVALIDATE_MS, fileServerStats } from "../../src/net/http/files.ts";
import { tempTree, writeRandomFile, rawGet, leakBaseline, expectBackToBaseline, writeFileSync, waitFor, sha256, SlowReader } from "./support.ts";

const tree = tempTree("changes");
let server: Server;
let baseline: { ops: number; slots: number };

beforeAll(() => {
  baseline = leakBaseline(defaultReactor());
  server = serve({
    port: 0, hostname: "127.0.0.1", development: false,
    fetch: (req) => new Response(Bun.file(tree.path(new URL(req.url).pathname.slice(1)))),
  }) as Server;
  writeFileSync(tree.path("other.txt"), "still here");
});

afterAll(async () => {
  await server.stop(true);
  tree.remove();
});

/** Fetch until the body is `want` (or `ms`); returns ms it took, or -1. */
async function freshWithin(path: string, want: string | null, ms: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const r = await rawGet(server.port, path);
    const got = r.status === 404 ? null : r.body.toString();
    if (got === want) return performance.now() - t0;
    if (performance.now() - t0 > ms) return -1;
    await Bun.sleep(20);
  }
}

describe("served fresh within 1 s", () => {
  test("rewritten in place (same size, then other sizes)", async () => {
    const p = tree.path("a.txt");
    writeFileSync(p, "version-1");
    expect((await rawGet(server.port, "/a.txt")).body.toString()).toBe("version-1");
    expect((await rawGet(server.port, "/a.txt")).body.toString(), "second request (cached)").toBe("version-1");
    writeFileSync(p, "version-2");
    const t1 = await freshWithin("/a.txt", "version-2", 1500);
    expect(t1 >= 0 && t1 <= REVALIDATE_MS + 300, `same size rewrite: served fresh after ${t1.toFixed(0)} ms, wanted <= ${REVALIDATE_MS} (+slack)`).toBe(true);
    writeFileSync(p, "v3");
    const t2 = await freshWithin("/a.txt", "v3", 1500);
    expect(t2 >= 0 && t2 <= REVALIDATE_MS + 300, `shrunk: fresh after ${t2.toFixed(0)} ms`).toBe(true);
    writeFileSync(p, "version-4-is-longer-than-before");
    const t3 = await freshWithin("/a.txt", "version-4-is-longer-than-before", 1500);
    expect(t3 >= 0 && t3 <= REVALIDATE_MS + 300, `grown: fresh after ${t3.toFixed(0)} ms`).toBe(true);
  });

  test("replaced by a rename (a new inode: the cached descriptor still reads the old one)", async () => {
    const p = tree.path("b.txt");
    writeFileSync(p, "old-old-old");
    expect((await rawGet(server.port, "/b.txt")).body.toString()).toBe("old-old-old");
    writeFileSync(tree.path("b.tmp"), "new-new-new");
    renameSync(tree.path("b.tmp"), p);
    const t = await freshWithin("/b.txt", "new-new-new", 1500);
    expect(t >= 0 && t <= REVALIDATE_MS + 300, `fresh after ${t.toFixed(0)} ms`).toBe(true);
  });

  test("deleted: 404 within 1 s; created again: served", async () => {
    const p = tree.path("c.txt");
    writeFileSync(p, "here");
    expect((await rawGet(server.port, "/c.txt")).status).toBe(200);
    unlinkSync(p);
    const t = await freshWithin("/c.txt", null, 1500);
    expect(t >= 0 && t <= REVALIDATE_MS + 300, `404 after ${t.toFixed(0)} ms`).toBe(true);
    writeFileSync(p, "back");
    expect((await rawGet(server.port, "/c.txt")).body.toString()).toBe("back");
  });

  test("a stale entry is re-validated with one STATX, not re-opened, when nothing changed", async () => {
    writeFileSync(tree.path("d.txt"), "steady");
    await rawGet(server.port, "/d.txt");
    const before = fileServerStats(defaultReactor())!;
    await Bun.sleep(REVALIDATE_MS + 50);
    expect((await rawGet(server.port, "/d.txt")).body.toString()).toBe("steady");
    const after = fileServerStats(defaultReactor())!;
    expect(after.revalidations - before.revalidations).toBe(1);
    expect(after.misses - before.misses, "no new open").toBe(0);
  });
});

describe("changed while being sent", () => {
  const SIZE = 48 << 20;

  test("truncated mid-send: the connection ends before Content-Length bytes; the server goes on", async () => {
    const p = tree.path("big-trunc.bin");
    writeRandomFile(p, SIZE);
    const c = new SlowReader(server.port, "/big-trunc.bin");
    // Read 2 MiB, then stop: the server fills the socket buffers and waits (its read-ahead is bounded).
    await c.readUntil(() => c.bodyBytes >= 2 << 20, 5000, 64 << 10);
    await Bun.sleep(50);
    truncateSync(p, 1 << 20);
    const ended = await c.readUntil(() => c.ended, 10_000);
    c.close();
    expect(c.contentLength, "the head announced the whole file").toBe(SIZE);
    expect(ended, "the connection ended").toBe(true);
    expect(c.bodyBytes < SIZE, `got ${c.bodyBytes} body bytes, wanted fewer than ${SIZE} (a body cut short)`).toBe(true);
    // Others are served, including the truncated file itself (fresh within 1 s).
    expect((await rawGet(server.port, "/other.txt")).body.toString()).toBe("still here");
    await Bun.sleep(REVALIDATE_MS);
    const again = await rawGet(server.port, "/big-trunc.bin");
    expect(again.status).toBe(200);
    expect(again.body.length).toBe(1 << 20);
  }, 30_000);

  test("deleted mid-send: that response completes with the old bytes; new requests get 404", async () => {
    const p = tree.path("big-del.bin");
    const want = writeRandomFile(p, 8 << 20);
    const c = new SlowReader(server.port, "/big-del.bin", true);
    await c.readUntil(() => c.bodyBytes > 1 << 20, 5000, 64 << 10);
    unlinkSync(p);
    await c.readUntil(() => c.bodyBytes >= c.contentLength || c.ended, 10_000);
    c.close();
    expect(c.bodyBytes).toBe(8 << 20);
    expect(sha256(c.body())).toBe(want);
    const t = await freshWithin("/big-del.bin", null, 1500);
    expect(t >= 0, "404 after the delete").toBe(true);
  }, 30_000);

  test("many responses of a file truncated under them: each ends or completes, none hangs, none is garbled", async () => {
    const p = tree.path("mid.bin");
    writeRandomFile(p, 4 << 20);
    const full = readFileSync(p);
    const readers = Array.from({ length: 20 }, () => new SlowReader(server.port, "/mid.bin", true));
    for (const r of readers) await r.readUntil(() => r.bodyBytes > 0, 5000, 32 << 10);
    truncateSync(p, 1 << 19);
    const settled = (r: SlowReader) => r.ended || (r.contentLength >= 0 && r.bodyBytes >= r.contentLength);
    await Promise.all(readers.map((r) => r.readUntil(() => settled(r), 10_000)));
    let cut = 0;
    for (const r of readers) {
      const b = r.body();
      expect(settled(r), "settled").toBe(true);
      expect(b.length <= r.contentLength, `got ${b.length} bytes for a Content-Length of ${r.contentLength}`).toBe(true);
      if (b.length < r.contentLength) {
        cut++;
        expect(r.ended, "an incomplete body ends with the connection").toBe(true);
      }
      // Whatever came is the file's bytes, in order (no padding, no garbage).
      const n = Math.min(b.length, 1 << 19);
      expect(Buffer.compare(b.subarray(0, n), full.subarray(0, n)), "bytes are the file's").toBe(0);
      r.close();
    }
    expect(cut, "responses cut short by the truncation").toBeGreaterThan(0);
    expect((await rawGet(server.port, "/other.txt")).status).toBe(200);
  }, 30_000);
});

test("no leaks: op slots and uncached file slots back to baseline", async () => {
  await server.stop(true);
  expect(await expectBackToBaseline(defaultReactor(), baseline)).toBeNull();
});
