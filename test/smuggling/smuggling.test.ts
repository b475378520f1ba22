// Request smuggling corpus: byte sequences that make two HTTP/1.1 parsers disagree on where a request
// ends (CL.TE, TE.CL, TE.TE with obfuscated codings, duplicated Content-Length, chunked bodies that hide
// a request, pipelines after "Connection: close"), each with exactly the requests the app must see and the
// answers the client must get. The rule behind every verdict: RFC 9112 §6.1 and §6.3 (framing), §7.1
// (chunked), §9.3 and §9.6 (persistence), §2.2 (line endings), §5.1-§5.2 (field syntax). Then every case
// that matters is sent again split at every byte, and must come out the same.
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { serve, type Server } from "../../src/index.ts";
import { RawConn } from "../fuzz/rawsock.ts";
import { sleep, waitFor } from "../support/http.ts";

interface Seen {
  m: string;
  u: string;
  /** The body as text, or null when reading it failed (the request was refused while its body came). */
  b: string | null;
}

let server: Server;
const byPort = new Map<number, Seen[]>();

beforeAll(() => {
  server = serve({
    port: 0,
    hostname: "127.0.0.1",
    development: false,
    idleTimeout: 5,
    fetch(req, srv) {
      const port = (srv as Server).requestIP(req)?.port ?? 0;
      const rec: Seen = { m: req.method, u: (req as unknown as { _target: string })._target, b: null };
      let l = byPort.get(port);
      if (!l) byPort.set(port, (l = []));
      l.push(rec);
      return req.text().then(
        (t) => {
          rec.b = t;
          return new Response(`ok ${rec.u}`);
        },
        () => new Response("body failed", { status: 499 }),
      );
    },
  });
});

afterAll(async () => {
  await server?.stop(true);
});

interface Outcome {
  /** "METHOD target" of every request the app saw, in order. */
  seen: string[];
  /** Their bodies (null: refused while the body came). */
  bodies: (string | null)[];
  /** Status codes the client got, in order (100 Continue left out). */
  statuses: number[];
  /** The server closed the connection (without our FIN when halfClose is false). */
  closed: boolean;
  text: string;
}

/**
 * Send `pieces` (one write each, 1 ms apart) on a fresh connection. With halfClose the client then
 * sends its FIN and waits for the server to finish; without, it waits up to `ms` for the server to
 * close on its own (what a refused request must lead to).
 */
async function run(pieces: string | string[], o: { halfClose?: boolean; ms?: number } = {}): Promise<Outcome> {
  const ps = typeof pieces === "string" ? [pieces] : pieces;
  const c = await RawConn.open(server.port);
  try {
    for (let i = 0; i < ps.length; i++) {
      if (i > 0) await sleep(1);
      await c.write(Buffer.from(ps[i]!, "latin1"));
    }
    if (o.halfClose ?? true) c.shutdownWrite();
    const closed = await c.readToEnd(o.ms ?? 3000);
    await sleep(0); // handlers settle on microtasks
    const text = c.received().toString("latin1");
    const recs = byPort.get(c.localPort) ?? [];
    byPort.delete(c.localPort);
    const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])).filter((s) => s !== 100);
    return { seen: recs.map((r) => `${r.m} ${r.u}`), bodies: recs.map((r) => r.b), statuses, closed, text };
  } finally {
    c.close();
  }
}

/** The outcome without the raw text (for comparing runs). */
const gist = (o: Outcome) => ({ seen: o.seen, bodies: o.bodies, statuses: o.statuses, closed: o.closed });

const H = "Host: a\r\n";
const post = (path: string, fields: string, body = "") => `POST ${path} HTTP/1.1\r\n${H}${fields}\r\n${body}`;
const get = (path: string, fields = "") => `GET ${path} HTTP/1.1\r\n${H}${fields}\r\n`;

/** A refused request: nothing reaches the app, one error answer, and the server closes by itself. */
async function refused(raw: string, status = 400): Promise<void> {
  const o = await run(raw, { halfClose: false, ms: 2000 });
  expect(gist(o)).toEqual({ seen: [], bodies: [], statuses: [status], closed: true });
  expect(o.text).toContain("Connection: close");
}

