// serve(): Bun.serve's contract on the io_uring reactor. Change `Bun.serve(` to `serve(` (imported
// from "bun-uring") and an app runs unchanged.
import { defaultReactor } from "../loop/default.ts";
import type { Reactor } from "../loop/reactor.ts";
import { Listener, DEFAULT_SEND_TIMEOUT_MS, type Connection } from "./tcp.ts";
import { acceptHttp, type HttpConnection, type HttpHandler } from "./http/connection.ts";
import { ServerCore, type FetchHandler, type ErrorHandler, type ServerStats } from "./http/core.ts";
import type { RouteValue } from "./http/routes.ts";
import type { ParserLimits } from "./http/parser.ts";
import type { UringRequest } from "./http/request.ts";
import { registeredFileSlots } from "../loop/files.ts";
import { ioUringAvailability } from "../loop/availability.ts";
import { fallbackMode, serveFallback, warnFallback, type FallbackServer } from "./fallback.ts";
import { handleSignals, graceMs, type Stoppable } from "./lifecycle.ts";
import { isClusterWorker, watchPrimary, serveCluster, resolveWorkers, GRACE_ENV } from "./cluster.ts";
import { openFdCount, type ServeStats, type UringServerStats } from "./stats.ts";

export interface ServeOptions {
  /** 0 picks a free port. Default: $BUN_PORT, $PORT, $NODE_PORT, else 3000. */
  port?: number | string;
  /** Default "0.0.0.0". */
  hostname?: string;
  reusePort?: boolean;
  /** On an IPv6 hostname ("::"), IPv6 clients only; by default IPv4 ones too (no effect on an IPv4 hostname). */
  ipv6Only?: boolean;
  fetch?: FetchHandler;
  error?: ErrorHandler;
  routes?: Record<string, RouteValue>;
  /** Bun's older name for routes. */
  static?: Record<string, RouteValue>;
  /** Seconds a connection may be idle (no bytes either way); 0 disables. Default 10. */
  idleTimeout?: number;
  /** Bytes; a larger body gets 413 before it is read. Default 128 MiB. */
  maxRequestBodySize?: number;
  /** Error pages with stacks. Default: NODE_ENV !== "production". */
  development?: boolean | { hmr?: boolean; console?: boolean };
  /** The server's name (server.id); "" when not given, as Bun.serve's. */
  id?: string;
  /** bun-uring: seconds to receive a whole request head (slowloris bound). Default: idleTimeout. */
  headerTimeout?: number;
  /** bun-uring: parser limits (431 for heads, 414 for targets). */
  limits?: Partial<ParserLimits>;
  /** bun-uring: run on this reactor instead of the thread's default one. */
  reactor?: Reactor;
  /** bun-uring: maximum simultaneous connections. */
  maxConnections?: number;
  /**
   * bun-uring: seconds a SEND may wait on a client that stopped reading before the connection is
   * cut (the send deadline, a LINK_TIMEOUT on the SEND). 0 disables. Default 30.
   */
  sendTimeout?: number;
  /**
   * bun-uring: where io_uring cannot be used (no liburing, a seccomp profile, an old kernel).
   * "auto" (default): run on Bun.serve and warn once; false: throw the IoUringUnavailableError;
   * "force": always Bun.serve. Default from $BUN_URING_FALLBACK (0/off: false, force). See fallback.ts.
   */
  fallback?: "auto" | "force" | false | true;
  /**
   * bun-uring: SIGTERM/SIGINT stop accepting, let requests in progress finish (gracefulTimeout),
   * close keep-alive connections and exit 0; a second signal exits at once. Default false (Bun.serve
   * installs no handlers either), true in a cluster worker.
   */
  handleSignals?: boolean;
  /** bun-uring: seconds the signal handler waits for requests in progress. Default 10. */
  gracefulTimeout?: number;
  /**
   * bun-uring: run this program in N processes sharing the port (SO_REUSEPORT), "auto" = one per
   * CPU. This process becomes the primary: it serves nothing itself, restarts workers that die, and
   * returns a ClusterServer (port, url, stop(), stats()); in each worker serve() returns the real
   * server. Needs a fixed port. See cluster.ts.
   */
  workers?: number | "auto";
}

