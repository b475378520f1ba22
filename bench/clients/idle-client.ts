// Opens COUNT keep-alive connections to an HTTP server, sends one request on each, reads the
// response, and then leaves them all open and idle (bench/http.ts, scenario idle-conns).
//
//   bun bench/clients/idle-client.ts HOST PORT COUNT PATH
//
// Prints JSON lines on stdout: {"event":"ready","open":N,"failed":N} once every connection has
// its response (or failed), and {"event":"status","open":N} on SIGUSR2, so the harness can check
// that the server did not drop them while it measured. Runs until killed.
import { responseLength } from "./framing.ts";

const [host = "127.0.0.1", portArg = "", countArg = "", path = "/plaintext"] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
if (!port || !count) {
  process.stderr.write("usage: idle-client.ts HOST PORT COUNT PATH\n");
  process.exit(2);
}

// Connecting in bounded batches keeps the server's accept backlog from overflowing, which would
// turn into 1 s SYN retransmits and a slow, noisy set-up.
const CONCURRENCY = 128;
const request = new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);

interface State {
  buf: string;
  settled: boolean;
  counted: boolean; // included in `open`
  resolve: (ok: boolean) => void;
}

let open = 0;
let failed = 0;
const sockets: Bun.Socket<State>[] = []; // held so nothing is collected while idle


function connectOne(): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const state: State = { buf: "", settled: false, counted: false, resolve };
    const settle = (ok: boolean) => {
      if (state.settled) return;
      state.settled = true;
      resolve(ok);
    };
    state.resolve = settle;
    Bun.connect<State>({
      hostname: host,
      port,
      data: state,
      socket: {
        open(s) {
          s.write(request);
        },
        data(s, bytes) {
          if (s.data.settled) return;
          s.data.buf += new TextDecoder().decode(bytes);
          if (responseLength(s.data.buf) < 0) return; // ASCII bodies, so chars == bytes
          const ok = /^HTTP\/1\.[01] 2\d\d/.test(s.data.buf);
          s.data.buf = "";
          if (ok) {
            open++;
            s.data.counted = true;
            sockets.push(s);
          }
          s.data.resolve(ok);
        },
        close(s) {
          if (s.data.counted) open--;
          s.data.counted = false;
          s.data.resolve(false);
        },
        error(s) {
          s.data.resolve(false);
        },
        connectError() {
          settle(false);
        },
      },
    }).catch(() => settle(false));
  });
}

process.on("SIGUSR2", () => {
  process.stdout.write(JSON.stringify({ event: "status", open }) + "\n");
});

let next = 0;
async function worker() {
  while (next < count) {
    next++;
    if (!(await connectOne())) failed++;
  }
}
await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
process.stdout.write(JSON.stringify({ event: "ready", open, failed }) + "\n");

setInterval(() => {}, 1 << 30); // stay alive, idle, until the harness kills us
