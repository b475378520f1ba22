// Minimal liburing HTTP/1.1 server: the ceiling for bun-uring's plaintext numbers.
//
// It does the least work an io_uring server can do per request: one multishot accept, one
// multishot recv per connection reading into a provided buffer ring, and a send of a canned
// "Hello, World!" response for every request terminator (CRLFCRLF) seen in the byte stream, so
// pipelined requests get one response each. It never parses the request line: whatever is asked
// for, the answer is the plaintext response. That is fine for the plaintext, pipelined and
// latency scenarios, which are the only ones the harness uses it for.
//
// Build: cc -O2 -o bench/bin/uring-http bench/c/uring-http.c -luring
// Run:   uring-http PORT [HOST]
// Written for liburing >= 2.3 (Debian 12), hence the hand-made buffer ring registration.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BGID 1
#define NBUFS 4096 /* power of two, as the buffer ring requires */
#define BUFSZ 4096
#define BATCH 64 /* responses per send at most; larger pipelines take several sends */

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
#define UD(op, fd) (((uint64_t)(op) << 32) | (uint32_t)(fd))

// The responses are identical, so one static buffer of BATCH copies serves every connection and
// every partial send: a connection only tracks how many bytes it still owes and where in the
// response it stopped. No Date header: it would need a per-second rewrite of a buffer the kernel
// may be reading.
static const char RESP[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: c-uring\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";
#define RESP_LEN (sizeof(RESP) - 1)
static char resp_buf[RESP_LEN * BATCH];

struct conn {
  uint64_t owed;      /* response bytes not yet handed to a send */
  uint32_t pos;       /* offset into RESP where the next send starts */
  uint8_t match;      /* how much of "\r\n\r\n" the stream currently ends with */
  uint8_t sending;    /* a send is in flight */
  uint8_t recv_armed; /* the multishot recv is still live */
  uint8_t eof;        /* the peer finished sending; close once the owed responses are out */
  uint8_t closing;    /* an error: close as soon as nothing is in flight */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static struct conn *conns;
static int max_fd;

static struct io_uring_sqe *get_sqe(void) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  if (!sqe) { /* SQ full: flush and retry once, which always frees slots */
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  if (!sqe) {
    fprintf(stderr, "uring-http: no SQE available\n");
    exit(1);
  }
  return sqe;
}

static void arm_accept(int lfd) {
  struct io_uring_sqe *sqe = get_sqe();
  io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
  io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, lfd));
}

static void arm_recv(int fd) {
  struct io_uring_sqe *sqe = get_sqe();
  io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BGID;
  io_uring_sqe_set_data64(sqe, UD(OP_RECV, fd));
  conns[fd].recv_armed = 1;
}

static void maybe_send(int fd) {
  struct conn *c = &conns[fd];
  if (c->sending || c->owed == 0 || c->closing) return;
  size_t len = sizeof(resp_buf) - c->pos;
  if (len > c->owed) len = c->owed;
  struct io_uring_sqe *sqe = get_sqe();
  io_uring_prep_send(sqe, fd, resp_buf + c->pos, len, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, UD(OP_SEND, fd));
  c->sending = 1;
}

// Close only once nothing is in flight, so no stale completion can hit a reused fd number.
static void try_close(int fd) {
  struct conn *c = &conns[fd];
  if (c->sending || c->recv_armed) return;
  if (!c->closing && !(c->eof && c->owed == 0)) return;
  close(fd);
  memset(c, 0, sizeof(*c));
}

static void fail_conn(int fd) {
  struct conn *c = &conns[fd];
  c->closing = 1;
  if (c->recv_armed) shutdown(fd, SHUT_RDWR); /* makes the multishot recv terminate */
  try_close(fd);
}

static unsigned count_requests(struct conn *c, const char *p, int n) {
  static const char pat[4] = {'\r', '\n', '\r', '\n'};
  unsigned found = 0;
  uint8_t m = c->match;
  for (int i = 0; i < n; i++) {
    char ch = p[i];
    if (ch == pat[m]) {
      if (++m == 4) {
        found++;
        m = 0;
      }
    } else {
      m = ch == '\r'; /* a mismatch can only restart the pattern on a CR */
    }
  }
  c->match = m;
  return found;
}

