// serve() behind nginx, the usual deployment: nginx's default proxy (HTTP/1.0 to the upstream, a
// connection a request, the response buffered) and a keep-alive upstream (HTTP/1.1, `keepalive`,
// nothing buffered). Skipped where nginx is not installed (scripts/setup.mjs installs it for the
// benchmarks with BUN_URING_SETUP_EXTRA=nginx).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, existsSync } from "node:fs";

import { serve, type Server } from "../../src/index.ts";
import { pulledEvents, pulledEventsText } from "../support/http.ts";
import { freePort, patternBytes, tempDir, waitFor } from "../support/uring.ts";

const nginxBin = Bun.which("nginx") ?? (existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : null);

let server: Server;
let nginx: ReturnType<typeof Bun.spawn> | null = null;
let plainProxy = "";
let keepAliveProxy = "";
const tmp = tempDir("nginx-");
const upload = patternBytes(2 * 1024 * 1024 + 5);
const uploadSha = createHash("sha256").update(upload).digest("hex");

beforeAll(async () => {
  if (!nginxBin) return;
  server = serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req, srv) {
      const url = new URL(req.url);
      const from = String(srv.requestIP(req)?.port ?? 0);
      if (url.pathname === "/echo") {
        const body = await req.bytes();
        return new Response(createHash("sha256").update(body).digest("hex"), { headers: { "x-length": String(body.length), "x-from": from } });
      }
      if (url.pathname === "/stream") {
        return new Response(pulledEvents(), { headers: { "content-type": "text/plain", "x-from": from } });
      }
      return new Response(`${req.method} ${url.pathname}${url.search} ${req.headers.get("host")}`, { headers: { "x-from": from } });
    },
  });
  const [p1, p2] = [freePort(), freePort()]; // nginx needs numbers in its configuration
  // nginx's worker (www-data or nobody, when the master is root) writes request bodies under here.
  chmodSync(tmp.dir, 0o755);
  for (const d of ["cb", "pt", "ft", "ut", "st"]) await Bun.write(tmp.path(`${d}/.keep`), "");
  const conf = `
worker_processes 1;
daemon off;
pid ${tmp.path("nginx.pid")};
error_log ${tmp.path("error.log")} warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${tmp.path("cb")}; proxy_temp_path ${tmp.path("pt")}; fastcgi_temp_path ${tmp.path("ft")};
  uwsgi_temp_path ${tmp.path("ut")}; scgi_temp_path ${tmp.path("st")};
  client_max_body_size 16m;
  upstream app { server 127.0.0.1:${server.port}; keepalive 4; }
  server { listen 127.0.0.1:${p1}; location / { proxy_pass http://127.0.0.1:${server.port}; } }
  server {
    listen 127.0.0.1:${p2};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; proxy_request_buffering off; }
  }
}
`;
  await Bun.write(tmp.path("nginx.conf"), conf);
  nginx = Bun.spawn([nginxBin, "-p", tmp.dir, "-c", tmp.path("nginx.conf")], { stdout: "ignore", stderr: "pipe" });
  plainProxy = `http://127.0.0.1:${p1}`;
  keepAliveProxy = `http://127.0.0.1:${p2}`;
  // nginx needs a moment to listen.
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${plainProxy}/ready`);
      break;
    } catch {
      await Bun.sleep(50);
    }
  }
});

afterAll(async () => {
  nginx?.kill();
  await nginx?.exited;
  if (process.env.DEBUG_NGINX) console.log(await Bun.file(tmp.path("error.log")).text()); // nginx's own view of a failure
  await server?.stop(true);
  tmp.remove();
});

describe.skipIf(!nginxBin)("behind nginx", () => {
  for (const [name, base] of [["default proxy (HTTP/1.0 upstream)", () => plainProxy], ["keep-alive upstream (HTTP/1.1, unbuffered)", () => keepAliveProxy]] as const) {
    test(`${name}: GET, a 2 MiB POST and a streamed body arrive whole`, async () => {
      const get = await fetch(`${base()}/a?b=1`);
      expect(get.status).toBe(200);
      expect(await get.text()).toMatch(/^GET \/a\?b=1 /);

      const post = await fetch(`${base()}/echo`, { method: "POST", body: upload });
      expect(post.status).toBe(200);
      expect(post.headers.get("x-length")).toBe(String(upload.length));
      expect(await post.text()).toBe(uploadSha);

      const stream = await fetch(`${base()}/stream`);
      expect(stream.status).toBe(200);
      expect(await stream.text()).toBe(pulledEventsText());
    });
  }

  /** GET `${base}/${name}i` `n` times, one after another; the client ports they reached us from. */
  async function upstreamPorts(base: string, name: string, n: number): Promise<Set<string>> {
    const ports = new Set<string>();
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${base}/${name}${i}`);
      expect(await res.text()).toMatch(new RegExp(`^GET /${name}${i} `));
      ports.add(res.headers.get("x-from")!);
    }
    return ports;
  }

  test("the keep-alive upstream reuses its connections to us (20 requests, at most 2 of them)", async () => {
    const ports = await upstreamPorts(keepAliveProxy, "k", 20);
    expect(ports.size, `upstream connections: ${[...ports].join(", ")}`).toBeLessThanOrEqual(2);
  });

  test("the default proxy's HTTP/1.0 requests each get an answer and a close (a new connection each)", async () => {
    const ports = await upstreamPorts(plainProxy, "c", 5);
    expect(ports.size).toBe(5);
    expect(await waitFor(() => server.stats().connections <= 1, 2000), `connections left: ${server.stats().connections}`).toBe(true);
  });
});
