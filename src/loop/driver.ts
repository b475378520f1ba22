// How the reactor lives beside Bun's own event loop on one thread.
//
// Measured (DESIGN.md): blocking Bun's thread in io_uring_enter is the cheapest way to wait for
// CQEs (1.29x Bun.serve's req/CPU-s) but freezes Bun; waking through an eventfd that Bun watches
// keeps Bun alive but costs ~70 us of CPU per wake (0.43x at one connection). So the driver has
// two states:
//
// - active: "cooperative blocking". Each tick submits and waits in io_uring_enter for one CQE or
//   ACTIVE_WAIT_MS, with a POLL_ADD on Bun's own epoll fd in the ring so that Bun's I/O (fetch,
//   Bun.file, spawn, Worker messages: all reach that epoll) ends the wait at once; then
//   setImmediate(tick) lets Bun's loop run one pass (its epoll_pwait2 gets timeout 0 because an
//   immediate is pending) before the next tick. Bun's timers are not fds: ACTIVE_WAIT_MS bounds
//   how late one can be while we are active.
// - parked: after PARK_AFTER_IDLE_MS without a CQE (at once when the last sleeps were long, so
//   single requests far apart do not each pay for the active ticks: LONG_SLEEP_MS), the ring's registered eventfd is
//   enabled (IORING_CQ_EVENTFD_DISABLED cleared in shared memory, no syscall) and Bun sleeps in
//   its own epoll with everything precise; the eventfd wakes us through a socket Bun watches
//   (loop/waker.ts). Idle CPU is then Bun's own.
// With DEFER_TASKRUN the eventfd fires when completion work is queued and the CQ stays empty until
// we enter with GETEVENTS, which every tick does (Ring.enter).
import { libc } from "../ffi/libc.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, POLLIN, IOSQE_CQE_SKIP_SUCCESS, IORING_CQE_F_MORE } from "../ffi/constants.ts";
import { EINVAL } from "../ffi/errno.ts";
import { NativeRegion } from "../ffi/memory.ts";
import { prepPollAdd, prepCancel64, prepTimeout, setUserData, setSqeFlags } from "../ffi/sqe.ts";
import { UD_IGNORED } from "./ops.ts";
import type { Reactor } from "./reactor.ts";
import { Waker } from "./waker.ts";

/** Longest wait in io_uring_enter while active: bounds how late a Bun timer fires (setTimeout, Bun.sleep). */
export const ACTIVE_WAIT_MS = 1;
/** Time without a completion before parking (the reactor's clock, read at each kernel entry). */
export const PARK_AFTER_IDLE_MS = 3;
/**
 * A park that lasted this long is a long sleep: after LONG_SLEEPS_TO_PARK_AT_ONCE of them in a row
 * (traffic that comes in single requests far apart), park as soon as a tick brings nothing instead
 * of after PARK_AFTER_IDLE_MS, whose 1 ms ticks each wake a cold CPU for nothing. One short sleep
 * brings the delay back. Measured at one request every 20 ms after a warm-up (schedstat CPU per
 * request, 3 interleaved pairs): ~226 us against ~316 us with the fixed delay.
 */
const LONG_SLEEP_MS = 2 * PARK_AFTER_IDLE_MS;
const LONG_SLEEPS_TO_PARK_AT_ONCE = 2;
/** Parked without a Waker (it could not be made: no fd left, io_uring limits), poll the CQ at this period. */
export const PARKED_POLL_MS = 10;

const INTERNAL_EPOLL_POLL = 1;
/** The periodic (multishot) TIMEOUT that bounds waits while active; see #armTimer. */
const INTERNAL_TICK_TIMER = 3;
const IORING_TIMEOUT_MULTISHOT = 1 << 6;
/** user_data of the cancel that removes the epoll POLL_ADD when parking; its CQE (only on failure) is ignored. */
const INTERNAL_EPOLL_CANCEL = 2;

// Bun makes its epoll at start-up, before any of the app's files: among the first descriptors. Read
// by readlink(2) rather than node:fs, whose module costs ~2 MB of RSS and ~580 functions.
const EPOLL_FD_SCAN = 256;
const EVENTPOLL = "anon_inode:[eventpoll]";
const LINK_AT = 64;
/** Bun's main-thread epoll fd: the first anon_inode:[eventpoll] in this process (fd 4 at start-up). */
function findBunEpollFd(): number {
  if (!Bun.isMainThread) return -1; // each Worker has its own; we cannot tell which is ours
  const mem = new NativeRegion(128);
  try {
    for (let fd = 0; fd < EPOLL_FD_SCAN; fd++) {
      mem.writeCString(0, `/proc/self/fd/${fd}`);
      const n = Number(libc.readlink(mem.ptr as never, (mem.ptr + LINK_AT) as never, 128 - LINK_AT));
      if (n === EVENTPOLL.length && String.fromCharCode(...mem.u8.subarray(LINK_AT, LINK_AT + n)) === EVENTPOLL) return fd;
    }
  } finally {
    mem.free();
  }
  return -1;
}
export const bunEpollFd = findBunEpollFd();

