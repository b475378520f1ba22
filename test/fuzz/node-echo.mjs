// The oracle for the differential fuzzer: a node:http echo server (llhttp in its default, strict mode:
// no insecureHTTPParser, no lenient flags), run as a child `node` process. It answers nothing useful on
// the wire; it reports what the application saw, one JSON line per event on stdout, keyed by the
// client's port (`c`), so the harness can match events to its connection:
//   {"port": N, "methods": [...]}                    once, when listening (methods: llhttp's list)
//   {"c", "t":"req", "i", "m", "u", "v", "h"}        a request reached the app (method, raw url, version,
//                                                    rawHeaders as [name, value] pairs)
//   {"c", "t":"body", "i", "b"}                      its body, complete (base64)
//   {"c", "t":"abort", "i"}                          its body did not complete
//   {"c", "t":"err", "code", "at"}                   the server rejected the bytes (llhttp's HPE_* code,
//                                                    or MISSING_HOST / EXPECTATION_FAILED, see below)
//   {"c", "t":"close"}                               the connection closed
// Node's two request checks that live above llhttp are done here instead of by node itself, so that
// they are reported like parser errors: a missing Host in HTTP/1.1 (node's requireHostHeader) and an
// Expect other than 100-continue (node's checkExpectation), each with the status node would send.
import http from "node:http";

const out = [];
let flushing = false;
function emit(o) {
  out.push(JSON.stringify(o));
  if (!flushing) {
    flushing = true;
    queueMicrotask(() => {
      flushing = false;
      const s = out.join("\n") + "\n";
      out.length = 0;
      process.stdout.write(s);
    });
  }
}

const server = http.createServer({ requireHostHeader: false, keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 30_000 });
const counters = new WeakMap();

// A socket whose request was rejected here: node's parser goes on with later bytes, which a server
// that closes after a 4xx would never see; they are not reported.
const rejected = new WeakSet();

function reject(socket, code, status) {
  rejected.add(socket);
  emit({ c: socket.remotePort, t: "err", code, at: -1 });
  if (!socket.destroyed) socket.end(`HTTP/1.1 ${status} X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroySoon?.();
}

server.on("connection", (socket) => {
  counters.set(socket, 0);
  const c = socket.remotePort;
  socket.on("close", () => emit({ c, t: "close" }));
});

server.on("request", (req, res) => {
  const socket = req.socket;
  const c = socket.remotePort;
  if (rejected.has(socket)) return;
  const i = counters.get(socket) ?? 0;
  counters.set(socket, i + 1);
  if (req.httpVersion === "1.1" && req.headers.host === undefined) {
    // node's requireHostHeader (RFC 9112 §3.2): 400 and close.
    return reject(socket, "MISSING_HOST", 400);
  }
  const h = [];
  for (let k = 0; k < req.rawHeaders.length; k += 2) h.push([req.rawHeaders[k], req.rawHeaders[k + 1]]);
  emit({ c, t: "req", i, m: req.method, u: req.url, v: req.httpVersion, h });
  const parts = [];
  let ended = false;
  req.on("data", (d) => parts.push(d));
  req.on("end", () => {
    ended = true;
    emit({ c, t: "body", i, b: Buffer.concat(parts).toString("base64") });
    // An explicit length: without it node answers HTTP/1.0 keep-alive requests close-delimited and
    // closes, and whether a pipelined request got in before that is a race.
    res.writeHead(200, { "Content-Length": "2" });
    res.end("ok");
  });
  req.on("aborted", () => {
    if (!ended) emit({ c, t: "abort", i });
  });
  req.on("error", () => {});
});

server.on("checkExpectation", (req, res) => {
  reject(req.socket, "EXPECTATION_FAILED", 417);
});

server.on("clientError", (err, socket) => {
  emit({ c: socket.remotePort, t: "err", code: err.code ?? "ERR", at: err.bytesParsed ?? -1, r: err.reason });
  if (socket.writable) socket.end(`HTTP/1.1 400 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroySoon?.();
  setTimeout(() => socket.destroy(), 50).unref();
});

// CONNECT and Upgrade: node hands the socket to these events; without a listener it destroys it.
// Recorded as their own outcome so the harness can tell them apart.
server.on("connect", (req, socket) => {
  emit({ c: socket.remotePort, t: "err", code: "CONNECT", at: -1 });
  socket.destroy();
});
server.on("upgrade", (req, socket) => {
  emit({ c: socket.remotePort, t: "err", code: "UPGRADE", at: -1 });
  socket.destroy();
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, methods: http.METHODS }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
