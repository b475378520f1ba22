// SQE encoders, one per opcode, a literal mapping of liburing.h's io_uring_prep_* (liburing 2.3).
// Each writes into a zeroed 64-byte SQE given as a word index `w` (byte offset / 4) into the SQ's
// views; user_data and sqe->flags are the caller's. No allocation, no BigInt.
//
// struct io_uring_sqe, by 32-bit word: 0 opcode:u8 flags:u8 ioprio:u16 | 1 fd | 2-3 off/addr2 |
// 4-5 addr | 6 len | 7 op flags (msg_flags, poll32_events, timeout_flags, ...) | 8-9 user_data |
// 10 buf_index/buf_group:u16 personality:u16 | 11 file_index/splice_fd_in | 12-13 addr3 | 14-15 pad
import {
  IORING_OP_NOP, IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG, IORING_OP_WRITEV,
  IORING_OP_SEND_ZC, IORING_OP_CLOSE, IORING_OP_SHUTDOWN, IORING_OP_CONNECT, IORING_OP_OPENAT,
  IORING_OP_OPENAT2, IORING_OP_READ, IORING_OP_WRITE, IORING_OP_STATX, IORING_OP_TIMEOUT,
  IORING_OP_TIMEOUT_REMOVE, IORING_OP_LINK_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD,
  IORING_OP_POLL_REMOVE, IORING_OP_SPLICE, IORING_ACCEPT_MULTISHOT, IORING_RECV_MULTISHOT,
  IORING_POLL_ADD_MULTI, IORING_FILE_INDEX_ALLOC, IORING_TIMEOUT_UPDATE,
} from "./constants.ts";

/** Typed views over the SQE array, shared by every encoder. */
export interface SqeViews {
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
  i32: Int32Array;
}

const HI = 4294967296;

function prepRw(s: SqeViews, w: number, op: number, fd: number, addr: number, len: number, off: number): void {
  s.u8[w << 2] = op;
  s.i32[w + 1] = fd;
  s.u32[w + 2] = off >>> 0;
  // floor, not truncation: liburing casts a negative offset (-1 = "at the file position" for
  // READ/WRITE/SPLICE on pipes and sockets) to __u64, all ones; (off / HI) >>> 0 gave 0 here, so
  // -1 was encoded as 0x00000000ffffffff, a real offset of 4 GiB (found by test/ffi/sqe.test.ts).
  s.u32[w + 3] = Math.floor(off / HI) >>> 0;
  s.u32[w + 4] = addr >>> 0;
  s.u32[w + 5] = (addr / HI) >>> 0;
  s.u32[w + 6] = len;
}

/** sqe->flags (IOSQE_*). */
export function setSqeFlags(s: SqeViews, w: number, flags: number): void {
  s.u8[(w << 2) + 1] = flags;
}
export function orSqeFlags(s: SqeViews, w: number, flags: number): void {
  s.u8[(w << 2) + 1] |= flags;
}
function orIoprio(s: SqeViews, w: number, v: number): void {
  s.u16[(w << 1) + 1] |= v;
}
/** user_data as two 32-bit halves: our op slot and its generation (loop/ops.ts). */
export function setUserData(s: SqeViews, w: number, lo: number, hi: number): void {
  s.u32[w + 8] = lo;
  s.u32[w + 9] = hi;
}
export function setBufGroup(s: SqeViews, w: number, bgid: number): void {
  s.u16[(w + 10) << 1] = bgid;
}
/** __io_uring_set_target_fixed_file: 0 means none, so slots are encoded as index + 1. */
function setTargetFixedFile(s: SqeViews, w: number, fileIndex: number): void {
  s.u32[w + 11] = (fileIndex + 1) >>> 0;
}

export function prepNop(s: SqeViews, w: number): void {
  prepRw(s, w, IORING_OP_NOP, -1, 0, 0, 0);
}

