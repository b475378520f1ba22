// Process plumbing shared by bench/http.ts and bench/echo.ts: spawning pinned processes, reading
// CPU time and RSS of a whole process tree from /proc, killing trees, finding tools.
import { existsSync, readdirSync, readFileSync, statSync, mkdirSync } from "node:fs";
import { createConnection } from "node:net";
import { cpus, release } from "node:os";
import { dirname, join } from "node:path";

export const benchDir = join(import.meta.dir, "..");
export const repoRoot = join(benchDir, "..");
export const binDir = join(benchDir, "bin");

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const log = (line: string) => process.stdout.write(line + "\n");

export function which(bin: string): string | null {
  return Bun.which(bin);
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Returns the tool's path; installs its Debian package first when we are root and it is missing. */
export function ensureTool(bin: string, pkg: string): string | null {
  const found = which(bin);
  if (found) return found;
  if (!isRoot || !which("apt-get")) return null;
  log(`[bench] ${bin} is missing; installing ${pkg} (apt-get install -y ${pkg})...`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  Bun.spawnSync(["apt-get", "update", "-qq"], { env, stdout: "ignore", stderr: "ignore" });
  Bun.spawnSync(["apt-get", "install", "-y", "-qq", pkg], { env, stdout: "ignore", stderr: "inherit" });
  return which(bin);
}

// ---------------------------------------------------------------------------------------------
// /proc accounting

const CLK_TCK = (() => {
  const r = Bun.spawnSync(["getconf", "CLK_TCK"], { stdout: "pipe", stderr: "ignore" });
  const n = Number(r.stdout.toString().trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

interface StatLine {
  ppid: number;
  ticks: number; // utime + stime of all threads of the process
  sysTicks: number; // stime alone
}

function readStat(pid: number): StatLine | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may contain spaces and parentheses, so split after the LAST ')'.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), sysTicks: Number(f[12]) };
  } catch {
    return null; // the process exited between listing and reading
  }
}

/** pid and all its live descendants. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const p = Number(name);
    if (!Number.isInteger(p)) continue;
    const st = readStat(p);
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(p);
    else children.set(st.ppid, [p]);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** A thread's on-CPU time so far, in ns: the first field of its schedstat (exact, not sampled). */
function onCpuNs(pid: number, tid: string): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ", 1)[0]);
}

/**
 * On-CPU seconds so far of the tree's JIT compiler threads (JavaScriptCore names them "JITWorker"):
 * how much compiling a JS server still does. Node's V8 compiles on threads it shares with its GC.
 */
export function compilerCpuSeconds(pid: number): number {
  let ns = 0;
  for (const p of processTree(pid)) {
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        if (readFileSync(`/proc/${p}/task/${t}/comm`, "utf8").trim() !== "JITWorker") continue;
        ns += onCpuNs(p, t) || 0;
      }
    } catch {} // exited meanwhile
  }
  return ns / 1e9;
}

/** CPU seconds (user + system) consumed so far by the live process tree rooted at pid. */
export function treeCpuSeconds(pid: number): number {
  return treeCpu(pid).total;
}

/** One reading of treeCpu(): seconds from the ticks, and each thread's exact on-CPU ns. */
export interface TreeCpu {
  total: number;
  sys: number;
  /** tid -> on-CPU ns, for every thread of the tree; empty where schedstat is missing. */
  threads: Map<number, number>;
}

/**
 * CPU consumed so far by the live process tree rooted at pid, in seconds: `total` and `sys` from the
 * utime/stime ticks, and each thread's exact on-CPU time (schedstat, ns) for cpuBetween(). utime and
 * stime are samples where the kernel charges a whole tick to whatever runs when it fires
 * (CONFIG_TICK_CPU_ACCOUNTING, 250 Hz here): at 2% of a core a 10 s run gets some 50 of them, so a
 * low-rate figure moved by tens of percent from one run to the next. schedstat does not sample.
 */
export function treeCpu(pid: number): TreeCpu {
  let ticks = 0, sys = 0;
  const threads = new Map<number, number>();
  for (const p of processTree(pid)) {
    const st = readStat(p);
    ticks += st?.ticks ?? 0;
    sys += st?.sysTicks ?? 0;
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        const ns = onCpuNs(p, t);
        if (Number.isFinite(ns)) threads.set(Number(t), ns);
      }
    } catch {} // exited meanwhile, or no schedstat
  }
  return { total: ticks / CLK_TCK, sys: sys / CLK_TCK, threads };
}

/**
 * CPU seconds between two readings, and the kernel's part: exact (schedstat) when every thread of
 * the first reading is still there, with the ticks' user/kernel proportion applied; else the ticks
 * (a thread that exited took its schedstat with it, while the process's ticks keep it).
 */
export function cpuBetween(a: TreeCpu, b: TreeCpu): { total: number; sys: number; exact: boolean } {
  const ticks = b.total - a.total, sysTicks = b.sys - a.sys;
  let ns = 0;
  let exact = a.threads.size > 0;
  for (const [tid, start] of a.threads) {
    const end = b.threads.get(tid);
    if (end === undefined) exact = false;
    else ns += end - start;
  }
  for (const [tid, end] of b.threads) if (!a.threads.has(tid)) ns += end; // started meanwhile
  if (!exact) return { total: ticks, sys: sysTicks, exact };
  const total = ns / 1e9;
  return { total, sys: ticks > 0 ? total * (sysTicks / ticks) : 0, exact };
}

/** Resident set size in KiB, summed over the process tree (nginx master + worker, etc.). */
export function treeRssKB(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) kb += Number(m[1]);
    } catch {}
  }
  return kb;
}

