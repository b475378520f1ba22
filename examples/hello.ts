// TechEmpower-style app on bun-uring: `npm start` (PORT, default 3000).
import { serve } from "../src/index.ts";

const server = serve({
  port: Number(process.env.PORT ?? 3000),
  routes: {
    "/plaintext": () => new Response("Hello, World!", { headers: { "Content-Type": "text/plain", Server: "bun-uring" } }),
    "/json": () => Response.json({ message: "Hello, World!" }, { headers: { Server: "bun-uring" } }),
  },
  fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/") {
      return new Response(
        "bun-uring: Bun.serve on io_uring.\n\n" +
          "  GET /plaintext   Hello, World! (text/plain)\n" +
          "  GET /json        {\"message\":\"Hello, World!\"}\n\n" +
          "Use it in your app: import { serve } from \"bun-uring\" and call serve() as you would Bun.serve().\n",
        { headers: { Server: "bun-uring" } },
      );
    }
    return new Response("Not Found\n", { status: 404, headers: { Server: "bun-uring" } });
  },
});

console.log(`bun-uring listening on ${server.url.href} (try /plaintext and /json)`);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    server.stop().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