describe("CL.TE and TE.CL: both framing headers", () => {
  test("Content-Length then Transfer-Encoding: 400, nothing reaches the app (RFC 9112 §6.1)", async () => {
    await refused(post("/a", "Content-Length: 13\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"));
  });
  test("Transfer-Encoding then Content-Length: 400", async () => {
    await refused(post("/a", "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "8\r\nSMUGGLED\r\n0\r\n\r\n"));
  });
  test("an obfuscated Transfer-Encoding beside Content-Length: 400 whichever wins", async () => {
    for (const te of ["xchunked", " chunked", "chunked ", "\tchunked", "chunked, identity", "identity, chunked", "CHUNKED", ""]) {
      await refused(post("/a", `Content-Length: 4\r\nTransfer-Encoding:${te}\r\n`, "0\r\n\r\n"));
    }
  });
  test("an empty Transfer-Encoding still counts as one next to Content-Length", async () => {
    await refused(post("/a", "Transfer-Encoding:\r\nContent-Length: 5\r\n", "hello"));
  });
});

describe("TE.TE: obfuscated codings", () => {
  // OWS around a field value is not part of it (RFC 9112 §5): these are plain "chunked".
  for (const [name, te] of [
    ["leading SP", "  chunked"],
    ["trailing SP", "chunked "],
    ["HTAB before", "\tchunked"],
    ["upper case", "CHUNKED"],
    ["empty list elements", " , chunked ,"],
  ] as const) {
    test(`"Transfer-Encoding:${JSON.stringify(te).slice(1, -1)}" (${name}) is chunked: the body is decoded and the next request follows it`, async () => {
      const o = await run(post("/a", `Transfer-Encoding:${te}\r\n`, "3\r\nabc\r\n0\r\n\r\n") + get("/b"));
      expect(gist(o)).toEqual({ seen: ["POST /a", "GET /b"], bodies: ["abc", ""], statuses: [200, 200], closed: true });
    });
  }

  for (const [name, fields, status] of [
    ["xchunked", "Transfer-Encoding: xchunked\r\n", 400],
    ["chunk", "Transfer-Encoding: chunk\r\n", 400],
    ["quoted", 'Transfer-Encoding: "chunked"\r\n', 400],
    ["NUL after", "Transfer-Encoding: chunked\0\r\n", 400],
    ["chunked, identity (chunked not last, §6.3)", "Transfer-Encoding: chunked, identity\r\n", 400],
    ["identity, chunked (a coding we do not decode, §6.1)", "Transfer-Encoding: identity, chunked\r\n", 501],
    ["gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n", 501],
    ["chunked twice in a list", "Transfer-Encoding: chunked, chunked\r\n", 400],
    ["chunked on two lines", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400],
    ["chunked then identity on two lines", "Transfer-Encoding: chunked\r\nTransfer-encoding: identity\r\n", 400],
    ["identity then chunked on two lines", "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", 501],
    ["chunked with a parameter", "Transfer-Encoding: chunked;q=1\r\n", 400],
    ["space before the colon (§5.1)", "Transfer-Encoding : chunked\r\n", 400],
    ["obs-fold into the value (§5.2)", "Transfer-Encoding:\r\n chunked\r\n", 400],
    ["bare CR before it (§2.2)", "X: a\rTransfer-Encoding: chunked\r\n", 400],
    ["bare LF before it (§2.2)", "X: a\nTransfer-Encoding: chunked\r\n", 400],
  ] as const) {
    test(`Transfer-Encoding ${name}: ${status}`, async () => {
      await refused(post("/a", fields, "5\r\nhello\r\n0\r\n\r\n"), status);
    });
  }

  test("a folded Transfer-Encoding as the first field line is refused (whitespace after the start line, §2.2)", async () => {
    await refused(`POST /a HTTP/1.1\r\n Transfer-Encoding: chunked\r\n${H}\r\n0\r\n\r\n`);
  });
  test("Transfer-Encoding in HTTP/1.0 is faulty framing: 400 (§6.1)", async () => {
    await refused("POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  });
  test("a look-alike name is an ordinary field: framing by Content-Length", async () => {
    for (const name of ["Transfer_Encoding", "X-Transfer-Encoding", "Transfer-Encodings"]) {
      const o = await run(post("/a", `${name}: chunked\r\nContent-Length: 5\r\n`, "0\r\n\r\n") + get("/b"));
      // The 5 body bytes are "0\r\n\r\n"; the next request is /b.
      expect(gist(o)).toEqual({ seen: ["POST /a", "GET /b"], bodies: ["0\r\n\r\n", ""], statuses: [200, 200], closed: true });
    }
  });
});

describe("Content-Length", () => {
  for (const [name, fields] of [
    ["differing lines", "Content-Length: 5\r\nContent-Length: 6\r\n"],
    ["the same value on two lines", "Content-Length: 5\r\ncontent-length: 5\r\n"],
    ["a list of the same value", "Content-Length: 5, 5\r\n"],
    ["differing list", "Content-Length: 5, 6\r\n"],
    ["sign", "Content-Length: +5\r\n"],
    ["negative", "Content-Length: -5\r\n"],
    ["hex", "Content-Length: 0x5\r\n"],
    ["inner space", "Content-Length: 5 5\r\n"],
    ["empty", "Content-Length: \r\n"],
    ["2^53", "Content-Length: 9007199254740992\r\n"],
    ["space before the colon", "Content-Length : 5\r\n"],
  ] as const) {
    test(`Content-Length ${name}: 400`, async () => {
      await refused(post("/a", fields, "helloGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"));
    });
  }
  test("a GET with a body: the body is read by its length, not parsed as a request", async () => {
    const hidden = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    const o = await run(`GET /a HTTP/1.1\r\n${H}Content-Length: ${hidden.length}\r\n\r\n${hidden}`);
    expect(gist(o)).toEqual({ seen: ["GET /a"], bodies: [hidden], statuses: [200], closed: true });
  });
});

describe("chunked bodies", () => {
  test("a request inside chunk data stays data", async () => {
    const hidden = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    const o = await run(post("/a", "Transfer-Encoding: chunked\r\n", `${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`));
    expect(gist(o)).toEqual({ seen: ["POST /a"], bodies: [hidden], statuses: [200], closed: true });
  });
  test("the request after the last chunk is the next request", async () => {
    const o = await run(post("/a", "Transfer-Encoding: chunked\r\n", "1\r\nA\r\n0\r\n\r\n") + get("/b"));
    expect(gist(o)).toEqual({ seen: ["POST /a", "GET /b"], bodies: ["A", ""], statuses: [200, 200], closed: true });
  });
  test("trailer fields do not frame: Content-Length and Transfer-Encoding in the trailer are ignored", async () => {
    const o = await run(post("/a", "Transfer-Encoding: chunked\r\n", "1\r\nA\r\n0\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n") + get("/b"));
    expect(gist(o)).toEqual({ seen: ["POST /a", "GET /b"], bodies: ["A", ""], statuses: [200, 200], closed: true });
  });
  for (const [name, body, status] of [
    ["more data than the size", "1\r\nAB\r\n0\r\n\r\n"],
    ["less data than the size", "3\r\nAB\r\n0\r\n\r\n"],
    ["a sign", "+1\r\nA\r\n0\r\n\r\n"],
    ["a negative size", "-1\r\nA\r\n0\r\n\r\n"],
    ["0x", "0x1\r\nA\r\n0\r\n\r\n"],
    // 400: a size past 2^53-1 is an overflow, refused at its digit (the body limit applies to complete sizes).
    ["16 hex digits (2^64 wraps to 0 in 64 bits)", "10000000000000000\r\nA\r\n0\r\n\r\n"],
    ["65-bit overflow to 1", "10000000000000001\r\nA\r\n0\r\n\r\n"],
    // 413: a representable size over maxRequestBodySize (128 MiB).
    ["a size over the body limit", "8000001\r\nA\r\n0\r\n\r\n", 413],
    ["a bare LF after the size", "1\nA\r\n0\r\n\r\n"],
    ["a bare CR after the size", "1\rA\r\n0\r\n\r\n"],
    ["a bare LF after the data", "1\r\nA\n0\r\n\r\n"],
    ["whitespace after the size", "1 \r\nA\r\n0\r\n\r\n"],
    ["a request in an extension", "0;GET /smuggled HTTP/1.1\r\n\r\n"],
    ["an unterminated quoted extension", '0;a="x\r\n\r\n'],
    ["a folded trailer", "0\r\nX: 1\r\n Y: 2\r\n\r\n"],
    ["a trailer without a colon", "0\r\nX\r\n\r\n"],
    ["a last chunk without the final CRLF, then a request", "0\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"],
  ] as [string, string, number?][]) {
    test(`a chunk with ${name}: refused, the rest is never parsed`, async () => {
      const o = await run(post("/a", "Transfer-Encoding: chunked\r\n", body) + get("/smuggled"), { halfClose: false, ms: 2000 });
      // The app may have seen /a (its head was fine) but never its body, and never /smuggled.
      expect(o.seen.filter((s) => s !== "POST /a")).toEqual([]);
      expect(o.bodies.filter((b) => b !== null)).toEqual([]);
      expect({ statuses: o.statuses, closed: o.closed }).toEqual({ statuses: [status ?? 400], closed: true });
    });
  }
});

describe("pipelines and persistence", () => {
  test("nothing after Connection: close is processed (§9.6)", async () => {
    const o = await run(get("/a", "Connection: close\r\n") + get("/b") + post("/c", "Content-Length: 1\r\n", "x"), { halfClose: false });
    expect(gist(o)).toEqual({ seen: ["GET /a"], bodies: [""], statuses: [200], closed: true });
    expect(o.text).toContain("Connection: close");
  });
  test("close wins over keep-alive in the same field (§9.3)", async () => {
    const o = await run("GET /a HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n" + get("/b"), { halfClose: false });
    expect(gist(o)).toEqual({ seen: ["GET /a"], bodies: [""], statuses: [200], closed: true });
  });
  test("HTTP/1.0 without keep-alive ends after its response", async () => {
    const o = await run("GET /a HTTP/1.0\r\n\r\n" + get("/b"), { halfClose: false });
    expect(gist(o)).toEqual({ seen: ["GET /a"], bodies: [""], statuses: [200], closed: true });
  });
  test("HTTP/1.0 with keep-alive goes on", async () => {
    const o = await run("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get("/b"));
    expect(gist(o)).toEqual({ seen: ["GET /a", "GET /b"], bodies: ["", ""], statuses: [200, 200], closed: true });
  });
  test("a pipeline followed by the client's FIN gets every answer, in order", async () => {
    // Found by the differential fuzzer: after the FIN, every queued answer was marked "close" and the
    // first one ended the connection, dropping the rest (whose handlers had already run).
    const o = await run(get("/1") + get("/2") + post("/3", "Content-Length: 2\r\n", "ok") + get("/4"));
    expect(gist(o)).toEqual({ seen: ["GET /1", "GET /2", "POST /3", "GET /4"], bodies: ["", "", "ok", ""], statuses: [200, 200, 200, 200], closed: true });
    expect(o.text.match(/ok \/\d/g)).toEqual(["ok /1", "ok /2", "ok /3", "ok /4"]);
  });
  test("a pipeline ending in a malformed request: the good ones are answered, then 400, then close", async () => {
    const o = await run(get("/1") + get("/2") + "GET /3 HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n" + get("/4"), { halfClose: false, ms: 2000 });
    expect(gist(o)).toEqual({ seen: ["GET /1", "GET /2"], bodies: ["", ""], statuses: [200, 200, 400], closed: true });
  });
  test("the same, with the client's FIN right after the bytes", async () => {
    const o = await run(get("/1") + get("/2") + "GET /3 HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n" + get("/4"));
    expect(gist(o)).toEqual({ seen: ["GET /1", "GET /2"], bodies: ["", ""], statuses: [200, 200, 400], closed: true });
  });
});

describe("split at every byte", () => {
  // Cases where framing decides everything: each is sent whole, then in two writes at every split
  // point, then one byte per write; every run must give the same requests, bodies and answers.
  const cases: [string, string, boolean][] = [
    ["chunked then CL then GET", post("/a", "Transfer-Encoding: chunked\r\n", "3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n") + post("/b", "Content-Length: 4\r\n", "wxyz") + get("/c"), true],
    ["CL.TE refused", post("/a", "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nX") + get("/smuggled"), false],
    ["chunk overrun refused", post("/a", "Transfer-Encoding: chunked\r\n", "1\r\nAB\r\n0\r\n\r\n") + get("/smuggled"), false],
    ["duplicate equal Content-Length", post("/a", "Content-Length: 3\r\nContent-Length: 3\r\n", "abc") + get("/b"), true],
  ];
  for (const [name, raw, halfClose] of cases) {
    test(`${name} (${raw.length} bytes, ${raw.length + 1} runs)`, async () => {
      const whole = gist(await run(raw, { halfClose, ms: 2000 }));
      const bad: string[] = [];
      for (let i = 1; i < raw.length; i++) {
        const split = gist(await run([raw.slice(0, i), raw.slice(i)], { halfClose, ms: 2000 }));
        if (JSON.stringify(split) !== JSON.stringify(whole)) bad.push(`split at ${i}: ${JSON.stringify(split)}`);
      }
      const bytes = gist(await run([...raw], { halfClose, ms: 2000 }));
      if (JSON.stringify(bytes) !== JSON.stringify(whole)) bad.push(`one byte per write: ${JSON.stringify(bytes)}`);
      expect(bad).toEqual([]);
      expect(whole.statuses.length).toBeGreaterThan(0);
    }, 60_000);
  }
});

test("serve() holds nothing after the corpus", async () => {
  const ok = await waitFor(() => {
    const s = server.stats();
    return s.connections === 0 && s.pendingRequests === 0 && s.buffersOut === 0 && s.queuedBytes === 0;
  }, 3000);
  const s = server.stats();
  expect({ ok, connections: s.connections, pendingRequests: s.pendingRequests, buffersOut: s.buffersOut, queuedBytes: s.queuedBytes }).toEqual({
    ok: true,
    connections: 0,
    pendingRequests: 0,
    buffersOut: 0,
    queuedBytes: 0,
  });
});