/**
 * User + system CPU seconds the whole machine has spent so far (all cores, from /proc/stat).
 * Diffing it around a run and subtracting the server, the client and this harness tells how much
 * CPU other processes took meanwhile: on a 2-core machine a busy neighbour (another test suite, a
 * compiler) skews the figures, and the report should say so. Interrupt time is left out since
 * most of it is our own loopback traffic.
 */
export function machineBusySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/);
  // cpu user nice system idle iowait irq softirq steal ...
  return (Number(f[1]) + Number(f[2]) + Number(f[3])) / CLK_TCK;
}

/** This process's own CPU seconds (user + system). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Spawning

export const hasTaskset = which("taskset") !== null;
let warnedTaskset = false;

/**
 * argv wrapped so that the process runs pinned to `cpu` with RLIMIT_NOFILE raised (10 000 idle
 * connections need it). Each step `exec`s, so the pid we get is the program's own pid.
 */
export function pinned(cpu: number | null, argv: string[]): string[] {
  if (cpu !== null && !hasTaskset && !warnedTaskset) {
    log("[bench] taskset not found: processes will not be pinned to CPUs");
    warnedTaskset = true;
  }
  const pin = cpu !== null && hasTaskset ? `exec taskset -c ${cpu} "$@"` : `exec "$@"`;
  // Try 65536 first; without CAP_SYS_RESOURCE the soft limit can only go up to the hard one.
  const script = `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ${pin}`;
  return ["sh", "-c", script, "sh", ...argv];
}

/** Keeps the last `max` characters of a stream so a crash message can be shown. */
export class Tail {
  text = "";
  constructor(stream: ReadableStream<Uint8Array> | undefined | null | number, private max = 4000) {
    if (stream && typeof stream === "object") void this.pump(stream);
  }
  private async pump(stream: ReadableStream<Uint8Array>) {
    const dec = new TextDecoder();
    try {
      for await (const chunk of stream) {
        this.text += dec.decode(chunk, { stream: true });
        if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
      }
    } catch {}
  }
  get last(): string {
    return this.text.slice(-this.max).trim();
  }
}

export interface Proc {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  stdout: Tail;
  stderr: Tail;
}

export function start(argv: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Proc {
  const proc = Bun.spawn(argv, {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { proc, pid: proc.pid, stdout: new Tail(proc.stdout), stderr: new Tail(proc.stderr) };
}

/** SIGTERM to the whole tree, then SIGKILL to whatever is left after a grace period. */
export async function killTree(p: Proc, graceMs = 2000): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const signal = (sig: NodeJS.Signals) => {
    // Children first so that a parent cannot respawn them (nginx master would).
    for (const pid of processTree(p.pid).reverse()) {
      try {
        process.kill(pid, sig);
      } catch {}
    }
  };
  signal("SIGTERM");
  const done = await Promise.race([p.proc.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    signal("SIGKILL");
    await p.proc.exited;
  }
}

export function exited(p: Proc): boolean {
  return p.proc.exitCode !== null || p.proc.signalCode !== null;
}

/** A port that was free a moment ago (the server binds it right after; the race is harmless here). */
export async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Waits until the port accepts; returns an error string if the process died or time ran out. */
export async function waitForPort(p: Proc, port: number, timeoutMs = 15000): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(p)) {
      await p.proc.exited;
      await sleep(50); // let the stderr pump catch the last words
      return `exited with code ${p.proc.exitCode ?? p.proc.signalCode}`;
    }
    if (await tryConnect(port)) return null;
    await sleep(30);
  }
  return `port ${port} did not accept within ${timeoutMs / 1000}s`;
}

// ---------------------------------------------------------------------------------------------
// C helpers

const haveLiburingHeaders = () => ["/usr/include/liburing.h", "/usr/local/include/liburing.h"].some((p) => existsSync(p));

/**
 * Compiles bench/c/<name>.c to bench/bin/<name> unless the binary is newer than the source.
 * Returns the binary path, or a string starting with "skip:" saying why not.
 */
export function buildC(name: string, needsLiburing: boolean): { bin: string } | { skip: string } {
  const src = join(benchDir, "c", `${name}.c`);
  const bin = join(binDir, name);
  if (!which("cc")) return { skip: "cc not found" };
  if (needsLiburing && !haveLiburingHeaders()) return { skip: "liburing headers not found (apt-get install liburing-dev)" };
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return { bin };
  mkdirSync(dirname(bin), { recursive: true });
  const argv = ["cc", "-O2", "-o", bin, src, ...(needsLiburing ? ["-luring"] : [])];
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) return { skip: `${argv.join(" ")} failed: ${r.stderr.toString().trim().split("\n").slice(-3).join(" | ")}` };
  return { bin };
}

// ---------------------------------------------------------------------------------------------
// Machine description

function firstLine(argv: string[]): string | null {
  if (!which(argv[0]!)) return null;
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  const out = (r.stdout.toString() + r.stderr.toString()).trim().split("\n")[0];
  return out || null;
}

export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  bun: string;
  node: string | null;
  nginx: string | null;
  wrk: string | null;
  liburing: string | null;
  date: string;
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const m = /^(?:model name|Hardware|cpu model)\s*:\s*(.+)$/m.exec(info);
    if (m) cpu = m[1]!.trim();
  } catch {}
  const pkg = firstLine(["pkg-config", "--modversion", "liburing"]);
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    kernel: release(),
    bun: Bun.version,
    node: firstLine(["node", "--version"]),
    nginx: firstLine(["nginx", "-v"])?.replace(/^nginx version:\s*/, "") ?? null,
    wrk: firstLine(["wrk", "-v"])?.split(" ").slice(0, 2).join(" ") ?? null,
    liburing: pkg && /^\d/.test(pkg) ? pkg : null,
    date: new Date().toISOString(),
  };
}
