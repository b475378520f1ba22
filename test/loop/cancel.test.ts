// Cancellation (Reactor.cancel, cancelFd, cancelFixedFile, close): any op in flight can be
// cancelled, and its completion is delivered exactly once: -ECANCELED, or its real result when it
// finished first. Nothing arrives after that (a late CQE for the slot is stale and dropped).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { Reactor } from "../../src/loop/reactor.ts";
import { FileSlots } from "../../src/loop/files.ts";
import { NativeRegion } from "../../src/ffi/memory.ts";
import * as sqe from "../../src/ffi/sqe.ts";
import { createListener } from "../../src/net/sockaddr.ts";
import {
  IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_READ, IORING_OP_POLL_ADD, IORING_OP_OPENAT,
  IORING_OP_SEND, IOSQE_BUFFER_SELECT, IOSQE_ASYNC, IOSQE_FIXED_FILE, IORING_CQE_F_MORE, IORING_CQE_F_BUFFER,
  SOCK_CLOEXEC, POLLIN, AT_FDCWD, O_RDONLY, MSG_NOSIGNAL, MSG_WAITALL,
} from "../../src/ffi/constants.ts";
import { ECANCELED, EINTR, ETIME } from "../../src/ffi/errno.ts";
import { slotOf } from "../../src/loop/ops.ts";
import { Recorder, connectBlocking, pipe, tlibc, tempDir, runOrFail } from "../support/uring.ts";

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("cancel");
});
afterAll(() => tmp.remove());

interface Armed {
  /** Handle of the op to cancel. */
  op: number;
  /** Results that count as "cancelled" for this op. */
  cancelled: number[];
  cleanup(): void;
}

/** A socket pair with the server side accepted through a plain ACCEPT. */
function pair(r: Reactor): { server: number; client: number; lfd: number } {
  const { fd: lfd, address } = createListener({ hostname: "127.0.0.1", port: 0 });
  const acc = new Recorder();
  sqe.prepAccept(r.ring.sqe, r.prepare(acc, 0, IORING_OP_ACCEPT), lfd, 0, 0, SOCK_CLOEXEC);
  const client = connectBlocking(address.port);
  runOrFail(r, () => acc.cqes.length === 1, 2000, () => "ACCEPT never completed");
  return { server: acc.cqes[0]!.res, client, lfd };
}

// Each entry starts one op that cannot complete on its own within the test.
const kinds: [string, (r: Reactor, rec: Recorder, mem: NativeRegion) => Armed][] = [
  ["TIMEOUT (10 s)", (r, rec) => ({ op: r.timeout(10_000, rec, 1), cancelled: [-ECANCELED], cleanup() {} })],
  ["RECV, no data", (r, rec, mem) => {
    const p = pair(r);
    sqe.prepRecv(r.ring.sqe, r.prepare(rec, 1, IORING_OP_RECV), p.server, mem.ptr, 64, 0);
    return { op: r.lastOp, cancelled: [-ECANCELED], cleanup: () => [p.server, p.client, p.lfd].forEach((fd) => tlibc.close(fd)) };
  }],
  ["RECV multishot with buffer select", (r, rec) => {
    const p = pair(r);
    const w = r.prepare(rec, 1, IORING_OP_RECV);
    sqe.prepRecvMultishot(r.ring.sqe, w, p.server, 0, 0, 0);
    sqe.setSqeFlags(r.ring.sqe, w, IOSQE_BUFFER_SELECT);
    sqe.setBufGroup(r.ring.sqe, w, r.buffers.bgid);
    return { op: r.lastOp, cancelled: [-ECANCELED], cleanup: () => [p.server, p.client, p.lfd].forEach((fd) => tlibc.close(fd)) };
  }],
  ["ACCEPT multishot, no clients", (r, rec) => {
    const { fd } = createListener({ hostname: "127.0.0.1", port: 0 });
    sqe.prepMultishotAccept(r.ring.sqe, r.prepare(rec, 1, IORING_OP_ACCEPT), fd, 0, 0, SOCK_CLOEXEC);
    return { op: r.lastOp, cancelled: [-ECANCELED], cleanup: () => tlibc.close(fd) };
  }],
  ["READ of an empty pipe", (r, rec, mem) => {
    const [rd, wr] = pipe();
    sqe.prepRead(r.ring.sqe, r.prepare(rec, 1, IORING_OP_READ), rd, mem.ptr, 64, -1);
    return { op: r.lastOp, cancelled: [-ECANCELED], cleanup: () => { tlibc.close(rd); tlibc.close(wr); } };
  }],
  ["POLL_ADD multishot", (r, rec) => {
    const [rd, wr] = pipe();
    const w = r.prepare(rec, 1, IORING_OP_POLL_ADD);
    sqe.prepPollMultishot(r.ring.sqe, w, rd, POLLIN);
    return { op: r.lastOp, cancelled: [-ECANCELED], cleanup: () => { tlibc.close(rd); tlibc.close(wr); } };
  }],
  ["SEND to a peer that does not read (MSG_WAITALL, 8 MB)", (r, rec) => {
    const p = pair(r);
    const big = new NativeRegion(8 << 20);
    sqe.prepSend(r.ring.sqe, r.prepare(rec, 1, IORING_OP_SEND), p.server, big.ptr, big.size, MSG_NOSIGNAL | MSG_WAITALL);
    // A cancelled partial send reports the bytes it sent, or -ECANCELED when none; the memory
    // stays owned until that CQE (freed in cleanup, after it).
    return {
      op: r.lastOp, cancelled: [-ECANCELED, -EINTR], cleanup() {
        [p.server, p.client, p.lfd].forEach((fd) => tlibc.close(fd));
        big.free();
      },
    };
  }],
  ["READ of an empty pipe with IOSQE_ASYNC (handed to io-wq)", (r, rec, mem) => {
    // Not an OPENAT of a FIFO: io_uring tries opens with O_NONBLOCK first, so a FIFO read-open
    // succeeds at once and a write-open fails with ENXIO instead of blocking (measured, 6.18).
    const [rd, wr] = pipe();
    const w = r.prepare(rec, 1, IORING_OP_READ);
    sqe.prepRead(r.ring.sqe, w, rd, mem.ptr, 64, -1);
    sqe.setSqeFlags(r.ring.sqe, w, IOSQE_ASYNC);
    // A worker blocked in read() is interrupted: the kernel reports -EINTR or -ECANCELED.
    return { op: r.lastOp, cancelled: [-ECANCELED, -EINTR], cleanup: () => { tlibc.close(rd); tlibc.close(wr); } };
  }],
];

