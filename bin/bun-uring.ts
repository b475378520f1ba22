#!/usr/bin/env bun
// A static file server on bun-uring: `bunx bun-uring [dir] [--port N] [--host H] [--log] [--listing]`.
// Prints the URL it serves at; Ctrl-C (SIGINT) or SIGTERM stops it gracefully (requests in progress
// finish) and exits 0; a second signal exits at once.
import { serve, serveStatic, cluster, isClusterWorker, resolveWorkers } from "../src/index.ts";

const USAGE = `usage: bun-uring [dir] [--port N] [--host H] [--workers N|auto] [--log] [--listing]

Serves the files under dir (default: the current directory).
  --port N, -p N   port (default: $PORT, else 8080; 0 picks a free one)
  --host H         address to listen on (default 0.0.0.0)
  --workers N      N processes (one io_uring each) sharing the port with SO_REUSEPORT;
                   "auto" = one per CPU; a worker that dies is restarted (default 1)
  --log            one access-log line per response on stdout
  --listing        list directories that have no index.html
`;

function fail(msg: string): never {
  process.stderr.write(`bun-uring: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

let dir = ".";
let port = process.env.PORT !== undefined && process.env.PORT !== "" ? Number(process.env.PORT) : 8080;
let host = "0.0.0.0";
let log = false;
let listing = false;
let workers: number | undefined;
const args = process.argv.slice(2);
let sawDir = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  const value = () => {
    const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
    if (v === undefined) fail(`${a} needs a value`);
    return v;
  };
  if (a === "--help" || a === "-h") {
    process.stdout.write(USAGE);
    process.exit(0);
  } else if (a === "--port" || a === "-p" || a.startsWith("--port=")) port = Number(value());
  else if (a === "--host" || a.startsWith("--host=")) host = value();
  else if (a === "--workers" || a.startsWith("--workers=")) {
    try {
      workers = resolveWorkers(value());
    } catch (e) {
      fail((e as Error).message);
    }
  } else if (a === "--log") log = true;
  else if (a === "--listing") listing = true;
  else if (a.startsWith("-")) fail(`unknown option ${a}`);
  else if (sawDir) fail(`one directory only (got "${dir}" and "${a}")`);
  else {
    dir = a;
    sawDir = true;
  }
}
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be an integer in [0, 65535]`);

if (workers !== undefined && workers > 1 && !isClusterWorker()) {
  // The primary serves nothing: it runs this same command in each worker and restarts them.
  if (port === 0) fail("--workers needs a fixed --port (workers share it with SO_REUSEPORT)");
  cluster(import.meta.path, { workers, args });
  const shown = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  process.stdout.write(`bun-uring serving ${dir} at http://${shown}:${port}/ with ${workers} workers\n`);
} else {
  await runServer();
}

async function runServer(): Promise<void> {
  const started = new WeakMap<Request, number>();
  const accessLog = (req: Request, status: number, bytes: number) => {
    const t0 = started.get(req);
    const ms = t0 === undefined ? "" : ` ${(performance.now() - t0).toFixed(1)}ms`;
    const path = req.url.slice(req.url.indexOf("/", req.url.indexOf("//") + 2));
    const ip = server?.requestIP?.(req)?.address ?? "-";
    process.stdout.write(`${new Date().toISOString()} ${ip} "${req.method} ${path}" ${status} ${bytes < 0 ? "cut" : bytes}${ms}\n`);
  };

  let files: ReturnType<typeof serveStatic>;
  try {
    files = serveStatic(dir, { listing, onResponse: log ? accessLog : undefined });
  } catch (e) {
    process.stderr.write(`bun-uring: ${(e as Error).message}\n`);
    process.exit(1);
  }

  let server: ReturnType<typeof serve> | undefined;
  try {
    server = serve({
      port,
      hostname: host,
      development: false,
      // In a cluster worker, serve() handles SIGTERM itself (the primary sends it once to each).
      handleSignals: isClusterWorker(),
      fetch(req) {
        if (log) started.set(req, performance.now());
        return files(req);
      },
    });
  } catch (e) {
    process.stderr.write(`bun-uring: cannot listen on ${host}:${port}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const srv = server;

  const shownHost = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  process.stdout.write(`bun-uring serving ${files.root} at http://${shownHost}:${srv.port}/\n`);

  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) process.exit(130); // a second Ctrl-C: don't wait
    stopping = true;
    process.stdout.write(`\n${sig}: stopping\n`);
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    srv.stop().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  if (!isClusterWorker()) {
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGTERM", () => stop("SIGTERM"));
  }
}
