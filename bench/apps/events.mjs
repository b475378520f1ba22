// The stream scenario's response: server-sent events, one chunk each, shared by bench/apps/app.ts,
// bench/apps/node-app.mjs and the harness's correctness check (bench/http.ts).
export const STREAM_EVENTS = Array.from({ length: 50 }, (_, i) => `id: ${i}\ndata: ${"event payload ".repeat(14)}${i}\n\n`);
