// Socket calls made while a connection runs: options per large request body (tcp.ts recvInto),
// what a socket has queued, the write side's shutdown when a connection ends. Plain libc calls,
// never per request. Listeners: sockaddr.ts.
import type { Pointer } from "bun:ffi";
import { libc, errno } from "../ffi/libc.ts";
import { NativeRegion } from "../ffi/memory.ts";
import { FIONREAD, SHUT_WR, SOL_SOCKET, SO_RCVLOWAT } from "../ffi/constants.ts";

const scratch = new NativeRegion(8); // one int in, one int out; calls are synchronous

/** setsockopt with an int value: 0, or the errno. */
export function setSocketInt(fd: number, level: number, name: number, value: number): number {
  scratch.i32[0] = value;
  return libc.setsockopt(fd, level, name, scratch.ptr as unknown as Pointer, 4) < 0 ? errno() : 0;
}

/**
 * Wake a socket's readers (poll, so a pending RECV) only once `bytes` are queued, not per arriving
 * segment; 1 is the default. The kernel caps it at half of tcp_rmem's maximum and grows the receive
 * buffer to fit, and still wakes early when the buffer or the window runs short (tcp_epollin_ready).
 */
export function setReceiveLowWater(fd: number, bytes: number): number {
  return setSocketInt(fd, SOL_SOCKET, SO_RCVLOWAT, bytes);
}

/** Bytes received and not yet read (FIONREAD); 0 when it cannot tell. */
export function bytesQueued(fd: number): number {
  scratch.i32[1] = 0;
  return libc.ioctl(fd, FIONREAD, (scratch.ptr + 4) as unknown as Pointer) < 0 ? 0 : scratch.i32[1]!;
}

/**
 * Send the FIN after what is queued (shutdown(SHUT_WR)): 0, or the errno. Called here, not as an
 * IORING_OP_SHUTDOWN, which always runs in an io-wq worker: a thread handoff per closing
 * connection (~8 µs of CPU and two context switches), and a fd the worker looks up late, after a
 * CLOSE may have handed its number to another socket. For TCP it queues the FIN and never blocks.
 */
export function shutdownWrite(fd: number): number {
  return libc.shutdown(fd, SHUT_WR) < 0 ? errno() : 0;
}
