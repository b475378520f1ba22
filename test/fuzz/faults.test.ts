// Fault injection with leak accounting: clients that reset (RST) mid-head, mid-body, mid-response and
// mid-file; a handler that never settles; 1000 slowloris clients while fresh clients are served at their
// usual latency; connections whose SHUTDOWN raced their CLOSE. After each, server.stats() must be back at
// its idle baseline: connections, pending requests, op slots, receive buffers out, send chunks, queued
// bytes, direct-descriptor slots, open fds.
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve, serveStatic, type Server } from "../../src/index.ts";
import { RawConn } from "./rawsock.ts";
import { sleep, waitFor } from "../support/http.ts";

let server: Server;
let root: string;
let neverSettled = 0;
let neverAborted = 0;
const big = new Uint8Array(4 * 1024 * 1024).fill(0x62);

type Counters = Record<"connections" | "pendingRequests" | "opsInFlight" | "buffersOut" | "sendChunksInUse" | "queuedBytes" | "fileSlotsInUse" | "openFds", number>;
const counters = (): Counters => {
  const s = server.stats();
  return {
    connections: s.connections,
    pendingRequests: s.pendingRequests,
    opsInFlight: s.opsInFlight,
    buffersOut: s.buffersOut,
    sendChunksInUse: s.sendChunksInUse,
    queuedBytes: s.queuedBytes,
    fileSlotsInUse: s.fileSlotsInUse ?? 0,
    openFds: s.openFds,
  };
};
let baseline: Counters;

/** Wait (up to ms) for every counter to return to the baseline; returns the last reading. */
async function backToBaseline(ms = 5000): Promise<Counters> {
  let c = counters();
  await waitFor(() => JSON.stringify((c = counters())) === JSON.stringify(baseline), ms, 10);
  return c;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "bun-uring-faults-"));
  writeFileSync(join(root, "large.bin"), big);
  const files = serveStatic(root, { prefix: "/static" });
  server = serve({
    port: 0,
    hostname: "127.0.0.1",
    development: false,
    idleTimeout: 1,
    headerTimeout: 1,
    routes: { "/static/*": files },
    fetch(req) {
      const path = (req as unknown as { _path: string })._path;
      if (path === "/big") return new Response(big);
      if (path === "/upload") return req.arrayBuffer().then((b) => new Response(String(b.byteLength)), () => new Response("cut", { status: 400 }));
      if (path === "/never") {
        neverSettled++;
        req.signal.addEventListener("abort", () => neverAborted++);
        return new Promise<Response>(() => {});
      }
      return new Response("ok");
    },
  });
  // Warm up the paths (lazily created pools and the file layer), then take the baseline.
  for (const p of ["/", "/big", "/static/large.bin"]) {
    const c = await RawConn.open(server.port);
    await c.write(Buffer.from(`GET ${p} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`));
    await c.readToEnd(5000);
    c.close();
  }
  await waitFor(() => server.stats().connections === 0, 3000);
  await sleep(100);
  baseline = counters();
});

afterAll(async () => {
  await server?.stop(true);
  rmSync(root, { recursive: true, force: true });
});

