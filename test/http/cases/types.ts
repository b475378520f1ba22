// Shapes of the data-driven HTTP parser cases. Raw strings are latin1: one char per byte (all < 0x100).
import type { HttpErrorName } from "../../../src/net/http/errors.ts";
import type { ParserLimits } from "../../../src/net/http/parser.ts";

export interface HeadExpect {
  method?: string; // default "GET"
  target?: string; // default "/"
  targetForm?: "origin" | "absolute" | "authority" | "asterisk"; // default "origin"
  versionMinor?: 0 | 1; // default 1
  headers?: [name: string, value: string][]; // lower-cased names, trimmed values; checked when given
  contentLength?: number; // default -1
  chunked?: boolean; // default false
  keepAlive?: boolean; // default: versionMinor === 1
  expectContinue?: boolean; // default false
  upgrade?: boolean; // default false
  host?: string; // head.host(buf); checked when given
}

export interface AcceptCase {
  name: string;
  raw: string;
  expect: HeadExpect;
  limits?: Partial<ParserLimits>;
}

export interface RejectCase {
  name: string;
  raw: string;
  error: HttpErrorName;
  status: number;
  limits?: Partial<ParserLimits>;
}

export type HeadCase = AcceptCase | RejectCase;

export interface ChunkedCase {
  name: string;
  body: string; // the chunked message body (after the head)
  rest?: string; // bytes after the body that belong to the next request (never consumed)
  data?: string; // expected decoded data (accept cases)
  trailers?: number; // expected trailer field count (default 0)
  incomplete?: boolean; // a valid prefix: everything consumed, not done
  error?: HttpErrorName;
  status?: number;
  maxBodySize?: number;
  maxTrailerBytes?: number;
  maxExtensionBytes?: number;
}

/** "GET / HTTP/1.1\r\nHost: a\r\n" + extra + "\r\n" */
export const get11 = (extra = ""): string => `GET / HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;
export const post11 = (extra = ""): string => `POST / HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;

/** latin1 string -> bytes (every char must be < 0x100): raw HTTP test data. */
export function bytesOf(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new Error(`non-latin1 char ${c} in test data`);
    b[i] = c;
  }
  return b;
}
