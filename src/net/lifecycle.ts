// Signals: SIGTERM and SIGINT stop the process cleanly. Opt-in for serve() (`handleSignals: true`;
// Bun.serve installs no handlers and neither do we by default), the default in cluster workers and
// the cluster primary.
//
// First signal: every managed server stops accepting, requests in progress finish, idle keep-alive
// connections close (server.stop()); a server whose connections are still open after its grace
// period is closed hard (stop(true)). Then the process exits 0. A second signal exits at once
// with 128 + the signal's number (after kill() on what has one: a cluster SIGKILLs its workers).
//
// Signal listeners don't keep Bun's loop alive, so a process whose servers were stopped otherwise
// still exits by itself.

/** What a signal stops: a Server, Bun's Server (fallback), a Cluster. */
export interface Stoppable {
  stop(closeActiveConnections?: boolean): Promise<unknown> | unknown;
  /** Second signal: end at once (a cluster kills its workers). */
  kill?(): void;
}

export const DEFAULT_GRACEFUL_TIMEOUT_S = 10;
/** After stop(true), how long to wait for connections to finish closing before exiting anyway. */
const HARD_CLOSE_WAIT_MS = 1000;

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;
type SignalName = keyof typeof SIGNALS;

interface Managed {
  target: Stoppable;
  graceMs: number;
}

const managed = new Set<Managed>();
let installed = false;
let shuttingDown = false;
const listeners: Record<SignalName, () => void> = {
  SIGINT: () => onSignal("SIGINT"),
  SIGTERM: () => onSignal("SIGTERM"),
};

/** Seconds as a grace period in ms; validates. */
export function graceMs(seconds: number | undefined, fallbackSeconds = DEFAULT_GRACEFUL_TIMEOUT_S): number {
  const s = seconds ?? fallbackSeconds;
  if (typeof s !== "number" || !(s >= 0) || s === Infinity) {
    throw Object.assign(new RangeError(`gracefulTimeout must be a number of seconds >= 0, got ${s}`), { code: "ERR_INVALID_ARG_VALUE" });
  }
  return s * 1000;
}

/** Stop `target` on SIGTERM/SIGINT (see above). Returns a function that unregisters it. */
export function handleSignals(target: Stoppable, graceMsValue: number): () => void {
  const m: Managed = { target, graceMs: graceMsValue };
  managed.add(m);
  if (!installed) {
    installed = true;
    for (const sig of Object.keys(SIGNALS) as SignalName[]) process.on(sig, listeners[sig]);
  }
  return () => {
    managed.delete(m);
    if (managed.size === 0 && installed && !shuttingDown) {
      installed = false;
      for (const sig of Object.keys(SIGNALS) as SignalName[]) process.off(sig, listeners[sig]);
    }
  };
}

function onSignal(sig: SignalName): void {
  if (shuttingDown) {
    for (const m of managed) {
      try {
        m.target.kill?.();
      } catch {}
    }
    process.exit(128 + SIGNALS[sig]);
  }
  shuttingDown = true;
  void Promise.all([...managed].map((m) => stopWithin(m.target, m.graceMs))).then(() => process.exit(0));
}

/**
 * stop() gracefully; after `ms` without finishing, stop(true) and wait at most HARD_CLOSE_WAIT_MS
 * more. Resolves true when the graceful stop finished in time.
 */
export async function stopWithin(target: Stoppable, ms: number): Promise<boolean> {
  let graceful: Promise<unknown>;
  try {
    graceful = Promise.resolve(target.stop(false)).catch(() => {});
  } catch {
    graceful = Promise.resolve();
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((res) => (timer = setTimeout(() => res("expired"), ms)));
  const r = await Promise.race([graceful.then(() => "done" as const), expired]);
  clearTimeout(timer);
  if (r === "done") return true;
  let hard: Promise<unknown>;
  try {
    hard = Promise.resolve(target.stop(true)).catch(() => {});
  } catch {
    hard = Promise.resolve();
  }
  await Promise.race([hard, new Promise((res) => setTimeout(res, HARD_CLOSE_WAIT_MS))]);
  return false;
}
