// Provided-buffer-ring exhaustion: with a tiny ring and several clients sending at once, multishot
// RECVs end with -ENOBUFS (not a disconnect: DESIGN.md, known hazards). The connection re-arms,
// every byte still arrives, in order, and every buffer goes back to the ring.
import { describe, expect, test } from "bun:test";
import { Reactor } from "../../src/loop/reactor.ts";
import { Listener, type Connection, type ConnectionHandler } from "../../src/net/tcp.ts";
import { connectBlocking, setNonBlocking, tryRead, tlibc, patternBytes, firstDifference, runOrFail } from "../support/uring.ts";
import { NativeRegion } from "../../src/ffi/memory.ts";
import { INITIAL_BUFFERS } from "../../src/ffi/bufring.ts";
import { IORING_SETUP_DEFER_TASKRUN } from "../../src/ffi/constants.ts";
import type { Pointer } from "bun:ffi";

const CLIENTS = 6;
const BYTES = 96 * 1024;

describe("buffer ring exhaustion", () => {
  test(`${CLIENTS} clients x ${BYTES / 1024} KB through 2 buffers of 256 B: ENOBUFS counted, all bytes in order, echoes intact`, () => {
    const r = new Reactor({ entries: 64, maxOps: 256, bufferCount: 2, bufferSize: 256 });
    const received = new Map<Connection, number[]>();
    const closed: (Error | null)[] = [];
    const listener = new Listener(r, { hostname: "127.0.0.1", port: 0 }, {
      onAccept(c) {
        const chunks: number[] = [];
        received.set(c, chunks);
        const h: ConnectionHandler = {
          onData(conn, buf, start, end) {
            for (let i = start; i < end; i++) chunks.push(buf[i]!);
            conn.write(buf, start, end); // echo: the connection must keep working both ways
          },
          onClose(_c, err) {
            closed.push(err);
          },
        };
        return h;
      },
    });
    const clients: number[] = [];
    const out = new NativeRegion(BYTES * CLIENTS);
    try {
      const payloads = Array.from({ length: CLIENTS }, (_, i) => patternBytes(BYTES, 1000 + i));
      for (let i = 0; i < CLIENTS; i++) {
        const fd = connectBlocking(listener.port);
        setNonBlocking(fd);
        clients.push(fd);
        out.u8.set(payloads[i]!, i * BYTES);
      }
      const sent = new Array(CLIENTS).fill(0);
      const echoed = payloads.map(() => [] as number[]);
      const pump = () => {
        for (let i = 0; i < CLIENTS; i++) {
          // Write in bursts so several sockets have data at the same time.
          if (sent[i] < BYTES) {
            const n = Number(tlibc.write(clients[i]!, (out.ptr + i * BYTES + sent[i]) as unknown as Pointer, Math.min(16384, BYTES - sent[i])));
            if (n > 0) sent[i] += n;
          }
          for (;;) {
            const got = tryRead(clients[i]!, 65536);
            if (!got || got.length === 0) break;
            for (const b of got) echoed[i]!.push(b);
          }
        }
        return echoed.every((e) => e.length === BYTES);
      };
      runOrFail(r, pump, 15000, () => `echoed ${echoed.map((e) => e.length)} bytes, wanted ${BYTES} each; sent ${sent}`);
      expect(r.stats.bufferMisses, `stats.bufferMisses: got ${r.stats.bufferMisses}, wanted > 0 (the ring never ran dry)`).toBeGreaterThan(0);
      const conns = [...received.values()];
      expect(conns.length, `connections: got ${conns.length}, wanted ${CLIENTS}`).toBe(CLIENTS);
      // Which server connection is which client: match by content, then compare byte for byte.
      for (let i = 0; i < CLIENTS; i++) {
        const want = payloads[i]!;
        const server = conns.find((c) => c[0] === want[0] && c[1] === want[1] && c[2] === want[2]);
        expect(server, `client ${i}: no server connection starts with its bytes`).toBeDefined();
        expect(server!.length, `client ${i}: server got ${server!.length} bytes, wanted ${BYTES}`).toBe(BYTES);
        const at = firstDifference(Uint8Array.from(server!), want);
        expect(at, `client ${i}: server bytes differ at ${at}, wanted in order and intact`).toBe(-1);
        const back = firstDifference(Uint8Array.from(echoed[i]!), want);
        expect(back, `client ${i}: echo differs at ${back}`).toBe(-1);
      }
      expect(closed, "no connection closed or failed").toEqual([]);
      expect(r.buffers.out, `buffers still handed out: got ${r.buffers.out}, wanted 0`).toBe(0);
      // Orderly end: clients close, the server sees EOF and closes each connection without error.
      for (const fd of clients.splice(0)) tlibc.close(fd);
      runOrFail(r, () => closed.length === CLIENTS, 3000, () => `closed ${closed.length} of ${CLIENTS}`);
      expect(closed.every((e) => e === null), `close errors: ${closed.map(String)}`).toBe(true);
    } finally {
      for (const fd of clients) tlibc.close(fd);
      listener.stop();
      out.free();
      r.close();
    }
  });

  // A server that never has many receives in flight keeps cycling through a few buffers (RSS: the
  // ring is FIFO, so every buffer in circulation gets its first page touched); a burst brings more.
  test(`a ring starts with ${INITIAL_BUFFERS} buffers in circulation and grows on ENOBUFS, up to its count`, () => {
    const r = new Reactor({ entries: 256, maxOps: 1024, bufferCount: 256, bufferSize: 512 });
    const N = 150;
    let bytes = 0;
    const listener = new Listener(r, { hostname: "127.0.0.1", port: 0 }, {
      onAccept: () => ({ onData: (_c, _b, start, end) => void (bytes += end - start), onClose() {} }),
    });
    const clients: number[] = [];
    const msg = new NativeRegion(100);
    try {
      expect(r.buffers.provided).toBe(INITIAL_BUFFERS);
      for (let i = 0; i < N; i++) clients.push(connectBlocking(listener.port));
      runOrFail(r, () => listener.connectionCount === N, 5000, () => `accepted ${listener.connectionCount} of ${N}`);
      // Every client writes before the reactor enters again: N receives complete in one go.
      for (const fd of clients) expect(Number(tlibc.write(fd, msg.ptr as unknown as Pointer, 100))).toBe(100);
      runOrFail(r, () => bytes === N * 100, 5000, () => `received ${bytes} of ${N * 100} bytes`);
      expect(r.stats.bufferMisses, "the burst found the ring short").toBeGreaterThan(0);
      expect(r.buffers.provided, "buffers in circulation after the burst").toBeGreaterThan(INITIAL_BUFFERS);
      expect(r.buffers.provided).toBeLessThanOrEqual(256);
      expect(r.buffers.out).toBe(0);
      while (r.buffers.grow());
      expect(r.buffers.provided, "grow() stops at the ring's count").toBe(256);
    } finally {
      for (const fd of clients) tlibc.close(fd);
      listener.stop();
      msg.free();
      r.close();
    }
  });

  // A burst touches a page of every buffer it cycles through; when the loop goes idle those pages go
  // back (MADV_DONTNEED: they read as zeros after), all but those of the next INITIAL_BUFFERS the
  // kernel takes, and receiving goes on intact through buffers whose pages were given back.
  test(`parking gives back the pages of a burst's buffers, all but the next ${INITIAL_BUFFERS}; later receives are intact`, () => {
    const SIZE = 4096, N = 150;
    const r = new Reactor({ entries: 256, maxOps: 1024, bufferCount: 256, bufferSize: SIZE });
    const got: number[] = [];
    const listener = new Listener(r, { hostname: "127.0.0.1", port: 0 }, {
      onAccept: () => ({ onData: (_c, b, start, end) => { for (let i = start; i < end; i++) got.push(b[i]!); }, onClose() {} }),
    });
    const clients: number[] = [];
    const msg = new NativeRegion(100);
    const resident = () => {
      let n = 0;
      for (let bid = 0; bid < r.buffers.provided; bid++) if (r.buffers.data.u8[bid * SIZE] !== 0) n++;
      return n;
    };
    const burst = (byte: number) => {
      got.length = 0;
      msg.u8.fill(byte);
      for (const fd of clients) expect(Number(tlibc.write(fd, msg.ptr as unknown as Pointer, 100))).toBe(100);
      runOrFail(r, () => got.length === N * 100, 5000, () => `received ${got.length} of ${N * 100} bytes`);
      expect(got.every((b) => b === byte), `every byte received is ${byte}`).toBe(true);
    };
    try {
      for (let i = 0; i < N; i++) clients.push(connectBlocking(listener.port));
      runOrFail(r, () => listener.connectionCount === N, 5000, () => `accepted ${listener.connectionCount} of ${N}`);
      burst(0xab);
      const before = resident();
      expect(before, "buffers holding the burst's bytes").toBeGreaterThan(INITIAL_BUFFERS);
      expect(r.ring.flags & IORING_SETUP_DEFER_TASKRUN, "this kernel gives a DEFER_TASKRUN ring (else nothing is trimmed)").not.toBe(0);
      r.trimIdle();
      const after = resident();
      expect(after, `buffers still holding bytes after the trim (${before} before)`).toBeLessThanOrEqual(INITIAL_BUFFERS);
      burst(0xcd);
      r.trimIdle();
      burst(0xef);
      expect(r.buffers.out).toBe(0);
    } finally {
      for (const fd of clients) tlibc.close(fd);
      listener.stop();
      msg.free();
      r.close();
    }
  });
});
