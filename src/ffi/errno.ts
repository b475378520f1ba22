// errno values (x86_64/aarch64 Linux) and the one place a negative result becomes an Error.

export const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC",
  9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY",
  17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE",
  24: "EMFILE", 25: "ENOTTY", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS",
  31: "EMLINK", 32: "EPIPE", 34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS", 39: "ENOTEMPTY",
  40: "ELOOP", 61: "ENODATA", 62: "ETIME", 75: "EOVERFLOW", 77: "EBADFD", 88: "ENOTSOCK",
  89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT", 93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP", 97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 100: "ENETDOWN",
  101: "ENETUNREACH", 103: "ECONNABORTED", 104: "ECONNRESET", 105: "ENOBUFS", 106: "EISCONN",
  107: "ENOTCONN", 108: "ESHUTDOWN", 110: "ETIMEDOUT", 111: "ECONNREFUSED", 113: "EHOSTUNREACH",
  114: "EALREADY", 115: "EINPROGRESS", 125: "ECANCELED",
};

export const EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, EBADF = 9, EAGAIN = 11, ENOMEM = 12;
export const EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENOTDIR = 20, EISDIR = 21;
export const EINVAL = 22, ENFILE = 23, EMFILE = 24, EPIPE = 32, ENOSYS = 38, ELOOP = 40;
export const ETIME = 62, ENOTSOCK = 88, EOPNOTSUPP = 95, EADDRINUSE = 98, ECONNABORTED = 103;
export const ECONNRESET = 104, ENOBUFS = 105, ENOTCONN = 107, ETIMEDOUT = 110;
export const ECONNREFUSED = 111, EALREADY = 114, ECANCELED = 125, EXDEV = 18;

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** An operation's failure, shaped like Node's and Bun's system errors. */
export class SystemError extends Error {
  override name = "SystemError";
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(errno: number, syscall: string, detail?: string) {
    const code = errnoName(errno);
    super(`${syscall} failed: ${code}${detail ? ` (${detail})` : ""}`);
    this.code = code;
    this.errno = -errno;
    this.syscall = syscall;
  }
}

/** Turns a negative kernel result (-errno) into an Error; the only place that does. */
export function errorFromResult(res: number, syscall: string, detail?: string): SystemError {
  return new SystemError(-res, syscall, detail);
}

/** io_uring cannot be used here: liburing missing, the kernel or a sandbox refuses the ring. */
export class IoUringUnavailableError extends Error {
  override name = "IoUringUnavailableError";
  readonly code = "ERR_IO_URING_UNAVAILABLE";
  readonly reason: string;
  readonly errno: number;
  constructor(reason: string, message: string, errno = 0) {
    super(message);
    this.reason = reason;
    this.errno = errno;
  }
}

export function unavailableFromSetup(res: number): IoUringUnavailableError {
  const errno = -res;
  const code = errnoName(errno);
  const why: Record<string, string> = {
    ENOSYS: "this kernel has no io_uring (needs Linux 5.19 or later for everything bun-uring uses)",
    EPERM: "io_uring_setup was refused: a seccomp profile (Docker's and containerd's default), or the kernel.io_uring_disabled sysctl; run with --security-opt seccomp=unconfined or set io_uring_disabled=0",
    EACCES: "io_uring_setup was refused by a security module or the kernel.io_uring_group sysctl",
    ENOMEM: "the ring could not be allocated (on kernels before 5.12, raise RLIMIT_MEMLOCK: ulimit -l)",
  };
  return new IoUringUnavailableError(code, `io_uring is not available: ${why[code] ?? `io_uring_queue_init_params failed with ${code}`}`, errno);
}
