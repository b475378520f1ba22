// What an idle keep-alive connection holds: its Connection, and no request state (HttpConnection
// gives itself up between requests: src/net/http/connection.ts, #hibernate). Counted in this
// process's heap with the clients in another process (bench/clients/idle-client.ts).
import { test, expect } from "bun:test";
import { heapStats } from "bun:jsc";
import { join } from "node:path";
import { serve } from "../../src/index.ts";
import { RawHttp, waitFor } from "../support/http.ts";

const CLIENT = join(import.meta.dir, "../../bench/clients/idle-client.ts");

async function openIdle(port: number, count: number): Promise<{ proc: Bun.Subprocess<"ignore", "pipe", "inherit">; open: number }> {
  const proc = Bun.spawn([process.execPath, CLIENT, "127.0.0.1", String(port), String(count), "/"], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const ready = JSON.parse(text.split("\n")[0]!) as { open: number };
  return { proc, open: ready.open };
}

/** Plain objects (class instances count as "Object"): JIT code and structures made meanwhile are not per connection. */
function objectsAfterCollection(): number {
  Bun.gc(true);
  return heapStats().objectTypeCounts.Object ?? 0;
}

test("1000 idle keep-alive connections hold about one object each (their Connection), and each still answers", async () => {
  const server = serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
  try {
    // One wave first: what the first requests make once (JIT, pools) is not per connection.
    const warm = await openIdle(server.port, 500);
    warm.proc.kill();
    await warm.proc.exited;
    for (let i = 0; i < 100 && server.stats().connections > 0; i++) await Bun.sleep(10);
    const before = objectsAfterCollection();
    const { proc, open } = await openIdle(server.port, 1000);
    try {
      expect(open).toBe(1000);
      await Bun.sleep(50);
      const perConnection = (objectsAfterCollection() - before) / open;
      // Before: 2 (the Connection and its HttpConnection, kept while idle).
      expect(perConnection, `objects per idle connection: ${perConnection.toFixed(2)}`).toBeLessThan(1.5);
    } finally {
      proc.kill();
      await proc.exited;
    }
    // A dormant connection wakes for its next request.
    const again = await fetch(server.url);
    expect([again.status, await again.text()]).toEqual([200, "ok"]);
  } finally {
    await server.stop(true);
  }
});

test("a dormant connection's next request, and its idle timeout", async () => {
  const server = serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 1, fetch: (req) => new Response(new URL(req.url).pathname) });
  try {
    const c = await RawHttp.open(server.port);
    await c.write("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor(() => c.text().endsWith("/one"), 1000);
    await Bun.sleep(50); // idle now: dormant
    await c.write("GET /two HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor(() => c.text().endsWith("/two"), 1000);
    expect(c.text().match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    expect(await c.waitEnd(3000), "closed by the idle timeout (1 s)").toBe(true);
    expect(server.stats().timeouts).toBeGreaterThanOrEqual(1);
  } finally {
    await server.stop(true);
  }
});

test("a graceful stop closes dormant connections, and what one sends after it is not processed", async () => {
  let handled = 0;
  const server = serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => (handled++, new Response(new URL(req.url).pathname)) });
  const c = await RawHttp.open(server.port);
  await c.write("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
  await waitFor(() => c.text().endsWith("/one"), 1000);
  await Bun.sleep(50);
  const stopped = server.stop();
  await c.write("GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(await c.waitEnd(2000), "the dormant connection was closed by stop()").toBe(true);
  await stopped;
  expect(handled, "requests handled").toBe(1);
  expect(c.text().includes("/late")).toBe(false);
});
