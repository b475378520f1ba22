// HTTP benchmark harness (issue #6): bun-uring's serve() against Bun.serve, node:http, nginx and a
// minimal C liburing server.
//
//   bun bench/http.ts [--quick] [--scenarios a,b] [--servers x,y] [--rounds N] [--duration S]
//                     [--warmup S] [--idle-conns N] [--out DIR]
//
// Every run starts a fresh server pinned to CPU 0 and loads it with `wrk -t1` pinned to CPU 1, so
// the two never compete for a core. Per run it records requests/s, requests per server
// CPU-second (on-CPU time of the server's process tree over the measured window), wrk's p50/p99,
// errors and RSS. Rounds interleave the servers (A B C, A B C, ...) so slow drifts of the machine
// hit all of them alike, and each figure is the median over the rounds.
// Results: bench/results/latest.{json,md,svg}; --quick writes bench/results/quick.* instead and
// only checks that every available server answers with 2xx.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { grouped, medianOf, mib, micros, parseOptions, ratio, times, type Options } from "./lib/common.ts";
import {
  benchDir, buildC, cpuBetween, ensureTool, exited, freePort, killTree, log, machine, pinned, sleep, start, treeCpu,
  treeRssKB, machineBusySeconds, compilerCpuSeconds, selfCpuSeconds, waitForPort, which, type Machine, type Proc,
} from "./lib/proc.ts";
import { barChartSvg, machineLine, mdTable, type Panel } from "./lib/report.ts";
import { STREAM_EVENTS } from "./apps/events.mjs";

const SCENARIOS = ["plaintext", "pipelined", "json", "close", "static-1k", "static-64k", "static-1m", "upload-4m", "stream", "idle-conns", "latency", "low-rate"];
const SERVERS = ["bun-uring", "bun", "node", "nginx", "c-uring"];
const BASELINE = "bun";
const PIPELINE_DEPTH = 16;
const CONNECTIONS = 64;
const HELLO = "Hello, World!";
const STATIC_SIZES: Record<string, number> = { "static-1k": 1024, "static-64k": 64 * 1024, "static-1m": 1024 * 1024 };
/** upload-4m: POSTs of this many bytes to /upload, which reads the body whole and answers its length. */
const UPLOAD_BYTES = 4 * 1024 * 1024;
const UPLOAD_CONNECTIONS = 4;
/** low-rate: one connection, this long between a response and the next request (the server goes idle). */
const LOW_RATE_GAP_MS = 20;
const EX_UNAVAILABLE = 69; // what bench/apps/app.ts exits with when src/index.ts has no serve()

const USAGE = `usage: bun bench/http.ts [--quick] [--scenarios a,b] [--servers x,y] [--rounds N] [--duration S]
                         [--warmup S] [--idle-conns N] [--out DIR]
       bun bench/http.ts --render bench/results/latest.json   (rewrite .md/.svg from a report)
  scenarios: ${SCENARIOS.join(", ")}
  servers:   ${SERVERS.join(", ")}
  --quick    1 round of 2 s, 500 idle connections; checks every server answers 2xx; writes quick.*
  durations are whole seconds (wrk's -d has no finer unit)
`;

// ---------------------------------------------------------------------------------------------
// Scenarios and servers

interface Scenario {
  name: string;
  path: string;
  connections: number;
  pipeline: number; // requests per write; 1 = plain keep-alive
  idle: boolean; // the idle-conns scenario (no wrk)
  upload: boolean; // POSTs of UPLOAD_BYTES
  close: boolean; // each request asks to close its connection (a new connection a request)
  gapMs: number; // > 0: measured by bench/clients/sequential.ts with this pause between requests, not by wrk
}

function scenario(name: string): Scenario {
  const s: Scenario = { name, path: "/plaintext", connections: CONNECTIONS, pipeline: 1, idle: false, upload: false, close: false, gapMs: 0 };
  if (name === "pipelined") s.pipeline = PIPELINE_DEPTH;
  if (name === "json") s.path = "/json";
  if (name in STATIC_SIZES) s.path = `/static/${name.slice(7)}.bin`;
  if (name === "latency") s.connections = 1;
  if (name === "low-rate") Object.assign(s, { connections: 1, gapMs: LOW_RATE_GAP_MS });
  if (name === "idle-conns") s.idle = true;
  if (name === "upload-4m") Object.assign(s, { path: "/upload", connections: UPLOAD_CONNECTIONS, upload: true });
  if (name === "stream") s.path = "/stream";
  if (name === "close") s.close = true;
  return s;
}

/** The C server answers every request with the plaintext response, so it only fits these. */
const C_SCENARIOS = new Set(["plaintext", "pipelined", "latency", "low-rate"]);
// nginx has no application to hand an upload to (it would discard the body unread) or to stream events from.
const supports = (server: string, sc: string) =>
  (server !== "c-uring" || C_SCENARIOS.has(sc)) && (server !== "nginx" || (sc !== "upload-4m" && sc !== "stream"));

interface Env {
  tmp: string;
  staticDir: string;
  files: Map<string, Buffer>; // path -> expected body, for the correctness check
  uploadFile: string; // the upload-4m request body
  wrk: string | null;
  node: string | null;
  nginx: string | null;
  nginxTempPaths: string[];
  cUring: string | null;
}