describe("cancel any op: its completion arrives exactly once", () => {
  for (const [name, arm] of kinds) {
    test(name, () => {
      const r = new Reactor({ entries: 32, maxOps: 64, bufferCount: 8, bufferSize: 4096 });
      const mem = new NativeRegion(4096);
      const rec = new Recorder();
      let armed: Armed | null = null;
      try {
        armed = arm(r, rec, mem);
        // Let it get going in the kernel, and make sure it is really waiting.
        r.runUntil(() => false, 20);
        expect(rec.byOp(armed.op).length, `${name}: completed before the cancel`).toBe(0);
        expect(r.cancel(armed.op), "cancel() of a live op").toBe(true);
        runOrFail(r, () => !r.isLive(armed!.op), 2000, () => `${name}: got no final CQE after cancel`);
        // Run on a while: nothing more may arrive for this op.
        r.runUntil(() => false, 30);
        const got = rec.byOp(armed.op);
        const finals = got.filter((c) => !(c.flags & IORING_CQE_F_MORE));
        expect(finals.length, `${name}: final CQEs got ${finals.length}, wanted exactly 1`).toBe(1);
        const res = finals[0]!.res;
        const ok = armed.cancelled.includes(res) || (name.startsWith("SEND") && res > 0);
        expect(ok, `${name}: got res ${res}, wanted one of ${armed.cancelled}`).toBe(true);
        expect(r.cancel(armed.op), "cancel() of a finished op").toBe(false);
        expect(r.stats.ignoredFailures, "the cancel SQE failed").toBe(0);
        if (name.startsWith("RECV multishot")) {
          // A cancelled multishot RECV that took a buffer must not have kept it.
          expect(got.some((c) => c.flags & IORING_CQE_F_BUFFER), "cancelled RECV delivered a buffer").toBe(false);
        }
      } finally {
        armed?.cleanup();
        mem.free();
        r.close();
      }
    });
  }
});

