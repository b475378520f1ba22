// Differential fuzzing against llhttp (node:http, strict mode): a bounded run of generated cases with
// fixed seeds, and the regression corpus. Every case must agree with node, or differ only by rules listed
// in known-differences.md (each difference is repaired and the case run again, so one known difference
// never hides another). Longer runs: `npm run fuzz -- --minutes N` (scripts/fuzz.ts).
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { Differ, describe as describeResult } from "./differ.ts";
import { runCampaign, type Finding } from "./campaign.ts";
import { readCorpus } from "./corpus.ts";
import { RULE_IDS } from "./known-differences.ts";
import { sleep, waitFor } from "../support/http.ts";

// 2 x 10 000 cases: about 15-25 s on the 2-core machine (16 connections in flight to each server).
const SEEDS = [1, 2];
const CASES_PER_SEED = 10_000;

let differ: Differ;
let baselineOps = 0;

beforeAll(async () => {
  differ = new Differ();
  await differ.start();
  baselineOps = differ.server.stats().opsInFlight;
});

afterAll(async () => {
  await differ?.stop();
});

/** A finding in words: what happened, then the bytes (after repairs) to reproduce it. */
function report(input: { raw: string; cuts: number[] }, what: string): string {
  return `${what}\n  bytes: ${JSON.stringify(input.raw).slice(0, 600)}\n  cuts: ${input.cuts.join(",") || "none"}`;
}

describe("differential fuzzing against llhttp", () => {
  test(`${SEEDS.length * CASES_PER_SEED} generated cases agree or differ only by known rules`, async () => {
    const findings: Finding[] = [];
    let total = { cases: 0, agree: 0, known: 0, unexplained: 0, ms: 0 };
    const rules: Record<string, number> = {};
    for (const seed of SEEDS) {
      const s = await runCampaign(differ, { seed, count: CASES_PER_SEED, concurrency: 16, onFinding: (f) => void findings.push(f) });
      total = { cases: total.cases + s.cases, agree: total.agree + s.agree, known: total.known + s.known, unexplained: total.unexplained + s.unexplained, ms: total.ms + s.ms };
      for (const [k, v] of Object.entries(s.rules)) rules[k] = (rules[k] ?? 0) + v;
    }
    console.log(
      `fuzz: ${total.cases} cases in ${(total.ms / 1000).toFixed(1)} s: ${total.agree} agree, ${total.known} differ by known rules, ${total.unexplained} unexplained`,
    );
    console.log(`fuzz: known rules met: ${JSON.stringify(rules)}`);
    const msgs = findings.slice(0, 5).map((f) =>
      report(f.verdict.input, `seed ${f.case.seed} case ${f.case.index} (${f.case.tags.join(" ")}): ${f.signature}\n  ${describeResult(f.verdict.result)}\n  ${f.verdict.problems.join("\n  ")}`),
    );
    expect(msgs).toEqual([]);
    expect(total.cases).toBe(SEEDS.length * CASES_PER_SEED);
  }, 120_000);

  test("the regression corpus agrees or differs only by known rules", async () => {
    const corpus = readCorpus();
    const bad: string[] = [];
    for (const c of corpus) {
      const v = await differ.judge(c);
      if (v.kind === "unexplained") bad.push(report(v.input, `${c.file} (${c.signature}): ${describeResult(v.result)}\n  ${v.problems.join("\n  ")}`));
    }
    expect(bad).toEqual([]);
  }, 60_000);

  test("every known rule is listed in known-differences.md", async () => {
    const md = await Bun.file(new URL("./known-differences.md", import.meta.url)).text();
    const missing = RULE_IDS.filter((id) => !md.includes(`\`${id}\``));
    expect(missing).toEqual([]);
  });

  test("serve() holds nothing after the run (connections, requests, buffers, queued bytes)", async () => {
    const s = differ.server;
    const settled = await waitFor(() => {
      const st = s.stats();
      return st.connections === 0 && st.pendingRequests === 0 && st.buffersOut === 0 && st.queuedBytes === 0 && st.sendChunksInUse === 0 && st.opsInFlight === baselineOps;
    }, 5000);
    await sleep(0);
    const st = s.stats();
    expect({ settled, opsInFlight: st.opsInFlight, connections: st.connections, pendingRequests: st.pendingRequests, buffersOut: st.buffersOut, queuedBytes: st.queuedBytes, sendChunksInUse: st.sendChunksInUse }).toEqual({
      settled: true,
      opsInFlight: baselineOps,
      connections: 0,
      pendingRequests: 0,
      buffersOut: 0,
      queuedBytes: 0,
      sendChunksInUse: 0,
    });
  }, 10_000);
});