function serverCommand(env: Env, server: string, port: number): { argv: string[]; env: Record<string, string> } {
  const appEnv = { PORT: String(port), HOSTNAME: "127.0.0.1", STATIC_DIR: env.staticDir };
  switch (server) {
    case "bun-uring":
      return { argv: [process.execPath, join(benchDir, "apps/app.ts")], env: { ...appEnv, SERVER: "uring" } };
    case "bun":
      return { argv: [process.execPath, join(benchDir, "apps/app.ts")], env: { ...appEnv, SERVER: "bun" } };
    case "node":
      return { argv: [env.node!, join(benchDir, "apps/node-app.mjs")], env: appEnv };
    case "nginx": {
      const dir = join(env.tmp, "nginx");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "nginx.conf"), nginxConf(env, dir, port));
      return { argv: [env.nginx!, "-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], env: {} };
    }
    case "c-uring":
      return { argv: [env.cUring!, String(port), "127.0.0.1"], env: {} };
  }
  throw new Error(`unknown server ${server}`);
}

function nginxConf(env: Env, dir: string, port: number): string {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const temps = env.nginxTempPaths.map((m) => `  ${m}_temp_path ${dir}/${m}_temp;`).join("\n");
  return `# Generated by bench/http.ts: one worker, like the other single-threaded servers.
${isRoot ? "user root; # workers must read the temp dir, which is private to us" : ""}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
  worker_connections 20000;
}
http {
  access_log off;
${temps}
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  # keep-alive like the other servers: no request cap per connection, 120 s idle allowance
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /plaintext {
      default_type text/plain;
      return 200 "${HELLO}";
    }
    location = /json {
      default_type application/json;
      return 200 '{"message":"${HELLO}"}';
    }
    location /static/ {
      alias ${env.staticDir}/;
    }
  }
}
`;
}

// ---------------------------------------------------------------------------------------------
// One run

type Metrics = Record<string, number>;
type RunOutcome =
  | { kind: "ok"; m: Metrics; note?: string }
  | { kind: "unavailable"; reason: string }
  | { kind: "failed"; reason: string };

const live = new Set<Proc>(); // killed on Ctrl-C

async function withServer<T extends RunOutcome>(
  env: Env, server: string, sc: Scenario, body: (p: Proc, port: number) => Promise<T>,
): Promise<RunOutcome> {
  const port = await freePort();
  const cmd = serverCommand(env, server, port);
  const p = start(pinned(0, cmd.argv), { env: cmd.env });
  live.add(p);
  try {
    const err = await waitForPort(p, port);
    if (err) {
      const said = p.stderr.last || p.stdout.last;
      if (p.proc.exitCode === EX_UNAVAILABLE) {
        const line = said.split("\n").find((l) => l.startsWith("UNAVAILABLE:")) ?? said;
        return { kind: "unavailable", reason: line.replace(/^UNAVAILABLE:\s*/, "") };
      }
      return { kind: "failed", reason: `${err}${said ? `: ${said.split("\n").slice(-3).join(" | ")}` : ""}` };
    }
    const bad = await checkResponse(env, port, sc);
    if (bad) return { kind: "failed", reason: `GET ${sc.path}: ${bad}` };
    const out = await body(p, port);
    if (out.kind === "ok" && exited(p)) return { kind: "failed", reason: `server exited during the run (${p.proc.exitCode ?? p.proc.signalCode}): ${p.stderr.last.slice(-300)}` };
    return out;
  } finally {
    await killTree(p);
    live.delete(p);
  }
}

/** One request outside the load, checking status and body: a fast wrong server is no result. */
async function checkResponse(env: Env, port: number, sc: Scenario): Promise<string | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${sc.path}`, {
      headers: { Connection: "close" },
      signal: AbortSignal.timeout(5000),
      ...(sc.upload ? { method: "POST", body: readFileSync(env.uploadFile) } : {}),
    });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status < 200 || res.status > 299) return `status ${res.status}`;
    if (sc.upload) return body.toString() === String(UPLOAD_BYTES) ? null : `upload answered ${JSON.stringify(body.toString().slice(0, 80))}, wanted ${UPLOAD_BYTES}`;
    if (sc.path === "/stream") return body.toString() === STREAM_EVENTS.join("") ? null : `stream answered ${body.length} bytes, not the ${STREAM_EVENTS.length} events`;
    const expected = env.files.get(sc.path);
    if (expected) return expected.equals(body) ? null : `body of ${body.length} bytes, expected the ${expected.length}-byte file`;
    if (sc.path === "/json") {
      const j = JSON.parse(body.toString()) as { message?: unknown };
      return j.message === HELLO ? null : `unexpected JSON ${body.toString().slice(0, 80)}`;
    }
    return body.toString() === HELLO ? null : `unexpected body ${JSON.stringify(body.toString().slice(0, 80))}`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

interface WrkOut {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
  clientCpuSec: number;
}

async function runWrk(env: Env, port: number, sc: Scenario, seconds: number): Promise<WrkOut | string> {
  const script = join(benchDir, "wrk", sc.pipeline > 1 ? "pipeline.lua" : sc.upload ? "upload.lua" : "report.lua");
  const argv = [
    env.wrk!, "-t1", `-c${sc.connections}`, `-d${seconds}s`, "--latency", "--timeout", "5s", "-s", script,
    ...(sc.close ? ["-H", "Connection: close"] : []),
    `http://127.0.0.1:${port}${sc.path}`, ...(sc.pipeline > 1 ? ["--", String(sc.pipeline)] : []),
  ];
  const p = start(pinned(1, argv), sc.upload ? { env: { ...process.env, UPLOAD_FILE: env.uploadFile, REPORT_LUA: join(benchDir, "wrk", "report.lua") } } : {});
  live.add(p);
  const code = await p.proc.exited;
  live.delete(p);
  await sleep(10); // let the output pumps finish
  const m = /WRK_JSON (\{.*\})/.exec(p.stdout.text);
  if (code !== 0 || !m) return `wrk exited ${code}: ${(p.stderr.last || p.stdout.last).slice(-300)}`;
  const usage = p.proc.resourceUsage();
  // Typed as number, but Bun 1.3 hands out bigints here.
  const cpu = usage ? Number(usage.cpuTime.total) / 1e6 : NaN;
  return { ...(JSON.parse(m[1]!) as Omit<WrkOut, "clientCpuSec">), clientCpuSec: cpu };
}

