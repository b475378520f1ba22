// `npm run soak -- --minutes N` (default 10): a mixed load from this process against serve() in a child
// process, sampled every 10 s. Fails (exit 1) when
//   - the server's RSS grows more than 10% after the warm-up (the first minute, or the first third of a
//     short run): the last sample against the one at the end of the warm-up, both right after a GC;
//   - a counter does not return to its idle baseline at the end (connections, pending requests, op
//     slots, receive buffers out, send chunks, queued bytes, direct-descriptor slots, open fds);
//   - an answer comes that the load did not ask for (anything but its 200s, 404s and 400s, or a
//     connection error where the client did nothing wrong).
// Writes a CSV and an SVG plot of RSS and p99 latency over time (bench/results/soak.csv, soak.svg; with
// --quick, soak-quick.*; --out DIR elsewhere).
//
// The load, all at once: keep-alive GETs (fetch), pipelined bursts of 16 (raw socket), uploads with
// Content-Length and chunked (fetch), static downloads through serveStatic (1 KB, 64 KB, 1 MB, a 404, a
// HEAD), clients that abort mid-head, mid-body and mid-download, clients that dribble their head, a
// client that reads a large answer slowly, and malformed requests (their 400 is asked for).
//
//   --minutes N | --seconds N   length (default 10 minutes)
//   --quick                     a lighter load, samples every 5 s, for `npm test` (30 s)
//   --interval S                seconds between samples (default 10, 5 with --quick)
//   --out DIR                   where the CSV and SVG go
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const argv = process.argv.slice(2);
const arg = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

if (argv[0] === "--serve") await serveMode(argv[1]!);
else await driveMode();

// ---------------------------------------------------------------------------------------------------------
// The server (child process)

async function serveMode(root: string): Promise<void> {
  const { serve, serveStatic } = await import("../src/index.ts");
  const big = new Uint8Array(1024 * 1024).fill(0x61);
  const files = serveStatic(root, { prefix: "/static" });
  const server = serve({
    port: 0,
    hostname: "127.0.0.1",
    development: false,
    idleTimeout: 3,
    headerTimeout: 5,
    routes: { "/static/*": files },
    async fetch(req) {
      const path = (req as unknown as { _path?: string })._path ?? new URL(req.url).pathname;
      switch (path) {
        case "/hello":
          return new Response("Hello, World!");
        case "/upload": {
          let b: Uint8Array;
          try {
            b = new Uint8Array(await req.arrayBuffer());
          } catch {
            return new Response("upload cut short\n", { status: 400 }); // a client that aborted mid-body
          }
          return new Response(`${b.length} ${Bun.hash(b).toString(16)}`);
        }
        case "/big":
          return new Response(big);
        case "/__stats":
          return Response.json({ ...server.stats(), rss: process.memoryUsage().rss });
        case "/__gc":
          Bun.gc(true);
          return new Response("ok");
        default:
          return new Response("no such path\n", { status: 404 });
      }
    },
  });
  process.stdout.write(`${JSON.stringify({ port: server.port, pid: process.pid })}\n`);
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}

// ---------------------------------------------------------------------------------------------------------
// The driver

interface Sample {
  t: number;
  rss: number;
  fds: number;
  connections: number;
  opsInFlight: number;
  pendingRequests: number;
  buffersOut: number;
  queuedBytes: number;
  sendChunksInUse: number;
  fileSlotsInUse: number;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  unexpected: number;
}

