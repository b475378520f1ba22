// Shared helpers for the reactor-core tests (test/ffi, test/loop, test/net): a completion
// recorder, the few libc calls a test needs for its own peer sockets and pipes, and temp dirs.
// Everything here is test-only; the library's own libc binding is src/ffi/libc.ts.
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Completer } from "../../src/loop/ops.ts";
import type { Reactor } from "../../src/loop/reactor.ts";
import { NativeRegion } from "../../src/ffi/memory.ts";
import { AF_INET, SOCK_STREAM, SOCK_CLOEXEC, SOCK_NONBLOCK } from "../../src/ffi/constants.ts";

const { i32, u32, u64, i64, ptr: p } = FFIType;

export const tlibc = dlopen("libc.so.6", {
  socket: { args: [i32, i32, i32], returns: i32 },
  connect: { args: [i32, p, u32], returns: i32 },
  shutdown: { args: [i32, i32], returns: i32 },
  close: { args: [i32], returns: i32 },
  read: { args: [i32, p, u64], returns: i64 },
  write: { args: [i32, p, u64], returns: i64 },
  pipe2: { args: [p, i32], returns: i32 },
  fcntl: { args: [i32, i32, i32], returns: i32 },
  setsockopt: { args: [i32, i32, i32, p, u32], returns: i32 },
  __errno_location: { args: [], returns: p },
}).symbols;

export function lastErrno(): number {
  return read.i32(tlibc.__errno_location() as Pointer, 0);
}

/** One CQE as delivered to a Completer (after the reap). */
export interface Cqe {
  res: number;
  flags: number;
  tag: number;
  op: number;
}

/** A Completer that records every completion it is given, in order. */
export class Recorder implements Completer {
  readonly cqes: Cqe[] = [];
  onComplete: ((c: Cqe) => void) | null = null;
  complete(res: number, flags: number, tag: number, op: number): void {
    const c = { res, flags, tag, op };
    this.cqes.push(c);
    this.onComplete?.(c);
  }
  byTag(tag: number): Cqe[] {
    return this.cqes.filter((c) => c.tag === tag);
  }
  byOp(op: number): Cqe[] {
    return this.cqes.filter((c) => c.op === op);
  }
}

