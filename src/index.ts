// bun-uring: an io_uring event loop for Bun, and a drop-in Bun.serve on it.
export { listen, TCPSocket, type TCPListenOptions, type TCPSocketListener, type SocketHandler } from "./net/listen.ts";
export { Reactor, type ReactorOptions, type ReactorStats } from "./loop/reactor.ts";
export { defaultReactor, closeDefaultReactor } from "./loop/default.ts";
export { IoUringUnavailableError, SystemError } from "./ffi/errno.ts";
export { serve, Server, type ServeOptions } from "./net/server.ts";
export type { ServeStats, UringServerStats, FallbackServer } from "./net/server.ts";
export type { FallbackServerStats } from "./net/fallback.ts";
export { ioUringAvailability, type IoUringAvailability } from "./loop/availability.ts";
export {
  cluster, Cluster, ClusterServer, isClusterWorker, clusterWorkerIndex, resolveWorkers, watchPrimary,
  type ClusterOptions, type ClusterWorker, type ClusterServerStats,
} from "./net/cluster.ts";
export { serveStatic, type ServeStaticOptions, type StaticHandler } from "./net/static.ts";
export { fileServerStats, clearFileCache, configureFileServer, type FileServerOptions } from "./net/http/files.ts";
