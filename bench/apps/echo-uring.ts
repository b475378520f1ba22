// TCP echo server for bench/echo.ts. SERVER=uring (default) uses listen() from bun-uring,
// SERVER=bun uses Bun.listen; the handlers are shared so only the socket layer differs.
// Env: SERVER, PORT, HOSTNAME (default 127.0.0.1).
// Exits with code 69 and an "UNAVAILABLE:" line when src/index.ts has no listen() yet.
import { choose } from "./choose.ts";

type Listen = typeof Bun.listen;
type Sock = Bun.Socket<undefined>;

const which = process.env.SERVER ?? "uring";
const port = Number(process.env.PORT ?? 3001);
const hostname = process.env.HOSTNAME ?? "127.0.0.1";

const listen = await choose<Listen>(which, Bun.listen.bind(Bun) as Listen, "listen");

// Bytes a short write left behind, sent on drain. With one 64-byte message in flight per
// connection this never fills, but an echo server that drops bytes would be wrong.
const backlog = new WeakMap<Sock, Uint8Array>();

function send(sock: Sock, bytes: Uint8Array) {
  const n = sock.write(bytes);
  if (n >= 0 && n < bytes.length) backlog.set(sock, bytes.subarray(n));
}

const server = listen<undefined>({
  hostname,
  port,
  socket: {
    data(sock, bytes) {
      const pending = backlog.get(sock);
      if (pending) {
        // Keep the order: append behind what is still waiting for drain.
        const joined = new Uint8Array(pending.length + bytes.length);
        joined.set(pending);
        joined.set(bytes, pending.length);
        backlog.set(sock, joined);
        return;
      }
      send(sock, bytes);
    },
    drain(sock) {
      const pending = backlog.get(sock);
      if (!pending) return;
      backlog.delete(sock);
      send(sock, pending);
    },
    close(sock) {
      backlog.delete(sock);
    },
  },
});

process.stdout.write(`${which} echo listening on ${hostname}:${server.port}\n`);
