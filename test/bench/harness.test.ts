// The benchmark harness itself must keep working: run a tiny slice of it (plaintext, Bun.serve and
// node:http, 1 s) as a child process and check that it wrote a report with real numbers. Figures
// are not asserted: CI machines are too noisy for that.
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const hasWrk = Bun.which("wrk") !== null;
const hasNode = Bun.which("node") !== null;

interface Row {
  scenario: string;
  server: string;
  status: string;
  median: Record<string, number | null>;
}

test.skipIf(!hasWrk || !hasNode)(
  "bench/http.ts --quick produces a report with numbers for bun-uring, bun and node (plaintext, uploads the app reads whole, streamed events)",
  async () => {
    const out = mkdtempSync(join(tmpdir(), "bench-harness-test-"));
    try {
      const proc = Bun.spawn(
        [process.execPath, "bench/http.ts", "--quick", "--scenarios", "plaintext,upload-4m,stream", "--servers", "bun,node,bun-uring", "--duration", "1", "--warmup", "0", "--out", out],
        { cwd: root, stdout: "pipe", stderr: "pipe" },
      );
      const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
      if (code !== 0) console.error(stdout, stderr);
      expect(code).toBe(0);

      for (const ext of ["json", "md", "svg"]) expect(existsSync(join(out, `quick.${ext}`))).toBe(true);
      const report = JSON.parse(readFileSync(join(out, "quick.json"), "utf8")) as { machine: { cores: number }; results: Row[] };
      expect(report.machine.cores).toBeGreaterThan(0);
      for (const scenario of ["plaintext", "upload-4m", "stream"]) for (const server of ["bun", "node", "bun-uring"]) {
        const row = report.results.find((r) => r.scenario === scenario && r.server === server);
        expect(row?.status, `${scenario} / ${server}`).toBe("ok");
        for (const k of ["rps", "reqPerCpuSec", "p50Us", "p99Us", "rssKB"]) expect(row!.median[k]!).toBeGreaterThan(0);
        expect(row!.median.non2xx).toBe(0);
      }
      expect(readFileSync(join(out, "quick.svg"), "utf8")).toStartWith("<svg");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
  20_000,
);
