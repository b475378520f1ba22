// The Waker (src/loop/waker.ts): an eventfd signal, once armed, reaches Bun's loop as a call of
// onWake through a socket Bun watches; exactly one wake per arm; its fds and ring go on close().
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { libc } from "../../src/ffi/libc.ts";
import { NativeRegion } from "../../src/ffi/memory.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK } from "../../src/ffi/constants.ts";
import { Waker } from "../../src/loop/waker.ts";
import { sleep } from "../support/uring.ts";

const fdCount = () => readdirSync("/proc/self/fd").length;
const counter = new NativeRegion(8);

function signal(efd: number): void {
  counter.u32[0] = 1;
  counter.u32[1] = 0;
  if (Number(libc.write(efd, counter.ptr as never, 8)) !== 8) throw new Error("eventfd write failed");
}
/** The eventfd's counter, read (and so reset); 0 when it was not signalled (EAGAIN). */
function drain(efd: number): number {
  counter.u32[0] = 0;
  return Number(libc.read(efd, counter.ptr as never, 8)) === 8 ? counter.u32[0]! : 0;
}

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

function make(): { efd: number; waker: Waker; wakes: () => number; next: () => Promise<boolean> } {
  const efd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  let n = 0;
  let waiter: (() => void) | null = null;
  const waker = new Waker(efd, () => {
    n++;
    waiter?.();
  });
  cleanup.push(() => {
    waker.close();
    libc.close(efd);
  });
  // Resolves true on the next wake, false after 300 ms without one.
  const next = () =>
    new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), 300);
      waiter = () => {
        clearTimeout(t);
        waiter = null;
        res(true);
      };
    });
  return { efd, waker, wakes: () => n, next };
}

describe("Waker", () => {
  test("an armed Waker turns an eventfd signal into onWake, and consumes the signal", async () => {
    const { efd, waker, next } = make();
    waker.arm();
    const woke = next();
    signal(efd);
    expect(await woke, "onWake after the eventfd was signalled").toBe(true);
    expect(drain(efd), "eventfd counter after the wake (the Waker's READ took it)").toBe(0);
  });

  test("one wake per arm: a second signal waits for the next arm(), then wakes at once", async () => {
    const { efd, waker, wakes, next } = make();
    waker.arm();
    let woke = next();
    signal(efd);
    expect(await woke).toBe(true);
    woke = next();
    signal(efd);
    expect(await woke, "a wake without arm()").toBe(false);
    expect(wakes()).toBe(1);
    woke = next();
    waker.arm(); // the signal is still pending in the eventfd
    expect(await woke, "arm() with a signal already pending").toBe(true);
    expect(wakes()).toBe(2);
  });

  test("a signal before any arm() is not lost: it wakes on the first arm()", async () => {
    const { efd, waker, next } = make();
    signal(efd);
    const early = next();
    expect(await early, "woken without being armed").toBe(false);
    const woke = next();
    waker.arm();
    expect(await woke).toBe(true);
  });

  test("arm() twice is one pending wake; many signals in between are one wake", async () => {
    const { efd, waker, wakes, next } = make();
    waker.arm();
    waker.arm();
    const woke = next();
    for (let i = 0; i < 5; i++) signal(efd);
    expect(await woke).toBe(true);
    await sleep(50);
    expect(wakes(), "wakes for five signals and two arms").toBe(1);
  });

  test("close() gives back its socketpair and ring: fd count as before, after 50 Wakers with a pending arm", async () => {
    const efd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    try {
      const before = fdCount();
      for (let i = 0; i < 50; i++) {
        const w = new Waker(efd, () => {});
        w.arm();
        w.close();
        expect(w.usable).toBe(false);
      }
      await sleep(20); // Bun closes the adopted socket from its loop
      expect(fdCount(), "fds open after 50 Wakers closed").toBe(before);
    } finally {
      libc.close(efd);
    }
  });
});
