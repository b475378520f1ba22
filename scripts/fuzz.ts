// `npm run fuzz -- --minutes N`: differential fuzzing against llhttp (node:http) for N minutes (default 5).
// Each new disagreement (a signature not yet in the corpus) is shrunk to a minimal case and written to
// test/fuzz/corpus/, which `npm test` replays. Exit status 1 when something new was found.
//
//   --minutes N | --seconds N   how long (default 5 minutes)
//   --seed S                    first seed (default: from the clock; printed, so a run can be repeated)
//   --concurrency C             connections in flight to each server (default 16)
//   --no-write                  report, but do not write corpus files
import { Differ, describe } from "../test/fuzz/differ.ts";
import { runCampaign, signature, type Finding } from "../test/fuzz/campaign.ts";
import { readCorpus, writeCorpusCase, CORPUS_DIR } from "../test/fuzz/corpus.ts";
import { shrink } from "../test/fuzz/shrink.ts";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seconds = arg("seconds") !== undefined ? Number(arg("seconds")) : Number(arg("minutes") ?? 5) * 60;
let seed = arg("seed") !== undefined ? Number(arg("seed")) : Date.now() % 1_000_000_000;
const concurrency = Number(arg("concurrency") ?? 16);
const write = !process.argv.includes("--no-write");
if (!(seconds > 0) || !Number.isInteger(seed) || !(concurrency > 0)) {
  console.error("usage: bun scripts/fuzz.ts [--minutes N | --seconds N] [--seed S] [--concurrency C] [--no-write]");
  process.exit(2);
}

const differ = new Differ();
await differ.start();
// Signatures already open in the corpus (its cases that still fail) are not reported again; a resolved
// one is, if it comes back.
const corpus = readCorpus();
const known = new Set<string>();
for (const c of corpus) {
  const v = await differ.judge(c);
  if (v.kind === "unexplained") known.add(signature(v));
}
const seen = new Set<string>();
const written: string[] = [];
const until = performance.now() + seconds * 1000;
const firstSeed = seed;
let total = { cases: 0, agree: 0, known: 0, unexplained: 0 };
const rules: Record<string, number> = {};
const shrinking: Promise<void>[] = [];

console.log(`fuzz: ${seconds} s from seed ${firstSeed}, ${concurrency} connections in flight per server; corpus ${CORPUS_DIR} (${corpus.length} cases, ${known.size} still failing)`);

// A systemic bug can show many signatures: shrink and write the first few, count the rest.
const MAX_WRITTEN = 20;
let skipped = 0;

async function onFinding(f: Finding): Promise<void> {
  if (seen.has(f.signature) || known.has(f.signature)) return;
  seen.add(f.signature);
  if (seen.size > MAX_WRITTEN) {
    skipped++;
    console.log(`NEW  seed ${f.case.seed} case ${f.case.index}: ${f.signature} (not shrunk: over ${MAX_WRITTEN} this run)`);
    return;
  }
  console.log(`\nNEW  seed ${f.case.seed} case ${f.case.index}: ${f.signature}\n     ${describe(f.verdict.result)}\n     ${f.verdict.problems.join("\n     ")}`);
  const job = (async () => {
    const small = await shrink(f.verdict.input, async (c) => {
      const v = await differ.judge(c);
      return v.kind === "unexplained" && signature(v) === f.signature;
    });
    const v = await differ.judge(small);
    console.log(`     shrunk ${f.verdict.input.raw.length} -> ${small.raw.length} bytes: ${JSON.stringify(small.raw).slice(0, 300)}`);
    if (!write) return;
    const file = writeCorpusCase(small, f.signature, [
      ...(f.verdict.rules.length ? [`after the known differences ${f.verdict.rules.join(", ")} were repaired`] : []),
      `found by scripts/fuzz.ts: seed ${f.case.seed} case ${f.case.index} (${f.case.tags.join(" ") || "no mutation"}), ${new Date().toISOString().slice(0, 10)}`,
      describe(v.result),
      ...v.problems.map((p) => p.slice(0, 300)),
    ]);
    written.push(file);
    console.log(`     wrote test/fuzz/corpus/${file}`);
  })();
  shrinking.push(job);
}

// One seed per 100 000 cases, so a long run keeps finding fresh cases and any case is (seed, index).
while (performance.now() < until) {
  const s = await runCampaign(differ, { seed, count: 100_000, until, concurrency, onFinding });
  total = { cases: total.cases + s.cases, agree: total.agree + s.agree, known: total.known + s.known, unexplained: total.unexplained + s.unexplained };
  for (const [k, v] of Object.entries(s.rules)) rules[k] = (rules[k] ?? 0) + v;
  process.stdout.write(`fuzz: seed ${seed}: ${s.cases} cases in ${(s.ms / 1000).toFixed(0)} s (${total.cases} so far, ${total.unexplained} unexplained)\n`);
  seed++;
}
await Promise.all(shrinking);

const st = differ.server.stats();
console.log(`\nfuzz: ${total.cases} cases (seeds ${firstSeed}..${seed - 1}): ${total.agree} agree, ${total.known} differ by known rules, ${total.unexplained} unexplained (${seen.size} new signatures)`);
console.log(`fuzz: known rules met: ${JSON.stringify(rules)}`);
console.log(`fuzz: serve() after the run: ${st.connections} connections, ${st.pendingRequests} pending requests, ${st.buffersOut} buffers out, ${st.opsInFlight} ops in flight`);
if (written.length) console.log(`fuzz: wrote ${written.length} corpus case(s)${skipped ? ` (${skipped} more signatures not shrunk)` : ""}: ${written.join(", ")}`);
await differ.stop();
process.exit(seen.size > 0 ? 1 : 0);
