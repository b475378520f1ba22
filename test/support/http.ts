// Shared helpers for the serve() tests (test/http): a raw HTTP client over node:net that records
// every byte and when the server closed, and a strict response splitter that frames responses by
// Content-Length / chunked / no-body rules, so a wrong length shows up as a garbled next response.
import { connect, type Socket } from "node:net";

import { sleep, waitFor } from "./uring.ts";
export { sleep, waitFor } from "./uring.ts";

export interface RawResponse {
  version: string;
  status: number;
  reason: string;
  /** In order, names lower-cased. */
  headers: [string, string][];
  body: Buffer;
  /** Framing the response used. */
  framing: "length" | "chunked" | "none" | "close";
  /** Chunk sizes, when chunked. */
  chunks: number[];
  /** The raw head (up to and including the blank line). */
  head: string;
  get(name: string): string | null;
  all(name: string): string[];
}

/**
 * Split `buf` into complete responses. `isHead[i]` says that response i answers a HEAD request.
 * Returns the responses and how many bytes they used; a response still incomplete stays out.
 * Throws on bytes that are not a response (the message names what was found).
 */
export function parseResponses(buf: Buffer, isHead: boolean[] = [], closed = false): { responses: RawResponse[]; used: number } {
  const responses: RawResponse[] = [];
  let p = 0;
  for (;;) {
    if (p >= buf.length) break;
    const end = buf.indexOf("\r\n\r\n", p);
    if (end < 0) break;
    const head = buf.subarray(p, end + 4).toString("latin1");
    const lines = head.slice(0, -4).split("\r\n");
    const m = /^(HTTP\/\d\.\d) (\d{3}) ?(.*)$/.exec(lines[0]!);
    if (!m) throw new Error(`got status line ${JSON.stringify(lines[0])}, wanted HTTP/x.y NNN reason`);
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const c = line.indexOf(":");
      if (c <= 0) throw new Error(`got header line ${JSON.stringify(line)}, wanted name: value`);
      headers.push([line.slice(0, c).toLowerCase(), line.slice(c + 1).trim()]);
    }
    const status = Number(m[2]);
    const get = (n: string) => headers.find(([k]) => k === n)?.[1] ?? null;
    const all = (n: string) => headers.filter(([k]) => k === n).map(([, v]) => v);
    let q = end + 4;
    let body = Buffer.alloc(0);
    let framing: RawResponse["framing"];
    const chunks: number[] = [];
    const te = get("transfer-encoding");
    const cl = get("content-length");
    if (isHead[responses.length] || status < 200 || status === 204 || status === 304) {
      framing = "none";
    } else if (te !== null) {
      if (te.toLowerCase() !== "chunked") throw new Error(`got transfer-encoding ${te}, wanted chunked`);
      framing = "chunked";
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const le = buf.indexOf("\r\n", q);
        if (le < 0) break;
        const size = parseInt(buf.subarray(q, le).toString("latin1").split(";")[0]!, 16);
        if (!Number.isFinite(size)) throw new Error(`got chunk size line ${JSON.stringify(buf.subarray(q, le).toString())}, wanted hex`);
        if (size === 0) {
          const te2 = buf.indexOf("\r\n\r\n", le);
          if (te2 < 0 && buf.indexOf("\r\n", le + 2) !== le + 2) break;
          q = buf.indexOf("\r\n", le + 2) === le + 2 ? le + 4 : te2 + 4;
          complete = true;
          break;
        }
        if (buf.length < le + 2 + size + 2) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        chunks.push(size);
        if (buf.subarray(le + 2 + size, le + 4 + size).toString() !== "\r\n") throw new Error("got chunk data not followed by CRLF, wanted CRLF");
        q = le + 4 + size;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else if (cl !== null) {
      framing = "length";
      const n = Number(cl);
      if (buf.length < q + n) break;
      body = Buffer.from(buf.subarray(q, q + n));
      q += n;
    } else {
      // Close-delimited (RFC 9112 §6.3 rule 8): complete only once the server closed.
      framing = "close";
      if (!closed) break;
      body = Buffer.from(buf.subarray(q));
      q = buf.length;
    }
    responses.push({ version: m[1]!, status, reason: m[3]!, headers, body, framing, chunks, head, get, all });
    p = q;
  }
  return { responses, used: p };
}

