// Incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
//
//   chunked-body   = *chunk last-chunk trailer-section CRLF
//   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size     = 1*HEXDIG
//   last-chunk     = 1*("0") [ chunk-ext ] CRLF
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-val  = token / quoted-string
//   trailer-section = *( field-line CRLF )
//
// The input may be split at any byte. Chunk data is handed to `onData` as ranges of the caller's buffer
// (no copies). Extensions and trailer fields are validated and otherwise ignored.

import { HttpError } from "./errors.ts";
import { CHAR_CLASS, CharClass, DEFAULT_MAX_HEADER_BYTES } from "./parser.ts";

/** Total bytes of chunk extensions accepted in one message (Node caps them at 16 KiB too, CVE-2024-22019). */
export const DEFAULT_MAX_CHUNK_EXTENSION_BYTES = 16 * 1024;
/** Hex digits in a chunk-size, leading zeros included; its value is capped at 2^53-1 apart from this. */
export const MAX_CHUNK_SIZE_DIGITS = 64;

export type ChunkDataCallback = (buf: Uint8Array, start: number, end: number) => void;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

const CLS = CHAR_CLASS;
const TCHAR = CharClass.TCHAR;
const HEX = CharClass.HEX;
const FIELD = CharClass.FIELD;
const QDTEXT = CharClass.QDTEXT;
const QPAIR = CharClass.QPAIR;

// Decoder states.
const S_SIZE = 0; // before the first digit of chunk-size
const S_SIZE_MORE = 1; // after at least one digit
const S_SIZE_BWS = 2; // whitespace after chunk-size: only more whitespace or ";" may follow
const S_EXT_NAME_START = 3; // after ";" (BWS allowed), a chunk-ext-name must follow
const S_EXT_NAME = 4; // in chunk-ext-name
const S_EXT_AFTER_NAME = 5; // BWS after chunk-ext-name: "=" or ";" must follow
const S_EXT_VALUE_START = 6; // after "=" (BWS allowed): token or quoted-string
const S_EXT_VALUE_TOKEN = 7; // in a token value
const S_EXT_QUOTED = 8; // in a quoted-string value
const S_EXT_QUOTED_ESC = 9; // after "\" in a quoted-string
const S_EXT_AFTER_VALUE = 10; // after a value: ";" , BWS or CR
const S_EXT_BWS = 11; // whitespace after a value or name: only more whitespace or ";" may follow
const S_SIZE_LF = 12; // after the CR ending the chunk-size line
const S_DATA = 13; // in chunk-data
const S_DATA_CR = 14; // after chunk-data, expecting CR
const S_DATA_LF = 15; // expecting LF
const S_TRAILER_LINE = 16; // at the start of a trailer field line or the final CRLF
const S_TRAILER_NAME = 17; // in a trailer field-name
const S_TRAILER_VALUE = 18; // in a trailer field-value
const S_TRAILER_LF = 19; // after the CR ending a trailer field line
const S_END_LF = 20; // after the CR of the final CRLF
const S_DONE = 21;

export class ChunkedDecoder {
  /** True once the last chunk, the trailer section and the final CRLF have been read. */
  done = false;
  /** Chunk-data bytes delivered so far. */
  bodyBytes = 0;
  /** Trailer field lines seen (validated, then ignored). */
  trailerCount = 0;

  private state = S_SIZE;
  private size = 0; // chunk-size being read, then bytes of chunk-data left
  private digits = 0;
  private extBytes = 0;
  private trailerBytes = 0;
  private maxBodySize = Number.MAX_SAFE_INTEGER;
  private maxTrailerBytes = DEFAULT_MAX_HEADER_BYTES;
  private maxExtensionBytes = DEFAULT_MAX_CHUNK_EXTENSION_BYTES;

  /** Start a new message. `maxBodySize` bounds the sum of chunk sizes (413 once a chunk-size that passes it is complete). */
  reset(
    maxBodySize: number = Number.MAX_SAFE_INTEGER,
    maxTrailerBytes: number = DEFAULT_MAX_HEADER_BYTES,
    maxExtensionBytes: number = DEFAULT_MAX_CHUNK_EXTENSION_BYTES,
  ): void {
    this.done = false;
    this.bodyBytes = 0;
    this.trailerCount = 0;
    this.state = S_SIZE;
    this.size = 0;
    this.digits = 0;
    this.extBytes = 0;
    this.trailerBytes = 0;
    this.maxBodySize = maxBodySize;
    this.maxTrailerBytes = maxTrailerBytes;
    this.maxExtensionBytes = maxExtensionBytes;
  }

