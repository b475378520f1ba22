// listen(): TCP servers on the reactor with handlers shaped like Bun.listen's
// (open/data/drain/end/close/error/timeout), so the API feels familiar.
import { defaultReactor } from "../loop/default.ts";
import { ioUringAvailability } from "../loop/availability.ts";
import type { Reactor } from "../loop/reactor.ts";
import { Listener, type Connection, type ConnectionHandler } from "./tcp.ts";
import type { SocketAddress } from "./sockaddr.ts";

export interface SocketHandler<Data = unknown> {
  open?(socket: TCPSocket<Data>): void;
  /**
   * Bytes received. By default a copy the handler owns (like Bun.listen); with `borrowData: true`
   * a view into the receive buffer that is valid only during the call (no copy).
   */
  data?(socket: TCPSocket<Data>, data: Uint8Array): void;
  drain?(socket: TCPSocket<Data>): void;
  /** The peer half-closed. Unless allowHalfOpen, the socket then ends. */
  end?(socket: TCPSocket<Data>): void;
  close?(socket: TCPSocket<Data>, error?: Error): void;
  error?(socket: TCPSocket<Data>, error: Error): void;
  timeout?(socket: TCPSocket<Data>): void;
}

export interface TCPListenOptions<Data = unknown> {
  hostname?: string;
  port?: number;
  reusePort?: boolean;
  /** On an IPv6 address ("::"), IPv6 clients only; by default IPv4 ones too. */
  ipv6Only?: boolean;
  backlog?: number;
  allowHalfOpen?: boolean;
  borrowData?: boolean;
  data?: Data;
  socket: SocketHandler<Data>;
  reactor?: Reactor;
}

export class TCPSocket<Data = unknown> implements ConnectionHandler {
  readonly #conn: Connection;
  readonly #handlers: SocketHandler<Data>;
  readonly #opts: TCPListenOptions<Data>;
  #timeoutMs = 0;
  data: Data;

  constructor(conn: Connection, opts: TCPListenOptions<Data>) {
    this.#conn = conn;
    this.#opts = opts;
    this.#handlers = opts.socket;
    this.data = opts.data as Data;
  }

  get remoteAddress(): string {
    return this.#conn.remoteAddress?.address ?? "";
  }
  get remoteFamily(): SocketAddress["family"] | undefined {
    return this.#conn.remoteAddress?.family;
  }
  get remotePort(): number {
    return this.#conn.remoteAddress?.port ?? 0;
  }
  get localPort(): number {
    return this.#conn.listener?.port ?? 0;
  }
  /** "open", "closing" or "closed", as Bun's readyState reports 1, -1 (closing) ... kept as words here. */
  get readyState(): "open" | "closing" | "closed" {
    return this.#conn.closed ? "closed" : this.#conn.open ? "open" : "closing";
  }
  /** Bytes queued and not yet sent. */
  get bufferedAmount(): number {
    return this.#conn.queued;
  }

  /**
   * Queue bytes for sending; everything is accepted (up to the connection's bound). Returns the
   * number of bytes queued, or -1 when the socket is closed. Check `bufferedAmount` or wait for
   * `drain` to apply backpressure.
   * Unlike Bun.listen, a write of 64 KB or more is sent from the caller's memory, not copied:
   * changing the array before `bufferedAmount` falls back changes what is sent (measured: a 64 KB
   * buffer filled with 1, written, filled with 2, written again, arrives as 2s twice).
   */
  write(data: string | ArrayBufferView | ArrayBuffer, byteOffset = 0, byteLength?: number): number {
    const c = this.#conn;
    if (typeof data === "string") {
      const s = byteOffset || byteLength !== undefined ? data.slice(byteOffset, byteLength === undefined ? undefined : byteOffset + byteLength) : data;
      if (!c.writeUtf8(s)) return -1;
      void c.needsDrain;
      return Buffer.byteLength(s);
    }
    const u8 = data instanceof Uint8Array ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
    const end = byteLength === undefined ? u8.length : Math.min(u8.length, byteOffset + byteLength);
    // Large writes are sent from memory without a copy (tcp.ts): give it a copy we own, so the
    // caller may reuse its buffer at once, as with Bun.listen.
    const ok = end - byteOffset >= 65536 ? c.write(u8.slice(byteOffset, end)) : c.write(u8, byteOffset, end);
    if (!ok) return -1;
    void c.needsDrain; // arms the drain event when over the high-water mark
    return end - byteOffset;
  }

