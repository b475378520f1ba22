// liburing 2.3 (Debian's liburing2): only what is exported as a real symbol. Every io_uring_prep_*
// is static inline in liburing.h; ours are in sqe.ts. The ring's SQ/CQ are driven from JS memory.
import { dlopen, FFIType } from "bun:ffi";
import { IoUringUnavailableError } from "./errno.ts";

const { i32, u32, ptr, u64 } = FFIType;

const symbols = {
  io_uring_queue_init_params: { args: [u32, ptr, ptr], returns: i32 },
  io_uring_queue_exit: { args: [ptr], returns: FFIType.void },
  io_uring_enter2: { args: [u32, u32, u32, u32, ptr, u64], returns: i32 },
  io_uring_register: { args: [u32, u32, ptr, u32], returns: i32 },
  io_uring_get_probe_ring: { args: [ptr], returns: ptr },
  io_uring_free_probe: { args: [ptr], returns: FFIType.void },
  io_uring_register_buf_ring: { args: [ptr, ptr, u32], returns: i32 },
  io_uring_unregister_buf_ring: { args: [ptr, i32], returns: i32 },
  io_uring_register_files_sparse: { args: [ptr, u32], returns: i32 },
  io_uring_register_file_alloc_range: { args: [ptr, u32, u32], returns: i32 },
  io_uring_register_eventfd: { args: [ptr, i32], returns: i32 },
  io_uring_unregister_eventfd: { args: [ptr], returns: i32 },
} as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | undefined;
let loadError: IoUringUnavailableError | undefined;

/** liburing's symbols, or IoUringUnavailableError naming the package to install. */
export function liburing(): Lib {
  if (lib) return lib;
  if (loadError) throw loadError;
  try {
    lib = dlopen("liburing.so.2", symbols).symbols;
    return lib;
  } catch (cause) {
    loadError = new IoUringUnavailableError(
      "ENOLIB",
      `liburing.so.2 could not be loaded (${(cause as Error).message}); install it: apt-get install -y liburing2`,
    );
    throw loadError;
  }
}

/** io_uring_enter2 as liburing's signature has it: fd, to_submit, min_complete, flags, arg, argsz. */
export type Enter2 = (fd: number, toSubmit: number, minComplete: number, flags: number, arg: number | null, argSize: number) => number;

/**
 * io_uring_enter2 without the JS wrapper Bun's dlopen() puts around every symbol, which converts
 * each argument through an arrow function made per call and a u64 through BigInt: 6 closures and a
 * BigInt per call (heapStats, Bun 1.3.14), that is per loop iteration, or per request at one
 * connection. The native function (`.native`) reads integers as int32-tagged values (callers pass
 * `x | 0`), a pointer as a number or null, and a u64 as any number.
 */
export function ioUringEnter2(): Enter2 {
  return (liburing().io_uring_enter2 as unknown as { native: Enter2 }).native;
}
