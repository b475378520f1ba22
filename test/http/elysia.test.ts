// A second real framework switches by one import: the same Elysia app under
// `Bun.serve({ fetch: app.fetch })` and `serve({ fetch: app.fetch })`, compared by status, headers
// (Date aside) and body. Elysia reads a request the way its compiled handlers do: it touches
// `req.body` to see whether there is one, then calls `req.json()` or `req.formData()` (before the
// fix in src/net/http/body.ts every JSON body came back a 400 here), and it sets its own
// Accept-Ranges on a Bun.file.
//
// KNOWN_DIFFERENCES (beyond those of compat.test.ts)
// - A Bun.file answer: we add ETag and Last-Modified (the file server's validators), Bun.serve does not.
// (A generator handler is a text/plain stream: it was collected whole and sent with a Content-Length
// until src/net/http/response.ts learned to tell such a stream from a Bun.file without taking it.)
import { describe, expect, test, beforeAll, afterAll } from "bun:test";
import { Elysia, t } from "elysia";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bothServers } from "../support/frameworks.ts";

const dir = mkdtempSync(join(tmpdir(), "bun-uring-elysia-"));
const file = join(dir, "hello.txt");
writeFileSync(file, "hello from a file\n");

function makeApp() {
  return new Elysia()
    .get("/", () => "Hello Elysia")
    .get("/json", () => ({ a: 1, b: [true, null] }))
    .get("/user/:id", ({ params }) => `user ${params.id}`)
    .get("/query", ({ query }) => query)
    .post("/body", ({ body }) => ({ got: body }), { body: t.Object({ name: t.String() }) })
    .post("/form", ({ body }) => body)
    .post("/text", ({ body }) => `text: ${body}`)
    .get("/headers", ({ headers }) => headers["x-test"] ?? "none")
    .get("/cookie", ({ cookie: { session } }) => {
      session!.value = "abc";
      return "set";
    })
    .get("/status", ({ set }) => {
      set.status = 418;
      set.headers["x-h"] = "1";
      return "teapot";
    })
    .get("/throw", () => {
      throw new Error("boom");
    })
    .get("/stream", async function* () {
      yield "a";
      await Bun.sleep(1);
      yield "b";
    })
    .get("/file", () => Bun.file(file));
}

describe("an Elysia app under Bun.serve and serve()", () => {
  const pair = bothServers(makeApp().fetch);
  beforeAll(() => pair.start());
  afterAll(async () => {
    await pair.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const json = (v: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(v), headers: { "content-type": "application/json" } });
  const cases: [string, string, () => RequestInit | undefined, number][] = [
    ["text", "/", () => undefined, 200],
    ["JSON out", "/json", () => undefined, 200],
    ["route param", "/user/42", () => undefined, 200],
    ["query", "/query?a=1&b=x%20y", () => undefined, 200],
    ["a JSON body, validated", "/body", () => json({ name: "x" }), 200],
    ["a JSON body that fails validation: 422", "/body", () => json({}), 422],
    ["a urlencoded form", "/form", () => ({ method: "POST", body: new URLSearchParams({ a: "1", b: "two" }) }), 200],
    ["a text body", "/text", () => ({ method: "POST", body: "plain words", headers: { "content-type": "text/plain" } }), 200],
    ["request header", "/headers", () => ({ headers: { "x-test": "yes" } }), 200],
    ["cookie out", "/cookie", () => undefined, 200],
    ["status and header", "/status", () => undefined, 418],
    ["a throw: 500", "/throw", () => undefined, 500],
    ["a generator body", "/stream", () => undefined, 200],
    ["a Bun.file", "/file", () => undefined, 200],
    ["404", "/no/such/route", () => undefined, 404],
  ];
  for (const [name, path, init, status] of cases) {
    test(name, async () => {
      let { bun, uring } = await pair.ask(path, init());
      expect(uring.status, `${name}: status`).toBe(status);
      if (path === "/file") uring = { ...uring, headers: uring.headers.filter(([k]) => k !== "etag" && k !== "last-modified") };
      const o = JSON.stringify(uring), b = JSON.stringify(bun);
      if (o !== b) throw new Error(`${name}: got ${o}, wanted (as Bun.serve) ${b}`);
    });
  }
});
