// The reactor beside Bun's own event loop (src/loop/driver.ts): while a reactor with a live
// listener is active, Bun must keep working — promises, timers on time, fetch(), Bun.file, spawn,
// Workers — and an idle reactor must cost next to nothing and keep the process alive only when
// referenced. These tests use defaultReactor() and plain `await`: the driver, not runUntil, runs it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync, existsSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { listen, type TCPSocketListener } from "../../src/net/listen.ts";
import { defaultReactor, closeDefaultReactor } from "../../src/loop/default.ts";
import { PARK_AFTER_IDLE_MS, bunEpollFd } from "../../src/loop/driver.ts";
import { tempDir, patternBytes, sleep, waitFor } from "../support/uring.ts";

const BUN = process.execPath;
const CHILD = join(import.meta.dir, "..", "fixtures", "listener-child.ts");

let tmp: ReturnType<typeof tempDir>;
let server: TCPSocketListener;
// The idle-CPU child runs for 5 s: start it first, collect it in its test.
let idleChild: Promise<{ cpuMs: number; wallMs: number; ticks: number; wakes: number; parked: boolean }>;

beforeAll(async () => {
  tmp = tempDir("driver");
  // The child's start-up (a second Bun compiling its code on a 2-core machine) delays this
  // process's timers by up to 10 ms: wait until it is up and idle before the timing tests run.
  const p = Bun.spawn([BUN, CHILD, "cpu", "5000"], { stdout: "pipe", stderr: "pipe" });
  const reader = p.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const chunk = await reader.read();
    if (chunk.done) break;
    out += new TextDecoder().decode(chunk.value);
  }
  idleChild = (async () => {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      out += new TextDecoder().decode(chunk.value);
    }
    await p.exited;
    const last = out.trim().split("\n").map((l) => JSON.parse(l)).at(-1);
    if (!last || last.cpuMs === undefined) throw new Error(`idle child printed ${JSON.stringify(out)}; stderr ${await new Response(p.stderr).text()}`);
    return last;
  })();
  idleChild.catch(() => {}); // its test reports a failure; not an unhandled rejection meanwhile
  await sleep(200); // let it settle
  server = listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d) {
        s.write(d);
      },
    },
  });
});

afterAll(() => {
  server.stop(true);
  closeDefaultReactor();
  tmp.remove();
});

/** A Bun client that ping-pongs with the echo server until stopped: keeps the reactor busy. */
function loadClient(port: number): { stop(): Promise<number> } {
  let running = true, rounds = 0;
  const msg = patternBytes(512, 3);
  let sock: Awaited<ReturnType<typeof Bun.connect>> | null = null;
  let got = 0;
  const done = Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(s) {
        sock = s;
        s.write(msg);
      },
      data(s, d) {
        got += d.length;
        if (got >= msg.length) {
          got -= msg.length;
          rounds++;
          if (running) s.write(msg);
        }
      },
    },
  });
  return {
    async stop() {
      running = false;
      await done;
      sock?.end();
      return rounds;
    },
  };
}

/** How late setTimeout(fn, ms) fires, `n` times in a row. */
async function timerLateness(ms: number, n: number): Promise<number[]> {
  // Collect the garbage earlier test files left first: a full GC of a large heap pauses Bun's
  // loop for 10-20 ms by itself (seen in full-suite runs), which is not what this measures.
  Bun.gc(true);
  const late: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((res) => setTimeout(res, ms));
    late.push(performance.now() - t0 - ms);
  }
  return late;
}

/**
 * Every timer but the worst within 5 ms of its deadline, and the worst within 25 ms. One outlier
 * is allowed because this 2-core VM stalls a whole process for 3-9 ms now and then: measured with
 * Bun.listen alone (no reactor) too, where the same stalls show as gaps between setImmediate
 * callbacks. A driver that holds Bun's loop for T >= 10 ms makes lateness spread over [0, T], and
 * 11 of 12 samples under 5 ms then fails all but by chance (< 1%).
 */
function checkLateness(late: number[], what: string): void {
  const sorted = [...late].sort((a, b) => a - b);
  const list = late.map((x) => x.toFixed(2)).join(", ");
  expect(sorted.at(-2)!, `lateness ${what}: got ${list} ms, wanted all but one < 5`).toBeLessThan(5);
  expect(sorted.at(-1)!, `lateness ${what}: got ${list} ms, wanted the worst < 25`).toBeLessThan(25);
}

