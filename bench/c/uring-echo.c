// Minimal liburing TCP echo server: the ceiling for bun-uring's listen() numbers.
//
// Same shape as uring-http.c: multishot accept, multishot recv into a provided buffer ring,
// SINGLE_ISSUER|DEFER_TASKRUN. Received bytes are copied into the connection's pending buffer and
// the ring buffer goes straight back to the kernel; one send per connection is in flight at a time
// (two sends on one socket may complete out of order), and whatever arrives meanwhile is sent
// next. The copy costs next to nothing for the 64-byte messages of the benchmark.
//
// Build: cc -O2 -o bench/bin/uring-echo bench/c/uring-echo.c -luring
// Run:   uring-echo PORT [HOST]

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
#define NBUFS 4096
#define BUFSZ 4096

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };
#define UD(op, fd) (((uint64_t)(op) << 32) | (uint32_t)(fd))

// Two buffers per connection: out[fl] is being sent, out[1 - fl] collects what arrives meanwhile.
struct conn {
  char *out[2];
  uint32_t cap[2];
  uint32_t len[2];
  uint32_t sent; /* bytes of out[fl] already sent */
  uint8_t fl;
  uint8_t sending;
  uint8_t recv_armed;
  uint8_t eof;
  uint8_t closing;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static struct conn *conns;
static int max_fd;

static struct io_uring_sqe *get_sqe(void) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  if (!sqe) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  if (!sqe) {
    fprintf(stderr, "uring-echo: no SQE available\n");
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

static void submit_send(int fd) {
  struct conn *c = &conns[fd];
  struct io_uring_sqe *sqe = get_sqe();
  io_uring_prep_send(sqe, fd, c->out[c->fl] + c->sent, c->len[c->fl] - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, UD(OP_SEND, fd));
  c->sending = 1;
}

// Start sending what has accumulated, if nothing is in flight.
static void maybe_send(int fd) {
  struct conn *c = &conns[fd];
  if (c->sending || c->closing) return;
  uint8_t acc = (uint8_t)(1 - c->fl);
  if (c->len[acc] == 0) return;
  c->len[c->fl] = 0;
  c->fl = acc;
  c->sent = 0;
  submit_send(fd);
}

static int append(struct conn *c, const char *p, uint32_t n) {
  uint8_t acc = (uint8_t)(1 - c->fl);
  if (c->len[acc] + n > c->cap[acc]) {
    uint32_t cap = c->cap[acc] ? c->cap[acc] : 4096;
    while (cap < c->len[acc] + n) cap *= 2;
    char *q = realloc(c->out[acc], cap); /* never the in-flight buffer */
    if (!q) return -1;
    c->out[acc] = q;
    c->cap[acc] = cap;
  }
  memcpy(c->out[acc] + c->len[acc], p, n);
  c->len[acc] += n;
  return 0;
}

static void try_close(int fd) {
  struct conn *c = &conns[fd];
  if (c->sending || c->recv_armed) return;
  if (!c->closing && !(c->eof && c->len[1 - c->fl] == 0)) return;
  close(fd);
  c->len[0] = c->len[1] = 0; /* keep the buffers for the next connection on this fd */
  c->sent = 0;
  c->eof = c->closing = 0;
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
        struct conn *c = &conns[res];
        c->len[0] = c->len[1] = 0;
        c->sent = 0;
        c->fl = 0;
        c->sending = c->eof = c->closing = 0;
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
      int bad = append(c, p, (uint32_t)res);
      io_uring_buf_ring_add(br, p, BUFSZ, bid, io_uring_buf_ring_mask(NBUFS), 0);
      io_uring_buf_ring_advance(br, 1);
      if (bad) {
        c->closing = 1;
        shutdown(fd, SHUT_RDWR);
      } else {
        maybe_send(fd);
      }
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
      c->recv_armed = 0;
      if ((res > 0 || res == -ENOBUFS) && !c->closing) {
        arm_recv(fd);
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
      c->closing = 1;
      if (c->recv_armed) shutdown(fd, SHUT_RDWR);
      try_close(fd);
      return;
    }
    c->sent += (uint32_t)res;
    if (c->sent < c->len[c->fl] && !c->closing) submit_send(fd); /* short send: finish it first */
    else maybe_send(fd);
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
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  p.cq_entries = 65536;
  int r = io_uring_queue_init_params(4096, &ring, &p);
  if (r == -EINVAL) {
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

  int lfd = listen_on(host, port);
  if (lfd < 0) {
    perror("uring-echo: listen");
    return 1;
  }
  int r = setup_ring();
  if (r < 0) {
    fprintf(stderr, "uring-echo: io_uring_queue_init: %s\n", strerror(-r));
    return 1;
  }
  r = setup_buffers();
  if (r < 0) {
    fprintf(stderr, "uring-echo: buffer ring: %s\n", strerror(-r));
    return 1;
  }
  arm_accept(lfd);
  printf("listening on %s:%d\n", host, port);
  fflush(stdout);

  for (;;) {
    r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR) {
      fprintf(stderr, "uring-echo: submit_and_wait: %s\n", strerror(-r));
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
