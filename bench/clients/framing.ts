// The one framing rule the benchmark clients need: where a Content-Length response ends.

/**
 * Length in characters (latin1 text: one per byte) of the first complete response in `s`, or -1
 * while it is incomplete. A response without Content-Length ends with its head (the benchmark apps
 * always send one for bodies).
 */
export function responseLength(s: string): number {
  const end = s.indexOf("\r\n\r\n");
  if (end < 0) return -1;
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(s.slice(0, end));
  const total = end + 4 + (m ? Number(m[1]) : 0);
  return s.length >= total ? total : -1;
}