describe("Bun keeps working beside an active reactor", () => {
  test("the listener is on the default reactor and the driver is ticking", async () => {
    const r = defaultReactor();
    const before = r.stats.ticks;
    await sleep(20);
    expect(r.ops.live, `ops live: got ${r.ops.live}, wanted >= 1 (the ACCEPT)`).toBeGreaterThanOrEqual(1);
    expect(r.stats.ticks > before || r.driver.parked, "the driver neither ticked nor parked").toBe(true);
  });

  test("the driver found Bun's own epoll fd (its waits end when Bun has I/O)", () => {
    expect(bunEpollFd, "no anon_inode:[eventpoll] among the first descriptors").toBeGreaterThanOrEqual(0);
    expect(readlinkSync(`/proc/self/fd/${bunEpollFd}`)).toBe("anon_inode:[eventpoll]");
  });

  test("promises and microtasks resolve", async () => {
    const order: number[] = [];
    queueMicrotask(() => order.push(1));
    await Promise.resolve();
    order.push(2);
    await new Promise((res) => setImmediate(res));
    order.push(3);
    expect(order, `order: got ${order}, wanted 1,2,3`).toEqual([1, 2, 3]);
  });

  test("setTimeout(fn, 25) fires within 25 + 5 ms, idle", async () => {
    const late = await timerLateness(25, 12);
    checkLateness(late, "idle");
    expect(Math.min(...late), "a timer fired early").toBeGreaterThanOrEqual(-1);
  });

  test("setTimeout(fn, 25) fires within 25 + 5 ms under load from a client", async () => {
    const load = loadClient(server.port);
    await sleep(30);
    const late = await timerLateness(25, 12);
    const rounds = await load.stop();
    expect(rounds, `echo round trips during the test: got ${rounds}, wanted many (load)`).toBeGreaterThan(50);
    checkLateness(late, "under load");
  });

  test("fetch() to a local Bun.serve completes", async () => {
    const http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("pong") });
    try {
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${http.port}/`);
        const body = await res.text();
        expect(body, `fetch body: got ${JSON.stringify(body)}, wanted "pong"`).toBe("pong");
        expect(performance.now() - t0, "fetch took over 1 s").toBeLessThan(1000);
      }
    } finally {
      http.stop(true);
    }
  });

  test("Bun.file().text() completes", async () => {
    const path = tmp.path("hello.txt");
    writeFileSync(path, "hello from disk");
    const text = await Bun.file(path).text();
    expect(text, "Bun.file().text()").toBe("hello from disk");
  });

  test("Bun.spawn completes and its output is read", async () => {
    const p = Bun.spawn(["sh", "-c", "echo spawned; exit 3"], { stdout: "pipe" });
    const out = await new Response(p.stdout).text();
    const code = await p.exited;
    expect([out.trim(), code], `spawn: got ${JSON.stringify([out.trim(), code])}`).toEqual(["spawned", 3]);
  });

  test("a Worker message round trip", async () => {
    const file = tmp.path("worker.js");
    writeFileSync(file, "self.onmessage = (e) => postMessage(e.data * 2);\n");
    const w = new Worker(file);
    try {
      const reply = await Promise.race([
        new Promise<number>((res) => {
          w.onmessage = (e) => res(e.data as number);
          w.postMessage(21);
        }),
        sleep(3000).then(() => -1),
      ]);
      expect(reply, `worker reply: got ${reply}, wanted 42`).toBe(42);
    } finally {
      w.terminate();
    }
  });

  test("a reactor in a Worker parks and is woken by its own Waker: echo round trips after each park", async () => {
    const w = new Worker(join(import.meta.dir, "..", "fixtures", "worker-echo.ts"));
    const replies: Record<string, unknown>[] = [];
    let waiter: (() => void) | null = null;
    w.onmessage = (e) => {
      replies.push(e.data as Record<string, unknown>);
      waiter?.();
    };
    const next = async (): Promise<Record<string, unknown>> => {
      if (!replies.length) await Promise.race([new Promise<void>((res) => (waiter = res)), sleep(3000)]);
      waiter = null;
      const m = replies.shift();
      if (!m) throw new Error("no message from the Worker within 3 s");
      return m;
    };
    try {
      const { port } = (await next()) as { port: number };
      const net = await import("node:net");
      for (let i = 0; i < 3; i++) {
        // Parked between the listener's sweeps (every 100 ms while it has connections, then ~3 ms active).
        let before = { parked: false, wakes: 0, wakesBy: "" };
        for (let k = 0; k < 50 && !before.parked; k++) {
          await sleep(20);
          w.postMessage("stats");
          before = (await next()) as typeof before;
        }
        expect(before.parked, `round ${i}: the Worker's reactor parked: ${JSON.stringify(before)}`).toBe(true);
        expect(before.wakesBy).toBe("socket");
        const got = await new Promise<string>((res) => {
          const c = net.connect(port, "127.0.0.1", () => c.write(`w${i}`));
          c.on("data", (d) => {
            c.end();
            res(d.toString());
          });
          c.on("error", () => res("error"));
          setTimeout(() => res("timeout"), 2000);
        });
        expect(got, `round ${i} echo from the Worker`).toBe(`w${i}`);
        w.postMessage("stats");
        const after = (await next()) as { wakes: number };
        expect(after.wakes, "the Worker's reactor was woken from its park").toBeGreaterThan(before.wakes);
      }
      w.postMessage("stop");
      expect(await next()).toEqual({ stopped: true });
    } finally {
      w.terminate();
    }
  });

  test("the reactor still serves while Bun works: an echo round trip through node:net", async () => {
    const net = await import("node:net");
    const got = await new Promise<string>((res, rej) => {
      const c = net.connect(server.port, "127.0.0.1", () => c.write("ping"));
      let s = "";
      c.on("data", (d) => {
        s += d.toString();
        if (s.length >= 4) {
          c.end();
          res(s);
        }
      });
      c.on("error", rej);
    });
    expect(got, "echo").toBe("ping");
  });
});

