// Native memory the kernel reads or writes after the call that named it returned. It never moves:
// it comes from mmap, not from a JS typed array whose storage the GC may relocate (DESIGN.md,
// "pointer stability"; Bun issue #32054). Each region has one owner that frees it.
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { libc, errno, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MADV_DONTNEED } from "./libc.ts";
import { SystemError } from "./errno.ts";

export class NativeRegion {
  readonly ptr: number;
  readonly size: number;
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly view: DataView;
  #freed = false;

  constructor(size: number) {
    const len = Math.max(8, Math.ceil(size / 8) * 8);
    const p = libc.mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) as unknown as number;
    if (!p || p === -1 || p === 0xffffffffffffffff) throw new SystemError(errno(), "mmap", `${len} bytes`);
    this.ptr = p;
    this.size = len;
    this.buffer = toArrayBuffer(p as Pointer, 0, len);
    this.u8 = new Uint8Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer, 0, len >>> 2);
    this.i32 = new Int32Array(this.buffer, 0, len >>> 2);
    this.view = new DataView(this.buffer);
  }

  get freed(): boolean {
    return this.#freed;
  }

  /** Write a C string (NUL-terminated UTF-8) at `offset`; returns its byte length without the NUL. */
  writeCString(offset: number, s: string): number {
    const r = new TextEncoder().encodeInto(s, this.u8.subarray(offset, this.size - 1));
    if (r.read !== s.length) throw new RangeError(`string of ${s.length} chars does not fit at ${offset}`);
    this.u8[offset + r.written] = 0;
    return r.written;
  }

  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    libc.munmap(this.ptr as unknown as Pointer, this.size);
  }
}

/**
 * Give the pages of [ptr, ptr + len) (page-aligned, inside a region of ours) back to the kernel: RSS
 * drops, and the next write faults in zeroed pages. The caller must know nothing reads or writes them
 * meanwhile (a kernel op included).
 */
export function releasePages(ptr: number, len: number): void {
  libc.madvise(ptr as unknown as Pointer, len, MADV_DONTNEED);
}

/** Split a pointer (< 2^53) into the two u32 halves of a little-endian u64 field. */
export function writePtr(u32: Uint32Array, index: number, p: number): void {
  u32[index] = p >>> 0;
  u32[index + 1] = (p / 4294967296) >>> 0;
}

export function readPtr(u32: Uint32Array, index: number): number {
  return u32[index]! + u32[index + 1]! * 4294967296;
}
