// Connection persistence (RFC 9112 §9.3), Upgrade (RFC 9110 §7.8) and Expect (RFC 9110 §10.1.1).
import { get11, type HeadCase } from "./types.ts";

const get10 = (extra = "") => `GET / HTTP/1.0\r\n${extra}\r\n`;

export const connectionCases: HeadCase[] = [
  { name: "HTTP/1.1 persists by default", raw: get11(), expect: { keepAlive: true } },
  { name: "HTTP/1.1 Connection: close", raw: get11("Connection: close\r\n"), expect: { keepAlive: false } },
  { name: "Connection options are case-insensitive", raw: get11("Connection: CLOSE\r\n"), expect: { keepAlive: false } },
  { name: "close anywhere in the list", raw: get11("Connection: foo ,\tclose , bar\r\n"), expect: { keepAlive: false } },
  { name: "close on a second Connection line", raw: get11("Connection: keep-alive\r\nConnection: close\r\n"), expect: { keepAlive: false } },
  { name: "HTTP/1.1 keep-alive", raw: get11("Connection: keep-alive\r\n"), expect: { keepAlive: true } },
  { name: "closed is not close", raw: get11("Connection: closed, xclose\r\n"), expect: { keepAlive: true } },
  { name: "HTTP/1.0 closes by default", raw: get10(), expect: { versionMinor: 0, keepAlive: false } },
  { name: "HTTP/1.0 keep-alive", raw: get10("Connection: keep-alive\r\n"), expect: { versionMinor: 0, keepAlive: true } },
  { name: "HTTP/1.0 Keep-Alive mixed case", raw: get10("Connection: Keep-Alive\r\n"), expect: { versionMinor: 0, keepAlive: true } },
  { name: "HTTP/1.0 keep-alive and close", raw: get10("Connection: keep-alive, close\r\n"), expect: { versionMinor: 0, keepAlive: false } },
  {
    name: "websocket upgrade",
    raw: get11("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
    expect: {
      upgrade: true,
      headers: [
        ["host", "a"],
        ["connection", "Upgrade"],
        ["upgrade", "websocket"],
        ["sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="],
        ["sec-websocket-version", "13"],
      ],
    },
  },
  { name: "upgrade among other options", raw: get11("Connection: keep-alive, upgrade\r\nUpgrade: h2c\r\n"), expect: { upgrade: true } },
  { name: "Connection: upgrade without Upgrade", raw: get11("Connection: upgrade\r\n"), expect: { upgrade: false } },
  { name: "Upgrade without Connection: upgrade", raw: get11("Upgrade: websocket\r\n"), expect: { upgrade: false } },
  { name: "empty Upgrade", raw: get11("Connection: upgrade\r\nUpgrade:\r\n"), expect: { upgrade: false } },
  {
    name: "Upgrade is ignored in HTTP/1.0 (RFC 9110 §7.8)",
    raw: get10("Connection: upgrade, keep-alive\r\nUpgrade: websocket\r\n"),
    expect: { versionMinor: 0, keepAlive: true, upgrade: false },
  },
  { name: "Expect: 100-continue", raw: get11("Expect: 100-continue\r\n"), expect: { expectContinue: true } },
  { name: "Expect is case-insensitive", raw: get11("Expect: 100-Continue\r\n"), expect: { expectContinue: true } },
  { name: "100-continue is ignored in HTTP/1.0", raw: get10("Expect: 100-continue\r\n"), expect: { versionMinor: 0, expectContinue: false } },
  { name: "empty Expect expects nothing", raw: get11("Expect:\r\n"), expect: { expectContinue: false } },
  { name: "unknown expectation", raw: get11("Expect: foo\r\n"), error: "EXPECTATION_FAILED", status: 417 },
  { name: "100-continue plus an unknown expectation", raw: get11("Expect: 100-continue, foo\r\n"), error: "EXPECTATION_FAILED", status: 417 },
  { name: "100-continue with a parameter", raw: get11("Expect: 100-continue;x=1\r\n"), error: "EXPECTATION_FAILED", status: 417 },
  { name: "unknown expectation in HTTP/1.0", raw: get10("Expect: 200-ok\r\n"), error: "EXPECTATION_FAILED", status: 417 },
];
