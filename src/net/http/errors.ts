// HTTP/1.1 request parsing failures, as small positive integer codes.
//
// The parser and the chunked decoder return `-code` (a negative number) on failure so that the hot path
// never allocates an Error. `httpErrorInfo(code)` turns a code (either sign) into the status line and a
// short explanation that names the rule, for logs and for the error response body.

export const HttpError = {
  // Request line (RFC 9112 §3)
  INVALID_METHOD: 1,
  INVALID_REQUEST_LINE: 2,
  INVALID_TARGET: 3,
  URI_TOO_LONG: 4,
  INVALID_VERSION: 5,
  UNSUPPORTED_VERSION: 6,
  TOO_MANY_EMPTY_LINES: 7,
  // Field lines (RFC 9112 §5, RFC 9110 §5)
  WHITESPACE_AFTER_START_LINE: 8,
  INVALID_HEADER_NAME: 9,
  WHITESPACE_BEFORE_COLON: 10,
  OBS_FOLD: 11,
  INVALID_HEADER_VALUE: 12,
  BARE_CR: 13,
  BARE_LF: 14,
  HEADERS_TOO_LARGE: 15,
  TOO_MANY_HEADERS: 16,
  // Host (RFC 9112 §3.2)
  MISSING_HOST: 17,
  DUPLICATE_HOST: 18,
  INVALID_HOST: 19,
  // Message body framing (RFC 9112 §6)
  INVALID_CONTENT_LENGTH: 20,
  DUPLICATE_CONTENT_LENGTH: 21,
  CONTENT_LENGTH_WITH_TRANSFER_ENCODING: 22,
  INVALID_TRANSFER_ENCODING: 23,
  TRANSFER_ENCODING_NOT_CHUNKED: 24,
  REPEATED_CHUNKED: 25,
  UNSUPPORTED_TRANSFER_CODING: 26,
  TRANSFER_ENCODING_IN_HTTP10: 27,
  // Expect (RFC 9110 §10.1.1)
  EXPECTATION_FAILED: 28,
  // Chunked transfer coding (RFC 9112 §7.1)
  INVALID_CHUNK_SIZE: 29,
  CHUNK_SIZE_OVERFLOW: 30,
  INVALID_CHUNK_EXTENSION: 31,
  CHUNK_EXTENSIONS_TOO_LARGE: 32,
  INVALID_CHUNK_DELIMITER: 33,
  TRAILERS_TOO_LARGE: 34,
  INVALID_TRAILER: 35,
  BODY_TOO_LARGE: 36,
  // Methods (RFC 9110 §9.1)
  UNRECOGNIZED_METHOD: 37,
  CONNECT_NOT_IMPLEMENTED: 38,
} as const;

export type HttpErrorName = keyof typeof HttpError;
export type HttpErrorCode = (typeof HttpError)[HttpErrorName];

export interface HttpErrorInfo {
  readonly status: number;
  readonly reason: string;
  readonly name: string;
  readonly message: string;
}

// ---------------------------------------------------------------------------------------------------------
// Reason phrases: the IANA HTTP Status Code Registry (RFC 9110 §15 and the RFCs it points to).

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  102: "Processing",
  103: "Early Hints",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  207: "Multi-Status",
  208: "Already Reported",
  226: "IM Used",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  305: "Use Proxy",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  418: "I'm a Teapot", // IANA lists 418 as "(Unused)"; RFC 2324's phrase is what Node and Bun send.
  421: "Misdirected Request",
  422: "Unprocessable Content",
  423: "Locked",
  424: "Failed Dependency",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  506: "Variant Also Negotiates",
  507: "Insufficient Storage",
  508: "Loop Detected",
  510: "Not Extended",
  511: "Network Authentication Required",
};

const REASON_TABLE: string[] = [];
for (let s = 0; s < 600; s++) REASON_TABLE.push(REASONS[s] ?? "Unknown");

/** Standard reason phrase for a status code ("Unknown" for unregistered codes and anything outside 100-599). */
export function statusReason(status: number): string {
  return status >= 100 && status < 600 && (status | 0) === status ? REASON_TABLE[status]! : "Unknown";
}

// ---------------------------------------------------------------------------------------------------------

