// The send-chunk pool (src/loop/chunks.ts): trim() gives the pages of free chunks back to the kernel
// (they read as zeros afterwards), keeps the most recently used ones, and never trims a chunk twice
// until it has been used again; a parked reactor has trimmed what a burst of responses touched.
import { describe, expect, test } from "bun:test";
import { ChunkPool, CHUNK_SIZE, TRIM_KEEP, type Chunk } from "../../src/loop/chunks.ts";
import { Reactor } from "../../src/loop/reactor.ts";
import { listen } from "../../src/net/listen.ts";
import { sleep, waitFor } from "../support/uring.ts";

function burst(pool: ChunkPool, n: number): Chunk[] {
  const taken: Chunk[] = [];
  for (let i = 0; i < n; i++) {
    const c = pool.take()!;
    c.u8.fill(0xab, 0, CHUNK_SIZE); // every page touched
    taken.push(c);
  }
  for (const c of taken) pool.give(c);
  return taken;
}

describe("ChunkPool.trim", () => {
  test("trims all but the TRIM_KEEP most recently freed chunks, whose pages then read as zeros", () => {
    const pool = new ChunkPool();
    try {
      const taken = burst(pool, 200);
      expect(pool.trim(), "chunks trimmed after a burst of 200").toBe(200 - TRIM_KEEP);
      // give() pushed them in order, so the last TRIM_KEEP given are the kept (hot) ones.
      const trimmed = taken.slice(0, 200 - TRIM_KEEP);
      const kept = taken.slice(200 - TRIM_KEEP);
      expect(trimmed.every((c) => c.u8[0] === 0 && c.u8[CHUNK_SIZE - 1] === 0), "a trimmed chunk's bytes").toBe(true);
      expect(kept.every((c) => c.u8[0] === 0xab), "a kept chunk's bytes").toBe(true);
      expect(pool.trim(), "a second trim with nothing used in between").toBe(0);
    } finally {
      pool.close();
    }
  });

  test("only chunks used since the last trim are trimmed again", () => {
    const pool = new ChunkPool();
    try {
      burst(pool, 200);
      pool.trim();
      // 100 taken from the top of the free stack: the 64 kept and 36 trimmed ones, all dirty again.
      burst(pool, 100);
      expect(pool.trim(), "trimmed after reusing 100").toBe(100 - TRIM_KEEP);
      expect(pool.trim(0), "trim(0) takes only the kept ones").toBe(TRIM_KEEP);
      expect(pool.trim(0)).toBe(0);
    } finally {
      pool.close();
    }
  });

  test("a parked reactor has trimmed the chunks a burst of 300 responses touched", async () => {
    const r = new Reactor();
    const server = listen({
      reactor: r,
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, bytes) {
          s.write(bytes); // echo: each answer in a chunk of its own connection
        },
      },
    });
    const net = await import("node:net");
    const clients: import("node:net").Socket[] = [];
    try {
      let echoed = 0;
      for (let i = 0; i < 300; i++) {
        const c = net.connect(server.port, "127.0.0.1", () => c.write("x".repeat(100)));
        c.on("data", () => echoed++);
        clients.push(c);
      }
      expect(await waitFor(() => echoed >= 300, 5000), `echoes: got ${echoed}, wanted 300`).toBe(true);
      expect(await waitFor(() => r.driver.parked, 2000), "the reactor parked after the burst").toBe(true);
      expect(r.chunks.allocatedBytes, "chunk memory allocated").toBeGreaterThan(0);
      expect(r.chunks.trim(), "chunks left untrimmed by the park").toBe(0);
    } finally {
      for (const c of clients) c.destroy();
      server.stop(true);
      await sleep(20);
      r.close();
    }
  });
});