describe("cancel races and bulk cancels", () => {
  test("cancelling an op that already finished: its one result stands, the cancel finds nothing", () => {
    const r = new Reactor({ entries: 8, maxOps: 8 });
    try {
      const rec = new Recorder();
      const h = r.nop(rec, 1);
      r.cancel(h); // queued in the same batch, after the NOP: finds it done
      runOrFail(r, () => rec.cqes.length === 1, 1000, () => "NOP never completed");
      r.runUntil(() => false, 20);
      expect(rec.cqes.map((c) => c.res), "NOP result").toEqual([0]);
      expect(r.stats.staleCompletions, "stale CQEs").toBe(0);
    } finally {
      r.close();
    }
  });

  test("two cancels of the same op: still one completion", () => {
    const r = new Reactor({ entries: 8, maxOps: 8 });
    try {
      const rec = new Recorder();
      const h = r.timeout(10_000, rec, 1);
      r.poll(0);
      r.cancel(h);
      r.cancel(h);
      runOrFail(r, () => rec.cqes.length === 1, 1000, () => "TIMEOUT never completed");
      r.runUntil(() => false, 20);
      expect(rec.cqes.map((c) => c.res), "cancelled twice").toEqual([-ECANCELED]);
    } finally {
      r.close();
    }
  });

  test("a stale handle cancels nothing (the slot's new op goes on)", () => {
    const r = new Reactor({ entries: 8, maxOps: 2 });
    try {
      const rec = new Recorder();
      const old = r.nop(rec, 1);
      runOrFail(r, () => rec.cqes.length === 1, 1000, () => "NOP never completed");
      const h = r.timeout(40, rec, 2);
      expect(slotOf(h), "same slot").toBe(slotOf(old));
      expect(r.cancel(old), "cancel(stale handle)").toBe(false);
      runOrFail(r, () => rec.cqes.length === 2, 1000, () => "TIMEOUT never completed");
      expect(rec.byTag(2).map((c) => c.res), "the slot's new op was not cancelled").toEqual([-ETIME]);
    } finally {
      r.close();
    }
  });

  test("cancelFd: every op on a socket ends, once each", () => {
    const r = new Reactor({ entries: 16, maxOps: 16, bufferCount: 8, bufferSize: 4096 });
    const mem = new NativeRegion(4096);
    const p = pair(r);
    try {
      const rec = new Recorder();
      sqe.prepRecv(r.ring.sqe, r.prepare(rec, 1, IORING_OP_RECV), p.server, mem.ptr, 64, 0);
      const w = r.prepare(rec, 2, IORING_OP_POLL_ADD);
      sqe.prepPollMultishot(r.ring.sqe, w, p.server, POLLIN);
      r.runUntil(() => false, 10);
      r.cancelFd(p.server);
      runOrFail(r, () => r.ops.live === 0, 2000, () => `ops still live: ${r.ops.live}`);
      r.runUntil(() => false, 20);
      expect(rec.byTag(1).map((c) => c.res), "RECV").toEqual([-ECANCELED]);
      expect(rec.byTag(2).map((c) => c.res), "POLL").toEqual([-ECANCELED]);
    } finally {
      [p.server, p.client, p.lfd].forEach((fd) => tlibc.close(fd));
      mem.free();
      r.close();
    }
  });

  test("cancelFixedFile: a READ on a direct descriptor ends with -ECANCELED", () => {
    const r = new Reactor({ entries: 16, maxOps: 16 });
    const mem = new NativeRegion(4096);
    const fifo = tmp.path("fixed.fifo");
    spawnSync("mkfifo", [fifo]);
    const writer = openSync(fifo, "r+");
    try {
      const slots = new FileSlots(r, 4);
      const slot = slots.take();
      const rec = new Recorder();
      mem.writeCString(0, fifo);
      sqe.prepOpenatDirect(r.ring.sqe, r.prepare(rec, 1, IORING_OP_OPENAT), AT_FDCWD, mem.ptr, O_RDONLY, 0, slot);
      runOrFail(r, () => rec.cqes.length === 1, 2000, () => "OPENAT never completed");
      expect(rec.cqes[0]!.res, "OPENAT of the FIFO").toBe(0);
      const w = r.prepare(rec, 2, IORING_OP_READ);
      sqe.prepRead(r.ring.sqe, w, slot, mem.ptr + 1024, 100, 0);
      sqe.setSqeFlags(r.ring.sqe, w, IOSQE_FIXED_FILE);
      r.runUntil(() => false, 10);
      r.cancelFixedFile(slot);
      runOrFail(r, () => rec.byTag(2).length === 1, 2000, () => "READ never completed");
      expect(rec.byTag(2)[0]!.res, "READ on the cancelled slot").toBe(-ECANCELED);
      r.closeDirectDetached(slot);
      r.poll(0);
    } finally {
      closeSync(writer);
      mem.free();
      r.close();
    }
  });

  test("close() with ops in flight: each completer hears once, then the ring is gone", () => {
    const r = new Reactor({ entries: 16, maxOps: 64 });
    const rec = new Recorder();
    const hs: number[] = [];
    for (let i = 0; i < 20; i++) hs.push(r.timeout(10_000, rec, i));
    r.poll(0);
    r.close();
    expect(rec.cqes.length, `completions at close: got ${rec.cqes.length}, wanted 20`).toBe(20);
    expect(new Set(rec.cqes.map((c) => c.tag)).size, "one per op").toBe(20);
    expect(rec.cqes.every((c) => c.res === -ECANCELED), `results: ${rec.cqes.map((c) => c.res)}`).toBe(true);
    expect(r.closed).toBe(true);
  });
});