// Options Bun.serve has that this server does not implement: refused by name, never ignored.
const UNSUPPORTED = ["tls", "key", "cert", "ca", "passphrase", "websocket", "unix", "http2", "h2", "http3", "h3", "lowMemoryMode"] as const;

/**
 * Whether Bun.serve would act on `value` for option `name`. null, undefined and false leave any
 * option unset (`tls: cond ? {...} : null`); so do an empty unix path and a tls object (or array of
 * them) with no key or cert, which Bun.serve serves as plain HTTP (`tls: { key: env.KEY, cert:
 * env.CERT }` in development).
 */
function optionSet(name: string, value: unknown): boolean {
  if (value == null || value === false) return false;
  if (name === "unix") return value !== "";
  if (name === "tls") {
    const all = Array.isArray(value) ? value : [value];
    return all.some((t) => t === null || typeof t !== "object" || (t as { key?: unknown }).key != null || (t as { cert?: unknown }).cert != null);
  }
  return true;
}

function unsupported(name: string): Error {
  return Object.assign(new Error(`serve(): the "${name}" option is not supported by bun-uring (use Bun.serve for it)`), { code: "ERR_NOT_SUPPORTED" });
}

function defaultPort(): number {
  for (const v of [process.env.BUN_PORT, process.env.PORT, process.env.NODE_PORT]) {
    if (v !== undefined && v !== "" && Number.isInteger(Number(v))) return Number(v);
  }
  return 3000;
}

export interface SocketAddressInfo {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
}

/** The object serve() returns, shaped like Bun's Server. */
export class Server {
  readonly #core: ServerCore;
  readonly #listener: Listener;
  readonly #reactor: Reactor;
  readonly id: string;
  readonly development: boolean;
  readonly protocol = "http";
  #stopped: Promise<void> | null = null;

  /** @internal */
  constructor(core: ServerCore, listener: Listener, reactor: Reactor, id: string) {
    this.#core = core;
    this.#listener = listener;
    this.#reactor = reactor;
    this.id = id;
    this.development = core.development;
  }

  get port(): number {
    return this.#listener.port;
  }
  get hostname(): string {
    return this.#listener.hostname;
  }
  get url(): URL {
    const h = this.hostname;
    const host = h === "0.0.0.0" || h === "::" ? "localhost" : h.includes(":") ? `[${h}]` : h;
    return new URL(`http://${host}:${this.port}/`);
  }
  get address(): SocketAddressInfo {
    return this.#listener.address as SocketAddressInfo;
  }
  /** Requests received and not yet answered. */
  get pendingRequests(): number {
    return this.#core.pendingRequests;
  }
  get pendingWebSockets(): number {
    return 0;
  }
  /** As Bun's: Object.prototype.toString(server) is "[object HTTPServer]" ("DebugHTTPServer" in development). */
  get [Symbol.toStringTag](): string {
    return this.development ? "DebugHTTPServer" : "HTTPServer";
  }

  /**
   * Stop accepting. Graceful by default: requests in progress finish, idle keep-alive
   * connections close; with closeActiveConnections, every connection closes now.
   * Resolves when all connections are closed.
   */
  stop(closeActiveConnections = false): Promise<void> {
    const l = this.#listener;
    if (!this.#stopped) {
      this.#core.stopping = true;
      l.stop();
      this.#stopped = l.whenClosed();
    }
    if (closeActiveConnections) l.closeAll();
    else for (const c of l.connections()) (c.handler as HttpHandler).stopGracefully(c);
    return this.#stopped;
  }

  /**
   * Close every connection that is neither sending a request nor waiting for its response (idle
   * keep-alive connections), without stopping the server. Returns how many it closed (Bun 1.3.14
   * returns nothing; later Bun returns the count).
   */
  closeIdleConnections(): number {
    let n = 0;
    for (const c of this.#listener.connections()) {
      if (!c.open || !(c.handler as HttpHandler).idle) continue;
      c.end(); // nothing is queued on an idle connection: FIN now, closed when the peer answers
      n++;
    }
    return n;
  }

