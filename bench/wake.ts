// What it costs Bun's thread to be woken through an eventfd (how a parked driver wakes:
// src/loop/driver.ts), by the Waker (src/loop/waker.ts) or by Bun's own file-stream reader,
// against a timer wake at the same period.
//
//   taskset -c 0 bun bench/wake.ts [waker|stream|timer] [COUNT]
//
// A Worker writes the eventfd every 20 ms; the main thread is woken by the Waker ("waker"), reads
// the eventfd through Bun.file(fd).stream() ("stream"), or only wakes on a 20 ms setInterval
// ("timer"). Prints the process's CPU per wake (the Worker's included: it sleeps in between), the
// latency from the write to the wake, and for "stream" the size of the buffer behind each 8-byte
// chunk. Run with BUN_JSC_logGC=1 to count the young collections the reads provoke.
import { dlopen, FFIType } from "bun:ffi";
import { Waker } from "../src/loop/waker.ts";

const mode = process.argv[2] ?? "stream";
const count = Number(process.argv[3] ?? 150);
const WARMUP = 5;
const EFD_NONBLOCK = 0o4000, EFD_CLOEXEC = 0o2000000;

const libc = dlopen("libc.so.6", { eventfd: { args: [FFIType.u32, FFIType.i32], returns: FFIType.i32 } });
const efd = libc.symbols.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
if (efd < 0) throw new Error("eventfd() failed");

const writer = new Worker(URL.createObjectURL(new Blob([`
  import { dlopen, FFIType, ptr } from "bun:ffi";
  const libc = dlopen("libc.so.6", { write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 } });
  const one = new BigUint64Array([1n]);
  self.onmessage = async (e) => {
    const [fd, n, sab] = e.data;
    const sentAt = new Float64Array(sab);
    for (let i = 0; i < n; i++) {
      await Bun.sleep(20);
      sentAt[0] = performance.timeOrigin + performance.now();
      libc.symbols.write(fd, ptr(one), 8);
    }
  };
`], { type: "application/javascript" })));

let wakes = 0;
let start: NodeJS.CpuUsage | null = null;
let chunkBuffer = 0;
const finished = Promise.withResolvers<void>();
const sentAt = new Float64Array(new SharedArrayBuffer(8));
const latencies: number[] = [];
function onWake(): void {
  if (mode !== "timer" && wakes >= WARMUP) latencies.push((performance.timeOrigin + performance.now() - sentAt[0]!) * 1000);
  wakes++;
  if (wakes === WARMUP) start = process.cpuUsage();
  if (wakes === WARMUP + count) finished.resolve();
}

if (mode === "waker") {
  const waker = new Waker(efd, () => {
    onWake();
    waker.arm();
  });
  waker.ref(true);
  waker.arm();
} else if (mode === "stream") {
  const reader = Bun.file(efd).stream().getReader();
  const next = (): void => {
    reader.read().then((r) => {
      if (r.done) return;
      chunkBuffer = r.value.buffer.byteLength;
      onWake();
      next();
    });
  };
  next();
} else if (mode === "timer") {
  const t = setInterval(() => {
    onWake();
    if (wakes >= WARMUP + count) clearInterval(t);
  }, 20);
} else {
  throw new Error(`mode is waker, stream or timer, got ${mode}`);
}
writer.postMessage([efd, WARMUP + count + 5, sentAt.buffer]);
await finished.promise;
const cpu = process.cpuUsage(start!);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.floor(latencies.length * p)]!.toFixed(0);
console.log(
  `${mode}: ${count} wakes, CPU a wake: user ${(cpu.user / count).toFixed(0)} µs, system ${(cpu.system / count).toFixed(0)} µs` +
    (latencies.length ? `; write to wake p50 ${pct(0.5)} µs, p90 ${pct(0.9)} µs` : "") +
    (mode === "stream" ? `; each 8-byte chunk is a view of a ${chunkBuffer}-byte ArrayBuffer` : ""),
);
process.exit(0);
