// A static site on bun-uring: `bun examples/static.ts [dir]` (PORT, default 3000).
// Files are opened, stat'ed and read on io_uring (src/net/http/files.ts); serveStatic confines every
// path to the root (OPENAT2 RESOLVE_BENEATH). The same thing as a command: `bunx bun-uring [dir]`.
import { serve, serveStatic } from "../src/index.ts";

const site = serveStatic(process.argv[2] ?? ".", { listing: true, headers: { "cache-control": "max-age=60" } });

const server = serve({
  port: Number(process.env.PORT ?? 3000),
  routes: {
    // A single file as a route value: sent by the same io_uring path (Range, 304, ...).
    "/readme": Bun.file(new URL("../README.md", import.meta.url).pathname),
  },
  fetch: (req) => site(req),
});

console.log(`serving ${site.root} at ${server.url.href}`);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    server.stop().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