export function prepAccept(s: SqeViews, w: number, fd: number, addr: number, addrlenPtr: number, flags: number): void {
  prepRw(s, w, IORING_OP_ACCEPT, fd, addr, 0, addrlenPtr);
  s.u32[w + 7] = flags;
}
export function prepMultishotAccept(s: SqeViews, w: number, fd: number, addr: number, addrlenPtr: number, flags: number): void {
  prepAccept(s, w, fd, addr, addrlenPtr, flags);
  orIoprio(s, w, IORING_ACCEPT_MULTISHOT);
}
/** Accept into the registered file table; IORING_FILE_INDEX_ALLOC picks a free slot. */
export function prepAcceptDirect(s: SqeViews, w: number, fd: number, addr: number, addrlenPtr: number, flags: number, fileIndex: number): void {
  prepAccept(s, w, fd, addr, addrlenPtr, flags);
  setTargetFixedFile(s, w, fileIndex);
}
export function prepMultishotAcceptDirect(s: SqeViews, w: number, fd: number, addr: number, addrlenPtr: number, flags: number): void {
  prepMultishotAccept(s, w, fd, addr, addrlenPtr, flags);
  setTargetFixedFile(s, w, IORING_FILE_INDEX_ALLOC - 1);
}

export function prepRecv(s: SqeViews, w: number, fd: number, buf: number, len: number, flags: number): void {
  prepRw(s, w, IORING_OP_RECV, fd, buf, len, 0);
  s.u32[w + 7] = flags;
}
/** Multishot recv; with IOSQE_BUFFER_SELECT and a buffer group, buf = 0 and len = 0. */
export function prepRecvMultishot(s: SqeViews, w: number, fd: number, buf: number, len: number, flags: number): void {
  prepRecv(s, w, fd, buf, len, flags);
  orIoprio(s, w, IORING_RECV_MULTISHOT);
}

export function prepSend(s: SqeViews, w: number, fd: number, buf: number, len: number, flags: number): void {
  prepRw(s, w, IORING_OP_SEND, fd, buf, len, 0);
  s.u32[w + 7] = flags;
}
export function prepSendZc(s: SqeViews, w: number, fd: number, buf: number, len: number, flags: number, zcFlags: number): void {
  prepRw(s, w, IORING_OP_SEND_ZC, fd, buf, len, 0);
  s.u32[w + 7] = flags;
  s.u16[(w << 1) + 1] = zcFlags;
}
export function prepSendmsg(s: SqeViews, w: number, fd: number, msghdr: number, flags: number): void {
  prepRw(s, w, IORING_OP_SENDMSG, fd, msghdr, 1, 0);
  s.u32[w + 7] = flags;
}
export function prepWritev(s: SqeViews, w: number, fd: number, iovecs: number, nrVecs: number, offset: number): void {
  prepRw(s, w, IORING_OP_WRITEV, fd, iovecs, nrVecs, offset);
}
export function prepWrite(s: SqeViews, w: number, fd: number, buf: number, len: number, offset: number): void {
  prepRw(s, w, IORING_OP_WRITE, fd, buf, len, offset);
}

export function prepClose(s: SqeViews, w: number, fd: number): void {
  prepRw(s, w, IORING_OP_CLOSE, fd, 0, 0, 0);
}
export function prepCloseDirect(s: SqeViews, w: number, fileIndex: number): void {
  prepClose(s, w, 0);
  setTargetFixedFile(s, w, fileIndex);
}
export function prepShutdown(s: SqeViews, w: number, fd: number, how: number): void {
  prepRw(s, w, IORING_OP_SHUTDOWN, fd, 0, how, 0);
}
export function prepConnect(s: SqeViews, w: number, fd: number, addr: number, addrlen: number): void {
  prepRw(s, w, IORING_OP_CONNECT, fd, addr, 0, addrlen);
}

export function prepOpenat(s: SqeViews, w: number, dfd: number, path: number, flags: number, mode: number): void {
  prepRw(s, w, IORING_OP_OPENAT, dfd, path, mode, 0);
  s.u32[w + 7] = flags;
}
/** `flags` must not carry O_CLOEXEC: the kernel refuses it for a direct descriptor (-EINVAL). */
export function prepOpenatDirect(s: SqeViews, w: number, dfd: number, path: number, flags: number, mode: number, fileIndex: number): void {
  prepOpenat(s, w, dfd, path, flags, mode);
  setTargetFixedFile(s, w, fileIndex);
}
/** `how` points at a struct open_how { u64 flags; u64 mode; u64 resolve } (24 bytes). */
export function prepOpenat2(s: SqeViews, w: number, dfd: number, path: number, how: number): void {
  prepRw(s, w, IORING_OP_OPENAT2, dfd, path, 24, how);
}
export function prepOpenat2Direct(s: SqeViews, w: number, dfd: number, path: number, how: number, fileIndex: number): void {
  prepOpenat2(s, w, dfd, path, how);
  setTargetFixedFile(s, w, fileIndex);
}

