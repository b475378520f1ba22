// Helpers for the lifecycle tests: child processes read line by line, the seccomp wrapper that
// makes io_uring_setup fail with EPERM (compiled at test time, never committed), one-shot HTTP
// requests on fresh connections, free ports.
import { mkdtempSync, rmSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";

export const BUN = process.execPath;
export const FIXTURES = join(import.meta.dir, "fixtures");

/** A child process whose stdout is read as JSON lines (other lines are kept as text). */
export class Child {
  readonly proc: ReturnType<typeof Bun.spawn>;
  readonly lines: { raw: string; json: any }[] = [];
  stderr = "";
  readonly exited: Promise<number>;
  #waiters: (() => void)[] = [];

  /** `detached`: in a process group of its own (setsid), so a test can signal the whole group as a terminal does. */
  constructor(cmd: string[], env: Record<string, string | undefined> = {}, detached = false) {
    this.proc = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached });
    void this.#read(this.proc.stdout as ReadableStream<Uint8Array>, (s) => this.#onStdout(s));
    void this.#read(this.proc.stderr as ReadableStream<Uint8Array>, (s) => {
      this.stderr += s;
      this.#wake();
    });
    this.exited = this.proc.exited;
  }

  get pid(): number {
    return this.proc.pid;
  }

  async #read(stream: ReadableStream<Uint8Array>, on: (s: string) => void): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) on(dec.decode(chunk, { stream: true }));
  }

  #partial = "";
  #onStdout(s: string): void {
    this.#partial += s;
    let nl: number;
    while ((nl = this.#partial.indexOf("\n")) >= 0) {
      const raw = this.#partial.slice(0, nl);
      this.#partial = this.#partial.slice(nl + 1);
      let json: any = null;
      try {
        json = JSON.parse(raw);
      } catch {}
      this.lines.push({ raw, json });
    }
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** The first JSON line (from index `from`) matching `pred`, waiting up to `ms`. */
  async waitJson(pred: (j: any) => boolean, ms = 5000, from = 0): Promise<any> {
    const end = performance.now() + ms;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) {
        const j = this.lines[i]!.json;
        if (j && pred(j)) return j;
      }
      const left = end - performance.now();
      if (left <= 0 || this.proc.exitCode !== null) {
        throw new Error(`timed out after ${ms} ms waiting for a line; got stdout:\n${this.lines.map((l) => l.raw).join("\n")}\nstderr:\n${this.stderr}`);
      }
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Exit code, or throws after `ms`. */
  async exitCode(ms = 5000): Promise<number> {
    let t: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([this.exited, new Promise<"timeout">((res) => (t = setTimeout(() => res("timeout"), ms)))]);
    clearTimeout(t);
    if (r === "timeout") throw new Error(`child ${this.pid} still running after ${ms} ms; stderr:\n${this.stderr}`);
    return r;
  }

  kill(sig: NodeJS.Signals | number = "SIGKILL"): void {
    try {
      this.proc.kill(sig);
    } catch {}
  }
}

/** `bun <fixture> <json>` as a Child. */
export function runFixture(name: string, arg: object, env: Record<string, string | undefined> = {}, wrapper: string[] = [], detached = false): Child {
  return new Child([...wrapper, BUN, join(FIXTURES, name), JSON.stringify(arg)], env, detached);
}

let noringPath: string | null | undefined;
let noringDir: string | null = null;

/**
 * Path of a helper that runs a program with io_uring_setup refused (EPERM) by a seccomp filter,
 * compiled from fixtures/noring.c into a temp dir on first use; null when cc or the headers are
 * missing (the tests that need it skip).
 */
export function noringHelper(): string | null {
  if (noringPath !== undefined) return noringPath;
  noringPath = null;
  if (!Bun.which("cc")) return null;
  if (!existsSync("/usr/include/linux/seccomp.h") || !existsSync("/usr/include/linux/filter.h")) return null;
  noringDir = mkdtempSync(join(tmpdir(), "bun-uring-noring-"));
  const out = join(noringDir, "noring");
  const r = Bun.spawnSync(["cc", "-O", "-o", out, join(FIXTURES, "noring.c")], { stderr: "pipe" });
  if (r.exitCode !== 0) return null;
  // The filter must really apply here (no_new_privs + seccomp may be refused in some sandboxes).
  const probe = Bun.spawnSync([out, "/bin/true"]);
  if (probe.exitCode !== 0) return null;
  noringPath = out;
  return out;
}

export function removeNoringHelper(): void {
  if (noringDir) rmSync(noringDir, { recursive: true, force: true });
  noringDir = null;
  noringPath = undefined;
}

/**
 * One HTTP/1.1 GET on a fresh connection (Connection: close): status and body. Done at
 * Content-Length or at close (Bun.serve keeps the connection open after an async response even
 * with Connection: close).
 */
export function getOnce(port: number, path = "/", ms = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: "127.0.0.1", port });
    let data = "";
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) return reject(err);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      const i = data.indexOf("\r\n\r\n");
      if (!m || i < 0) return reject(new Error(`GET ${path} on port ${port}: malformed answer ${JSON.stringify(data)}`));
      resolve({ status: Number(m[1]), body: data.slice(i + 4) });
    };
    const timer = setTimeout(() => finish(new Error(`GET ${path} on port ${port}: no complete answer after ${ms} ms (got ${JSON.stringify(data)})`)), ms);
    sock.setEncoding("latin1");
    sock.on("connect", () => sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    sock.on("data", (d: string) => {
      data += d;
      const i = data.indexOf("\r\n\r\n");
      const cl = i < 0 ? null : /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, i + 2));
      if (cl && data.length - (i + 4) >= Number(cl[1])) finish(null);
    });
    sock.on("error", (e) => finish(e));
    sock.on("close", () => finish(null));
  });
}

export { freePort } from "../support/uring.ts";

export const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/** Whether `pid` is a live process (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
