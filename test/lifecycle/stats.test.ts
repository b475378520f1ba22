// server.stats(): every field an operator reads is there and tells the truth about a known load.
import { test, expect } from "bun:test";
import { connect, type Socket } from "node:net";
import { readdirSync } from "node:fs";
import { serve, Reactor } from "../../src/index.ts";
import { sleep } from "./support.ts";

const FIELDS = [
  "backend", "requests", "parseErrors", "timeouts", "handlerErrors", "connections", "pendingRequests", "opsInFlight",
  "opsCapacity", "bufferMisses", "buffersOut", "cqOverflowFlushes", "cqDropped", "sendChunksInUse", "queuedBytes",
  "fileSlotsInUse", "openFds",
];

async function open(port: number): Promise<{ sock: Socket; text: () => string }> {
  const sock = connect({ host: "127.0.0.1", port });
  let data = "";
  sock.setEncoding("latin1");
  sock.on("data", (d: string) => (data += d));
  sock.on("error", () => {});
  await new Promise<void>((res) => sock.on("connect", () => res()));
  return { sock, text: () => data };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`condition not met after ${ms} ms`);
    await sleep(5);
  }
}

test("stats(): fields present; connections, requests, in-flight, fds and queued bytes follow the load", async () => {
  const big = new Uint8Array(32 * 1024 * 1024);
  let release: () => void = () => {};
  const server = serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/wait") await new Promise<void>((res) => (release = res));
      if (path === "/big") return new Response(big);
      return new Response("ok");
    },
  });
  try {
    const s0 = server.stats();
    expect(Object.keys(s0).sort()).toEqual([...FIELDS].sort());
    expect(s0).toMatchObject({ backend: "io_uring", connections: 0, requests: 0, pendingRequests: 0, queuedBytes: 0, cqDropped: 0 });
    expect(s0.opsInFlight).toBeGreaterThanOrEqual(1); // the multishot ACCEPT
    expect(s0.opsInFlight).toBeLessThanOrEqual(s0.opsCapacity);
    expect(s0.fileSlotsInUse === null || s0.fileSlotsInUse >= 0).toBe(true);
    expect(s0.openFds).toBe(readdirSync("/proc/self/fd").length - 1);

    // A keep-alive connection with three requests answered.
    const a = await open(server.port);
    a.sock.write("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
    await until(() => (a.text().match(/\r\n\r\nok/g) ?? []).length === 3);
    const s1 = server.stats();
    expect(s1).toMatchObject({ connections: 1, requests: 3, pendingRequests: 0, buffersOut: 0, queuedBytes: 0 });
    expect(s1.opsInFlight).toBeGreaterThanOrEqual(2); // ACCEPT + the connection's RECV
    expect(s1.openFds).toBeGreaterThanOrEqual(s0.openFds + 2); // client and server ends, both in this process

    // A request in progress.
    const b = await open(server.port);
    b.sock.write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    await until(() => server.stats().pendingRequests === 1);
    expect(server.stats().connections).toBe(2);
    release();
    await until(() => b.text().includes("\r\n\r\nok"));
    expect(server.stats().pendingRequests).toBe(0);

    // A client that does not read a 32 MiB answer: bytes stay queued.
    const c = await open(server.port);
    c.sock.pause();
    c.sock.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    await until(() => server.stats().queuedBytes > 0);
    const s2 = server.stats();
    expect(s2.queuedBytes).toBeLessThanOrEqual(big.length + 1024);
    expect(s2.connections).toBe(3);
    c.sock.destroy();
    await until(() => server.stats().queuedBytes === 0 && server.stats().connections === 2);

    a.sock.destroy();
    b.sock.destroy();
    await until(() => server.stats().connections === 0);
    expect(server.stats().requests).toBe(5);
  } finally {
    await server.stop(true);
  }
});

test("stats(): buffer-ring misses (ENOBUFS) are counted, and the requests are still served", async () => {
  const reactor = new Reactor({ bufferCount: 2, bufferSize: 1024 });
  const server = serve({
    port: 0,
    hostname: "127.0.0.1",
    reactor,
    async fetch(req) {
      return new Response(String((await req.arrayBuffer()).byteLength));
    },
  });
  try {
    const body = "x".repeat(256 * 1024);
    const clients = await Promise.all(Array.from({ length: 8 }, () => open(server.port)));
    for (const c of clients) c.sock.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await until(() => clients.every((c) => c.text().endsWith(`\r\n\r\n${body.length}`)), 10_000);
    const s = server.stats();
    expect(s.bufferMisses).toBe(reactor.stats.bufferMisses);
    expect(s.bufferMisses).toBeGreaterThan(0);
    expect(s.buffersOut).toBe(0);
    expect(s.requests).toBe(8);
    for (const c of clients) c.sock.destroy();
    await until(() => server.stats().connections === 0);
  } finally {
    await server.stop(true);
    reactor.close();
  }
});