const NOISY_PCT = 25;

/** What a load generator reports of one measured run. */
interface Load {
  requests: number;
  seconds: number;
  p50Us: number;
  p99Us: number;
  non2xx: number;
  socketErrors: number;
  clientCpuSec: number;
}

/** One measured wrk run against an already started, warmed-up server. */
function measure(env: Env, opts: Options, p: Proc, port: number, sc: Scenario): Promise<Metrics | string> {
  return measureWhile(p, async () => {
    const w = await runWrk(env, port, sc, opts.duration);
    if (typeof w === "string") return w;
    if (w.requests === 0) return "wrk completed no request";
    return {
      requests: w.requests, seconds: w.duration_us / 1e6, p50Us: w.p50_us, p99Us: w.p99_us,
      non2xx: w.status, socketErrors: w.connect + w.read + w.write + w.timeout, clientCpuSec: w.clientCpuSec,
    };
  });
}

/** The server's CPU, the machine's and RSS around one run of a load generator, as Metrics. */
async function measureWhile(p: Proc, run: () => Promise<Load | string>): Promise<Metrics | string> {
  const busy0 = machineBusySeconds();
  const self0 = selfCpuSeconds();
  const cpu0 = treeCpu(p.pid);
  const t0 = performance.now();
  const w = await run();
  const wall = (performance.now() - t0) / 1000;
  const { total: cpu, sys } = cpuBetween(cpu0, treeCpu(p.pid));
  const busy = machineBusySeconds() - busy0;
  const self = selfCpuSeconds() - self0;
  const rssKB = treeRssKB(p.pid);
  if (typeof w === "string") return w;
  const others = Math.max(0, busy - cpu - w.clientCpuSec - self);
  return {
    rps: w.requests / w.seconds,
    reqPerCpuSec: cpu > 0 ? w.requests / cpu : NaN,
    // Where a request's CPU goes: the kernel's part (TCP, io_uring or epoll) and the process's own.
    userUsPerReq: ((cpu - sys) / w.requests) * 1e6,
    sysUsPerReq: (sys / w.requests) * 1e6,
    p50Us: w.p50Us,
    p99Us: w.p99Us,
    errors: w.non2xx + w.socketErrors,
    non2xx: w.non2xx,
    socketErrors: w.socketErrors,
    rssKB,
    serverCpuPct: (cpu / wall) * 100,
    clientCpuPct: (w.clientCpuSec / wall) * 100,
    otherCpuPct: (others / wall) * 100, // CPU taken by unrelated processes: noise
    requests: w.requests,
    cpuSec: cpu,
  };
}

async function loadRun(env: Env, opts: Options, server: string, sc: Scenario): Promise<RunOutcome> {
  return withServer(env, server, sc, async (p, port) => {
    const warmed = await warmUp(env, opts, p, port, sc);
    if (typeof warmed === "string") return { kind: "failed", reason: `warm-up: ${warmed}` };
    // On a shared 2-core machine a neighbour's burst can halve a run; repeat a noisy measurement
    // (at most twice, not in quick mode) and keep the quietest attempt.
    let best: Metrics | null = null;
    for (let attempt = 1; attempt <= (opts.quick ? 1 : 3); attempt++) {
      const m = sc.gapMs > 0 ? await measureSpaced(opts, p, port, sc) : await measure(env, opts, p, port, sc);
      if (typeof m === "string") return { kind: "failed", reason: m };
      if (!best || m.otherCpuPct! < best.otherCpuPct!) best = m;
      if (m.otherCpuPct! <= NOISY_PCT) break;
      if (attempt < 3 && !opts.quick) log(`[${sc.name}] ${server}: other processes took ${m.otherCpuPct!.toFixed(0)}% of a CPU; measuring again`);
    }
    const m = best!;
    m.warmupSec = warmed;
    if (sc.name === "latency") {
      const seq = await runSequential(port, sc, opts.duration);
      if (typeof seq === "string") return { kind: "failed", reason: `sequential client: ${seq}` };
      Object.assign(m, seq);
    }
    return { kind: "ok", m };
  });
}

/**
 * The warm-up: --warmup seconds of the scenario's load, then a second more at a time while the JIT
 * compiler still takes over SETTLED_JIT_SHARE of a CPU (at most MAX_EXTRA_WARMUP_S more); returns
 * the seconds it took. Pinned to one CPU, a JS server's compiler threads run in its main thread's
 * time: measured before they settle, a run counts one-time compiling as the cost of requests, and
 * at one connection (some 1/5 of 64 connections' requests a second) a 1 s warm-up left ~300 ms of
 * compiling in the next 5 s, each compile a 3-90 ms pause (JSC's reportCompileTimes; schedstat of
 * the JITWorker thread). Both servers get the same rule; a native server settles at once.
 */
