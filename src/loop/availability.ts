// Can this process use io_uring the way bun-uring does? Asked once, answered from a throwaway ring,
// cached for the process. serve() falls back to Bun.serve on "no" (net/fallback.ts); listen() throws.
//
// What is checked, in order (each names what failed in the IoUringUnavailableError it returns):
// 1. liburing.so.2 loads (ENOLIB).
// 2. io_uring_setup succeeds with the reactor's flags (ffi/ring.ts drops flags on EINVAL). ENOSYS:
//    no io_uring; EPERM: Docker's/containerd's default seccomp profile or io_uring_disabled; EACCES:
//    io_uring_group or an LSM; ENOMEM: RLIMIT_MEMLOCK before 5.12 (ffi/errno.ts explains each).
// 3. Every opcode the TCP server uses is in io_uring_get_probe_ring's list (EOLDKERNEL).
// 4. A provided buffer ring registers (5.19), multishot ACCEPT arms (5.19) and multishot RECV
//    delivers into a provided buffer and stays armed (6.0). A kernel without them does not fail
//    the probe: its prep rejects the SQE with -EINVAL, so this is a real round trip, not a version
//    number (distributions backport io_uring features; RHEL 9 also disables io_uring altogether).
import { liburing } from "../ffi/liburing.ts";
import { Ring } from "../ffi/ring.ts";
import { BufferRing } from "../ffi/bufring.ts";
import { NativeRegion } from "../ffi/memory.ts";
import { libc } from "../ffi/libc.ts";
import * as sqe from "../ffi/sqe.ts";
import { IoUringUnavailableError, errnoName } from "../ffi/errno.ts";
import {
  IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG, IORING_OP_CLOSE, IORING_OP_SHUTDOWN,
  IORING_OP_TIMEOUT, IORING_OP_LINK_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD, IORING_OP_NOP,
  IORING_CQE_F_MORE, IOSQE_BUFFER_SELECT, IORING_ASYNC_CANCEL_ALL, IORING_ASYNC_CANCEL_ANY,
  AF_INET, SOCK_STREAM, SOCK_CLOEXEC, OPCODE_NAMES,
} from "../ffi/constants.ts";

export type IoUringAvailability = { ok: true } | { ok: false; error: IoUringUnavailableError };

/** Opcodes the reactor and the TCP server submit; a kernel missing one cannot run serve(). */
export const REQUIRED_OPS: readonly number[] = [
  IORING_OP_NOP, IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG, IORING_OP_CLOSE,
  IORING_OP_SHUTDOWN, IORING_OP_TIMEOUT, IORING_OP_LINK_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD,
];

/** The names of the REQUIRED_OPS missing from `supported` (empty when all are there). */
export function missingOps(supported: ReadonlySet<number>): string[] {
  return REQUIRED_OPS.filter((op) => !supported.has(op)).map((op) => OPCODE_NAMES[op] ?? `OP_${op}`);
}

let cached: IoUringAvailability | null = null;

/** Whether io_uring can be used here, with the reason when not. Probed once per process. */
export function ioUringAvailability(): IoUringAvailability {
  if (cached) return cached;
  try {
    probe();
    cached = { ok: true };
  } catch (e) {
    if (e instanceof IoUringUnavailableError) cached = { ok: false, error: e };
    else cached = { ok: false, error: new IoUringUnavailableError("EPROBE", `io_uring is not usable: the start-up probe failed (${(e as Error).message})`) };
  }
  return cached;
}

const oldKernel = (what: string) =>
  new IoUringUnavailableError("EOLDKERNEL", `io_uring is too old here: ${what}; bun-uring needs Linux 6.0 or later`);

const UD_ACCEPT = 1, UD_RECV = 2;

