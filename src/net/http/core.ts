// What every connection of one server shares: options, the handler call, error handling, stats.
// (serve() in ../server.ts builds it; connection.ts calls it.)
import type { Dormant, HttpConnection, Slot } from "./connection.ts";
import { ROUTE_NO_PARAMS, type UringRequest } from "./request.ts";
import { Router, isStatic, type RouteValue } from "./routes.ts";
import { DEFAULT_LIMITS, RequestHead, type ParserLimits } from "./parser.ts";
import { serializeHead, pipeStream } from "./response.ts";
import { sendFileUring } from "./files.ts";
import { dispositionField, namesFileIn } from "./files/disposition.ts";

export interface FileResponseOptions {
  status: number;
  statusText: string;
  headers: Headers;
  type: string;
  keepAlive: boolean;
  versionMinor: number;
  isHead: boolean;
}

export type FetchHandler = (req: Request, server: any) => Response | Promise<Response> | undefined | void;
export type ErrorHandler = (error: Error) => Response | Promise<Response> | undefined | void;

export interface ServerStats {
  requests: number;
  parseErrors: number;
  timeouts: number;
  handlerErrors: number;
}

/**
 * A handler's promise that took longer than this to settle waited on I/O (Slot.afterWait): its
 * Response may wrap a fetch() body, which reports its buffered bytes as if it held them, so it gets
 * the stream probe (extractBody). A microtask chain (async middleware) settles well under it.
 */
const AFTER_WAIT_US = 20;

export class ServerCore {
  fetch: FetchHandler | null;
  error: ErrorHandler | null;
  router: Router | null;
  readonly development: boolean;
  readonly maxRequestBodySize: number;
  readonly idleTimeoutMs: number;
  readonly headerTimeoutMs: number;
  readonly limits: ParserLimits;
  defaultHost = "localhost";
  /** The public Server object handed to handlers. */
  server: unknown = null;
  pendingRequests = 0;
  stopping = false;
  readonly stats: ServerStats = { requests: 0, parseErrors: 0, timeouts: 0, handlerErrors: 0 };
  /** Files (Bun.file bodies) are sent through this hook: io_uring (files.ts), Bun's reader as its fallback. */
  sendFile: (hc: HttpConnection, file: Blob, req: UringRequest | null, o: FileResponseOptions) => Promise<boolean> = sendFileUring;
  /** The handler of this server's connections that have no HttpConnection (connection.ts, Dormant); made on first use. */
  dormant: Dormant | null = null;

  constructor(o: {
    fetch?: FetchHandler;
    error?: ErrorHandler;
    routes?: Record<string, RouteValue>;
    development: boolean;
    maxRequestBodySize: number;
    idleTimeoutMs: number;
    headerTimeoutMs: number;
    limits?: Partial<ParserLimits>;
  }) {
    this.fetch = o.fetch ?? null;
    this.error = o.error ?? null;
    this.router = o.routes ? new Router(o.routes) : null;
    this.development = o.development;
    this.maxRequestBodySize = o.maxRequestBodySize;
    this.idleTimeoutMs = o.idleTimeoutMs;
    this.headerTimeoutMs = o.headerTimeoutMs;
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
  }

  readonly #heads: RequestHead[] = [];

  /** A parser state for a connection that has a head in progress (pooled: idle connections hold none). */
  takeHead(): RequestHead {
    return this.#heads.pop() ?? new RequestHead(this.limits.maxHeaderCount);
  }

  giveHead(h: RequestHead): void {
    h.reset();
    if (this.#heads.length < 64) this.#heads.push(h);
  }

  /** Run the route or fetch handler for `req`; its answer goes to hc.settle(slot, ...). */
  handle(req: UringRequest, slot: Slot, hc: HttpConnection): void {
    let result: unknown;
    try {
      if (this.router) {
        const m = this.router.match(req._path);
        if (m && !m.entry.fallthrough) {
          const hs = m.entry.handlers;
          const h = hs.get(req.method) ?? hs.get("*") ?? (req.method === "HEAD" ? hs.get("GET") : undefined);
          if (h) {
            if (isStatic(h)) return hc.settle(slot, null, h);
            req.params = m.params ?? ROUTE_NO_PARAMS;
            result = h(req, this.server);
            return this.#resolve(result, slot, hc);
          }
          if (!this.fetch) {
            const allow = [...hs.keys()].join(", ");
            return hc.settle(slot, new Response("Method Not Allowed\n", { status: 405, headers: { allow } }));
          }
        }
      }
      if (!this.fetch) return hc.settle(slot, new Response("Not Found\n", { status: 404 }));
      result = this.fetch.call(this.server, req as unknown as Request, this.server);
    } catch (e) {
      return this.#fail(e, slot, hc);
    }
    this.#resolve(result, slot, hc);
  }

  #resolve(result: unknown, slot: Slot, hc: HttpConnection, fromError = false): void {
    if (result instanceof Response) return hc.settle(slot, result);
    if (result !== null && typeof result === "object" && typeof (result as Promise<unknown>).then === "function") {
      const p = result as Promise<unknown>;
      // A settled promise is read at once: no microtask per request (DESIGN.md).
      const status = p instanceof Promise ? Bun.peek.status(p) : "pending";
      if (status === "fulfilled") return this.#resolve(Bun.peek(p), slot, hc, fromError);
      if (status === "rejected") {
        const err = Bun.peek(p);
        p.catch(() => {}); // handled here
        return fromError ? this.#internalError(err, slot, hc) : this.#fail(err, slot, hc);
      }
      return this.#await(p, slot, hc, fromError);
    }
    const err = Object.assign(new TypeError(`the ${fromError ? "error" : "fetch"} handler must return a Response (or a Promise of one), got ${result === null ? "null" : typeof result}`), { code: "ERR_INVALID_RESPONSE" });
    if (fromError) this.#internalError(err, slot, hc);
    else this.#fail(err, slot, hc);
  }

