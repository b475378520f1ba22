// The few libc calls made at set-up time (sockets, native memory, eventfd), a pipe per large file
// response (net/http/files/pipes.ts), a socket option per MiB of a large request body and a
// shutdown per closing connection (net/sockopt.ts). Never per request otherwise.
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";

if (process.platform !== "linux") {
  throw new Error(`bun-uring needs Linux (io_uring); this is ${process.platform}`);
}

const { i32, u32, u64, ptr, i64 } = FFIType;
const usize = u64;

export const libc = dlopen("libc.so.6", {
  mmap: { args: [ptr, usize, i32, i32, i32, i64], returns: ptr },
  munmap: { args: [ptr, usize], returns: i32 },
  madvise: { args: [ptr, usize, i32], returns: i32 },
  socket: { args: [i32, i32, i32], returns: i32 },
  socketpair: { args: [i32, i32, i32, ptr], returns: i32 },
  setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
  getsockopt: { args: [i32, i32, i32, ptr, ptr], returns: i32 },
  bind: { args: [i32, ptr, u32], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  getsockname: { args: [i32, ptr, ptr], returns: i32 },
  getpeername: { args: [i32, ptr, ptr], returns: i32 },
  close: { args: [i32], returns: i32 },
  pipe2: { args: [ptr, i32], returns: i32 },
  fcntl: { args: [i32, i32, i32], returns: i32 }, // variadic in C; an int third argument passes the same way
  ioctl: { args: [i32, usize, ptr], returns: i32 }, // the request is an unsigned long: all 64 bits must be set
  shutdown: { args: [i32, i32], returns: i32 },
  eventfd: { args: [u32, i32], returns: i32 },
  read: { args: [i32, ptr, usize], returns: i64 },
  write: { args: [i32, ptr, usize], returns: i64 },
  open: { args: [ptr, i32, u32], returns: i32 },
  readlink: { args: [ptr, ptr, usize], returns: i64 },
  __errno_location: { args: [], returns: ptr },
  getrlimit: { args: [i32, ptr], returns: i32 },
  sysconf: { args: [i32], returns: i64 },
}).symbols;

export function errno(): number {
  return read.i32(libc.__errno_location() as Pointer, 0);
}

export const PROT_READ = 1, PROT_WRITE = 2;
export const MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000;
export const MADV_DONTNEED = 4;
export const RLIMIT_NOFILE = 7;
export const F_SETFL = 4, F_SETPIPE_SZ = 1031, F_GETPIPE_SZ = 1032;

