// Memory the kernel writes after the call that named it returned must not move (DESIGN.md,
// "pointer stability"; Bun issue #32054). Each test arms an op that writes later, churns the JS
// heap (many small typed arrays, some with `.buffer` touched, which relocates their storage) and
// forces Bun.gc(true) between the submit and the completion, then checks every byte landed where
// the reader looks.
import { describe, expect, test } from "bun:test";
import { ptr } from "bun:ffi";
import { Reactor } from "../../src/loop/reactor.ts";
import { NativeRegion } from "../../src/ffi/memory.ts";
import * as sqe from "../../src/ffi/sqe.ts";
import { createListener } from "../../src/net/sockaddr.ts";
import {
  IORING_OP_READ, IORING_OP_RECV, IORING_OP_ACCEPT, IOSQE_BUFFER_SELECT, IORING_CQE_F_BUFFER,
  IORING_CQE_BUFFER_SHIFT, SOCK_CLOEXEC,
} from "../../src/ffi/constants.ts";
import { Recorder, pipe, tlibc, writeAll, patternBytes, firstDifference, connectBlocking, runOrFail } from "../support/uring.ts";

/** Allocate and drop many small typed arrays, touch `.buffer` on some, and collect fully. */
function churn(rounds = 3): void {
  for (let r = 0; r < rounds; r++) {
    let keep: Uint8Array[] = [];
    for (let i = 0; i < 50_000; i++) {
      const a = new Uint8Array(8 + (i & 63));
      a[0] = i;
      if ((i & 7) === 0) void a.buffer; // moves the storage out of line
      if ((i & 15) === 0) keep.push(a);
    }
    Bun.gc(true);
    keep = [];
    void keep;
  }
}

describe("kernel writes after the submit land in the memory the reader sees", () => {
  test("READ into a NativeRegion from a pipe, with GC between submit and completion", () => {
    const r = new Reactor({ entries: 8, maxOps: 8 });
    const [rd, wr] = pipe();
    const region = new NativeRegion(32768);
    try {
      const want = patternBytes(4096, 7);
      const rec = new Recorder();
      const addr = region.ptr;
      const w = r.prepare(rec, 1, IORING_OP_READ);
      sqe.prepRead(r.ring.sqe, w, rd, region.ptr + 1000, want.length, -1);
      r.poll(0); // submitted: the READ waits for the pipe
      expect(rec.cqes.length, "READ on an empty pipe completed early").toBe(0);
      churn();
      writeAll(wr, want);
      runOrFail(r, () => rec.cqes.length > 0, 2000, () => "READ never completed");
      expect(rec.cqes[0]!.res, `READ res: got ${rec.cqes[0]!.res}, wanted ${want.length}`).toBe(want.length);
      expect(region.ptr, "NativeRegion.ptr moved").toBe(addr);
      const got = region.u8.subarray(1000, 1000 + want.length);
      const at = firstDifference(got, want);
      expect(at, `bytes: got a difference at ${at}, wanted none`).toBe(-1);
      expect(region.u8[999], "byte before the target touched").toBe(0);
    } finally {
      tlibc.close(rd);
      tlibc.close(wr);
      region.free();
      r.close();
    }
  });

  test("READ into a JS ArrayBuffer created first (large, held by the op) survives GC", () => {
    const r = new Reactor({ entries: 8, maxOps: 8 });
    const [rd, wr] = pipe();
    try {
      // The ArrayBuffer exists before any view takes its address: its storage never moves.
      const target = new Uint8Array(new ArrayBuffer(65536));
      const want = patternBytes(30000, 11);
      const rec = new Recorder();
      const before = ptr(target);
      const w = r.prepare(rec, 1, IORING_OP_READ);
      r.hold(r.lastOp, target);
      sqe.prepRead(r.ring.sqe, w, rd, ptr(target), want.length, -1);
      r.poll(0);
      churn();
      writeAll(wr, want);
      runOrFail(r, () => rec.cqes.length > 0, 2000, () => "READ never completed");
      expect(rec.cqes[0]!.res, `READ res: got ${rec.cqes[0]!.res}, wanted ${want.length}`).toBe(want.length);
      expect(ptr(target), "the ArrayBuffer's storage moved").toBe(before);
      const at = firstDifference(target.subarray(0, want.length), want);
      expect(at, `bytes: got a difference at ${at}, wanted none`).toBe(-1);
    } finally {
      tlibc.close(rd);
      tlibc.close(wr);
      r.close();
    }
  });

  test("a small typed array whose .buffer was touched first keeps its address across GC", () => {
    // The rule tcp.ts follows before taking ptr() of a caller's array (Connection.write).
    const arrays: Uint8Array[] = [];
    const addrs: number[] = [];
    for (let i = 0; i < 64; i++) {
      const a = new Uint8Array(16 + i);
      void a.buffer;
      arrays.push(a);
      addrs.push(ptr(a));
    }
    churn();
    const moved = arrays.map((a, i) => (ptr(a) === addrs[i] ? -1 : i)).filter((i) => i >= 0);
    expect(moved, `arrays whose address moved: got ${moved.join(",")}, wanted none`).toEqual([]);
  });

  test("the buffer ring's buffers receive RECV data correctly across GC, several rounds", () => {
    const r = new Reactor({ entries: 16, maxOps: 16, bufferCount: 4, bufferSize: 4096 });
    const { fd: lfd, address } = createListener({ hostname: "127.0.0.1", port: 0 });
    let client = -1, server = -1;
    try {
      const bufs = r.buffers; // registered now; the kernel reads the ring and writes the buffers later
      churn();
      const acc = new Recorder();
      const aw = r.prepare(acc, 1, IORING_OP_ACCEPT);
      sqe.prepAccept(r.ring.sqe, aw, lfd, 0, 0, SOCK_CLOEXEC);
      client = connectBlocking(address.port);
      runOrFail(r, () => acc.cqes.length > 0, 2000, () => "ACCEPT never completed");
      server = acc.cqes[0]!.res;
      expect(server, `ACCEPT res: got ${server}, wanted an fd`).toBeGreaterThanOrEqual(0);
      for (let round = 0; round < 6; round++) {
        const rec = new Recorder();
        const w = r.prepare(rec, 1, IORING_OP_RECV);
        sqe.prepRecv(r.ring.sqe, w, server, 0, 0, 0);
        sqe.setSqeFlags(r.ring.sqe, w, IOSQE_BUFFER_SELECT);
        sqe.setBufGroup(r.ring.sqe, w, bufs.bgid);
        r.poll(0);
        churn(1);
        const want = patternBytes(3000, 100 + round);
        writeAll(client, want);
        runOrFail(r, () => rec.cqes.length > 0, 2000, () => `round ${round}: RECV never completed`);
        const c = rec.cqes[0]!;
        expect(c.res, `round ${round} RECV res: got ${c.res}, wanted ${want.length}`).toBe(want.length);
        expect(c.flags & IORING_CQE_F_BUFFER, "CQE names a buffer").toBe(IORING_CQE_F_BUFFER);
        const bid = c.flags >>> IORING_CQE_BUFFER_SHIFT;
        const at = firstDifference(bufs.view(bid, c.res), want);
        expect(at, `round ${round} buffer ${bid}: got a difference at ${at}, wanted none`).toBe(-1);
        bufs.out++;
        bufs.recycle(bid);
      }
    } finally {
      if (client >= 0) tlibc.close(client);
      if (server >= 0) tlibc.close(server);
      tlibc.close(lfd);
      r.close();
    }
  });
});
