// The differential harness: one fuzz case goes, over raw TCP on 127.0.0.1, to an echo app under serve()
// (in this process) and to a node:http echo server (a child `node`, llhttp in strict mode); both report
// what their app saw. The outcomes are compared (accepted or rejected; when accepted, method, target,
// headers as a Web Headers, body, and how many requests the bytes held), each side is checked against our
// parser run in-process (oracle.ts), and a disagreement is either explained by a known difference
// (known-differences.ts: the case is repaired and run again, so one known difference does not hide others)
// or reported. Used by differential.test.ts (bounded run, corpus replay) and scripts/fuzz.ts (long runs).
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { serve, type Server } from "../../src/index.ts";
import { HttpError, httpErrorInfo } from "../../src/net/http/errors.ts";
import { simulate, type SimResult } from "./oracle.ts";
import { toBytes, pieces as piecesOf } from "./generate.ts";
import { classify, type KnownDifference } from "./known-differences.ts";
import { RawConn } from "./rawsock.ts";

export interface SeenRequest {
  m: string;
  u: string;
  /** Headers as a Web Headers object iterates them (lower-case, combined, sorted). */
  h: [string, string][];
  /** base64 of the body; null when it did not complete. */
  b: string | null;
}

export interface Outcome {
  requests: SeenRequest[];
  /** Rejection: our HttpError name or node's HPE_* code (normalized, see below); null when none. */
  error: string | null;
  /** The raw error (node's code before normalization). */
  rawError: string | null;
  /** The server did not close the connection in time. */
  hang: boolean;
  /** What the client received (latin1), for reports. */
  response: string;
}

export interface CaseInput {
  raw: string;
  cuts: number[];
}

export interface CaseResult {
  ours: Outcome;
  node: Outcome;
  sim: SimResult;
  /** Why ours and node differ (empty when they agree). */
  diffs: string[];
  /** Where our server and our parser (run in-process) differ: a bug in connection.ts or the parser. */
  selfDiffs: string[];
}

export interface Verdict {
  /** agree: same outcome; known: explained by known differences (after repairs); unexplained: a finding. */
  kind: "agree" | "known" | "unexplained";
  /** Known differences met on the way (rule ids), in order. */
  rules: string[];
  /** The result that decided the verdict (the last repaired case's). */
  result: CaseResult;
  /** The case that decided it (after repairs). */
  input: CaseInput;
  problems: string[];
}

const CASE_TIMEOUT_MS = 5000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// Normalization

/** What an app sees as headers: a Web Headers built from the [name, value] list, iterated. */
export function asHeaders(pairs: [string, string][]): [string, string][] {
  const h = new Headers();
  for (const [k, v] of pairs) {
    try {
      h.append(k, v);
    } catch {
      // Bun 1.3.14 now and then refuses a valid value that came out of JSON.parse (seen under load,
      // "Header '33' has invalid value: '3xqa=8lj7h6; wje=i9'"); a fresh copy of the string passes.
      const kk = Buffer.from(k, "latin1").toString("latin1");
      const vv = Buffer.from(v, "latin1").toString("latin1");
      try {
        h.append(kk, vv);
      } catch (e) {
        return [["!invalid", `${(e as Error).message}: ${JSON.stringify(pairs)}`]];
      }
    }
  }
  return [...h] as [string, string][];
}

// Node reports the end of input inside a message as HPE_INVALID_EOF_STATE and bytes after a request
// with "Connection: close" as HPE_CLOSED_CONNECTION; we close in both cases without a response. Neither
// is a rejection of a request: the requests the app saw are what is compared.
const NODE_NOT_ERRORS = new Set(["HPE_INVALID_EOF_STATE", "HPE_CLOSED_CONNECTION"]);

// Our error responses carry the rule's message as their body: map it back to the HttpError name.
const OUR_MESSAGES: [string, string][] = Object.keys(HttpError).map((name) => {
  const info = httpErrorInfo(HttpError[name as keyof typeof HttpError]);
  // The body is UTF-8 ("§"); responses are read as latin1.
  return [Buffer.from(info.message + "\n", "utf8").toString("latin1"), name];
});