const SETTLED_JIT_SHARE = 0.01;
const MAX_EXTRA_WARMUP_S = 8;
async function warmUp(env: Env, opts: Options, p: Proc, port: number, sc: Scenario): Promise<number | string> {
  if (opts.warmup <= 0) return 0;
  const w = await runWrk(env, port, sc, opts.warmup);
  if (typeof w === "string") return w;
  let seconds = opts.warmup;
  while (!opts.quick && seconds < opts.warmup + MAX_EXTRA_WARMUP_S) {
    const jit0 = compilerCpuSeconds(p.pid);
    const t0 = performance.now();
    const more = await runWrk(env, port, sc, 1);
    if (typeof more === "string") return more;
    seconds += 1;
    if (compilerCpuSeconds(p.pid) - jit0 <= SETTLED_JIT_SHARE * ((performance.now() - t0) / 1000)) break;
  }
  return seconds;
}

/**
 * The low-rate scenario: bench/clients/sequential.ts sends a request sc.gapMs after each response, so
 * the server idles between requests (an event loop parks, a CPU may sleep); CPU per request and
 * each request's own latency.
 */
function measureSpaced(opts: Options, p: Proc, port: number, sc: Scenario): Promise<Metrics | string> {
  return measureWhile(p, async () => {
    const c = start(pinned(1, [process.execPath, join(benchDir, "clients/sequential.ts"), String(port), String(opts.duration), sc.path, String(sc.gapMs)]));
    live.add(c);
    const code = await c.proc.exited;
    live.delete(c);
    await sleep(10); // let the output pumps finish
    const m = /SEQ_JSON (\{.*\})/.exec(c.stdout.text);
    if (code !== 0 || !m) return `sequential client exited ${code}: ${(c.stderr.last || c.stdout.last).slice(-300)}`;
    const j = JSON.parse(m[1]!) as { requests: number; seconds: number; p50_us: number; p99_us: number };
    if (j.requests === 0) return "the sequential client completed no request";
    const usage = c.proc.resourceUsage();
    const clientCpuSec = usage ? Number(usage.cpuTime.total) / 1e6 : NaN;
    return { requests: j.requests, seconds: j.seconds, p50Us: j.p50_us, p99Us: j.p99_us, non2xx: 0, socketErrors: 0, clientCpuSec };
  });
}

/**
 * The latency scenario's second view: bench/clients/sequential.ts keeps every request's own
 * latency, where wrk's percentiles are corrected for coordinated omission (see that file).
 */
async function runSequential(port: number, sc: Scenario, seconds: number): Promise<Metrics | string> {
  const p = start(pinned(1, [process.execPath, join(benchDir, "clients/sequential.ts"), String(port), String(seconds), sc.path]));
  live.add(p);
  const code = await p.proc.exited;
  live.delete(p);
  await sleep(10); // let the output pumps finish
  const m = /SEQ_JSON (\{.*\})/.exec(p.stdout.text);
  if (code !== 0 || !m) return `exited ${code}: ${(p.stderr.last || p.stdout.last).slice(-300)}`;
  const j = JSON.parse(m[1]!) as { p50_us: number; p99_us: number; p999_us: number; slow_per_s: number };
  return { seqP50Us: j.p50_us, seqP99Us: j.p99_us, seqP999Us: j.p999_us, seqSlowPerSec: j.slow_per_s };
}

function waitForLine(p: Proc, event: string, timeoutMs: number): Promise<Record<string, number> | null> {
  return (async () => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const line of p.stdout.text.split("\n")) {
        if (!line.includes(`"event":"${event}"`)) continue;
        return JSON.parse(line) as Record<string, number>;
      }
      if (exited(p)) return null;
      await sleep(50);
    }
    return null;
  })();
}

/**
 * Idle connections in three views. On a fresh server, a first wave that also pays the server's
 * one-time growth (JIT code, heap growth, pages first touched), then a second after the first has
 * closed (memory the first left behind, reused or not). On another fresh server warmed by wrk as the
 * load scenarios are, one wave: the cost of a connection itself, on a server that has worked.
 */
async function idleRun(env: Env, opts: Options, server: string, sc: Scenario): Promise<RunOutcome> {
  const cold = await withServer(env, server, sc, async (p, port): Promise<RunOutcome> => {
    await sleep(300); // let the check's connection close and the server settle
    const first = await idleWave(p, port, opts);
    if (typeof first === "string") return { kind: "failed", reason: first };
    await sleep(1500); // the server sees the first wave's connections close
    const second = await idleWave(p, port, opts);
    if (typeof second === "string") return { kind: "failed", reason: `second wave: ${second}` };
    const m: Metrics = {
      conns: opts.idleConns,
      open: first.open,
      errors: opts.idleConns - first.open,
      rssBeforeKB: first.before,
      rssAfterKB: first.after,
      kbPerConn: (first.after - first.before) / first.open,
      rssClosedKB: second.before,
      rssSecondKB: second.after,
      kbPerConnSecond: (second.after - second.before) / second.open,
    };
    return { kind: "ok", m };
  });
  if (cold.kind !== "ok") return cold;
  return withServer(env, server, sc, async (p, port): Promise<RunOutcome> => {
    const fresh = treeRssKB(p.pid);
    const w = await runWrk(env, port, sc, Math.max(1, opts.warmup));
    if (typeof w === "string") return { kind: "failed", reason: `warm-up: ${w}` };
    await sleep(1500); // wrk's connections close; the server goes idle
    const warm = await idleWave(p, port, opts);
    if (typeof warm === "string") return { kind: "failed", reason: `wave after a warm-up: ${warm}` };
    const m = cold.m;
    m.warmupGrowthKB = warm.before - fresh;
    m.rssWarmBeforeKB = warm.before;
    m.rssWarmAfterKB = warm.after;
    m.kbPerConnWarm = (warm.after - warm.before) / warm.open;
    m.errors += opts.idleConns - warm.open;
    return { kind: "ok", m };
  });
}

