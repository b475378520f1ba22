// Pipes for large file bodies: the bytes go file -> pipe -> socket by SPLICE, as page references,
// where READ + SEND copy each byte twice (1 MiB over loopback here: ~200 µs of CPU by SPLICE with
// a 1 MiB pipe, ~650 by READ + SEND in 64 KiB blocks, ~550 by sendfile, whose pipe is 64 KiB).
//
// A pipe is made for one response (pipe2, F_SETPIPE_SZ) and closed after it: four syscalls against
// a body of at least SPLICE_MIN, no descriptor open between responses, and a pipe left holding
// bytes (a response cut short) is never reused.
//
// Bounds (per reactor): at most maxPipes at once (past it a response reads into blocks as before);
// each holds at most its size (PIPE_BYTES asked) of page-cache pages, referenced, not copied.
import { libc, F_SETPIPE_SZ, F_GETPIPE_SZ } from "../../../ffi/libc.ts";
import { NativeRegion } from "../../../ffi/memory.ts";
import { O_CLOEXEC } from "../../../ffi/constants.ts";
import type { PipeHold } from "../../tcp.ts";
import type { FileTransfer } from "./transfer.ts";

/** Capacity asked of each pipe: a 1 MiB body goes out in one SPLICE pair. */
export const PIPE_BYTES = 1024 * 1024;
/** Bodies with at least this much left after their first READ go by pipe. */
export const SPLICE_MIN = 256 * 1024;
/** Pipes open at once per reactor (2 descriptors each). */
export const DEFAULT_MAX_PIPES = 64;

/** One response's pipe; the connection hands it back through sent() once its bytes are out. */
export class Pipe implements PipeHold {
  readonly pipeFd: number;
  readonly writeFd: number;
  /** Bytes the pipe holds at most (what F_SETPIPE_SZ granted). */
  readonly size: number;
  owner: FileTransfer | null = null;
  constructor(readFd: number, writeFd: number, size: number) {
    this.pipeFd = readFd;
    this.writeFd = writeFd;
    this.size = size;
  }
  sent(): void {
    this.owner?.pipeSent();
  }
}

export class PipePool {
  readonly maxPipes: number;
  inUse = 0;
  readonly #fds = new NativeRegion(8); // int[2] for pipe2

  constructor(maxPipes = DEFAULT_MAX_PIPES) {
    this.maxPipes = maxPipes;
  }

  /** A new pipe, or null at the bound or when the process is out of descriptors. */
  open(owner: FileTransfer): Pipe | null {
    if (this.inUse >= this.maxPipes) return null;
    // EMFILE / ENFILE: the response goes on with READs.
    if (libc.pipe2(this.#fds.ptr as never, O_CLOEXEC) !== 0) return null;
    const r = this.#fds.i32[0]!, w = this.#fds.i32[1]!;
    // Over pipe-max-size, or over the user's pipe-user-pages-soft without CAP_SYS_RESOURCE, the
    // pipe keeps its default size (64 KiB): slower, still correct.
    let size = libc.fcntl(w, F_SETPIPE_SZ, PIPE_BYTES);
    if (size <= 0) size = libc.fcntl(w, F_GETPIPE_SZ, 0);
    if (size <= 0) size = 65536;
    this.inUse++;
    const p = new Pipe(r, w, size);
    p.owner = owner;
    return p;
  }

  /** The reactor closed: unmap pipe2's scratch (pipes themselves are closed by their responses). */
  free(): void {
    this.#fds.free();
  }

  /** Close a pipe: no SPLICE may be using it any more. */
  close(p: Pipe): void {
    p.owner = null;
    libc.close(p.pipeFd);
    libc.close(p.writeFd);
    this.inUse--;
  }
}
