// A plain TCP client on libc sockets for the fuzzers: non-blocking connect, writes and reads polled from
// Bun's loop, shutdown(SHUT_WR) for a half-close, SO_LINGER 0 for a reset: exact control over what goes
// on the wire and when. (Bun 1.3's node:net client drops what arrives after its own end(), the answer to a
// half-closed request, against Bun.serve as against serve().)
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
import { NativeRegion } from "../../src/ffi/memory.ts";

const { i32, u32, u64, i64, ptr: p } = FFIType;
const libc = dlopen("libc.so.6", {
  socket: { args: [i32, i32, i32], returns: i32 },
  connect: { args: [i32, p, u32], returns: i32 },
  getsockname: { args: [i32, p, p], returns: i32 },
  setsockopt: { args: [i32, i32, i32, p, u32], returns: i32 },
  shutdown: { args: [i32, i32], returns: i32 },
  close: { args: [i32], returns: i32 },
  read: { args: [i32, p, u64], returns: i64 },
  write: { args: [i32, p, u64], returns: i64 },
  __errno_location: { args: [], returns: p },
}).symbols;

const AF_INET = 2, SOCK_STREAM = 1, SOCK_CLOEXEC = 0o2000000, SOCK_NONBLOCK = 0o4000;
const IPPROTO_TCP = 6, TCP_NODELAY = 1, SOL_SOCKET = 1, SO_LINGER = 13;
const EAGAIN = 11, EINTR = 4, EINPROGRESS = 115, EALREADY = 114, EISCONN = 106;

const errno = () => read.i32(libc.__errno_location() as Pointer, 0);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// One scratch region for sockaddrs, options and I/O (the calls are synchronous: no sharing across awaits).
const SCRATCH = 64 * 1024;
const scratch = new NativeRegion(SCRATCH);
const sptr = (off = 0) => (scratch.ptr + off) as unknown as Pointer;

export class RawConn {
  readonly fd: number;
  readonly localPort: number;
  #chunks: Buffer[] = [];
  eof = false;
  #closed = false;

  private constructor(fd: number, localPort: number) {
    this.fd = fd;
    this.localPort = localPort;
  }

  /**
   * Connect to 127.0.0.1:port. Non-blocking throughout: the server may run on this very thread, so
   * nothing here may block it (a full accept backlog, a server that stopped reading).
   */
  static async open(port: number, ms = 5000): Promise<RawConn> {
    const fd = libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw new Error(`socket() got errno ${errno()}`);
    const u8 = scratch.u8;
    const end = performance.now() + ms;
    for (let wait = 0; ; wait = Math.min(wait + 1, 10)) {
      u8.fill(0, 0, 16);
      u8[0] = AF_INET;
      u8[2] = port >> 8;
      u8[3] = port & 0xff;
      u8.set([127, 0, 0, 1], 4);
      if (libc.connect(fd, sptr(), 16) === 0) break;
      const e = errno();
      if (e === EISCONN) break;
      if ((e !== EINPROGRESS && e !== EALREADY && e !== EINTR) || performance.now() > end) {
        libc.close(fd);
        throw Object.assign(new Error(`connect(127.0.0.1:${port}) got errno ${e}`), { errno: e });
      }
      await sleep(wait);
    }
    scratch.i32[8] = 1;
    libc.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, sptr(32), 4);
    scratch.u32[12] = 16;
    libc.getsockname(fd, sptr(16), sptr(48));
    const localPort = (u8[18]! << 8) | u8[19]!;
    return new RawConn(fd, localPort);
  }

  /** Write all of `bytes`, waiting (on Bun's loop) while the socket is full. False when the peer is gone. */
  async write(bytes: Uint8Array, ms = 5000): Promise<boolean> {
    let off = 0;
    const end = performance.now() + ms;
    let wait = 0;
    while (off < bytes.length) {
      const n = Math.min(SCRATCH, bytes.length - off);
      scratch.u8.set(bytes.subarray(off, off + n), 0);
      const r = Number(libc.write(this.fd, sptr(), n));
      if (r >= 0) {
        off += r;
        wait = 0;
        continue;
      }
      const e = errno();
      if (e === EINTR) continue;
      if (e !== EAGAIN || performance.now() > end) return false;
      await sleep(wait);
      wait = Math.min(wait + 1, 10);
    }
    return true;
  }

  /** shutdown(SHUT_WR): the peer reads EOF after everything written. */
  shutdownWrite(): void {
    libc.shutdown(this.fd, 1);
  }

  /** Close with an RST (SO_LINGER 0): a client that vanishes. */
  reset(): void {
    scratch.i32[0] = 1;
    scratch.i32[1] = 0;
    libc.setsockopt(this.fd, SOL_SOCKET, SO_LINGER, sptr(), 8);
    this.close();
  }

  /** Read what is there without blocking; true at EOF (or error). */
  drain(): boolean {
    if (this.eof || this.#closed) return true;
    for (;;) {
      const n = Number(libc.read(this.fd, sptr(), SCRATCH));
      if (n > 0) {
        this.#chunks.push(Buffer.from(scratch.u8.slice(0, n)));
        continue;
      }
      if (n === 0) return (this.eof = true);
      const e = errno();
      if (e === EAGAIN) return false;
      if (e === EINTR) continue;
      return (this.eof = true); // ECONNRESET and the like end the stream too
    }
  }

  /** Poll (on Bun's loop) until EOF or `ms`; true at EOF. */
  async readToEnd(ms: number): Promise<boolean> {
    const end = performance.now() + ms;
    let wait = 0;
    for (;;) {
      if (this.drain()) return true;
      if (performance.now() > end) return false;
      await sleep(wait);
      wait = Math.min(wait + 1, 10);
    }
  }

  /** Everything received so far. */
  received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.close(this.fd);
  }
}
