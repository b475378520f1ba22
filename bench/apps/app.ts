// The benchmark app, run twice by bench/http.ts: with SERVER=uring on bun-uring's serve() and with
// SERVER=bun on Bun.serve. Everything below the choice of `serve` is shared, so any difference in
// the numbers comes from the server, not from the app.
//
// Env: SERVER=uring|bun, PORT, HOSTNAME (default 127.0.0.1), STATIC_DIR (files for /static/<name>).
// Exits with code 69 (EX_UNAVAILABLE) and an "UNAVAILABLE:" line when bun-uring has no serve() yet.
import { readdirSync } from "node:fs";
import { join } from "node:path";

import { choose } from "./choose.ts";
import { STREAM_EVENTS } from "./events.mjs";

type Serve = typeof Bun.serve;

const which = process.env.SERVER ?? "bun";
const port = Number(process.env.PORT ?? 3000);
const hostname = process.env.HOSTNAME ?? "127.0.0.1";
const staticDir = process.env.STATIC_DIR;

// Only files present at start-up are served, which also rules out path traversal.
const files = new Map<string, string>();
if (staticDir) for (const name of readdirSync(staticDir)) files.set(name, join(staticDir, name));

const serve = await choose<Serve>(which, Bun.serve.bind(Bun) as Serve, "serve");

const plainHeaders = { "Content-Type": "text/plain" };
const eventHeaders = { "Content-Type": "text/event-stream" };
const message = "Hello, World!";

const server = serve({
  port,
  hostname,
  // Long enough that the idle-conns scenario's connections outlive the measurement.
  idleTimeout: 120,
  fetch(req) {
    // Cheaper than new URL(): req.url is absolute, so the path starts at the first "/" after "//".
    const url = req.url;
    const at = url.indexOf("/", url.indexOf("//") + 2);
    const q = url.indexOf("?", at);
    const path = at < 0 ? "/" : url.slice(at, q < 0 ? undefined : q);

    if (path === "/plaintext") return new Response(message, { headers: plainHeaders });
    if (path === "/json") return Response.json({ message });
    if (path === "/upload") return req.bytes().then((b) => new Response(String(b.length)));
    if (path === "/stream") {
      // A producer that makes each event when asked (pull), as a server-sent-events endpoint does.
      let i = 0;
      const events = new ReadableStream<string>({
        pull(c) {
          if (i < STREAM_EVENTS.length) c.enqueue(STREAM_EVENTS[i++]!);
          else c.close();
        },
      });
      return new Response(events, { headers: eventHeaders });
    }
    if (path.startsWith("/static/")) {
      const file = files.get(path.slice(8));
      if (file) return new Response(Bun.file(file));
    }
    return new Response("Not Found", { status: 404 });
  },
});

process.stdout.write(`${which} listening on ${hostname}:${server.port}\n`);