/** Open opts.idleConns connections, one request each; RSS before and once they are idle; then close them. */
async function idleWave(p: Proc, port: number, opts: Options): Promise<{ open: number; before: number; after: number } | string> {
  const before = treeRssKB(p.pid);
  const client = start(pinned(1, [process.execPath, join(benchDir, "clients/idle-client.ts"), "127.0.0.1", String(port), String(opts.idleConns), "/plaintext"]));
  live.add(client);
  try {
    const ready = await waitForLine(client, "ready", 30_000 + opts.idleConns * 5);
    if (!ready) return `idle client did not finish: ${client.stderr.last.slice(-300)}`;
    await sleep(1000); // the server may finish allocating after the last response
    const after = treeRssKB(p.pid);
    client.stdout.text = "";
    process.kill(client.pid, "SIGUSR2");
    const status = await waitForLine(client, "status", 5000);
    const open = Math.min(ready.open ?? 0, status?.open ?? 0); // connections dropped meanwhile don't count
    if (open === 0) return `no connection stayed open (failed: ${ready.failed})`;
    return { open, before, after };
  } finally {
    await killTree(client);
    live.delete(client);
  }
}

// ---------------------------------------------------------------------------------------------
// Results

interface Row {
  scenario: string;
  server: string;
  status: "ok" | "unavailable" | "failed" | "skipped";
  reason?: string;
  rounds: Metrics[];
  failedRounds: number;
  median: Record<string, number | null>;
  vsBun: Record<string, number | null>;
}

interface Report {
  kind: "http";
  machine: Machine;
  config: Omit<Options, "outDir"> & { connections: number; pipelineDepth: number; command: string };
  servers: Record<string, { status: "ok" | "unavailable" | "skipped"; reason?: string }>;
  results: Row[];
}

function progress(sc: string, server: string, round: number, rounds: number, out: RunOutcome) {
  const head = `[${sc}] ${server.padEnd(9)} round ${round}/${rounds}:`;
  if (out.kind !== "ok") return log(`${head} ${out.kind} (${out.reason})`);
  const m = out.m;
  if (sc === "idle-conns") {
    return log(
      `${head} ${m.open} idle conns, RSS ${mib(m.rssBeforeKB)} -> ${mib(m.rssAfterKB)} = ${m.kbPerConn!.toFixed(2)} KB/conn; ` +
        `second wave ${mib(m.rssClosedKB)} -> ${mib(m.rssSecondKB)} = ${m.kbPerConnSecond!.toFixed(2)} KB/conn; ` +
        `after a warm-up (+${mib(m.warmupGrowthKB)}) ${mib(m.rssWarmBeforeKB)} -> ${mib(m.rssWarmAfterKB)} = ${m.kbPerConnWarm!.toFixed(2)} KB/conn`,
    );
  }
  log(
    `${head} ${grouped(m.rps)} req/s, ${grouped(m.reqPerCpuSec)} req/CPU-s, p50 ${micros(m.p50Us)}, p99 ${micros(m.p99Us)}` +
      `${m.errors ? `, ${m.errors} errors` : ""} (CPU: server ${m.serverCpuPct!.toFixed(0)}%, wrk ${m.clientCpuPct!.toFixed(0)}%` +
      `${m.otherCpuPct! > 10 ? `, OTHER PROCESSES ${m.otherCpuPct!.toFixed(0)}%` : ""})` +
      `${m.seqP99Us !== undefined ? `; sequential client p50 ${micros(m.seqP50Us)}, p99 ${micros(m.seqP99Us)}, p99.9 ${micros(m.seqP999Us)}` : ""}`,
  );
}

function summarize(rows: Row[]) {
  for (const r of rows) {
    if (r.rounds.length === 0) continue;
    r.median = medianOf(r.rounds);
    r.median.errors = r.rounds.reduce((a, m) => a + (m.errors ?? 0), 0); // errors: the total, never hidden by a median
  }
  for (const r of rows) {
    const base = rows.find((b) => b.scenario === r.scenario && b.server === BASELINE)?.median ?? {};
    r.vsBun = {};
    for (const k of ["rps", "reqPerCpuSec", "kbPerConn", "kbPerConnSecond", "kbPerConnWarm", "warmupGrowthKB"]) if (k in r.median) r.vsBun[k] = ratio(r.median[k], base[k]);
  }
}

