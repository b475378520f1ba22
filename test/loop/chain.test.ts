// Linked chains (src/loop/chain.ts): several SQEs submitted together with IOSQE_IO_LINK, each
// step's result delivered; what cuts a chain (a failed step, a short READ, a LINK_TIMEOUT) and what
// a hard link keeps running; and the leak a cut chain leaves behind in the file table.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync, statSync, openSync, closeSync, writeSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { Reactor } from "../../src/loop/reactor.ts";
import { Chain } from "../../src/loop/chain.ts";
import { FileSlots } from "../../src/loop/files.ts";
import { NativeRegion } from "../../src/ffi/memory.ts";
import * as sqe from "../../src/ffi/sqe.ts";
import { createListener } from "../../src/net/sockaddr.ts";
import {
  IORING_OP_OPENAT, IORING_OP_STATX, IORING_OP_READ, IORING_OP_CLOSE, IORING_OP_RECV, IORING_OP_NOP,
  IORING_OP_ACCEPT, IOSQE_FIXED_FILE, AT_FDCWD, O_RDONLY, STATX_BASIC_STATS,
  SOCK_CLOEXEC,
} from "../../src/ffi/constants.ts";
import { ECANCELED, ETIME, ENOENT, EBADF } from "../../src/ffi/errno.ts";
import { Recorder, tempDir, patternBytes, firstDifference, runOrFail, connectBlocking, tlibc } from "../support/uring.ts";

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("chain");
});
afterAll(() => tmp.remove());

const STEP_OPEN = 1, STEP_STATX = 2, STEP_READ = 3, STEP_CLOSE = 4;

interface FileChainOptions {
  readLen: number;
  /** Join CLOSE to the READ with a hard link (runs even when the READ failed or was short). */
  hardClose: boolean;
  /** LINK_TIMEOUT on the READ step (ms). */
  readDeadline?: number;
}

/**
 * OPENAT(direct) -> STATX -> READ(fixed) -> CLOSE(direct), one batch. Memory: path at 0, statx at
 * 1024, data at 4096. Returns the recorder; results arrive per step tag.
 */
function fileChain(r: Reactor, mem: NativeRegion, slot: number, path: string, o: FileChainOptions): Recorder {
  const rec = new Recorder();
  mem.writeCString(0, path);
  const c = new Chain(r, o.readDeadline === undefined ? 4 : 5);
  c.step(rec, STEP_OPEN, IORING_OP_OPENAT, (w) => sqe.prepOpenatDirect(r.ring.sqe, w, AT_FDCWD, mem.ptr, O_RDONLY, 0, slot));
  c.step(rec, STEP_STATX, IORING_OP_STATX, (w) => sqe.prepStatx(r.ring.sqe, w, AT_FDCWD, mem.ptr, 0, STATX_BASIC_STATS, mem.ptr + 1024));
  c.step(rec, STEP_READ, IORING_OP_READ, (w) => {
    sqe.prepRead(r.ring.sqe, w, slot, mem.ptr + 4096, o.readLen, 0);
    sqe.setSqeFlags(r.ring.sqe, w, IOSQE_FIXED_FILE);
  });
  if (o.readDeadline !== undefined) c.deadline(o.readDeadline, rec, 9);
  c.step(rec, STEP_CLOSE, IORING_OP_CLOSE, (w) => sqe.prepCloseDirect(r.ring.sqe, w, slot), o.hardClose);
  return rec;
}

const resOf = (rec: Recorder, tag: number) => rec.byTag(tag).map((c) => c.res);

/** READ(fixed) of the slot right now: bytes read or -errno. */
function readSlot(r: Reactor, mem: NativeRegion, slot: number): number {
  const rec = new Recorder();
  const w = r.prepare(rec, 0, IORING_OP_READ);
  sqe.prepRead(r.ring.sqe, w, slot, mem.ptr + 8192, 4096, 0);
  sqe.setSqeFlags(r.ring.sqe, w, IOSQE_FIXED_FILE);
  runOrFail(r, () => rec.cqes.length === 1, 2000, () => "READ of the slot never completed");
  return rec.cqes[0]!.res;
}

function withReactor(fn: (r: Reactor, slots: FileSlots, mem: NativeRegion) => void): void {
  const r = new Reactor({ entries: 32, maxOps: 64 });
  const slots = new FileSlots(r, 8);
  const mem = new NativeRegion(16384);
  try {
    fn(r, slots, mem);
  } finally {
    mem.free();
    r.close();
  }
}

