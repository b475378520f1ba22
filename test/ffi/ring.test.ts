// The ring itself: setup and its fallback, features, probe, the SQ/CQ views, NOP round trips whose
// user_data carries an op slot and its generation, and a stale generation's CQE being dropped.
import { describe, expect, test } from "bun:test";
import { Ring, DEFAULT_SETUP_FLAGS } from "../../src/ffi/ring.ts";
import { Reactor } from "../../src/loop/reactor.ts";
import { slotOf, genOf, UD_IGNORED } from "../../src/loop/ops.ts";
import * as sqe from "../../src/ffi/sqe.ts";
import { IoUringUnavailableError } from "../../src/ffi/errno.ts";
import {
  IORING_FEAT_NODROP, IORING_FEAT_EXT_ARG, IORING_FEAT_SINGLE_MMAP, IORING_OP_NOP, IORING_OP_READ,
  IORING_OP_TIMEOUT, IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_CQSIZE,
  IORING_SETUP_COOP_TASKRUN,
} from "../../src/ffi/constants.ts";
import { ETIME, EINVAL } from "../../src/ffi/errno.ts";
import { Recorder, runOrFail } from "../support/uring.ts";
import { release } from "node:os";

function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split(/[.-]/).map(Number);
  return a > major || (a === major && b >= minor);
}