function markdown(rep: Report): string {
  const c = rep.config;
  const out: string[] = [];
  out.push(`# HTTP benchmark${c.quick ? " (quick check, not a measurement)" : ""}\n`);
  out.push(`${machineLine(rep.machine)}  \n${rep.machine.date}\n`);
  out.push(
    `Server pinned to CPU 0, \`wrk -t1\` pinned to CPU 1; ${c.rounds} round(s) of ${c.duration} s after ${c.warmup} s of warm-up and then a second more at a time until the JIT compiler threads take under ${SETTLED_JIT_SHARE * 100}% of a CPU (at most ${MAX_EXTRA_WARMUP_S} s more: the "warm-up" column), ` +
      `servers interleaved within each round; every figure is the median over the rounds (errors: the total). ` +
      `${c.connections} connections (latency: 1, upload-4m: ${UPLOAD_CONNECTIONS}), pipelined depth ${c.pipelineDepth}. ` +
      `low-rate: one connection, a request ${LOW_RATE_GAP_MS} ms after each response, sent by bench/clients/sequential.ts instead of wrk ` +
      `(its p50/p99 are the requests' own, its CPU in the wrk column). ` +
      `req/CPU-s = completed requests / on-CPU time of the server's process tree (every thread's schedstat: exact, where utime + stime are 250 Hz samples, too few at low load); user and sys µs/req split it per request in utime's and stime's proportion (stime is the kernel's TCP and I/O work). "vs bun" = ratio to Bun.serve.\n`,
  );
  out.push(`Command: \`${c.command}\`\n`);
  const wrkRows = rep.results.filter((r) => r.scenario !== "idle-conns");
  if (wrkRows.length) {
    const rows = wrkRows.map((r) => {
      if (r.status !== "ok") return [r.scenario, r.server, r.status, "", "", "", "", "", "", "", "", "", "", "", ""];
      const m = r.median;
      const us = (v: number | null | undefined) => (v == null || !Number.isFinite(v) ? "-" : v.toFixed(2));
      return [
        r.scenario, r.server, grouped(m.rps), times(r.vsBun.rps ?? null), grouped(m.reqPerCpuSec), times(r.vsBun.reqPerCpuSec ?? null),
        us(m.userUsPerReq), us(m.sysUsPerReq),
        micros(m.p50Us), micros(m.p99Us), String(m.errors ?? 0), mib(m.rssKB),
        `${(m.serverCpuPct ?? 0).toFixed(0)}%`, `${(m.clientCpuPct ?? 0).toFixed(0)}%`, m.warmupSec == null ? "-" : `${m.warmupSec} s`,
      ];
    });
    out.push(mdTable(
      ["scenario", "server", "req/s", "vs bun", "req/CPU-s", "vs bun", "user µs/req", "sys µs/req", "p50", "p99", "errors", "RSS", "server CPU", "wrk CPU", "warm-up"],
      rows, [false, false, true, true, true, true, true, true, true, true, true, true, true, true, true],
    ));
  }
  const seq = rep.results.filter((r) => r.scenario === "latency" && r.status === "ok" && r.median.seqP99Us != null);
  if (seq.length) {
    out.push(`\n## One connection, sequential requests: two views of the tail\n`);
    out.push(
      `wrk's p50/p99 above are corrected for coordinated omission (wrk.c \`stats_correct\`: a latency of at least twice the ` +
        `mean interval adds synthetic samples at every interval below it), so at one connection each pause of D µs also counts ` +
        `as about D/60 slow requests: its p99 measures how long and how often the server pauses (garbage collections, for a ` +
        `JS server). The sequential client (bench/clients/sequential.ts, pinned to CPU 1, ${c.duration} s after wrk) keeps each ` +
        `request's own latency.\n`,
    );
    out.push(mdTable(
      ["server", "p50", "p99", "p99.9", "requests > 300 µs per s", "wrk p99 (corrected)"],
      seq.map((r) => [r.server, micros(r.median.seqP50Us), micros(r.median.seqP99Us), micros(r.median.seqP999Us),
        (r.median.seqSlowPerSec ?? 0).toFixed(1), micros(r.median.p99Us)]),
      [false, true, true, true, true, true],
    ));
  }
  const idle = rep.results.filter((r) => r.scenario === "idle-conns");
  if (idle.length) {
    out.push(`\n## Idle keep-alive connections\n`);
    out.push(
      `${c.idleConns} connections, one request each, then idle; RSS of the server's process tree before and after. ` +
        `First wave: on a fresh server, so it includes one-time growth (JIT code, heap growth, pages touched for the first time). ` +
        `Second wave: the same again 1.5 s after the first has closed. ` +
        `Memory freed when a connection closes (malloc'd, in C servers and Bun.serve) is reused at once; bun-uring's connection ` +
        `state is JS objects, returned only by a later full collection, so its second wave shows the first wave's objects not yet collected. ` +
        `After a warm-up: another fresh server, given wrk's load for ${Math.max(1, c.warmup)} s at ${c.connections} connections as the load ` +
        `scenarios are (its growth in the "warm-up" column), then one wave: what an idle connection itself costs.\n`,
    );
    const kb = (v: number | null | undefined) => (v == null || !Number.isFinite(v) ? "-" : v.toFixed(2));
    out.push(mdTable(
      ["server", "open", "RSS before", "RSS after", "KB/conn", "vs bun", "KB/conn, second wave", "vs bun", "warm-up", "KB/conn, after a warm-up", "vs bun"],
      idle.map((r) => r.status !== "ok"
        ? [r.server, r.status, "", "", "", "", "", "", "", "", ""]
        : [r.server, grouped(r.median.open), mib(r.median.rssBeforeKB), mib(r.median.rssAfterKB),
          kb(r.median.kbPerConn), times(r.vsBun.kbPerConn ?? null),
          kb(r.median.kbPerConnSecond), times(r.vsBun.kbPerConnSecond ?? null),
          r.median.warmupGrowthKB == null ? "-" : `+${mib(r.median.warmupGrowthKB)}`,
          kb(r.median.kbPerConnWarm), times(r.vsBun.kbPerConnWarm ?? null)]),
      [false, true, true, true, true, true, true, true, true, true, true],
    ));
  }
  const notes: string[] = [];
  for (const [s, v] of Object.entries(rep.servers)) if (v.status !== "ok") notes.push(`- \`${s}\`: ${v.status}${v.reason ? ` — ${v.reason}` : ""}`);
  for (const r of rep.results) {
    if (r.status === "failed" || r.failedRounds) notes.push(`- ${r.scenario} / ${r.server}: ${r.failedRounds} failed round(s): ${r.reason}`);
    if ((r.median.otherCpuPct ?? 0) > 10) notes.push(`- ${r.scenario} / ${r.server}: other processes on the machine used ${(r.median.otherCpuPct ?? 0).toFixed(0)}% of a CPU during the runs; these figures are noisy.`);
    const srv = r.median.serverCpuPct, cli = r.median.clientCpuPct;
    if (r.scenario !== "latency" && r.scenario !== "low-rate" && srv != null && cli != null && srv < 80 && cli < 80)
      notes.push(`- ${r.scenario} / ${r.server}: neither the server (${srv.toFixed(0)}%) nor wrk (${cli.toFixed(0)}%) kept its core busy: the server stalls between responses (or the VM was descheduled); req/s understates what the CPU could do.`);
    if ((r.median.clientCpuPct ?? 0) > 90) notes.push(`- ${r.scenario} / ${r.server}: wrk used ${(r.median.clientCpuPct ?? 0).toFixed(0)}% of its core, so the client may be the limit, not the server; compare req/CPU-s rather than req/s.`);
  }
  if (notes.length) out.push(`\n## Notes\n\n${notes.join("\n")}\n`);
  out.push(`\n![requests per server CPU-second](${c.quick ? "quick" : "latest"}.svg)\n`);
  return out.join("\n");
}

