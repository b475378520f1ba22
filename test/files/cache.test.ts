// The open-file cache and its bounds, each on its own reactor (configureFileServer): LRU eviction
// with more files than entries; cacheEntries: 0 (every response opens and closes its own
// descriptor); a cache full of busy entries (private entries, closed after their response); the
// small-file bytes bound; and after each, no op slot or file slot left behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { serve, type Server } from "../../src/index.ts";
import { Reactor } from "../../src/loop/reactor.ts";
import { fileSlots } from "../../src/loop/files.ts";
import { configureFileServer, fileServerStats, clearFileCache, type FileServerOptions } from "../../src/net/http/files.ts";
import { tempTree, writeRandomFile, bodyDigest, rawGet, waitFor, writeFileSync } from "./support.ts";
import { closeSync, openSync, truncateSync } from "node:fs";
import { RawClient } from "../support/uring.ts";

const tree = tempTree("cache");
const digests: string[] = [];
const N = 12;

beforeAll(() => {
  for (let i = 0; i < N; i++) digests.push(writeRandomFile(tree.path(`f${i}.bin`), 1000 + i * 7000));
  writeRandomFile(tree.path("big.bin"), 4 << 20);
  // Larger than loopback can absorb for a client that does not read (tcp_rmem max 32 MiB + tcp_wmem
  // max 4 MiB here): a 4 MiB download could finish into the socket buffers and free its entry. Sparse.
  closeSync(openSync(tree.path("huge.bin"), "w"));
  truncateSync(tree.path("huge.bin"), 64 << 20);
});
afterAll(() => tree.remove());

/** A server on a fresh reactor with these file-server options; closed (and checked) by `done`. */
async function withServer(o: FileServerOptions, fn: (s: Server, r: Reactor) => Promise<void>): Promise<void> {
  const r = new Reactor({ entries: 256, maxOps: 8192 });
  configureFileServer(r, o);
  const s = serve({ port: 0, hostname: "127.0.0.1", reactor: r, development: false, fetch: (req) => new Response(Bun.file(tree.path(new URL(req.url).pathname.slice(1)))) }) as Server;
  const base = r.ops.live;
  try {
    await fn(s, r);
  } finally {
    await s.stop(true);
    // Leak check: with the cache emptied, no file slot may stay in use, and no op beyond the listener's.
    clearFileCache(r);
    const ok = await waitFor(() => fileSlots(r).inUse === 0 && r.ops.live <= base, 3000);
    const st = fileServerStats(r);
    const why = `file slots in use ${fileSlots(r).inUse}, ops live ${r.ops.live} (baseline ${base}), transfers ${st?.activeTransfers}, blocks ${st?.blocksInUse}, private entries ${st?.privateEntries}`;
    r.close();
    expect(ok, why).toBe(true);
    expect(st?.activeTransfers, why).toBe(0);
    expect(st?.blocksInUse, why).toBe(0);
    expect(st?.privateEntries, why).toBe(0);
    // The reactor's close unmaps the file server's native pools and drops its cache.
    const after = fileServerStats(r);
    if (after) {
      expect(after.blocksAllocatedBytes, "read buffers unmapped with the reactor").toBe(0);
      expect(after.metasAllocatedBytes, "stat records unmapped with the reactor").toBe(0);
      expect(after.cachedEntries + after.bytesCached, "cache emptied with the reactor").toBe(0);
    }
  }
}