async function driveMode(): Promise<void> {
  const quick = argv.includes("--quick");
  const seconds = arg("seconds") !== undefined ? Number(arg("seconds")) : Number(arg("minutes") ?? 10) * 60;
  const interval = Number(arg("interval") ?? (quick ? 5 : 10));
  const outDir = arg("out") ?? join(import.meta.dir, "..", "bench", "results");
  const name = quick ? "soak-quick" : "soak";
  if (!(seconds > 0) || !(interval > 0)) {
    console.error("usage: bun scripts/soak.ts [--minutes N | --seconds N] [--quick] [--interval S] [--out DIR]");
    process.exit(2);
  }
  const warmup = Math.min(60, seconds / 3);

  // Static files the load downloads, with their hashes.
  const root = mkdtempSync(join(tmpdir(), "bun-uring-soak-"));
  const statics: Record<string, { size: number; hash: string }> = {};
  for (const [file, size] of [["small.txt", 1024], ["medium.bin", 64 * 1024], ["large.bin", 1024 * 1024]] as const) {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (i * 2654435761) >>> 24;
    writeFileSync(join(root, file), b);
    statics[file] = { size, hash: Bun.hash(b).toString(16) };
  }

  const child = spawn(process.execPath, [import.meta.path, "--serve", root], { stdio: ["pipe", "pipe", "inherit"] });
  const hello = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${hello.port}`;
  const failures: string[] = [];
  const unexpected: string[] = [];
  const note = (what: string) => {
    if (unexpected.length < 50) unexpected.push(what);
    counters.unexpected++;
  };
  const counters = { requests: 0, unexpected: 0, asked4xx: 0, aborted: 0 };
  let latencies: number[] = [];
  let stopping = false;
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  const procRss = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${hello.pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : -1;
  };
  const procFds = () => readdirSync(`/proc/${hello.pid}/fd`).length;
  const stats = async () => (await (await fetch(`${base}/__stats`, { keepalive: false })).json()) as Record<string, number>;
  const gc = async () => void (await (await fetch(`${base}/__gc`, { keepalive: false })).text());

  // --- the load -------------------------------------------------------------------------------------

  async function keepAlive(): Promise<void> {
    while (!stopping) {
      const t0 = performance.now();
      try {
        const r = await fetch(`${base}/hello`);
        const body = await r.text();
        latencies.push(performance.now() - t0);
        counters.requests++;
        if (r.status !== 200 || body !== "Hello, World!") note(`/hello: ${r.status} ${body.slice(0, 40)}`);
      } catch (e) {
        note(`/hello: ${(e as Error).message}`);
      }
    }
  }

  async function uploads(): Promise<void> {
    let n = 0;
    while (!stopping) {
      const size = 1024 + ((n * 7919) % (quick ? 128 : 512)) * 1024;
      const b = new Uint8Array(size);
      for (let i = 0; i < size; i += 4096) b[i] = (n + i) & 0xff;
      const chunked = n++ % 2 === 1;
      const body = chunked
        ? new ReadableStream<Uint8Array>({
            start(c) {
              for (let o = 0; o < size; o += 65536) c.enqueue(b.subarray(o, Math.min(size, o + 65536)));
              c.close();
            },
          })
        : b;
      try {
        const r = await fetch(`${base}/upload`, { method: "POST", body, duplex: "half" } as RequestInit);
        const text = await r.text();
        counters.requests++;
        if (r.status !== 200 || text !== `${size} ${Bun.hash(b).toString(16)}`) note(`/upload ${size}${chunked ? " chunked" : ""}: ${r.status} ${text.slice(0, 60)}`);
      } catch (e) {
        note(`/upload: ${(e as Error).message}`);
      }
    }
  }

  async function downloads(): Promise<void> {
    const names = Object.keys(statics);
    let n = 0;
    while (!stopping) {
      const k = n++ % (names.length + 2);
      try {
        if (k < names.length) {
          const f = names[k]!;
          const r = await fetch(`${base}/static/${f}`);
          const b = new Uint8Array(await r.arrayBuffer());
          counters.requests++;
          if (r.status !== 200 || b.length !== statics[f]!.size || Bun.hash(b).toString(16) !== statics[f]!.hash) note(`/static/${f}: ${r.status}, ${b.length} bytes`);
        } else if (k === names.length) {
          const r = await fetch(`${base}/static/missing.txt`);
          await r.arrayBuffer();
          counters.requests++;
          counters.asked4xx++;
          if (r.status !== 404) note(`/static/missing.txt: ${r.status}`);
        } else {
          const r = await fetch(`${base}/static/large.bin`, { method: "HEAD" });
          await r.arrayBuffer();
          counters.requests++;
          if (r.status !== 200 || r.headers.get("content-length") !== String(statics["large.bin"]!.size)) note(`HEAD /static/large.bin: ${r.status} ${r.headers.get("content-length")}`);
        }
      } catch (e) {
        note(`static: ${(e as Error).message}`);
      }
    }
  }

  /** A raw connection (Bun.connect): write, read what comes, know when it ends. */
  async function raw(): Promise<{ write(s: string): void; text(): string; closed(): boolean; until(f: () => boolean, ms: number): Promise<boolean>; end(): void; kill(): void }> {
    let text = "";
    let closed = false;
    const sock = await Bun.connect({
      hostname: "127.0.0.1",
      port: hello.port,
      socket: {
        data(_s, d) {
          text += d.toString("latin1");
        },
        close() {
          closed = true;
        },
        error() {},
      },
    });
    return {
      write: (s) => void sock.write(s),
      text: () => text,
      closed: () => closed,
      async until(f, ms) {
        const end = performance.now() + ms;
        while (!f()) {
          if (performance.now() > end) return false;
          await sleep(2);
        }
        return true;
      },
      end: () => sock.end(),
      kill: () => sock.terminate(),
    };
  }

  async function pipelined(): Promise<void> {
    const burst = "GET /hello HTTP/1.1\r\nHost: soak\r\n\r\n".repeat(16);
    while (!stopping) {
      try {
        const c = await raw();
        for (let round = 0; round < 50 && !stopping; round++) {
          const before = (c.text().match(/Hello, World!/g) ?? []).length;
          c.write(burst);
          const ok = await c.until(() => (c.text().match(/Hello, World!/g) ?? []).length >= before + 16 || c.closed(), 5000);
          const got = (c.text().match(/HTTP\/1\.1 200 /g) ?? []).length;
          if (!ok || c.closed() || got !== before + 16) {
            note(`pipelined: ${got - before} of 16 answers${c.closed() ? ", closed" : ""}`);
            break;
          }
          counters.requests += 16;
        }
        c.end();
      } catch (e) {
        note(`pipelined: ${(e as Error).message}`);
      }
    }
  }

  async function aborting(): Promise<void> {
    let n = 0;
    while (!stopping) {
      const k = n++ % 4;
      try {
        if (k === 3) {
          // A download the client gives up on halfway.
          const ac = new AbortController();
          const r = await fetch(`${base}/static/large.bin`, { signal: ac.signal });
          const reader = r.body!.getReader();
          await reader.read();
          ac.abort();
          await reader.read().catch(() => {});
        } else {
          const c = await raw();
          if (k === 0) c.write("GET /hello HTTP/1.1\r\nHost: so"); // mid-head
          else if (k === 1) c.write("POST /upload HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(5000)); // mid-body
          else c.write("GET /big HTTP/1.1\r\nHost: soak\r\n\r\n"); // mid-response
          await sleep(k === 2 ? 5 : 2);
          if (n % 2) c.kill();
          else c.end();
        }
        counters.aborted++;
      } catch (e) {
        if ((e as Error).name !== "AbortError") note(`aborting: ${(e as Error).message}`);
      }
      await sleep(5);
    }
  }

  async function slow(): Promise<void> {
    let n = 0;
    while (!stopping) {
      try {
        const c = await raw();
        if (n++ % 2 === 0) {
          // A head dribbled byte by byte, well inside the header deadline.
          const req = "GET /hello HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n";
          for (const ch of req) {
            c.write(ch);
            await sleep(3);
          }
          await c.until(() => c.closed(), 5000);
          counters.requests++;
          if (!/^HTTP\/1\.1 200 [^]*Hello, World!$/.test(c.text())) note(`slow head: ${JSON.stringify(c.text().slice(0, 60))}`);
        } else {
          // A reader that lets the 1 MB answer wait in the socket before taking it.
          c.write("GET /big HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n");
          await sleep(300);
          await c.until(() => c.closed(), 10_000);
          counters.requests++;
          if (!c.text().startsWith("HTTP/1.1 200 ") || !c.text().endsWith("a".repeat(64)) || c.text().length < 1024 * 1024) note(`slow reader: ${c.text().length} bytes`);
        }
      } catch (e) {
        note(`slow: ${(e as Error).message}`);
      }
    }
  }

  async function malformed(): Promise<void> {
    const bad = ["GET / HTTP/1.1\r\nHost: soak\r\nBad Header: x\r\n\r\n", "POST / HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "GET /\tHTTP/1.1\r\n\r\n"];
    let n = 0;
    while (!stopping) {
      try {
        const c = await raw();
        c.write(bad[n++ % bad.length]!);
        await c.until(() => c.closed(), 5000);
        counters.requests++;
        counters.asked4xx++;
        if (!c.text().startsWith("HTTP/1.1 400 ") || !c.closed()) note(`malformed: ${JSON.stringify(c.text().slice(0, 40))}`);
      } catch (e) {
        note(`malformed: ${(e as Error).message}`);
      }
      await sleep(20);
    }
  }

  // --- warm-up check, baseline ----------------------------------------------------------------------

  const idle = async (ms: number) => {
    const end = performance.now() + ms;
    let s = await stats();
    while (performance.now() < end && (s.connections! > 1 || s.pendingRequests! > 0 || s.queuedBytes! > 0)) {
      await sleep(200);
      s = await stats();
    }
    return s;
  };
  // One of each kind before the baseline, so lazily created things (file cache, pools) exist.
  for (const f of Object.keys(statics)) await (await fetch(`${base}/static/${f}`, { keepalive: false })).arrayBuffer();
  await (await fetch(`${base}/upload`, { method: "POST", body: "x", keepalive: false })).text();
  await sleep(3500); // the server's idle timeout closes fetch's pooled connections
  const b0 = await idle(5000);
  await sleep(500); // the stats request's own connection closes
  const baseline = { ...b0, fds: procFds() } as Record<string, number>;

  // --- run ------------------------------------------------------------------------------------------

  const loops: Promise<void>[] = [];
  const n = (full: number, q: number) => (quick ? q : full);
  for (let i = 0; i < n(8, 3); i++) loops.push(keepAlive());
  for (let i = 0; i < n(2, 1); i++) loops.push(pipelined());
  for (let i = 0; i < n(2, 1); i++) loops.push(uploads());
  for (let i = 0; i < n(2, 1); i++) loops.push(downloads());
  loops.push(aborting(), slow(), malformed());

  const samples: Sample[] = [];
  const t0 = performance.now();
  let lastRequests = 0;
  let lastT = 0;
  let warmRss = -1;
  console.log(`soak: ${seconds} s (warm-up ${warmup.toFixed(0)} s), sample every ${interval} s, server pid ${hello.pid} on port ${hello.port}${quick ? ", quick" : ""}`);
  const take = async (): Promise<Sample> => {
    const s = await stats();
    const t = (performance.now() - t0) / 1000;
    const lat = latencies.sort((a, b) => a - b);
    latencies = [];
    const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : 0);
    const sample: Sample = {
      t,
      rss: procRss(),
      fds: procFds(),
      connections: s.connections!,
      opsInFlight: s.opsInFlight!,
      pendingRequests: s.pendingRequests!,
      buffersOut: s.buffersOut!,
      queuedBytes: s.queuedBytes!,
      sendChunksInUse: s.sendChunksInUse!,
      fileSlotsInUse: s.fileSlotsInUse ?? 0,
      requests: counters.requests,
      rps: (counters.requests - lastRequests) / Math.max(0.001, t - lastT),
      p50: q(0.5),
      p99: q(0.99),
      unexpected: counters.unexpected,
    };
    lastRequests = counters.requests;
    lastT = t;
    samples.push(sample);
    console.log(
      `soak: ${t.toFixed(0).padStart(4)} s  rss ${(sample.rss / 1048576).toFixed(1)} MB  fds ${sample.fds}  conns ${sample.connections}  ops ${sample.opsInFlight}  ` +
        `${sample.rps.toFixed(0)} req/s  p50 ${sample.p50.toFixed(2)} ms  p99 ${sample.p99.toFixed(2)} ms  unexpected ${sample.unexpected}`,
    );
    return sample;
  };

  let nextSample = interval;
  let warmDone = false;
  while ((performance.now() - t0) / 1000 < seconds) {
    const el = (performance.now() - t0) / 1000;
    if (!warmDone && el >= warmup) {
      warmDone = true;
      await gc();
      warmRss = (await take()).rss;
      console.log(`soak: warm-up over, RSS ${(warmRss / 1048576).toFixed(1)} MB is the reference`);
      nextSample = el + interval;
      continue;
    }
    if (el >= nextSample) {
      await take();
      nextSample += interval;
    }
    await sleep(100);
  }
  stopping = true;
  await Promise.all(loops);
  await gc();
  const last = await take();

  // --- end: counters back to their baseline ---------------------------------------------------------
  await sleep(3500); // idle timeout
  const end = await idle(8000);
  await sleep(500);
  const endFds = procFds();
  const back: [string, number, number][] = [
    ["connections", end.connections!, baseline.connections!],
    ["pendingRequests", end.pendingRequests!, baseline.pendingRequests!],
    ["opsInFlight", end.opsInFlight!, baseline.opsInFlight!],
    ["buffersOut", end.buffersOut!, baseline.buffersOut!],
    ["sendChunksInUse", end.sendChunksInUse!, baseline.sendChunksInUse!],
    ["queuedBytes", end.queuedBytes!, baseline.queuedBytes!],
    ["fileSlotsInUse", end.fileSlotsInUse ?? 0, baseline.fileSlotsInUse ?? 0],
    ["open fds", endFds, baseline.fds],
  ];
  for (const [what, got, want] of back) if (got !== want) failures.push(`${what} ended at ${got}, baseline ${want}`);
  const growth = warmRss > 0 ? last.rss / warmRss - 1 : 0;
  if (growth > 0.1) failures.push(`RSS grew ${(growth * 100).toFixed(1)}% after the warm-up (${(warmRss / 1048576).toFixed(1)} -> ${(last.rss / 1048576).toFixed(1)} MB)`);
  if (counters.unexpected > 0) failures.push(`${counters.unexpected} unexpected answers or errors, first: ${unexpected.slice(0, 5).join(" | ")}`);
  if (counters.requests === 0) failures.push("no requests were made");

  // --- outputs --------------------------------------------------------------------------------------
  mkdirSync(outDir, { recursive: true });
  const cols: (keyof Sample)[] = ["t", "rss", "fds", "connections", "opsInFlight", "pendingRequests", "buffersOut", "queuedBytes", "sendChunksInUse", "fileSlotsInUse", "requests", "rps", "p50", "p99", "unexpected"];
  const csv = [cols.join(","), ...samples.map((s) => cols.map((c) => (c === "rss" ? (s.rss / 1048576).toFixed(2) : Number.isInteger(s[c]) ? s[c] : (s[c] as number).toFixed(3))).join(","))].join("\n") + "\n";
  writeFileSync(join(outDir, `${name}.csv`), csv.replace(/^t,rss,/, "t_s,rss_mb,").replace(",p50,p99,", ",p50_ms,p99_ms,"));
  writeFileSync(join(outDir, `${name}.svg`), plot(samples, warmup, warmRss));

  child.stdin!.end();
  child.kill();
  rmSync(root, { recursive: true, force: true });
  console.log(
    `soak: ${counters.requests} requests (${counters.asked4xx} 4xx asked for, ${counters.aborted} aborted clients), RSS ${(warmRss / 1048576).toFixed(1)} MB after warm-up -> ${(last.rss / 1048576).toFixed(1)} MB at the end (${growth >= 0 ? "+" : ""}${(growth * 100).toFixed(1)}%), ` +
      `p99 ${Math.max(...samples.map((s) => s.p99)).toFixed(2)} ms at worst; wrote ${join(outDir, name)}.csv/.svg`,
  );
  if (failures.length) {
    console.log(`soak: FAILED\n  ${failures.join("\n  ")}`);
    process.exit(1);
  }
  console.log("soak: passed (RSS within 10%, counters back to baseline, no unexpected answers)");
  process.exit(0);
}

/** RSS (MB, left axis) and p99 latency (ms, right axis) over time, as a small self-contained SVG. */
function plot(samples: Sample[], warmup: number, warmRss: number): string {
  const W = 720, H = 360, L = 60, R = 60, T = 30, B = 40;
  const pw = W - L - R, ph = H - T - B;
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const rssMax = Math.max(1, ...samples.map((s) => s.rss / 1048576)) * 1.15;
  const p99Max = Math.max(1, ...samples.map((s) => s.p99)) * 1.15;
  const x = (t: number) => L + (t / tMax) * pw;
  const yR = (v: number) => T + ph - (v / rssMax) * ph;
  const yP = (v: number) => T + ph - (v / p99Max) * ph;
  const path = (f: (s: Sample) => number) => samples.map((s, i) => `${i ? "L" : "M"}${x(s.t).toFixed(1)},${f(s).toFixed(1)}`).join(" ");
  const ticks = (max: number, y: (v: number) => number, xPos: number, anchor: string, fmt: (v: number) => string) =>
    [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${xPos}" y="${(y(max * f) + 4).toFixed(1)}" text-anchor="${anchor}" font-size="11">${fmt(max * f)}</text>`).join("");
  const band = warmRss > 0 ? `<rect x="${L}" y="${yR((warmRss / 1048576) * 1.1).toFixed(1)}" width="${pw}" height="${(yR(warmRss / 1048576) - yR((warmRss / 1048576) * 1.1)).toFixed(1)}" fill="#1f77b4" opacity="0.08"/>` : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">serve() soak: RSS and p99 latency over time (band: warm-up RSS + 10%)</text>
