// Graceful stop: server.stop() and SIGTERM/SIGINT with handleSignals finish requests in progress,
// close idle keep-alive connections, and exit 0; the grace period bounds the wait; a second signal
// exits at once; without handleSignals serve() installs nothing.
import { test, expect } from "bun:test";
import { connect } from "node:net";
import { serve } from "../../src/index.ts";
import { runFixture, getOnce, sleep } from "./support.ts";

test("server.stop() lets a slow in-flight request finish, refuses new connections, closes idle keep-alive", async () => {
  let entered = 0;
  const server = serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      if (new URL(req.url).pathname === "/slow") {
        entered++;
        await Bun.sleep(400);
        return new Response("slow done");
      }
      return new Response("fast");
    },
  });
  const port = server.port;
  // An idle keep-alive connection: one request answered, the socket left open.
  const idle = connect({ host: "127.0.0.1", port });
  let idleData = "";
  const idleClosed = new Promise<void>((res) => idle.on("close", () => res()));
  idle.setEncoding("latin1");
  idle.on("data", (d: string) => (idleData += d));
  idle.on("error", () => {});
  await new Promise<void>((res) => idle.on("connect", () => res()));
  idle.write(`GET /fast HTTP/1.1\r\nHost: x\r\n\r\n`);
  for (let i = 0; i < 200 && !idleData.includes("fast"); i++) await sleep(5);
  expect(idleData).toContain("fast");

  let slowDone = false;
  const slow = getOnce(port, "/slow");
  void slow.then(() => (slowDone = true), () => {});
  for (let i = 0; i < 200 && entered === 0; i++) await sleep(5);
  expect(entered).toBe(1);
  const stopped = server.stop();
  await idleClosed; // the idle connection is closed at once, not when the slow request ends
  expect(slowDone).toBe(false);
  await expect(getOnce(port, "/fast", 1000)).rejects.toThrow(/ECONNREFUSED|refused/i);
  const r = await slow;
  expect(r).toEqual({ status: 200, body: "slow done" });
  await stopped;
  expect(server.stats().connections).toBe(0);
});

test("SIGTERM with handleSignals: the slow request completes, then exit 0", async () => {
  const c = runFixture("server-child.ts", { handleSignals: true });
  try {
    const info = await c.waitJson((j) => "pid" in j);
    expect(info.backend).toBe("io_uring");
    const t0 = performance.now();
    const slow = getOnce(info.ports[0], "/slow?ms=800");
    await c.waitJson((j) => j.event === "handling");
    c.kill("SIGTERM");
    expect(await slow).toEqual({ status: 200, body: "slow done" });
    expect(await c.exitCode()).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(790);
  } finally {
    c.kill();
  }
});

test("SIGINT with handleSignals exits 0 too", async () => {
  const c = runFixture("server-child.ts", { handleSignals: true });
  try {
    await c.waitJson((j) => "pid" in j);
    c.kill("SIGINT");
    expect(await c.exitCode()).toBe(0);
  } finally {
    c.kill();
  }
});

test("the grace period bounds the wait: a request slower than gracefulTimeout is cut, exit 0", async () => {
  const c = runFixture("server-child.ts", { handleSignals: true, gracefulTimeout: 0.3 });
  try {
    const info = await c.waitJson((j) => "pid" in j);
    const slow = getOnce(info.ports[0], "/slow?ms=20000", 10_000).catch((e: Error) => e);
    await c.waitJson((j) => j.event === "handling");
    const t0 = performance.now();
    c.kill("SIGTERM");
    expect(await c.exitCode(5000)).toBe(0);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3000);
    expect(await slow).toBeInstanceOf(Error);
  } finally {
    c.kill();
  }
});

test("a second signal exits at once (128 + signal)", async () => {
  const c = runFixture("server-child.ts", { handleSignals: true, gracefulTimeout: 30 });
  try {
    const info = await c.waitJson((j) => "pid" in j);
    const slow = getOnce(info.ports[0], "/slow?ms=20000", 10_000).catch((e: Error) => e);
    await c.waitJson((j) => j.event === "handling");
    c.kill("SIGTERM");
    await sleep(100);
    expect(c.proc.exitCode).toBeNull(); // still waiting for the slow request
    const t0 = performance.now();
    c.kill("SIGINT");
    expect(await c.exitCode(3000)).toBe(130);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(await slow).toBeInstanceOf(Error);
  } finally {
    c.kill();
  }
});

test("without handleSignals serve() installs no handler: SIGTERM terminates the process", async () => {
  const c = runFixture("server-child.ts", {});
  try {
    await c.waitJson((j) => "pid" in j);
    c.kill("SIGTERM");
    await c.exitCode();
    expect(c.proc.signalCode).toBe("SIGTERM");
  } finally {
    c.kill();
  }
});
