// The static-server command end to end: `bun-uring <dir> --port 0 --log` prints the URL, serves
// the directory (bytes identical), logs one line per response with the status actually sent, and
// exits 0 on SIGINT (and on SIGTERM) after a graceful stop. Bad arguments exit 2 with a usage text.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { tempTree, writeRandomFile, writeFileSync, sha256 } from "./support.ts";

const BIN = join(import.meta.dir, "../../bin/bun-uring.ts");
const tree = tempTree("cli");

beforeAll(() => {
  writeRandomFile(tree.path("data.bin"), 300_000);
  writeFileSync(tree.path("index.html"), "<p>cli</p>\n");
});
afterAll(() => tree.remove());

/** Start the command; resolves with the process, the URL it printed and its stdout so far. */
async function start(args: string[]): Promise<{ p: Subprocess<"ignore", "pipe", "pipe">; url: string; out: () => string }> {
  const p = spawn([process.execPath, BIN, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let out = "";
  const reader = p.stdout.getReader();
  const pump = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      out += new TextDecoder().decode(r.value);
    }
  })();
  void pump;
  const t0 = performance.now();
  while (!/http:\/\/\S+/.test(out)) {
    if (performance.now() - t0 > 10_000) throw new Error(`no URL printed within 10 s; stdout: ${out}; stderr: ${await new Response(p.stderr).text()}`);
    if (p.exitCode !== null) throw new Error(`exited ${p.exitCode} before printing a URL: ${out} ${await new Response(p.stderr).text()}`);
    await Bun.sleep(20);
  }
  const url = /http:\/\/\S+/.exec(out)![0].replace("localhost", "127.0.0.1");
  return { p, url, out: () => out };
}

describe("bun-uring [dir]", () => {
  test("prints the URL, serves the directory, logs, exits 0 on SIGINT", async () => {
    const { p, url, out } = await start([tree.dir, "--port", "0", "--host", "127.0.0.1", "--log"]);
    expect(out()).toContain(`bun-uring serving ${tree.dir}`);
    const res = await fetch(`${url}data.bin`);
    expect(res.status).toBe(200);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(readFileSync(tree.path("data.bin"))));
    expect(await (await fetch(url)).text()).toBe("<p>cli</p>\n");
    const missing = await fetch(`${url}nope`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    await Bun.sleep(100);
    // Access log: the status actually sent (the 404 is found while the response is written).
    expect(out()).toMatch(/"GET \/data\.bin" 200 300000/);
    expect(out()).toMatch(/"GET \/nope" 404/);
    p.kill("SIGINT");
    const code = await p.exited;
    expect(code, `exit code after SIGINT: got ${code}, wanted 0`).toBe(0);
  }, 20_000);

  test("SIGTERM: graceful stop, exit 0; without --log nothing is logged", async () => {
    const { p, url, out } = await start([tree.dir, "--port=0", "--host=127.0.0.1"]);
    expect((await fetch(`${url}index.html`)).status).toBe(200);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(out()).not.toContain('"GET');
  }, 20_000);

  test("bad arguments: exit 2 with usage; a missing directory: exit 1", async () => {
    const bad = spawn([process.execPath, BIN, "--port", "notaport"], { stdout: "pipe", stderr: "pipe" });
    expect(await bad.exited).toBe(2);
    expect(await new Response(bad.stderr).text()).toContain("usage: bun-uring");
    const missing = spawn([process.execPath, BIN, tree.path("does-not-exist"), "--port", "0"], { stdout: "pipe", stderr: "pipe" });
    expect(await missing.exited).toBe(1);
    const help = spawn([process.execPath, BIN, "--help"], { stdout: "pipe", stderr: "pipe" });
    expect(await help.exited).toBe(0);
    expect(await new Response(help.stdout).text()).toContain("--port");
  }, 20_000);

  test("package.json names it as the bun-uring bin, with a bun shebang", () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dir, "../../package.json"), "utf8"));
    expect(pkg.bin["bun-uring"]).toBe("bin/bun-uring.ts");
    expect(readFileSync(BIN, "utf8").startsWith("#!/usr/bin/env bun\n")).toBe(true);
  });
});

describe("bun-uring [dir] --workers N", () => {
  test("two workers share the port; SIGINT to the primary stops them all and exits 0", async () => {
    // A fixed port is required with workers: take a free one, then hand it over.
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    const { p, url, out } = await start([tree.dir, "--port", String(port), "--host", "127.0.0.1", "--workers", "2"]);
    expect(out()).toContain("with 2 workers");
    let ok = 0;
    for (let i = 0; i < 40; i++) {
      try {
        const res = await fetch(url, { headers: { connection: "close" } });
        if ((await res.text()) === "<p>cli</p>\n") ok++;
      } catch {}
      if (ok >= 20) break;
      await Bun.sleep(25);
    }
    expect(ok, `answers from the workers: got ${ok}, wanted 20`).toBe(20);
    p.kill("SIGINT");
    const code = await p.exited;
    expect(code, `primary's exit code after SIGINT: got ${code}, wanted 0`).toBe(0);
    // The workers are gone too: the port refuses connections.
    let refused = false;
    for (let i = 0; i < 40 && !refused; i++) {
      try {
        await fetch(url);
        await Bun.sleep(50);
      } catch {
        refused = true;
      }
    }
    expect(refused, "the port still answers after the primary exited").toBe(true);
  }, 30_000);
});
