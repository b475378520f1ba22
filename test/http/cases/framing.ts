// Message body framing: Content-Length and Transfer-Encoding (RFC 9112 §6, RFC 9110 §8.6).
import { post11, type HeadCase } from "./types.ts";

const cl = (v: string) => post11(`Content-Length: ${v}\r\n`);
const te = (v: string) => post11(`Transfer-Encoding: ${v}\r\n`);

export const framingCases: HeadCase[] = [
  // --- Content-Length accepted ------------------------------------------------------------------------
  { name: "Content-Length 5", raw: cl("5"), expect: { method: "POST", contentLength: 5 } },
  { name: "Content-Length 0", raw: cl("0"), expect: { method: "POST", contentLength: 0 } },
  { name: "Content-Length with leading zeros", raw: cl("007"), expect: { method: "POST", contentLength: 7 } },
  { name: "Content-Length 2^53-1", raw: cl("9007199254740991"), expect: { method: "POST", contentLength: Number.MAX_SAFE_INTEGER } },
  { name: "Content-Length with trailing OWS", raw: cl("5 \t"), expect: { method: "POST", contentLength: 5 } },
  { name: "Content-Length on GET", raw: "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", expect: { contentLength: 3 } },
  { name: "Content-Length in HTTP/1.0", raw: "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n", expect: { method: "POST", versionMinor: 0, contentLength: 2 } },
  // --- Content-Length rejected ------------------------------------------------------------------------
  { name: "Content-Length with +", raw: cl("+5"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "negative Content-Length", raw: cl("-1"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length with a letter", raw: cl("5a"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length hex", raw: cl("0x10"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length decimal point", raw: cl("5.0"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length with inner space", raw: cl("1 2"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "empty Content-Length", raw: cl(""), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length trailing comma", raw: cl("5,"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length leading comma", raw: cl(",5"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length 2^53", raw: cl("9007199254740992"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "Content-Length 20 digits", raw: cl("99999999999999999999"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  { name: "differing Content-Length list", raw: cl("5, 6"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  // RFC 9110 §8.6 lets a recipient take one value from identical ones or refuse them; we refuse (as llhttp, nginx).
  { name: "identical Content-Length list", raw: cl("5, 5,5"), error: "INVALID_CONTENT_LENGTH", status: 400 },
  {
    name: "identical Content-Length lines",
    raw: post11("Content-Length: 5\r\ncontent-length: 5\r\n"),
    error: "DUPLICATE_CONTENT_LENGTH",
    status: 400,
  },
  {
    name: "differing Content-Length lines",
    raw: post11("Content-Length: 5\r\nContent-Length: 6\r\n"),
    error: "DUPLICATE_CONTENT_LENGTH",
    status: 400,
  },
  {
    name: "Content-Length then Transfer-Encoding (§6.1)",
    raw: post11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
    error: "CONTENT_LENGTH_WITH_TRANSFER_ENCODING",
    status: 400,
  },
  {
    name: "Transfer-Encoding then Content-Length (§6.1)",
    raw: post11("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
    error: "CONTENT_LENGTH_WITH_TRANSFER_ENCODING",
    status: 400,
  },

  // --- Transfer-Encoding accepted ---------------------------------------------------------------------
  { name: "Transfer-Encoding: chunked", raw: te("chunked"), expect: { method: "POST", chunked: true } },
  { name: "chunked is case-insensitive", raw: te("Chunked"), expect: { method: "POST", chunked: true } },
  { name: "CHUNKED", raw: te("CHUNKED"), expect: { method: "POST", chunked: true } },
  { name: "empty list elements are ignored (RFC 9110 §5.6.1.2)", raw: te(" , chunked ,"), expect: { method: "POST", chunked: true } },
  {
    name: "codings across lines: empty line then chunked",
    raw: post11("Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n"),
    expect: { method: "POST", chunked: true },
  },
  // --- Transfer-Encoding rejected ---------------------------------------------------------------------
  { name: "gzip only (§6.3: chunked not final)", raw: te("gzip"), error: "TRANSFER_ENCODING_NOT_CHUNKED", status: 400 },
  { name: "identity", raw: te("identity"), error: "TRANSFER_ENCODING_NOT_CHUNKED", status: 400 },
  { name: "chunked, gzip", raw: te("chunked, gzip"), error: "TRANSFER_ENCODING_NOT_CHUNKED", status: 400 },
  {
    name: "chunked then gzip on another line",
    raw: post11("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"),
    error: "TRANSFER_ENCODING_NOT_CHUNKED",
    status: 400,
  },
  { name: "empty Transfer-Encoding", raw: te(""), error: "TRANSFER_ENCODING_NOT_CHUNKED", status: 400 },
  { name: "chunked twice", raw: te("chunked, chunked"), error: "REPEATED_CHUNKED", status: 400 },
  {
    name: "chunked twice on two lines",
    raw: post11("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
    error: "REPEATED_CHUNKED",
    status: 400,
  },
  { name: "gzip, chunked is not supported", raw: te("gzip, chunked"), error: "UNSUPPORTED_TRANSFER_CODING", status: 501 },
  { name: "identity, chunked is not supported", raw: te("identity, chunked"), error: "UNSUPPORTED_TRANSFER_CODING", status: 501 },
  {
    name: "coding with a quoted parameter containing a comma",
    raw: te('x-foo;a="1, 2" ; b=c, chunked'),
    error: "UNSUPPORTED_TRANSFER_CODING",
    status: 501,
  },
  {
    name: "gzip then chunked on two lines",
    raw: post11("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
    error: "UNSUPPORTED_TRANSFER_CODING",
    status: 501,
  },
  { name: "chunked with a parameter", raw: te("chunked;a=b"), error: "INVALID_TRANSFER_ENCODING", status: 400 },
  { name: "chunked followed by junk", raw: te("chunked x"), error: "INVALID_TRANSFER_ENCODING", status: 400 },
  { name: "non-token in Transfer-Encoding", raw: te('"chunked"'), error: "INVALID_TRANSFER_ENCODING", status: 400 },
  { name: "parameter without value", raw: te("gzip;a, chunked"), error: "INVALID_TRANSFER_ENCODING", status: 400 },
  { name: "unterminated quoted parameter", raw: te('gzip;a="x, chunked'), error: "INVALID_TRANSFER_ENCODING", status: 400 },
  {
    name: "Transfer-Encoding in HTTP/1.0 (§6.1)",
    raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    error: "TRANSFER_ENCODING_IN_HTTP10",
    status: 400,
  },
];
