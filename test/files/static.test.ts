// serveStatic(root): index.html, "dir" -> "dir/", no listing unless asked, percent-decoding, the
// prefix option, dotfiles, methods; and confinement: traversal attempts sent over raw sockets (no
// client normalises them) -- "..", encoded "..", "%2f", backslashes, NUL, absolute-form targets,
// symlinks out of the root (absolute, relative, through a directory) -- never give a byte from
// outside the root and never a 500. The same attempts against serveStatic under Bun.serve (the
// synchronous realpath path).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { serve, serveStatic, type Server } from "../../src/index.ts";
import { defaultReactor } from "../../src/loop/default.ts";
import { relativePath } from "../../src/net/static.ts";
import { tempTree, rawGet, leakBaseline, expectBackToBaseline, writeFileSync, RawHttp } from "./support.ts";

const SECRET = "TOP-SECRET-outside-the-root";
const tree = tempTree("static");
const root = tree.path("www");
let server: Server;
let listed: Server;
let bunServer: ReturnType<typeof Bun.serve>;
let handlers: ReturnType<typeof serveStatic>[] = [];
let baseline: { ops: number; slots: number };

beforeAll(() => {
  baseline = leakBaseline(defaultReactor());
  writeFileSync(tree.path("secret.txt"), SECRET);
  mkdirSync(tree.path("outside-dir"));
  writeFileSync(tree.path("outside-dir", "secret.txt"), SECRET);
  mkdirSync(root);
  writeFileSync(tree.path("www", "index.html"), "<p>home</p>\n");
  writeFileSync(tree.path("www", "a.txt"), "hello\n");
  writeFileSync(tree.path("www", "with space.txt"), "spaced\n");
  writeFileSync(tree.path("www", "%41.txt"), "literal percent\n");
  writeFileSync(tree.path("www", ".env"), "DOT=1\n");
  mkdirSync(tree.path("www", "docs"));
  writeFileSync(tree.path("www", "docs", "index.html"), "<p>docs</p>\n");
  writeFileSync(tree.path("www", "docs", "guide.md"), "# guide\n");
  mkdirSync(tree.path("www", "empty"));
  mkdirSync(tree.path("www", "assets"));
  writeFileSync(tree.path("www", "assets", "app.js"), "console.log(1)\n");
  symlinkSync(tree.path("secret.txt"), tree.path("www", "abs-link"));
  symlinkSync("../secret.txt", tree.path("www", "rel-link"));
  symlinkSync("../outside-dir", tree.path("www", "dir-link"));
  symlinkSync("a.txt", tree.path("www", "in-link"));
  symlinkSync("docs", tree.path("www", "in-dir-link"));
  const files = serveStatic(root);
  const withListing = serveStatic(root, { listing: true });
  const assets = serveStatic(tree.path("www", "assets"), { prefix: "/static", headers: { "cache-control": "max-age=60" } });
  handlers = [files, withListing, assets];
  server = serve({
    port: 0, hostname: "127.0.0.1", development: false,
    routes: { "/static/*": assets },
    fetch: (req) => files(req),
  }) as Server;
  listed = serve({ port: 0, hostname: "127.0.0.1", development: false, fetch: (req) => withListing(req) }) as Server;
  bunServer = Bun.serve({ port: 0, hostname: "127.0.0.1", development: false, fetch: (req) => files(req) });
});

afterAll(async () => {
  await server.stop(true);
  await listed.stop(true);
  bunServer.stop(true);
  for (const h of handlers) h.close();
  tree.remove();
});

describe("serving a directory", () => {
  test("files, index.html for / and dir/, dir -> 301 dir/ (query kept)", async () => {
    expect((await rawGet(server.port, "/a.txt")).body.toString()).toBe("hello\n");
    const home = await rawGet(server.port, "/");
    expect(home.status).toBe(200);
    expect(home.get("content-type")).toBe("text/html;charset=utf-8");
    expect(home.body.toString()).toBe("<p>home</p>\n");
    expect((await rawGet(server.port, "/docs/")).body.toString()).toBe("<p>docs</p>\n");
    const redirect = await rawGet(server.port, "/docs?x=1");
    expect(redirect.status).toBe(301);
    expect(redirect.get("location")).toBe("/docs/?x=1");
    expect((await rawGet(server.port, "/docs/guide.md")).body.toString()).toBe("# guide\n");
  });

  test("no listing unless listing: true", async () => {
    expect((await rawGet(server.port, "/empty/")).status).toBe(404);
    const r = await rawGet(listed.port, "/empty/");
    expect(r.status).toBe(200);
    expect(r.get("content-type")).toBe("text/html;charset=utf-8");
    expect(r.body.toString()).toContain("Index of /empty/");
    const docs = await rawGet(listed.port, "/docs/");
    expect(docs.body.toString(), "an index.html wins over the listing").toBe("<p>docs</p>\n");
  });

  test("a listing links every entry (escaped), hides dotfiles; index: false lists even with an index.html", async () => {
    const noIndex = serveStatic(root, { listing: true, index: false });
    const s = serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => noIndex(req) });
    try {
      const top = await rawGet(s.port, "/");
      const html = top.body.toString();
      expect(html).toContain(`href="with%20space.txt"`);
      expect(html).toContain(`href="docs/"`);
      expect(html).toContain(`href="index.html"`);
      expect(html).not.toContain(".env");
    } finally {
      await s.stop(true);
      noIndex.close();
    }
  });

  test("percent-decoding: %20 and an encoded %", async () => {
    expect((await rawGet(server.port, "/with%20space.txt")).body.toString()).toBe("spaced\n");
    expect((await rawGet(server.port, "/%2541.txt")).body.toString()).toBe("literal percent\n");
  });

  test("the prefix option maps /static/x to root/x; headers option added", async () => {
    const r = await rawGet(server.port, "/static/app.js");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("console.log(1)\n");
    expect(r.get("cache-control")).toBe("max-age=60");
    expect(r.get("content-type")).toBe(Bun.file("x.js").type);
  });

  test("symlinks that stay inside the root are followed", async () => {
    expect((await rawGet(server.port, "/in-link")).body.toString()).toBe("hello\n");
    expect((await rawGet(server.port, "/in-dir-link/guide.md")).body.toString()).toBe("# guide\n");
  });

  test("dotfiles are 404; POST is 405 with Allow; a/ for a file is 404", async () => {
    expect((await rawGet(server.port, "/.env")).status).toBe(404);
    const post = await rawGet(server.port, "/a.txt", "Content-Length: 0\r\n", "POST");
    expect(post.status).toBe(405);
    expect(post.get("allow")).toBe("GET, HEAD");
    expect((await rawGet(server.port, "/a.txt/")).status).toBe(404);
  });

  test("Range and 304 work through serveStatic too", async () => {
    const r = await rawGet(server.port, "/a.txt", "Range: bytes=1-3\r\n");
    expect(r.status).toBe(206);
    expect(r.body.toString()).toBe("ell");
    const again = await rawGet(server.port, "/a.txt", `If-None-Match: ${r.get("etag")}\r\n`);
    expect(again.status).toBe(304);
  });
});

