import { describe, expect, test } from "bun:test";
import { ChunkedDecoder } from "../../src/net/http/chunked.ts";
import { HttpError, httpErrorInfo, httpErrorName } from "../../src/net/http/errors.ts";
import { RequestHead, parseRequestHead } from "../../src/net/http/parser.ts";
import { chunkedCases } from "./cases/chunked.ts";
import { bytesOf, type ChunkedCase } from "./cases/types.ts";


function fmt(r: number): string {
  return r >= 0 ? `consumed ${r}` : `error ${httpErrorName(r)} (${httpErrorInfo(r).status})`;
}

// A piece of input in its own buffer: junk before `start`, a would-be valid ending after `end`, so a decoder
// that reads outside [start, end) goes wrong.
const JUNK = bytesOf("0\r\n\r\n");
function piece(all: Uint8Array, from: number, to: number): [Uint8Array, number, number] {
  const b = new Uint8Array(JUNK.length + (to - from) + JUNK.length);
  b.set(JUNK, 0);
  b.set(all.subarray(from, to), JUNK.length);
  b.set(JUNK, JUNK.length + (to - from));
  return [b, JUNK.length, JUNK.length + (to - from)];
}

interface Outcome {
  consumed: number; // bytes consumed in total, until done or error
  error: string; // "" or the error name
  data: string;
  done: boolean;
  trailers: number;
}

const decoder = new ChunkedDecoder(); // shared: reset() must fully reset it

/** Feed `input` cut at `cuts` (increasing offsets), as a server would: each call gets the next piece. */
function feed(c: ChunkedCase, input: Uint8Array, cuts: number[], problems: string[]): Outcome {
  decoder.reset(c.maxBodySize, c.maxTrailerBytes, c.maxExtensionBytes);
  let data = "";
  const onData = (b: Uint8Array, s: number, e: number) => {
    for (let i = s; i < e; i++) data += String.fromCharCode(b[i]!);
  };
  let consumed = 0;
  let error = "";
  const bounds = [0, ...cuts, input.length];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const from = bounds[k]!;
    const to = bounds[k + 1]!;
    if (decoder.done) {
      // Everything after the end of the message is left for the next request.
      const [b, s, e] = piece(input, from, to);
      const r = decoder.decode(b, s, e, onData);
      if (r !== 0) problems.push(`after done, piece [${from}, ${to}): got ${fmt(r)}, wanted ${fmt(0)}`);
      continue;
    }
    const [b, s, e] = piece(input, from, to);
    const r = decoder.decode(b, s, e, onData);
    if (r < 0) {
      error = httpErrorName(r);
      break;
    }
    consumed += r;
    if (r !== to - from && !decoder.done)
      problems.push(`piece [${from}, ${to}): got ${fmt(r)}, wanted ${fmt(to - from)} (not done, so all of it)`);
  }
  return { consumed, error, data, done: decoder.done, trailers: decoder.trailerCount };
}

function expected(c: ChunkedCase): Outcome | { error: string } {
  if (c.error !== undefined) return { error: c.error };
  return {
    consumed: c.body.length,
    error: "",
    data: c.incomplete ? "" : (c.data ?? ""),
    done: !c.incomplete,
    trailers: c.trailers ?? 0,
  };
}

function compare(label: string, c: ChunkedCase, got: Outcome, problems: string[]): void {
  const want = expected(c);
  if (c.error !== undefined) {
    if (got.error !== c.error) problems.push(`${label}: got ${got.error ? `error ${got.error}` : `success (${JSON.stringify(got)})`}, wanted error ${c.error}`);
    return;
  }
  const w = want as Outcome;
  for (const k of ["consumed", "error", "done", "trailers"] as const) {
    if (got[k] !== w[k]) problems.push(`${label}: ${k} got ${JSON.stringify(got[k])}, wanted ${JSON.stringify(w[k])}`);
  }
  if (!c.incomplete && got.data !== w.data) problems.push(`${label}: data got ${JSON.stringify(got.data)}, wanted ${JSON.stringify(w.data)}`);
}