/** With IOSQE_FIXED_FILE, fd is a registered-file-table index. */
export function prepRead(s: SqeViews, w: number, fd: number, buf: number, len: number, offset: number): void {
  prepRw(s, w, IORING_OP_READ, fd, buf, len, offset);
}
export function prepStatx(s: SqeViews, w: number, dfd: number, path: number, flags: number, mask: number, statxbuf: number): void {
  prepRw(s, w, IORING_OP_STATX, dfd, path, mask, statxbuf);
  s.u32[w + 7] = flags;
}
export function prepSplice(s: SqeViews, w: number, fdIn: number, offIn: number, fdOut: number, offOut: number, nbytes: number, spliceFlags: number): void {
  prepRw(s, w, IORING_OP_SPLICE, fdOut, 0, nbytes, offOut);
  s.u32[w + 4] = offIn >>> 0; // splice_off_in shares addr's word; -1 (no offset) must be all ones
  s.u32[w + 5] = offIn < 0 ? 0xffffffff : (offIn / HI) >>> 0;
  s.u32[w + 7] = spliceFlags;
  s.i32[w + 11] = fdIn;
}

/** `ts` points at a struct __kernel_timespec { i64 tv_sec; i64 tv_nsec }. count 0: time only. */
export function prepTimeout(s: SqeViews, w: number, ts: number, count: number, flags: number): void {
  prepRw(s, w, IORING_OP_TIMEOUT, -1, ts, 1, count);
  s.u32[w + 7] = flags;
}
export function prepTimeoutRemove(s: SqeViews, w: number, udLo: number, udHi: number, flags: number): void {
  prepRw(s, w, IORING_OP_TIMEOUT_REMOVE, -1, 0, 0, 0);
  s.u32[w + 4] = udLo;
  s.u32[w + 5] = udHi;
  s.u32[w + 7] = flags;
}
export function prepTimeoutUpdate(s: SqeViews, w: number, ts: number, udLo: number, udHi: number, flags: number): void {
  prepRw(s, w, IORING_OP_TIMEOUT_REMOVE, -1, 0, 0, ts);
  s.u32[w + 4] = udLo;
  s.u32[w + 5] = udHi;
  s.u32[w + 7] = flags | IORING_TIMEOUT_UPDATE;
}
/** Must directly follow an SQE carrying IOSQE_IO_LINK; cuts it with -ECANCELED at the deadline. */
export function prepLinkTimeout(s: SqeViews, w: number, ts: number, flags: number): void {
  prepRw(s, w, IORING_OP_LINK_TIMEOUT, -1, ts, 1, 0);
  s.u32[w + 7] = flags;
}
/** Cancel the op whose user_data is (udLo, udHi); flags IORING_ASYNC_CANCEL_*. */
export function prepCancel64(s: SqeViews, w: number, udLo: number, udHi: number, flags: number): void {
  prepRw(s, w, IORING_OP_ASYNC_CANCEL, -1, 0, 0, 0);
  s.u32[w + 4] = udLo;
  s.u32[w + 5] = udHi;
  s.u32[w + 7] = flags;
}
export function prepCancelFd(s: SqeViews, w: number, fd: number, flags: number): void {
  prepRw(s, w, IORING_OP_ASYNC_CANCEL, fd, 0, 0, 0);
  s.u32[w + 7] = flags | 2 /* IORING_ASYNC_CANCEL_FD */;
}
export function prepPollAdd(s: SqeViews, w: number, fd: number, pollMask: number): void {
  prepRw(s, w, IORING_OP_POLL_ADD, fd, 0, 0, 0);
  s.u32[w + 7] = pollMask;
}
export function prepPollMultishot(s: SqeViews, w: number, fd: number, pollMask: number): void {
  prepPollAdd(s, w, fd, pollMask);
  s.u32[w + 6] = IORING_POLL_ADD_MULTI;
}
export function prepPollRemove(s: SqeViews, w: number, udLo: number, udHi: number): void {
  prepRw(s, w, IORING_OP_POLL_REMOVE, -1, 0, 0, 0);
  s.u32[w + 4] = udLo;
  s.u32[w + 5] = udHi;
}
