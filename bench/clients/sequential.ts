// One connection, one request at a time, every latency kept: the percentiles of a sequential
// client without wrk's histogram, and how often a request is slow (the tail's rate).
//
//   bun bench/clients/sequential.ts PORT [SECONDS] [PATH] [GAP_MS]   (run it pinned: taskset -c 1)
//
// GAP_MS > 0 waits that long after each response before the next request (scenario low-rate: a
// server that goes idle between requests). Prints one line: n, p50, p90, p99, p99.9, max (µs), and
// the requests over 300 µs per second; then the same as `SEQ_JSON {...}` for bench/http.ts
// (scenarios latency and low-rate).
//
// Unlike wrk's, these percentiles are of the requests themselves: wrk corrects its histogram for
// coordinated omission (wrk.c, stats_correct: a latency of at least twice the mean interval adds
// synthetic samples at every interval below it), so at one connection one 0.5 ms pause counts as
// some eight slow requests. Both views are worth having; they answer different questions.
import { responseLength } from "./framing.ts";

const [portArg = "", secsArg = "5", path = "/plaintext", gapArg = "0"] = process.argv.slice(2);
const port = Number(portArg);
const secs = Number(secsArg);
const gapMs = Number(gapArg);
if (!port || !(secs > 0) || !(gapMs >= 0)) {
  process.stderr.write("usage: sequential.ts PORT [SECONDS] [PATH] [GAP_MS]\n");
  process.exit(2);
}
const request = new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
const latencies: number[] = [];
let sentAt = 0;
let pending = "";
const start = performance.now();
const { promise: done, resolve } = Promise.withResolvers<void>();

const socket = await Bun.connect({
  hostname: "127.0.0.1",
  port,
  socket: {
    data(s, bytes) {
      pending += bytes.toString("latin1");
      const n = responseLength(pending);
      if (n < 0) return;
      const now = performance.now();
      latencies.push(now - sentAt);
      pending = pending.slice(n);
      if (now - start >= secs * 1000) {
        s.end();
        resolve();
        return;
      }
      if (gapMs > 0) setTimeout(send, gapMs, s);
      else send(s);
    },
    close: () => resolve(),
  },
});
function send(s: { write(b: Uint8Array): number }): void {
  sentAt = performance.now();
  s.write(request);
}
send(socket);
await done;

const sorted = Float64Array.from(latencies).sort();
const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1000);
const slow = latencies.filter((l) => l > 0.3).length;
console.log(
  `n=${sorted.length} p50=${at(0.5)}µs p90=${at(0.9)}µs p99=${at(0.99)}µs p99.9=${at(0.999)}µs ` +
    `max=${Math.round(sorted[sorted.length - 1]! * 1000)}µs slow(>300µs)/s=${(slow / secs).toFixed(1)}`,
);
console.log(`SEQ_JSON ${JSON.stringify({
  requests: sorted.length, seconds: (performance.now() - start) / 1000, p50_us: at(0.5), p90_us: at(0.9), p99_us: at(0.99), p999_us: at(0.999), slow_per_s: slow / secs,
})}`);