export class Driver {
  readonly #r: Reactor;
  readonly eventfd: number;
  #scheduled = false;
  #inTick = false;
  #timerArmed = false;
  #timerSupported = true;
  #timerHits = 0;
  readonly #timerTs = new NativeRegion(16);
  #looping = false; // inside #tick's loop, microtask hops included: it will submit what is queued
  #parked = false;
  /** When the loop last parked (performance.now()), and the long sleeps in a row since (see LONG_SLEEP_MS). */
  #parkedAt = 0;
  #longSleeps = 0;
  /** When a tick last brought work (reactor clock): idle since then. */
  #workAt = 0;
  #epollArmed = false;
  /** null when it could not be made; then a timer polls while parked. */
  #waker: Waker | null = null;
  #pollTimer: ReturnType<typeof setInterval> | null = null;
  #pollTimerRefd = false;
  /** External references (servers, listeners): Bun's ref()/unref(). */
  refs = 0;
  readonly #tickBound = () => this.#tick();
  readonly #stepBound = () => this.#step();
  // The next iteration, once the microtask queue is empty (see #step).
  readonly #hopBound = () => process.nextTick(this.#stepBound);
  readonly #onWake = () => {
    if (this.#parked) this.#unpark(true);
  };

  constructor(reactor: Reactor) {
    this.#r = reactor;
    this.eventfd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.eventfd < 0) throw new Error("eventfd() failed");
    reactor.ring.registerEventfd(this.eventfd);
    reactor.ring.eventfdEnabled = false;
    try {
      this.#waker = new Waker(this.eventfd, this.#onWake);
    } catch {
      this.#waker = null;
    }
  }

  get parked(): boolean {
    return this.#parked;
  }

  /** How long the loop stays active without a completion before it parks: PARK_AFTER_IDLE_MS, or 0 after long sleeps. */
  get parkDelayMs(): number {
    return this.#longSleeps >= LONG_SLEEPS_TO_PARK_AT_ONCE ? 0 : PARK_AFTER_IDLE_MS;
  }

  /** How a parked loop learns of completions: the Waker's socket, or a timer when it could not be made. */
  get wakesBy(): "socket" | "poll" {
    return this.#waker?.usable ? "socket" : "poll";
  }

  /** True while something referenced is pending: the process must stay alive. */
  get referenced(): boolean {
    return this.refs > 0 || this.#r.ops.liveRefd > 0;
  }

  /** Called whenever an SQE is queued or refs change: make sure a tick will come. */
  wantTick(): void {
    if (this.#parked) this.#unpark(false);
    else if (!this.#scheduled && !this.#inTick && !this.#looping && !this.#r.closed) {
      this.#scheduled = true;
      setImmediate(this.#tickBound);
    }
  }

  ref(): void {
    this.refs++;
    this.#syncRef();
  }
  unref(): void {
    if (this.refs > 0) this.refs--;
    this.#syncRef();
  }

  /** Ticks that Bun's epoll poll ended, and parks: to see how the driver behaves under load. */
  epollWakes = 0;
  parks = 0;

  onInternal(kind: number, res: number, flags: number): void {
    if (kind === INTERNAL_TICK_TIMER) {
      this.#timerHits++;
      if (!(flags & IORING_CQE_F_MORE)) {
        this.#timerArmed = false;
        if (res === -EINVAL) this.#timerSupported = false; // before Linux 6.4: no multishot timeouts
      }
      return;
    }
    if (kind === INTERNAL_EPOLL_POLL) {
      this.#epollArmed = false;
      this.epollWakes++;
    }
  }

  /**
   * One turn of Bun's loop worth of reactor work. Inside it the reactor iterates — wait in
   * io_uring_enter, run completions, let microtasks settle (async handlers answer there) — for up
   * to ACTIVE_WAIT_MS, then yields to Bun (setImmediate). At one connection, sequential, this makes
   * a round trip one io_uring_enter (it submits the reply and waits for the next request) instead of
   * that plus Bun's epoll_pwait2 and clock_gettime; under load it changes little. It yields at once
   * when Bun's epoll has work (the POLL_ADD fired) or when nothing came.
   */
  #tick(): void {
    this.#scheduled = false;
    const r = this.#r;
    if (r.closed || this.#looping) return;
    this.#looping = true;
    this.#budgetEnd = performance.now() + ACTIVE_WAIT_MS;
    this.#iteration = 0;
    this.#step();
  }

  // The tick's loop, one iteration per call, written without async functions: an await per
  // iteration allocated promises and frames on every round trip (at one connection, one per
  // request), and garbage is what the sequential latency tail is made of (eden collections).
  #budgetEnd = 0;
  #iteration = 0;

  #step(): void {
    const r = this.#r;
    if (this.#iteration > 0 && (this.#parked || r.closed)) return this.#endLoop();
    let again: boolean;
    try {
      again = this.#pollOnce(r, this.#iteration++);
    } catch (e) {
      // As an unhandled error, like any exception thrown from a callback; the loop stops here.
      this.#looping = false;
      queueMicrotask(() => {
        throw e;
      });
      return;
    }
    // Let promise reactions run (an async handler's response is written there), then go on: all of
    // them, however deep. One microtask hop ran the handler that awaited what these completions
    // resolved (`await req.json()`), but the reaction to its return, which writes the response, came
    // after the next iteration, which then waited in io_uring_enter before that response existed (up
    // to the 1 ms budget); a `for await` over a streamed body is some ten hops deep. From the hop (a
    // microtask), process.nextTick runs the next iteration once the microtask queue is empty (Bun
    // drains it first, as Node does), whatever depth the promise chains queued there reach.
    if (again) queueMicrotask(this.#hopBound);
    else this.#endLoop();
  }

  #endLoop(): void {
    this.#looping = false;
    this.#next();
  }

  /** One wait in io_uring_enter and the completions it brought; true to iterate again. */
  #pollOnce(r: Reactor, iteration: number): boolean {
    const budgetEnd = this.#budgetEnd;
    this.#inTick = true;
    let n = 0;
    let bunWoke = false;
    try {
      if (bunEpollFd >= 0 && !this.#epollArmed) {
        // Single-shot, re-armed each time: it checks readiness when armed, so Bun work already
        // pending ends our wait at once (level-triggered).
        const w = r.prepareUntracked();
        prepPollAdd(r.ring.sqe, w, bunEpollFd, POLLIN);
        setUserData(r.ring.sqe, w, INTERNAL_EPOLL_POLL, UD_IGNORED);
        this.#epollArmed = true;
      }
      if (!this.#timerArmed && this.#timerSupported) this.#armTimer(r);
      this.#timerHits = 0;
      const left = iteration === 0 ? ACTIVE_WAIT_MS : budgetEnd - r.now;
      // With the periodic timer armed a wait needs no timeout of its own (see #armTimer).
      n = left <= 0 ? r.poll(0) : this.#timerArmed ? r.poll(-1) : r.poll(left * 1e6);
      bunWoke = !this.#epollArmed;
    } finally {
      this.#inTick = false;
    }
    const work = n - (bunWoke ? 1 : 0) - this.#timerHits;
    if (work > 0) this.#workAt = r.now;
    return !(bunWoke || work <= 0 || r.closed || r.now >= budgetEnd || (r.ops.live === 0 && r.ring.sqPending === 0));
  }

  /**
   * A multishot TIMEOUT firing every ACTIVE_WAIT_MS while active bounds every wait, so the waits
   * themselves carry no timeout. Measured on this VM: a timeout per io_uring_enter arms and cancels
   * an hrtimer each time (a timer reprogram, a VM exit), which made a sequential round trip cost
   * more CPU than Bun.listen's; one periodic timer costs 1000 wake-ups a second only while active.
   */
  #armTimer(r: Reactor): void {
    const u32 = this.#timerTs.u32;
    u32[0] = 0; u32[1] = 0; u32[2] = ACTIVE_WAIT_MS * 1e6; u32[3] = 0;
    const w = r.prepareUntracked();
    prepTimeout(r.ring.sqe, w, this.#timerTs.ptr, 0, IORING_TIMEOUT_MULTISHOT);
    setUserData(r.ring.sqe, w, INTERNAL_TICK_TIMER, UD_IGNORED);
    this.#timerArmed = true;
  }

  #next(): void {
    const r = this.#r;
    if (r.closed) return;
    if (r.ops.live === 0 && r.ring.sqPending === 0) {
      // Nothing in flight: nothing to wait for. The next submission schedules a tick.
      this.#workAt = r.now;
      this.#syncRef();
      return;
    }
    if (r.now - this.#workAt >= this.parkDelayMs && r.ring.sqPending === 0) this.#park();
    else {
      this.#scheduled = true;
      setImmediate(this.#tickBound);
    }
  }

  #park(): void {
    const r = this.#r;
    // While parked Bun sleeps in its own epoll_wait, so the POLL_ADD on Bun's epoll fd must go:
    // left armed, every wake-up of Bun's loop (its internal timerfds fire some 20 times a second
    // when idle) became a CQE, an eventfd wake and a few ticks: 4% of a core with an idle
    // listener, measured by test/loop/driver.test.ts (wanted < 1%). Cancel it and reap the
    // cancellation before the eventfd is enabled, so removing it wakes nobody. #inTick keeps
    // prepareUntracked() from scheduling a tick.
    if (this.#epollArmed || this.#timerArmed) {
      const before = r.stats.completions;
      this.#inTick = true;
      try {
        if (this.#epollArmed) {
          const w = r.prepareUntracked();
          prepCancel64(r.ring.sqe, w, INTERNAL_EPOLL_POLL, UD_IGNORED, 0);
          setUserData(r.ring.sqe, w, INTERNAL_EPOLL_CANCEL, UD_IGNORED);
          setSqeFlags(r.ring.sqe, w, IOSQE_CQE_SKIP_SUCCESS);
        }
        if (this.#timerArmed) {
          // The periodic timer would wake a parked loop every millisecond: it goes too.
          const w = r.prepareUntracked();
          prepCancel64(r.ring.sqe, w, INTERNAL_TICK_TIMER, UD_IGNORED, 0);
          setUserData(r.ring.sqe, w, INTERNAL_EPOLL_CANCEL, UD_IGNORED);
          setSqeFlags(r.ring.sqe, w, IOSQE_CQE_SKIP_SUCCESS);
        }
        r.poll(0);
      } finally {
        this.#inTick = false;
      }
      if (r.closed) return;
      if (r.stats.completions !== before || r.ring.sqPending > 0) {
        // Real work arrived meanwhile: stay active.
        this.#workAt = r.now;
        this.#scheduled = true;
        setImmediate(this.#tickBound);
        return;
      }
    }
    r.trimIdle();
    this.#parked = true;
    this.#parkedAt = performance.now();
    r.ring.eventfdEnabled = true;
    // Completion work queued before the eventfd was enabled would never signal it: collect it now.
    // The kernel runs a bounded batch of it per entry, and signals the eventfd only when such work
    // goes from none to some: parking with some left (IORING_SQ_TASKRUN) would wait for a wake
    // that never comes. Stay active until it is all run.
    if (r.poll(0) > 0 || r.ring.sqPending > 0 || r.ring.needsEnter) {
      this.#unpark(false);
      return;
    }
    this.#syncRef();
  }

  #unpark(now: boolean): void {
    if (!this.#parked) return;
    this.#parked = false;
    this.#r.ring.eventfdEnabled = false;
    this.#workAt = performance.now();
    this.#longSleeps = this.#workAt - this.#parkedAt >= LONG_SLEEP_MS ? Math.min(this.#longSleeps + 1, LONG_SLEEPS_TO_PARK_AT_ONCE) : 0;
    this.#r.stats.wakes++;
    if (now) this.#tickBound();
    else if (!this.#scheduled && !this.#inTick) {
      this.#scheduled = true;
      setImmediate(this.#tickBound);
    }
  }

  /**
   * Parked: the Waker is armed, and keeps the process alive only while something referenced is
   * pending. Parked without a usable Waker: a timer polls, referenced likewise.
   */
  #syncRef(): void {
    const live = this.#r.ops.live > 0;
    const refd = this.#parked && live && this.referenced;
    const waker = this.#waker?.usable ? this.#waker : null;
    if (waker) {
      if (this.#parked) waker.arm();
      waker.ref(refd);
    }
    const wantPoll = this.#parked && live && !waker;
    if (this.#pollTimer && (!wantPoll || this.#pollTimerRefd !== refd)) {
      clearInterval(this.#pollTimer);
      this.#pollTimer = null;
    }
    if (wantPoll && !this.#pollTimer) {
      this.#pollTimer = setInterval(() => {
        if (this.#parked && this.#r.poll(0) > 0) this.#unpark(false);
      }, PARKED_POLL_MS);
      if (!refd) this.#pollTimer.unref();
      this.#pollTimerRefd = refd;
    }
  }

  close(): void {
    this.#parked = false;
    this.#syncRef();
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#waker?.close();
    this.#waker = null;
    libc.close(this.eventfd);
  }
}
