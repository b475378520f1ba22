// Load generator for the TCP echo benchmark (bench/echo.ts).
//
// CONNS connections, each with exactly one message in flight: send MSGSIZE bytes, wait until all
// of them came back, record the round trip, send again. Written in C with plain epoll so that the
// client costs as little CPU as possible and the server stays the bottleneck.
//
// Build: cc -O2 -o bench/bin/echo-load bench/c/echo-load.c
// Run:   echo-load HOST PORT CONNS SECONDS [MSGSIZE]
// Prints one JSON line: {"conns":..,"seconds":..,"roundTrips":..,"bytes":..,"p50Us":..,"p99Us":..,"errors":..}

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// Round trips are binned in 100 ns buckets up to 100 ms; slower ones land in the last bucket.
#define BUCKET_NS 100
#define NBUCKETS 1000000

struct conn {
  int fd;
  uint32_t got;
  uint64_t t0;
};

static uint32_t *hist;
static char *msg, *rbuf;
static int msgsize;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int send_msg(struct conn *c) {
  c->got = 0;
  c->t0 = now_ns();
  ssize_t n = send(c->fd, msg, (size_t)msgsize, MSG_NOSIGNAL);
  return n == msgsize ? 0 : -1; /* a fresh 64-byte write into an empty socket buffer never splits */
}

static double percentile_us(uint64_t total, double q) {
  if (total == 0) return 0;
  uint64_t want = (uint64_t)(q * (double)total);
  if (want >= total) want = total - 1;
  uint64_t seen = 0;
  for (int i = 0; i < NBUCKETS; i++) {
    seen += hist[i];
    if (seen > want) return ((double)i + 0.5) * BUCKET_NS / 1000.0;
  }
  return (double)NBUCKETS * BUCKET_NS / 1000.0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s HOST PORT CONNS SECONDS [MSGSIZE]\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  int nconns = atoi(argv[3]);
  double seconds = atof(argv[4]);
  msgsize = argc > 5 ? atoi(argv[5]) : 64;
  if (nconns < 1 || seconds <= 0 || msgsize < 1) return 2;

  hist = calloc(NBUCKETS, sizeof(uint32_t));
  msg = malloc((size_t)msgsize);
  rbuf = malloc((size_t)msgsize);
  for (int i = 0; i < msgsize; i++) msg[i] = (char)('a' + i % 26);
  struct conn *conns = calloc((size_t)nconns, sizeof(struct conn));
  int ep = epoll_create1(0);

  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "echo-load: bad host %s\n", host);
    return 2;
  }

  uint64_t errors = 0;
  int live = 0;
  for (int i = 0; i < nconns; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
      errors++;
      if (fd >= 0) close(fd);
      conns[i].fd = -1;
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    conns[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    live++;
  }
  if (live == 0) {
    fprintf(stderr, "echo-load: could not connect to %s:%d\n", host, port);
    return 1;
  }

  uint64_t start = now_ns();
  uint64_t end = start + (uint64_t)(seconds * 1e9);
  for (int i = 0; i < nconns; i++)
    if (conns[i].fd >= 0 && send_msg(&conns[i]) < 0) errors++;

  uint64_t trips = 0;
  struct epoll_event evs[256];
  uint64_t t = start;
  while (t < end && live > 0) {
    int n = epoll_wait(ep, evs, 256, 10);
    for (int k = 0; k < n; k++) {
      struct conn *c = &conns[evs[k].data.u32];
      if (c->fd < 0) continue;
      ssize_t r = recv(c->fd, rbuf, (size_t)(msgsize - (int)c->got), 0);
      if (r > 0) {
        c->got += (uint32_t)r;
        if ((int)c->got < msgsize) continue;
        uint64_t t1 = now_ns();
        uint64_t b = (t1 - c->t0) / BUCKET_NS;
        hist[b < NBUCKETS ? b : NBUCKETS - 1]++;
        trips++;
        if (t1 < end && send_msg(c) < 0) {
          errors++;
          close(c->fd);
          c->fd = -1;
          live--;
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        errors++; /* the server hung up or the socket broke */
        close(c->fd);
        c->fd = -1;
        live--;
      }
    }
    t = now_ns();
  }
  double elapsed = (double)(now_ns() - start) / 1e9;
  printf("{\"conns\":%d,\"seconds\":%.4f,\"roundTrips\":%llu,\"bytes\":%llu,\"p50Us\":%.2f,\"p99Us\":%.2f,\"errors\":%llu}\n",
         nconns, elapsed, (unsigned long long)trips, (unsigned long long)(trips * (uint64_t)msgsize),
         percentile_us(trips, 0.50), percentile_us(trips, 0.99), (unsigned long long)errors);
  return 0;
}
