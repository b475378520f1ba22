// serveStatic(root): a directory served as files, as a route value or from a fetch handler.
//
//   serve({ routes: { "/assets/*": serveStatic("./public") } })     // /assets/a.css -> ./public/assets/a.css
//   serve({ routes: { "/assets/*": serveStatic("./public", { prefix: "/assets" }) } })  // -> ./public/a.css
//   const files = serveStatic("./public"); serve({ fetch: (req) => files(req) })
//
// Confinement, in two layers. Lexically: the request path is split on "/", each segment
// percent-decoded once; a decoded segment that is "..", or holds "/", "\" or NUL (encoded
// traversal: %2e%2e, %2f, %5c, %00), or starts with "." (dotfiles, unless allowed) is a 404 and never
// reaches the file system. Then the kernel: on bun-uring's server the file is opened with OPENAT2
// and RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS relative to a directory fd of the root opened once,
// so a symlink (or a rename race) that leads outside the root fails with EXDEV (a 404) whatever the
// path says. Where OPENAT2 is missing, and under a foreign server (Bun.serve), the file's realpath
// is checked against the root's instead (synchronously).
//
// The handler returns `new Response(Bun.file(path))` at once; whether it exists, is a directory
// (redirect to "dir/", then index.html, then a listing if `listing: true`, else 404) is found by the
// file layer (http/files.ts) asynchronously, as part of the open.
import type * as Fs from "node:fs";
import type * as Path from "node:path";
import { UringRequest } from "./http/request.ts";
import { staticTargets, type StaticTarget } from "./http/files.ts";
import { RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS } from "../ffi/constants.ts";

// node:fs and node:path load with the first static root, not with bun-uring: node:fs is ~2 MB of
// RSS and ~580 functions in the heap, paid at start-up by every server that never serves a directory.
let fsModule: typeof Fs | null = null, pathModule: typeof Path | null = null;
const nodeFs = (): typeof Fs => (fsModule ??= import.meta.require("node:fs") as typeof Fs);
const nodePath = (): typeof Path => (pathModule ??= import.meta.require("node:path") as typeof Path);

export interface ServeStaticOptions {
  /** File served for a directory ("dir/"); false for none. Default "index.html". */
  index?: string | false;
  /** An HTML listing of a directory without an index. Default false (404). */
  listing?: boolean;
  /** URL prefix removed before the path is looked up under root (e.g. "/assets"). Default none. */
  prefix?: string;
  /** Serve names starting with "." (.env, .git). Default false: 404. */
  dotfiles?: boolean;
  /** Headers added to every file response (e.g. Cache-Control). */
  headers?: ConstructorParameters<typeof Headers>[0];
  /**
   * Called once per response when it is written, with the status actually sent (a missing file's
   * 404 is found while the response is sent, after the handler returned) and the body bytes
   * (-1 when the connection ended before the body did). For access logs.
   */
  onResponse?: (req: Request, status: number, bytes: number) => void;
}

export interface StaticHandler {
  (req: Request, server?: unknown): Response;
  /** The root's absolute path. */
  readonly root: string;
  /** Close the root's directory fd (the handler must not be used after). */
  close(): void;
}

let rootIds = 0;

const notFound = () => new Response("Not Found\n", { status: 404, headers: { "content-type": "text/plain;charset=utf-8" } });

/**
 * The request path as a path relative to root ("." for the root itself), or null when it must not
 * be looked up (traversal, encoded separators, NUL, dotfiles, bad percent-encoding).
 */
