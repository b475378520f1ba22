// What server.stats() reports, for an operator (and the leak tests). One shape per backend,
// told apart by `backend`.
import type { ServerStats } from "./http/core.ts";
import type { FallbackServerStats } from "./fallback.ts";

export interface UringServerStats extends ServerStats {
  backend: "io_uring";
  /** Connections open (accepted and not yet closed). */
  connections: number;
  /** Requests received and not yet answered. */
  pendingRequests: number;
  /** Operations submitted to the ring and not yet completed (multishot ACCEPT/RECV count while armed). */
  opsInFlight: number;
  /** Op slots of the reactor: opsInFlight can't exceed this. */
  opsCapacity: number;
  /** Multishot RECVs that found the provided-buffer ring empty (ENOBUFS) and were re-armed. */
  bufferMisses: number;
  /** Provided receive buffers handed to JS and not yet returned to the ring. */
  buffersOut: number;
  /** Times the CQ overflowed and the kernel was entered to flush the backlog (IORING_SQ_CQ_OVERFLOW). */
  cqOverflowFlushes: number;
  /** CQEs the kernel dropped (only without IORING_FEAT_NODROP, i.e. never on 5.5+). */
  cqDropped: number;
  /** Native send chunks holding queued outgoing bytes. */
  sendChunksInUse: number;
  /** Outgoing bytes queued on this server's connections and not yet acknowledged by a SEND. */
  queuedBytes: number;
  /** Direct-descriptor slots in use (file serving); null when the reactor has no file table yet. */
  fileSlotsInUse: number | null;
  /** File descriptors open in the process (/proc/self/fd). */
  openFds: number;
}

/** server.stats(): io_uring's counters, or the fallback's few. */
export type ServeStats = UringServerStats | FallbackServerStats;

/** File descriptors open in this process, counted in /proc/self/fd (minus the one reading it). */
export function openFdCount(): number {
  // Bun.Glob lists a directory without loading node:fs (see static.ts).
  let n = 0;
  try {
    for (const _ of fdGlob.scanSync(FD_SCAN)) n++;
  } catch {
    return -1;
  }
  return n - 1;
}
const fdGlob = new Bun.Glob("*");
const FD_SCAN = { cwd: "/proc/self/fd", onlyFiles: false, followSymlinks: false, dot: true } as const;
