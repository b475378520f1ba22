// TCP on the reactor through listen() (src/net/listen.ts over src/net/tcp.ts): echo with many
// clients, 8 MB both ways, half-close, backpressure and drain, close and terminate, accept under
// EMFILE, stop(). Clients are node:net sockets on Bun's own loop; each test has its own Reactor,
// driven by its driver beside Bun's loop, and closes it at the end.
import { describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { Reactor } from "../../src/loop/reactor.ts";
import { listen, type TCPSocket, type TCPListenOptions, type TCPSocketListener } from "../../src/net/listen.ts";
import { Connection, Listener } from "../../src/net/tcp.ts";
import { libc, F_SETPIPE_SZ } from "../../src/ffi/libc.ts";
import { NativeRegion } from "../../src/ffi/memory.ts";
import { SOL_SOCKET, SO_SNDBUF } from "../../src/ffi/constants.ts";
import { serve } from "../../src/net/server.ts";
import { patternBytes, firstDifference, sleep, waitFor, RawClient, connectBlocking, tlibc, pipe, writeAll } from "../support/uring.ts";

const CHILD = join(import.meta.dir, "..", "fixtures", "listener-child.ts");

/** A node:net client that records what it gets. */
class Client {
  readonly sock: Socket;
  readonly chunks: Buffer[] = [];
  received = 0;
  ended = false;
  closed = false;
  error: Error | null = null;
  readonly connected: Promise<void>;
  constructor(port: number) {
    this.sock = connect(port, "127.0.0.1");
    this.connected = new Promise((res, rej) => {
      this.sock.once("connect", () => res());
      this.sock.once("error", rej);
    });
    this.sock.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.received += d.length;
    });
    this.sock.on("end", () => (this.ended = true));
    this.sock.on("close", () => (this.closed = true));
    this.sock.on("error", (e) => (this.error = e));
  }
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.chunks));
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
  write(d: string | Uint8Array): Promise<void> {
    return new Promise((res, rej) => this.sock.write(d, (e) => (e ? rej(e) : res())));
  }
}

/** listen() on its own reactor; `done()` stops it and closes the reactor. */
function server<D = unknown>(opts: Omit<TCPListenOptions<D>, "reactor" | "hostname" | "port">, ropts = {}): { l: TCPSocketListener<D>; r: Reactor; done(): Promise<void> } {
  const r = new Reactor({ entries: 256, maxOps: 4096, ...ropts });
  const l = listen<D>({ hostname: "127.0.0.1", port: 0, reactor: r, ...opts });
  return {
    l, r,
    async done() {
      l.stop(true);
      await waitFor(() => l.connections === 0, 2000);
      r.close();
    },
  };
}

const echo = { data(s: TCPSocket, d: Uint8Array) { s.write(d); } };

