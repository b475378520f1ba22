// Real HTTP clients against serve(): curl, Python's http.client, ab and Node's http client, as users and proxies drive a
// server (Expect: 100-continue on a large POST, a chunked upload, connection reuse, HTTP/1.0, HEAD,
// a streamed response). Each client's tests are skipped where it is not installed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";

import { serve, type Server } from "../../src/index.ts";
import { pulledEvents, pulledEventsText } from "../support/http.ts";
import { patternBytes, tempDir } from "../support/uring.ts";

let server: Server;
let base = "";
const tmp = tempDir("clients-");
// Over 1 MiB: curl sends Expect: 100-continue and waits for the interim answer before the body.
const upload = patternBytes(2 * 1024 * 1024 + 77);
const uploadSha = createHash("sha256").update(upload).digest("hex");

beforeAll(async () => {
  await Bun.write(tmp.path("upload.bin"), upload);
  server = serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/echo") {
        const body = await req.bytes();
        return new Response(createHash("sha256").update(body).digest("hex"), {
          headers: { "x-length": String(body.length), "x-expect": req.headers.get("expect") ?? "", "x-te": req.headers.get("transfer-encoding") ?? "" },
        });
      }
      if (url.pathname === "/stream") {
        return new Response(pulledEvents(), { headers: { "content-type": "text/plain" } });
      }
      return new Response(`${req.method} ${url.pathname}${url.search}`);
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.stop(true);
  tmp.remove();
});

async function run(cmd: string[]): Promise<{ out: string; err: string; code: number }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

describe.skipIf(!Bun.which("curl"))("curl", () => {
  test("a 2 MiB POST: curl's Expect: 100-continue gets its 100, then the whole body arrives", async () => {
    const r = await run(["curl", "-sS", "-v", "--max-time", "20", "--data-binary", `@${tmp.path("upload.bin")}`, "-D", "-", `${base}/echo`]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/> Expect: 100-continue/i);
    expect(r.out).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(r.out).toMatch(new RegExp(`x-length: ${upload.length}\r\n`, "i"));
    expect(r.out.endsWith(uploadSha), `body: got ${r.out.slice(-80)}`).toBe(true);
  });

  test("a chunked upload (-T with Transfer-Encoding: chunked) reads as the same bytes", async () => {
    const r = await run(["curl", "-sS", "--max-time", "20", "-T", tmp.path("upload.bin"), "-H", "Transfer-Encoding: chunked", "-D", "-", `${base}/echo`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/x-te: chunked\r\n/i);
    expect(r.out).toMatch(new RegExp(`x-length: ${upload.length}\r\n`, "i"));
    expect(r.out.endsWith(uploadSha)).toBe(true);
  });

  test("two URLs on one command line share one connection", async () => {
    const r = await run(["curl", "-sS", "-v", "--max-time", "10", `${base}/a`, `${base}/b?x=1`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe("GET /aGET /b?x=1");
    expect(r.err).toMatch(/Re-using existing connection/i);
  });

  test("HTTP/1.0 (-0): the answer closes the connection and says so", async () => {
    const r = await run(["curl", "-sS", "-0", "--max-time", "10", "-D", "-", `${base}/old`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.out).toMatch(/\r\nConnection: close\r\n/i);
    expect(r.out.endsWith("GET /old")).toBe(true);
  });

  test("a streamed response arrives whole, chunked", async () => {
    const r = await run(["curl", "-sS", "-N", "--max-time", "10", "-D", "-", `${base}/stream`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/transfer-encoding: chunked\r\n/i);
    expect(r.out.endsWith(pulledEventsText())).toBe(true);
  });
});

describe.skipIf(!Bun.which("python3"))("Python http.client", () => {
  test("keep-alive GETs, a chunked POST from a generator, HEAD and a streamed body on one connection", async () => {
    const py = `
import http.client, sys, hashlib
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
out = []
for i in range(3):
    c.request("GET", f"/p{i}"); r = c.getresponse(); out.append(f"{r.status} {r.read().decode()}")
def gen():
    for i in range(4): yield bytes([i]) * 3000
c.request("POST", "/echo", body=gen(), encode_chunked=True)
r = c.getresponse(); body = r.read().decode()
out.append(f"{r.status} {r.getheader('x-length')} {r.getheader('x-te')} {body == hashlib.sha256(b''.join(gen())).hexdigest()}")
c.request("HEAD", "/h"); r = c.getresponse(); out.append(f"HEAD {r.status} {r.getheader('content-length')} {r.read()!r}")
c.request("GET", "/stream"); r = c.getresponse(); out.append(f"{r.status} {r.getheader('transfer-encoding')} {r.read().decode().count('event')}")
print("|".join(out))
`;
    const r = await run(["python3", "-c", py, String(server.port)]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split("|")).toEqual([
      "200 GET /p0",
      "200 GET /p1",
      "200 GET /p2",
      "200 12000 chunked True",
      "HEAD 200 7 b''",
      "200 chunked 5",
    ]);
  });
});

describe.skipIf(!Bun.which("ab"))("ab (ApacheBench)", () => {
  test("HTTP/1.0 keep-alive (-k): every request answered on kept connections, none failed", async () => {
    const r = await run(["ab", "-q", "-n", "400", "-c", "4", "-k", "-s", "10", `${base}/ab`]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/Complete requests:\s+400\n/);
    expect(r.out).toMatch(/Failed requests:\s+0\n/);
    expect(r.out).toMatch(/Keep-Alive requests:\s+400\n/);
  });
});

describe.skipIf(!Bun.which("node"))("Node's http client", () => {
  test("a keep-alive agent, a chunked POST written in pieces, Expect: 100-continue answered before the body", async () => {
    const js = `
const http = require("node:http"), crypto = require("node:crypto");
const port = Number(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const ask = (opts, write) => new Promise((resolve, reject) => {
  const req = http.request({ host: "127.0.0.1", port, agent, ...opts }, (res) => {
    let body = "";
    res.on("data", (d) => (body += d));
    res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body, socket: req.socket }));
  });
  req.on("error", reject);
  write(req);
});
(async () => {
  const out = [];
  const sockets = new Set();
  for (let i = 0; i < 3; i++) {
    const r = await ask({ path: "/n" + i }, (req) => req.end());
    sockets.add(r.socket);
    out.push(r.status + " " + r.body);
  }
  const pieces = [Buffer.alloc(1000, 1), Buffer.alloc(2000, 2), Buffer.alloc(3000, 3)];
  const sha = crypto.createHash("sha256").update(Buffer.concat(pieces)).digest("hex");
  const chunked = await ask({ method: "POST", path: "/echo" }, (req) => { for (const p of pieces) req.write(p); req.end(); });
  out.push(chunked.status + " " + chunked.headers["x-te"] + " " + chunked.headers["x-length"] + " " + (chunked.body === sha));
  let continued = false;
  const expect = await ask({ method: "POST", path: "/echo", headers: { expect: "100-continue", "content-length": 6000 } }, (req) => {
    req.on("continue", () => { continued = true; for (const p of pieces) req.write(p); req.end(); });
  });
  out.push(expect.status + " " + continued + " " + expect.headers["x-length"] + " " + (expect.body === sha));
  out.push("sockets " + sockets.size);
  agent.destroy();
  console.log(out.join("|"));
})().catch((e) => { console.error(e); process.exit(1); });
`;
    const r = await run(["node", "-e", js, String(server.port)]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split("|")).toEqual(["200 GET /n0", "200 GET /n1", "200 GET /n2", "200 chunked 6000 true", "200 true 6000 true", "sockets 1"]);
  });
});
