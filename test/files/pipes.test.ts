// Large file bodies go file -> pipe -> socket by SPLICE (src/net/http/files/pipes.ts): the bytes
// are the file's whatever the size, the range or the order of responses on a connection; a pipe's
// short SPLICE (an unaligned start) goes on where it stopped; at most maxPipes pipes at once, the
// other responses read into blocks; a client that stops reading is cut at sendTimeout; clients
// that leave mid-body leave no pipe, descriptor or op behind. On a reactor of its own, so the
// counters are this file's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, truncateSync } from "node:fs";
import { serve, type Server } from "../../src/index.ts";
import { Reactor } from "../../src/loop/reactor.ts";
import { configureFileServer, fileServer, fileServerStats } from "../../src/net/http/files.ts";
import { READ_BLOCK } from "../../src/net/http/files/pools.ts";
import { SPLICE_MIN, PIPE_BYTES } from "../../src/net/http/files/pipes.ts";
import { RawClient } from "../support/uring.ts";
import { parseResponses } from "../support/http.ts";
import { tempTree, writeRandomFile, bodyDigest, rawGet, leakBaseline, expectBackToBaseline, waitFor, SlowReader } from "./support.ts";

const tree = tempTree("pipes");
const MAX_PIPES = 2;
const SIZES: [string, number][] = [
  ["below", READ_BLOCK + SPLICE_MIN - 1], // blocks: less than SPLICE_MIN left after the first
  ["at", READ_BLOCK + SPLICE_MIN],
  ["1MiB+1", PIPE_BYTES + 1],
  ["5MiB+123", 5 * PIPE_BYTES + 123], // several rounds through the pipe
];
const digests = new Map<string, string>();
let reactor: Reactor;
let server: Server;
let base: string;
let baseline: { ops: number; slots: number };
let fdsBefore = 0;

const openFds = () => readdirSync("/proc/self/fd").length;
const stats = () => fileServerStats(reactor)!;

beforeAll(() => {
  for (const [name, size] of SIZES) digests.set(name, writeRandomFile(tree.path(`${name}.bin`), size));
  writeRandomFile(tree.path("small.bin"), 1000);
  // Larger than what loopback's socket buffers take (tcp_rmem max is 32 MiB here): a client that
  // stops reading holds the server back. Sparse, so it costs no disk.
  writeRandomFile(tree.path("huge.bin"), 0);
  truncateSync(tree.path("huge.bin"), 96 << 20);
  reactor = new Reactor({ entries: 256, maxOps: 4096 });
  configureFileServer(reactor, { maxPipes: MAX_PIPES });
  fileServer(reactor); // made now, so that its counters can be read before the first response
  baseline = leakBaseline(reactor);
  fdsBefore = openFds();
  server = serve({
    port: 0, hostname: "127.0.0.1", reactor, development: false, sendTimeout: 1,
    fetch: (req) => new Response(Bun.file(tree.path(new URL(req.url).pathname.slice(1)))),
  }) as Server;
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.stop(true);
  reactor.close();
  tree.remove();
});

