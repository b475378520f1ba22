// Which implementation a benchmark app runs on: SERVER=bun -> Bun's own function, SERVER=uring ->
// the same-named export of bun-uring's src/index.ts. A server that can't be loaded exits 69
// (EX_UNAVAILABLE) with an "UNAVAILABLE:" line, and the harness reports it as unavailable.
export const EX_UNAVAILABLE = 69;

export function unavailable(why: string): never {
  process.stderr.write(`UNAVAILABLE: ${why}\n`);
  process.exit(EX_UNAVAILABLE);
}

export async function choose<F>(which: string, bunImpl: F, exportName: string): Promise<F> {
  if (which === "bun") return bunImpl;
  if (which !== "uring") {
    process.stderr.write(`SERVER must be "uring" or "bun", not "${which}"\n`);
    process.exit(2);
  }
  // A computed specifier, so that the harness still runs while src/index.ts lacks an export.
  const spec = new URL("../../src/index.ts", import.meta.url).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    unavailable(`cannot import src/index.ts (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof mod[exportName] !== "function") unavailable(`src/index.ts does not export ${exportName}()`);
  return mod[exportName] as F;
}
