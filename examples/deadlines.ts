// Deadlines on bun-uring: `bun examples/deadlines.ts` (PORT, default 3000).
//
// - headerTimeout: a client has 2 s to send a whole request head (a slowloris is cut with 408).
// - idleTimeout: a keep-alive connection idle for 5 s is closed.
// - server.timeout(req, s): /slow allows its handler 30 s instead of the idle timeout.
// - a raw LINK_TIMEOUT: /tick waits on an IORING_OP_TIMEOUT chain through the reactor itself.
import { serve, defaultReactor } from "../src/index.ts";

const reactor = defaultReactor();

/** Resolve after `ms` using an io_uring TIMEOUT op (what LINK_TIMEOUT deadlines are made of). */
function ringSleep(ms: number): Promise<number> {
  return new Promise((resolve) => {
    reactor.timeout(ms, { complete: (res) => resolve(res) });
  });
}

const server = serve({
  port: Number(process.env.PORT ?? 3000),
  headerTimeout: 2,
  idleTimeout: 5,
  async fetch(req, srv) {
    const { pathname } = new URL(req.url);
    if (pathname === "/slow") {
      srv.timeout(req, 30);
      await Bun.sleep(8000); // longer than idleTimeout: allowed by server.timeout above
      return new Response("slow, but allowed\n");
    }
    if (pathname === "/tick") {
      const t0 = performance.now();
      const res = await ringSleep(250);
      return new Response(`TIMEOUT op completed with ${res} (-62 is -ETIME) after ${(performance.now() - t0).toFixed(1)} ms\n`);
    }
    return new Response("try /slow or /tick; a slow client is cut after 2 s, an idle one after 5 s\n");
  },
});

console.log(`deadlines example on ${server.url.href}`);
