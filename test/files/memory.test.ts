// 1000 concurrent downloads of a large file from a server in a child process, whose RSS
// (/proc/PID/status VmRSS) must stay bounded: each response holds at most 4 x 64 KiB of file
// bytes and all of them at most DEFAULT_MAX_BLOCKS x 64 KiB, whatever the clients do. First the
// clients read nothing for a while (the server must not buffer the files), then everything; every
// client must get every byte.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Pointer } from "bun:ffi";
import { NativeRegion } from "../../src/ffi/memory.ts";
import { DEFAULT_MAX_BLOCKS, READ_BLOCK } from "../../src/net/http/files.ts";
import { connectBlocking, setNonBlocking, tlibc, lastErrno } from "../support/uring.ts";
import { tempTree, writeRandomFile, sha256 } from "./support.ts";

const CLIENTS = 1000;
const SIZE = 2 << 20; // 2 MiB each: 2 GiB in all, 1000x what one response may hold
const tree = tempTree("memory");
let child: Subprocess<"ignore", "pipe", "inherit">;
let port = 0;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : -1;
}

beforeAll(async () => {
  writeRandomFile(join(tree.dir, "big.bin"), SIZE);
  child = spawn([process.execPath, join(import.meta.dir, "fixtures/file-server.ts")], {
    env: { ...process.env, FILES_DIR: tree.dir }, stdin: "ignore", stdout: "pipe", stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  let out = "";
  while (!/PORT (\d+)/.test(out)) {
    const r = await reader.read();
    if (r.done) throw new Error(`the file server exited before printing its port: ${out}`);
    out += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  port = Number(/PORT (\d+)/.exec(out)![1]);
});

afterAll(async () => {
  child?.kill("SIGTERM");
  await child?.exited;
  tree.remove();
});

test(`${CLIENTS} concurrent downloads of a ${SIZE >> 20} MiB file: every byte arrives, server RSS stays bounded`, async () => {
  const want = sha256(readFileSync(join(tree.dir, "big.bin")));
  // Warm up (one download), then the baseline.
  const warm = await fetch(`http://127.0.0.1:${port}/big.bin`);
  expect(sha256(new Uint8Array(await warm.arrayBuffer()))).toBe(want);
  await Bun.sleep(100);
  const base = rssKiB(child.pid);

  const buf = new NativeRegion(1 << 20);
  const fds: number[] = [];
  const got = new Float64Array(CLIENTS);
  const headLeft: number[] = [];
  const req = new TextEncoder().encode("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  const reqMem = new NativeRegion(req.length);
  reqMem.u8.set(req);
  let peak = base;
  const sample = () => (peak = Math.max(peak, rssKiB(child.pid)));
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const fd = connectBlocking(port);
      fds.push(fd);
      if (Number(tlibc.write(fd, reqMem.ptr as unknown as Pointer, req.length)) !== req.length) throw new Error(`write errno ${lastErrno()}`);
      setNonBlocking(fd);
      headLeft.push(-1);
      if (i % 100 === 0) sample();
    }
    // Phase 1: nobody reads. The server fills the socket buffers, then must wait, not buffer.
    for (let t = 0; t < 10; t++) {
      await Bun.sleep(100);
      sample();
    }
    const stalled = peak;
    // Phase 2: read everything, round robin. Each client: head (up to CRLFCRLF), then SIZE bytes.
    const heads: string[] = new Array(CLIENTS).fill("");
    let done = 0;
    const doneFlag = new Uint8Array(CLIENTS);
    const deadline = performance.now() + 60_000;
    let lastSample = performance.now();
    while (done < CLIENTS && performance.now() < deadline) {
      let progressed = false;
      for (let i = 0; i < CLIENTS; i++) {
        if (doneFlag[i]) continue;
        for (;;) {
          const n = Number(tlibc.read(fds[i]!, buf.ptr as unknown as Pointer, 1 << 20));
          if (n <= 0) {
            if (n === 0 || lastErrno() !== 11) {
              doneFlag[i] = 1; // EOF or error: counted below
              done++;
            }
            break;
          }
          progressed = true;
          let body = n;
          if (headLeft[i] === -1) {
            heads[i] += Buffer.from(buf.u8.subarray(0, n)).toString("latin1");
            const e = heads[i]!.indexOf("\r\n\r\n");
            if (e < 0) continue;
            headLeft[i] = 0;
            body = heads[i]!.length - (e + 4);
            heads[i] = heads[i]!.slice(0, e);
          }
          got[i]! += body;
          if (got[i]! >= SIZE) {
            doneFlag[i] = 1;
            done++;
            break;
          }
        }
      }
      if (performance.now() - lastSample > 100) {
        sample();
        lastSample = performance.now();
      }
      if (!progressed) await Bun.sleep(1);
    }
    sample();
    let complete = 0;
    for (let i = 0; i < CLIENTS; i++) if (got[i] === SIZE && heads[i]!.startsWith("HTTP/1.1 200")) complete++;
    // The clients have every byte before the server has necessarily reaped its last SEND completions
    // (a parked loop reaps them when the Waker wakes it): ask until they are in, for up to 2 s.
    type Stats = { files: { blocksAllocatedBytes: number; activeTransfers: number } };
    const getStats = async () => (await (await fetch(`http://127.0.0.1:${port}/__stats`)).json()) as Stats;
    let stats = await getStats();
    for (const end = performance.now() + 2000; stats.files.activeTransfers !== 0 && performance.now() < end; ) {
      await Bun.sleep(20);
      stats = await getStats();
    }
    const growthMiB = (peak - base) / 1024;
    const poolMiB = (DEFAULT_MAX_BLOCKS * READ_BLOCK) / (1 << 20);
    console.log(`[memory] baseline RSS ${(base / 1024).toFixed(1)} MiB, peak ${(peak / 1024).toFixed(1)} MiB (while stalled ${(stalled / 1024).toFixed(1)}), growth ${growthMiB.toFixed(1)} MiB for ${CLIENTS} x ${SIZE >> 20} MiB; read buffers allocated ${(stats.files.blocksAllocatedBytes / (1 << 20)).toFixed(0)} MiB (bound ${poolMiB} MiB)`);
    expect(complete, `got ${complete} complete downloads, wanted ${CLIENTS}`).toBe(CLIENTS);
    expect(stats.files.blocksAllocatedBytes <= DEFAULT_MAX_BLOCKS * READ_BLOCK, "read buffers within their bound").toBe(true);
    // Bound: the read-buffer pool plus per-connection state; far below the 2 GiB of the files.
    expect(growthMiB < poolMiB + 96, `server RSS grew ${growthMiB.toFixed(1)} MiB, wanted < ${poolMiB + 96} MiB`).toBe(true);
    expect(stats.files.activeTransfers, "no response left in progress").toBe(0);
  } finally {
    for (const fd of fds) tlibc.close(fd);
    buf.free();
    reqMem.free();
  }
}, 90_000);
