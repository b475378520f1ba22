// All cores: N worker processes, each with its own ring, sharing one port through SO_REUSEPORT.
//
// The model:
// - The primary runs no server. cluster(entry) spawns `bun [execArgv] entry [args]` N times with
//   BUN_URING_WORKER=<1..N> in the environment. The entry is an ordinary server module: in a
//   worker, serve() listens with reusePort forced on, so every worker binds the same port and the
//   kernel spreads new connections over them (by 4-tuple hash); handleSignals defaults to true.
//   Nothing is passed between processes: a worker is a whole, independent server.
// - A worker that exits while the cluster is running is restarted, after a backoff that doubles
//   with each quick failure (MIN_RESTART_MS .. MAX_RESTART_MS; a worker that ran STABLE_MS resets
//   it). The others keep serving meanwhile: their sockets stay in the reuseport group. Measured
//   here: for a few ms after a worker dies (about 40 ms after the primary saw the exit, on Linux
//   6.18) new connections may still be routed to its socket and reset, because the multishot
//   ACCEPT holds the listening file until the kernel's asynchronous ring teardown cancels it; the
//   connections then in its accept queue are reset too (net.ipv4.tcp_migrate_req=1 would move them).
// - stop() sends SIGTERM to each worker (which stops gracefully, see lifecycle.ts), SIGKILLs what
//   is left after the grace period plus KILL_MARGIN_MS, and resolves when all have exited. With
//   handleSignals (the default) SIGTERM/SIGINT to the primary do that and exit 0; a second signal
//   SIGKILLs the workers and exits at once.
// - Workers run in their own session (setsid: Bun.spawn's `detached`), so a Ctrl-C in a terminal
//   reaches the primary only and each worker gets exactly one SIGTERM from it (in the terminal's
//   process group they would see SIGINT and then the primary's SIGTERM: a "second signal"). A
//   worker notices a primary that died without stopping it (SIGKILL) through its parent pid
//   changing (watchPrimary) and stops itself gracefully.
import { availableParallelism } from "node:os";
import { handleSignals, graceMs as toGraceMs, DEFAULT_GRACEFUL_TIMEOUT_S, type Stoppable } from "./lifecycle.ts";

/** Set in a worker's environment: its index, 1..N. */
export const WORKER_ENV = "BUN_URING_WORKER";
/** Set in a worker's environment: N. */
export const WORKERS_ENV = "BUN_URING_WORKERS";
/** Set in a worker's environment: the primary's pid (watchPrimary). */
export const PRIMARY_ENV = "BUN_URING_PRIMARY";
/** Set in a worker's environment: the cluster's gracefulTimeout, the default for serve() there. */
export const GRACE_ENV = "BUN_URING_GRACEFUL_TIMEOUT";

export const MIN_RESTART_MS = 100;
export const MAX_RESTART_MS = 10_000;
/** A worker that lived this long before exiting is restarted after MIN_RESTART_MS again. */
export const STABLE_MS = 5_000;
/** After the grace period, workers get this long to exit before SIGKILL. */
export const KILL_MARGIN_MS = 5_000;
/** How often a worker checks that its primary is still alive. */
const PRIMARY_CHECK_MS = 500;

/** This process's worker index (1..N) when it is a cluster worker, else null. */
export function clusterWorkerIndex(): number | null {
  const v = process.env[WORKER_ENV];
  if (!v) return null;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : null;
}

export function isClusterWorker(): boolean {
  return clusterWorkerIndex() !== null;
}

/** The number of workers: a positive integer, or "auto" for the number of CPUs this process may use. */
export function resolveWorkers(workers: number | "auto" | string | undefined): number {
  if (workers === undefined || workers === "auto") {
    return Math.max(1, typeof availableParallelism === "function" ? availableParallelism() : navigator.hardwareConcurrency || 1);
  }
  const n = typeof workers === "string" ? Number(workers) : workers;
  if (!Number.isInteger(n) || n < 1 || n > 1024) {
    throw Object.assign(new RangeError(`workers must be "auto" or an integer in [1, 1024], got ${workers}`), { code: "ERR_INVALID_ARG_VALUE" });
  }
  return n;
}