/** A raw TCP client for protocol tests: send exact bytes, see exact bytes and when the server closed. */
export class RawHttp {
  readonly sock: Socket;
  buf = Buffer.alloc(0);
  /** Server sent FIN. */
  ended = false;
  closed = false;
  error: Error | null = null;
  /** performance.now() when each data event came. */
  readonly dataTimes: number[] = [];
  readonly connected: Promise<void>;

  constructor(port: number, host = "127.0.0.1") {
    this.sock = connect(port, host);
    this.connected = new Promise((res, rej) => {
      this.sock.once("connect", () => res());
      this.sock.once("error", rej);
    });
    this.sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.dataTimes.push(performance.now());
    });
    this.sock.on("end", () => (this.ended = true));
    this.sock.on("close", () => (this.closed = true));
    this.sock.on("error", (e) => (this.error = e));
  }

  static async open(port: number): Promise<RawHttp> {
    const c = new RawHttp(port);
    await c.connected;
    return c;
  }

  write(d: string | Uint8Array): Promise<void> {
    return new Promise((res) => {
      if (this.closed || this.sock.destroyed) return res();
      this.sock.write(d, () => res()); // a write into a closed socket is not the test's subject
    });
  }

  text(): string {
    return this.buf.toString("latin1");
  }

  /** Wait until `n` complete responses arrived (or the server closed, or `ms`); returns what arrived. */
  async responses(n: number, isHead: boolean[] = [], ms = 3000): Promise<RawResponse[]> {
    let got: RawResponse[] = [];
    await waitFor(() => {
      got = parseResponses(this.buf, isHead, this.ended || this.closed).responses;
      return got.length >= n || this.ended || this.closed;
    }, ms);
    got = parseResponses(this.buf, isHead, this.ended || this.closed).responses;
    return got;
  }

  /** One response (throws naming what came when none did). */
  async response(isHead = false, ms = 3000): Promise<RawResponse> {
    const [r] = await this.responses(1, [isHead], ms);
    if (!r) throw new Error(`got ${JSON.stringify(this.text().slice(0, 200))} (closed: ${this.ended || this.closed}), wanted a complete response`);
    return r;
  }

  /** Wait for the server to end the connection; true if it did within `ms`. */
  async waitEnd(ms = 3000): Promise<boolean> {
    return waitFor(() => this.ended || this.closed, ms);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** Send `raw` on a fresh connection; collect what comes until the server closes or `ms` passes. */
export async function exchange(port: number, raw: string | Uint8Array, ms = 2000): Promise<{ text: string; closed: boolean; c: RawHttp }> {
  const c = await RawHttp.open(port);
  await c.write(raw);
  const closed = await c.waitEnd(ms);
  return { text: c.text(), closed, c };
}

/** A minimal valid request head. */
export function get(path = "/", extra = "", version = "1.1"): string {
  return `GET ${path} HTTP/${version}\r\nHost: localhost\r\n${extra}\r\n`;
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return require("node:fs").readdirSync("/proc/self/fd").length;
}

/** A body pulled as it is read (an SSE-like producer): `count` lines "event i", each after `delayMs`. */
export function pulledEvents(count = 5, delayMs = 2): ReadableStream<string> {
  let i = 0;
  return new ReadableStream<string>({
    async pull(c) {
      await Bun.sleep(delayMs);
      if (i < count) c.enqueue(`event ${i++}\n`);
      else c.close();
    },
  });
}
/** What pulledEvents(count) sends, whole. */
export const pulledEventsText = (count = 5) => Array.from({ length: count }, (_, i) => `event ${i}\n`).join("");