describe("listen(): TCP on the reactor", () => {
  test("echo with 50 clients, 20 round trips each", async () => {
    const s = server({ socket: echo });
    try {
      const N = 50, ROUNDS = 20;
      const run = async (i: number) => {
        const c = new Client(s.l.port);
        await c.connected;
        for (let k = 0; k < ROUNDS; k++) {
          const msg = `client ${i} round ${k};`;
          const want = c.received + msg.length;
          await c.write(msg);
          if (!(await waitFor(() => c.received >= want, 3000, 1))) throw new Error(`client ${i} round ${k}: got ${c.received} bytes, wanted ${want}`);
        }
        const want = Array.from({ length: ROUNDS }, (_, k) => `client ${i} round ${k};`).join("");
        c.sock.end();
        return c.text() === want ? "" : `client ${i}: got ${JSON.stringify(c.text().slice(0, 80))}..., wanted ${JSON.stringify(want.slice(0, 80))}...`;
      };
      const errors = (await Promise.all(Array.from({ length: N }, (_, i) => run(i)))).filter(Boolean);
      expect(errors, errors.join("\n")).toEqual([]);
      expect(await waitFor(() => s.l.connections === 0, 3000), `connections after all clients ended: got ${s.l.connections}, wanted 0`).toBe(true);
    } finally {
      await s.done();
    }
  });

  test("8 MB both ways at once, intact (the server's 8 MB in one write: sent from the caller's memory)", async () => {
    const SIZE = 8 << 20;
    const down = patternBytes(SIZE, 77), up = patternBytes(SIZE, 78);
    const got: Uint8Array[] = [];
    let gotLen = 0;
    let closeErr: Error | undefined | null = null;
    const s = server({
      socket: {
        open(sock) {
          sock.write(down); // one write >= 64 KB: held and sent without a copy
        },
        data(_s, d) {
          got.push(d);
          gotLen += d.length;
        },
        close(_s, e) {
          closeErr = e;
        },
      },
    });
    try {
      const c = new Client(s.l.port);
      await c.connected;
      for (let off = 0; off < SIZE; off += 1 << 20) await c.write(up.subarray(off, off + (1 << 20)));
      const ok = await waitFor(() => gotLen >= SIZE && c.received >= SIZE, 15000, 5);
      expect(ok, `transfer: server got ${gotLen}, client got ${c.received}, wanted ${SIZE} each`).toBe(true);
      const serverSide = new Uint8Array(gotLen);
      let o = 0;
      for (const g of got) { serverSide.set(g, o); o += g.length; }
      expect(firstDifference(serverSide, up), "client -> server bytes").toBe(-1);
      expect(firstDifference(c.bytes(), down), "server -> client bytes").toBe(-1);
      c.sock.end();
      expect(await waitFor(() => closeErr !== null, 3000), "server close after client end").toBe(true);
      expect(closeErr, `server close error: got ${closeErr}, wanted none`).toBeUndefined();
    } finally {
      await s.done();
    }
  }, 30000);

  test("8 MB echoed (copied through the send chunks), intact", async () => {
    const SIZE = 8 << 20;
    const data = patternBytes(SIZE, 79);
    const s = server({ socket: echo });
    try {
      const c = new Client(s.l.port);
      await c.connected;
      for (let off = 0; off < SIZE; off += 256 << 10) await c.write(data.subarray(off, off + (256 << 10)));
      const ok = await waitFor(() => c.received >= SIZE, 15000, 5);
      expect(ok, `echo: client got ${c.received}, wanted ${SIZE}`).toBe(true);
      expect(firstDifference(c.bytes(), data), "echoed bytes").toBe(-1);
      c.sock.end();
    } finally {
      await s.done();
    }
  }, 30000);

  test("half-close: the client's shutdown(SHUT_WR) reaches `end`; without allowHalfOpen the server ends too", async () => {
    const events: string[] = [];
    const s = server({
      socket: {
        data(_s, d) { events.push(`data:${new TextDecoder().decode(d)}`); },
        end() { events.push("end"); },
        close(_s, e) { events.push(e ? `close:${e.message}` : "close"); },
      },
    });
    const c = new RawClient(s.l.port);
    try {
      c.send("last words");
      c.shutdownWrite(); // FIN; this side can still read
      expect(await c.readUntil(() => c.eof, 3000), "client never saw the server's FIN").toBe(true);
      expect(await waitFor(() => events.includes("close"), 3000), `server events: ${events}`).toBe(true);
      expect(events, `server events: got ${events}`).toEqual(["data:last words", "end", "close"]);
    } finally {
      c.close();
      await s.done();
    }
  });

  test("half-close with allowHalfOpen: the server keeps writing after `end`, then ends", async () => {
    const events: string[] = [];
    const s = server({
      allowHalfOpen: true,
      socket: {
        end(sock) {
          events.push("end");
          // Reply after the peer finished sending: only possible when half-open is allowed.
          setTimeout(() => {
            events.push(`write:${sock.write("still here; ")}`);
            sock.write("bye");
            sock.end();
          }, 30);
        },
        close(_s, e) { events.push(e ? `close:${e.message}` : "close"); },
      },
    });
    const c = new RawClient(s.l.port);
    try {
      c.shutdownWrite();
      expect(await c.readUntil(() => c.eof, 3000), "client never saw the server's FIN").toBe(true);
      expect(c.text(), `client got ${JSON.stringify(c.text())}, wanted "still here; bye"`).toBe("still here; bye");
      expect(await waitFor(() => events.includes("close"), 3000), `server events: ${events}`).toBe(true);
      expect(events, `server events: got ${events}`).toEqual(["end", "write:12", "close"]);
    } finally {
      c.close();
      await s.done();
    }
  });

  test("backpressure: a client that does not read makes bufferedAmount grow; drain fires once it reads", async () => {
    // More than loopback can hold for a client that does not read (tcp_rmem max 32 MiB + tcp_wmem max
    // 4 MiB on this machine): with 24 MiB the kernel sometimes took it all and nothing stayed queued.
    const TOTAL = 64 << 20, PIECE = 16 << 10;
    const payload = patternBytes(TOTAL, 90);
    let sock: TCPSocket | null = null;
    let written = 0, drains = 0;
    const pump = () => {
      // Write until bufferedAmount says to wait; `drain` says when to go on.
      while (sock && written < TOTAL) {
        sock.write(payload.subarray(written, written + PIECE));
        written += PIECE;
        if (sock.bufferedAmount > 1 << 20) break;
      }
    };
    const s = server({
      socket: {
        open(x) {
          sock = x;
          pump();
        },
        drain() {
          drains++;
          pump();
        },
      },
    });
    const c = new RawClient(s.l.port); // reads nothing until told to
    try {
      await waitFor(() => sock !== null, 2000);
      // Stuck: nothing more written for 200 ms (the kernel's buffers grow for a while first).
      let last = -1;
      await waitFor(() => {
        const still = written === last;
        last = written;
        return still;
      }, 5000, 200);
      const stuck = sock!.bufferedAmount;
      // Stuck above the connection's high-water mark (256 KB): below it, drain would have fired
      // and the pump would have written more.
      expect(stuck, `bufferedAmount while the client does not read: got ${stuck} (written ${written}, drains ${drains}), wanted > 256 KB`).toBeGreaterThan(256 << 10);
      expect(written, `written while the client does not read: got ${written}, wanted < ${TOTAL}`).toBeLessThan(TOTAL);
      const drainsStuck = drains;
      await sleep(100);
      expect(drains, `drain events while nothing could be sent: got ${drains - drainsStuck} more, wanted 0`).toBe(drainsStuck);
      const ok = await c.readUntil(() => c.received >= TOTAL, 15000);
      expect(ok, `client got ${c.received} of ${TOTAL} (written ${written}, drains ${drains})`).toBe(true);
      expect(drains, `drain events: got ${drains}, wanted more than before the client read`).toBeGreaterThan(drainsStuck);
      expect(firstDifference(c.bytes(), payload), "bytes after backpressure").toBe(-1);
      expect(await waitFor(() => sock!.bufferedAmount === 0, 2000), `bufferedAmount at the end: ${sock!.bufferedAmount}`).toBe(true);
    } finally {
      c.close();
      await s.done();
    }
  }, 30000);

  test("end(data): the client gets the data then EOF; close fires once, without error", async () => {
    const closes: (Error | undefined)[] = [];
    const s = server({
      socket: {
        open(sock) { sock.end("goodbye"); },
        close(_s, e) { closes.push(e); },
      },
    });
    try {
      const c = new Client(s.l.port);
      await c.connected;
      expect(await waitFor(() => c.ended, 3000), "client never saw EOF").toBe(true);
      expect(c.text()).toBe("goodbye");
      c.sock.end();
      expect(await waitFor(() => closes.length > 0, 3000), "server close never fired").toBe(true);
      await sleep(50);
      expect(closes, `server close calls: got ${closes.length} (${closes}), wanted one without error`).toEqual([undefined]);
    } finally {
      await s.done();
    }
  });

  test("terminate(): the connection drops at once (queued bytes discarded), close fires once", async () => {
    const closes: (Error | undefined)[] = [];
    const s = server({
      socket: {
        data(sock) {
          sock.write(new Uint8Array(1 << 20)); // queued, then dropped
          sock.terminate();
        },
        close(_s, e) { closes.push(e); },
      },
    });
    try {
      const c = new Client(s.l.port);
      await c.connected;
      await c.write("x");
      expect(await waitFor(() => c.closed, 3000), "client never saw the connection close").toBe(true);
      expect(await waitFor(() => closes.length > 0, 3000), "server close never fired").toBe(true);
      await sleep(50);
      expect(closes.length, `close calls: got ${closes.length}, wanted 1`).toBe(1);
      expect(c.received < 1 << 20, `client got ${c.received} bytes, wanted fewer than the 1 MB dropped`).toBe(true);
    } finally {
      await s.done();
    }
  });

  test("stop(): no new connections, existing ones go on; stop(true) closes them", async () => {
    const s = server({ socket: echo });
    try {
      const c = new Client(s.l.port);
      await c.connected;
      await waitFor(() => s.l.connections === 1, 2000);
      s.l.stop();
      // At once, before any tick: the port must be closed when stop() returns (as with Bun.listen).
      let sync = "connected";
      try {
        tlibc.close(connectBlocking(s.l.port));
      } catch (e) {
        sync = (e as Error).message;
      }
      expect(sync, `a connect right after stop(): got "${sync}", wanted errno 111 (ECONNREFUSED)`).toContain("errno 111");
      const refused = await new Promise<string>((res) => {
        const x = connect(s.l.port, "127.0.0.1");
        x.on("connect", () => { x.destroy(); res("connected"); });
        x.on("error", (e: NodeJS.ErrnoException) => res(e.code ?? e.message));
      });
      expect(refused, `connect after stop(): got ${refused}, wanted ECONNREFUSED`).toBe("ECONNREFUSED");
      await c.write("still open");
      expect(await waitFor(() => c.received >= 10, 2000), "existing connection no longer echoes after stop()").toBe(true);
      s.l.stop(true);
      expect(await waitFor(() => c.closed, 3000), "stop(true) did not close the existing connection").toBe(true);
      expect(await waitFor(() => s.l.connections === 0, 2000), `connections: got ${s.l.connections}, wanted 0`).toBe(true);
    } finally {
      await s.done();
    }
  });

  const prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].find((p) => existsSync(p));
  test.skipIf(!prlimit)("EMFILE on accept: existing connections are still served, and new ones are accepted once fds are free (child with RLIMIT_NOFILE 64)", async () => {
    const child = Bun.spawn([prlimit!, "--nofile=64:64", process.execPath, CHILD, "echo"], { stdout: "pipe", stderr: "pipe" });
    const clients: Client[] = [];
    try {
      const reader = child.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const port = JSON.parse(first.split("\n")[0]!).port as number;
      void (async () => { while (!(await reader.read()).done); })(); // keep draining its reports
      // More clients than the child has fds.
      const N = 90;
      for (let i = 0; i < N; i++) clients.push(new Client(port));
      await Promise.all(clients.map((c) => c.connected.catch(() => {})));
      await Promise.all(clients.map((c, i) => c.write(`hello ${i};`).catch(() => {})));
      await waitFor(() => clients.filter((c) => c.received > 0).length >= 20, 3000, 10);
      await sleep(300);
      const served = clients.filter((c) => c.received > 0);
      const waiting = clients.filter((c) => c.received === 0);
      expect(served.length, `clients echoed under EMFILE: got ${served.length}, wanted some`).toBeGreaterThanOrEqual(20);
      expect(waiting.length, `clients not accepted: got ${waiting.length}, wanted some (the fd limit must bite)`).toBeGreaterThan(0);
      // The connections it has keep working.
      const again = served.slice(0, 10);
      const before = again.map((c) => c.received);
      await Promise.all(again.map((c) => c.write("again")));
      const ok = await waitFor(() => again.every((c, i) => c.received >= before[i]! + 5), 3000);
      expect(ok, "existing connections stopped echoing while accept was failing").toBe(true);
      expect(child.exitCode, `child exited (${child.exitCode})`).toBeNull();
      // Free the fds: every client goes; the waiting ones are accepted on the way (and echoed).
      for (const c of served) c.sock.destroy();
      const drained = await waitFor(() => waiting.every((c) => c.received > 0), 5000, 10);
      expect(drained, `clients that were waiting and got echoed once fds were free: ${waiting.filter((c) => c.received > 0).length} of ${waiting.length}`).toBe(true);
      for (const c of waiting) c.sock.destroy();
      await sleep(100);
      // A brand-new client is accepted and served.
      const fresh = new Client(port);
      await fresh.connected;
      await fresh.write("fresh");
      expect(await waitFor(() => fresh.text() === "fresh", 3000), `new client after recovery: got ${JSON.stringify(fresh.text())}, wanted "fresh"`).toBe(true);
      fresh.sock.destroy();
      expect(child.exitCode, "child still running").toBeNull();
    } finally {
      for (const c of clients) c.sock.destroy();
      child.kill();
      await child.exited;
    }
  }, 20000);
});