  reload(options: Pick<ServeOptions, "fetch" | "error" | "routes" | "static">): this {
    this.#core.reload({ fetch: options.fetch, error: options.error, routes: options.routes ?? options.static });
    return this;
  }

  /** The client's address, as Bun's server.requestIP. */
  requestIP(req: Request): SocketAddressInfo | null {
    const ctx = (req as unknown as UringRequest)._ctx as HttpConnection | undefined;
    const a = ctx?.remote;
    return a ? { address: a.address, family: a.family, port: a.port } : null;
  }

  /** Close the connection of `req` if it is idle for `seconds` (0: never) while it is handled. */
  timeout(req: Request, seconds: number): void {
    const ctx = (req as unknown as UringRequest)._ctx as HttpConnection | undefined;
    ctx?.setRequestTimeout(seconds > 0 ? seconds * 1000 : 0);
  }

  /** Call the fetch handler directly, as Bun's server.fetch. */
  async fetch(input: Request | string, init?: RequestInit): Promise<Response> {
    const req = typeof input === "string" ? new Request(new URL(input, this.url).href, init) : input;
    if (!this.#core.fetch) throw Object.assign(new Error("fetch() requires the server to have a fetch handler"), { code: "ERR_NO_FETCH_HANDLER" });
    const r = await this.#core.fetch.call(this, req, this);
    if (!(r instanceof Response)) throw new TypeError("fetch handler did not return a Response");
    return r;
  }

  upgrade(): boolean {
    throw unsupported("websocket");
  }
  publish(): number {
    throw unsupported("websocket");
  }
  subscriberCount(): number {
    return 0;
  }

  ref(): void {
    this.#listener.ref();
  }
  unref(): void {
    this.#listener.unref();
  }

  /**
   * What the server and its loop are doing (observability; leak checks). See stats.ts. (When
   * serve() fell back to Bun.serve, its stats() gives FallbackServerStats: check `backend`, typed
   * as ServeStats.)
   */
  stats(): UringServerStats {
    const r = this.#reactor;
    let queuedBytes = 0;
    for (const c of this.#listener.connections()) queuedBytes += c.queued;
    const stats: UringServerStats = {
      ...this.#core.stats,
      backend: "io_uring",
      connections: this.#listener.connectionCount,
      pendingRequests: this.#core.pendingRequests,
      opsInFlight: r.ops.live,
      opsCapacity: r.ops.capacity,
      bufferMisses: r.stats.bufferMisses,
      buffersOut: r.buffersOut,
      cqOverflowFlushes: r.stats.cqOverflowFlushes,
      cqDropped: r.ring.cqOverflowCount,
      sendChunksInUse: r.chunks.inUse,
      queuedBytes,
      fileSlotsInUse: registeredFileSlots(r)?.inUse ?? null,
      openFds: openFdCount(),
    };
    return stats;
  }

  [Symbol.dispose](): void {
    void this.stop(true);
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop(true);
  }
}

export function serve(options: ServeOptions): Server {
  if (!options || typeof options !== "object") {
    throw Object.assign(new TypeError("serve() needs an options object"), { code: "ERR_INVALID_ARG_TYPE" });
  }
  const o = options as Record<string, unknown>;
  for (const name of UNSUPPORTED) if (optionSet(name, o[name])) throw unsupported(name);
  const routes = options.routes ?? options.static;
  if (typeof options.fetch !== "function" && !routes) {
    throw Object.assign(new TypeError("serve() needs a fetch handler or routes"), { code: "ERR_INVALID_ARG_TYPE" });
  }
  if (options.fetch != null && typeof options.fetch !== "function") throw Object.assign(new TypeError("fetch must be a function"), { code: "ERR_INVALID_ARG_TYPE" });
  if (options.error != null && typeof options.error !== "function") throw Object.assign(new TypeError("error must be a function"), { code: "ERR_INVALID_ARG_TYPE" });
  const port = options.port == null ? defaultPort() : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw Object.assign(new RangeError(`port must be an integer in [0, 65535], got ${options.port}`), { code: "ERR_SOCKET_BAD_PORT" });
  }
  // NaN, a string or a negative number would otherwise slip past every comparison: no limit, no deadline.
  const idle = numberOption("idleTimeout", options.idleTimeout, 10, 255, "a whole number of seconds", true);
  const sendTimeoutMs = numberOption("sendTimeout", options.sendTimeout, DEFAULT_SEND_TIMEOUT_MS / 1000, Infinity, "a number of seconds") * 1000;
  const maxRequestBodySize = numberOption("maxRequestBodySize", options.maxRequestBodySize, 128 * 1024 * 1024, Infinity, "a number of bytes");
  const headerTimeout = numberOption("headerTimeout", options.headerTimeout, idle, Infinity, "a number of seconds");
  for (const [k, v] of Object.entries(options.limits ?? {})) {
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 1)) {
      throw Object.assign(new RangeError(`limits.${k} must be a positive integer, got ${v}`), { code: "ERR_INVALID_ARG_VALUE" });
    }
  }
  // Process-level wiring (fallback, signals, cluster workers): fallback.ts, lifecycle.ts, cluster.ts.
  const worker = isClusterWorker();
  if (options.workers !== undefined && !worker) {
    resolveWorkers(options.workers); // validate before spawning anything
    const development = options.development === undefined ? process.env.NODE_ENV !== "production" : options.development !== false;
    const hostname = options.hostname ?? "0.0.0.0";
    const id = options.id ?? "";
    return serveCluster({ workers: options.workers, port, hostname, id, development, gracefulTimeout: options.gracefulTimeout, handleSignals: options.handleSignals }) as unknown as Server;
  }
  const reusePort = options.reusePort === true || worker; // workers share the port (cluster.ts)
  const grace = graceMs(options.gracefulTimeout, worker ? Number(process.env[GRACE_ENV] || 10) : undefined);
  const mode = fallbackMode(options.fallback);
  if (mode === "force" || !options.reactor) {
    const a = mode === "force" ? null : ioUringAvailability();
    if (mode === "force" || (a && !a.ok)) {
      if (a && !a.ok) {
        if (mode === false) throw a.error;
        warnFallback(a.error);
      }
      const fb = serveFallback(options, { port, hostname: options.hostname ?? "0.0.0.0", reusePort }, a && !a.ok ? a.error.reason : "forced");
      return withLifecycle(fb, options, worker, grace) as unknown as Server;
    }
  }
  const dev = options.development;
  const development = dev === undefined ? process.env.NODE_ENV !== "production" : dev !== false;
  const core = new ServerCore({
    fetch: options.fetch,
    error: options.error,
    routes,
    development,
    maxRequestBodySize,
    idleTimeoutMs: idle * 1000,
    headerTimeoutMs: headerTimeout * 1000,
    limits: options.limits,
  });
  const reactor = options.reactor ?? defaultReactor();
  const hostname = options.hostname ?? "0.0.0.0";
  const listener = new Listener(reactor, { hostname, port, reusePort, ipv6Only: options.ipv6Only === true, maxConnections: options.maxConnections, sendLimits: { sendTimeoutMs } }, {
    onAccept(c: Connection) {
      return acceptHttp(c, core);
    },
  });
  const server = new Server(core, listener, reactor, options.id ?? "");
  core.server = server;
  const h = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
  core.defaultHost = `${h.includes(":") ? `[${h}]` : h}:${listener.port}`;
  return withLifecycle(server, options, worker, grace);
}

function withLifecycle<T extends Stoppable>(server: T, options: ServeOptions, worker: boolean, grace: number): T {
  if (options.handleSignals ?? worker) handleSignals(server, grace);
  if (worker) watchPrimary();
  return server;
}

export type { ServeStats, UringServerStats, FallbackServer };

/**
 * A numeric option in [0, max] (a whole number when `integer`), or `fallback` when undefined or null
 * (as Bun.serve reads them); anything else throws ERR_INVALID_ARG_VALUE.
 */
function numberOption(name: string, value: unknown, fallback: number, max: number, what: string, integer = false): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !(value >= 0 && value <= max) || (integer && !Number.isInteger(value))) {
    const range = max === Infinity ? ">= 0" : `in [0, ${max}]`;
    throw Object.assign(new RangeError(`${name} must be ${what} ${range}, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`), { code: "ERR_INVALID_ARG_VALUE" });
  }
  return value;
}
