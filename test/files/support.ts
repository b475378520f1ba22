// Helpers for the file-serving tests (test/files): temp trees, sha256 of what came and of what is on
// disk, a raw request over node:net (so the client never normalises a path), and the leak baseline
// (op slots live; file slots in use minus the cache's open descriptors).
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { Reactor } from "../../src/loop/reactor.ts";
import { fileServerStats } from "../../src/net/http/files.ts";
import { fileSlots } from "../../src/loop/files.ts";
import { RawHttp, waitFor } from "../support/http.ts";
import { RawClient, tryRead } from "../support/uring.ts";

export { RawHttp, waitFor };

export function tempTree(prefix: string): { dir: string; path(...p: string[]): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `bun-uring-files-${prefix}-`));
  return { dir, path: (...p) => join(dir, ...p), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A file of `size` random bytes, written in 1 MiB pieces (64 MiB without a 64 MiB buffer). */
export function writeRandomFile(path: string, size: number): string {
  const h = createHash("sha256");
  const fd = openSync(path, "w");
  try {
    const piece = new Uint8Array(Math.min(size, 1 << 20));
    for (let left = size; left > 0; ) {
      const n = Math.min(left, piece.length);
      for (let o = 0; o < n; o += 65536) crypto.getRandomValues(piece.subarray(o, Math.min(n, o + 65536)));
      writeSync(fd, piece, 0, n);
      h.update(piece.subarray(0, n));
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** sha256 and length of a fetch() body, streamed (a 64 MiB body is never held whole). */
export async function bodyDigest(res: Response): Promise<{ sha: string; length: number }> {
  const h = createHash("sha256");
  let length = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    h.update(r.value);
    length += r.value.length;
  }
  return { sha: h.digest("hex"), length };
}

/** One request on a fresh raw connection (Connection: close); the parsed response, or what came. */
export async function rawGet(port: number, target: string, extra = "", method = "GET") {
  const c = await RawHttp.open(port);
  await c.write(`${method} ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${extra}\r\n`);
  const r = await c.response(method === "HEAD");
  c.destroy();
  return r;
}

export { writeFileSync };

/** What must come back to where it was: op slots live, and file slots not held by the cache. */
export function leakBaseline(r: Reactor): { ops: number; slots: number } {
  const st = fileServerStats(r);
  return { ops: r.ops.live, slots: fileSlots(r).inUse - (st?.cachedSlots ?? 0) };
}

/** Wait (on Bun's loop) until the reactor is back at `base`; the message names what did not. */
export async function expectBackToBaseline(r: Reactor, base: { ops: number; slots: number }, ms = 3000): Promise<string | null> {
  let now = leakBaseline(r);
  await waitFor(() => {
    now = leakBaseline(r);
    return now.ops <= base.ops && now.slots <= base.slots;
  }, ms);
  now = leakBaseline(r);
  const st = fileServerStats(r);
  if (now.ops <= base.ops && now.slots <= base.slots && (st === null || (st.activeTransfers === 0 && st.blocksInUse === 0))) return null;
  return `got ops live ${now.ops} (baseline ${base.ops}), uncached file slots ${now.slots} (baseline ${base.slots}), transfers ${st?.activeTransfers}, blocks in use ${st?.blocksInUse}; wanted all back to baseline`;
}

/**
 * A raw GET whose reading we control (libc socket; Bun's socket.pause() keeps reading from the
 * kernel, so it cannot hold the server back): reads only when told, counts body bytes.
 */
export class SlowReader {
  readonly c: RawClient;
  head = "";
  bodyBytes = 0;
  contentLength = -1;
  #buf = Buffer.alloc(0);
  #chunks: Buffer[] = [];
  readonly #keep: boolean;
  constructor(port: number, path: string, keep = false) {
    this.c = new RawClient(port);
    this.#keep = keep;
    this.c.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  }
  get ended(): boolean {
    return this.c.eof;
  }
  /** Read what is there now, at most `max` bytes; true at EOF. */
  read(max = 1 << 20): boolean {
    while (max > 0 && !this.c.eof) {
      let got: Uint8Array | null;
      try {
        got = tryRead(this.c.fd, Math.min(max, 1 << 20));
      } catch {
        this.c.eof = true;
        break;
      }
      if (got === null) break;
      if (got.length === 0) {
        this.c.eof = true;
        break;
      }
      max -= got.length;
      this.#take(Buffer.from(got));
    }
    return this.c.eof;
  }
  #take(d: Buffer): void {
    if (this.contentLength < 0) {
      this.#buf = Buffer.concat([this.#buf, d]);
      const e = this.#buf.indexOf("\r\n\r\n");
      if (e < 0) return;
      this.head = this.#buf.subarray(0, e).toString("latin1");
      this.contentLength = Number(/content-length: (\d+)/i.exec(this.head)?.[1] ?? -1);
      d = this.#buf.subarray(e + 4);
    }
    this.bodyBytes += d.length;
    if (this.#keep) this.#chunks.push(d);
  }
  /** Read (polling on Bun's loop) until `cond` or `ms`. */
  async readUntil(cond: () => boolean, ms: number, max = 1 << 30): Promise<boolean> {
    const end = performance.now() + ms;
    for (;;) {
      this.read(max);
      if (cond()) return true;
      if (performance.now() > end) return false;
      await Bun.sleep(1);
    }
  }
  body(): Buffer {
    return Buffer.concat(this.#chunks);
  }
  close(): void {
    this.c.close();
  }
}