function chart(rep: Report): string {
  // Unavailable servers stay in the legend (marked) so a chart without bun-uring says why.
  const servers = Object.keys(rep.servers).filter((s) => rep.servers[s]!.status !== "skipped");
  const hasData = (s: string) => rep.results.some((r) => r.server === s && r.status === "ok");
  const series = servers;
  const panels: Panel[] = [];
  for (const sc of rep.config.scenarios) {
    const rows = rep.results.filter((r) => r.scenario === sc);
    if (!rows.length) continue;
    const val = (s: string, k: string) => {
      const r = rows.find((x) => x.server === s && x.status === "ok");
      return r ? (r.median[k] ?? null) : null;
    };
    if (sc === "idle-conns") panels.push({ title: sc, subtitle: "KB per idle connection, after a warm-up (lower is better)", values: series.map((s) => val(s, "kbPerConnWarm")) });
    else panels.push({ title: sc, subtitle: "requests per server CPU-second", values: series.map((s) => val(s, "reqPerCpuSec")) });
  }
  return barChartSvg(
    `bun-uring HTTP benchmark${rep.config.quick ? " (quick check)" : ""}: requests per server CPU-second (higher is better)`,
    `${machineLine(rep.machine)} · ${rep.machine.date.slice(0, 10)}`,
    series.map((s) => (hasData(s) ? s : `${s} (${rep.servers[s]!.status === "ok" ? "no result" : rep.servers[s]!.status})`)), panels,
  );
}

// ---------------------------------------------------------------------------------------------
// Main

async function prepare(opts: Options): Promise<{ env: Env; servers: Report["servers"] }> {
  const tmp = mkdtempSync(join(tmpdir(), "bun-uring-bench-"));
  const staticDir = join(tmp, "static");
  mkdirSync(staticDir);
  const files = new Map<string, Buffer>();
  for (const [name, size] of Object.entries(STATIC_SIZES)) {
    // Non-repeating-looking content, deterministic so runs are comparable.
    const buf = Buffer.alloc(size);
    let x = 0x12345678;
    for (let i = 0; i < size; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      buf[i] = 32 + ((x >>> 16) % 95);
    }
    const file = `${name.slice(7)}.bin`;
    writeFileSync(join(staticDir, file), buf);
    files.set(`/static/${file}`, buf);
  }

  const uploadFile = join(tmp, "upload.bin");
  writeFileSync(uploadFile, Buffer.alloc(UPLOAD_BYTES, "u"));

  const servers: Report["servers"] = {};
  const skip = (s: string, reason: string) => {
    servers[s] = { status: "skipped", reason };
    log(`[bench] skipping ${s}: ${reason}`);
  };
  // Every scenario uses wrk (idle-conns for its warm-up).
  const wrk = ensureTool("wrk", "wrk");
  if (!wrk) log("[bench] wrk not found (and not root to install it): skipping every scenario; apt-get install -y wrk");
  let node: string | null = null, nginx: string | null = null, cUring: string | null = null;
  const nginxTempPaths: string[] = [];
  for (const s of opts.servers) {
    servers[s] = { status: "ok" };
    if (s === "node" && !(node = which("node"))) skip(s, "node not found");
    if (s === "nginx") {
      nginx = ensureTool("nginx", "nginx-light");
      if (!nginx) skip(s, "nginx not found (apt-get install -y nginx-light)");
      else {
        // Point every compiled-in temp directory into our temp dir (no writes to /var/lib/nginx).
        const v = Bun.spawnSync([nginx, "-V"], { stdout: "pipe", stderr: "pipe" }).stderr.toString();
        nginxTempPaths.push("client_body");
        for (const m of ["proxy", "fastcgi", "uwsgi", "scgi"]) if (!v.includes(`--without-http_${m}_module`)) nginxTempPaths.push(m);
      }
    }
    if (s === "c-uring") {
      const b = buildC("uring-http", true);
      if ("skip" in b) skip(s, b.skip);
      else cUring = b.bin;
    }
  }
  return { env: { tmp, staticDir, files, uploadFile, wrk, node, nginx, nginxTempPaths, cUring }, servers };
}