describe("send limits: shared by a listener's connections, changed per connection", () => {
  test("the listener's limits reach every connection; one connection's own maxQueuedBytes binds it alone", () => {
    const r = new Reactor({ entries: 64, maxOps: 256 });
    const conns: Connection[] = [];
    const closed = new Map<Connection, Error | null>();
    const listener = new Listener(r, { hostname: "127.0.0.1", port: 0, sendLimits: { sendTimeoutMs: 1234, maxQueuedBytes: 4096 } }, {
      onAccept(c) {
        conns.push(c);
        return { onData() {}, onClose: (conn, err) => void closed.set(conn, err) };
      },
    });
    const clients: number[] = [];
    try {
      for (let i = 0; i < 3; i++) clients.push(connectBlocking(listener.port));
      expect(r.runUntil(() => conns.length === 3, 3000), `accepted ${conns.length} of 3`).toBe(true);
      const [a, b, c] = conns as [Connection, Connection, Connection];
      for (const x of conns) {
        expect(x.sendTimeoutMs).toBe(1234);
        expect(x.maxQueuedBytes).toBe(4096);
        expect(x.highWaterMark).toBe(256 * 1024); // the default for what the listener did not set
      }
      a.maxQueuedBytes = 1000;
      b.sendTimeoutMs = 0;
      expect([a.maxQueuedBytes, b.maxQueuedBytes, c.maxQueuedBytes]).toEqual([1000, 4096, 4096]);
      expect([a.sendTimeoutMs, b.sendTimeoutMs, c.sendTimeoutMs]).toEqual([1234, 0, 1234]);
      expect(listener.sendLimits).toEqual({ sendTimeoutMs: 1234, maxQueuedBytes: 4096, highWaterMark: 256 * 1024 });
      const bytes = new Uint8Array(2000).fill(7);
      // Written in one turn, before anything is sent: a's 2000 queued bytes pass its own bound only.
      expect(a.write(bytes), "a: 2000 bytes over its 1000").toBe(false);
      expect(b.write(bytes), "b: 2000 bytes under the listener's 4096").toBe(true);
      expect(c.write(bytes)).toBe(true);
      expect(c.write(bytes)).toBe(true);
      expect(c.write(bytes), "c: 6000 bytes over the listener's 4096").toBe(false);
      expect(r.runUntil(() => closed.has(a) && closed.has(c), 3000), "the two over their bounds closed").toBe(true);
      expect((closed.get(a) as Error & { code?: string }).code).toBe("ERR_SOCKET_QUEUE_FULL");
      expect((closed.get(c) as Error & { code?: string }).code).toBe("ERR_SOCKET_QUEUE_FULL");
      expect(b.open, "b is untouched").toBe(true);
    } finally {
      for (const fd of clients) tlibc.close(fd);
      listener.stop();
      r.close();
    }
  });
});