const DETAILS: Record<HttpErrorName, readonly [status: number, message: string]> = {
  INVALID_METHOD: [400, "Method is not a token followed by a single SP (RFC 9112 §3.1, RFC 9110 §9.1)"],
  INVALID_REQUEST_LINE: [400, "Request line is not method SP request-target SP HTTP-version CRLF (RFC 9112 §3)"],
  INVALID_TARGET: [400, "Request-target is malformed or has a form not allowed for this method (RFC 9112 §3.2)"],
  URI_TOO_LONG: [414, "Request-target is longer than the server accepts (RFC 9112 §3, RFC 9110 §15.5.15)"],
  INVALID_VERSION: [400, "HTTP-version is not HTTP/DIGIT.DIGIT (RFC 9112 §2.3)"],
  UNSUPPORTED_VERSION: [505, "Only HTTP/1.x is served over this connection (RFC 9110 §15.6.6)"],
  TOO_MANY_EMPTY_LINES: [400, "More than two empty lines before the request line (RFC 9112 §2.2)"],
  WHITESPACE_AFTER_START_LINE: [400, "Whitespace between the request line and the first field line (RFC 9112 §2.2)"],
  INVALID_HEADER_NAME: [400, "Field name is not a non-empty token followed by ':' (RFC 9112 §5, RFC 9110 §5.1)"],
  WHITESPACE_BEFORE_COLON: [400, "Whitespace between a field name and the colon (RFC 9112 §5.1)"],
  OBS_FOLD: [400, "Obsolete line folding in a field value (RFC 9112 §5.2)"],
  INVALID_HEADER_VALUE: [400, "Field value has a control character or DEL (RFC 9110 §5.5)"],
  BARE_CR: [400, "A CR not followed by LF (RFC 9112 §2.2)"],
  BARE_LF: [400, "A line ends in LF without CR; this server requires CRLF (RFC 9112 §2.2)"],
  HEADERS_TOO_LARGE: [431, "Request head is larger than the server accepts (RFC 6585 §5)"],
  TOO_MANY_HEADERS: [431, "Request has more header fields than the server accepts (RFC 6585 §5)"],
  MISSING_HOST: [400, "HTTP/1.1 request without a Host header field (RFC 9112 §3.2)"],
  DUPLICATE_HOST: [400, "Request has more than one Host header field (RFC 9112 §3.2)"],
  INVALID_HOST: [400, "Host is not uri-host [ \":\" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2)"],
  INVALID_CONTENT_LENGTH: [400, "Content-Length is not 1*DIGIT up to 2^53-1 (RFC 9110 §8.6)"],
  DUPLICATE_CONTENT_LENGTH: [400, "Request has more than one Content-Length field line (RFC 9110 §8.6)"],
  CONTENT_LENGTH_WITH_TRANSFER_ENCODING: [400, "Request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1)"],
  INVALID_TRANSFER_ENCODING: [400, "Transfer-Encoding is not a list of transfer codings (RFC 9112 §6.1)"],
  TRANSFER_ENCODING_NOT_CHUNKED: [400, "Transfer-Encoding does not end with chunked (RFC 9112 §6.3)"],
  REPEATED_CHUNKED: [400, "chunked is applied more than once (RFC 9112 §6.1)"],
  UNSUPPORTED_TRANSFER_CODING: [501, "Transfer coding other than chunked is not supported (RFC 9112 §6.1)"],
  TRANSFER_ENCODING_IN_HTTP10: [400, "HTTP/1.0 request with Transfer-Encoding has faulty framing (RFC 9112 §6.1)"],
  EXPECTATION_FAILED: [417, "Expect other than 100-continue (RFC 9110 §10.1.1)"],
  INVALID_CHUNK_SIZE: [400, "chunk-size is not 1*HEXDIG (RFC 9112 §7.1)"],
  CHUNK_SIZE_OVERFLOW: [400, "chunk-size is above 2^53-1 or longer than 64 hex digits (RFC 9112 §7.1)"],
  INVALID_CHUNK_EXTENSION: [400, "chunk-ext is not ;name[=token|quoted-string] (RFC 9112 §7.1.1)"],
  CHUNK_EXTENSIONS_TOO_LARGE: [400, "Chunk extensions are longer than the server accepts (RFC 9112 §7.1.1)"],
  INVALID_CHUNK_DELIMITER: [400, "Chunk data is not followed by CRLF (RFC 9112 §7.1)"],
  TRAILERS_TOO_LARGE: [431, "Trailer section is larger than the server accepts (RFC 9112 §7.1.2)"],
  INVALID_TRAILER: [400, "Trailer field line is malformed (RFC 9112 §7.1.2, RFC 9110 §5)"],
  BODY_TOO_LARGE: [413, "Request body is larger than the server accepts (RFC 9110 §15.5.14)"],
  UNRECOGNIZED_METHOD: [501, "Method is not one this server recognizes; methods are case-sensitive (RFC 9110 §9.1)"],
  CONNECT_NOT_IMPLEMENTED: [501, "CONNECT is not implemented: this server opens no tunnels (RFC 9110 §9.3.6)"],
};

const INFO: HttpErrorInfo[] = [];
for (const name of Object.keys(HttpError) as HttpErrorName[]) {
  const [status, message] = DETAILS[name];
  INFO[HttpError[name]] = Object.freeze({ status, reason: statusReason(status), name, message });
}
const UNKNOWN_INFO: HttpErrorInfo = Object.freeze({
  status: 400,
  reason: "Bad Request",
  name: "UNKNOWN",
  message: "Malformed request",
});

/** Status, reason phrase, name and message for an error code. Accepts `code` or `-code` (what the parser returns). */
export function httpErrorInfo(code: number): HttpErrorInfo {
  return INFO[code < 0 ? -code : code] ?? UNKNOWN_INFO;
}

/** The `HttpError` key for a code (either sign), or "UNKNOWN". */
export function httpErrorName(code: number): string {
  return httpErrorInfo(code).name;
}
