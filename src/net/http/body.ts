// A request body as it arrives: fed by the connection (already de-chunked), read by the handler as
// a ReadableStream or whole (text/json/bytes/...). Bounded: while nobody reads, at most
// MAX_UNREAD_BYTES wait here before the connection stops reading (backpressure to the client).
export const MAX_UNREAD_BYTES = 1024 * 1024;

export interface BodySource {
  /** Stop receiving (too much unread). */
  pause(): void;
  /** Receive again. */
  resume(): void;
  /**
   * Receive the rest of the body straight into `whole` after the bytes it has (the connection's
   * recvInto), reporting them through advance(), and resume reading. False (nothing done) when it can't.
   */
  receiveInto?(body: RequestBody, whole: Uint8Array): boolean;
}

const EMPTY = new Uint8Array(0);

// A body read whole whose Content-Length is at most WHOLE_EXACT_MAX is received straight into one
// buffer of that length, allocated when the handler asks: one copy instead of a slice per receive
// buffer and a concatenation. Larger ones keep the slices, so a client that declares a large body
// and sends slowly reserves no more than it sent. Bun.allocUnsafe, not new Uint8Array: its memory
// comes back from Bun's allocator already mapped (4 MiB: 0.03 ms, against 1.7 ms of zeroing and
// page faults here); every byte is written before the buffer is handed out.
const WHOLE_EXACT_MAX = 16 * 1024 * 1024;
// With at least this much of it still to come, such a body is received by the kernel straight into
// that buffer (one RECV) rather than through the shared receive buffers (a CQE and a copy per 8 KiB).
// A body with a Content-Length this large is not read ahead of the handler (holdUntilRead), so
// that most of it is still in the socket when the handler asks.
export const DIRECT_MIN = 64 * 1024;
/** Bytes a body read as a stream may hold ahead of its reader before the connection stops reading. */
export const STREAM_AHEAD_BYTES = 256 * 1024;

export class RequestBody {
  readonly #source: BodySource;
  /** Declared length (Content-Length), -1 when chunked. */
  readonly #expected: number;
  #chunks: Uint8Array[] = [];
  #whole: Uint8Array | null = null;
  #wholeLen = 0;
  #buffered = 0;
  /** Bytes received so far. */
  received = 0;
  #done = false;
  #error: Error | null = null;
  #paused = false;
  #consumer: "none" | "whole" | "stream" = "none";
  #wholeWaiters: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }[] = [];
  // The stream (req.body) is made on first access and holds nothing until it is read: its queue's
  // high-water mark is 0, so pull() runs only for a read, and the chunks wait in #chunks until then.
  // Touching req.body thus leaves the body whole for text()/json() (as a Fetch body: only reading or
  // locking the stream uses it), which frameworks rely on (Elysia reads req.body, then req.json()).
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  /** A read waits for bytes: the next chunk goes straight to it. */
  #readPending = false;
  /** The stream's reader cancelled it: what still arrives is dropped, not kept. */
  #cancelled = false;
  #stream: ReadableStream<Uint8Array> | null = null;
  #used = false;

