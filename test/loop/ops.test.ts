// Every op the reactor core uses, done for real on 127.0.0.1 sockets, pipes and files in a temp
// dir, each checked against what the plain syscall (or node:fs, the oracle) says. An op the kernel
// does not list in its probe is skipped, not failed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openSync, closeSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { Reactor } from "../../src/loop/reactor.ts";
import { slotOf, genOf } from "../../src/loop/ops.ts";
import { FileSlots } from "../../src/loop/files.ts";
import { NativeRegion, writePtr } from "../../src/ffi/memory.ts";
import * as sqe from "../../src/ffi/sqe.ts";
import { createListener } from "../../src/net/sockaddr.ts";
import {
  IORING_OP_NOP, IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG, IORING_OP_SEND_ZC,
  IORING_OP_CLOSE, IORING_OP_SHUTDOWN, IORING_OP_CONNECT, IORING_OP_OPENAT, IORING_OP_OPENAT2,
  IORING_OP_READ, IORING_OP_WRITE, IORING_OP_WRITEV, IORING_OP_STATX, IORING_OP_TIMEOUT,
  IORING_OP_TIMEOUT_REMOVE, IORING_OP_LINK_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD,
  IORING_OP_POLL_REMOVE, IOSQE_BUFFER_SELECT, IOSQE_FIXED_FILE, IORING_CQE_F_MORE,
  IORING_CQE_F_BUFFER, IORING_CQE_F_NOTIF, IORING_CQE_BUFFER_SHIFT, SOCK_CLOEXEC, AT_FDCWD,
  O_RDONLY, O_CLOEXEC, O_WRONLY, O_CREAT, O_TRUNC, STATX_BASIC_STATS, MSG_NOSIGNAL, SHUT_WR,
  POLLIN, RESOLVE_BENEATH, O_DIRECTORY,
} from "../../src/ffi/constants.ts";
import { ECANCELED, ETIME, ENOENT, ECONNREFUSED, EXDEV, EBADF, EINVAL } from "../../src/ffi/errno.ts";
import {
  Recorder, connectBlocking, socketNonBlocking, tlibc, lastErrno, writeAll, readSome, pipe, tempDir,
  patternBytes, firstDifference, writeSockaddrIn, runOrFail, setNonBlocking, tryRead, type Cqe,
} from "../support/uring.ts";

const F_GETFD = 1;

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("ops");
});
afterAll(() => tmp.remove());

function withReactor(fn: (r: Reactor) => void, opts = {}): void {
  const r = new Reactor({ entries: 64, maxOps: 256, bufferCount: 16, bufferSize: 4096, ...opts });
  try {
    fn(r);
  } finally {
    r.close();
  }
}

/** Drive until `rec` has `n` CQEs; return them. */
function await_(r: Reactor, rec: Recorder, n: number, what: string, ms = 2000): Cqe[] {
  runOrFail(r, () => rec.cqes.length >= n, ms, () => `${what}: got ${rec.cqes.length} CQEs, wanted ${n}`);
  return rec.cqes;
}

/** A listening socket and a connected pair (server side accepted through the ring). */
function connectedPair(r: Reactor): { lfd: number; port: number; server: number; client: number; close(): void } {
  const { fd: lfd, address } = createListener({ hostname: "127.0.0.1", port: 0 });
  const rec = new Recorder();
  sqe.prepAccept(r.ring.sqe, r.prepare(rec, 0, IORING_OP_ACCEPT), lfd, 0, 0, SOCK_CLOEXEC);
  const client = connectBlocking(address.port);
  const server = await_(r, rec, 1, "ACCEPT")[0]!.res;
  if (server < 0) throw new Error(`ACCEPT got ${server}, wanted an fd`);
  return {
    lfd, port: address.port, server, client,
    close() {
      tlibc.close(client);
      tlibc.close(server);
      tlibc.close(lfd);
    },
  };
}

const supported = (() => {
  const r = new Reactor({ entries: 4, maxOps: 4 });
  const ops = new Set(r.ring.supportedOps);
  r.close();
  return ops;
})();
const lacks = (op: number) => !supported.has(op);

