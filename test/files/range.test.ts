// Range (RFC 9110 §14) and conditional requests (§13) on file responses: a single range -> 206 +
// Content-Range with exactly those bytes; suffix, open-ended, clamped; past the end and zero-length
// -> 416 with `Content-Range: bytes */size`; invalid -> ignored (200); several ranges -> 200 with the
// whole file; If-Range; If-None-Match and If-Modified-Since -> 304 (and 200 when they do not hold).
// parseRange is also checked as data.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { serve, type Server } from "../../src/index.ts";
import { defaultReactor } from "../../src/loop/default.ts";
import { parseRange } from "../../src/net/http/files.ts";
import { tempTree, writeRandomFile, rawGet, leakBaseline, expectBackToBaseline, writeFileSync } from "./support.ts";

const SIZE = 300_000; // several read blocks: ranges cross block boundaries
const tree = tempTree("range");
let data: Buffer;
let server: Server;
let baseline: { ops: number; slots: number };

beforeAll(() => {
  baseline = leakBaseline(defaultReactor());
  writeRandomFile(tree.path("f.bin"), SIZE);
  writeFileSync(tree.path("empty.bin"), "");
  data = readFileSync(tree.path("f.bin"));
  server = serve({
    port: 0, hostname: "127.0.0.1", development: false,
    fetch: (req) => new Response(Bun.file(tree.path(new URL(req.url).pathname.slice(1)))),
  }) as Server;
});

afterAll(async () => {
  await server.stop(true);
  tree.remove();
});

const get = (range: string | null, extra = "", path = "/f.bin", method = "GET") =>
  rawGet(server.port, path, (range === null ? "" : `Range: ${range}\r\n`) + extra, method);

describe("Range", () => {
  const cases: [string, string, number, number][] = [
    // header, what, first byte, last byte (inclusive)
    ["bytes=0-0", "first byte", 0, 0],
    ["bytes=0-99", "first 100", 0, 99],
    ["bytes=100-", "open-ended", 100, SIZE - 1],
    ["bytes=-500", "suffix 500", SIZE - 500, SIZE - 1],
    ["bytes=-1", "last byte", SIZE - 1, SIZE - 1],
    [`bytes=-${SIZE + 10}`, "suffix longer than the file: the whole file", 0, SIZE - 1],
    [`bytes=65530-65545`, "across the 64 KiB READ boundary", 65530, 65545],
    [`bytes=${SIZE - 10}-${SIZE + 1000}`, "last-pos past the end: clamped", SIZE - 10, SIZE - 1],
    ["bytes=200000-299999", "far into the file", 200000, 299999],
    [" bytes = 5 - 9 ", "optional whitespace", 5, 9],
    ["BYTES=5-9", "unit is case-insensitive", 5, 9],
  ];
  for (const [h, what, a, b] of cases) {
    test(`${h} (${what}) -> 206 with bytes ${a}-${b}`, async () => {
      const r = await get(h);
      expect(r.status, `status for ${h}`).toBe(206);
      expect(r.get("content-range")).toBe(`bytes ${a}-${b}/${SIZE}`);
      expect(r.get("content-length")).toBe(String(b - a + 1));
      expect(Buffer.compare(r.body, data.subarray(a, b + 1)), `bytes of ${h}`).toBe(0);
    });
  }

  for (const h of [`bytes=${SIZE}-`, `bytes=${SIZE + 5}-${SIZE + 10}`, "bytes=-0", "bytes=99999999999999999999-"]) {
    test(`${h} -> 416 with Content-Range: bytes */size`, async () => {
      const r = await get(h);
      expect(r.status).toBe(416);
      expect(r.get("content-range")).toBe(`bytes */${SIZE}`);
      expect(r.body.length).toBe(0);
    });
  }

  test("any range of an empty file -> 416 bytes */0", async () => {
    const r = await get("bytes=0-", "", "/empty.bin");
    expect(r.status).toBe(416);
    expect(r.get("content-range")).toBe("bytes */0");
  });

  for (const h of ["bytes=5-1", "bytes=abc", "bytes=", "bytes=-", "items=0-5", "bytes 0-5", "bytes=1-2-3", "bytes=--5"]) {
    test(`invalid "${h}" is ignored -> 200 with the whole file`, async () => {
      const r = await get(h);
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(SIZE);
    });
  }

  test("several ranges -> 200 with the whole file", async () => {
    const r = await get("bytes=0-9,20-29");
    expect(r.status).toBe(200);
    expect(r.get("content-range")).toBeNull();
    expect(Buffer.compare(r.body, data)).toBe(0);
  });

  test("HEAD with a Range: 206 head, no body", async () => {
    const r = await get("bytes=10-19", "", "/f.bin", "HEAD");
    expect(r.status).toBe(206);
    expect(r.get("content-length")).toBe("10");
    expect(r.body.length).toBe(0);
  });

  test("If-Range with the Last-Modified date: the range; with an older date or a (weak) ETag: the whole file", async () => {
    const full = await get(null);
    const lm = full.get("last-modified")!;
    const etag = full.get("etag")!;
    expect((await get("bytes=0-9", `If-Range: ${lm}\r\n`)).status).toBe(206);
    expect((await get("bytes=0-9", `If-Range: Thu, 01 Jan 1970 00:00:00 GMT\r\n`)).status).toBe(200);
    // A weak validator never matches If-Range (strong comparison, RFC 9110 §13.1.5).
    expect((await get("bytes=0-9", `If-Range: ${etag}\r\n`)).status).toBe(200);
  });

  test("a Range on a POST answer is ignored (only GET/HEAD)", async () => {
    const r = await rawGet(server.port, "/f.bin", "Range: bytes=0-9\r\nContent-Length: 0\r\n", "POST");
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(SIZE);
  });
});