function ourErrorFromResponse(text: string): string | null {
  for (const [msg, name] of OUR_MESSAGES) if (text.includes(msg)) return name;
  if (/\r\n\r\nRequest body of \d+ bytes is over the limit/.test(text)) return "BODY_TOO_LARGE";
  if (text.includes("Request headers were not received in time")) return "TIMEOUT_408";
  if (/HTTP\/1\.[01] 500 /.test(text)) return "INTERNAL_500";
  // An error answer without its text: the answer to a HEAD request has no body.
  const m = /HTTP\/1\.[01] ((?!499)[45]\d\d) /.exec(text);
  return m ? `HTTP_${m[1]}` : null;
}

// ---------------------------------------------------------------------------------------------------------
// The two servers

type Rec = { t: string; i?: number; m?: string; u?: string; h?: [string, string][]; b?: string; code?: string; at?: number };

class EventLog {
  readonly byPort = new Map<number, Rec[]>();
  readonly closed = new Map<number, () => void>();
  readonly closedPorts = new Set<number>();
  push(port: number, r: Rec): void {
    let l = this.byPort.get(port);
    if (!l) this.byPort.set(port, (l = []));
    l.push(r);
    if (r.t === "close") {
      this.closedPorts.add(port);
      this.closed.get(port)?.();
    }
  }
  whenClosed(port: number, ms: number): Promise<boolean> {
    if (this.closedPorts.has(port)) return Promise.resolve(true);
    return new Promise((res) => {
      const t = setTimeout(() => {
        this.closed.delete(port);
        res(false);
      }, ms);
      this.closed.set(port, () => {
        clearTimeout(t);
        this.closed.delete(port);
        res(true);
      });
    });
  }
  take(port: number): Rec[] {
    const l = this.byPort.get(port) ?? [];
    this.byPort.delete(port);
    this.closedPorts.delete(port);
    return l;
  }
}

function outcomeFrom(recs: Rec[], error: string | null, rawError: string | null, hang: boolean, response: string): Outcome {
  const requests: SeenRequest[] = [];
  for (const r of recs) {
    if (r.t === "req") requests[r.i!] = { m: r.m!, u: r.u!, h: r.h!, b: null };
  }
  for (const r of recs) {
    if (r.t === "body" && requests[r.i!]) requests[r.i!]!.b = r.b!;
  }
  return { requests: requests.filter(Boolean), error, rawError, hang, response };
}

export class Differ {
  #node: ChildProcess | null = null;
  #nodePort = 0;
  #server: Server | null = null;
  #ourPort = 0;
  readonly #nodeLog = new EventLog();
  readonly #ourLog = new EventLog();
  /** Node's known methods (http.METHODS), for the method rule. */
  nodeMethods: Set<string> = new Set();