describe("ops", () => {
  test("NOP", () => {
    withReactor((r) => {
      const rec = new Recorder();
      r.nop(rec, 5);
      const [c] = await_(r, rec, 1, "NOP");
      expect([c!.res, c!.tag], `NOP: got res ${c!.res} tag ${c!.tag}, wanted res 0 tag 5`).toEqual([0, 5]);
    });
  });

  test.skipIf(lacks(IORING_OP_ACCEPT))("ACCEPT multishot: one CQE per connection with F_MORE, ends on cancel", () => {
    withReactor((r) => {
      const { fd: lfd, address } = createListener({ hostname: "127.0.0.1", port: 0 });
      const clients: number[] = [];
      try {
        const rec = new Recorder();
        sqe.prepMultishotAccept(r.ring.sqe, r.prepare(rec, 0, IORING_OP_ACCEPT), lfd, 0, 0, SOCK_CLOEXEC);
        const h = r.lastOp;
        for (let i = 0; i < 3; i++) clients.push(connectBlocking(address.port));
        const cqes = await_(r, rec, 3, "multishot ACCEPT");
        for (const c of cqes) {
          expect(c.res, `ACCEPT res: got ${c.res}, wanted an fd`).toBeGreaterThanOrEqual(0);
          expect(c.flags & IORING_CQE_F_MORE, `ACCEPT flags 0x${c.flags.toString(16)}: got no F_MORE, wanted F_MORE`).toBe(IORING_CQE_F_MORE);
          tlibc.close(c.res);
        }
        expect(r.isLive(h), "multishot ACCEPT still armed after 3 connections").toBe(true);
        r.cancel(h);
        await_(r, rec, 4, "ACCEPT after cancel");
        const last = rec.cqes[3]!;
        expect(last.res, `final ACCEPT CQE: got ${last.res}, wanted -ECANCELED`).toBe(-ECANCELED);
        expect(last.flags & IORING_CQE_F_MORE, "final CQE has F_MORE").toBe(0);
        expect(r.isLive(h), "ACCEPT op released after its last CQE").toBe(false);
      } finally {
        for (const c of clients) tlibc.close(c);
        tlibc.close(lfd);
      }
    });
  });

  test.skipIf(lacks(IORING_OP_RECV))("RECV multishot with buffer select: each chunk in a provided buffer, 0 at EOF", () => {
    withReactor((r) => {
      const p = connectedPair(r);
      try {
        const bufs = r.buffers;
        const rec = new Recorder();
        const got: number[][] = [];
        rec.onComplete = (c) => {
          if (c.res > 0) {
            const bid = c.flags >>> IORING_CQE_BUFFER_SHIFT;
            got.push([...bufs.view(bid, c.res)]);
            bufs.out++;
            bufs.recycle(bid);
          }
        };
        const w = r.prepare(rec, 0, IORING_OP_RECV);
        sqe.prepRecvMultishot(r.ring.sqe, w, p.server, 0, 0, 0);
        sqe.setSqeFlags(r.ring.sqe, w, IOSQE_BUFFER_SELECT);
        sqe.setBufGroup(r.ring.sqe, w, bufs.bgid);
        const msgs = [patternBytes(10, 1), patternBytes(1000, 2), patternBytes(3000, 3)];
        for (let i = 0; i < msgs.length; i++) {
          writeAll(p.client, msgs[i]!);
          await_(r, rec, i + 1, `RECV of message ${i}`);
        }
        for (let i = 0; i < msgs.length; i++) {
          const c = rec.cqes[i]!;
          expect(c.flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER), `RECV #${i} flags 0x${c.flags.toString(16)}: wanted F_MORE|F_BUFFER`).toBe(IORING_CQE_F_MORE | IORING_CQE_F_BUFFER);
          expect(firstDifference(Uint8Array.from(got[i]!), msgs[i]!), `message ${i} bytes`).toBe(-1);
        }
        tlibc.shutdown(p.client, SHUT_WR);
        const end = await_(r, rec, 4, "RECV at EOF")[3]!;
        expect(end.res, `RECV at EOF: got ${end.res}, wanted 0`).toBe(0);
        expect(end.flags & IORING_CQE_F_MORE, "EOF CQE ends the multishot").toBe(0);
      } finally {
        p.close();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_SEND))("SEND: all bytes reach the peer", () => {
    withReactor((r) => {
      const p = connectedPair(r);
      const buf = new NativeRegion(20000);
      try {
        const want = patternBytes(20000, 9);
        buf.u8.set(want);
        const rec = new Recorder();
        sqe.prepSend(r.ring.sqe, r.prepare(rec, 0, IORING_OP_SEND), p.server, buf.ptr, want.length, MSG_NOSIGNAL);
        const [c] = await_(r, rec, 1, "SEND");
        expect(c!.res, `SEND res: got ${c!.res}, wanted ${want.length}`).toBe(want.length);
        const got = readExactly(p.client, want.length);
        expect(firstDifference(got, want), "SEND bytes at the peer").toBe(-1);
      } finally {
        buf.free();
        p.close();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_SENDMSG))("SENDMSG with several iovecs: the peer gets them concatenated", () => {
    withReactor((r) => {
      const p = connectedPair(r);
      const mem = new NativeRegion(8192);
      try {
        const parts = [patternBytes(100, 1), patternBytes(1, 2), patternBytes(2500, 3), patternBytes(77, 4)];
        // msghdr at 0 (56 bytes), iovecs at 64, data from 256.
        let data = 256;
        for (let i = 0; i < parts.length; i++) {
          mem.u8.set(parts[i]!, data);
          writePtr(mem.u32, (64 + i * 16) >>> 2, mem.ptr + data);
          writePtr(mem.u32, (64 + i * 16 + 8) >>> 2, parts[i]!.length);
          data += parts[i]!.length + 13; // gaps: the iovecs really are separate
        }
        writePtr(mem.u32, 16 >>> 2, mem.ptr + 64); // msg_iov
        writePtr(mem.u32, 24 >>> 2, parts.length); // msg_iovlen
        const total = parts.reduce((n, x) => n + x.length, 0);
        const rec = new Recorder();
        sqe.prepSendmsg(r.ring.sqe, r.prepare(rec, 0, IORING_OP_SENDMSG), p.server, mem.ptr, MSG_NOSIGNAL);
        const [c] = await_(r, rec, 1, "SENDMSG");
        expect(c!.res, `SENDMSG res: got ${c!.res}, wanted ${total}`).toBe(total);
        const want = new Uint8Array(total);
        let o = 0;
        for (const x of parts) { want.set(x, o); o += x.length; }
        expect(firstDifference(readExactly(p.client, total), want), "SENDMSG bytes at the peer").toBe(-1);
      } finally {
        mem.free();
        p.close();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_SEND_ZC))("SEND_ZC: a result CQE with F_MORE, then a notification CQE (F_NOTIF) once the memory is free", () => {
    withReactor((r) => {
      const p = connectedPair(r);
      const buf = new NativeRegion(100000);
      try {
        const want = patternBytes(100000, 5);
        buf.u8.set(want);
        const rec = new Recorder();
        sqe.prepSendZc(r.ring.sqe, r.prepare(rec, 0, IORING_OP_SEND_ZC), p.server, buf.ptr, want.length, MSG_NOSIGNAL, 0);
        const h = r.lastOp;
        // The peer reads while we wait: a large ZC send may need the receiver to make room.
        setNonBlocking(p.client);
        const got = new Uint8Array(want.length);
        let have = 0;
        runOrFail(r, () => {
          for (;;) {
            const part = have < want.length ? tryRead(p.client, want.length - have) : null;
            if (!part || part.length === 0) break;
            got.set(part, have);
            have += part.length;
          }
          return rec.cqes.length >= 2 && have === want.length;
        }, 3000, () => `SEND_ZC: got ${rec.cqes.length} CQEs and ${have} bytes, wanted 2 and ${want.length}`);
        const [res, notif] = rec.cqes;
        expect(res!.res, `SEND_ZC res: got ${res!.res}, wanted ${want.length}`).toBe(want.length);
        expect(res!.flags & IORING_CQE_F_MORE, "first CQE has F_MORE").toBe(IORING_CQE_F_MORE);
        expect(notif!.flags & IORING_CQE_F_NOTIF, `second CQE flags 0x${notif!.flags.toString(16)}: wanted F_NOTIF`).toBe(IORING_CQE_F_NOTIF);
        expect(notif!.flags & IORING_CQE_F_MORE, "notification ends the op").toBe(0);
        expect(r.isLive(h), "op released after the notification").toBe(false);
        expect(firstDifference(got, want), "SEND_ZC bytes").toBe(-1);
      } finally {
        buf.free();
        p.close();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_CLOSE))("CLOSE: the fd is gone afterwards (fcntl F_GETFD gives EBADF)", () => {
    withReactor((r) => {
      const [rd, wr] = pipe();
      tlibc.close(wr);
      const rec = new Recorder();
      sqe.prepClose(r.ring.sqe, r.prepare(rec, 0, IORING_OP_CLOSE), rd);
      const [c] = await_(r, rec, 1, "CLOSE");
      expect(c!.res, `CLOSE res: got ${c!.res}, wanted 0`).toBe(0);
      const rc = tlibc.fcntl(rd, F_GETFD, 0);
      expect([rc, rc < 0 ? lastErrno() : 0], `fcntl after CLOSE: got ${rc}, wanted -1 EBADF`).toEqual([-1, EBADF]);
      const again = new Recorder();
      sqe.prepClose(r.ring.sqe, r.prepare(again, 0, IORING_OP_CLOSE), rd);
      expect(await_(r, again, 1, "second CLOSE")[0]!.res, "CLOSE of a closed fd").toBe(-EBADF);
    });
  });

  test.skipIf(lacks(IORING_OP_SHUTDOWN))("SHUTDOWN(SHUT_WR): the peer reads EOF and can still send back", () => {
    withReactor((r) => {
      const p = connectedPair(r);
      try {
        const rec = new Recorder();
        sqe.prepShutdown(r.ring.sqe, r.prepare(rec, 0, IORING_OP_SHUTDOWN), p.server, SHUT_WR);
        expect(await_(r, rec, 1, "SHUTDOWN")[0]!.res, "SHUTDOWN res").toBe(0);
        const eof = readSome(p.client, 100);
        expect(eof.length, `peer read after SHUT_WR: got ${eof.length} bytes, wanted 0 (EOF)`).toBe(0);
        writeAll(p.client, new Uint8Array([1, 2, 3]));
        const back = readSome(p.server, 100);
        expect([...back], "the other direction still works").toEqual([1, 2, 3]);
      } finally {
        p.close();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_CONNECT))("CONNECT: to a listener succeeds, to a closed port gives -ECONNREFUSED", () => {
    withReactor((r) => {
      const { fd: lfd, address } = createListener({ hostname: "127.0.0.1", port: 0 });
      const fd = socketNonBlocking(), fd2 = socketNonBlocking();
      const addr = new NativeRegion(64);
      try {
        const len = writeSockaddrIn(addr, 0, address.port);
        const rec = new Recorder();
        sqe.prepConnect(r.ring.sqe, r.prepare(rec, 1, IORING_OP_CONNECT), fd, addr.ptr, len);
        expect(await_(r, rec, 1, "CONNECT")[0]!.res, "CONNECT to a listener").toBe(0);
        // A port nobody listens on: close the listener and reuse its port number.
        tlibc.close(lfd);
        writeSockaddrIn(addr, 32, address.port);
        sqe.prepConnect(r.ring.sqe, r.prepare(rec, 2, IORING_OP_CONNECT), fd2, addr.ptr + 32, 16);
        const res = await_(r, rec, 2, "CONNECT refused")[1]!.res;
        expect(res, `CONNECT to a closed port: got ${res}, wanted -ECONNREFUSED`).toBe(-ECONNREFUSED);
      } finally {
        tlibc.close(fd);
        tlibc.close(fd2);
        addr.free();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_OPENAT) || lacks(IORING_OP_READ))("OPENAT into a direct descriptor, then READ with IOSQE_FIXED_FILE, CLOSE direct", () => {
    withReactor((r) => {
      const path = tmp.path("direct.bin");
      const want = patternBytes(10000, 21);
      writeFileSync(path, want);
      const slots = new FileSlots(r, 8);
      const mem = new NativeRegion(16384);
      try {
        const slot = slots.take();
        mem.writeCString(0, path);
        const rec = new Recorder();
        // O_CLOEXEC is refused for a direct descriptor (io_uring/openclose.c: "makes no sense for fixed files").
        const bad = new Recorder();
        sqe.prepOpenatDirect(r.ring.sqe, r.prepare(bad, 0, IORING_OP_OPENAT), AT_FDCWD, mem.ptr, O_RDONLY | O_CLOEXEC, 0, slot);
        expect(await_(r, bad, 1, "OPENAT direct + O_CLOEXEC")[0]!.res, "OPENAT direct with O_CLOEXEC").toBe(-EINVAL);
        sqe.prepOpenatDirect(r.ring.sqe, r.prepare(rec, 1, IORING_OP_OPENAT), AT_FDCWD, mem.ptr, O_RDONLY, 0, slot);
        const open = await_(r, rec, 1, "OPENAT direct")[0]!;
        expect(open.res, `OPENAT direct res: got ${open.res}, wanted 0 (a slot, not an fd)`).toBe(0);
        const rw = r.prepare(rec, 2, IORING_OP_READ);
        sqe.prepRead(r.ring.sqe, rw, slot, mem.ptr + 4096, 12000, 0);
        sqe.setSqeFlags(r.ring.sqe, rw, IOSQE_FIXED_FILE);
        const read = await_(r, rec, 2, "READ fixed")[1]!;
        expect(read.res, `READ fixed res: got ${read.res}, wanted ${want.length}`).toBe(want.length);
        expect(firstDifference(mem.u8.slice(4096, 4096 + read.res), readFileSync(path)), "READ fixed bytes vs fs.readFileSync").toBe(-1);
        sqe.prepCloseDirect(r.ring.sqe, r.prepare(rec, 3, IORING_OP_CLOSE), slot);
        expect(await_(r, rec, 3, "CLOSE direct")[2]!.res, "CLOSE direct").toBe(0);
        // The slot is empty now: a fixed READ on it fails.
        const rw2 = r.prepare(rec, 4, IORING_OP_READ);
        sqe.prepRead(r.ring.sqe, rw2, slot, mem.ptr + 4096, 10, 0);
        sqe.setSqeFlags(r.ring.sqe, rw2, IOSQE_FIXED_FILE);
        expect(await_(r, rec, 4, "READ on an empty slot")[3]!.res, "READ on a closed slot").toBe(-EBADF);
        slots.give(slot);
      } finally {
        mem.free();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_OPENAT2))("OPENAT2 into a direct descriptor: RESOLVE_BENEATH opens inside the dir, refuses ../", () => {
    withReactor((r) => {
      const sub = tmp.path("beneath");
      mkdirSync(sub, { recursive: true });
      writeFileSync(`${sub}/inside.txt`, "inside");
      writeFileSync(tmp.path("outside.txt"), "outside");
      const dfd = openSync(sub, O_RDONLY | O_DIRECTORY);
      const slots = new FileSlots(r, 4);
      const mem = new NativeRegion(4096);
      try {
        // open_how { flags, mode, resolve } at 0; paths at 64 and 128; read buffer at 1024.
        mem.u32[0] = O_RDONLY; // no O_CLOEXEC: EINVAL for a direct descriptor
        mem.u32[4] = RESOLVE_BENEATH;
        mem.writeCString(64, "inside.txt");
        mem.writeCString(128, "../outside.txt");
        const rec = new Recorder();
        const slot = slots.take();
        sqe.prepOpenat2Direct(r.ring.sqe, r.prepare(rec, 1, IORING_OP_OPENAT2), dfd, mem.ptr + 64, mem.ptr, slot);
        expect(await_(r, rec, 1, "OPENAT2 inside")[0]!.res, "OPENAT2 inside the dir").toBe(0);
        const rw = r.prepare(rec, 2, IORING_OP_READ);
        sqe.prepRead(r.ring.sqe, rw, slot, mem.ptr + 1024, 100, 0);
        sqe.setSqeFlags(r.ring.sqe, rw, IOSQE_FIXED_FILE);
        const n = await_(r, rec, 2, "READ")[1]!.res;
        expect(new TextDecoder().decode(mem.u8.subarray(1024, 1024 + Math.max(0, n))), "content").toBe("inside");
        const slot2 = slots.take();
        sqe.prepOpenat2Direct(r.ring.sqe, r.prepare(rec, 3, IORING_OP_OPENAT2), dfd, mem.ptr + 128, mem.ptr, slot2);
        const esc = await_(r, rec, 3, "OPENAT2 ../")[2]!.res;
        expect(esc, `OPENAT2 of ../outside.txt with RESOLVE_BENEATH: got ${esc}, wanted -EXDEV`).toBe(-EXDEV);
        r.closeDirectDetached(slot);
        r.poll(0);
        slots.give(slot);
        slots.give(slot2);
      } finally {
        closeSync(dfd);
        mem.free();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_READ))("READ at offset -1 reads from the file position, like read(2)", () => {
    withReactor((r) => {
      const path = tmp.path("position.bin");
      const want = patternBytes(300, 31);
      writeFileSync(path, want);
      const fd = openSync(path, "r");
      const mem = new NativeRegion(4096);
      try {
        const rec = new Recorder();
        sqe.prepRead(r.ring.sqe, r.prepare(rec, 1, IORING_OP_READ), fd, mem.ptr, 100, -1);
        await_(r, rec, 1, "first READ");
        sqe.prepRead(r.ring.sqe, r.prepare(rec, 2, IORING_OP_READ), fd, mem.ptr + 100, 100, -1);
        await_(r, rec, 2, "second READ");
        expect(rec.cqes.map((c) => c.res), `READ results: got ${rec.cqes.map((c) => c.res)}, wanted 100,100`).toEqual([100, 100]);
        expect(firstDifference(mem.u8.slice(0, 200), want.subarray(0, 200)), "two READs at -1 read consecutive bytes").toBe(-1);
      } finally {
        closeSync(fd);
        mem.free();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_WRITE) || lacks(IORING_OP_WRITEV))("WRITE and WRITEV at offsets: the file holds what fs reads back", () => {
    withReactor((r) => {
      const path = tmp.path("written.bin");
      const mem = new NativeRegion(8192);
      const fd = openSync(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644);
      try {
        const a = patternBytes(1000, 41), b = patternBytes(500, 42), c = patternBytes(700, 43);
        mem.u8.set(a, 0);
        mem.u8.set(b, 2048);
        mem.u8.set(c, 4096);
        writePtr(mem.u32, 6144 >>> 2, mem.ptr + 2048);
        writePtr(mem.u32, (6144 + 8) >>> 2, b.length);
        writePtr(mem.u32, (6144 + 16) >>> 2, mem.ptr + 4096);
        writePtr(mem.u32, (6144 + 24) >>> 2, c.length);
        const rec = new Recorder();
        sqe.prepWrite(r.ring.sqe, r.prepare(rec, 1, IORING_OP_WRITE), fd, mem.ptr, a.length, 0);
        sqe.prepWritev(r.ring.sqe, r.prepare(rec, 2, IORING_OP_WRITEV), fd, mem.ptr + 6144, 2, a.length);
        await_(r, rec, 2, "WRITE + WRITEV");
        expect(rec.byTag(1)[0]!.res, "WRITE res").toBe(a.length);
        expect(rec.byTag(2)[0]!.res, "WRITEV res").toBe(b.length + c.length);
        const want = new Uint8Array([...a, ...b, ...c]);
        expect(firstDifference(new Uint8Array(readFileSync(path)), want), "file bytes").toBe(-1);
      } finally {
        closeSync(fd);
        mem.free();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_STATX))("STATX agrees with fs.statSync (oracle)", () => {
    withReactor((r) => {
      const path = tmp.path("stat-me.txt");
      writeFileSync(path, "x".repeat(12345));
      const mem = new NativeRegion(4096);
      try {
        mem.writeCString(0, path);
        const rec = new Recorder();
        sqe.prepStatx(r.ring.sqe, r.prepare(rec, 0, IORING_OP_STATX), AT_FDCWD, mem.ptr, 0, STATX_BASIC_STATS, mem.ptr + 1024);
        expect(await_(r, rec, 1, "STATX")[0]!.res, "STATX res").toBe(0);
        const v = new DataView(mem.buffer, 1024, 256);
        const st = statSync(path, { bigint: true });
        const got = {
          mode: v.getUint16(0x1c, true),
          nlink: v.getUint32(0x10, true),
          uid: v.getUint32(0x14, true),
          gid: v.getUint32(0x18, true),
          ino: v.getBigUint64(0x20, true),
          size: v.getBigUint64(0x28, true),
          blocks: v.getBigUint64(0x30, true),
          blksize: v.getUint32(0x04, true),
          mtimeNs: v.getBigInt64(0x70, true) * 1_000_000_000n + BigInt(v.getUint32(0x78, true)),
        };
        const want = {
          mode: Number(st.mode), nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid), ino: st.ino,
          size: st.size, blocks: st.blocks, blksize: Number(st.blksize), mtimeNs: st.mtimeNs,
        };
        expect(got, `STATX got ${JSON.stringify(got, (_, x) => (typeof x === "bigint" ? `${x}` : x))}`).toEqual(want);
        // A missing path: -ENOENT, as stat(2) says.
        mem.writeCString(0, tmp.path("nope"));
        sqe.prepStatx(r.ring.sqe, r.prepare(rec, 1, IORING_OP_STATX), AT_FDCWD, mem.ptr, 0, STATX_BASIC_STATS, mem.ptr + 1024);
        expect(await_(r, rec, 2, "STATX missing")[1]!.res, "STATX of a missing path").toBe(-ENOENT);
      } finally {
        mem.free();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_TIMEOUT))("TIMEOUT completes with -ETIME after its delay, not before", () => {
    withReactor((r) => {
      const rec = new Recorder();
      const t0 = performance.now();
      r.timeout(30, rec, 1);
      await_(r, rec, 1, "TIMEOUT");
      const took = performance.now() - t0;
      expect(rec.cqes[0]!.res, `TIMEOUT res: got ${rec.cqes[0]!.res}, wanted -ETIME`).toBe(-ETIME);
      expect(took, `TIMEOUT of 30 ms took ${took.toFixed(1)} ms`).toBeGreaterThanOrEqual(29);
      expect(took, `TIMEOUT of 30 ms took ${took.toFixed(1)} ms, wanted < 500`).toBeLessThan(500);
    });
  });

  test.skipIf(lacks(IORING_OP_TIMEOUT_REMOVE))("TIMEOUT_REMOVE: the timeout ends with -ECANCELED, the remove with 0; removing nothing gives -ENOENT", () => {
    withReactor((r) => {
      const rec = new Recorder();
      const h = r.timeout(5000, rec, 1);
      r.poll(0);
      const slot = slotOf(h), gen = genOf(h);
      sqe.prepTimeoutRemove(r.ring.sqe, r.prepare(rec, 2, IORING_OP_TIMEOUT_REMOVE), slot, gen, 0);
      await_(r, rec, 2, "TIMEOUT_REMOVE");
      expect(rec.byTag(1)[0]!.res, "removed TIMEOUT").toBe(-ECANCELED);
      expect(rec.byTag(2)[0]!.res, "TIMEOUT_REMOVE").toBe(0);
      sqe.prepTimeoutRemove(r.ring.sqe, r.prepare(rec, 3, IORING_OP_TIMEOUT_REMOVE), slot, gen, 0);
      expect(await_(r, rec, 3, "second remove")[2]!.res, "TIMEOUT_REMOVE of nothing").toBe(-ENOENT);
    });
  });

  test.skipIf(lacks(IORING_OP_LINK_TIMEOUT))("LINK_TIMEOUT: cuts a RECV that waits (-ECANCELED / -ETIME), is cancelled by a NOP that finishes", () => {
    withReactor((r) => {
      const p = connectedPair(r);
      const mem = new NativeRegion(4096);
      try {
        const rec = new Recorder();
        const rw = r.prepare(rec, 1, IORING_OP_RECV);
        sqe.prepRecv(r.ring.sqe, rw, p.server, mem.ptr, 100, 0);
        r.linkTimeout(rw, 30, rec, 2);
        await_(r, rec, 2, "RECV + LINK_TIMEOUT");
        expect(rec.byTag(1)[0]!.res, `cut RECV: got ${rec.byTag(1)[0]!.res}, wanted -ECANCELED`).toBe(-ECANCELED);
        expect(rec.byTag(2)[0]!.res, `fired LINK_TIMEOUT: got ${rec.byTag(2)[0]!.res}, wanted -ETIME`).toBe(-ETIME);
        const nw = r.prepare(rec, 3, IORING_OP_NOP);
        sqe.prepNop(r.ring.sqe, nw);
        r.linkTimeout(nw, 1000, rec, 4);
        await_(r, rec, 4, "NOP + LINK_TIMEOUT");
        expect(rec.byTag(3)[0]!.res, "NOP in time").toBe(0);
        expect(rec.byTag(4)[0]!.res, `unfired LINK_TIMEOUT: got ${rec.byTag(4)[0]!.res}, wanted -ECANCELED`).toBe(-ECANCELED);
      } finally {
        mem.free();
        p.close();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_ASYNC_CANCEL))("ASYNC_CANCEL: cancels a waiting RECV (0 / -ECANCELED); a cancel that finds nothing gives -ENOENT", () => {
    withReactor((r) => {
      const p = connectedPair(r);
      const mem = new NativeRegion(256);
      try {
        const rec = new Recorder();
        sqe.prepRecv(r.ring.sqe, r.prepare(rec, 1, IORING_OP_RECV), p.server, mem.ptr, 100, 0);
        const h = r.lastOp;
        r.poll(0);
        const slot = slotOf(h), gen = genOf(h);
        sqe.prepCancel64(r.ring.sqe, r.prepare(rec, 2, IORING_OP_ASYNC_CANCEL), slot, gen, 0);
        await_(r, rec, 2, "cancel");
        expect(rec.byTag(1)[0]!.res, "cancelled RECV").toBe(-ECANCELED);
        expect(rec.byTag(2)[0]!.res, "ASYNC_CANCEL").toBe(0);
        sqe.prepCancel64(r.ring.sqe, r.prepare(rec, 3, IORING_OP_ASYNC_CANCEL), slot, gen, 0);
        expect(await_(r, rec, 3, "second cancel")[2]!.res, "ASYNC_CANCEL of nothing").toBe(-ENOENT);
      } finally {
        mem.free();
        p.close();
      }
    });
  });

  test.skipIf(lacks(IORING_OP_POLL_ADD) || lacks(IORING_OP_POLL_REMOVE))("POLL_ADD: fires with POLLIN when a pipe gets data; multishot stays armed until POLL_REMOVE", () => {
    withReactor((r) => {
      const [rd, wr] = pipe();
      try {
        const rec = new Recorder();
        sqe.prepPollAdd(r.ring.sqe, r.prepare(rec, 1, IORING_OP_POLL_ADD), rd, POLLIN);
        r.poll(0);
        expect(rec.cqes.length, "POLL_ADD on an empty pipe fired early").toBe(0);
        writeAll(wr, new Uint8Array([1]));
        const c = await_(r, rec, 1, "POLL_ADD")[0]!;
        expect(c.res & POLLIN, `POLL_ADD res: got 0x${c.res.toString(16)}, wanted POLLIN`).toBe(POLLIN);
        // Multishot: fires again for more data (edge after the pipe was drained).
        sqe.prepPollMultishot(r.ring.sqe, r.prepare(rec, 2, IORING_OP_POLL_ADD), rd, POLLIN);
        const h = r.lastOp;
        await_(r, rec, 2, "multishot POLL_ADD, data already there");
        readSome(rd, 16);
        writeAll(wr, new Uint8Array([2]));
        await_(r, rec, 3, "multishot POLL_ADD, second event");
        for (const x of rec.byTag(2)) expect(x.flags & IORING_CQE_F_MORE, "multishot poll CQE has F_MORE").toBe(IORING_CQE_F_MORE);
        const slot = slotOf(h), gen = genOf(h);
        sqe.prepPollRemove(r.ring.sqe, r.prepare(rec, 3, IORING_OP_POLL_REMOVE), slot, gen);
        runOrFail(r, () => rec.byTag(3).length === 1 && !r.isLive(h), 2000, () => "POLL_REMOVE did not end the multishot poll");
        expect(rec.byTag(3)[0]!.res, "POLL_REMOVE").toBe(0);
        const last = rec.byTag(2).at(-1)!;
        expect(last.res, `removed poll's last CQE: got ${last.res}, wanted -ECANCELED`).toBe(-ECANCELED);
      } finally {
        tlibc.close(rd);
        tlibc.close(wr);
      }
    });
  });
});

/** Read exactly n bytes from a blocking fd. */
function readExactly(fd: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let have = 0;
  while (have < n) {
    const part = readSome(fd, n - have);
    if (part.length === 0) throw new Error(`EOF after ${have} of ${n} bytes`);
    out.set(part, have);
    have += part.length;
  }
  return out;
}