  /** Write `data` if given, then close after everything queued is sent. */
  end(data?: string | ArrayBufferView | ArrayBuffer): number {
    const n = data === undefined ? 0 : this.write(data);
    this.#conn.end();
    return n;
  }
  /** Close now, dropping what is queued. */
  terminate(): void {
    this.#conn.close();
  }
  /** Stop writing after what is queued (half-close); reading goes on. */
  shutdown(): void {
    this.#conn.end();
  }
  flush(): void {}
  /** Close the connection after `seconds` without activity (0 disables). */
  timeout(seconds: number): void {
    this.#timeoutMs = seconds > 0 ? seconds * 1000 : 0;
    this.#conn.deadline = this.#timeoutMs ? performance.now() + this.#timeoutMs : 0;
  }
  ref(): void {}
  unref(): void {}

  onData(_c: Connection, buf: Uint8Array, start: number, end: number): void {
    if (this.#timeoutMs) this.#conn.deadline = performance.now() + this.#timeoutMs;
    const h = this.#handlers.data;
    if (!h) return;
    try {
      h(this, this.#opts.borrowData ? buf.subarray(start, end) : buf.slice(start, end));
    } catch (e) {
      this.#onError(e as Error);
    }
  }
  onDrain(): void {
    try {
      this.#handlers.drain?.(this);
    } catch (e) {
      this.#onError(e as Error);
    }
  }
  onEnd(): boolean {
    try {
      this.#handlers.end?.(this);
    } catch (e) {
      this.#onError(e as Error);
    }
    return this.#opts.allowHalfOpen === true;
  }
  onTimeout(): void {
    if (this.#handlers.timeout) {
      try {
        this.#handlers.timeout(this);
      } catch (e) {
        this.#onError(e as Error);
      }
    } else this.#conn.close();
  }
  onClose(_c: Connection, error: Error | null): void {
    try {
      if (error) this.#handlers.error?.(this, error);
      this.#handlers.close?.(this, error ?? undefined);
    } catch (e) {
      queueMicrotask(() => { throw e; });
    }
  }
  #onError(e: Error): void {
    if (this.#handlers.error) {
      try {
        this.#handlers.error(this, e);
      } catch {}
      this.#conn.close(e);
    } else {
      this.#conn.close(e);
      queueMicrotask(() => { throw e; });
    }
  }
}

export interface TCPSocketListener<Data = unknown> {
  readonly port: number;
  readonly hostname: string;
  readonly data: Data;
  stop(closeActiveConnections?: boolean): void;
  ref(): void;
  unref(): void;
  /** Open connections (for observability and tests). */
  readonly connections: number;
}

/** A TCP server on io_uring, like Bun.listen. */
export function listen<Data = unknown>(options: TCPListenOptions<Data>): TCPSocketListener<Data> {
  if (!options || typeof options !== "object" || !options.socket) {
    throw Object.assign(new TypeError("listen() needs options with a `socket` handler object"), { code: "ERR_INVALID_ARG_TYPE" });
  }
  for (const key of ["unix", "tls"] as const) {
    if ((options as unknown as Record<string, unknown>)[key] !== undefined) {
      throw Object.assign(new Error(`listen(): the "${key}" option is not supported by bun-uring`), { code: "ERR_NOT_SUPPORTED" });
    }
  }
  // No fallback here: Bun.listen's sockets write partially (the caller buffers), ours queue
  // everything, so a handler written for one would lose data on the other. Throws
  // IoUringUnavailableError (code ERR_IO_URING_UNAVAILABLE) with the reason instead.
  if (!options.reactor) {
    const a = ioUringAvailability();
    if (!a.ok) throw a.error;
  }
  const reactor = options.reactor ?? defaultReactor();
  const listener = new Listener(reactor, options, {
    onAccept(c: Connection) {
      const s = new TCPSocket<Data>(c, options);
      try {
        options.socket.open?.(s);
      } catch (e) {
        c.close(e as Error);
      }
      return s;
    },
  });
  return {
    port: listener.port,
    hostname: listener.hostname,
    data: options.data as Data,
    get connections() {
      return listener.connectionCount;
    },
    stop(closeActive = false) {
      listener.stop();
      if (closeActive) listener.closeAll();
    },
    ref: () => listener.ref(),
    unref: () => listener.unref(),
  };
}
