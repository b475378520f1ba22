// One reactor per thread, created on first use and shared by every listener, server and file op
// on that thread (a Worker gets its own, like Bun's own loop).
import { Reactor, type ReactorOptions } from "./reactor.ts";

let current: Reactor | null = null;

export function defaultReactor(options?: ReactorOptions): Reactor {
  if (!current || current.closed) current = new Reactor(options);
  return current;
}

/** Close the thread's reactor (tests; a process that wants its ring gone before exit). */
export function closeDefaultReactor(): void {
  current?.close();
  current = null;
}