describe("relativePath (lexical layer) as data", () => {
  const table: [string, string | null][] = [
    ["/", "."], ["/a.txt", "a.txt"], ["//a//b/", "a/b"], ["/./a", "a"], ["/a/./b", "a/b"],
    ["/..", null], ["/a/../b", null], ["/%2e%2e/x", null], ["/%2E%2E/x", null], ["/a%2fb", null], ["/a%2Fb", null],
    ["/a%5cb", null], ["/a\\b", null], ["/a%00", null], ["/.env", null], ["/%2eenv", null], ["/%zz", null],
    ["/%c0%af", null], ["/%252e%252e", "%2e%2e"], ["/caf%C3%A9", "café"],
  ];
  for (const [p, want] of table) test(`${JSON.stringify(p)} -> ${JSON.stringify(want)}`, () => expect(relativePath(p)).toBe(want));
});

const ATTACKS = [
  "/../secret.txt", "/../../../../../../etc/passwd", "/..%2fsecret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
  "/%2e%2e%2fsecret.txt", "/.%2e/secret.txt", "/%2e./secret.txt", "/docs/..%2f..%2fsecret.txt", "/docs/%2e%2e/%2e%2e/secret.txt",
  "/..\\secret.txt", "/..%5csecret.txt", "/docs\\..\\..\\secret.txt", "/a.txt%00", "/%00../secret.txt", "/..%00/secret.txt",
  "/..;/secret.txt", "/%252e%252e/secret.txt", "/..%c0%afsecret.txt", "/..%ef%bc%8fsecret.txt", "//../secret.txt",
  "/abs-link", "/rel-link", "/dir-link/secret.txt", "/dir-link/", "/./../secret.txt", "/docs/../../secret.txt",
  "http://localhost/../secret.txt", "/static/../secret.txt", "/static/..%2f..%2fsecret.txt", "/static/%2e%2e/%2e%2e/secret.txt",
];

describe("confinement to root (raw sockets)", () => {
  for (const [name, port] of [["serve()", () => server.port], ["serve() with listing", () => listed.port], ["Bun.serve", () => bunServer.port!]] as const) {
    test(`${name}: ${ATTACKS.length} traversal attempts give no byte from outside and no 5xx`, async () => {
      for (const target of ATTACKS) {
        let r;
        try {
          r = await rawGet(port(), target);
        } catch {
          continue; // the server refused the request line itself (closed): no bytes, fine
        }
        expect(r.status < 500, `${target}: got status ${r.status}, wanted < 500`).toBe(true);
        expect(r.body.toString("latin1").includes(SECRET), `${target}: got the secret`).toBe(false);
        expect(r.body.toString("latin1").includes("root:x:0:0"), `${target}: got /etc/passwd`).toBe(false);
      }
      // and it still serves
      expect((await rawGet(port(), "/a.txt")).status).toBe(200);
    });
  }

  test("a symlink leaving the root is refused by the kernel (OPENAT2 RESOLVE_BENEATH), not only lexically", async () => {
    // "rel-link" is lexically clean; only the resolution leaves the root.
    expect(relativePath("/rel-link")).toBe("rel-link");
    const r = await rawGet(server.port, "/rel-link");
    expect(r.status).toBe(404);
    expect(defaultReactor().ring.supportedOps.has(28 /* OPENAT2 */)).toBe(true);
  });
});

test("no leaks: op slots and uncached file slots back to baseline", async () => {
  await server.stop(true);
  await listed.stop(true);
  expect(await expectBackToBaseline(defaultReactor(), baseline)).toBeNull();
});
