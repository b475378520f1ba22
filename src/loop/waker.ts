// How a parked reactor wakes Bun's loop: through a socket that Bun itself watches.
//
// The main ring's registered eventfd fires when completion work is queued (loop/driver.ts), but
// Bun has no cheap way to watch an arbitrary fd: Bun.file(fd).stream() gives each 8-byte read a
// fresh 256 KiB ArrayBuffer, ~0.8 ms of CPU a wake in the young collections it provokes
// (bench/wake.ts). A socket is what Bun's loop watches natively (Bun.connect({ fd }) adopts it),
// so a second, tiny ring turns the eventfd into a socket write: a READ of the eventfd hard-linked to
// a one-byte WRITE into a socketpair whose other end Bun reads. That ring is set up without
// DEFER_TASKRUN or COOP_TASKRUN, so its completion work is signalled to this thread (task work,
// TWA_SIGNAL) and runs even while Bun sleeps in epoll_wait, which then finds the socket readable.
// No thread of ours and no polling; each wake costs Bun a socket read and us one io_uring_enter to
// re-arm. Bounds: one chain at a time (two SQEs; the ring has two entries), so at most one byte
// waits in the socket.
import type { Socket } from "bun";
import { libc } from "../ffi/libc.ts";
import { NativeRegion } from "../ffi/memory.ts";
import { Ring } from "../ffi/ring.ts";
import { prepRead, prepWrite, setSqeFlags, setUserData } from "../ffi/sqe.ts";
import { IOSQE_IO_HARDLINK, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "../ffi/constants.ts";

const AF_UNIX = 1;
const UD_READ = 1;
const UD_WRITE = 2;
// Scratch: the eventfd's 8-byte counter (read here, never looked at), then the byte written.
const COUNTER_OFF = 0, BYTE_OFF = 8;

export class Waker {
  readonly #eventfd: number;
  readonly #ring: Ring;
  readonly #mem = new NativeRegion(16);
  readonly #writeFd: number;
  #socket: Socket<undefined> | null = null;
  #armed = false;
  #refd = true; // Bun's sockets start referenced
  #closed = false;

  /**
   * Throws when a part cannot be made (no fd left, io_uring limits): the driver then polls. `onWake`
   * runs from Bun's loop when the eventfd has fired since the last arm().
   */
  constructor(eventfd: number, onWake: () => void) {
    this.#eventfd = eventfd;
    const mem = this.#mem;
    // The pair's two fds land in the counter's 8 bytes, unused until the first arm().
    if (libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, (mem.ptr + COUNTER_OFF) as never) < 0) {
      mem.free();
      throw new Error("socketpair() failed");
    }
    const readFd = mem.i32[COUNTER_OFF / 4]!;
    this.#writeFd = mem.i32[COUNTER_OFF / 4 + 1]!;
    mem.u8[BYTE_OFF] = 1;
    let ring: Ring | null = null;
    try {
      // Two SQEs at most in flight; flags 0: see the head comment.
      this.#ring = ring = new Ring({ entries: 2, cqEntries: 4, flags: 0 });
      // open() runs inside Bun.connect, so the socket is ours (and unref'd below) before it returns;
      // its promise is not needed, but a rejection must not go unhandled (that ends the process).
      const adopted = Bun.connect({
        fd: readFd,
        socket: {
          open: (s: Socket<undefined>) => {
            this.#socket = s;
          },
          data: () => {
            if (this.#reap()) onWake();
          },
          close: () => {
            // Only if the pair broke (close() lets go of the socket first): wake the driver, whose
            // next park then polls instead.
            if (this.#socket === null) return;
            this.#socket = null;
            onWake();
          },
        },
      } as unknown as Parameters<typeof Bun.connect>[0]);
      adopted.catch(() => {});
      if (!this.#socket) throw new Error("Bun.connect({ fd }) did not adopt the wake socket");
    } catch (e) {
      if (!this.#socket) libc.close(readFd);
      this.#socket = null;
      ring?.close();
      libc.close(this.#writeFd);
      mem.free();
      this.#closed = true;
      throw e;
    }
    this.ref(false);
  }

  /** Whether a wake can still come (the socket is open; close() and a failed READ let go of it). */
  get usable(): boolean {
    return this.#socket !== null;
  }

  /** Make the next eventfd signal wake Bun's loop; a no-op while a chain is already pending. */
  arm(): void {
    if (this.#armed || !this.usable) return;
    const r = this.#ring;
    const m = this.#mem.ptr;
    let w = r.getSqe();
    prepRead(r.sqe, w, this.#eventfd, m + COUNTER_OFF, 8, -1);
    setUserData(r.sqe, w, UD_READ, 0);
    // Hard: the byte goes out even if the READ fails, so a failure still wakes us (see #reap).
    setSqeFlags(r.sqe, w, IOSQE_IO_HARDLINK);
    w = r.getSqe();
    prepWrite(r.sqe, w, this.#writeFd, m + BYTE_OFF, 1, -1);
    setUserData(r.sqe, w, UD_WRITE, 0);
    r.enter(0);
    this.#armed = true;
  }

  /** Whether a pending wake keeps the process alive (Bun's socket ref/unref). */
  ref(on: boolean): void {
    if (on === this.#refd || !this.#socket) return;
    this.#refd = on;
    if (on) this.#socket.ref();
    else this.#socket.unref();
  }

  /** Collect the chain's CQEs; true when it ran (a wake), false for a stray byte. */
  #reap(): boolean {
    let done = false;
    let failed = false;
    this.#ring.reap((ud, _hi, res) => {
      if (ud === UD_WRITE) done = true;
      if (res < 0) failed = true;
    });
    if (done) this.#armed = false;
    // A READ that fails would fail again at once on every arm: give up, and the driver polls.
    if (failed) this.close();
    return done;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring.close(); // cancels a pending chain
    const s = this.#socket;
    this.#socket = null;
    if (s) s.end();
    libc.close(this.#writeFd);
    this.#mem.free();
  }
}
