// Listening sockets and addresses: plain libc calls at set-up time (never per request).
import type { Pointer } from "bun:ffi";
import { libc, errno } from "../ffi/libc.ts";
import { NativeRegion } from "../ffi/memory.ts";
import { SystemError } from "../ffi/errno.ts";
import { setSocketInt } from "./sockopt.ts";
import {
  AF_INET, AF_INET6, SOCK_STREAM, SOCK_CLOEXEC, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, IPPROTO_TCP,
  TCP_NODELAY, IPPROTO_IPV6, IPV6_V6ONLY,
} from "../ffi/constants.ts";

export interface SocketAddress {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
}

const scratch = new NativeRegion(256);

/** Encode a literal IPv4/IPv6 address (or "localhost") into scratch; returns [family, length]. */
function encodeAddress(hostname: string, port: number): [number, number] {
  const u8 = scratch.u8;
  u8.fill(0, 0, 128);
  const host = hostname === "localhost" ? "127.0.0.1" : hostname;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) throw invalidHost(hostname);
    u8[0] = AF_INET; // sin_family (little-endian u16)
    u8[2] = port >> 8; // sin_port, network order
    u8[3] = port & 0xff;
    u8.set(parts, 4);
    return [AF_INET, 16];
  }
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const groups = parseIPv6(bare);
  if (!groups) throw invalidHost(hostname);
  u8[0] = AF_INET6;
  u8[2] = port >> 8;
  u8[3] = port & 0xff;
  for (let i = 0; i < 8; i++) {
    u8[8 + i * 2] = groups[i]! >> 8;
    u8[9 + i * 2] = groups[i]! & 0xff;
  }
  return [AF_INET6, 28];
}

function parseIPv6(s: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length < 2) return null;
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const part = (p: string) => (p === "" ? [] : p.split(":"));
  const head = part(halves[0]!), tail = halves.length === 2 ? part(halves[1]!) : [];
  const toNums = (xs: string[]) => xs.map((x) => (/^[0-9a-fA-F]{1,4}$/.test(x) ? parseInt(x, 16) : NaN));
  const a = toNums(head), b = toNums(tail);
  if (a.some(Number.isNaN) || b.some(Number.isNaN)) return null;
  const fill = 8 - a.length - b.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  return [...a, ...new Array(fill).fill(0), ...b];
}

function invalidHost(hostname: string): Error {
  const e = new Error(`hostname must be an IP address literal or "localhost", got ${JSON.stringify(hostname)}`) as Error & { code: string };
  e.code = "ERR_INVALID_HOSTNAME";
  return e;
}

function setInt(fd: number, level: number, name: number, value: number): void {
  const e = setSocketInt(fd, level, name, value);
  if (e !== 0) throw new SystemError(e, "setsockopt");
}

export interface ListenOptions {
  hostname: string;
  port: number;
  reusePort?: boolean;
  backlog?: number;
  /** An IPv6 listener takes IPv6 only (IPV6_V6ONLY); otherwise IPv4 too, as mapped addresses. No effect on IPv4. */
  ipv6Only?: boolean;
}

/** socket + bind + listen; returns the fd and the bound address (port 0 picks a free one). */
export function createListener(opts: ListenOptions): { fd: number; address: SocketAddress } {
  const [family, len] = encodeAddress(opts.hostname, opts.port);
  const fd = libc.socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SystemError(errno(), "socket");
  try {
    setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (opts.reusePort) setInt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (family === AF_INET6) setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, opts.ipv6Only ? 1 : 0);
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: no setsockopt per connection.
    setInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (libc.bind(fd, scratch.ptr as unknown as Pointer, len) < 0) {
      const e = errno();
      throw new SystemError(e, "bind", `${opts.hostname}:${opts.port}`);
    }
    // The backlog bounds connections the kernel queues before we accept them.
    if (libc.listen(fd, opts.backlog ?? 1024) < 0) throw new SystemError(errno(), "listen");
    const address = localAddress(fd);
    if (!address) throw new SystemError(errno(), "getsockname");
    return { fd, address };
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

function decode(): SocketAddress | null {
  const u8 = scratch.u8;
  const family = u8[0]! | (u8[1]! << 8);
  const port = (u8[2]! << 8) | u8[3]!;
  if (family === AF_INET) return { address: `${u8[4]}.${u8[5]}.${u8[6]}.${u8[7]}`, family: "IPv4", port };
  if (family === AF_INET6) {
    const g: number[] = [];
    for (let i = 0; i < 8; i++) g.push((u8[8 + i * 2]! << 8) | u8[9 + i * 2]!);
    if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
      return { address: `${u8[20]}.${u8[21]}.${u8[22]}.${u8[23]}`, family: "IPv4", port };
    }
    return { address: compressIPv6(g), family: "IPv6", port };
  }
  return null;
}

function compressIPv6(g: number[]): string {
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function nameOf(fn: typeof libc.getsockname, fd: number): SocketAddress | null {
  scratch.u8.fill(0, 0, 128);
  scratch.u32[40] = 128; // socklen_t at byte 160
  if (fn(fd, scratch.ptr as unknown as Pointer, (scratch.ptr + 160) as unknown as Pointer) < 0) return null;
  return decode();
}

export function localAddress(fd: number): SocketAddress | null {
  return nameOf(libc.getsockname, fd);
}

export function peerAddress(fd: number): SocketAddress | null {
  return nameOf(libc.getpeername, fd);
}

