// An echo listener on 127.0.0.1 (a free port) on the thread's default reactor: for the driver's
// child-process and Worker fixtures.
import { listen, type TCPSocketListener } from "../../src/net/listen.ts";

export function listenEcho(): TCPSocketListener {
  return listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, d) {
        s.write(d);
      },
      error() {},
    },
  });
}
