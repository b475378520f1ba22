// TCP echo server for bench/echo.ts. SERVER=uring (default) uses listen() from bun-uring,
// SERVER=bun uses Bun.listen; the handlers are shared so only the socket layer differs.
// Env: SERVER, PORT, HOSTNAME (default 127.0.0.1).
// Exits with code 69 and an "UNAVAILABLE:" line when src/index.ts has no listen() yet.
type Listen = typeof Bun.listen;
type Sock = Bun.Socket<undefined>;

const EX_UNAVAILABLE = 69;
const which = process.env.SERVER ?? "uring";
const port = Number(process.env.PORT ?? 3001);
const hostname = process.env.HOSTNAME ?? "127.0.0.1";

function unavailable(why: string): never {
  process.stderr.write(`UNAVAILABLE: ${why}\n`);
  process.exit(EX_UNAVAILABLE);
}

async function loadListen(): Promise<Listen> {
  if (which === "bun") return Bun.listen.bind(Bun) as Listen;
  if (which !== "uring") {
    process.stderr.write(`SERVER must be "uring" or "bun", not "${which}"\n`);
    process.exit(2);
  }
  // Dynamic, computed import: src/index.ts may not export listen() yet (see bench/apps/app.ts).
  const spec = new URL("../../src/index.ts", import.meta.url).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    unavailable(`cannot import src/index.ts (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof mod.listen !== "function") unavailable("src/index.ts does not export listen() yet");
  return mod.listen as Listen;
}

const listen = await loadListen();

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