describe("an idle reactor", () => {
  test("parks when idle, and a client wakes it: echo round trips after each park", async () => {
    const r = defaultReactor();
    const net = await import("node:net");
    for (let i = 0; i < 3; i++) {
      const parked = await waitFor(() => r.driver.parked, 1000, 5);
      expect(parked, `round ${i}: the driver did not park within 1 s of idleness`).toBe(true);
      const wakes = r.stats.wakes;
      const t0 = performance.now();
      const got = await new Promise<string>((res, rej) => {
        const c = net.connect(server.port, "127.0.0.1", () => c.write(`ping ${i}`));
        c.on("data", (d) => {
          c.end();
          res(d.toString());
        });
        c.on("error", rej);
      });
      expect(got, `round ${i} echo`).toBe(`ping ${i}`);
      expect(r.stats.wakes, "the reactor was not woken from its park").toBeGreaterThan(wakes);
      expect(performance.now() - t0, "round trip took over 500 ms").toBeLessThan(500);
    }
  });

  test("after single requests far apart it parks as soon as it has answered; one short sleep restores the delay", async () => {
    const r = defaultReactor();
    const net = await import("node:net");
    const c = net.connect(server.port, "127.0.0.1");
    await new Promise<void>((res, rej) => (c.once("connect", res), c.once("error", rej)));
    const roundTrip = (i: number) => new Promise<void>((res) => (c.once("data", () => res()), c.write(`ping ${i}`)));
    try {
      for (let i = 0; i < 3; i++) {
        expect(await waitFor(() => r.driver.parked, 1000, 1), `round ${i}: parked`).toBe(true);
        await sleep(10 * PARK_AFTER_IDLE_MS); // a long sleep, parked
        await roundTrip(i);
      }
      expect(r.driver.parkDelayMs, "park delay after three long sleeps").toBe(0);
      expect(await waitFor(() => r.driver.parked, 1000, 1), "parked after the last answer").toBe(true);
      await roundTrip(3); // woken at once: a short sleep
      expect(r.driver.parkDelayMs, "park delay after a short sleep").toBe(PARK_AFTER_IDLE_MS);
    } finally {
      c.destroy();
    }
  });

  test("with a listener and nothing to do uses under 1% of a core over 5 s (child process)", async () => {
    const m = await idleChild;
    const pct = (m.cpuMs / m.wallMs) * 100;
    expect(pct, `idle CPU: got ${pct.toFixed(2)}% (${m.cpuMs.toFixed(1)} ms over ${m.wallMs.toFixed(0)} ms, ${m.ticks} ticks, ${m.wakes} wakes, parked ${m.parked}), wanted < 1%`).toBeLessThan(1);
    expect(m.parked, "the driver was not parked when idle").toBe(true);
  }, 15000);

  for (const [mode, what, wakesBy] of [
    ["after", "with no fd left once parked", "socket"],
    ["before", "when no fd was left for its Waker (it polls instead)", "poll"],
  ] as const) {
    test.skipIf(!existsSync("/usr/bin/prlimit"))(`parked ${what} (EMFILE): completions still arrive (child, RLIMIT_NOFILE 64)`, async () => {
      const p = Bun.spawn(["/usr/bin/prlimit", "--nofile=64:64", BUN, join(import.meta.dir, "..", "fixtures", "park-emfile.ts"), mode], { stdout: "pipe", stderr: "pipe" });
      const done = await Promise.race([p.exited, sleep(5000).then(() => null)]);
      if (done === null) p.kill();
      const out = await new Response(p.stdout).text();
      const err = await new Response(p.stderr).text();
      expect(done, `child exit: got ${done === null ? "still running after 5 s" : done}, wanted 0; stderr: ${err.slice(0, 400)}`).toBe(0);
      const m = JSON.parse(out.trim().split("\n").at(-1)!);
      expect(m.res, `TIMEOUT res: got ${m.res}, wanted -62 (ETIME)`).toBe(-62);
      expect(m.wakesBy, "how the parked driver is woken").toBe(wakesBy);
      expect(m.ticks, `ticks over the 300 ms wait: got ${m.ticks}, wanted < 100 (parked, not spinning)`).toBeLessThan(100);
    }, 10000);
  }

  test("a process whose only listener is unref()'d exits by itself", async () => {
    const p = Bun.spawn([BUN, CHILD, "unref"], { stdout: "pipe", stderr: "pipe" });
    const exited = await Promise.race([p.exited.then((c) => ({ code: c })), sleep(4000).then(() => null)]);
    if (!exited) p.kill();
    expect(exited, `unref'd child: got still running after 4 s, wanted exit; stderr ${exited ? "" : await new Response(p.stderr).text()}`).not.toBeNull();
    expect(exited!.code, `exit code: got ${exited!.code}, wanted 0`).toBe(0);
  }, 10000);

  test("a process whose listener is referenced stays alive (and accepts)", async () => {
    const p = Bun.spawn([BUN, CHILD, "ref"], { stdout: "pipe", stderr: "pipe" });
    try {
      const reader = p.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const port = JSON.parse(first.split("\n")[0]!).port as number;
      const early = await Promise.race([p.exited.then(() => true), sleep(1500).then(() => false)]);
      expect(early, "ref'd child exited on its own, wanted it to stay").toBe(false);
      // Still serving after the driver parked: an echo round trip (a bare connect would succeed
      // through the kernel's backlog even if nobody accepted).
      const net = await import("node:net");
      const ok = await new Promise<boolean>((res) => {
        const c = net.connect(port, "127.0.0.1", () => c.write("wake up"));
        c.on("data", (d) => {
          c.end();
          res(d.toString() === "wake up");
        });
        c.on("error", () => res(false));
        setTimeout(() => res(false), 3000);
      });
      expect(ok, "echo from the parked, ref'd child: got none, wanted \"wake up\"").toBe(true);
    } finally {
      p.kill();
      await p.exited;
    }
  }, 10000);
});