describe("bytes by pipe are the file's", () => {
  for (const [name, size] of SIZES) {
    test(`${name} (${size} B): sha256 and length; by pipe only with SPLICE_MIN left after the first block`, async () => {
      const before = stats().splicedResponses;
      const res = await fetch(`${base}/${name}.bin`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-length")).toBe(String(size));
      const d = await bodyDigest(res);
      expect(d.length).toBe(size);
      expect(d.sha, `sha256 of ${name}`).toBe(digests.get(name)!);
      const byPipe = size - READ_BLOCK >= SPLICE_MIN;
      expect(stats().splicedResponses - before, byPipe ? "went by pipe" : "went by blocks").toBe(byPipe ? 1 : 0);
    });
  }

  test("ranges starting anywhere (a pipe has a slot per page: an unaligned start splices short and goes on)", async () => {
    const full = readFileSync(tree.path("5MiB+123.bin"));
    const ranges: [number, number][] = [[1, full.length - 1], [4095, full.length - 1], [4097, 3 << 20], [66_536, full.length - 1], [PIPE_BYTES - 1, 4 * PIPE_BYTES + 7]];
    for (const [a, b] of ranges) {
      const r = await rawGet(server.port, "/5MiB+123.bin", `Range: bytes=${a}-${b}\r\n`);
      expect(r.status, `bytes=${a}-${b}`).toBe(206);
      expect(r.body.length, `bytes=${a}-${b}: length`).toBe(b - a + 1);
      expect(Buffer.compare(r.body, full.subarray(a, b + 1)), `bytes=${a}-${b}: the file's bytes`).toBe(0);
    }
  });

  test("pipelined on one connection: large, small, large, HEAD of large; in order, each whole", async () => {
    const big = readFileSync(tree.path("1MiB+1.bin"));
    const small = readFileSync(tree.path("small.bin"));
    const c = new RawClient(server.port);
    try {
      const get = (p: string, m = "GET") => `${m} /${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
      c.send(get("1MiB+1.bin") + get("small.bin") + get("1MiB+1.bin") + get("1MiB+1.bin", "HEAD"));
      const want = 2 * big.length + small.length;
      let parsed = parseResponses(Buffer.alloc(0), [false, false, false, true]);
      await c.readUntil(() => (parsed = parseResponses(Buffer.from(c.bytes()), [false, false, false, true])).responses.length === 4, 10_000);
      const rs = parsed.responses;
      expect(rs.length, `responses after ${c.received} bytes (bodies ${want} B)`).toBe(4);
      expect(Buffer.compare(rs[0]!.body, big)).toBe(0);
      expect(Buffer.compare(rs[1]!.body, small)).toBe(0);
      expect(Buffer.compare(rs[2]!.body, big)).toBe(0);
      expect(rs[3]!.headers.find(([k]) => k === "content-length")?.[1]).toBe(String(big.length));
      expect(rs[3]!.body.length).toBe(0);
    } finally {
      c.close();
    }
  });
});

describe("bounds and failures", () => {
  test(`more downloads at once than maxPipes (${MAX_PIPES}): the rest read into blocks; every byte arrives`, async () => {
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, stats().pipesInUse)), 1);
    const before = stats().splicedResponses;
    try {
      const got = await Promise.all(Array.from({ length: 8 }, async () => bodyDigest(await fetch(`${base}/5MiB+123.bin`))));
      for (const d of got) expect(d.sha).toBe(digests.get("5MiB+123")!);
    } finally {
      clearInterval(sampler);
    }
    expect(peak, "pipes open at once").toBeLessThanOrEqual(MAX_PIPES);
    const spliced = stats().splicedResponses - before;
    expect(spliced, "some went by pipe").toBeGreaterThanOrEqual(1);
    expect(spliced, "not all: the bound held").toBeLessThanOrEqual(8);
    // A pipe closes when the connection's last SPLICE completes, which may be after the client has it all.
    expect(await waitFor(() => stats().pipesInUse === 0, 3000), "pipes closed").toBe(true);
  });

  test("a client that stops reading mid-body is cut at sendTimeout (1 s); then nothing is held", async () => {
    const c = new SlowReader(server.port, "/huge.bin");
    try {
      await c.readUntil(() => c.bodyBytes >= 4 << 20, 5000, 256 << 10);
      expect(stats().pipesInUse, "the body goes by pipe").toBe(1);
      // Read nothing: the socket buffers fill, the connection's SPLICE waits for room, and the
      // deadline (1 s, checked every 100 ms) cuts it; then the pipe is closed.
      expect(await waitFor(() => stats().pipesInUse === 0, 4000), "pipe closed while the client reads nothing").toBe(true);
      const ended = await c.readUntil(() => c.ended, 6000);
      expect(ended, "the connection ended").toBe(true);
      expect(c.bodyBytes, "a body cut short").toBeLessThan(96 << 20);
    } finally {
      c.close();
    }
    expect(await waitFor(() => stats().pipesInUse === 0 && stats().activeTransfers === 0, 3000)).toBe(true);
  }, 20_000);

  test("30 clients leave mid-body: no pipe, descriptor or op is left", async () => {
    const readers = Array.from({ length: 30 }, () => new SlowReader(server.port, "/5MiB+123.bin"));
    for (const r of readers) await r.readUntil(() => r.bodyBytes > 100_000, 5000, 64 << 10);
    for (const r of readers) r.close();
    expect(await waitFor(() => stats().pipesInUse === 0 && stats().activeTransfers === 0, 5000), `pipes ${stats().pipesInUse}, transfers ${stats().activeTransfers}`).toBe(true);
    // The server still serves, by pipe.
    const d = await bodyDigest(await fetch(`${base}/1MiB+1.bin`));
    expect(d.sha).toBe(digests.get("1MiB+1")!);
  }, 20_000);

  test("maxPipes: 0 sends every body from blocks, the same bytes", async () => {
    const r = new Reactor({ entries: 64, maxOps: 512 });
    configureFileServer(r, { maxPipes: 0 });
    const s = serve({ port: 0, hostname: "127.0.0.1", reactor: r, fetch: () => new Response(Bun.file(tree.path("5MiB+123.bin"))) });
    try {
      const d = await bodyDigest(await fetch(`http://127.0.0.1:${s.port}/`));
      expect(d.sha).toBe(digests.get("5MiB+123")!);
      expect(fileServerStats(r)!.splicedResponses).toBe(0);
    } finally {
      await s.stop(true);
      r.close();
    }
  });
});

test("after all of it: ops, file slots, pipes and descriptors back to where they were", async () => {
  await server.stop(true);
  expect(await expectBackToBaseline(reactor, baseline)).toBeNull();
  expect(stats().pipesInUse).toBe(0);
  expect(await waitFor(() => openFds() <= fdsBefore, 3000), `open descriptors ${openFds()}, before ${fdsBefore}`).toBe(true);
});