describe("linked chains", () => {
  test("OPENAT(direct) -> STATX -> READ(fixed) -> CLOSE in one batch: each step's result is delivered, in order", () => {
    withReactor((r, slots, mem) => {
      const path = tmp.path("whole.bin");
      const want = patternBytes(3000, 3);
      writeFileSync(path, want);
      const slot = slots.take();
      const rec = fileChain(r, mem, slot, path, { readLen: want.length, hardClose: true });
      const ticksBefore = r.stats.ticks;
      runOrFail(r, () => rec.cqes.length === 4, 2000, () => `got ${rec.cqes.length} step results, wanted 4`);
      expect(rec.cqes.map((c) => c.tag), "steps complete in chain order").toEqual([STEP_OPEN, STEP_STATX, STEP_READ, STEP_CLOSE]);
      expect(rec.cqes.map((c) => c.res), `results: got ${rec.cqes.map((c) => c.res)}`).toEqual([0, 0, want.length, 0]);
      const size = Number(new DataView(mem.buffer, 1024 + 0x28, 8).getBigUint64(0, true));
      expect(size, `STATX size: got ${size}, wanted ${statSync(path).size}`).toBe(statSync(path).size);
      expect(firstDifference(mem.u8.slice(4096, 4096 + want.length), want), "READ bytes").toBe(-1);
      expect(r.stats.ticks - ticksBefore <= 4, `ticks: got ${r.stats.ticks - ticksBefore}, wanted a few (one batch)`).toBe(true);
      expect(readSlot(r, mem, slot), "slot after the chain's CLOSE").toBe(-EBADF);
      slots.give(slot);
    });
  });

  test("a failed OPENAT cancels every later step (CLOSE too, even behind a hard link: nothing was opened)", () => {
    withReactor((r, slots, mem) => {
      const slot = slots.take();
      const rec = fileChain(r, mem, slot, tmp.path("missing"), { readLen: 100, hardClose: true });
      runOrFail(r, () => rec.cqes.length === 4, 2000, () => `got ${rec.cqes.length} step results, wanted 4`);
      expect(resOf(rec, STEP_OPEN), "OPENAT").toEqual([-ENOENT]);
      expect([...resOf(rec, STEP_STATX), ...resOf(rec, STEP_READ), ...resOf(rec, STEP_CLOSE)],
        `later steps: got ${rec.cqes.slice(1).map((c) => c.res)}, wanted -ECANCELED x3`).toEqual([-ECANCELED, -ECANCELED, -ECANCELED]);
      slots.give(slot);
    });
  });

  test("a short READ ends a soft-linked chain (CLOSE -ECANCELED) but not a hard-linked one (CLOSE runs)", () => {
    withReactor((r, slots, mem) => {
      const path = tmp.path("short.bin");
      writeFileSync(path, patternBytes(100, 5));
      // Soft: READ asks for 1000, gets 100; the kernel treats a short read as a failed link.
      const s1 = slots.take();
      const soft = fileChain(r, mem, s1, path, { readLen: 1000, hardClose: false });
      runOrFail(r, () => soft.cqes.length === 4, 2000, () => `soft: got ${soft.cqes.length} results, wanted 4`);
      expect(resOf(soft, STEP_READ), "short READ").toEqual([100]);
      expect(resOf(soft, STEP_CLOSE), `soft-linked CLOSE after a short READ: got ${resOf(soft, STEP_CLOSE)}, wanted -ECANCELED`).toEqual([-ECANCELED]);
      // That CLOSE never ran: the slot still holds the file. Its owner closes it.
      expect(readSlot(r, mem, s1), "leaked slot still reads the file").toBe(100);
      r.closeDirectDetached(s1);
      r.poll(0);
      expect(readSlot(r, mem, s1), "slot after closeDirectDetached").toBe(-EBADF);
      slots.give(s1);
      // Hard: the same short READ, CLOSE behind a hard link runs.
      const s2 = slots.take();
      const hard = fileChain(r, mem, s2, path, { readLen: 1000, hardClose: true });
      runOrFail(r, () => hard.cqes.length === 4, 2000, () => `hard: got ${hard.cqes.length} results, wanted 4`);
      expect(resOf(hard, STEP_READ), "short READ").toEqual([100]);
      expect(resOf(hard, STEP_CLOSE), `hard-linked CLOSE after a short READ: got ${resOf(hard, STEP_CLOSE)}, wanted 0`).toEqual([0]);
      expect(readSlot(r, mem, s2), "slot after the hard-linked CLOSE").toBe(-EBADF);
      slots.give(s2);
    });
  });

  test("a LINK_TIMEOUT cuts a RECV step: RECV -ECANCELED, the timeout -ETIME, later steps -ECANCELED", () => {
    withReactor((r, _slots, mem) => {
      const { fd: lfd, address } = createListener({ hostname: "127.0.0.1", port: 0 });
      const acc = new Recorder();
      sqe.prepAccept(r.ring.sqe, r.prepare(acc, 0, IORING_OP_ACCEPT), lfd, 0, 0, SOCK_CLOEXEC);
      const client = connectBlocking(address.port);
      runOrFail(r, () => acc.cqes.length === 1, 2000, () => "ACCEPT never completed");
      const server = acc.cqes[0]!.res;
      try {
        const rec = new Recorder();
        const c = new Chain(r, 4);
        c.step(rec, 1, IORING_OP_RECV, (w) => sqe.prepRecv(r.ring.sqe, w, server, mem.ptr, 100, 0));
        c.deadline(40, rec, 2);
        c.step(rec, 3, IORING_OP_NOP, (w) => sqe.prepNop(r.ring.sqe, w));
        const t0 = performance.now();
        runOrFail(r, () => rec.cqes.length === 3, 2000, () => `got ${rec.cqes.length} results, wanted 3`);
        const took = performance.now() - t0;
        expect(resOf(rec, 1), `RECV: got ${resOf(rec, 1)}, wanted -ECANCELED`).toEqual([-ECANCELED]);
        expect(resOf(rec, 2), `LINK_TIMEOUT: got ${resOf(rec, 2)}, wanted -ETIME`).toEqual([-ETIME]);
        expect(resOf(rec, 3), `step after the cut: got ${resOf(rec, 3)}, wanted -ECANCELED`).toEqual([-ECANCELED]);
        expect(took, `cut after ${took.toFixed(1)} ms, wanted >= 39`).toBeGreaterThanOrEqual(39);
        // When the RECV finishes in time, the timeout is cancelled and the chain goes on.
        const rec2 = new Recorder();
        const c2 = new Chain(r, 4);
        c2.step(rec2, 1, IORING_OP_RECV, (w) => sqe.prepRecv(r.ring.sqe, w, server, mem.ptr, 100, 0));
        c2.deadline(2000, rec2, 2);
        c2.step(rec2, 3, IORING_OP_NOP, (w) => sqe.prepNop(r.ring.sqe, w));
        r.poll(0);
        tlibc.write(client, new Uint8Array([7, 7, 7]), 3);
        runOrFail(r, () => rec2.cqes.length === 3, 2000, () => `got ${rec2.cqes.length} results, wanted 3`);
        expect([resOf(rec2, 1), resOf(rec2, 2), resOf(rec2, 3)], "RECV in time: 3 bytes, timeout -ECANCELED, NOP 0").toEqual([[3], [-ECANCELED], [0]]);
      } finally {
        tlibc.close(client);
        tlibc.close(server);
        tlibc.close(lfd);
      }
    });
  });

  test("a chain is never split across two submissions: a nearly full SQ is flushed first", () => {
    // 4 SQEs; 3 NOPs already queued. Without Chain's reserve, OPENAT would leave in the first
    // submission alone and READ + CLOSE in the next, unlinked: the READ could find an empty slot.
    const r = new Reactor({ entries: 4, maxOps: 32 });
    const slots = new FileSlots(r, 4);
    const mem = new NativeRegion(16384);
    try {
      const path = tmp.path("reserve.bin");
      const want = patternBytes(2000, 8);
      writeFileSync(path, want);
      const nops = new Recorder();
      for (let i = 0; i < 3; i++) r.nop(nops, i);
      const flushes = r.stats.sqFullFlushes;
      const slot = slots.take();
      const rec = fileChain(r, mem, slot, path, { readLen: want.length, hardClose: true });
      expect(r.stats.sqFullFlushes, "the queued NOPs were not flushed before the chain").toBeGreaterThan(flushes);
      runOrFail(r, () => rec.cqes.length === 4 && nops.cqes.length === 3, 2000, () => `got ${rec.cqes.length} step results, wanted 4`);
      expect(rec.cqes.map((c) => c.res), "chain results").toEqual([0, 0, want.length, 0]);
      slots.give(slot);
    } finally {
      mem.free();
      r.close();
    }
  });

  test("a chain longer than the SQ is refused, not silently split", () => {
    const r = new Reactor({ entries: 4, maxOps: 32 });
    try {
      let err: unknown;
      try {
        new Chain(r, 5);
      } catch (e) {
        err = e;
      }
      expect(err instanceof RangeError, `new Chain(5 SQEs) on a 4-entry SQ: got ${String(err)}, wanted a RangeError`).toBe(true);
    } finally {
      r.close();
    }
  });

  test("no leak: a chain cut after its OPENAT succeeded leaves the slot open; the owner closes it before giving it back", () => {
    withReactor((r, slots, mem) => {
      // File A is a FIFO with a writer already open: OPENAT succeeds at once and the READ waits
      // for data, so the READ's deadline cuts it deterministically.
      const a = tmp.path("A.fifo"), b = tmp.path("B.txt");
      const mk = spawnSync("mkfifo", [a]);
      if (mk.status !== 0) throw new Error(`mkfifo got exit ${mk.status}, wanted 0`);
      const writer = openSync(a, "r+");
      writeFileSync(b, "new file B!");
      try {
        // The chain as a file server builds it: CLOSE behind a hard link. The LINK_TIMEOUT cuts the
        // READ, and with it the CLOSE that follows (the hard link is on the timeout SQE; the READ's
        // own link is soft, and a failed step cancels every later link).
        const slot = slots.take();
        const rec = fileChain(r, mem, slot, a, { readLen: 100, hardClose: true, readDeadline: 30 });
        runOrFail(r, () => rec.cqes.length === 5, 2000, () => `got ${rec.cqes.length} results, wanted 5`);
        expect(resOf(rec, STEP_OPEN), "OPENAT").toEqual([0]);
        expect(resOf(rec, STEP_READ), "READ cut by its deadline").toEqual([-ECANCELED]);
        expect(resOf(rec, 9), "LINK_TIMEOUT").toEqual([-ETIME]);
        expect(resOf(rec, STEP_CLOSE), `CLOSE after the cut: got ${resOf(rec, STEP_CLOSE)}, wanted -ECANCELED`).toEqual([-ECANCELED]);
        // The hazard: the slot still holds file A. A later chain that reuses the slot without a
        // successful OPENAT of its own (its OPENAT fails, its READ is hard-linked) reads A.
        const leakedRead = (): number[] => {
          const rec2 = new Recorder();
          mem.writeCString(0, tmp.path("missing"));
          const c = new Chain(r, 2);
          c.step(rec2, STEP_OPEN, IORING_OP_OPENAT, (w) => sqe.prepOpenatDirect(r.ring.sqe, w, AT_FDCWD, mem.ptr, O_RDONLY, 0, slot));
          c.step(rec2, STEP_READ, IORING_OP_READ, (w) => {
            sqe.prepRead(r.ring.sqe, w, slot, mem.ptr + 4096, 100, 0);
            sqe.setSqeFlags(r.ring.sqe, w, IOSQE_FIXED_FILE);
          }, true);
          runOrFail(r, () => rec2.cqes.length === 2, 2000, () => "the reusing chain never completed");
          return [resOf(rec2, STEP_OPEN)[0]!, resOf(rec2, STEP_READ)[0]!];
        };
        writeSync(writer, "old file A");
        const [o1, n1] = leakedRead();
        expect(o1, "the reusing chain's OPENAT").toBe(-ENOENT);
        expect(new TextDecoder().decode(mem.u8.subarray(4096, 4096 + Math.max(0, n1!))), "the leaked slot still reads A").toBe("old file A");
        // The owner's duty: when OPENAT gave 0 and CLOSE did not, close the slot, then give it back.
        r.closeDirectDetached(slot);
        r.poll(0);
        expect(r.stats.ignoredFailures, "closeDirectDetached failed").toBe(0);
        slots.give(slot);
        const again = slots.take();
        expect(again, "the slot is handed out again").toBe(slot);
        writeSync(writer, "must not be read");
        expect(leakedRead(), "failed OPENAT, then READ of the now empty slot").toEqual([-ENOENT, -EBADF]);
        // A good chain on the reused slot reads B.
        const rec3 = fileChain(r, mem, again, b, { readLen: 11, hardClose: true });
        runOrFail(r, () => rec3.cqes.length === 4, 2000, () => "the last chain never completed");
        expect(new TextDecoder().decode(mem.u8.subarray(4096, 4096 + resOf(rec3, STEP_READ)[0]!)), "reused slot reads").toBe("new file B!");
        expect(resOf(rec3, STEP_CLOSE), "CLOSE of the last chain").toEqual([0]);
        slots.give(again);
        expect(slots.inUse, `slots in use at the end: got ${slots.inUse}, wanted 0`).toBe(0);
      } finally {
        closeSync(writer);
      }
    });
  });
});