/** A fresh directory under the OS temp dir, and its remover. */
export function tempDir(prefix: string): { dir: string; path(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `bun-uring-${prefix}-`));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes (xorshift32), so a corrupted or reordered byte is caught. */
export function patternBytes(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** First index where a and b differ, or -1 when equal (lengths included). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

const addrScratch = new NativeRegion(64);

/** struct sockaddr_in for 127.0.0.1:port written into `region` at `offset`; returns its length. */
export function writeSockaddrIn(region: NativeRegion, offset: number, port: number): number {
  const u8 = region.u8;
  u8.fill(0, offset, offset + 16);
  u8[offset] = AF_INET;
  u8[offset + 2] = port >> 8;
  u8[offset + 3] = port & 0xff;
  u8.set([127, 0, 0, 1], offset + 4);
  return 16;
}

/** A plain (blocking) TCP client socket connected to 127.0.0.1:port with libc connect(). */
export function connectBlocking(port: number): number {
  const fd = tlibc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket() got errno ${lastErrno()}, wanted an fd`);
  const len = writeSockaddrIn(addrScratch, 0, port);
  if (tlibc.connect(fd, addrScratch.ptr as unknown as Pointer, len) < 0) {
    const e = lastErrno();
    tlibc.close(fd);
    throw new Error(`connect(127.0.0.1:${port}) got errno ${e}, wanted 0`);
  }
  return fd;
}

/** A non-blocking TCP socket, not connected (for the ring's CONNECT). */
export function socketNonBlocking(): number {
  const fd = tlibc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw new Error(`socket() got errno ${lastErrno()}, wanted an fd`);
  return fd;
}

/** A pipe: [read end, write end], both close-on-exec. */
export function pipe(): [number, number] {
  const fds = new NativeRegion(8);
  try {
    if (tlibc.pipe2(fds.ptr as unknown as Pointer, 0o2000000) < 0) throw new Error(`pipe2() got errno ${lastErrno()}`);
    return [fds.i32[0]!, fds.i32[1]!];
  } finally {
    fds.free();
  }
}

/** write(2) of the whole of `bytes` from a blocking fd; returns bytes written. */
export function writeAll(fd: number, bytes: Uint8Array): number {
  const copy = new NativeRegion(bytes.length);
  try {
    copy.u8.set(bytes);
    let off = 0;
    while (off < bytes.length) {
      const n = Number(tlibc.write(fd, (copy.ptr + off) as unknown as Pointer, bytes.length - off));
      if (n < 0) throw new Error(`write(${fd}) got errno ${lastErrno()}`);
      off += n;
    }
    return off;
  } finally {
    copy.free();
  }
}

/** One read(2) of at most `max` bytes; returns the bytes (empty at EOF). */
export function readSome(fd: number, max: number): Uint8Array {
  const buf = new NativeRegion(max);
  try {
    const n = Number(tlibc.read(fd, buf.ptr as unknown as Pointer, max));
    if (n < 0) throw new Error(`read(${fd}) got errno ${lastErrno()}`);
    return buf.u8.slice(0, n);
  } finally {
    buf.free();
  }
}

/** fcntl(F_SETFL, O_NONBLOCK) on fd. */
export function setNonBlocking(fd: number): void {
  const F_GETFL = 3, F_SETFL = 4;
  const fl = tlibc.fcntl(fd, F_GETFL, 0);
  if (fl < 0 || tlibc.fcntl(fd, F_SETFL, fl | 0o4000) < 0) throw new Error(`fcntl(O_NONBLOCK) got errno ${lastErrno()}`);
}

/** One read(2) on a non-blocking fd: the bytes (empty at EOF), or null when nothing is there (EAGAIN). */
export function tryRead(fd: number, max: number): Uint8Array | null {
  const buf = new NativeRegion(max);
  try {
    const n = Number(tlibc.read(fd, buf.ptr as unknown as Pointer, max));
    if (n < 0) {
      const e = lastErrno();
      if (e === 11) return null;
      throw new Error(`read(${fd}) got errno ${e}`);
    }
    return buf.u8.slice(0, n);
  } finally {
    buf.free();
  }
}

/**
 * A raw client socket for tests that need exact TCP behaviour (shutdown(SHUT_WR) while still
 * reading; not reading at all): blocking connect, then non-blocking, read by polling on Bun's loop.
 */
export class RawClient {
  readonly fd: number;
  readonly chunks: Uint8Array[] = [];
  received = 0;
  eof = false;
  #closed = false;
  constructor(port: number) {
    this.fd = connectBlocking(port);
    setNonBlocking(this.fd);
  }
  /** Read what is there now; true at EOF. */
  drain(max = 1 << 20): boolean {
    for (;;) {
      if (this.eof || this.#closed) return true;
      let got: Uint8Array | null;
      try {
        got = tryRead(this.fd, max);
      } catch {
        this.eof = true; // ECONNRESET and the like end the stream too
        return true;
      }
      if (got === null) return false;
      if (got.length === 0) {
        this.eof = true;
        return true;
      }
      this.chunks.push(got);
      this.received += got.length;
    }
  }
  /** Read (polling on Bun's loop) until `cond` or `ms`. */
  async readUntil(cond: () => boolean, ms: number): Promise<boolean> {
    const end = performance.now() + ms;
    for (;;) {
      this.drain();
      if (cond()) return true;
      if (performance.now() > end) return false;
      await sleep(1);
    }
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.received);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
  send(s: string | Uint8Array): void {
    writeAll(this.fd, typeof s === "string" ? new TextEncoder().encode(s) : s);
  }
  shutdownWrite(): void {
    tlibc.shutdown(this.fd, 1);
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    tlibc.close(this.fd);
  }
}

/** Drive the reactor until `cond`, failing with `what` (got/wanted) when it does not happen. */
export function runOrFail(r: Reactor, cond: () => boolean, ms: number, what: () => string): void {
  if (!r.runUntil(cond, ms)) throw new Error(`timed out after ${ms} ms: ${what()}`);
}

/** Resolve after `ms` on Bun's loop. */
/** A port that was free a moment ago (bind 0, read, close). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

export const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/** Wait on Bun's loop until `cond` or `ms`; returns whether cond became true. */
export async function waitFor(cond: () => boolean, ms: number, step = 2): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(step);
  }
  return true;
}
