// The Content-Disposition Bun.serve gives a Bun.file response of a type a browser would save rather
// than show (Bun 1.3.14, observed): `filename="<the file's name>"`, unless the handler set the field.
// Text, images, audio, video, fonts, JSON and WebAssembly are shown, so they go without it; every
// other type (application/*, model/*, octet-stream above all) names the file. An app moving from
// Bun.serve keeps its download names.

const SHOWN_PREFIXES = ["text/", "image/", "audio/", "video/", "font/"];
const SHOWN_TYPES = ["application/json", "application/wasm"];

/** Whether a file response of Content-Type `type` carries the file's name. */
export function namesFile(type: string): boolean {
  if (type === "") return false;
  const t = type.trimStart().toLowerCase();
  for (const p of SHOWN_PREFIXES) if (t.startsWith(p)) return false;
  for (const s of SHOWN_TYPES) if (t.startsWith(s) && (t.length === s.length || t[s.length] === ";" || t[s.length] === " ")) return false;
  return true;
}

/**
 * Whether a file response of `status` with the handler's `headers` names the file: it has the
 * file's bytes (200) or a part of them (206), the handler set no Content-Disposition of its own, and
 * its type (the handler's, else `type`) is one a browser saves.
 */
export function namesFileIn(status: number, headers: Headers, type: string): boolean {
  return (status === 200 || status === 206) && !headers.has("content-disposition") && namesFile(headers.get("content-type") ?? type);
}

// Printable ASCII but `"` and `\`: what a quoted-string holds as it is.
const PLAIN_NAME = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * The field line (with its CRLF) naming the file at `path`. Bun.serve writes any name raw between
 * quotes; here a name that a quoted-string cannot hold as it is (a quote, a backslash, a control
 * character such as a newline, non-ASCII) goes as RFC 6266's `filename*=UTF-8''...`, after an
 * ASCII stand-in for older clients, so no name can break the head.
 */
export function dispositionField(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (name === "") return "";
  if (PLAIN_NAME.test(name)) return `Content-Disposition: filename="${name}"\r\n`;
  const fallback = name.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "_");
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `Content-Disposition: filename="${fallback}"; filename*=UTF-8''${encoded}\r\n`;
}
