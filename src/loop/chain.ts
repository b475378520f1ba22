// Linked chains: several SQEs submitted together with IOSQE_IO_LINK, executed in order by the
// kernel with no trip back to JS between steps. Each step is an op with its own completion (its
// result is delivered); a step that fails (or a short READ) cuts the rest with -ECANCELED. A hard
// link (IOSQE_IO_HARDLINK) only keeps the step right after a step that itself failed: when an
// earlier soft-linked step fails, or a LINK_TIMEOUT cuts a step, every later step is cancelled,
// hard-linked CLOSE included (measured on 6.18, test/loop/chain.test.ts). So a chain cut after its
// OPENAT(direct) succeeded leaves the slot open: the owner must close it itself
// (reactor.closeDirectDetached) before giving the slot back, or the next user of the slot whose
// own OPENAT fails reads the old file.
import type { Reactor } from "./reactor.ts";
import type { Completer } from "./ops.ts";
import { orSqeFlags } from "../ffi/sqe.ts";
import { IOSQE_IO_LINK, IOSQE_IO_HARDLINK } from "../ffi/constants.ts";

export class Chain {
  readonly reactor: Reactor;
  #prevW = -1;
  /** Handles of the steps, in order. */
  readonly ops: number[] = [];

  /** `maxSqes`: how many SQEs (steps and deadlines) the chain will use at most. */
  constructor(reactor: Reactor, maxSqes = 8) {
    this.reactor = reactor;
    reactor.reserveSqes(maxSqes);
  }

  /**
   * Add a step: `prep(w)` encodes it into the SQE at word index `w`. `hard` joins it to the previous
   * step with a hard link (it runs even if that step failed).
   */
  step(target: Completer, tag: number, kind: number, prep: (w: number, handle: number) => void, hard = false): number {
    const r = this.reactor;
    if (this.#prevW >= 0) orSqeFlags(r.ring.sqe, this.#prevW, hard ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK);
    const w = r.prepare(target, tag, kind);
    const h = r.lastOp;
    prep(w, h);
    this.#prevW = w;
    this.ops.push(h);
    return h;
  }

  /**
   * Put a deadline on the step just added: a LINK_TIMEOUT after it. At the deadline that step is
   * cut with -ECANCELED (and the rest of the chain with it); the timeout's own CQE goes to `target`
   * with -ETIME, or -ECANCELED when the step finished in time. Steps after it stay linked.
   */
  deadline(ms: number, target: Completer | null = null, tag = 0): void {
    const r = this.reactor;
    if (this.#prevW < 0) throw new Error("deadline() needs a step before it");
    r.linkTimeout(this.#prevW, ms, target, tag);
    // The chain goes on from the timeout SQE: the kernel treats the LINK_TIMEOUT's link flag as the
    // continuation of the guarded op's link.
    this.#prevW = r.lastSqe;
  }
}
