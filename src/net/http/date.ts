// The Date header (RFC 9110 §6.6.1), formatted once a second rather than per response
// (toUTCString costs ~0.2 us here; DESIGN.md).
let current = "";
let second = -1;
let timer: ReturnType<typeof setInterval> | null = null;

function refresh(): void {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== second) {
    second = s;
    current = new Date(s * 1000).toUTCString();
  }
}

/** The current HTTP-date, at most a second old. */
export function httpDate(): string {
  if (timer === null) {
    refresh();
    timer = setInterval(refresh, 1000);
    timer.unref();
  }
  return current;
}