/** One GET on a fresh connection; resolves with the latency in ms (and fails on anything but 200 "ok"). */
async function timedGet(): Promise<number> {
  const t0 = performance.now();
  const c = await RawConn.open(server.port);
  await c.write(Buffer.from("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  await c.readToEnd(5000);
  const text = c.received().toString("latin1");
  c.close();
  if (!text.startsWith("HTTP/1.1 200 ") || !text.endsWith("ok")) throw new Error(`got ${JSON.stringify(text.slice(0, 80))}, wanted 200 ok`);
  return performance.now() - t0;
}

describe("clients that reset (RST)", () => {
  const cases: [string, string, number][] = [
    ["mid-head", "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + "y".repeat(2000), 0],
    ["mid-body", "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + "z".repeat(30000), 0],
    ["mid-chunked-body", "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + "z".repeat(3000), 0],
    ["mid-response (4 MiB from memory)", "GET /big HTTP/1.1\r\nHost: a\r\n\r\n", 64 * 1024],
    ["mid-file (4 MiB through serveStatic)", "GET /static/large.bin HTTP/1.1\r\nHost: a\r\n\r\n", 64 * 1024],
    ["before reading a pipelined burst", "GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(50), 0],
  ];
  for (const [name, raw, readFirst] of cases) {
    test(`200 clients reset ${name}: the server goes on and returns everything`, async () => {
      const one = async () => {
        const c = await RawConn.open(server.port);
        await c.write(Buffer.from(raw, "latin1"));
        if (readFirst > 0) await waitFor(() => (c.drain(), c.received().length >= readFirst || c.eof), 2000, 1);
        else await sleep(1);
        c.reset();
      };
      for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, one));
      expect(await timedGet()).toBeLessThan(1000);
      expect(await backToBaseline()).toEqual(baseline);
    }, 30_000);
  }
});

describe("a handler that never settles", () => {
  test("is cut at idleTimeout: the connection closes, its signal aborts, nothing is left held", async () => {
    const before = { settled: neverSettled, aborted: neverAborted, timeouts: server.stats().timeouts };
    const conns = await Promise.all(Array.from({ length: 20 }, () => RawConn.open(server.port)));
    for (const c of conns) await c.write(Buffer.from("GET /never HTTP/1.1\r\nHost: a\r\n\r\n"));
    const t0 = performance.now();
    const ended = await Promise.all(conns.map((c) => c.readToEnd(4000)));
    const elapsed = performance.now() - t0;
    for (const c of conns) c.close();
    expect(ended.every(Boolean)).toBe(true);
    expect(elapsed).toBeGreaterThan(700); // idleTimeout is 1 s
    expect(neverSettled - before.settled).toBe(20);
    expect(server.stats().timeouts - before.timeouts).toBeGreaterThanOrEqual(20);
    await waitFor(() => neverAborted - before.aborted === 20, 1000);
    expect(neverAborted - before.aborted).toBe(20);
    expect(await backToBaseline()).toEqual(baseline);
  }, 15_000);
});

describe("slowloris", () => {
  test("1000 clients dribbling their heads: fresh clients keep their latency, the slow ones get 408, all is returned", async () => {
    const sample = async (n: number) => {
      const xs: number[] = [];
      for (let i = 0; i < n; i++) xs.push(await timedGet());
      xs.sort((a, b) => a - b);
      return { p50: xs[Math.floor(n / 2)]!, p99: xs[Math.floor(n * 0.99)]! };
    };
    const quiet = await sample(100);
    const slow: RawConn[] = [];
    for (let i = 0; i < 1000; i++) {
      const c = await RawConn.open(server.port);
      await c.write(Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n"));
      slow.push(c);
    }
    // Dribble one header byte per client every 100 ms, while fresh clients are timed.
    let dribbling = true;
    const dribble = (async () => {
      let k = 0;
      while (dribbling) {
        for (const c of slow) if (!c.eof) await c.write(Buffer.from(k % 2 ? "\r\n" : "X-Slow: 1"));
        k++;
        await sleep(100);
      }
    })();
    const loaded = await sample(100);
    // Every slow client gets its 408 at the header deadline (1 s) and the server closes it.
    const cut = await waitFor(() => slow.every((c) => c.drain() || c.eof), 5000, 20);
    dribbling = false;
    await dribble;
    const got408 = slow.filter((c) => c.received().toString("latin1").startsWith("HTTP/1.1 408 ")).length;
    for (const c of slow) c.close();
    console.log(`slowloris: fresh-client latency p50/p99 quiet ${quiet.p50.toFixed(2)}/${quiet.p99.toFixed(2)} ms, under 1000 slow clients ${loaded.p50.toFixed(2)}/${loaded.p99.toFixed(2)} ms; ${got408} of 1000 got 408`);
    expect(cut).toBe(true);
    expect(got408).toBe(1000);
    // "Normal latency" on a shared 2-core machine: the median within 3x (+2 ms) of the quiet median.
    expect(loaded.p50).toBeLessThan(quiet.p50 * 3 + 2);
    expect(await backToBaseline()).toEqual(baseline);
  }, 30_000);
});

describe("SHUTDOWN and CLOSE", () => {
  test("shutting down the write side as the peer's FIN closes the connection never hits a socket that reused the fd", async () => {
    // Each client gets a 400 (the server answers, then shuts down its side) and sends its FIN right
    // after, which closes the connection, while the other clients keep opening sockets in this
    // process. When the shutdown was an IORING_OP_SHUTDOWN (run late, in io-wq), the CLOSE could run
    // first, the fd number went to a new socket, and the SHUTDOWN shut that one down: its first write
    // got EPIPE. It is a plain shutdown() now, made while the fd is surely ours; this keeps it so.
    let bad = 0;
    let done = 0;
    const worker = async () => {
      while (done < 10000) {
        done++;
        const c = await RawConn.open(server.port);
        if (!(await c.write(Buffer.from("BAD\r\n\r\n")))) bad++;
        await sleep(0);
        c.shutdownWrite();
        await c.readToEnd(3000);
        if (!c.received().toString("latin1").startsWith("HTTP/1.1 400 ")) bad++;
        c.close();
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    expect(bad).toBe(0);
    expect(await backToBaseline()).toEqual(baseline);
  }, 60_000);
});