/** `--render FILE.json`: rewrite the .md and .svg next to an existing report, without running. */
function render(jsonPath: string): number {
  const rep = JSON.parse(readFileSync(jsonPath, "utf8")) as Report;
  const base = jsonPath.replace(/\.json$/, "");
  writeFileSync(`${base}.md`, markdown(rep));
  writeFileSync(`${base}.svg`, chart(rep));
  log(`[bench] rendered ${base}.md, .svg`);
  return 0;
}

async function main(): Promise<number> {
  if (process.argv[2] === "--render" && process.argv[3]) return render(process.argv[3]);
  const opts = parseOptions(process.argv.slice(2), { scenarios: SCENARIOS, servers: SERVERS }, USAGE);
  opts.duration = Math.max(1, Math.round(opts.duration));
  opts.warmup = Math.round(opts.warmup);
  const { env, servers } = await prepare(opts);
  const cleanup = () => rmSync(env.tmp, { recursive: true, force: true });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      void Promise.all([...live].map((p) => killTree(p, 500))).finally(() => {
        cleanup();
        process.exit(130);
      });
    });
  }

  try {
    return await runAll(opts, env, servers);
  } finally {
    // Also after a crash: kill what is still running and drop the temp dir.
    await Promise.all([...live].map((p) => killTree(p, 500)));
    cleanup();
  }
}

async function runAll(opts: Options, env: Env, servers: Report["servers"]): Promise<number> {
  const rows: Row[] = [];
  for (const name of opts.scenarios) {
    const sc = scenario(name);
    if (!env.wrk) continue;
    const runnable = () => opts.servers.filter((s) => servers[s]!.status === "ok" && supports(s, name));
    const scRows = new Map<string, Row>();
    for (const s of opts.servers.filter((s) => supports(s, name))) {
      const row: Row = { scenario: name, server: s, status: "ok", rounds: [], failedRounds: 0, median: {}, vsBun: {} };
      scRows.set(s, row);
      rows.push(row);
    }
    for (let round = 1; round <= opts.rounds; round++) {
      for (const s of runnable()) {
        const out = sc.idle ? await idleRun(env, opts, s, sc) : await loadRun(env, opts, s, sc);
        progress(name, s, round, opts.rounds, out);
        const row = scRows.get(s)!;
        if (out.kind === "ok") row.rounds.push(out.m);
        else if (out.kind === "unavailable") {
          // Not an error: src/index.ts is still being written. Skip this server from now on.
          servers[s] = { status: "unavailable", reason: out.reason };
        } else {
          row.failedRounds++;
          row.reason = out.reason;
        }
      }
    }
    for (const row of scRows.values()) {
      const st = servers[row.server]!;
      if (row.rounds.length) row.status = "ok";
      else if (st.status !== "ok") {
        row.status = st.status;
        row.reason = st.reason;
      } else row.status = "failed";
    }
  }
  summarize(rows);

  const report: Report = {
    kind: "http",
    machine: machine(),
    config: {
      quick: opts.quick, scenarios: opts.scenarios, servers: opts.servers, rounds: opts.rounds, duration: opts.duration,
      warmup: opts.warmup, idleConns: opts.idleConns, connections: CONNECTIONS, pipelineDepth: PIPELINE_DEPTH,
      command: `bun bench/http.ts ${process.argv.slice(2).join(" ")}`.trim(),
    },
    servers,
    results: rows,
  };
  mkdirSync(opts.outDir, { recursive: true });
  const base = join(opts.outDir, opts.quick ? "quick" : "latest");
  writeFileSync(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
  writeFileSync(`${base}.md`, markdown(report));
  writeFileSync(`${base}.svg`, chart(report));
  log(`\n${readFileSync(`${base}.md`, "utf8").split("\n![")[0]!.trim()}\n`);
  log(`[bench] wrote ${base}.json, .md, .svg`);

  // Quick mode is a check of the harness: every server that is available must have answered 2xx
  // in every run; unavailable/skipped servers are reported above but are not failures.
  const failed = rows.filter((r) => r.status === "failed" || r.failedRounds > 0 || (opts.quick && r.rounds.some((m) => (m.non2xx ?? 0) > 0)));
  const ran = rows.filter((r) => r.status === "ok").length;
  if (ran === 0) {
    log("[bench] no server produced a result");
    return 1;
  }
  if (opts.quick && failed.length) {
    log(`[bench] quick check FAILED: ${failed.map((r) => `${r.scenario}/${r.server}${r.reason ? ` (${r.reason})` : ""}`).join("; ")}`);
    return 1;
  }
  if (opts.quick) log("[bench] quick check passed: every available server answered with 2xx");
  return 0;
}

process.exit(await main());