// Before: a framework that sets its own Accept-Ranges (Elysia does for a Bun.file) got ours too:
// two fields, which a client reads as "bytes, bytes".
test("a handler's own Accept-Ranges, ETag or Last-Modified is not repeated by ours", async () => {
  const file = tree.path("f.bin");
  const own = serve({
    port: 0, hostname: "127.0.0.1", development: false,
    fetch: (req) => {
      const which = new URL(req.url).pathname;
      const headers = which === "/ranges" ? { "accept-ranges": "bytes" } : which === "/etag" ? { etag: '"mine"' } : { "accept-ranges": "none", etag: '"mine"' };
      return new Response(Bun.file(file), { headers });
    },
  }) as Server;
  try {
    for (const [path, ranges, etag] of [["/ranges", ["bytes"], 1], ["/etag", ["bytes"], 1], ["/both", ["none"], 1]] as const) {
      const r = await rawGet(own.port, path);
      expect(r.status, path).toBe(200);
      expect(r.all("accept-ranges"), `${path}: Accept-Ranges fields`).toEqual([...ranges]);
      expect(r.all("etag").length, `${path}: ETag fields`).toBe(etag);
      expect(r.body.length).toBe(SIZE);
    }
  } finally {
    await own.stop(true);
  }
});

describe("conditional requests", () => {
  test("If-None-Match with the ETag -> 304 with ETag and Last-Modified, no body; a different tag -> 200", async () => {
    const full = await get(null);
    const etag = full.get("etag")!;
    const r = await get(null, `If-None-Match: ${etag}\r\n`);
    expect(r.status).toBe(304);
    expect(r.get("etag")).toBe(etag);
    expect(r.get("last-modified")).toBe(full.get("last-modified"));
    expect(r.get("content-length")).toBeNull();
    expect(r.body.length).toBe(0);
    // The strong form of our weak tag matches too (If-None-Match uses weak comparison).
    expect((await get(null, `If-None-Match: ${etag.slice(2)}\r\n`)).status).toBe(304);
    expect((await get(null, `If-None-Match: "other", ${etag}\r\n`)).status).toBe(304);
    expect((await get(null, `If-None-Match: *\r\n`)).status).toBe(304);
    const miss = await get(null, `If-None-Match: "nope"\r\n`);
    expect(miss.status).toBe(200);
    expect(miss.body.length).toBe(SIZE);
  });

  test("If-Modified-Since at or after Last-Modified -> 304; before it, or unparsable -> 200", async () => {
    const full = await get(null);
    const lm = full.get("last-modified")!;
    expect((await get(null, `If-Modified-Since: ${lm}\r\n`)).status).toBe(304);
    expect((await get(null, `If-Modified-Since: ${new Date(Date.parse(lm) + 86400_000).toUTCString()}\r\n`)).status).toBe(304);
    expect((await get(null, `If-Modified-Since: ${new Date(Date.parse(lm) - 1000).toUTCString()}\r\n`)).status).toBe(200);
    expect((await get(null, `If-Modified-Since: not a date\r\n`)).status).toBe(200);
  });

  test("If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)", async () => {
    const full = await get(null);
    const r = await get(null, `If-None-Match: "nope"\r\nIf-Modified-Since: ${full.get("last-modified")}\r\n`);
    expect(r.status).toBe(200);
  });

  test("a 304 beats a Range", async () => {
    const full = await get(null);
    expect((await get("bytes=0-9", `If-None-Match: ${full.get("etag")}\r\n`)).status).toBe(304);
  });
});

describe("parseRange as data", () => {
  const size = 1000;
  const table: [string, ReturnType<typeof parseRange>][] = [
    ["bytes=0-499", [0, 500]], ["bytes=500-", [500, 1000]], ["bytes=-200", [800, 1000]], ["bytes=999-999", [999, 1000]],
    ["bytes=0-5000", [0, 1000]], ["bytes=1000-", "unsatisfiable"], ["bytes=-0", "unsatisfiable"], ["bytes=5-4", "none"],
    ["bytes=0-1,3-4", "none"], ["chars=0-1", "none"], ["bytes=x-", "none"], ["bytes=", "none"], ["bytes=-", "none"],
  ];
  for (const [h, want] of table) {
    test(`${h} -> ${JSON.stringify(want)}`, () => expect(parseRange(h, size)).toEqual(want));
  }
});

test("no leaks: op slots and uncached file slots back to baseline", async () => {
  await server.stop(true);
  expect(await expectBackToBaseline(defaultReactor(), baseline)).toBeNull();
});