  /**
   * Decode buf[start, end). Returns the bytes consumed: all of them unless the message ended inside the
   * range (the rest is the next pipelined request), or `-HttpError.X`. After an error the decoder must be
   * reset before reuse. Once `done`, returns 0.
   */
  decode(buf: Uint8Array, start: number, end: number, onData: ChunkDataCallback): number {
    let state = this.state;
    if (state === S_DONE) return 0;
    let p = start;
    while (p < end) {
      if (state === S_DATA) {
        // Bulk path: hand over as much chunk-data as is here.
        const avail = end - p;
        const n = avail < this.size ? avail : this.size;
        this.size -= n;
        this.bodyBytes += n;
        onData(buf, p, p + n);
        p += n;
        if (this.size === 0) state = S_DATA_CR;
        continue;
      }
      const c = buf[p]!;
      switch (state) {
        case S_SIZE:
        case S_SIZE_MORE:
          if ((CLS[c]! & HEX) !== 0) {
            if (state === S_SIZE) {
              this.size = 0;
              this.digits = 0;
              state = S_SIZE_MORE;
            }
            // chunk-size = 1*HEXDIG: no sign, no "0x", no whitespace inside. The value only grows with each
            // digit, so an overflow is refused at the digit that makes it (400); the body limit (413) is
            // applied when the size is complete, so a size too large to represent is a 400 either way.
            if (++this.digits > MAX_CHUNK_SIZE_DIGITS) return this.fail(HttpError.CHUNK_SIZE_OVERFLOW);
            const d = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
            const size = this.size * 16 + d;
            if (size > Number.MAX_SAFE_INTEGER) return this.fail(HttpError.CHUNK_SIZE_OVERFLOW);
            this.size = size;
          } else if (state === S_SIZE) return this.fail(c === LF ? HttpError.BARE_LF : HttpError.INVALID_CHUNK_SIZE);
          else if (this.bodyBytes + this.size > this.maxBodySize) return this.fail(HttpError.BODY_TOO_LARGE);
          else if (c === CR) state = S_SIZE_LF;
          else if (c === SEMI) state = S_EXT_NAME_START;
          else if (c === SP || c === HTAB) state = S_SIZE_BWS; // BWS before ";" (RFC 9112 §7.1.1)
          else if (c === LF) return this.fail(HttpError.BARE_LF);
          else return this.fail(HttpError.INVALID_CHUNK_SIZE);
          break;
        case S_SIZE_BWS:
          // Whitespace after the size is only the BWS of a chunk-ext; "1 \r\n" is invalid (llhttp rejects
          // any whitespace here, even "1 ;a"; RFC 9112 §7.1.1 allows BWS before ";", so we do).
          if (c === SEMI) state = S_EXT_NAME_START;
          else if (c !== SP && c !== HTAB) return this.fail(HttpError.INVALID_CHUNK_SIZE);
          if (++this.extBytes > this.maxExtensionBytes) return this.fail(HttpError.CHUNK_EXTENSIONS_TOO_LARGE);
          break;
        default:
          if (state <= S_EXT_BWS) {
            // chunk-ext (RFC 9112 §7.1.1), bounded in total per message.
            if (++this.extBytes > this.maxExtensionBytes) return this.fail(HttpError.CHUNK_EXTENSIONS_TOO_LARGE);
            state = extStep(state, c);
            if (state < 0) return this.fail(-state);
            break;
          }
          if (state === S_SIZE_LF) {
            if (c !== LF) return this.fail(HttpError.BARE_CR);
            if (this.size === 0) {
              state = S_TRAILER_LINE; // last-chunk
            } else state = S_DATA;
            break;
          }
          if (state === S_DATA_CR) {
            // chunk-data is followed by exactly CRLF (RFC 9112 §7.1).
            if (c !== CR) return this.fail(HttpError.INVALID_CHUNK_DELIMITER);
            state = S_DATA_LF;
            break;
          }
          if (state === S_DATA_LF) {
            if (c !== LF) return this.fail(HttpError.INVALID_CHUNK_DELIMITER);
            state = S_SIZE;
            break;
          }
          // Trailer section (RFC 9112 §7.1.2): field lines with the same syntax as header fields, bounded.
          if (++this.trailerBytes > this.maxTrailerBytes) return this.fail(HttpError.TRAILERS_TOO_LARGE);
          switch (state) {
            case S_TRAILER_LINE:
              if (c === CR) state = S_END_LF;
              else if ((CLS[c]! & TCHAR) !== 0) state = S_TRAILER_NAME;
              else return this.fail(HttpError.INVALID_TRAILER); // incl. obs-fold, bare LF, empty name
              break;
            case S_TRAILER_NAME:
              if (c === COLON) state = S_TRAILER_VALUE;
              else if ((CLS[c]! & TCHAR) === 0) return this.fail(HttpError.INVALID_TRAILER);
              break;
            case S_TRAILER_VALUE:
              if (c === CR) state = S_TRAILER_LF;
              else if ((CLS[c]! & FIELD) === 0) return this.fail(HttpError.INVALID_TRAILER);
              break;
            case S_TRAILER_LF:
              if (c !== LF) return this.fail(HttpError.INVALID_TRAILER);
              this.trailerCount++;
              state = S_TRAILER_LINE;
              break;
            case S_END_LF:
              if (c !== LF) return this.fail(HttpError.BARE_CR);
              this.state = S_DONE;
              this.done = true;
              return p + 1 - start;
          }
      }
      p++;
    }
    this.state = state;
    return p - start;
  }

