// Fallback to Bun.serve where io_uring cannot be used. The real detection path: a child process
// under a seccomp filter that makes io_uring_setup fail with EPERM (Docker's default profile does
// this), compiled from fixtures/noring.c at test time.
import { test, expect, describe, afterAll } from "bun:test";
import { serve } from "../../src/index.ts";
import { missingOps, REQUIRED_OPS, ioUringAvailability } from "../../src/loop/availability.ts";
import { fallbackMode, type FallbackMode } from "../../src/net/fallback.ts";
import type { ServeStats } from "../../src/net/stats.ts";
import { IORING_OP_ACCEPT, IORING_OP_RECV } from "../../src/ffi/constants.ts";
import { runFixture, noringHelper, removeNoringHelper, getOnce } from "./support.ts";

afterAll(removeNoringHelper);

const WARNING = /bun-uring: io_uring is not available.*\[EPERM\]\. serve\(\) is running on Bun\.serve instead/;

describe("seccomp: io_uring_setup refused with EPERM", () => {
  const helper = noringHelper();
  const t = helper ? test : test.skip;

  t("serve() falls back to Bun.serve, serves over HTTP, warns once per process", async () => {
    // Two servers in one process: one warning.
    const c = runFixture("server-child.ts", { servers: 2, handleSignals: true }, { BUN_URING_FALLBACK: undefined }, [helper!]);
    try {
      const info = await c.waitJson((j) => "pid" in j || "error" in j);
      expect(info.error).toBeUndefined();
      expect(info.backend).toBe("fallback");
      expect(info.reason).toBe("EPERM");
      for (const port of info.ports) {
        const r = await getOnce(port, "/");
        expect(r.status).toBe(200);
        expect(r.body).toBe("fallback");
      }
      const slow = await getOnce(info.ports[0], "/slow?ms=50");
      expect(slow.body).toBe("slow done");
      c.kill("SIGTERM");
      expect(await c.exitCode()).toBe(0);
      const warnings = c.stderr.split("\n").filter((l) => WARNING.test(l));
      expect(warnings.length).toBe(1);
    } finally {
      c.kill();
    }
  });

  t("fallback: false throws IoUringUnavailableError (ERR_IO_URING_UNAVAILABLE)", async () => {
    const c = runFixture("server-child.ts", { fallback: false }, {}, [helper!]);
    try {
      const info = await c.waitJson((j) => "pid" in j || "error" in j);
      expect(info).toMatchObject({ error: "ERR_IO_URING_UNAVAILABLE", reason: "EPERM", name: "IoUringUnavailableError" });
      expect(await c.exitCode()).toBe(3);
      expect(c.stderr).not.toMatch(WARNING);
    } finally {
      c.kill();
    }
  });

  t("listen() has no fallback: it throws IoUringUnavailableError", async () => {
    const c = runFixture("listen-child.ts", {}, {}, [helper!]);
    try {
      expect(await c.waitJson((j) => "port" in j || "error" in j)).toEqual({ error: "ERR_IO_URING_UNAVAILABLE", reason: "EPERM", name: "IoUringUnavailableError" });
    } finally {
      c.kill();
    }
  });

  t("BUN_URING_FALLBACK=0 makes it an error too; the option wins over the variable", async () => {
    const a = runFixture("server-child.ts", {}, { BUN_URING_FALLBACK: "0" }, [helper!]);
    const b = runFixture("server-child.ts", { fallback: "auto", handleSignals: true }, { BUN_URING_FALLBACK: "off" }, [helper!]);
    try {
      expect(await a.waitJson((j) => "pid" in j || "error" in j)).toMatchObject({ error: "ERR_IO_URING_UNAVAILABLE" });
      const info = await b.waitJson((j) => "pid" in j || "error" in j);
      expect(info.backend).toBe("fallback");
      expect((await getOnce(info.ports[0], "/")).body).toBe("fallback");
    } finally {
      a.kill();
      b.kill();
    }
  });
});

test('fallback: "force" runs on Bun.serve without a warning, and stays a usable Server', async () => {
  const warn = console.warn;
  const warned: unknown[] = [];
  console.warn = (...a: unknown[]) => void warned.push(a);
  try {
    const server = serve({ port: 0, hostname: "127.0.0.1", fallback: "force", fetch: (req) => new Response(`hi ${new URL(req.url).pathname}`) });
    const before = server.stats() as ServeStats;
    expect(before).toMatchObject({ backend: "fallback", reason: "forced", requests: 0 });
    const res = await fetch(`http://127.0.0.1:${server.port}/a`);
    expect(await res.text()).toBe("hi /a");
    server.reload({ fetch: () => new Response("reloaded") });
    expect(await (await fetch(`http://127.0.0.1:${server.port}/b`)).text()).toBe("reloaded");
    const s = server.stats() as ServeStats;
    expect(s.backend).toBe("fallback");
    if (s.backend === "fallback") {
      expect(s.requests).toBe(2);
      expect(s.pendingRequests).toBe(0);
      expect(s.openFds).toBeGreaterThan(2);
    }
    expect(server.url.port).toBe(String(server.port));
    await server.stop(true);
    expect(warned).toEqual([]);
  } finally {
    console.warn = warn;
  }
});

test("BUN_URING_FALLBACK picks the mode when the option is not given", () => {
  const saved = process.env.BUN_URING_FALLBACK;
  try {
    const cases: [string | undefined, FallbackMode][] = [[undefined, "auto"], ["", "auto"], ["0", false], ["off", false], ["force", "force"], ["auto", "auto"]];
    for (const [env, want] of cases) {
      if (env === undefined) delete process.env.BUN_URING_FALLBACK;
      else process.env.BUN_URING_FALLBACK = env;
      expect([env, fallbackMode(undefined)]).toEqual([env, want]);
    }
    process.env.BUN_URING_FALLBACK = "force";
    expect(fallbackMode(false)).toBe(false);
    expect(() => fallbackMode("sometimes" as never)).toThrow(/fallback must be/);
  } finally {
    if (saved === undefined) delete process.env.BUN_URING_FALLBACK;
    else process.env.BUN_URING_FALLBACK = saved;
  }
});

test("a kernel missing a needed opcode is named in the reason", () => {
  expect(missingOps(new Set(REQUIRED_OPS))).toEqual([]);
  const partial = new Set(REQUIRED_OPS.filter((op) => op !== IORING_OP_ACCEPT && op !== IORING_OP_RECV));
  const missing = missingOps(partial);
  expect(missing.length).toBe(2);
  expect(missing.join(" ")).toMatch(/ACCEPT/);
  expect(missing.join(" ")).toMatch(/RECV/);
});

test("this machine has io_uring: the probe says ok (cached)", () => {
  const a = ioUringAvailability();
  expect(a.ok ? "ok" : a.error.message).toBe("ok");
  expect(ioUringAvailability()).toBe(a);
});
