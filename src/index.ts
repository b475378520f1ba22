// bun-uring: an io_uring event loop for Bun, and a drop-in Bun.serve on it.
export { listen, TCPSocket, type TCPListenOptions, type TCPSocketListener, type SocketHandler } from "./net/listen.ts";
export { Reactor, type ReactorOptions, type ReactorStats } from "./loop/reactor.ts";
export { defaultReactor, closeDefaultReactor } from "./loop/default.ts";
export { IoUringUnavailableError, SystemError } from "./ffi/errno.ts";
export { serve, Server, type ServeOptions } from "./net/server.ts";