  private fail(code: number): number {
    this.state = S_DONE;
    return -code;
  }
}

// One byte of chunk-ext. Returns the next state, or -HttpError.X.
function extStep(state: number, c: number): number {
  const tchar = (CLS[c]! & TCHAR) !== 0;
  const ws = c === SP || c === HTAB;
  switch (state) {
    case S_EXT_NAME_START:
      if (tchar) return S_EXT_NAME;
      if (ws) return S_EXT_NAME_START;
      break;
    case S_EXT_NAME:
      if (tchar) return S_EXT_NAME;
      if (c === EQUALS) return S_EXT_VALUE_START;
      if (c === SEMI) return S_EXT_NAME_START;
      if (c === CR) return S_SIZE_LF;
      if (ws) return S_EXT_AFTER_NAME;
      break;
    case S_EXT_AFTER_NAME:
      if (ws) return S_EXT_AFTER_NAME;
      if (c === EQUALS) return S_EXT_VALUE_START;
      if (c === SEMI) return S_EXT_NAME_START;
      break;
    case S_EXT_VALUE_START:
      if (tchar) return S_EXT_VALUE_TOKEN;
      if (c === DQUOTE) return S_EXT_QUOTED;
      if (ws) return S_EXT_VALUE_START;
      break;
    case S_EXT_VALUE_TOKEN:
    case S_EXT_AFTER_VALUE:
      if (tchar && state === S_EXT_VALUE_TOKEN) return S_EXT_VALUE_TOKEN;
      if (c === SEMI) return S_EXT_NAME_START;
      if (c === CR) return S_SIZE_LF;
      if (ws) return S_EXT_BWS;
      break;
    case S_EXT_BWS:
      if (ws) return S_EXT_BWS;
      if (c === SEMI) return S_EXT_NAME_START;
      break;
    case S_EXT_QUOTED:
      if (c === DQUOTE) return S_EXT_AFTER_VALUE;
      if (c === BACKSLASH) return S_EXT_QUOTED_ESC;
      if ((CLS[c]! & QDTEXT) !== 0) return S_EXT_QUOTED;
      break;
    case S_EXT_QUOTED_ESC:
      if ((CLS[c]! & QPAIR) !== 0) return S_EXT_QUOTED;
      break;
  }
  if (c === LF) return -HttpError.BARE_LF;
  return -HttpError.INVALID_CHUNK_EXTENSION;
}
