// A fuzz campaign: generated cases through the differential harness, many connections in parallel,
// with counts by verdict and by known rule. Shared by differential.test.ts and scripts/fuzz.ts.
import type { Differ, Verdict } from "./differ.ts";
import { generateCase, type FuzzCase } from "./generate.ts";

export interface CampaignStats {
  cases: number;
  agree: number;
  known: number;
  unexplained: number;
  /** Known rules met (a case can meet several), by id. */
  rules: Record<string, number>;
  ms: number;
}

export interface Finding {
  case: FuzzCase;
  verdict: Verdict;
  signature: string;
}

/**
 * What a finding is, in a few words: the same signature is the same (or a closely related) problem, so a
 * long run reports and shrinks each once. A disagreement of serve() with our own parser (a connection.ts
 * bug) is named by its kind alone, since one such bug shows up under every error of the parser; a
 * disagreement with node by both sides' verdicts and what differed.
 */
export function signature(v: Verdict): string {
  const r = v.result;
  const self = v.problems.filter((p) => !/^(rejected|requests|request \d)/.test(p));
  if (self.length) return self[0]!.replace(/\d+/g, "N").replace(/\b[A-Z][A-Z0-9_]{2,}\b/g, "X").replace(/"[^"]*"/g, '"…"').slice(0, 120);
  const kinds = [...new Set(v.problems.map((p) => p.replace(/^request \d+ /, "").split(":")[0]!))].join("+");
  return `ours ${r.ours.error ?? "accepts"}, node ${r.node.rawError ?? "accepts"}: ${kinds}`;
}

export async function runCampaign(
  differ: Differ,
  o: { seed: number; from?: number; count?: number; until?: number; concurrency?: number; onFinding?: (f: Finding) => void | Promise<void> },
): Promise<CampaignStats> {
  const t0 = performance.now();
  const stats: CampaignStats = { cases: 0, agree: 0, known: 0, unexplained: 0, rules: {}, ms: 0 };
  let next = o.from ?? 0;
  const end = o.count === undefined ? Infinity : (o.from ?? 0) + o.count;
  const more = () => next < end && (o.until === undefined || performance.now() < o.until);
  const worker = async () => {
    while (more()) {
      const c = generateCase(o.seed, next++);
      const v = await differ.judge(c);
      stats.cases++;
      stats[v.kind]++;
      for (const id of v.rules) stats.rules[id] = (stats.rules[id] ?? 0) + 1;
      if (v.kind === "unexplained") await o.onFinding?.({ case: c, verdict: v, signature: signature(v) });
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 16 }, worker));
  stats.ms = performance.now() - t0;
  return stats;
}