function probe(): void {
  liburing(); // throws ENOLIB with the package to install
  const ring = new Ring({ entries: 8, cqEntries: 64 }); // throws unavailableFromSetup(res)
  const fds: number[] = [];
  let bufs: BufferRing | null = null;
  const mem = new NativeRegion(64);
  try {
    const missing = missingOps(ring.supportedOps);
    if (missing.length) throw oldKernel(`the kernel lacks ${missing.join(", ")}`);
    try {
      bufs = new BufferRing(ring, 0, 2, 64);
    } catch (e) {
      throw oldKernel(`provided buffer rings cannot be registered (${(e as { code?: string }).code ?? (e as Error).message}; Linux 5.19)`);
    }
    // A connected pair with one byte waiting, for the multishot RECV.
    if (libc.socketpair(1 /* AF_UNIX */, SOCK_STREAM | SOCK_CLOEXEC, 0, mem.ptr as never) < 0) throw new Error("socketpair failed");
    fds.push(mem.i32[0]!, mem.i32[1]!);
    mem.u8[8] = 42;
    if (Number(libc.write(mem.i32[1]!, (mem.ptr + 8) as never, 1)) !== 1) throw new Error("write to a socketpair failed");
    // A listening socket on 127.0.0.1, port picked by the kernel, for the multishot ACCEPT.
    const lfd = libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) throw new Error("socket failed");
    fds.push(lfd);
    mem.u8.fill(0, 16, 32);
    mem.u8[16] = AF_INET;
    mem.u8.set([127, 0, 0, 1], 20);
    if (libc.bind(lfd, (mem.ptr + 16) as never, 16) < 0 || libc.listen(lfd, 1) < 0) throw new Error("bind/listen on 127.0.0.1 failed");

    let w = ring.getSqe();
    sqe.prepMultishotAccept(ring.sqe, w, lfd, 0, 0, SOCK_CLOEXEC);
    sqe.setUserData(ring.sqe, w, UD_ACCEPT, 0);
    w = ring.getSqe();
    sqe.prepRecvMultishot(ring.sqe, w, fds[0]!, 0, 0, 0);
    sqe.setSqeFlags(ring.sqe, w, IOSQE_BUFFER_SELECT);
    sqe.setBufGroup(ring.sqe, w, bufs.bgid);
    sqe.setUserData(ring.sqe, w, UD_RECV, 0);

    // The byte is already there: the RECV completes at once; a rejected prep completes at once too.
    const got = { accept: null as number | null, recv: null as number | null, recvFlags: 0 };
    const visit = (lo: number, _hi: number, res: number, flags: number) => {
      if (lo === UD_ACCEPT) got.accept ??= res;
      else if (lo === UD_RECV && got.recv === null) {
        got.recv = res;
        got.recvFlags = flags;
      }
    };
    const end = performance.now() + 500;
    while (got.recv === null && performance.now() < end) {
      ring.enter(1, 50e6);
      ring.reap(visit);
    }
    if (got.accept !== null) throw oldKernel(`multishot accept was refused (${errnoName(-got.accept)}; Linux 5.19)`);
    if (got.recv === null) throw oldKernel("multishot recv with a provided buffer delivered nothing within 500 ms");
    if (got.recv < 0) throw oldKernel(`multishot recv was refused (${errnoName(-got.recv)}; Linux 6.0)`);
    if (!(got.recvFlags & IORING_CQE_F_MORE)) throw oldKernel("multishot recv ended after one completion (Linux 6.0)");

    // Cancel both and wait for their last CQEs, so the buffer ring is idle when it is unregistered.
    w = ring.getSqe();
    sqe.prepCancel64(ring.sqe, w, 0, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    sqe.setUserData(ring.sqe, w, 3, 0);
    let finals = 0;
    const stop = performance.now() + 200;
    while (finals < 2 && performance.now() < stop) {
      ring.enter(1, 20e6);
      ring.reap((lo, _hi, _res, flags) => {
        if ((lo === UD_ACCEPT || lo === UD_RECV) && !(flags & IORING_CQE_F_MORE)) finals++;
      });
    }
  } finally {
    bufs?.close();
    ring.close();
    for (const fd of fds) libc.close(fd);
    mem.free();
  }
}
