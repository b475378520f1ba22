// Header field lines: names, values, line endings, obs-fold (RFC 9112 §5, RFC 9110 §5).
import { get11, type HeadCase } from "./types.ts";

export const fieldCases: HeadCase[] = [
  // --- accepted ---------------------------------------------------------------------------------------
  {
    name: "names are lower-cased by headerName, values kept",
    raw: get11("User-Agent: curl/8.5.0\r\nACCEPT: */*\r\nX-Custom-Thing: Yes\r\n"),
    expect: { headers: [["host", "a"], ["user-agent", "curl/8.5.0"], ["accept", "*/*"], ["x-custom-thing", "Yes"]] },
  },
  {
    name: "OWS around the value is trimmed, inner whitespace kept",
    raw: get11("X:   a \t b  \t\r\n"),
    expect: { headers: [["host", "a"], ["x", "a \t b"]] },
  },
  { name: "no space after colon", raw: get11("X:b\r\n"), expect: { headers: [["host", "a"], ["x", "b"]] } },
  { name: "empty value", raw: get11("X:\r\n"), expect: { headers: [["host", "a"], ["x", ""]] } },
  { name: "whitespace-only value", raw: get11("X:  \t \r\n"), expect: { headers: [["host", "a"], ["x", ""]] } },
  { name: "obs-text in a value (latin1)", raw: get11("X: caf\xe9 \x80\xff\r\n"), expect: { headers: [["host", "a"], ["x", "caf\xe9 \x80\xff"]] } },
  { name: "HTAB inside a value", raw: get11("X: a\tb\r\n"), expect: { headers: [["host", "a"], ["x", "a\tb"]] } },
  {
    name: "every tchar in a name",
    raw: get11("!#$%&'*+-.^_`|~09AZaz: v\r\n"),
    expect: { headers: [["host", "a"], ["!#$%&'*+-.^_`|~09azaz", "v"]] },
  },
  {
    name: "repeated non-special fields are kept in order",
    raw: get11("Cookie: a=1\r\nCookie: b=2\r\n"),
    expect: { headers: [["host", "a"], ["cookie", "a=1"], ["cookie", "b=2"]] },
  },
  {
    name: "value with colons and quotes",
    raw: get11('X: a:b "c, d" \\e\r\n'),
    expect: { headers: [["host", "a"], ["x", 'a:b "c, d" \\e']] },
  },
  {
    name: "typical browser GET",
    raw:
      "GET /index.html?q=1 HTTP/1.1\r\n" +
      "Host: www.example.com\r\n" +
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
      "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
      "Accept-Language: en-US,en;q=0.5\r\n" +
      "Accept-Encoding: gzip, deflate, br\r\n" +
      "Connection: keep-alive\r\n" +
      "Cookie: session=abc123; theme=dark\r\n" +
      "Sec-Fetch-Dest: document\r\n" +
      "\r\n",
    expect: {
      target: "/index.html?q=1",
      host: "www.example.com",
      keepAlive: true,
      headers: [
        ["host", "www.example.com"],
        ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"],
        ["accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
        ["accept-language", "en-US,en;q=0.5"],
        ["accept-encoding", "gzip, deflate, br"],
        ["connection", "keep-alive"],
        ["cookie", "session=abc123; theme=dark"],
        ["sec-fetch-dest", "document"],
      ],
    },
  },

  // --- rejected ---------------------------------------------------------------------------------------
  { name: "SP between name and colon (§5.1)", raw: get11("Host2 : a\r\n"), error: "WHITESPACE_BEFORE_COLON", status: 400 },
  { name: "SP between Host and colon (§5.1)", raw: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", error: "WHITESPACE_BEFORE_COLON", status: 400 },
  { name: "HTAB between name and colon (§5.1)", raw: get11("X\t: a\r\n"), error: "WHITESPACE_BEFORE_COLON", status: 400 },
  { name: "SP inside a name", raw: get11("X Y: z\r\n"), error: "WHITESPACE_BEFORE_COLON", status: 400 },
  { name: "empty name", raw: get11(": x\r\n"), error: "INVALID_HEADER_NAME", status: 400 },
  { name: "non-token byte in a name", raw: get11("X@Y: z\r\n"), error: "INVALID_HEADER_NAME", status: 400 },
  { name: "high byte in a name", raw: get11("X\xe9: z\r\n"), error: "INVALID_HEADER_NAME", status: 400 },
  { name: "line without a colon", raw: get11("NoColon\r\n"), error: "INVALID_HEADER_NAME", status: 400 },
  { name: "CR inside a name", raw: get11("X\r: y\r\n"), error: "INVALID_HEADER_NAME", status: 400 },
  { name: "obs-fold with SP (§5.2)", raw: get11("X: a\r\n b\r\n"), error: "OBS_FOLD", status: 400 },
  { name: "obs-fold with HTAB (§5.2)", raw: get11("X: a\r\n\tb\r\n"), error: "OBS_FOLD", status: 400 },
  { name: "whitespace before the first field line (§2.2)", raw: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", error: "WHITESPACE_AFTER_START_LINE", status: 400 },
  { name: "NUL in a value", raw: get11("X: a\x00b\r\n"), error: "INVALID_HEADER_VALUE", status: 400 },
  { name: "DEL in a value", raw: get11("X: a\x7fb\r\n"), error: "INVALID_HEADER_VALUE", status: 400 },
  { name: "SOH in a value", raw: get11("X: \x01\r\n"), error: "INVALID_HEADER_VALUE", status: 400 },
  { name: "ESC in a value", raw: get11("X: a\x1b[0m\r\n"), error: "INVALID_HEADER_VALUE", status: 400 },
  { name: "VT in a value", raw: get11("X: a\x0bb\r\n"), error: "INVALID_HEADER_VALUE", status: 400 },
  { name: "bare CR in a value", raw: get11("X: a\rb\r\n"), error: "BARE_CR", status: 400 },
  { name: "bare CR at the end of a value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n", error: "BARE_CR", status: 400 },
  { name: "field line ends in bare LF", raw: "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", error: "BARE_LF", status: 400 },
  { name: "empty line is a bare LF", raw: "GET / HTTP/1.1\r\nHost: a\r\n\n", error: "BARE_LF", status: 400 },
  { name: "empty line is a bare CR", raw: "GET / HTTP/1.1\r\nHost: a\r\n\rX", error: "BARE_CR", status: 400 },
];
