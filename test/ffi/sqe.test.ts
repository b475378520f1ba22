// Every SQE encoder in src/ffi/sqe.ts against liburing.h's io_uring_prep_* (the oracle): a small
// C program built here with cc prints the 64 bytes each prep call writes into a zeroed SQE, and the
// JS encoder given the same arguments must write the same 64 bytes.
import { describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import * as sqe from "../../src/ffi/sqe.ts";
import type { SqeViews } from "../../src/ffi/sqe.ts";
import { tempDir } from "../support/uring.ts";

// Pointer-like values below 2^53 (JS numbers carry them exactly), with distinct halves so a
// swapped or truncated word shows.
const P1 = 0x7ffd12345678, P2 = 0x7ffd0000a0b0, P3 = 0x55aa00c0ffee;

interface Case {
  name: string;
  c: string; // C statement(s) on `sqe`
  js: (s: SqeViews, w: number) => void;
}

const cases: Case[] = [
  { name: "nop", c: "io_uring_prep_nop(sqe);", js: (s, w) => sqe.prepNop(s, w) },
  {
    name: "accept",
    c: `io_uring_prep_accept(sqe, 7, (struct sockaddr*)${P1}UL, (socklen_t*)${P2}UL, SOCK_CLOEXEC);`,
    js: (s, w) => sqe.prepAccept(s, w, 7, P1, P2, 0o2000000),
  },
  {
    name: "multishot_accept",
    c: `io_uring_prep_multishot_accept(sqe, 9, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);`,
    js: (s, w) => sqe.prepMultishotAccept(s, w, 9, 0, 0, 0o2000000 | 0o4000),
  },
  {
    name: "accept_direct",
    c: `io_uring_prep_accept_direct(sqe, 11, NULL, NULL, 0, 5);`,
    js: (s, w) => sqe.prepAcceptDirect(s, w, 11, 0, 0, 0, 5),
  },
  {
    name: "multishot_accept_direct",
    c: `io_uring_prep_multishot_accept_direct(sqe, 12, (struct sockaddr*)${P1}UL, (socklen_t*)${P2}UL, 0);`,
    js: (s, w) => sqe.prepMultishotAcceptDirect(s, w, 12, P1, P2, 0),
  },
  {
    name: "recv",
    c: `io_uring_prep_recv(sqe, 13, (void*)${P1}UL, 16384, MSG_WAITALL);`,
    js: (s, w) => sqe.prepRecv(s, w, 13, P1, 16384, 0x100),
  },
  {
    name: "recv_multishot",
    c: `io_uring_prep_recv_multishot(sqe, 14, NULL, 0, 0);`,
    js: (s, w) => sqe.prepRecvMultishot(s, w, 14, 0, 0, 0),
  },
  {
    name: "send",
    c: `io_uring_prep_send(sqe, 15, (void*)${P3}UL, 123456, MSG_NOSIGNAL | MSG_WAITALL);`,
    js: (s, w) => sqe.prepSend(s, w, 15, P3, 123456, 0x4000 | 0x100),
  },
  {
    name: "send_zc",
    c: `io_uring_prep_send_zc(sqe, 16, (void*)${P3}UL, 65536, MSG_NOSIGNAL, IORING_RECVSEND_POLL_FIRST);`,
    js: (s, w) => sqe.prepSendZc(s, w, 16, P3, 65536, 0x4000, 1),
  },
  {
    name: "sendmsg",
    c: `io_uring_prep_sendmsg(sqe, 17, (struct msghdr*)${P1}UL, MSG_NOSIGNAL);`,
    js: (s, w) => sqe.prepSendmsg(s, w, 17, P1, 0x4000),
  },
  {
    name: "writev",
    c: `io_uring_prep_writev(sqe, 18, (struct iovec*)${P2}UL, 3, 0x123456789ULL);`,
    js: (s, w) => sqe.prepWritev(s, w, 18, P2, 3, 0x123456789),
  },
  {
    name: "write",
    c: `io_uring_prep_write(sqe, 19, (void*)${P2}UL, 4096, 8192);`,
    js: (s, w) => sqe.prepWrite(s, w, 19, P2, 4096, 8192),
  },
  { name: "close", c: `io_uring_prep_close(sqe, 20);`, js: (s, w) => sqe.prepClose(s, w, 20) },
  { name: "close_direct", c: `io_uring_prep_close_direct(sqe, 33);`, js: (s, w) => sqe.prepCloseDirect(s, w, 33) },
  { name: "shutdown", c: `io_uring_prep_shutdown(sqe, 21, SHUT_WR);`, js: (s, w) => sqe.prepShutdown(s, w, 21, 1) },
  {
    name: "connect",
    c: `io_uring_prep_connect(sqe, 22, (struct sockaddr*)${P1}UL, 16);`,
    js: (s, w) => sqe.prepConnect(s, w, 22, P1, 16),
  },
  {
    name: "openat",
    c: `io_uring_prep_openat(sqe, AT_FDCWD, (const char*)${P1}UL, O_RDONLY | O_CLOEXEC, 0644);`,
    js: (s, w) => sqe.prepOpenat(s, w, -100, P1, 0o2000000, 0o644),
  },
  {
    name: "openat_direct",
    c: `io_uring_prep_openat_direct(sqe, AT_FDCWD, (const char*)${P1}UL, O_RDONLY, 0, 4095);`,
    js: (s, w) => sqe.prepOpenatDirect(s, w, -100, P1, 0, 0, 4095),
  },
  {
    name: "openat2",
    c: `io_uring_prep_openat2(sqe, 23, (const char*)${P1}UL, (struct open_how*)${P2}UL);`,
    js: (s, w) => sqe.prepOpenat2(s, w, 23, P1, P2),
  },
  {
    name: "openat2_direct",
    c: `io_uring_prep_openat2_direct(sqe, AT_FDCWD, (const char*)${P1}UL, (struct open_how*)${P2}UL, 0);`,
    js: (s, w) => sqe.prepOpenat2Direct(s, w, -100, P1, P2, 0),
  },
  {
    name: "read",
    c: `io_uring_prep_read(sqe, 24, (void*)${P3}UL, 65536, 0x1fffffffffffULL);`,
    js: (s, w) => sqe.prepRead(s, w, 24, P3, 65536, 0x1fffffffffff),
  },
  {
    // offset -1: "read at the file position" (pipes, sockets); liburing casts it to all ones.
    name: "read_offset_minus_one",
    c: `io_uring_prep_read(sqe, 25, (void*)${P3}UL, 100, (__u64)-1);`,
    js: (s, w) => sqe.prepRead(s, w, 25, P3, 100, -1),
  },
  {
    name: "statx",
    c: `io_uring_prep_statx(sqe, AT_FDCWD, (const char*)${P1}UL, AT_EMPTY_PATH, STATX_BASIC_STATS, (struct statx*)${P2}UL);`,
    js: (s, w) => sqe.prepStatx(s, w, -100, P1, 0x1000, 0x7ff, P2),
  },
  {
    name: "splice_offsets",
    c: `io_uring_prep_splice(sqe, 26, 4096, 27, 0x100000000LL, 65536, 0);`,
    js: (s, w) => sqe.prepSplice(s, w, 26, 4096, 27, 0x100000000, 65536, 0),
  },
  {
    // Both offsets -1 (pipes): both fields must be all ones, as liburing's (__u64) casts make them.
    name: "splice_no_offsets",
    c: `io_uring_prep_splice(sqe, 28, -1, 29, -1, 1024, 4 /* SPLICE_F_MORE */);`,
    js: (s, w) => sqe.prepSplice(s, w, 28, -1, 29, -1, 1024, 4),
  },
  {
    name: "timeout",
    c: `io_uring_prep_timeout(sqe, (struct __kernel_timespec*)${P1}UL, 0, IORING_TIMEOUT_ABS);`,
    js: (s, w) => sqe.prepTimeout(s, w, P1, 0, 1),
  },
  {
    name: "timeout_count",
    c: `io_uring_prep_timeout(sqe, (struct __kernel_timespec*)${P1}UL, 3, 0);`,
    js: (s, w) => sqe.prepTimeout(s, w, P1, 3, 0),
  },
  {
    name: "timeout_remove",
    c: `io_uring_prep_timeout_remove(sqe, 0x0000000700000005ULL, 0);`,
    js: (s, w) => sqe.prepTimeoutRemove(s, w, 5, 7, 0),
  },
  {
    name: "timeout_update",
    c: `io_uring_prep_timeout_update(sqe, (struct __kernel_timespec*)${P2}UL, 0xfffffffe00000009ULL, IORING_TIMEOUT_ABS);`,
    js: (s, w) => sqe.prepTimeoutUpdate(s, w, P2, 9, 0xfffffffe, 1),
  },
  {
    name: "link_timeout",
    c: `io_uring_prep_link_timeout(sqe, (struct __kernel_timespec*)${P1}UL, 0);`,
    js: (s, w) => sqe.prepLinkTimeout(s, w, P1, 0),
  },
  {
    name: "cancel64",
    c: `io_uring_prep_cancel64(sqe, 0x0000002a00000003ULL, IORING_ASYNC_CANCEL_ALL);`,
    js: (s, w) => sqe.prepCancel64(s, w, 3, 42, 1),
  },
  {
    name: "cancel_any",
    c: `io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);`,
    js: (s, w) => sqe.prepCancel64(s, w, 0, 0, 4 | 1),
  },
  {
    name: "cancel_fd",
    c: `io_uring_prep_cancel_fd(sqe, 30, IORING_ASYNC_CANCEL_ALL);`,
    js: (s, w) => sqe.prepCancelFd(s, w, 30, 1),
  },
  {
    name: "cancel_fd_fixed",
    c: `io_uring_prep_cancel_fd(sqe, 31, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);`,
    js: (s, w) => sqe.prepCancelFd(s, w, 31, 1 | 8),
  },
  {
    name: "poll_add",
    c: `io_uring_prep_poll_add(sqe, 32, POLLIN | POLLRDHUP);`,
    js: (s, w) => sqe.prepPollAdd(s, w, 32, 0x001 | 0x2000),
  },
  {
    name: "poll_multishot",
    c: `io_uring_prep_poll_multishot(sqe, 33, POLLIN);`,
    js: (s, w) => sqe.prepPollMultishot(s, w, 33, 0x001),
  },
  {
    name: "poll_remove",
    c: `io_uring_prep_poll_remove(sqe, 0x0000000b0000000aULL);`,
    js: (s, w) => sqe.prepPollRemove(s, w, 10, 11),
  },
  // The field setters the encoders leave to the caller.
  {
    name: "flags_and_user_data",
    c: `io_uring_prep_nop(sqe); io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS); io_uring_sqe_set_data64(sqe, 0xffffffff00012345ULL);`,
    js: (s, w) => {
      sqe.prepNop(s, w);
      sqe.setSqeFlags(s, w, 4 | 64);
      sqe.setUserData(s, w, 0x12345, 0xffffffff);
    },
  },
  {
    name: "or_flags",
    c: `io_uring_prep_nop(sqe); io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE); sqe->flags |= IOSQE_IO_HARDLINK;`,
    js: (s, w) => {
      sqe.prepNop(s, w);
      sqe.setSqeFlags(s, w, 1);
      sqe.orSqeFlags(s, w, 8);
    },
  },
  {
    name: "recv_buffer_select",
    c: `io_uring_prep_recv_multishot(sqe, 34, NULL, 0, 0); io_uring_sqe_set_flags(sqe, IOSQE_BUFFER_SELECT); sqe->buf_group = 0x1234;`,
    js: (s, w) => {
      sqe.prepRecvMultishot(s, w, 34, 0, 0, 0);
      sqe.setSqeFlags(s, w, 32);
      sqe.setBufGroup(s, w, 0x1234);
    },
  },
];

function cProgram(): string {
  const body = cases
    .map((k) => `  memset(sqe, 0xa5, 64); memset(sqe, 0, 64); { ${k.c} } dump("${k.name}", sqe);`)
    .join("\n");
  return `#define _GNU_SOURCE
#include <liburing.h>
#include <poll.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
static void dump(const char *name, struct io_uring_sqe *sqe) {
  const unsigned char *b = (const unsigned char *)sqe;
  printf("%s ", name);
  for (int i = 0; i < 64; i++) printf("%02x", b[i]);
  printf("\\n");
}
int main(void) {
  _Static_assert(sizeof(struct io_uring_sqe) == 64, "SQE is 64 bytes");
  static struct io_uring_sqe storage;
  struct io_uring_sqe *sqe = &storage;
${body}
  return 0;
}
`;
}

const cc = ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"].find((p) => existsSync(p));
const header = existsSync("/usr/include/liburing.h");
const reason = !cc ? "no C compiler (cc)" : !header ? "no /usr/include/liburing.h (apt-get install liburing-dev)" : "";

function oracle(): Map<string, string> {
  const tmp = tempDir("sqe");
  try {
    const src = tmp.path("sqe.c"), bin = tmp.path("sqe");
    writeFileSync(src, cProgram());
    const built = spawnSync(cc!, ["-O0", "-w", "-o", bin, src], { encoding: "utf8" });
    if (built.status !== 0) throw new Error(`cc got exit ${built.status}, wanted 0:\n${built.stderr}`);
    const ran = spawnSync(bin, [], { encoding: "utf8" });
    if (ran.status !== 0) throw new Error(`oracle got exit ${ran.status}, wanted 0:\n${ran.stderr}`);
    const out = new Map<string, string>();
    for (const line of ran.stdout.trim().split("\n")) {
      const [name, hex] = line.split(" ");
      out.set(name!, hex!);
    }
    return out;
  } finally {
    tmp.remove();
  }
}

function encodeJs(k: Case): string {
  // Two SQEs so that the word index is not 0: an encoder that ignores `w` writes the wrong slot.
  const buf = new ArrayBuffer(128);
  const s: SqeViews = { u8: new Uint8Array(buf), u16: new Uint16Array(buf), u32: new Uint32Array(buf), i32: new Int32Array(buf) };
  k.js(s, 16);
  const first = s.u8.subarray(0, 64);
  if (first.some((b) => b !== 0)) throw new Error(`${k.name}: wrote outside its SQE (slot 0 touched)`);
  return Buffer.from(s.u8.subarray(64, 128)).toString("hex");
}

/** Describe the differing bytes as "byte N: got xx, wanted yy". */
function diff(got: string, wanted: string): string {
  const out: string[] = [];
  for (let i = 0; i < 64; i++) {
    const g = got.slice(i * 2, i * 2 + 2), w = wanted.slice(i * 2, i * 2 + 2);
    if (g !== w) out.push(`byte ${i}: got ${g}, wanted ${w}`);
  }
  return out.join("; ");
}

describe.skipIf(reason !== "")(`SQE encoders vs liburing.h ${reason ? `(skipped: ${reason})` : ""}`, () => {
  const wanted = reason ? new Map<string, string>() : oracle();

  test("every encoder exported by src/ffi/sqe.ts has a case", () => {
    const used = cases.map((k) => k.js.toString()).join("\n");
    const missing = Object.keys(sqe).filter((name) => typeof (sqe as Record<string, unknown>)[name] === "function" && !used.includes(`sqe.${name}(`));
    expect(missing, `encoders without a case: got ${missing.join(", ")}, wanted none`).toEqual([]);
  });

  test("the oracle printed every case", () => {
    const missing = cases.filter((k) => !wanted.has(k.name)).map((k) => k.name);
    expect(missing, `cases missing from the C output: got ${missing.join(", ")}, wanted none`).toEqual([]);
  });

  for (const k of cases) {
    test(`io_uring_prep_${k.name}`, () => {
      const got = encodeJs(k);
      const want = wanted.get(k.name)!;
      if (got !== want) throw new Error(`${k.name}: ${diff(got, want)}`);
    });
  }
});