  constructor(source: BodySource, expectedLength = -1) {
    this.#source = source;
    this.#expected = expectedLength;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Bytes of the body (copied: the caller's buffer is the kernel's and goes back after this call). */
  push(buf: Uint8Array, start: number, end: number): void {
    if (this.#done || this.#error) return;
    const whole = this.#whole;
    if (whole) {
      whole.set(buf.subarray(start, end), this.#wholeLen);
      this.#wholeLen += end - start;
      this.received += end - start;
      return;
    }
    if (this.#cancelled) {
      this.received += end - start; // read and dropped: the stream's reader went away
      return;
    }
    const chunk = buf.slice(start, end);
    this.received += chunk.length;
    if (this.#readPending) {
      this.#readPending = false;
      this.#controller!.enqueue(chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#consumer === "none" ? this.#buffered > MAX_UNREAD_BYTES : this.#consumer === "stream" && this.#buffered >= STREAM_AHEAD_BYTES) this.#pause();
  }

  /** Bun's bodyUsed: the body was read whole, or its stream read or locked. */
  get used(): boolean {
    if (!this.#used && this.#stream !== null && this.#stream.locked) this.#used = true;
    return this.#used;
  }

  /** Receive nothing more until the handler reads (a large body: see DIRECT_MIN). */
  holdUntilRead(): void {
    if (this.#consumer === "none") this.#pause();
  }

  /** Bytes in the whole buffer so far (-1 without one). */
  get wholeReceived(): number {
    return this.#whole ? this.#wholeLen : -1;
  }

  /** `n` more bytes were received into the whole buffer by the source (receiveInto). */
  advance(n: number): void {
    if (this.#done || this.#error || !this.#whole) return;
    this.#wholeLen += n;
    this.received += n;
  }

  end(): void {
    if (this.#done || this.#error) return;
    this.#done = true;
    if (this.#consumer === "stream" && this.#controller) {
      // Being read as a stream: what is buffered goes into its queue now, then the end.
      this.#flushToStream(this.#controller);
    }
    if (this.#wholeWaiters.length) {
      const all = this.#whole ?? this.#concat();
      this.#whole = null;
      for (const w of this.#wholeWaiters) w.resolve(all);
      this.#wholeWaiters.length = 0;
    }
    // A body that paused the connection (a stream reader behind) and then ended gets no further
    // pull() to resume it: without this the next request on the connection was never read.
    this.#resume();
  }

  /** The connection ended or the body was malformed before its end. */
  fail(error: Error): void {
    if (this.#done || this.#error) return;
    this.#error = error;
    this.#readPending = false;
    if (this.#controller) {
      try {
        this.#controller.error(error);
      } catch {}
      this.#controller = null;
    }
    for (const w of this.#wholeWaiters) w.reject(error);
    this.#wholeWaiters.length = 0;
    this.#chunks.length = 0;
    this.#whole = null;
    this.#resume(); // the rest of a failed or discarded body is read and dropped, not left paused
  }

  #pause(): void {
    if (!this.#paused) {
      this.#paused = true;
      this.#source.pause();
    }
  }
  #resume(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#source.resume();
    }
  }

  #concat(): Uint8Array {
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#buffered = 0;
    if (chunks.length === 0) return EMPTY;
    if (chunks.length === 1) return chunks[0]!;
    const out = Bun.allocUnsafe(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  #bodyUsedError(): TypeError {
    return new TypeError("Body already used");
  }

  /** The whole body, when it has arrived. Settles synchronously-peekable when already complete. */
  bytes(): Promise<Uint8Array> {
    if (this.used) return Promise.reject(this.#bodyUsedError());
    this.#used = true;
    this.#consumer = "whole";
    // Its stream, if made, is now the body's, as a native Request's: locked to the caller.
    if (this.#stream !== null) this.#stream.getReader();
    if (this.#error) return Promise.reject(this.#error);
    if (this.#done) return Promise.resolve(this.#concat());
    let direct = false;
    if (this.#expected > 0 && this.#expected <= WHOLE_EXACT_MAX) {
      const whole = (this.#whole = Bun.allocUnsafe(this.#expected));
      for (const c of this.#chunks) {
        whole.set(c, this.#wholeLen);
        this.#wholeLen += c.length;
      }
      this.#chunks = [];
      this.#buffered = 0;
      direct = this.#expected - this.#wholeLen >= DIRECT_MIN && this.#source.receiveInto?.(this, whole) === true;
    }
    if (direct) this.#paused = false; // the source resumes reading itself once the kernel has the buffer
    else this.#resume();
    return new Promise((resolve, reject) => this.#wholeWaiters.push({ resolve, reject }));
  }

  /** The body as a stream, fed as it is read (see #controller). The same stream on every call. */
  stream(): ReadableStream<Uint8Array> {
    if (this.#stream) return this.#stream;
    const self = this;
    const stream = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          self.#controller = controller;
        },
        pull(controller) {
          self.#used = true;
          self.#consumer = "stream";
          if (self.#error) return controller.error(self.#error);
          if (self.#chunks.length > 0 || self.#done) return self.#flushToStream(controller);
          self.#readPending = true;
          self.#resume();
        },
        cancel() {
          self.#cancelled = true;
          self.#readPending = false;
          self.#controller = null;
          self.#chunks = [];
          self.#buffered = 0;
          self.#resume(); // the rest is read and dropped
        },
      },
      { highWaterMark: 0 },
    );
    this.#stream = stream;
    if (this.#consumer === "whole") stream.getReader(); // read whole already: locked, as Bun's
    return stream;
  }

  /** Buffered chunks into the stream's queue (and its end, when the body is complete); reading resumes. */
  #flushToStream(controller: ReadableStreamDefaultController<Uint8Array>): void {
    for (const c of this.#chunks) controller.enqueue(c);
    this.#chunks = [];
    this.#buffered = 0;
    if (this.#done) {
      this.#controller = null;
      controller.close();
      return;
    }
    this.#resume();
  }
}
