// cluster(): N processes with their own rings share one port through SO_REUSEPORT; a killed worker
// comes back while the others keep serving; SIGTERM to the primary stops the workers gracefully
// and exits 0; workers stop by themselves when the primary is SIGKILLed.
import { test, expect } from "bun:test";
import { resolveWorkers, clusterWorkerIndex } from "../../src/net/cluster.ts";
import { serve } from "../../src/index.ts";
import { runFixture, getOnce, freePort, sleep, alive, type Child } from "./support.ts";

/** Wait until `n` workers have printed their ready line; their pids. */
async function readyWorkers(c: Child, n: number, exclude: Set<number> = new Set()): Promise<number[]> {
  const pids = new Set<number>();
  const end = performance.now() + 10_000;
  while (pids.size < n) {
    await c.waitJson((j) => "ports" in j && !pids.has(j.pid) && !exclude.has(j.pid), Math.max(1, end - performance.now()))
      .then((j) => pids.add(j.pid));
  }
  return [...pids];
}

/**
 * pids answering /pid over `count` fresh connections. With `retries`, a connection reset is tried
 * again after 50 ms: just after a worker dies, its socket may still take connections for a few ms
 * (cluster.ts: the ring's teardown is asynchronous) and reset them.
 */
async function pidsServing(port: number, count: number, retries = 0): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  const once = async (left: number): Promise<{ status: number; body: string }> => {
    try {
      return await getOnce(port, "/pid");
    } catch (e) {
      if (left <= 0) throw e;
      await sleep(50);
      return once(left - 1);
    }
  };
  const answers = await Promise.all(Array.from({ length: count }, () => once(retries)));
  for (const a of answers) {
    expect(a.status).toBe(200);
    const pid = Number(a.body);
    seen.set(pid, (seen.get(pid) ?? 0) + 1);
  }
  return seen;
}

test("workers share the port, a killed worker comes back, Ctrl-C stops all gracefully and exits 0", async () => {
  const port = freePort();
  const c = runFixture("cluster-primary.ts", { port, workers: 2 }, {}, [], true);
  const workerPids = new Set<number>();
  try {
    const pids = await readyWorkers(c, 2);
    pids.forEach((p) => workerPids.add(p));
    expect(new Set(pids).size).toBe(2);
    // Connections land on more than one worker (kernel hash of the 4-tuple: 2^-39 to miss).
    const seen = await pidsServing(port, 40);
    expect([...seen.keys()].sort()).toEqual([...pids].sort());

    // Kill one: the other keeps serving; a new worker takes the slot.
    const victim = pids[0]!;
    const linesBefore = c.lines.length;
    process.kill(victim, "SIGKILL");
    const exit = await c.waitJson((j) => j.event === "exit" && j.pid === victim, 5000, linesBefore);
    expect(exit.signal).toBe("SIGKILL");
    const during = await pidsServing(port, 10, 5);
    expect([...during.keys()].every((p) => p !== victim)).toBe(true);
    const start = await c.waitJson((j) => j.event === "start" && j.restarts === 1, 5000, linesBefore);
    expect(start.index).toBe(exit.index);
    const [fresh] = await readyWorkers(c, 1, new Set(pids));
    expect(fresh).toBe(start.pid);
    workerPids.add(fresh!);
    const after = await pidsServing(port, 40);
    expect([...after.keys()].sort()).toEqual([pids[1]!, fresh!].sort());
    expect(c.stderr).toMatch(new RegExp(`worker ${exit.index} \\(pid ${victim}\\) exited \\(signal SIGKILL\\); restarting in \\d+ ms`));

    // Ctrl-C in a terminal: SIGINT to the whole process group. The workers are in sessions of
    // their own and get one SIGTERM from the primary, so a slow request in flight still finishes
    // (a worker that saw SIGINT and then SIGTERM would take it as a second signal and exit at once).
    const mark = c.lines.length;
    const slow = getOnce(port, "/slow?ms=600");
    await c.waitJson((j) => j.event === "handling", 5000, mark);
    process.kill(-c.pid, "SIGINT");
    expect(await slow).toEqual({ status: 200, body: "slow done" });
    expect(await c.exitCode(8000)).toBe(0);
    const exits = c.lines.slice(mark).map((l) => l.json).filter((j) => j?.event === "exit");
    expect(exits.map((j) => j.code).sort()).toEqual([0, 0]);
    for (const p of [pids[1]!, fresh!]) expect(alive(p)).toBe(false);
    await expect(getOnce(port, "/pid", 1000)).rejects.toThrow();
  } finally {
    c.kill();
    for (const p of workerPids) try { process.kill(p, "SIGKILL"); } catch {}
  }
}, 30_000);

test("workers stop by themselves when the primary is SIGKILLed", async () => {
  const port = freePort();
  const c = runFixture("cluster-primary.ts", { port, workers: 2 });
  let pids: number[] = [];
  try {
    pids = await readyWorkers(c, 2);
    c.kill("SIGKILL");
    await c.exitCode();
    const end = performance.now() + 5000;
    while (pids.some(alive) && performance.now() < end) await sleep(50);
    expect(pids.filter(alive)).toEqual([]);
  } finally {
    c.kill();
    for (const p of pids) try { process.kill(p, "SIGKILL"); } catch {}
  }
}, 15_000);

test("serve({ workers: 2 }): the program runs in two processes on one port; the primary returns a handle", async () => {
  const port = freePort();
  const c = runFixture("serve-workers.ts", { port, workers: 2 });
  const seen = new Set<number>();
  try {
    const info = await c.waitJson((j) => "primary" in j);
    expect(info).toEqual({ primary: c.pid, backend: "cluster", url: `http://127.0.0.1:${port}/` });
    const end = performance.now() + 10_000;
    while (seen.size < 2 && performance.now() < end) {
      const r = await Promise.allSettled(Array.from({ length: 10 }, () => getOnce(port, "/pid", 2000)));
      for (const x of r) if (x.status === "fulfilled") seen.add(Number(x.value.body));
      if (seen.size < 2) await sleep(50);
    }
    expect(seen.size).toBe(2);
    expect(seen.has(c.pid)).toBe(false); // the primary serves nothing itself
    c.kill("SIGTERM");
    expect(await c.exitCode(8000)).toBe(0);
    for (const p of seen) expect(alive(p)).toBe(false);
  } finally {
    c.kill();
    for (const p of seen) try { process.kill(p, "SIGKILL"); } catch {}
  }
}, 20_000);

test('workers: "auto" is the number of CPUs; bad counts are refused', () => {
  expect(resolveWorkers("auto")).toBe(require("node:os").availableParallelism());
  expect(resolveWorkers(3)).toBe(3);
  expect(resolveWorkers("4")).toBe(4);
  for (const bad of [0, -1, 1.5, "x", 5000]) expect(() => resolveWorkers(bad as never)).toThrow(/workers must be/);
  expect(clusterWorkerIndex()).toBeNull();
  expect(() => serve({ port: 0, workers: 2, fetch: () => new Response("") })).toThrow(/needs a fixed port/);
  expect(() => serve({ port: 1, workers: 0, fetch: () => new Response("") })).toThrow(/workers must be/);
});