describe("ipv6Only, as Bun.serve takes it", () => {
  // Its effect (no IPv4 clients) shows only on "::", every address, which tests do not bind: a
  // listener on a given IPv6 address is IPv6-only in any case (the kernel sets it at bind).
  test("serve({ ipv6Only: true }) is accepted (it was refused as unsupported): answers on IPv6, and on IPv4 is no error", async () => {
    const v6 = serve({ hostname: "::1", port: 0, ipv6Only: true, fetch: () => new Response("v6") });
    const v4 = serve({ hostname: "127.0.0.1", port: 0, ipv6Only: true, fetch: () => new Response("v4") });
    try {
      expect(await (await fetch(`http://[::1]:${v6.port}/`)).text()).toBe("v6");
      expect(await (await fetch(`http://127.0.0.1:${v4.port}/`)).text()).toBe("v4");
    } finally {
      await v6.stop(true);
      await v4.stop(true);
    }
  });
});

describe("Connection.writePipe: bytes waiting in a pipe, spliced into the socket", () => {
  test("in order between copied writes; a client that reads late still gets every byte; the hold is told once", async () => {
    const r = new Reactor({ entries: 64, maxOps: 256 });
    const PIPED = 1 << 20;
    const piped = patternBytes(PIPED, 7);
    const [rd, wr] = pipe();
    let conn: Connection | null = null;
    let sent = 0;
    const l = new Listener(r, { hostname: "127.0.0.1", port: 0 }, {
      onAccept(c) {
        conn = c;
        return { onData() {}, onClose() {} };
      },
    });
    const c = new RawClient(l.port); // reads nothing until told: the socket fills and the SPLICE goes short
    try {
      expect(libc.fcntl(wr, F_SETPIPE_SZ, PIPED), "pipe size").toBeGreaterThanOrEqual(PIPED);
      expect(writeAll(wr, piped)).toBe(PIPED);
      expect(await waitFor(() => conn !== null, 2000)).toBe(true);
      // A small send buffer, so that the socket fills long before 1 MiB (loopback's buffers otherwise take it all).
      const opt = new NativeRegion(4);
      opt.i32[0] = 16 << 10;
      expect(libc.setsockopt(conn!.fd, SOL_SOCKET, SO_SNDBUF, opt.ptr as never, 4)).toBe(0);
      opt.free();
      conn!.write(new TextEncoder().encode("head|"));
      expect(conn!.writePipe(PIPED, { pipeFd: rd, sent: () => sent++ })).toBe(true);
      conn!.write(new TextEncoder().encode("|tail"));
      expect(conn!.queued).toBe(PIPED + 10);
      await sleep(200);
      expect(sent, "not all sent while the client reads nothing").toBe(0);
      const total = PIPED + 10;
      expect(await c.readUntil(() => c.received >= total, 10_000), `got ${c.received} of ${total}`).toBe(true);
      const got = c.bytes();
      expect(new TextDecoder().decode(got.subarray(0, 5))).toBe("head|");
      expect(firstDifference(got.subarray(5, 5 + PIPED), piped), "the pipe's bytes").toBe(-1);
      expect(new TextDecoder().decode(got.subarray(5 + PIPED))).toBe("|tail");
      expect(await waitFor(() => sent === 1 && conn!.queued === 0, 2000), `sent() calls ${sent}, queued ${conn!.queued}`).toBe(true);
    } finally {
      c.close();
      l.closeAll();
      l.stop();
      await waitFor(() => l.connectionCount === 0, 2000);
      tlibc.close(rd);
      tlibc.close(wr);
      r.close();
    }
  });

  test("a pipe holding fewer bytes than were queued ends the connection with an error (no POLL/SPLICE spin)", async () => {
    const r = new Reactor({ entries: 64, maxOps: 256 });
    const [rd, wr] = pipe();
    let conn: Connection | null = null;
    let closeError: Error | null | undefined;
    const l = new Listener(r, { hostname: "127.0.0.1", port: 0 }, {
      onAccept(c) {
        conn = c;
        return { onData() {}, onClose(_c, e) { closeError = e; } };
      },
    });
    const c = new RawClient(l.port);
    try {
      expect(writeAll(wr, patternBytes(1000, 3))).toBe(1000);
      expect(await waitFor(() => conn !== null, 2000)).toBe(true);
      let sent = 0;
      conn!.writePipe(2000, { pipeFd: rd, sent: () => sent++ });
      expect(await waitFor(() => closeError !== undefined, 2000), "closed").toBe(true);
      expect(closeError, "with an error").toBeInstanceOf(Error);
      expect(sent, "the hold is told once").toBe(1);
      expect(await c.readUntil(() => c.eof, 2000)).toBe(true);
      expect(c.received, "what the pipe had").toBe(1000);
      // The listener's ACCEPT alone: a sweep is only scheduled while a connection has a deadline.
      expect(await waitFor(() => r.ops.live === 1, 1000), `no op of the connection left in flight (live: ${r.ops.live})`).toBe(true);
    } finally {
      c.close();
      l.stop();
      tlibc.close(rd);
      tlibc.close(wr);
      r.close();
    }
  });
});