export interface ClusterOptions {
  /** Processes to run; "auto" (default) = os.availableParallelism(). */
  workers?: number | "auto";
  /** Arguments after the entry (process.argv.slice(2) in each worker). */
  args?: string[];
  /** Environment of the workers, added to the primary's. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Seconds a worker has to finish its requests after SIGTERM (passed to its serve()). Default 10. */
  gracefulTimeout?: number;
  /** Stop the cluster and exit on SIGTERM/SIGINT (see lifecycle.ts). Default true. */
  handleSignals?: boolean;
  /** Restart workers that exit. Default true. */
  restart?: boolean;
  /** Log worker exits and restarts with console.warn. Default true. */
  log?: boolean;
  onWorkerStart?(worker: ClusterWorker): void;
  onWorkerExit?(worker: ClusterWorker, exitCode: number | null, signal: string | null): void;
}

/** One worker slot; its pid changes when it is restarted. */
export interface ClusterWorker {
  readonly index: number;
  /** The current process's pid, 0 while waiting to restart. */
  pid: number;
  /** How many times this slot was restarted. */
  restarts: number;
  /** performance.now() when the current process was spawned. */
  startedAt: number;
}

interface Slot extends ClusterWorker {
  proc: ReturnType<typeof Bun.spawn> | null;
  failures: number;
  timer: ReturnType<typeof setTimeout> | null;
}

/** A running set of workers (see the model above). */
export class Cluster implements Stoppable {
  readonly size: number;
  readonly entry: string;
  readonly #o: ClusterOptions;
  readonly #cmd: string[];
  readonly #env: Record<string, string | undefined>;
  readonly #graceMs: number;
  readonly #slots: Slot[] = [];
  #stopping: Promise<void> | null = null;
  #allExited: (() => void) | null = null;
  #killTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(entry: string, options: ClusterOptions = {}) {
    this.entry = entry;
    this.#o = options;
    this.size = resolveWorkers(options.workers);
    this.#graceMs = toGraceMs(options.gracefulTimeout);
    this.#cmd = [process.execPath, ...process.execArgv, entry, ...(options.args ?? [])];
    this.#env = {
      ...process.env,
      ...options.env,
      [WORKERS_ENV]: String(this.size),
      [PRIMARY_ENV]: String(process.pid),
      [GRACE_ENV]: String(this.#graceMs / 1000),
    };
    for (let i = 1; i <= this.size; i++) {
      const s: Slot = { index: i, pid: 0, restarts: 0, startedAt: 0, proc: null, failures: 0, timer: null };
      this.#slots.push(s);
      this.#spawn(s);
    }
    if (options.handleSignals !== false) handleSignals(this, this.#graceMs + KILL_MARGIN_MS + 1000);
  }

  /** A snapshot of the worker slots. */
  get workers(): ClusterWorker[] {
    return this.#slots.map(({ index, pid, restarts, startedAt }) => ({ index, pid, restarts, startedAt }));
  }

  /** True once stop() or kill() was called. */
  get stopping(): boolean {
    return this.#stopping !== null;
  }

