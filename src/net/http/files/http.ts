// HTTP semantics of file responses (RFC 9110): which request headers matter (Range, If-*),
// Content-Type by extension, a single byte range, ETag matching, and an open's errno as a status.
import { ENOENT, ENOTDIR, ELOOP, EXDEV, EACCES, EPERM, ECANCELED, EINTR, EISDIR } from "../../../ffi/errno.ts";
import type { UringRequest } from "../request.ts";
import { headerLineStarts } from "../parser.ts";

const HEADER_NAMES = ["range", "if-none-match", "if-modified-since", "if-range"] as const;
export const headerValues: (string | null)[] = [null, null, null, null];

/** Whether a raw head may hold Range or If-* (a header line starting with r or i): else no parse. */
export function mayHaveFileHeaders(head: Uint8Array): boolean {
  return headerLineStarts(head, 0x72, 0x69);
}

/** Read request headers from a UringRequest without building its Headers. */
export function requestHeaders(req: UringRequest | null): void {
  headerValues[0] = headerValues[1] = headerValues[2] = headerValues[3] = null;
  if (!req) return;
  const raw = (req as { _head?: Uint8Array })._head;
  if (raw instanceof Uint8Array && !mayHaveFileHeaders(raw)) return;
  const r = req as unknown as { _headerValues?: (names: readonly string[], out: (string | null)[]) => void; headers: Headers };
  if (typeof r._headerValues === "function") r._headerValues(HEADER_NAMES, headerValues);
  else for (let i = 0; i < 4; i++) headerValues[i] = r.headers.get(HEADER_NAMES[i]!);
}

const mimeByExt = new Map<string, string>();
/** Bun's Content-Type for a file name (its table, by extension), memoised. */
export function mimeType(name: string): string {
  const slash = name.lastIndexOf("/");
  const dot = name.lastIndexOf(".");
  const ext = dot > slash + 1 ? name.slice(dot).toLowerCase() : "";
  let t = mimeByExt.get(ext);
  if (t === undefined) {
    t = Bun.file(`x${ext}`).type;
    if (mimeByExt.size < 1024) mimeByExt.set(ext, t);
  }
  return t;
}

export const TEXT = "text/plain;charset=utf-8";

/** Parse a single-range `bytes=` header; [start, endExclusive], "none" (ignore it) or "unsatisfiable". */
export function parseRange(h: string, size: number): [number, number] | "none" | "unsatisfiable" {
  // RFC 9110 §14.1.2: ranges-specifier = range-unit "=" range-set; unknown units are ignored.
  const eq = h.indexOf("=");
  if (eq < 0 || h.slice(0, eq).trim().toLowerCase() !== "bytes") return "none";
  const set = h.slice(eq + 1);
  // Several ranges: answered with the whole file (200), allowed by §14.2.
  if (set.includes(",")) return "none";
  const m = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(set);
  if (!m || (m[1] === "" && m[2] === "")) return "none";
  if (m[1] === "") {
    // suffix-range: the last N bytes
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) return "none";
    if (n === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - n), size];
  }
  const first = Number(m[1]);
  if (!Number.isSafeInteger(first)) return first > 0 ? "unsatisfiable" : "none";
  let last = m[2] === "" ? Infinity : Number(m[2]);
  if (Number.isNaN(last)) last = Infinity;
  if (last < first) return "none"; // invalid range-spec: ignore the header (§14.1.1)
  if (first >= size) return "unsatisfiable";
  return [first, Math.min(last, size - 1) + 1];
}

/** Whether If-None-Match matches `etag`, weak or strong, by weak comparison (RFC 9110 §13.1.2, §13.2.2). */
export function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === "*") return true;
  const bare = etag.startsWith("W/") ? etag.slice(2) : etag;
  for (const part of header.split(",")) {
    const t = part.trim();
    if ((t.startsWith("W/") ? t.slice(2) : t) === bare) return true;
  }
  return false;
}

/** Status for a failed open: missing -> 404, forbidden -> 403, deadline -> 503, other -> 500. */
export function statusOfErrno(res: number): number {
  const e = -res;
  if (e === ENOENT || e === ENOTDIR || e === ELOOP || e === EXDEV || e === EISDIR || e === 36 /* ENAMETOOLONG */) return 404;
  if (e === EACCES || e === EPERM) return 403;
  if (e === EINTR || e === ECANCELED) return 503;
  return 500;
}
