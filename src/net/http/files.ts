// Files on io_uring: every Bun.file body (a fetch handler's `new Response(Bun.file(p))`, a Bun.file
// route value, serveStatic) is sent by the reactor. This module is the entry: which bodies take the
// io_uring path (sendFileUring; a sliced Blob or a foreign body goes to Bun's reader), the hot path
// for a small cached file (sendCachedFile), and serveStatic's confinement record. The parts:
//
//   files/pools.ts     native read buffers and per-file records, with their bounds
//   files/cache.ts     the open-file cache: OPENAT -> STATX chains, LRU, re-validation
//   files/transfer.ts  one response: 304/206/416/HEAD, READ chains overlapping SENDs
//   files/http.ts      Range, If-*, Content-Type, errno -> status
import { AT_FDCWD } from "../../ffi/constants.ts";
import type { HttpConnection } from "./connection.ts";
import type { UringRequest } from "./request.ts";
import { sendFileByStream, type FileResponseOptions } from "./core.ts";
import { READY, fileServer } from "./files/cache.ts";
import { FileTransfer } from "./files/transfer.ts";
import { mayHaveFileHeaders } from "./files/http.ts";

export {
  READ_BLOCK, MAX_BLOCKS_PER_TRANSFER, DEFAULT_MAX_BLOCKS, Block, BlockPool,
} from "./files/pools.ts";
export {
  CACHE_ENTRIES, REVALIDATE_MS, CACHE_IDLE_MS, SMALL_FILE_MAX, SMALL_CACHE_BYTES, FILE_OP_TIMEOUT_MS,
  FileEntry, FileServer, configureFileServer, fileServer, fileServerStats, clearFileCache,
  type OpenTarget, type FileServerOptions,
} from "./files/cache.ts";
export { FileTransfer } from "./files/transfer.ts";
export { mimeType, parseRange, statusOfErrno } from "./files/http.ts";

// ---- one response ----------------------------------------------------------------------------------

/** serveStatic's part of a response: the root it is confined to and what to do with directories. */
export interface StaticTarget {
  /** Directory fd of the root (opened once), the key prefix and the root path (listings). */
  rootFd: number;
  rootId: number;
  rootPath: string;
  /** Path relative to the root, lexically clean ("." for the root itself; "dir/" keeps its slash). */
  rel: string;
  /** Name of the Bun.file the handler put in its Response (a different body is not ours to confine). */
  fileName: string;
  /** The request's path and query as received (redirects to "dir/"). */
  urlPath: string;
  query: string;
  index: string[];
  listing: boolean;
  /** OPENAT2 resolve flags (RESOLVE_BENEATH...), 0 when the kernel lacks OPENAT2. */
  resolve: number;
  /** A directory listing, rendered by static.ts. */
  renderListing(t: StaticTarget, dirRel: string): Promise<string | null>;
  /** realpath confinement check of a path relative to root (used only without OPENAT2). */
  checkSync(rel: string): boolean;
  /** Called once the response is written (status sent; body bytes, or -1 when cut short). */
  onResponse: ((status: number, bytes: number) => void) | null;
}

/** Requests that serveStatic answered: their Bun.file is opened beneath the root. */
export const staticTargets = new WeakMap<object, StaticTarget>();

// A sliced BunFile (file.slice(a, b)) keeps its name, and the Blob a handler's Response hands on
// (res.blob()) is a new object whose offset is not visible (its size is, but for a whole file
// that costs a stat syscall). So slice() records the names it slices, and a Bun.file of such a
// name is sent by Bun's reader, which knows the offsets. Bound: SLICED_NAMES_MAX names; past it
// every Bun.file is sent by Bun's reader (an app slicing that many files).
const SLICED_NAMES_MAX = 100_000;
const bunFileProto = Object.getPrototypeOf(Bun.file("/")) as { slice: (...a: unknown[]) => Blob };
const slicedNames = new Set<string>();
let slicedOverflow = false;
{
  const slice = bunFileProto.slice;
  bunFileProto.slice = function (this: Blob, ...args: unknown[]) {
    const name = (this as unknown as { name?: unknown }).name;
    if (typeof name === "string" && !slicedOverflow) {
      slicedNames.add(name);
      if (slicedNames.size > SLICED_NAMES_MAX) slicedOverflow = true;
    }
    return slice.apply(this, args);
  };
}

/** Whether `file` is a whole BunFile (not a slice, not another Blob); `name` is its name, read by the caller. */
function isWholeBunFile(file: Blob, name: unknown): name is string {
  if (Object.getPrototypeOf(file) !== bunFileProto) return false;
  return typeof name === "string" && !slicedOverflow && (slicedNames.size === 0 || !slicedNames.has(name));
}

/** ServerCore.sendFile's default: the io_uring path, Bun's reader where it cannot be used. */
export function sendFileUring(hc: HttpConnection, file: Blob, req: UringRequest | null, o: FileResponseOptions): Promise<boolean> {
  const fs = fileServer(hc.conn.reactor);
  const name = (file as { name?: unknown }).name;
  if (!isWholeBunFile(file, name)) return sendFileByStream(hc, file, req, o);
  let target = req ? staticTargets.get(req) : undefined;
  if (target !== undefined && target.fileName !== name) target = undefined;
  if (fs === null) {
    if (target !== undefined && !target.checkSync(target.rel)) return sendFileByStream(hc, Bun.file("/dev/null/none"), req, o); // a 404
    return sendFileByStream(hc, file, req, o);
  }
  if (target === undefined && (name.length === 0 || name.includes("\0"))) return sendFileByStream(hc, file, req, o);
  if (target !== undefined && !fs.hasOpenat2) target = { ...target, resolve: 0 };
  return new FileTransfer(fs, hc, req, o, target ?? null, name).result();
}

/**
 * The hot path of the usual `new Response(Bun.file(path))`: a small cached file, sent whole as a
 * plain 200 (or its HEAD) to a keep-alive HTTP/1.1 request with no Range or If-* header. Head and
 * bytes are written at once, without a FileTransfer. False (nothing written) sends the caller down
 * the full path: not cached, due for revalidation, sliced, other headers, serveStatic.
 * `name` is the BunFile's name; `fields` the Response's headers (headerFields()).
 */
export function sendCachedFile(
  hc: HttpConnection, file: Blob, name: string, fields: Record<string, string | string[]> | null,
  req: UringRequest | null, status: number, keepAlive: boolean, versionMinor: number, isHead: boolean,
): boolean {
  if (status !== 200 || !keepAlive || versionMinor !== 1 || req === null || fields === null) return false;
  if (!isHead && req.method !== "GET") return false;
  if (!isWholeBunFile(file, name)) return false;
  const fs = fileServer(hc.conn.reactor);
  if (fs === null) return false;
  const e = fs.cache.get(name);
  if (e === undefined || e.state !== READY || e.bytes === null) return false;
  // Only the Content-Type Bun gave the Response (or the handler set): anything else takes the full path.
  let n = 0;
  for (const _ in fields) if (++n > 1) return false;
  const plainType = fields["content-type"];
  if (typeof plainType !== "string") return false;
  if (mayHaveFileHeaders(req._head) || staticTargets.has(req)) return false;
  if (!fs.fresh(e)) return false;
  const whole = isHead ? null : e.response(plainType);
  if (whole !== null) hc.conn.write(whole);
  else {
    hc.conn.writeLatin1(e.head(plainType));
    if (!isHead) hc.conn.write(e.bytes);
  }
  return true;
}
