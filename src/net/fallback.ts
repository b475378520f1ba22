// serve() on Bun.serve, for where io_uring cannot be used (loop/availability.ts says why) or
// where the operator chose it. The same options run unchanged; the object returned is Bun's own
// Server, untouched except for a stats() method (backend: "fallback") and a reload() that keeps
// counting requests.
//
// Which way serve() goes:
//   option `fallback`       "auto" (default): Bun.serve, with one warning, when io_uring is unavailable
//                           false: throw the IoUringUnavailableError instead
//                           "force": always Bun.serve, no warning
//   BUN_URING_FALLBACK      used when the option is not given: 0 | off | false | no -> false,
//                           force -> "force", auto | 1 | on | "" -> "auto"
import type { IoUringUnavailableError } from "../ffi/errno.ts";
import type { ServeOptions } from "./server.ts";
import { openFdCount } from "./stats.ts";

export type FallbackMode = "auto" | "force" | false;

/** The mode in force: the option when given, else $BUN_URING_FALLBACK, else "auto". */
export function fallbackMode(option: ServeOptions["fallback"]): FallbackMode {
  if (option !== undefined) {
    if (option === false || option === "force" || option === "auto") return option;
    if (option === true) return "auto";
    throw Object.assign(new TypeError(`fallback must be "auto", "force" or false, got ${JSON.stringify(option)}`), { code: "ERR_INVALID_ARG_VALUE" });
  }
  const env = (process.env.BUN_URING_FALLBACK ?? "").trim().toLowerCase();
  if (env === "0" || env === "off" || env === "false" || env === "no") return false;
  if (env === "force") return "force";
  return "auto";
}

/** What serve()'s stats() reports when Bun.serve is doing the work. */
export interface FallbackServerStats {
  backend: "fallback";
  /** Why: the IoUringUnavailableError's reason ("EPERM", "ENOSYS", "ENOLIB", "EOLDKERNEL"...) or "forced". */
  reason: string;
  /** Requests that reached a handler (fetch or a route function); static route responses are not counted. */
  requests: number;
  pendingRequests: number;
  pendingWebSockets: number;
  /** File descriptors open in the process (/proc/self/fd). */
  openFds: number;
}

/** Bun's Server plus stats(). */
export type FallbackServer = Bun.Server<undefined> & { stats(): FallbackServerStats };

// Options only bun-uring knows: not passed to Bun.serve.
const OWN_OPTIONS = ["headerTimeout", "limits", "reactor", "maxConnections", "sendTimeout", "fallback", "handleSignals", "gracefulTimeout", "workers"] as const;

let warned = false;

/** Warn once per process that serve() runs on Bun.serve, and why. */
export function warnFallback(error: IoUringUnavailableError): void {
  if (warned) return;
  warned = true;
  console.warn(
    `bun-uring: ${error.message} [${error.reason}]. serve() is running on Bun.serve instead (fallback). ` +
      `Set fallback: false or BUN_URING_FALLBACK=0 to make this an error, or BUN_URING_FALLBACK=force to choose Bun.serve without this warning.`,
  );
}

type Handler = (this: unknown, ...args: unknown[]) => unknown;

/** Run `options` on Bun.serve; `port` and `hostname` as serve() resolved them. */
export function serveFallback(options: ServeOptions, resolved: { port: number; hostname: string; reusePort: boolean }, reason: string): FallbackServer {
  const counters = { requests: 0 };
  const count = (h: Handler): Handler =>
    function (this: unknown, ...args: unknown[]) {
      counters.requests++;
      return h.apply(this, args);
    };
  const wrapRoutes = (routes: Record<string, unknown> | undefined) => {
    if (!routes) return routes;
    const out: Record<string, unknown> = {};
    for (const [path, v] of Object.entries(routes)) {
      if (typeof v === "function") out[path] = count(v as Handler);
      else if (v && typeof v === "object" && !(v instanceof Response) && !(v instanceof Blob) && Object.getPrototypeOf(v) === Object.prototype) {
        const m: Record<string, unknown> = {};
        for (const [method, h] of Object.entries(v)) m[method] = typeof h === "function" ? count(h as Handler) : h;
        out[path] = m;
      } else out[path] = v;
    }
    return out;
  };
  const wrap = (o: Record<string, unknown>) => {
    const b: Record<string, unknown> = { ...o };
    for (const k of OWN_OPTIONS) delete b[k];
    if (typeof b.fetch === "function") b.fetch = count(b.fetch as Handler);
    if (b.routes) b.routes = wrapRoutes(b.routes as Record<string, unknown>);
    if (b.static) b.static = wrapRoutes(b.static as Record<string, unknown>);
    return b;
  };
  const bunOptions = wrap(options as unknown as Record<string, unknown>);
  bunOptions.port = resolved.port;
  bunOptions.hostname = resolved.hostname;
  if (resolved.reusePort) bunOptions.reusePort = true;
  const server = Bun.serve(bunOptions as unknown as Parameters<typeof Bun.serve>[0]) as unknown as Bun.Server<undefined>;
  const bunReload = server.reload;
  return Object.assign(server, {
    reload(this: Bun.Server<undefined>, o: Parameters<Bun.Server<undefined>["reload"]>[0]) {
      return bunReload.call(this, wrap(o as unknown as Record<string, unknown>) as unknown as typeof o);
    },
    stats(): FallbackServerStats {
      return {
        backend: "fallback",
        reason,
        requests: counters.requests,
        pendingRequests: server.pendingRequests,
        pendingWebSockets: server.pendingWebSockets,
        openFds: openFdCount(),
      };
    },
  }) as FallbackServer;
}