  #spawn(s: Slot): void {
    s.timer = null;
    if (this.#stopping) return;
    let proc: ReturnType<typeof Bun.spawn>;
    try {
      proc = Bun.spawn(this.#cmd, {
        cwd: this.#o.cwd,
        env: { ...this.#env, [WORKER_ENV]: String(s.index) },
        stdin: "ignore",
        stdout: "inherit",
        stderr: "inherit",
        detached: true,
        onExit: (_p, code, signal) => this.#onExit(s, proc, code, signal == null ? null : String(signal)),
      });
    } catch (e) {
      // Spawning itself failed (EAGAIN, ENOMEM...): try again later like a crash.
      if (this.#o.log !== false) console.warn(`bun-uring cluster: could not start worker ${s.index}: ${(e as Error).message}`);
      this.#scheduleRestart(s);
      return;
    }
    s.proc = proc;
    s.pid = proc.pid;
    s.startedAt = performance.now();
    try {
      this.#o.onWorkerStart?.({ index: s.index, pid: s.pid, restarts: s.restarts, startedAt: s.startedAt });
    } catch (e) {
      queueMicrotask(() => { throw e; });
    }
  }

  #onExit(s: Slot, proc: ReturnType<typeof Bun.spawn>, code: number | null, signal: string | null): void {
    if (s.proc !== proc) return;
    const pid = s.pid;
    s.proc = null;
    s.pid = 0;
    try {
      this.#o.onWorkerExit?.({ index: s.index, pid, restarts: s.restarts, startedAt: s.startedAt }, code, signal);
    } catch (e) {
      queueMicrotask(() => { throw e; });
    }
    if (this.#stopping) {
      if (this.#slots.every((x) => x.proc === null)) this.#allExited?.();
      return;
    }
    if (this.#o.restart === false) {
      if (this.#o.log !== false) console.warn(`bun-uring cluster: worker ${s.index} (pid ${pid}) exited (${why(code, signal)})`);
      return;
    }
    const lived = performance.now() - s.startedAt;
    s.failures = lived >= STABLE_MS ? 0 : s.failures + 1;
    const delay = this.#scheduleRestart(s);
    if (this.#o.log !== false) {
      console.warn(`bun-uring cluster: worker ${s.index} (pid ${pid}) exited (${why(code, signal)}); restarting in ${delay} ms`);
    }
  }

  #scheduleRestart(s: Slot): number {
    const delay = Math.min(MAX_RESTART_MS, MIN_RESTART_MS * 2 ** Math.max(0, s.failures - 1));
    s.restarts++;
    s.timer = setTimeout(() => this.#spawn(s), delay);
    return delay;
  }

  /**
   * Stop every worker: SIGTERM (graceful), SIGKILL after the grace period plus KILL_MARGIN_MS.
   * With `force`, SIGKILL at once. Resolves when all have exited.
   */
  stop(force = false): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = new Promise<void>((resolve) => {
        this.#allExited = () => {
          if (this.#killTimer) clearTimeout(this.#killTimer);
          resolve();
        };
      });
      for (const s of this.#slots) {
        if (s.timer) clearTimeout(s.timer);
        s.timer = null;
        signalWorker(s, "SIGTERM");
      }
      this.#killTimer = setTimeout(() => this.kill(), this.#graceMs + KILL_MARGIN_MS);
      if (this.#slots.every((x) => x.proc === null)) this.#allExited!();
    }
    if (force) this.kill();
    return this.#stopping;
  }

  /** SIGKILL every worker now (no restarts follow). */
  kill(): void {
    if (!this.#stopping) void this.stop();
    for (const s of this.#slots) signalWorker(s, "SIGKILL");
  }
}

function signalWorker(s: Slot, sig: "SIGTERM" | "SIGKILL"): void {
  try {
    s.proc?.kill(sig);
  } catch {}
}

function why(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

/**
 * Run `entry` (a module that calls serve()) in N processes sharing its port. The CLI's
 * `--workers N` is `cluster(thisScript, { workers: N, args: [...] })`, with the worker side running
 * the script's ordinary single-process path (isClusterWorker() tells them apart).
 */
export function cluster(entry: string, options: ClusterOptions = {}): Cluster {
  return new Cluster(entry, options);
}

let watching = false;

/**
 * In a worker: when the primary is gone (it was SIGKILLed, so nobody will stop us), stop like on
 * SIGTERM. Idempotent; a no-op outside a cluster. serve() calls it in workers.
 */
export function watchPrimary(): void {
  if (watching || !isClusterWorker()) return;
  const primary = Number(process.env[PRIMARY_ENV]);
  if (!Number.isInteger(primary) || primary <= 0) return;
  watching = true;
  const check = () => {
    if (process.ppid !== primary) {
      clearInterval(t);
      process.kill(process.pid, "SIGTERM");
    }
  };
  const t = setInterval(check, PRIMARY_CHECK_MS);
  t.unref();
  check();
}

export { DEFAULT_GRACEFUL_TIMEOUT_S };

/** stats() of serve({ workers }) in the primary, which runs no server itself. */
export interface ClusterServerStats {
  backend: "cluster";
  workers: ClusterWorker[];
}

function primaryOnly(what: string): Error {
  return Object.assign(new Error(`server.${what}() is not available in the cluster primary: it runs no server (each worker does)`), { code: "ERR_NOT_SUPPORTED" });
}

/**
 * What serve({ workers }) returns in the primary: the address the workers share, stop() for all
 * of them, and the Cluster. Request- and connection-level methods (fetch, reload, requestIP,
 * timeout, upgrade, closeIdleConnections) belong to the workers' servers and throw here.
 */
export class ClusterServer implements Stoppable {
  readonly cluster: Cluster;
  readonly port: number;
  readonly hostname: string;
  readonly id: string;
  readonly development: boolean;
  readonly protocol = "http";
  readonly pendingRequests = 0;
  readonly pendingWebSockets = 0;

  constructor(c: Cluster, port: number, hostname: string, id: string, development: boolean) {
    this.cluster = c;
    this.port = port;
    this.hostname = hostname;
    this.id = id;
    this.development = development;
  }
  get url(): URL {
    const h = this.hostname;
    const host = h === "0.0.0.0" || h === "::" ? "localhost" : h.includes(":") ? `[${h}]` : h;
    return new URL(`http://${host}:${this.port}/`);
  }
  /** Stop every worker (graceful; `closeActiveConnections`: SIGKILL). */
  stop(closeActiveConnections = false): Promise<void> {
    return this.cluster.stop(closeActiveConnections);
  }
  kill(): void {
    this.cluster.kill();
  }
  ref(): void {}
  unref(): void {}
  stats(): ClusterServerStats {
    return { backend: "cluster", workers: this.cluster.workers };
  }
  fetch(): never {
    throw primaryOnly("fetch");
  }
  reload(): never {
    throw primaryOnly("reload");
  }
  requestIP(): never {
    throw primaryOnly("requestIP");
  }
  timeout(): never {
    throw primaryOnly("timeout");
  }
  upgrade(): never {
    throw primaryOnly("upgrade");
  }
  publish(): never {
    throw primaryOnly("publish");
  }
  subscriberCount(): number {
    return 0;
  }
  closeIdleConnections(): never {
    throw primaryOnly("closeIdleConnections");
  }
}

/**
 * serve({ workers }) in the primary: run this same program (Bun.main with the same arguments) in
 * `workers` processes; each one's serve() call listens on the shared port. The port must be fixed:
 * with port 0 each worker would pick its own.
 */
export function serveCluster(
  o: { workers: number | "auto"; port: number; hostname: string; id: string; development: boolean; gracefulTimeout?: number; handleSignals?: boolean },
): ClusterServer {
  if (o.port === 0) {
    throw Object.assign(new RangeError("serve({ workers }) needs a fixed port: with port 0 each worker would listen on a different one"), { code: "ERR_INVALID_ARG_VALUE" });
  }
  const c = cluster(Bun.main, {
    workers: o.workers,
    args: process.argv.slice(2),
    gracefulTimeout: o.gracefulTimeout,
    handleSignals: o.handleSignals,
  });
  return new ClusterServer(c, o.port, o.hostname, o.id, o.development);
}
