// Routes match the path a handler would see in new URL(req.url).pathname: dot segments resolved,
// fragments dropped. A raw-target mismatch would let "/b/../a" skip a route's checks, or "/a#x" miss it.
import { test, expect, afterAll } from "bun:test";
import net from "node:net";
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
  ["/a#x", "route a"],
  ["/a?q=1#f", "route a"],
  ["/b/../a", "route a"],
  ["/b/./c", "route b"],
  ["/x/..%2fa", "fetch /x/..%2fa"], // an encoded slash is not a separator
] as const) {
  test(`GET ${target} -> ${wanted}`, async () => {
    const got = await get(target);
    expect(got, `GET ${target}: got ${JSON.stringify(got)}, wanted ${JSON.stringify(wanted)}`).toBe(wanted);
  });
}
