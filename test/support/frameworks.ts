// One app's fetch handler under Bun.serve and serve() side by side, and the view of an answer the
// framework tests compare: status, headers (Date aside, names lower-cased, sorted) and body.
import { serve } from "../../src/index.ts";

export type Impl = "bun" | "uring";
export const IMPLS: Impl[] = ["bun", "uring"];

export interface Snap {
  status: number;
  headers: [string, string][];
  body: string;
}

export async function snap(r: Response): Promise<Snap> {
  const headers = [...r.headers].filter(([k]) => k !== "date").map(([k, v]) => [k.toLowerCase(), v] as [string, string]);
  headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1));
  return { status: r.status, headers, body: await r.text() };
}

/** Both servers on 127.0.0.1 with `handler` as fetch; ask() gets the same request's answer from each. */
export function bothServers(handler: (req: Request) => Response | Promise<Response>) {
  const servers = {} as Record<Impl, { port: number; stop(force?: boolean): unknown }>;
  return {
    servers,
    start(): void {
      servers.bun = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler }) as { port: number; stop(force?: boolean): unknown };
      servers.uring = serve({ port: 0, hostname: "127.0.0.1", fetch: handler });
    },
    async stop(): Promise<void> {
      for (const i of IMPLS) await servers[i].stop(true);
    },
    async ask(path: string, init?: RequestInit): Promise<Record<Impl, Snap>> {
      const out = {} as Record<Impl, Snap>;
      for (const i of IMPLS) out[i] = await snap(await fetch(`http://127.0.0.1:${servers[i].port}${path}`, { redirect: "manual", ...init }));
      return out;
    },
  };
}