${band}
<line x1="${x(warmup).toFixed(1)}" y1="${T}" x2="${x(warmup).toFixed(1)}" y2="${T + ph}" stroke="#999" stroke-dasharray="4,3"/>
<text x="${(x(warmup) + 4).toFixed(1)}" y="${T + 12}" font-size="10" fill="#666">warm-up</text>
<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>
<path d="${path((s) => yR(s.rss / 1048576))}" fill="none" stroke="#1f77b4" stroke-width="2"/>
<path d="${path((s) => yP(s.p99))}" fill="none" stroke="#d62728" stroke-width="2"/>
${ticks(rssMax, yR, L - 6, "end", (v) => v.toFixed(0))}
${ticks(p99Max, yP, W - R + 6, "start", (v) => v.toFixed(1))}
${[0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${x(tMax * f).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle" font-size="11">${(tMax * f).toFixed(0)}</text>`).join("")}
<text x="${W / 2}" y="${H - 6}" text-anchor="middle" font-size="11">seconds</text>
<text x="14" y="${T + ph / 2}" font-size="11" fill="#1f77b4" transform="rotate(-90 14 ${T + ph / 2})" text-anchor="middle">RSS (MB)</text>
<text x="${W - 12}" y="${T + ph / 2}" font-size="11" fill="#d62728" transform="rotate(90 ${W - 12} ${T + ph / 2})" text-anchor="middle">p99 latency (ms)</text>
</svg>
`;
}