describe("setup", () => {
  test("a ring with the default flags reports its sizes, fd and features", () => {
    const ring = new Ring({ entries: 16, cqEntries: 64 });
    try {
      expect(ring.fd, `ring fd: got ${ring.fd}, wanted >= 0`).toBeGreaterThanOrEqual(0);
      expect(ring.sqEntries, `sqEntries: got ${ring.sqEntries}, wanted 16`).toBe(16);
      expect(ring.cqEntries, `cqEntries: got ${ring.cqEntries}, wanted 64 (IORING_SETUP_CQSIZE)`).toBe(64);
      expect(ring.flags & IORING_SETUP_CQSIZE, "CQSIZE flag kept").toBe(IORING_SETUP_CQSIZE);
      for (const [bit, name] of [[IORING_FEAT_NODROP, "NODROP"], [IORING_FEAT_EXT_ARG, "EXT_ARG"], [IORING_FEAT_SINGLE_MMAP, "SINGLE_MMAP"]] as const) {
        expect(ring.features & bit, `feature ${name}: got features 0x${ring.features.toString(16)}, wanted bit 0x${bit.toString(16)}`).toBe(bit);
      }
      expect(ring.cqMask, `cqMask: got ${ring.cqMask}, wanted ${ring.cqEntries - 1}`).toBe(ring.cqEntries - 1);
    } finally {
      ring.close();
    }
  });

  test("entries that are not a power of two are rounded up by the kernel", () => {
    const ring = new Ring({ entries: 5, cqEntries: 20 });
    try {
      expect(ring.sqEntries, `sqEntries for 5: got ${ring.sqEntries}, wanted 8`).toBe(8);
      expect(ring.cqEntries, `cqEntries for 20: got ${ring.cqEntries}, wanted 32`).toBe(32);
    } finally {
      ring.close();
    }
  });

  test("flags the kernel refuses are dropped: DEFER_TASKRUN without SINGLE_ISSUER is EINVAL, the ring still sets up", () => {
    // The kernel rejects DEFER_TASKRUN unless SINGLE_ISSUER is set too; Ring must retry without it
    // (the path an older kernel takes when it does not know a flag at all).
    const ring = new Ring({ entries: 8, flags: IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN });
    try {
      expect(ring.flags & IORING_SETUP_DEFER_TASKRUN, `flags 0x${ring.flags.toString(16)}: got DEFER_TASKRUN kept, wanted it dropped`).toBe(0);
      expect(ring.flags & IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER not invented").toBe(0);
      // It works: a NOP round trip.
      const w = ring.getSqe();
      sqe.prepNop(ring.sqe, w);
      sqe.setUserData(ring.sqe, w, 77, 3);
      ring.enter(1, 1e9);
      const seen: number[][] = [];
      ring.reap((lo, hi, res) => seen.push([lo, hi, res]));
      expect(seen, `CQEs: got ${JSON.stringify(seen)}, wanted [[77,3,0]]`).toEqual([[77, 3, 0]]);
    } finally {
      ring.close();
    }
  });

  test("a flag no kernel knows ends in IoUringUnavailableError(EINVAL), not a crash", () => {
    let err: unknown;
    try {
      new Ring({ entries: 8, flags: 1 << 30 }).close();
    } catch (e) {
      err = e;
    }
    expect(err instanceof IoUringUnavailableError, `got ${String(err)}, wanted IoUringUnavailableError`).toBe(true);
    expect((err as IoUringUnavailableError).errno, `errno: got ${(err as IoUringUnavailableError).errno}, wanted EINVAL`).toBe(EINVAL);
  });

  // SINGLE_ISSUER arrived in 6.0 and DEFER_TASKRUN in 6.1; older kernels take the fallback above.
  test.skipIf(!kernelAtLeast(6, 1))("the default flags are all accepted on Linux 6.1+ (skipped on older kernels)", () => {
    const ring = new Ring({ entries: 8 });
    try {
      const want = DEFAULT_SETUP_FLAGS | IORING_SETUP_CQSIZE;
      expect(ring.flags, `flags: got 0x${ring.flags.toString(16)}, wanted 0x${want.toString(16)}`).toBe(want);
    } finally {
      ring.close();
    }
  });

  test("close() twice is harmless and enter() after close does nothing", () => {
    const ring = new Ring({ entries: 8 });
    ring.close();
    ring.close();
    expect(ring.closed).toBe(true);
    expect(ring.enter(0, 0), "enter after close: got SQEs consumed, wanted 0").toBe(0);
  });
});

describe("probe", () => {
  test("the probe lists the ops every part of bun-uring uses", () => {
    const ring = new Ring({ entries: 8 });
    try {
      for (const op of [IORING_OP_NOP, IORING_OP_READ, IORING_OP_TIMEOUT]) {
        expect(ring.supportedOps.has(op), `op ${op}: got unsupported, wanted supported`).toBe(true);
      }
      const unknown = 250;
      expect(ring.supportedOps.has(unknown), `op ${unknown}: got supported, wanted not`).toBe(false);
    } finally {
      ring.close();
    }
  });
});

describe("SQ and CQ views", () => {
  test("getSqe hands out each SQ slot once, zeroed, and -1 when the SQ is full; a submit frees them", () => {
    const ring = new Ring({ entries: 4, cqEntries: 16 });
    try {
      // Dirty the SQE memory so "zeroed" means something.
      ring.sqe.u8.fill(0xa5);
      const ws = new Set<number>();
      for (let i = 0; i < 4; i++) {
        const w = ring.getSqe();
        expect(w, `getSqe #${i}: got ${w}, wanted a word index`).toBeGreaterThanOrEqual(0);
        const bytes = ring.sqe.u8.subarray(w * 4, w * 4 + 64);
        expect(bytes.every((b) => b === 0), `SQE ${w}: got non-zero bytes, wanted a zeroed SQE`).toBe(true);
        sqe.prepNop(ring.sqe, w);
        sqe.setUserData(ring.sqe, w, i, 1);
        ws.add(w);
      }
      expect(ws.size, `distinct SQEs: got ${ws.size}, wanted 4`).toBe(4);
      expect(ring.getSqe(), "getSqe on a full SQ: got a slot, wanted -1").toBe(-1);
      expect(ring.sqPending, `sqPending: got ${ring.sqPending}, wanted 4`).toBe(4);
      const consumed = ring.enter(4, 1e9);
      expect(consumed, `enter consumed: got ${consumed}, wanted 4`).toBe(4);
      expect(ring.sqPending, `sqPending after submit: got ${ring.sqPending}, wanted 0`).toBe(0);
      expect(ring.cqReady, `cqReady: got ${ring.cqReady}, wanted 4`).toBe(4);
      const lows: number[] = [];
      expect(ring.reap((lo) => lows.push(lo))).toBe(4);
      expect(lows.sort(), `user_data: got ${lows}, wanted 0,1,2,3`).toEqual([0, 1, 2, 3]);
      expect(ring.cqReady, "cqReady after reap").toBe(0);
      expect(ring.getSqe(), "getSqe after the submit: got -1, wanted a slot").toBeGreaterThanOrEqual(0);
    } finally {
      ring.close();
    }
  });

  test("the SQ and CQ wrap around many times (indices are u32 counters masked per access)", () => {
    const ring = new Ring({ entries: 4, cqEntries: 8 });
    try {
      let next = 0, got = 0, bad = "";
      for (let round = 0; round < 300; round++) {
        for (let i = 0; i < 3; i++) {
          const w = ring.getSqe();
          sqe.prepNop(ring.sqe, w);
          sqe.setUserData(ring.sqe, w, next++, 0);
        }
        ring.enter(3, 1e9);
        ring.reap((lo, _hi, res) => {
          if (lo !== got || res !== 0) bad ||= `CQE #${got}: got user_data ${lo} res ${res}, wanted ${got} res 0`;
          got++;
        });
      }
      expect(bad).toBe("");
      expect(got, `CQEs: got ${got}, wanted ${next}`).toBe(next);
    } finally {
      ring.close();
    }
  });

  test("64-bit user_data survives the round trip in both halves", () => {
    const ring = new Ring({ entries: 4 });
    try {
      const pairs = [[0, 0], [0xffffffff, 0xfffffffe], [0x12345678, 0x9abcdef0], [1, UD_IGNORED]];
      for (const [lo, hi] of pairs) {
        const w = ring.getSqe();
        sqe.prepNop(ring.sqe, w);
        sqe.setUserData(ring.sqe, w, lo!, hi!);
      }
      ring.enter(pairs.length, 1e9);
      const seen: number[][] = [];
      ring.reap((lo, hi) => seen.push([lo, hi]));
      expect(seen, `user_data: got ${JSON.stringify(seen)}, wanted ${JSON.stringify(pairs)}`).toEqual(pairs);
    } finally {
      ring.close();
    }
  });
});

describe("NOP round trips through the reactor", () => {
  test("each NOP completes once, with res 0, its tag, and a handle of slot + generation", () => {
    const r = new Reactor({ entries: 16, maxOps: 32 });
    try {
      const rec = new Recorder();
      const handles: number[] = [];
      for (let i = 0; i < 10; i++) handles.push(r.nop(rec, 100 + i));
      runOrFail(r, () => rec.cqes.length >= 10, 2000, () => `got ${rec.cqes.length} CQEs, wanted 10`);
      r.poll(0);
      expect(rec.cqes.length, `CQEs: got ${rec.cqes.length}, wanted exactly 10`).toBe(10);
      for (let i = 0; i < 10; i++) {
        const c = rec.cqes.find((x) => x.tag === 100 + i);
        expect(c, `NOP tag ${100 + i}: got no CQE, wanted one`).toBeDefined();
        expect(c!.res, `NOP res: got ${c!.res}, wanted 0`).toBe(0);
        expect(c!.op, `NOP handle: got ${c!.op}, wanted ${handles[i]}`).toBe(handles[i]!);
      }
      expect(r.ops.live, `ops live after: got ${r.ops.live}, wanted 0`).toBe(0);
      expect(r.stats.completions, `stats.completions: got ${r.stats.completions}, wanted 10`).toBe(10);
    } finally {
      r.close();
    }
  });

  test("a reused slot carries a new generation", () => {
    const r = new Reactor({ entries: 8, maxOps: 4 });
    try {
      const rec = new Recorder();
      const seen = new Map<number, number[]>();
      for (let i = 0; i < 6; i++) {
        const h = r.nop(rec, i);
        const s = slotOf(h);
        seen.set(s, [...(seen.get(s) ?? []), genOf(h)]);
        runOrFail(r, () => rec.cqes.length === i + 1, 1000, () => `got ${rec.cqes.length} CQEs, wanted ${i + 1}`);
      }
      for (const [slot, gens] of seen) {
        for (let k = 1; k < gens.length; k++) {
          expect(gens[k]! > gens[k - 1]!, `slot ${slot} generations: got ${gens}, wanted increasing`).toBe(true);
        }
      }
    } finally {
      r.close();
    }
  });

  test("a CQE with a stale generation is dropped and does not reach the slot's new owner", () => {
    const r = new Reactor({ entries: 8, maxOps: 4 });
    try {
      const first = new Recorder();
      const h1 = r.nop(first, 1);
      runOrFail(r, () => first.cqes.length === 1, 1000, () => "first NOP never completed");
      // The slot is free again; a timeout now owns it with the next generation.
      const second = new Recorder();
      const h2 = r.timeout(150, second, 2);
      expect(slotOf(h2), `slot reuse: got slot ${slotOf(h2)}, wanted ${slotOf(h1)}`).toBe(slotOf(h1));
      expect(genOf(h2), "generation moved on").not.toBe(genOf(h1));
      // A late CQE for the old generation (what a cancelled or racing op leaves behind).
      const w = r.prepareUntracked();
      sqe.prepNop(r.ring.sqe, w);
      sqe.setUserData(r.ring.sqe, w, slotOf(h1), genOf(h1));
      const staleBefore = r.stats.staleCompletions;
      runOrFail(r, () => r.stats.staleCompletions > staleBefore, 1000, () => "the stale CQE was never counted");
      expect(second.cqes.length, `new owner's CQEs after the stale one: got ${second.cqes.length}, wanted 0`).toBe(0);
      runOrFail(r, () => second.cqes.length > 0, 2000, () => "the timeout never completed");
      r.poll(0);
      expect(second.cqes.map((c) => c.res), `timeout result: got ${second.cqes.map((c) => c.res)}, wanted [-ETIME]`).toEqual([-ETIME]);
      expect(first.cqes.length, `old owner's CQEs: got ${first.cqes.length}, wanted 1`).toBe(1);
    } finally {
      r.close();
    }
  });
});
