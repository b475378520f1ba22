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
// - parked: after PARK_AFTER_IDLE_TICKS ticks without a CQE, the ring's registered eventfd is
//   enabled (IORING_CQ_EVENTFD_DISABLED cleared in shared memory, no syscall) and Bun sleeps in
//   its own epoll with everything precise; a reader of the eventfd wakes us. Idle CPU is then
//   Bun's own. The eventfd costs its ~70 us only on an idle-to-busy transition.
// With DEFER_TASKRUN the eventfd fires when completion work is queued and the CQ stays empty until
// we enter with GETEVENTS, which every tick does (Ring.enter).
import { readdirSync, readlinkSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { libc } from "../ffi/libc.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, POLLIN } from "../ffi/constants.ts";
import { prepPollAdd, setUserData } from "../ffi/sqe.ts";
import { UD_IGNORED } from "./ops.ts";
import type { Reactor } from "./reactor.ts";

/** Longest wait in io_uring_enter while active: bounds how late a Bun timer fires (setTimeout, Bun.sleep). */
export const ACTIVE_WAIT_MS = 1;
/** Idle ticks (each up to ACTIVE_WAIT_MS) before parking on the eventfd. */
export const PARK_AFTER_IDLE_TICKS = 3;
/** While unreferenced and parked, nothing may keep the process alive: poll at this period instead. */
export const UNREF_POLL_MS = 10;

const INTERNAL_EPOLL_POLL = 1;

/** Bun's main-thread epoll fd: the first anon_inode:[eventpoll] in this process (fd 4 at start-up). */
function findBunEpollFd(): number {
  if (!isMainThread) return -1; // each Worker has its own; we cannot tell which is ours
  try {
    const fds = readdirSync("/proc/self/fd").map(Number).sort((a, b) => a - b);
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[eventpoll]") return fd;
      } catch {}
    }
  } catch {}
  return -1;
}
const bunEpollFd = findBunEpollFd();

export class Driver {
  readonly #r: Reactor;
  readonly eventfd: number;
  #scheduled = false;
  #inTick = false;
  #parked = false;
  #idleTicks = 0;
  #epollArmed = false;
  #reader: ReadableStreamDefaultReader<any> | null = null;
  #unrefTimer: ReturnType<typeof setInterval> | null = null;
  /** External references (servers, listeners): Bun's ref()/unref(). */
  refs = 0;
  readonly #tickBound = () => this.#tick();
  readonly #onEventfd = (r: { done: boolean }) => {
    if (r.done || !this.#reader) return;
    this.#readEventfd();
    if (this.#parked) this.#unpark(true);
  };

  constructor(reactor: Reactor) {
    this.#r = reactor;
    this.eventfd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.eventfd < 0) throw new Error("eventfd() failed");
    reactor.ring.registerEventfd(this.eventfd);
    reactor.ring.eventfdEnabled = false;
  }

  get parked(): boolean {
    return this.#parked;
  }

  /** True while something referenced is pending: the process must stay alive. */
  get referenced(): boolean {
    return this.refs > 0 || this.#r.ops.liveRefd > 0;
  }

  /** Called whenever an SQE is queued or refs change: make sure a tick will come. */
  wantTick(): void {
    if (this.#parked) this.#unpark(false);
    else if (!this.#scheduled && !this.#inTick && !this.#r.closed) {
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

  onInternal(kind: number, _res: number, _flags: number): void {
    if (kind === INTERNAL_EPOLL_POLL) this.#epollArmed = false;
  }

  #tick(): void {
    this.#scheduled = false;
    const r = this.#r;
    if (r.closed) return;
    this.#inTick = true;
    let n = 0;
    try {
      if (bunEpollFd >= 0 && !this.#epollArmed) {
        // Single-shot, re-armed each time: it checks readiness when armed, so Bun work already
        // pending ends our wait at once (level-triggered), and it is gone while we are parked.
        const w = r.prepareUntracked();
        prepPollAdd(r.ring.sqe, w, bunEpollFd, POLLIN);
        setUserData(r.ring.sqe, w, INTERNAL_EPOLL_POLL, UD_IGNORED);
        this.#epollArmed = true;
      }
      n = r.poll(ACTIVE_WAIT_MS * 1e6);
    } finally {
      this.#inTick = false;
    }
    if (n > (this.#epollArmed ? 0 : 1)) this.#idleTicks = 0;
    else this.#idleTicks++;
    this.#next();
  }

  #next(): void {
    const r = this.#r;
    if (r.closed) return;
    if (r.ops.live === 0 && r.ring.sqPending === 0) {
      // Nothing in flight: nothing to wait for. The next submission schedules a tick.
      this.#idleTicks = 0;
      this.#syncRef();
      return;
    }
    if (this.#idleTicks >= PARK_AFTER_IDLE_TICKS && r.ring.sqPending === 0) this.#park();
    else {
      this.#scheduled = true;
      setImmediate(this.#tickBound);
    }
  }

  #park(): void {
    const r = this.#r;
    this.#parked = true;
    r.ring.eventfdEnabled = true;
    // Completion work queued before the eventfd was enabled would never signal it: collect it now.
    if (r.poll(0) > 0 || r.ring.sqPending > 0) {
      this.#unpark(false);
      return;
    }
    this.#syncRef();
  }

  #unpark(now: boolean): void {
    if (!this.#parked) return;
    this.#parked = false;
    this.#r.ring.eventfdEnabled = false;
    this.#idleTicks = 0;
    this.#r.stats.wakes++;
    if (now) this.#tick();
    else if (!this.#scheduled && !this.#inTick) {
      this.#scheduled = true;
      setImmediate(this.#tickBound);
    }
  }

  /** Parked and referenced: a pending eventfd read keeps Bun alive. Parked and not: a weak poll. */
  #syncRef(): void {
    const r = this.#r;
    const live = r.ops.live > 0;
    const wantReader = this.#parked && live && this.referenced;
    const wantWeakPoll = this.#parked && live && !this.referenced;
    if (wantReader && !this.#reader) {
      this.#reader = Bun.file(this.eventfd).stream().getReader() as ReadableStreamDefaultReader<any>;
      this.#readEventfd();
    } else if (!wantReader && this.#reader) {
      const reader = this.#reader;
      this.#reader = null;
      reader.cancel().catch(() => {});
    }
    if (wantWeakPoll && !this.#unrefTimer) {
      this.#unrefTimer = setInterval(() => {
        if (this.#parked && this.#r.poll(0) > 0) this.#unpark(false);
      }, UNREF_POLL_MS);
      this.#unrefTimer.unref();
    } else if (!wantWeakPoll && this.#unrefTimer) {
      clearInterval(this.#unrefTimer);
      this.#unrefTimer = null;
    }
  }

  #readEventfd(): void {
    this.#reader?.read().then(this.#onEventfd, () => {});
  }

  close(): void {
    this.#parked = false;
    this.#syncRef();
    if (this.#unrefTimer) clearInterval(this.#unrefTimer);
    libc.close(this.eventfd);
  }
}
