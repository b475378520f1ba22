// Command line, statistics and number formatting shared by the benchmark scripts.
import { join } from "node:path";
import { benchDir } from "./proc.ts";

export interface Options {
  quick: boolean;
  scenarios: string[];
  servers: string[];
  rounds: number;
  duration: number; // seconds per measured run
  warmup: number; // seconds of unmeasured load before each measured run
  outDir: string;
  idleConns: number;
}

const FLAGS_WITH_VALUE = new Set(["--scenarios", "--servers", "--rounds", "--duration", "--warmup", "--out", "--idle-conns"]);

/**
 * Parses `[--quick] [--scenarios a,b] [--servers x,y] [--rounds N] [--duration S] [--warmup S]
 * [--out DIR] [--idle-conns N]`; exits with a usage message on anything else.
 */
export function parseOptions(argv: string[], all: { scenarios: string[]; servers: string[] }, usage: string): Options {
  const v = new Map<string, string>();
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf("=");
    const [flag, inline] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    if (flag === "--quick") quick = true;
    else if (flag === "--help" || flag === "-h") {
      process.stdout.write(usage);
      process.exit(0);
    } else if (FLAGS_WITH_VALUE.has(flag)) {
      const val = inline ?? argv[++i];
      if (val === undefined) die(`${flag} needs a value`, usage);
      v.set(flag, val!);
    } else die(`unknown argument ${a}`, usage);
  }
  const list = (flag: string, known: string[]) => {
    const raw = v.get(flag);
    if (!raw) return known;
    const want = raw.split(",").map((s) => s.trim()).filter(Boolean);
    for (const w of want) if (!known.includes(w)) die(`unknown ${flag.slice(2, -1)} "${w}" (known: ${known.join(", ")})`, usage);
    return known.filter((k) => want.includes(k)); // keep the canonical order
  };
  const num = (flag: string, dflt: number, min: number) => {
    const raw = v.get(flag);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) die(`${flag} must be a number >= ${min}`, usage);
    return n;
  };
  // Quick mode is a smoke test of the harness: one short round, fewer idle connections.
  return {
    quick,
    scenarios: list("--scenarios", all.scenarios),
    servers: list("--servers", all.servers),
    rounds: Math.round(num("--rounds", quick ? 1 : 3, 1)),
    duration: num("--duration", quick ? 2 : 5, 0.5),
    warmup: num("--warmup", quick ? 0.5 : 1, 0),
    outDir: v.get("--out") ?? join(benchDir, "results"),
    idleConns: Math.round(num("--idle-conns", quick ? 500 : 10000, 1)),
  };
}

function die(msg: string, usage: string): never {
  process.stderr.write(`${msg}\n\n${usage}`);
  process.exit(2);
}

export function median(xs: number[]): number | null {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median of each numeric field over the rounds. */
export function medianOf<T extends Record<string, number>>(rounds: T[]): Record<keyof T, number | null> {
  const out = {} as Record<keyof T, number | null>;
  if (rounds.length === 0) return out;
  for (const k of Object.keys(rounds[0]!) as (keyof T)[]) out[k] = median(rounds.map((r) => r[k]));
  return out;
}

/** 123456 -> "123.5k"; compact figures for charts and tables. */
export function compact(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 1 : 2) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 1 : 2) + "M";
  if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return String(Number(n.toFixed(1)));
  if (a === 0) return "0";
  return String(Number(n.toFixed(2)));
}

/** Thousands separators, no decimals. */
export function grouped(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  return Math.round(n).toLocaleString("en-US");
}

/** Microseconds to "87 µs" / "1.24 ms" / "2.10 s". */
export function micros(us: number | null | undefined): string {
  if (us === null || us === undefined || !Number.isFinite(us)) return "–";
  if (us < 1000) return `${us < 10 ? us.toFixed(1) : us.toFixed(0)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(2)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

/** KiB to "53.4 MiB". */
export function mib(kb: number | null | undefined): string {
  if (kb === null || kb === undefined || !Number.isFinite(kb)) return "–";
  return `${(kb / 1024).toFixed(1)} MiB`;
}

export function ratio(x: number | null | undefined, base: number | null | undefined): number | null {
  if (x === null || x === undefined || base === null || base === undefined || !(base > 0)) return null;
  return x / base;
}

export function times(r: number | null): string {
  return r === null ? "" : `${r.toFixed(2)}×`;
}
