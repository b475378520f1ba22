// The regression corpus: test/fuzz/corpus/*.txt, one case per file, replayed by differential.test.ts.
//
//   # <signature: what the disagreement was>
//   # <free comments: where it was found, what each side did, what fixed it>
//   # cuts: 12,40                 (optional: where the bytes are split into separate writes)
//   "GET / HTTP/1.1\r\n..."       (the bytes, as one JSON string of latin1 characters)
//
// A case stays in the corpus after its bug is fixed or its difference is listed: the replay then
// checks that it agrees with llhttp, or differs only by known rules.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { CaseInput } from "./differ.ts";

export const CORPUS_DIR = join(import.meta.dir, "corpus");

export interface CorpusCase extends CaseInput {
  file: string;
  signature: string;
  comments: string[];
}

export function readCorpus(dir = CORPUS_DIR): CorpusCase[] {
  if (!existsSync(dir)) return [];
  const out: CorpusCase[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".txt")).sort()) {
    const lines = readFileSync(join(dir, file), "utf8").split("\n");
    const comments: string[] = [];
    let cuts: number[] = [];
    let raw: string | null = null;
    for (const line of lines) {
      if (line.startsWith("#")) {
        const m = /^#\s*cuts:\s*([\d,\s]*)$/.exec(line);
        if (m) cuts = m[1]!.split(",").map((x) => x.trim()).filter(Boolean).map(Number);
        else comments.push(line.replace(/^#\s?/, ""));
      } else if (line.trim() !== "" && raw === null) raw = JSON.parse(line) as string;
    }
    if (raw === null) throw new Error(`${file}: no case (a JSON string line)`);
    out.push({ file, raw, cuts, signature: comments[0] ?? "", comments });
  }
  return out;
}

/** Write a case; returns its file name. Names are the signature's words plus a short hash of the bytes. */
export function writeCorpusCase(c: CaseInput, signature: string, comments: string[], dir = CORPUS_DIR): string {
  mkdirSync(dir, { recursive: true });
  const slug = signature.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) || "case";
  const hash = Bun.hash(c.raw + "|" + c.cuts.join(",")).toString(16).slice(0, 8);
  const file = `${slug}-${hash}.txt`;
  const body = [`# ${signature}`, ...comments.map((l) => `# ${l}`), ...(c.cuts.length ? [`# cuts: ${c.cuts.join(",")}`] : []), JSON.stringify(c.raw), ""];
  writeFileSync(join(dir, file), body.join("\n"));
  return file;
}
