// A provided buffer ring (IORING_REGISTER_PBUF_RING): the kernel picks a buffer per RECV
// completion, so idle connections hold no receive memory. buf_ring_add/advance are done in JS.
import { liburing } from "./liburing.ts";
import { NativeRegion, releasePages, writePtr } from "./memory.ts";
import { SystemError } from "./errno.ts";
import type { Ring } from "./ring.ts";
import type { Pointer } from "bun:ffi";

/**
 * Buffers provided at registration; the rest join as the ring runs dry (grow()). The kernel takes
 * buffers in ring order and we put each back at the tail, so every buffer in circulation gets used
 * in turn and its first page becomes resident: 512 x 8 KiB provided up front cost 2 MiB of RSS to a
 * server that never has more than a few receives in flight.
 */
export const INITIAL_BUFFERS = 64;

export class BufferRing {
  readonly bgid: number;
  readonly count: number;
  readonly bufferSize: number;
  /** The buffers' memory: buffer `bid` is data.u8[bid * bufferSize, (bid + 1) * bufferSize). */
  readonly data: NativeRegion;
  readonly #ring: NativeRegion; // struct io_uring_buf[count]; tail overlays bufs[0].resv (offset 14)
  readonly #u16: Uint16Array;
  readonly #owner: Ring;
  /** Buffers filled since trim() last gave their pages back (1 per bid). */
  readonly #touched: Uint8Array;
  #tail = 0;
  #pendingAdds = 0;
  /** Buffers currently handed to the application (not yet returned). */
  out = 0;
  /** Buffers in circulation (0..provided-1), at most count. */
  provided = 0;

  constructor(ring: Ring, bgid: number, count: number, bufferSize: number, initial = INITIAL_BUFFERS) {
    if (count & (count - 1) || count < 1 || count > 32768) throw new RangeError(`buffer count must be a power of two <= 32768, got ${count}`);
    this.#owner = ring;
    this.bgid = bgid;
    this.count = count;
    this.bufferSize = bufferSize;
    this.#ring = new NativeRegion(count * 16);
    this.#u16 = new Uint16Array(this.#ring.buffer);
    this.data = new NativeRegion(count * bufferSize);
    this.#touched = new Uint8Array(count);
    const reg = new NativeRegion(40); // struct io_uring_buf_reg
    writePtr(reg.u32, 0, this.#ring.ptr);
    reg.u32[2] = count;
    reg.u8[12] = bgid & 0xff;
    reg.u8[13] = bgid >> 8;
    const res = liburing().io_uring_register_buf_ring(ring.ptr as unknown as Pointer, reg.ptr as unknown as Pointer, 0);
    reg.free();
    if (res < 0) {
      this.#ring.free();
      this.data.free();
      throw new SystemError(-res, "io_uring_register_buf_ring");
    }
    this.provided = Math.min(count, initial);
    for (let bid = 0; bid < this.provided; bid++) this.#add(bid);
    this.#publish();
  }

  /**
   * The ring ran dry (a RECV got ENOBUFS): double the buffers in circulation, up to count. False
   * when all are in circulation already. The ring has count entries, so it never overflows.
   */
  grow(): boolean {
    const n = Math.min(this.provided, this.count - this.provided);
    if (n <= 0) return false;
    for (let k = 0; k < n; k++) this.#add(this.provided + k);
    this.provided += n;
    this.#publish();
    return true;
  }

  #add(bid: number): void {
    const i = (this.#tail + this.#pendingAdds) & (this.count - 1);
    const w = i * 4; // 16-byte entry = 4 words
    writePtr(this.#ring.u32, w, this.data.ptr + bid * this.bufferSize);
    this.#ring.u32[w + 2] = this.bufferSize;
    this.#u16[w * 2 + 6] = bid; // bid at byte 12 of the entry
    this.#pendingAdds++;
  }

  #publish(): void {
    this.#tail = (this.#tail + this.#pendingAdds) & 0xffff;
    this.#pendingAdds = 0;
    Atomics.store(this.#u16, 7, this.#tail); // io_uring_buf_ring_advance: tail at byte 14
  }

  /** The bytes of buffer `bid` as a view (valid until the buffer is recycled). */
  view(bid: number, len: number): Uint8Array {
    return this.data.u8.subarray(bid * this.bufferSize, bid * this.bufferSize + len);
  }

  /** A buffer the kernel filled goes back to the ring; published at once. */
  recycle(bid: number): void {
    this.#touched[bid] = 1;
    this.#add(bid);
    this.#publish();
    this.out--;
  }

  /**
   * Give back the pages of buffers a burst filled (their next RECV faults in zeroed pages), all but
   * those of the next `keep` buffers the kernel will take. Returns how many it gave back.
   *
   * Only for a caller that knows the kernel is not selecting buffers meanwhile and has reaped every
   * CQE naming one (Reactor.trimIdle: a DEFER_TASKRUN ring with an empty CQ, where buffers are only
   * taken in our own io_uring_enter): then every buffer not handed out is in the ring, in order from
   * the kernel's head, and none of those holds unread bytes.
   */
  trim(keep: number): number {
    const inRing = this.provided - this.out;
    const mask = this.count - 1;
    const head = this.#tail - inRing; // the kernel takes from here
    let n = 0;
    for (let k = keep; k < inRing; k++) {
      const bid = this.#u16[((head + k) & mask) * 8 + 6]!;
      if (!this.#touched[bid]) continue;
      releasePages(this.data.ptr + bid * this.bufferSize, this.bufferSize);
      this.#touched[bid] = 0;
      n++;
    }
    return n;
  }

  close(): void {
    if (this.data.freed) return;
    if (!this.#owner.closed) liburing().io_uring_unregister_buf_ring(this.#owner.ptr as unknown as Pointer, this.bgid);
    this.#ring.free();
    this.data.free();
  }
}