  async start(): Promise<void> {
    const ours = this.#ourLog;
    this.#server = serve({
      port: 0,
      hostname: "127.0.0.1",
      development: false,
      idleTimeout: 10,
      // node:http has no body limit; ours would answer 413 above 128 MiB. Lift it so the comparison is
      // about parsing (the limit has its own tests).
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      fetch(req, server) {
        const port = (server as Server).requestIP(req)?.port ?? 0;
        const log = ours.byPort.get(port);
        const i = log ? log.filter((r) => r.t === "req").length : 0;
        const u = (req as unknown as { _target: string })._target;
        ours.push(port, { t: "req", i, m: req.method, u, h: [...req.headers] as [string, string][] });
        return req.arrayBuffer().then(
          (b) => {
            ours.push(port, { t: "body", i, b: Buffer.from(b).toString("base64") });
            return new Response("ok");
          },
          () => {
            ours.push(port, { t: "abort", i });
            return new Response("abort", { status: 499 });
          },
        );
      },
    });
    this.#ourPort = this.#server.port;

    const node = spawn("node", [join(import.meta.dir, "node-echo.mjs")], { stdio: ["pipe", "pipe", "inherit"] });
    this.#node = node;
    const rl = createInterface({ input: node.stdout! });
    const log = this.#nodeLog;
    await new Promise<void>((resolve, reject) => {
      node.once("error", reject);
      node.once("exit", (code) => reject(new Error(`node echo server exited with ${code}`)));
      rl.on("line", (line) => {
        const o = JSON.parse(line);
        if (o.port !== undefined) {
          this.#nodePort = o.port;
          this.nodeMethods = new Set(o.methods ?? []);
          resolve();
        } else log.push(o.c, o);
      });
    });
  }

  get server(): Server {
    return this.#server!;
  }

  async stop(): Promise<void> {
    this.#node?.stdin?.end();
    this.#node?.kill();
    await this.#server?.stop(true);
  }

  /** Send `pieces` on a fresh connection to `port`, half-close, and collect what comes back until the server closes. */
  async #exchange(port: number, pieces: string[]): Promise<{ localPort: number; text: string; closed: boolean }> {
    let c: RawConn;
    try {
      c = await RawConn.open(port);
    } catch {
      return { localPort: -1, text: "", closed: true };
    }
    try {
      for (let i = 0; i < pieces.length; i++) {
        if (i > 0) await sleep(1);
        if (!(await c.write(Buffer.from(pieces[i]!, "latin1")))) break;
      }
      c.shutdownWrite();
      const closed = await c.readToEnd(CASE_TIMEOUT_MS);
      return { localPort: c.localPort, text: c.received().toString("latin1"), closed };
    } finally {
      c.close();
    }
  }

  async #runOurs(pieces: string[]): Promise<Outcome> {
    const x = await this.#exchange(this.#ourPort, pieces);
    // Handlers settle on microtasks after the last bytes: let them record.
    await sleep(0);
    const recs = this.#ourLog.take(x.localPort);
    const error = ourErrorFromResponse(x.text);
    return outcomeFrom(recs, error, error, !x.closed, x.text);
  }

  async #runNode(pieces: string[]): Promise<Outcome> {
    const x = await this.#exchange(this.#nodePort, pieces);
    const ok = await this.#nodeLog.whenClosed(x.localPort, CASE_TIMEOUT_MS);
    const recs = this.#nodeLog.take(x.localPort);
    const err = recs.find((r) => r.t === "err");
    const raw = err?.code ?? null;
    const error = raw !== null && !NODE_NOT_ERRORS.has(raw) ? raw : null;
    const out = outcomeFrom(recs, error, raw, !x.closed || !ok, x.text);
    for (const r of out.requests) r.h = asHeaders(r.h);
    return out;
  }

  /** Run one case on both servers and compare. */
  async run(input: CaseInput): Promise<CaseResult> {
    const ps = piecesOf(input);
    const [ours, node] = await Promise.all([this.#runOurs(ps), this.#runNode(ps)]);
    const sim = simulate(toBytes(input.raw));
    return { ours, node, sim, diffs: compare(ours, node), selfDiffs: selfCheck(ours, sim) };
  }

  /** Run, and when ours and node differ, explain the difference with known rules (repairing and re-running). */
  async judge(input: CaseInput): Promise<Verdict> {
    const rules: string[] = [];
    let cur = input;
    for (let depth = 0; depth < 10; depth++) {
      const result = await this.run(cur);
      const problems = [...result.selfDiffs, ...result.sim.splitProblems.map((p) => `split: ${p}`)];
      if (result.ours.hang) problems.push("serve() did not close the connection in time");
      if (result.node.hang) problems.push("node did not close the connection in time");
      if (result.ours.error === "INTERNAL_500") problems.push("serve() answered 500");
      if (problems.length) return { kind: "unexplained", rules, result, input: cur, problems };
      if (result.diffs.length === 0) return { kind: rules.length ? "known" : "agree", rules, result, input: cur, problems };
      const k: KnownDifference | null = classify(cur.raw, result, this.nodeMethods);
      if (!k) return { kind: "unexplained", rules, result, input: cur, problems: result.diffs };
      rules.push(k.rule);
      if (k.repaired === null || k.repaired === cur.raw) return { kind: "known", rules, result, input: cur, problems };
      cur = { raw: k.repaired, cuts: cur.cuts.filter((c) => c < k.repaired!.length) };
    }
    const result = await this.run(cur);
    return { kind: "unexplained", rules, result, input: cur, problems: ["too many repairs", ...result.diffs] };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Comparisons

const show = (x: unknown) => JSON.stringify(x);

/**
 * The requests an outcome accepted. A request whose body was cut by the rejection that ended the
 * connection was refused, whatever the app saw of it: node:http emits 'request' when the head is complete,
 * before llhttp checks Transfer-Encoding or reads the chunked body, and our app sees a request whose
 * chunked body then turns out malformed. Either way the request was rejected, as if at its head.
 */
export function accepted(o: Outcome): SeenRequest[] {
  const rs = o.requests;
  if (o.error !== null && rs.length > 0 && rs[rs.length - 1]!.b === null) return rs.slice(0, -1);
  return rs;
}

/** Differences between our outcome and node's, as "what: ours X, node Y". */
export function compare(oursIn: Outcome, nodeIn: Outcome): string[] {
  const ours = { ...oursIn, requests: accepted(oursIn) };
  const node = { ...nodeIn, requests: accepted(nodeIn) };
  const d: string[] = [];
  if ((ours.error === null) !== (node.error === null)) d.push(`rejected: ours ${ours.error ?? "no"}, node ${node.error ?? "no"}`);
  const n = Math.max(ours.requests.length, node.requests.length);
  if (ours.requests.length !== node.requests.length) d.push(`requests: ours ${ours.requests.length}, node ${node.requests.length}`);
  for (let i = 0; i < n; i++) {
    const a = ours.requests[i];
    const b = node.requests[i];
    if (!a || !b) break;
    if (a.m !== b.m) d.push(`request ${i} method: ours ${show(a.m)}, node ${show(b.m)}`);
    if (a.u !== b.u) d.push(`request ${i} target: ours ${show(a.u)}, node ${show(b.u)}`);
    if (show(a.h) !== show(b.h)) d.push(`request ${i} headers: ours ${show(a.h)}, node ${show(b.h)}`);
    if (a.b !== b.b) d.push(`request ${i} body: ours ${show(a.b)}, node ${show(b.b)}`);
  }
  return d;
}

/** Our server against our parser run in-process: the same requests, bodies and error. */
function selfCheck(ours: Outcome, sim: SimResult): string[] {
  const d: string[] = [];
  const sameError = ours.error === sim.error || (sim.error !== null && ours.error === `HTTP_${httpErrorInfo(HttpError[sim.error as keyof typeof HttpError]).status}`);
  if (!sameError) d.push(`serve() error ${ours.error ?? "none"}, parser in-process ${sim.error ?? "none"}`);
  if (ours.requests.length !== sim.requests.length) d.push(`serve() saw ${ours.requests.length} requests, parser in-process ${sim.requests.length}`);
  // Every request gets an answer, and a rejected head one more (a rejected body replaces its request's).
  const headError = sim.error !== null && !sim.requests.some((q) => q.start === sim.errorRequestStart);
  const wanted = sim.requests.length + (headError ? 1 : 0);
  const answers = (ours.response.match(/HTTP\/1\.[01] (?!100 )[1-5]\d\d /g) ?? []).length;
  if (!ours.hang && answers !== wanted) d.push(`serve() sent ${answers} responses, wanted ${wanted}`);
  for (let i = 0; i < Math.min(ours.requests.length, sim.requests.length); i++) {
    const a = ours.requests[i]!;
    const s = sim.requests[i]!;
    if (a.m !== s.method || a.u !== s.target) d.push(`request ${i}: serve() ${a.m} ${a.u}, parser ${s.method} ${s.target}`);
    const sb = s.body === null ? null : Buffer.from(s.body).toString("base64");
    if (a.b !== sb) d.push(`request ${i} body: serve() ${show(a.b)}, parser ${show(sb)}`);
    const sh = asHeaders(s.headers);
    if (show(a.h) !== show(sh)) d.push(`request ${i} headers: serve() ${show(a.h)}, parser ${show(sh)}`);
  }
  return d;
}

export function describe(r: CaseResult): string {
  const o = (x: Outcome) => `${x.requests.length} request(s)${x.error ? `, then rejected: ${x.rawError}` : x.rawError ? ` (${x.rawError})` : ""}${x.hang ? ", HANG" : ""}`;
  return `ours: ${o(r.ours)}; node: ${o(r.node)}${r.sim.error ? `; our error at byte ${r.sim.errorAt}` : ""}`;
}
