// The 30 s soak (scripts/soak.ts --quick) as part of `npm test`: a mixed load from a second process
// against serve(); it must end with RSS within 10% of its post-warm-up value, every counter back to its
// idle baseline, and no answer the load did not ask for. The 10-minute run: `npm run soak`.
import { test, expect } from "bun:test";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("30 s soak: RSS flat, counters back to baseline, no unexpected answers", async () => {
  const out = mkdtempSync(join(tmpdir(), "bun-uring-soak-test-"));
  try {
    const p = Bun.spawn([process.execPath, join(import.meta.dir, "../../scripts/soak.ts"), "--seconds", "30", "--quick", "--out", out], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    const summary = stdout.split("\n").filter((l) => /soak: (\d+ requests|passed|FAILED)|^\s{2}/.test(l));
    console.log(summary.join("\n"));
    if (code !== 0) console.log(stdout.slice(-3000), stderr.slice(-2000));
    expect(code).toBe(0);
    expect(existsSync(join(out, "soak-quick.csv")) && existsSync(join(out, "soak-quick.svg"))).toBe(true);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