static void on_cqe(int lfd, struct io_uring_cqe *cqe) {
  uint64_t ud = io_uring_cqe_get_data64(cqe);
  int op = (int)(ud >> 32);
  int fd = (int)(uint32_t)ud;
  int res = cqe->res;

  if (op == OP_ACCEPT) {
    if (res >= 0) {
      if (res >= max_fd) {
        close(res);
      } else {
        int one = 1;
        setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        memset(&conns[res], 0, sizeof(conns[res]));
        arm_recv(res);
      }
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(lfd);
    return;
  }

  struct conn *c = &conns[fd];
  if (op == OP_RECV) {
    if (res > 0) {
      int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      char *p = bufs + (size_t)bid * BUFSZ;
      unsigned n = count_requests(c, p, res);
      io_uring_buf_ring_add(br, p, BUFSZ, bid, io_uring_buf_ring_mask(NBUFS), 0);
      io_uring_buf_ring_advance(br, 1);
      c->owed += (uint64_t)n * RESP_LEN;
      maybe_send(fd);
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
      c->recv_armed = 0;
      if ((res > 0 || res == -ENOBUFS) && !c->closing) {
        arm_recv(fd); /* the kernel ended the multishot but the peer is still there */
      } else {
        c->eof = 1;
        if (res < 0) c->closing = 1;
        try_close(fd);
      }
    }
    return;
  }

  if (op == OP_SEND) {
    c->sending = 0;
    if (res < 0) {
      fail_conn(fd);
      return;
    }
    c->owed -= (uint64_t)res;
    c->pos = (uint32_t)((c->pos + (uint64_t)res) % RESP_LEN);
    maybe_send(fd);
    try_close(fd);
  }
}

static int listen_on(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) return -1;
  if (listen(fd, 4096) < 0) return -1;
  return fd;
}

static int setup_ring(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  // A big CQ so that thousands of connections completing at once never overflow it.
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  p.cq_entries = 65536;
  int r = io_uring_queue_init_params(4096, &ring, &p);
  if (r == -EINVAL) { /* kernels before 6.1 lack DEFER_TASKRUN; still a fair ceiling */
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = 65536;
    r = io_uring_queue_init_params(4096, &ring, &p);
  }
  return r;
}

static int setup_buffers(void) {
  size_t ring_size = NBUFS * sizeof(struct io_uring_buf);
  br = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED) return -ENOMEM;
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof(reg));
  reg.ring_addr = (unsigned long)br;
  reg.ring_entries = NBUFS;
  reg.bgid = BGID;
  int r = io_uring_register_buf_ring(&ring, &reg, 0);
  if (r < 0) return r;
  bufs = mmap(NULL, (size_t)NBUFS * BUFSZ, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (bufs == MAP_FAILED) return -ENOMEM;
  io_uring_buf_ring_init(br);
  for (int i = 0; i < NBUFS; i++)
    io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i, io_uring_buf_ring_mask(NBUFS), i);
  io_uring_buf_ring_advance(br, NBUFS);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";

  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  max_fd = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
  conns = calloc((size_t)max_fd, sizeof(struct conn));
  for (size_t i = 0; i < sizeof(resp_buf); i += RESP_LEN) memcpy(resp_buf + i, RESP, RESP_LEN);

  int lfd = listen_on(host, port);
  if (lfd < 0) {
    perror("uring-http: listen");
    return 1;
  }
  int r = setup_ring();
  if (r < 0) {
    fprintf(stderr, "uring-http: io_uring_queue_init: %s\n", strerror(-r));
    return 1;
  }
  r = setup_buffers();
  if (r < 0) {
    fprintf(stderr, "uring-http: buffer ring: %s\n", strerror(-r));
    return 1;
  }
  arm_accept(lfd);
  printf("listening on %s:%d\n", host, port);
  fflush(stdout);

  for (;;) {
    r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR) {
      fprintf(stderr, "uring-http: submit_and_wait: %s\n", strerror(-r));
      return 1;
    }
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      on_cqe(lfd, cqe);
      seen++;
    }
    io_uring_cq_advance(&ring, seen);
  }
}