describe("ChunkedDecoder cases", () => {
  for (const c of chunkedCases) {
    const label = c.error ? `rejects ${c.name} -> ${c.error} ${c.status}` : `accepts ${c.name}`;
    const input = bytesOf(c.body + (c.rest ?? ""));

    test(label, () => {
      const problems: string[] = [];
      compare("whole", c, feed(c, input, [], problems), problems);
      if (c.error !== undefined && c.status !== undefined) {
        const status = httpErrorInfo(HttpError[c.error]).status;
        if (status !== c.status) problems.push(`status: got ${status}, wanted ${c.status}`);
      }
      expect(problems).toEqual([]);
    });

    test(`${label} (split at every byte)`, () => {
      const problems: string[] = [];
      for (let i = 1; i < input.length && problems.length < 6; i++) compare(`split at ${i}`, c, feed(c, input, [i], problems), problems);
      expect(problems).toEqual([]);
    });

    test(`${label} (one byte at a time)`, () => {
      const problems: string[] = [];
      const cuts = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
      compare("bytewise", c, feed(c, input, cuts, problems), problems);
      expect(problems).toEqual([]);
    });

    if (input.length <= 64) {
      test(`${label} (every two cuts)`, () => {
        const problems: string[] = [];
        for (let i = 1; i < input.length; i++)
          for (let j = i + 1; j < input.length && problems.length < 6; j++)
            compare(`cuts at ${i},${j}`, c, feed(c, input, [i, j], problems), problems);
        expect(problems).toEqual([]);
      });
    }
  }
});

describe("ChunkedDecoder behaviour", () => {
  test("an overflow is refused at its digit, a size over the body limit when it is complete", () => {
    const d = new ChunkedDecoder();
    const none = () => {};
    d.reset(1 << 20);
    expect(fmt(d.decode(bytesOf("fffff"), 0, 5, none))).toBe(fmt(5));
    expect(fmt(d.decode(bytesOf("f"), 0, 1, none))).toBe(fmt(1));
    expect(fmt(d.decode(bytesOf(";"), 0, 1, none))).toBe(fmt(-HttpError.BODY_TOO_LARGE));
    d.reset();
    expect(fmt(d.decode(bytesOf("1".repeat(16)), 0, 16, none))).toBe(fmt(-HttpError.CHUNK_SIZE_OVERFLOW));
  });

  test("data is delivered without copying, as ranges of the input", () => {
    const d = new ChunkedDecoder();
    d.reset();
    const buf = bytesOf("5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n");
    const ranges: [Uint8Array, number, number][] = [];
    expect(fmt(d.decode(buf, 0, buf.length, (b, s, e) => ranges.push([b, s, e])))).toBe(fmt(buf.length));
    expect(ranges).toEqual([
      [buf, 3, 8],
      [buf, 13, 16],
    ]);
    expect(d.bodyBytes).toBe(8);
    expect(d.done).toBe(true);
  });

  test("head, chunked body and the next request in one buffer", () => {
    const h1 = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    const body = "4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nDigest: abc\r\n\r\n";
    const h2 = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    const buf = bytesOf(h1 + body + h2);
    const head = new RequestHead();
    let p = parseRequestHead(buf, 0, buf.length, head);
    expect(fmt(p)).toBe(fmt(h1.length));
    expect(head.chunked).toBe(true);
    const d = new ChunkedDecoder();
    d.reset(1000);
    let data = "";
    const r = d.decode(buf, p, buf.length, (b, s, e) => {
      for (let i = s; i < e; i++) data += String.fromCharCode(b[i]!);
    });
    expect(fmt(r)).toBe(fmt(body.length));
    expect([data, d.done, d.trailerCount, d.bodyBytes]).toEqual(["Wikipedia", true, 1, 9]);
    p += r;
    expect(fmt(parseRequestHead(buf, p, buf.length, head))).toBe(fmt(h2.length));
    expect(head.target).toBe("/next");
  });

  test("reset after an error allows reuse", () => {
    const d = new ChunkedDecoder();
    d.reset();
    expect(d.decode(bytesOf("z"), 0, 1, () => {})).toBe(-HttpError.INVALID_CHUNK_SIZE);
    d.reset();
    const buf = bytesOf("0\r\n\r\n");
    expect(fmt(d.decode(buf, 0, buf.length, () => {}))).toBe(fmt(5));
    expect([d.done, d.bodyBytes, d.trailerCount]).toEqual([true, 0, 0]);
  });
});