describe("the open-file cache", () => {
  test("more files than entries: LRU eviction; every response still right", async () => {
    await withServer({ cacheEntries: 4 }, async (s, r) => {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < N; i++) {
          const d = await bodyDigest(await fetch(`http://127.0.0.1:${s.port}/f${i}.bin`));
          expect(d.sha, `f${i} round ${round}`).toBe(digests[i]!);
        }
      }
      const st = fileServerStats(r)!;
      expect(st.cachedEntries <= 4, `got ${st.cachedEntries} cached entries, wanted <= 4`).toBe(true);
      expect(st.evictions > 0, "evictions happened").toBe(true);
      expect(fileSlots(r).inUse, "open descriptors: the cached ones only").toBe(st.cachedSlots);
    });
  });

  test("a hot file is opened once, then answered from the cache", async () => {
    await withServer({}, async (s, r) => {
      for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${s.port}/f3.bin`)).arrayBuffer();
      const st = fileServerStats(r)!;
      expect(st.misses, "one open").toBe(1);
      expect(st.hits, "then hits").toBe(19);
      // The bytes, and the whole pre-built response (head + the same bytes) a hot file is sent from.
      const size = 1000 + 3 * 7000;
      expect(st.bytesCached > 2 * size && st.bytesCached < 2 * size + 512, `got ${st.bytesCached} bytes cached, wanted 2 x ${size} + a head`).toBe(true);
    });
  });

  test("50 concurrent first requests for a cold file share one open", async () => {
    await withServer({}, async (s, r) => {
      const all = await Promise.all(Array.from({ length: 50 }, () => fetch(`http://127.0.0.1:${s.port}/f7.bin`).then(bodyDigest)));
      for (const d of all) expect(d.sha).toBe(digests[7]!);
      expect(fileServerStats(r)!.misses, "one OPENAT chain for all of them").toBe(1);
    });
  });

  test("cacheEntries: 0: every response opens and closes its own descriptor", async () => {
    await withServer({ cacheEntries: 0 }, async (s, r) => {
      for (let i = 0; i < N; i++) {
        const d = await bodyDigest(await fetch(`http://127.0.0.1:${s.port}/f${i}.bin`));
        expect(d.sha).toBe(digests[i]!);
      }
      const big = await fetch(`http://127.0.0.1:${s.port}/big.bin`);
      expect((await bodyDigest(big)).length).toBe(4 << 20);
      await waitFor(() => fileSlots(r).inUse === 0, 1000);
      expect(fileSlots(r).inUse, "no descriptor kept").toBe(0);
      expect(fileServerStats(r)!.misses).toBe(N + 1);
    });
  });

  test("a recycled descriptor slot never serves the file it held before (failed opens in between)", async () => {
    await withServer({ cacheEntries: 0 }, async (s) => {
      for (let i = 0; i < 20; i++) {
        const ok = await rawGet(s.port, `/f${i % N}.bin`);
        expect(ok.status).toBe(200);
        // The next open reuses the slot just closed (LIFO) and fails: it must be a 404, not f(i)'s bytes.
        const missing = await rawGet(s.port, `/missing-${i}.bin`);
        expect(missing.status, `missing after f${i % N}: got ${missing.status} with ${missing.body.length} bytes`).toBe(404);
        const dir = await rawGet(s.port, "/");
        expect(dir.status, "a directory after a file").toBe(404);
      }
    });
  });

  test("a cache full of busy entries: the next file gets a private descriptor, closed after it", async () => {
    await withServer({ cacheEntries: 1, maxReadBuffers: 16 }, async (s, r) => {
      // Hold the one cache entry busy: a 64 MiB download whose client does not read.
      const slow = new RawClient(s.port);
      slow.send("GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n");
      const held = await waitFor(() => fileServerStats(r)?.cachedEntries === 1 && fileServerStats(r)?.activeTransfers === 1, 2000);
      expect(held, "the slow download holds the only entry").toBe(true);
      const d = await bodyDigest(await fetch(`http://127.0.0.1:${s.port}/f1.bin`));
      expect(d.sha).toBe(digests[1]!);
      expect(fileServerStats(r)!.uncached, "served through a private entry").toBeGreaterThan(0);
      slow.close();
    });
  });

  test("smallFileMax: 0 keeps no bytes; the bytes bound is respected", async () => {
    await withServer({ smallFileMax: 0 }, async (s, r) => {
      for (let i = 0; i < 3; i++) await (await fetch(`http://127.0.0.1:${s.port}/f0.bin`)).arrayBuffer();
      expect(fileServerStats(r)!.bytesCached).toBe(0);
    });
    await withServer({ smallCacheBytes: 20_000 }, async (s, r) => {
      for (let i = 0; i < N; i++) await (await fetch(`http://127.0.0.1:${s.port}/f${i}.bin`)).arrayBuffer();
      const st = fileServerStats(r)!;
      expect(st.bytesCached <= 20_000, `got ${st.bytesCached} bytes cached, wanted <= 20000`).toBe(true);
      expect(st.bytesCached > 0).toBe(true);
    });
  });

  test("configureFileServer after the first file response is refused", async () => {
    await withServer({}, async (s, r) => {
      await (await fetch(`http://127.0.0.1:${s.port}/f0.bin`)).arrayBuffer();
      expect(() => configureFileServer(r, { cacheEntries: 1 })).toThrow(/before the first file response/);
    });
  });

  test("a file changed in place is re-read (its cached bytes dropped) within 1 s", async () => {
    await withServer({}, async (s, r) => {
      const p = tree.path("small.txt");
      writeFileSync(p, "AAAA");
      expect((await rawGet(s.port, "/small.txt")).body.toString()).toBe("AAAA");
      expect((await rawGet(s.port, "/small.txt")).body.toString()).toBe("AAAA");
      writeFileSync(p, "BBBB");
      const t0 = performance.now();
      let got = "";
      while (performance.now() - t0 < 1500) {
        got = (await rawGet(s.port, "/small.txt")).body.toString();
        if (got === "BBBB") break;
        await Bun.sleep(25);
      }
      expect(got).toBe("BBBB");
      expect(performance.now() - t0 < 1300, `fresh after ${(performance.now() - t0).toFixed(0)} ms`).toBe(true);
      void r;
    });
  });
});