  // Apart from #resolve because its closures would cost #resolve a scope object on every call.
  #await(p: Promise<unknown>, slot: Slot, hc: HttpConnection, fromError: boolean): void {
    const at = performance.now();
    p.then(
      (v) => {
        // Microtasks alone (an async middleware chain) settle within microseconds; a wait on I/O (a
        // fetch() above all) takes tens of them at least. Its answer may carry an upstream's stream.
        if (performance.now() - at > AFTER_WAIT_US / 1000) slot.afterWait = true;
        this.#resolve(v, slot, hc, fromError);
      },
      (e) => (fromError ? this.#internalError(e, slot, hc) : this.#fail(e, slot, hc)),
    );
  }

  /** A handler threw or rejected: the error handler answers, else a 500. */
  #fail(err: unknown, slot: Slot, hc: HttpConnection): void {
    // The server already answered (a malformed or over-large body got its 400/413 and the handler's
    // read of that body failed): nothing to send, and logging it would let clients flood the log.
    if (slot.final) return;
    // The client left and the handler's work stopped on req.signal's abort (a proxied fetch() given
    // the signal rejects with its reason): the expected end of that request, not worth a log line or
    // error() (Bun.serve reports nothing either). The slot is still settled: a half-closed client may
    // have answers queued behind it. Any other error is still the handler's.
    if (isAbortError(err) && slot.req?._gone) return hc.settleError(slot, 500, "Internal Server Error");
    this.stats.handlerErrors++;
    if (!this.error) return this.#internalError(err, slot, hc);
    let r: unknown;
    try {
      r = this.error.call(this.server, err as Error);
    } catch (e) {
      return this.#internalError(e, slot, hc);
    }
    if (r === undefined || r === null) return this.#internalError(err, slot, hc);
    this.#resolve(r, slot, hc, true);
  }

  #internalError(err: unknown, slot: Slot, hc: HttpConnection): void {
    this.reportError(err);
    const detail = this.development && err instanceof Error ? `\n\n${err.stack ?? err.message}` : "";
    hc.settleError(slot, 500, `Internal Server Error${detail}`);
  }

  reportError(err: unknown): void {
    console.error(err);
  }

  reload(o: { fetch?: FetchHandler; error?: ErrorHandler; routes?: Record<string, RouteValue> }): void {
    if (o.fetch !== undefined) this.fetch = o.fetch;
    if (o.error !== undefined) this.error = o.error;
    if (o.routes !== undefined) this.router = new Router(o.routes);
  }
}

function isAbortError(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

/** Files sent with Bun's own reader (used until the io_uring file path takes over, and as its fallback). */
export async function sendFileByStream(hc: HttpConnection, file: Blob, _req: UringRequest | null, o: FileResponseOptions): Promise<boolean> {
  const f = file as Blob & { exists(): Promise<boolean>; name?: string };
  const conn = hc.conn;
  // By name: a sliced Bun.file's exists() is false in Bun 1.3.14 even when the file is there.
  if (!(await (typeof f.name === "string" ? Bun.file(f.name).exists() : f.exists()))) {
    if (!conn.open) return false;
    conn.writeLatin1(serializeHead({ status: 404, statusText: "", headers: null, defaultType: "text/plain;charset=utf-8", length: 10, keepAlive: o.keepAlive, versionMinor: o.versionMinor }));
    if (!o.isHead) conn.writeLatin1("Not Found\n");
    return true;
  }
  const size = f.size;
  if (!conn.open) return false;
  // The file's name where Bun.serve gives it, as the io_uring path does (files/disposition.ts).
  const extra = typeof f.name === "string" && namesFileIn(o.status, o.headers, o.type) ? dispositionField(f.name) : undefined;
  const head = serializeHead({ status: o.status, statusText: o.statusText, headers: o.headers, defaultType: o.type, length: size, keepAlive: o.keepAlive, versionMinor: o.versionMinor, extra });
  conn.writeLatin1(head);
  if (o.isHead || size === 0) return true;
  return pipeStream(conn, f.stream(), false, hc.waitDrain, size);
}