export function relativePath(path: string, dotfiles = false): string | null {
  const out: string[] = [];
  let start = 0;
  const n = path.length;
  while (start <= n) {
    let end = path.indexOf("/", start);
    if (end < 0) end = n;
    let seg = path.slice(start, end);
    start = end + 1;
    if (seg === "") continue;
    if (seg.includes("%")) {
      try {
        seg = decodeURIComponent(seg);
      } catch {
        return null;
      }
    }
    if (seg === ".") continue;
    if (seg === ".." || seg.includes("/") || seg.includes("\\") || seg.includes("\0")) return null;
    if (!dotfiles && seg.charCodeAt(0) === 46 /* . */) return null;
    out.push(seg);
  }
  return out.length === 0 ? "." : out.join("/");
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function renderListing(rootPath: string, dotfiles: boolean, t: StaticTarget, rel: string): Promise<string | null> {
  const dir = rel === "." ? rootPath : nodePath().join(rootPath, rel);
  let ents;
  try {
    ents = await nodeFs().promises.readdir(dir, { withFileTypes: true });
  } catch {
    return null;
  }
  return listingHtml(t.urlPath, ents.filter((e) => dotfiles || !e.name.startsWith(".")).map((e) => ({ name: e.name, dir: e.isDirectory() })));
}

function listingHtml(urlPath: string, ents: { name: string; dir: boolean }[]): string {
  ents.sort((a, b) => (a.dir === b.dir ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.dir ? -1 : 1));
  let title: string;
  try {
    title = decodeURIComponent(urlPath);
  } catch {
    title = urlPath;
  }
  const rows = ents.map((e) => {
    const href = encodeURIComponent(e.name) + (e.dir ? "/" : "");
    return `<li><a href="${href}">${escapeHtml(e.name)}${e.dir ? "/" : ""}</a></li>`;
  });
  const up = urlPath === "/" ? "" : `<li><a href="../">../</a></li>`;
  return `<!doctype html><meta charset="utf-8"><title>Index of ${escapeHtml(title)}</title><h1>Index of ${escapeHtml(title)}</h1><ul>${up}${rows.join("")}</ul>\n`;
}

/** Serve the files under `root` (confined to it). Create it once: it opens the root directory. */
export function serveStatic(root: string, options: ServeStaticOptions = {}): StaticHandler {
  const rootPath = nodePath().resolve(root);
  let realRoot: string;
  try {
    realRoot = nodeFs().realpathSync(rootPath);
  } catch (e) {
    throw Object.assign(new Error(`serveStatic: root "${root}" does not exist`), { code: "ENOENT", cause: e });
  }
  if (!nodeFs().statSync(realRoot).isDirectory()) throw Object.assign(new Error(`serveStatic: root "${root}" is not a directory`), { code: "ENOTDIR" });
  const { O_RDONLY, O_DIRECTORY } = nodeFs().constants;
  let rootFd = nodeFs().openSync(realRoot, O_RDONLY | O_DIRECTORY);
  const rootId = ++rootIds;
  const index = options.index === false ? [] : [options.index ?? "index.html"];
  const listing = options.listing === true;
  const dotfiles = options.dotfiles === true;
  let prefix = options.prefix ?? "";
  if (prefix.endsWith("/")) prefix = prefix.slice(0, -1);
  const headers = options.headers ? new Headers(options.headers) : null;
  const listFn = (t: StaticTarget, rel: string) => renderListing(realRoot, dotfiles, t, rel);
  const onResponse = options.onResponse ?? null;
  const answer = (req: Request, res: Response): Response => {
    if (onResponse) onResponse(req, res.status, 0); // answered by the handler itself (bytes not counted)
    return res;
  };

  const handler = ((req: Request): Response => {
    const method = req.method;
    if (method !== "GET" && method !== "HEAD") {
      return answer(req, new Response("Method Not Allowed\n", { status: 405, headers: { allow: "GET, HEAD", "content-type": "text/plain;charset=utf-8" } }));
    }
    const ours = req instanceof UringRequest;
    // The raw path (no normalisation by URL: the checks here see what the client sent).
    let target: string;
    if (ours) target = (req as unknown as UringRequest)._target;
    else {
      const u = req.url;
      const at = u.indexOf("/", u.indexOf("//") + 2);
      target = at < 0 ? "/" : u.slice(at);
    }
    const q = target.indexOf("?");
    let urlPath = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? "" : target.slice(q);
    if (urlPath.startsWith("http://") || urlPath.startsWith("https://")) {
      const at = urlPath.indexOf("/", urlPath.indexOf("//") + 2);
      urlPath = at < 0 ? "/" : urlPath.slice(at);
    }
    let path = urlPath;
    if (prefix !== "") {
      if (path === prefix) path = "/";
      else if (path.startsWith(prefix + "/")) path = path.slice(prefix.length);
      else return answer(req, notFound());
    }
    let rel = relativePath(path, dotfiles);
    if (rel === null) return answer(req, notFound());
    // "a.txt/" must not serve a.txt: keep the slash for the kernel to refuse (ENOTDIR).
    if (rel !== "." && path.endsWith("/")) rel += "/";
    const abs = rel === "." ? realRoot : `${realRoot}/${rel}`;
    if (!ours) return answer(req, foreign(abs, urlPath, query, headers, index, listing, dotfiles, realRoot));
    let file: ReturnType<typeof Bun.file>;
    try {
      file = Bun.file(abs);
    } catch {
      // Bun.file throws ENAMETOOLONG for a path of PATH_MAX (4096) bytes or more: such a file cannot
      // exist. Was a 500 (found by test/fuzz/static-escape.test.ts).
      return answer(req, notFound());
    }
    const res = headers ? new Response(file, { headers }) : new Response(file);
    const st: StaticTarget = {
      rootFd, rootId, rootPath: realRoot, rel, fileName: abs, urlPath, query, index, listing,
      resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, renderListing: listFn,
      checkSync: (r: string) => confinedSync(r === "." ? realRoot : nodePath().join(realRoot, r), realRoot),
      onResponse: onResponse ? (status, bytes) => onResponse(req, status, bytes) : null,
    };
    staticTargets.set(req, st);
    return res;
  }) as StaticHandler;
  Object.defineProperty(handler, "root", { value: realRoot });
  handler.close = () => {
    if (rootFd >= 0) nodeFs().closeSync(rootFd);
    rootFd = -1;
  };
  return handler;
}

/** realpath(abs) is root or beneath it (symlinks followed); false when missing or outside. */
function confinedSync(abs: string, realRoot: string): boolean {
  try {
    const real = nodeFs().realpathSync(abs);
    return real === realRoot || real.startsWith(realRoot + "/");
  } catch {
    return false;
  }
}

/** Under a server that is not bun-uring's (Bun.serve): the same answers, found synchronously. */
function foreign(abs: string, urlPath: string, query: string, headers: Headers | null, index: string[], listing: boolean, dotfiles: boolean, realRoot: string): Response {
  if (!confinedSync(abs, realRoot)) return notFound();
  let st;
  try {
    st = nodeFs().statSync(abs);
  } catch {
    return notFound();
  }
  if (st.isDirectory()) {
    if (!urlPath.endsWith("/")) return new Response(null, { status: 301, headers: { location: `${urlPath}/${query}` } });
    for (const name of index) {
      const p = `${abs.endsWith("/") ? abs : abs + "/"}${name}`;
      if (confinedSync(p, realRoot) && nodeFs().statSync(p, { throwIfNoEntry: false })?.isFile()) {
        return headers ? new Response(Bun.file(p), { headers }) : new Response(Bun.file(p));
      }
    }
    if (!listing) return notFound();
    const ents = nodeFs().readdirSync(abs, { withFileTypes: true }).filter((e) => dotfiles || !e.name.startsWith("."));
    return new Response(listingHtml(urlPath, ents.map((e) => ({ name: e.name, dir: e.isDirectory() }))), { headers: { "content-type": "text/html;charset=utf-8" } });
  }
  if (!st.isFile() || abs.endsWith("/")) return notFound();
  return headers ? new Response(Bun.file(abs), { headers }) : new Response(Bun.file(abs));
}
