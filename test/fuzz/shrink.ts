// Shrinking a failing fuzz case: the smallest bytes (and fewest write boundaries) that still fail the
// same way. Delta debugging over lines, then over single bytes, then simplifying bytes; each trial runs
// the case on both servers, so a shrink costs a few seconds.
import type { CaseInput } from "./differ.ts";

/** `fails` says whether a candidate still shows the same failure. Returns the smallest case found. */
export async function shrink(input: CaseInput, fails: (c: CaseInput) => Promise<boolean>, budget = 1500): Promise<CaseInput> {
  let best: CaseInput = { raw: input.raw, cuts: [...input.cuts] };
  let trials = 0;
  const tryCase = async (c: CaseInput): Promise<boolean> => {
    if (trials++ >= budget) return false;
    if (c.raw === best.raw && c.cuts.join() === best.cuts.join()) return false;
    if (await fails(c)) {
      best = c;
      return true;
    }
    return false;
  };
  const clampCuts = (raw: string, cuts: number[]) => cuts.filter((x) => x > 0 && x < raw.length);

  // Fewer writes first: a split that does not matter only hides the cause.
  for (let i = best.cuts.length - 1; i >= 0; i--) {
    await tryCase({ raw: best.raw, cuts: best.cuts.filter((_, k) => k !== i) });
  }

  // Remove spans: whole lines, then halves down to single bytes (ddmin-like).
  const removeUnits = async (units: () => [number, number][]) => {
    let progress = true;
    while (progress && trials < budget) {
      progress = false;
      const us = units();
      for (let i = us.length - 1; i >= 0 && trials < budget; i--) {
        const [s, e] = us[i]!;
        if (s >= best.raw.length) continue;
        const raw = best.raw.slice(0, s) + best.raw.slice(e);
        const cuts = clampCuts(raw, best.cuts.map((x) => (x >= e ? x - (e - s) : x > s ? s : x)));
        if (await tryCase({ raw, cuts: [...new Set(cuts)] })) progress = true;
      }
    }
  };
  const lineUnits = (): [number, number][] => {
    const out: [number, number][] = [];
    let s = 0;
    for (let i = 0; i < best.raw.length; i++) {
      if (best.raw[i] === "\n") {
        out.push([s, i + 1]);
        s = i + 1;
      }
    }
    if (s < best.raw.length) out.push([s, best.raw.length]);
    return out;
  };
  await removeUnits(lineUnits);
  for (let size = 16; size >= 1; size >>= 1) {
    await removeUnits(() => {
      const out: [number, number][] = [];
      for (let s = 0; s < best.raw.length; s += size) out.push([s, Math.min(best.raw.length, s + size)]);
      return out;
    });
  }

  // Simplify what is left: letters and digits to "a" / "0" where that changes nothing.
  for (let i = 0; i < best.raw.length && trials < budget; i++) {
    const ch = best.raw[i]!;
    const simple = /[A-Za-z]/.test(ch) ? (ch === ch.toUpperCase() ? "A" : "a") : /[0-9]/.test(ch) ? "0" : null;
    if (simple === null || simple === ch) continue;
    await tryCase({ raw: best.raw.slice(0, i) + simple + best.raw.slice(i + 1), cuts: best.cuts });
  }
  return best;
}
