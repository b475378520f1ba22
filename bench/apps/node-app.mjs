// The benchmark app on node:http, for comparison with bench/apps/app.ts (same routes, same bodies).
// Env: PORT, HOSTNAME (default 127.0.0.1), STATIC_DIR.
import { createServer } from "node:http";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { STREAM_EVENTS } from "./events.mjs";

const port = Number(process.env.PORT ?? 3000);
const hostname = process.env.HOSTNAME ?? "127.0.0.1";
const staticDir = process.env.STATIC_DIR;

// Files are read once at start-up (a cached read): Node's fastest way to serve them, which is the
// fair counterpart of nginx's open_file_cache and Bun.file's sendfile.
const files = new Map();
if (staticDir) for (const name of readdirSync(staticDir)) files.set(name, readFileSync(join(staticDir, name)));

const message = "Hello, World!";

const server = createServer((req, res) => {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  if (path === "/plaintext") {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": message.length });
    res.end(message);
  } else if (path === "/json") {
    const body = JSON.stringify({ message });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  } else if (path === "/upload") {
    // The body read whole, as bench/apps/app.ts does with req.bytes().
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = String(Buffer.concat(chunks).length);
      res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
      res.end(body);
    });
  } else if (path === "/stream") {
    // The events one write each, as bench/apps/app.ts streams them (chunked: no length is given).
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    for (const e of STREAM_EVENTS) res.write(e);
    res.end();
  } else if (path.startsWith("/static/") && files.has(path.slice(8))) {
    const buf = files.get(path.slice(8));
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": buf.length });
    res.end(buf);
  } else {
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("Not Found");
  }
});

// Same idle allowance as the Bun app (idleTimeout: 120): Node's default 5 s keep-alive timeout
// would close the idle-conns scenario's connections before they are counted.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
server.listen(port, hostname, () => process.stdout.write(`node listening on ${hostname}:${port}\n`));