describe("promise reactions before the next wait", () => {
  test("a completion's promise chain, 20 reactions deep, submits its next operation before the reactor waits again", async () => {
    // An async handler's response is written at the end of such a chain (a `for await` over a
    // streamed body is about ten deep). If the next iteration waited in the kernel before the chain
    // ran, that write waited for the next wake-up: one more poll between the two completions.
    const { Reactor } = await import("../../src/loop/reactor.ts");
    const r = new Reactor({ entries: 64, maxOps: 64 });
    try {
      let first: () => void = () => {};
      const firstDone = new Promise<void>((res) => (first = res));
      const ticksAt: number[] = [];
      const target = {
        complete(_res: number, _flags: number, tag: number) {
          ticksAt[tag] = r.stats.ticks;
          if (tag === 1) first();
        },
      };
      const second = (async () => {
        await firstDone;
        for (let i = 0; i < 20; i++) await Promise.resolve();
        return new Promise<void>((res) => {
          r.nop({ complete: (a: number, b: number, tag: number) => { target.complete(a, b, tag); res(); } }, 2);
        });
      })();
      // Something in flight, as a server always has (its ACCEPT and RECVs): the reactor has a reason to wait.
      const pending = r.timeout(10_000, { complete() {} }, 9);
      r.nop(target, 1);
      await second;
      r.cancel(pending);
      expect(ticksAt[2]! - ticksAt[1]!, "polls between the completion and the one its chain caused").toBe(1);
    } finally {
      r.close();
    }
  });
});
