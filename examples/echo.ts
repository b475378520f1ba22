// A TCP echo server on bun-uring's raw API: `PORT=3000 bun examples/echo.ts`.
import { listen } from "../src/index.ts";

const server = listen({
  hostname: process.env.HOST ?? "0.0.0.0",
  port: Number(process.env.PORT ?? 3000),
  borrowData: true, // the view is written straight back: no copy needed
  socket: {
    data(socket, data) {
      socket.write(data);
    },
  },
});
console.log(`echo server listening on ${server.hostname}:${server.port}`);
process.on("SIGINT", () => {
  server.stop(true);
  process.exit(0);
});
