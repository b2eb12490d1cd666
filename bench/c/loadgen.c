/*
 * loadgen: the benchmark's native load generator (epoll, one thread).
 *
 * Why it exists: a Node.js generator tops out near the speed of the fastest servers measured
 * (uWebSockets.js, a bare TCP echo), so those numbers would describe the generator. This program
 * does the same work as bench/lib/generator.mjs with a fraction of the CPU: frames come
 * pre-built (and pre-masked) from a file written by the Node side, refills write a prefix of
 * that batch, replies are counted by walking frame headers in each read.
 *
 * It is built by bench/run.mjs with the machine's cc into bench/build/ (git-ignored) and driven
 * by bench/lib/generator.mjs; it talks to 127.0.0.1 only and every loop is bounded by time.
 *
 *   loadgen echo      port= conns= inflight= refill= batch= raw= latency= deflate= keys= warmup= measure= spid=
 *   loadgen broadcast port= clients= window= batch= raw= keys= warmup= measure= spid=
 *   loadgen handshake port= concurrency= keys= warmup= measure= spid=
 *
 * Prints one line of key=value pairs (raw CPU ticks and counts; Node turns them into rates).
 */
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
#include <strings.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (1 << 20)
#define MAX_EVENTS 1024
#define HEAD_MAX 4096

static unsigned char rbuf[READ_SIZE];
static int ep;
static int port;

/* ---------- small helpers ---------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *msg) {
  printf("error=%s\n", msg);
  fflush(stdout);
  exit(1);
}

static const char *arg(int argc, char **argv, const char *key, const char *def) {
  size_t n = strlen(key);
  for (int i = 2; i < argc; i++)
    if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
  return def;
}
static long iarg(int argc, char **argv, const char *key, long def) {
  const char *v = arg(argc, argv, key, NULL);
  return v ? strtol(v, NULL, 10) : def;
}

static unsigned char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open batch/keys file");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(n + 1);
  if (!b || fread(b, 1, n, f) != (size_t)n) die("cannot read file");
  b[n] = 0;
  fclose(f);
  *len = n;
  return b;
}

/* ---------- CPU sampling (same sources as bench/lib/cpu.mjs) ---------- */

typedef struct {
  double t;
  long server, server_faults, gen, core0, core1;
} snap_t;

/* utime + stime of a process (all threads); with `faults`, also its minor page faults. */
static long proc_ticks(const char *path, long *faults) {
  char b[1024];
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(b, 1, sizeof b - 1, f);
  fclose(f);
  b[n] = 0;
  char *p = strrchr(b, ')');
  if (!p) return -1;
  p += 2; /* now at field 3, the state letter */
  while (*p && *p != ' ') p++;
  /* fields 4..15; utime is field 14, stime field 15 */
  long v[12];
  for (int i = 0; i < 12; i++) v[i] = strtol(p, &p, 10);
  if (faults) *faults = v[6]; /* minflt, field 10 */
  return v[10] + v[11];
}

static void core_ticks(long *c0, long *c1) {
  char line[512];
  FILE *f = fopen("/proc/stat", "r");
  *c0 = *c1 = -1;
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    int cpu;
    long u, ni, sy, id, io, irq, sirq, st;
    if (sscanf(line, "cpu%d %ld %ld %ld %ld %ld %ld %ld %ld", &cpu, &u, &ni, &sy, &id, &io, &irq, &sirq,
               &st) == 9) {
      long busy = u + ni + sy + irq + sirq + st;
      if (cpu == 0) *c0 = busy;
      if (cpu == 1) *c1 = busy;
    }
  }
  fclose(f);
}

static int server_pid;
static void take(snap_t *s) {
  char p[64];
  s->t = now_ms();
  snprintf(p, sizeof p, "/proc/%d/stat", server_pid);
  s->server = proc_ticks(p, &s->server_faults);
  s->gen = proc_ticks("/proc/self/stat", NULL);
  core_ticks(&s->core0, &s->core1);
}
static void print_window(const snap_t *a, const snap_t *b) {
  printf("ms=%.3f server_ticks=%ld server_faults=%ld gen_ticks=%ld core0_ticks=%ld core1_ticks=%ld "
         "clk_tck=%ld",
         b->t - a->t, b->server - a->server, b->server_faults - a->server_faults, b->gen - a->gen,
         b->core0 - a->core0, b->core1 - a->core1, sysconf(_SC_CLK_TCK));
}

/* ---------- frame counting (port of FrameCounter in frames.mjs) ---------- */

typedef struct {
  uint64_t skip;
  int skip_counts;
  int closed;
  unsigned char hdr[14];
  int have;
} counter_t;

static int hlen(unsigned char b1) {
  int l = b1 & 0x7f;
  return 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

static int start_frame(counter_t *c, const unsigned char *h) {
  uint64_t len = h[1] & 0x7f;
  if (len == 126) len = ((uint64_t)h[2] << 8) | h[3];
  else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = (len << 8) | h[2 + i];
  }
  int op = h[0] & 0x0f;
  if (op == 8) c->closed = 1;
  int counts = (h[0] & 0x80) && op < 8;
  if (len == 0) return counts;
  c->skip = len;
  c->skip_counts = counts;
  return 0;
}

/* Returns the number of complete data messages in buf[0, n). */
static long count_frames(counter_t *c, const unsigned char *buf, size_t n) {
  size_t off = 0;
  long msgs = 0;
  while (off < n) {
    if (c->skip > 0) {
      size_t avail = n - off;
      if (avail < c->skip) {
        c->skip -= avail;
        break;
      }
      off += c->skip;
      c->skip = 0;
      msgs += c->skip_counts;
      continue;
    }
    if (c->have > 0) {
      if (c->have < 2) c->hdr[c->have++] = buf[off++];
      int full = hlen(c->hdr[1]);
      size_t take = full - c->have;
      if (take > n - off) take = n - off;
      memcpy(c->hdr + c->have, buf + off, take);
      c->have += take;
      off += take;
      if (c->have < full) break;
      c->have = 0;
      msgs += start_frame(c, c->hdr);
      continue;
    }
    size_t avail = n - off;
    if (avail < 2 || avail < (size_t)hlen(buf[off + 1])) {
      memcpy(c->hdr, buf + off, avail);
      c->have = avail;
      break;
    }
    int h = hlen(buf[off + 1]);
    msgs += start_frame(c, buf + off);
    off += h;
  }
  return msgs;
}

/* ---------- frame batches ---------- */

/*
 * The batch file holds F frames; it is kept twice in a row in memory so that any run of k <= F
 * frames starting at any frame is one contiguous slice (one send), cycling through all F frames.
 */
static unsigned char *batch;
static size_t batch_len;
static size_t *ends;
static int nframes; /* 2F */
static int F;

static void load_batch(const char *path) {
  size_t one;
  unsigned char *b = read_file(path, &one);
  batch_len = one * 2;
  batch = malloc(batch_len);
  if (!batch) die("out of memory");
  memcpy(batch, b, one);
  memcpy(batch + one, b, one);
  free(b);
  ends = malloc(sizeof(size_t) * (batch_len / 6 + 1));
  size_t off = 0;
  nframes = 0;
  while (off < batch_len) {
    const unsigned char *h = batch + off;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) len = ((uint64_t)h[2] << 8) | h[3];
    else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | h[2 + i];
    }
    off += hlen(h[1]) + len;
    ends[nframes++] = off;
  }
  if (off != batch_len || nframes == 0) die("malformed batch file");
  F = nframes / 2;
}

/* ---------- handshake keys ---------- */

typedef struct {
  char key[32], accept[40];
} key_t2;
static key_t2 *keys;
static int nkeys;

static void load_keys(const char *path) {
  size_t n;
  char *s = (char *)read_file(path, &n);
  keys = calloc(n / 20 + 1, sizeof(key_t2));
  char *line = strtok(s, "\n");
  while (line) {
    if (sscanf(line, "%31s %39s", keys[nkeys].key, keys[nkeys].accept) == 2) nkeys++;
    line = strtok(NULL, "\n");
  }
  if (nkeys == 0) die("no keys");
}

static int request(char *out, size_t cap, int k, int deflate) {
  return snprintf(out, cap,
                  "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                  port, keys[k].key,
                  deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n" : "");
}

/* Checks a response head: 101, correct accept, permessage-deflate if asked. 0 when good. */
static int check_head(const char *head, int k, int deflate) {
  if (strncmp(head, "HTTP/1.1 101", 12) != 0) return 1;
  const char *p = strcasestr(head, "\r\nsec-websocket-accept:");
  if (!p) return 2;
  p += 23;
  while (*p == ' ' || *p == '\t') p++;
  size_t al = strlen(keys[k].accept);
  if (strncmp(p, keys[k].accept, al) != 0 || (p[al] != '\r' && p[al] != ' ' && p[al] != 0)) return 3;
  if (deflate && !strcasestr(head, "permessage-deflate")) return 4;
  return 0;
}

/* ---------- connections ---------- */

enum { S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSING, S_DONE, S_FAILED };

typedef struct {
  int fd;
  int state;
  int key;
  counter_t ctr;
  char *head;
  int head_len;
  /* output: the current run is batch[off, end); `queued` frames wait behind it */
  size_t out_off, out_end;
  long queued;
  int cursor; /* next frame of the batch to send */
  int want_out;
  long pending; /* replies since the last refill */
  double sent_at;
  double started;
  uint64_t bytes;
} conn_t;

static struct sockaddr_in addr;

static int open_socket(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static void ep_set(conn_t *c, int out) {
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = out;
}

static void ep_add(conn_t *c, int out) {
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  c->want_out = out;
}

static void conn_fail(conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = S_FAILED;
}

/* Pushes the current run (and queued frames) out; returns -1 on a dead socket. */
static int flush_out(conn_t *c) {
  for (;;) {
    if (c->out_off == c->out_end) {
      if (c->queued == 0) break;
      long k = c->queued > F ? F : c->queued;
      c->queued -= k;
      c->out_off = c->cursor ? ends[c->cursor - 1] : 0;
      c->out_end = ends[c->cursor + k - 1];
      c->cursor = (c->cursor + k) % F;
    }
    ssize_t w = send(c->fd, batch + c->out_off, c->out_end - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return -1;
    }
    c->out_off += w;
  }
  int need = c->out_off != c->out_end || c->queued > 0;
  if (need != c->want_out) ep_set(c, need);
  return 0;
}

static int send_frames(conn_t *c, long k) {
  c->queued += k;
  if (c->out_off != c->out_end) return 0; /* a run is in progress: EPOLLOUT will continue it */
  return flush_out(c);
}

/*
 * Opens `n` connections (WebSocket handshake unless raw), at most `par` in progress at once.
 * Returns the number opened; the others are S_FAILED.
 */
static int connect_all(conn_t *cs, int n, int raw, int deflate, int par, double deadline) {
  int next = 0, inprog = 0, opened = 0, failed = 0;
  struct epoll_event evs[MAX_EVENTS];
  char req[512];
  while (opened + failed < n) {
    while (next < n && inprog < par) {
      conn_t *c = &cs[next++];
      memset(c, 0, sizeof *c);
      c->key = nkeys ? (next * 7919) % nkeys : 0;
      c->fd = open_socket();
      if (c->fd < 0) {
        c->state = S_FAILED;
        failed++;
        continue;
      }
      c->state = S_CONNECTING;
      ep_add(c, 1);
      inprog++;
    }
    if (now_ms() > deadline) break;
    int ne = epoll_wait(ep, evs, MAX_EVENTS, 100);
    for (int i = 0; i < ne; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c->state == S_CONNECTING && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
          conn_fail(c);
          inprog--;
          failed++;
          continue;
        }
        if (raw) {
          c->state = S_OPEN;
          ep_set(c, 0);
          inprog--;
          opened++;
          continue;
        }
        int l = request(req, sizeof req, c->key, deflate);
        if (send(c->fd, req, l, MSG_NOSIGNAL) != l) {
          conn_fail(c);
          inprog--;
          failed++;
          continue;
        }
        c->state = S_HANDSHAKE;
        c->head = malloc(HEAD_MAX + 1);
        ep_set(c, 0);
      } else if (c->state == S_HANDSHAKE && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        ssize_t r = recv(c->fd, c->head + c->head_len, HEAD_MAX - c->head_len, 0);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) continue;
          free(c->head);
          conn_fail(c);
          inprog--;
          failed++;
          continue;
        }
        c->head_len += r;
        c->head[c->head_len] = 0;
        char *e = strstr(c->head, "\r\n\r\n");
        if (!e) {
          if (c->head_len >= HEAD_MAX) {
            free(c->head);
            conn_fail(c);
            inprog--;
            failed++;
          }
          continue;
        }
        *e = 0;
        if (check_head(c->head, c->key, deflate) != 0) {
          free(c->head);
          conn_fail(c);
          inprog--;
          failed++;
          continue;
        }
        /* Bytes after the head are the first frames. */
        size_t rest = c->head_len - (e + 4 - c->head);
        if (rest) count_frames(&c->ctr, (unsigned char *)e + 4, rest);
        free(c->head);
        c->head = NULL;
        c->state = S_OPEN;
        inprog--;
        opened++;
      }
    }
  }
  return opened;
}

/* Reads everything available on an open connection; returns messages completed or -1 on EOF/error. */
static long read_conn(conn_t *c) {
  long msgs = 0;
  for (;;) {
    ssize_t r = recv(c->fd, rbuf, READ_SIZE, 0);
    if (r > 0) {
      c->bytes += r;
      msgs += count_frames(&c->ctr, rbuf, r);
      if (r < READ_SIZE) return msgs; /* drained (saves the EAGAIN syscall) */
      continue;
    }
    if (r == 0) return msgs > 0 ? msgs : -1;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return msgs;
    if (errno == EINTR) continue;
    return msgs > 0 ? msgs : -1;
  }
}

static void reset_all(conn_t *cs, int n);

/* ---------- latency samples ---------- */

static double *samples;
static long nsamples, capsamples;
static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static void print_latency(void) {
  if (nsamples == 0) return;
  qsort(samples, nsamples, sizeof(double), cmpd);
#define AT(q) samples[(long)((q) * nsamples) < nsamples ? (long)((q) * nsamples) : nsamples - 1]
  printf(" lat_n=%ld lat_p50=%.4f lat_p90=%.4f lat_p99=%.4f lat_p999=%.4f lat_max=%.4f", nsamples, AT(0.5),
         AT(0.9), AT(0.99), AT(0.999), samples[nsamples - 1]);
}

/* ---------- jobs ---------- */

static int run_echo(int argc, char **argv) {
  int conns = iarg(argc, argv, "conns", 64);
  int inflight = iarg(argc, argv, "inflight", 32);
  int refill = iarg(argc, argv, "refill", 8);
  int raw = iarg(argc, argv, "raw", 0);
  int latency = iarg(argc, argv, "latency", 0);
  int deflate = iarg(argc, argv, "deflate", 0);
  double warm = iarg(argc, argv, "warmup", 500), meas = iarg(argc, argv, "measure", 2000);
  if (!raw && nkeys == 0) die("echo needs keys= unless raw=1");
  load_batch(arg(argc, argv, "batch", ""));
  if (F < inflight) die("batch has fewer frames than inflight");
  conn_t *cs = calloc(conns, sizeof(conn_t));
  int opened = connect_all(cs, conns, raw, deflate, 256, now_ms() + 60000);
  if (opened < conns) {
    printf("error=only %d/%d connections opened\n", opened, conns);
    return 1;
  }
  if (latency) {
    capsamples = 1 << 22;
    samples = malloc(sizeof(double) * capsamples);
  }
  double t0 = now_ms();
  for (int i = 0; i < conns; i++) {
    cs[i].sent_at = t0;
    cs[i].cursor = i % F; /* connections start at different messages */
    if (send_frames(&cs[i], inflight) < 0) die("send failed at start");
  }
  struct epoll_event evs[MAX_EVENTS];
  long total = 0, closed_early = 0;
  int measuring = 0, phase = 0;
  snap_t a, b;
  long m0 = 0;
  uint64_t b0 = 0;
  double t_warm = t0 + warm, t_end = t0 + warm + meas;
  for (;;) {
    double t = now_ms();
    if (phase == 0 && t >= t_warm) {
      take(&a);
      /* The window starts when it is sampled: a stall during warm-up must not shorten it. */
      t_end = a.t + meas;
      m0 = total;
      for (int i = 0; i < conns; i++) b0 += cs[i].bytes;
      measuring = 1;
      phase = 1;
    }
    if (phase == 1 && t >= t_end) break;
    int ne = epoll_wait(ep, evs, MAX_EVENTS, 50);
    for (int i = 0; i < ne; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c->state != S_OPEN) continue;
      if (evs[i].events & EPOLLOUT) {
        if (flush_out(c) < 0) {
          conn_fail(c);
          closed_early++;
          continue;
        }
      }
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        long m = read_conn(c);
        if (m < 0) {
          conn_fail(c);
          closed_early++;
          continue;
        }
        if (m == 0) continue;
        total += m;
        if (latency) {
          double n2 = now_ms();
          if (measuring && nsamples < capsamples) samples[nsamples++] = n2 - c->sent_at;
          c->sent_at = n2;
          if (send_frames(c, m) < 0) {
            conn_fail(c);
            closed_early++;
          }
        } else {
          c->pending += m;
          if (c->pending >= refill) {
            long k = c->pending;
            c->pending = 0;
            if (send_frames(c, k) < 0) {
              conn_fail(c);
              closed_early++;
            }
          }
        }
      }
    }
  }
  take(&b);
  uint64_t b1 = 0;
  for (int i = 0; i < conns; i++) b1 += cs[i].bytes;
  reset_all(cs, conns);
  print_window(&a, &b);
  printf(" msgs=%ld bytes=%llu closed_early=%ld", total - m0, (unsigned long long)(b1 - b0), closed_early);
  print_latency();
  printf("\n");
  return 0;
}

static int run_broadcast(int argc, char **argv) {
  int n = iarg(argc, argv, "clients", 1000);
  int win = iarg(argc, argv, "window", 16);
  int raw = iarg(argc, argv, "raw", 0);
  double warm = iarg(argc, argv, "warmup", 500), meas = iarg(argc, argv, "measure", 2000);
  if (!raw && nkeys == 0) die("broadcast needs keys= unless raw=1");
  load_batch(arg(argc, argv, "batch", ""));
  if (F < win) die("batch has fewer frames than window");
  /* cs[n] is the publisher. */
  conn_t *cs = calloc(n + 1, sizeof(conn_t));
  int opened = connect_all(cs, n, raw, 0, 256, now_ms() + 90000);
  if (opened < n) {
    printf("error=only %d/%d clients connected\n", opened, n);
    return 1;
  }
  if (connect_all(cs + n, 1, raw, 0, 1, now_ms() + 10000) != 1) die("publisher did not connect");
  conn_t *pub = &cs[n];
  /* Let the server finish registering the last clients (subscribe in open handlers, etc.). */
  double settle = now_ms() + 300;
  struct epoll_event evs[MAX_EVENTS];
  while (now_ms() < settle) epoll_wait(ep, evs, MAX_EVENTS, 50);
  long delivered = 0, sent = 0, credit = 0, stalls = 0, closed_early = 0;
  int refill = win >= 4 ? win / 4 : 1;
  double t0 = now_ms(), t_warm = t0 + warm, t_end = t0 + warm + meas;
  double last_progress = t0;
  long last_delivered = 0;
  int phase = 0;
  snap_t a, b;
  long d0 = 0, s0 = 0;
#define PUMP()                                                  \
  do {                                                          \
    long done = delivered / n + credit;                         \
    long k = win - (sent - done);                               \
    if (k >= refill) {                                          \
      if (send_frames(pub, k) < 0) die("publisher write failed"); \
      sent += k;                                                \
    }                                                           \
  } while (0)
  PUMP();
  for (;;) {
    double t = now_ms();
    if (phase == 0 && t >= t_warm) {
      take(&a);
      /* The window starts when it is sampled: a stall during warm-up must not shorten it. */
      t_end = a.t + meas;
      d0 = delivered;
      s0 = sent;
      phase = 1;
    }
    if (phase == 1 && t >= t_end) break;
    /* Stall breaker, as in generator.mjs: forgive what is outstanding after 500 ms of silence. */
    if (delivered != last_delivered) {
      last_delivered = delivered;
      last_progress = t;
    } else if (t - last_progress > 500) {
      credit += sent - (delivered / n + credit);
      stalls++;
      last_progress = t;
      PUMP();
    }
    int ne = epoll_wait(ep, evs, MAX_EVENTS, 50);
    for (int i = 0; i < ne; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c->state != S_OPEN) continue;
      if ((evs[i].events & EPOLLOUT) && flush_out(c) < 0) {
        conn_fail(c);
        closed_early++;
        continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        long m = read_conn(c);
        if (m < 0) {
          conn_fail(c);
          closed_early++;
          continue;
        }
        if (c != pub) delivered += m;
      }
    }
    PUMP();
  }
  take(&b);
  reset_all(cs, n + 1);
  print_window(&a, &b);
  printf(" msgs=%ld broadcasts=%ld stalls=%ld closed_early=%ld\n", delivered - d0, sent - s0, stalls,
         closed_early);
  return 0;
}

static const unsigned char CLOSE_FRAME[8] = {0x88, 0x82, 0x12, 0x34, 0x56, 0x78, 0x03 ^ 0x12, 0xe8 ^ 0x34};

static int run_handshake(int argc, char **argv) {
  int par = iarg(argc, argv, "concurrency", 32);
  double warm = iarg(argc, argv, "warmup", 500), meas = iarg(argc, argv, "measure", 2000);
  conn_t *slots = calloc(par, sizeof(conn_t));
  char req[512];
  long completed = 0, failed = 0;
  long fail_why[8] = {0};
  int kk = 0;
  struct epoll_event evs[MAX_EVENTS];
  int stopping = 0;
#define START(c)                               \
  do {                                         \
    memset((c), 0, sizeof *(c));               \
    (c)->key = kk++ % (nkeys ? nkeys : 1);                   \
    (c)->started = now_ms();                   \
    (c)->fd = open_socket();                   \
    if ((c)->fd < 0) {                         \
      (c)->state = S_FAILED;                   \
      failed++;                                \
      fail_why[0]++;                           \
    } else {                                   \
      (c)->state = S_CONNECTING;               \
      ep_add((c), 1);                          \
    }                                          \
  } while (0)
#define FINISH(c, ok, why)                      \
  do {                                          \
    close((c)->fd);                             \
    (c)->fd = -1;                               \
    if (ok) completed++;                        \
    else {                                      \
      failed++;                                 \
      fail_why[why]++;                          \
    }                                           \
    if (!stopping) START(c);                    \
    else (c)->state = S_DONE;                   \
  } while (0)
  for (int i = 0; i < par; i++) START(&slots[i]);
  double t0 = now_ms(), t_warm = t0 + warm, t_end = t0 + warm + meas, last_sweep = t0;
  int phase = 0;
  snap_t a, b;
  long c0 = 0, c1 = 0;
  for (;;) {
    double t = now_ms();
    if (phase == 0 && t >= t_warm) {
      take(&a);
      /* The window starts when it is sampled: a stall during warm-up must not shorten it. */
      t_end = a.t + meas;
      c0 = completed;
      phase = 1;
    }
    if (phase == 1 && t >= t_end) {
      take(&b);
      c1 = completed;
      stopping = 1;
      phase = 2;
    }
    if (phase == 2) {
      int active = 0;
      for (int i = 0; i < par; i++) active += slots[i].state != S_DONE && slots[i].state != S_FAILED;
      if (active == 0 || t > t_end + 5000) break;
    }
    if (t - last_sweep > 500) {
      /* One sweep bounds every handshake: anything older than 5 s is cut. */
      last_sweep = t;
      for (int i = 0; i < par; i++) {
        conn_t *c = &slots[i];
        if (c->fd >= 0 && t - c->started > 5000) FINISH(c, 0, 7);
        else if (c->state == S_FAILED && !stopping) START(c);
      }
    }
    int ne = epoll_wait(ep, evs, MAX_EVENTS, 50);
    for (int i = 0; i < ne; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c->fd < 0) continue;
      uint32_t e = evs[i].events;
      if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (e & (EPOLLERR | EPOLLHUP))) {
          FINISH(c, 0, 1);
          continue;
        }
        if (!(e & EPOLLOUT)) continue;
        int l = request(req, sizeof req, c->key, 0);
        if (send(c->fd, req, l, MSG_NOSIGNAL) != l) {
          FINISH(c, 0, 1);
          continue;
        }
        c->state = S_HANDSHAKE;
        c->head_len = 0;
        ep_set(c, 0);
        continue;
      }
      if (!(e & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      ssize_t r = recv(c->fd, rbuf, READ_SIZE, 0);
      if (r < 0 && errno == EAGAIN) continue;
      if (c->state == S_HANDSHAKE) {
        if (r <= 0) {
          FINISH(c, 0, 2);
          continue;
        }
        /* Response heads are small; keep them in rbuf's tail region per slot would be overkill: copy. */
        if (!c->head) c->head = malloc(HEAD_MAX + 1);
        size_t take2 = (size_t)r > (size_t)(HEAD_MAX - c->head_len) ? (size_t)(HEAD_MAX - c->head_len) : (size_t)r;
        memcpy(c->head + c->head_len, rbuf, take2);
        c->head_len += take2;
        c->head[c->head_len] = 0;
        char *hend = strstr(c->head, "\r\n\r\n");
        if (!hend) {
          if (c->head_len >= HEAD_MAX) {
            free(c->head);
            c->head = NULL;
            FINISH(c, 0, 3);
          }
          continue;
        }
        *hend = 0;
        int bad = check_head(c->head, c->key, 0);
        size_t rest = c->head_len - (hend + 4 - c->head);
        if (!bad && rest) count_frames(&c->ctr, (unsigned char *)hend + 4, rest);
        free(c->head);
        c->head = NULL;
        if (bad) {
          FINISH(c, 0, 3);
          continue;
        }
        if (send(c->fd, CLOSE_FRAME, sizeof CLOSE_FRAME, MSG_NOSIGNAL) != sizeof CLOSE_FRAME) {
          FINISH(c, 0, 4);
          continue;
        }
        c->state = S_CLOSING;
        continue;
      }
      /* S_CLOSING: wait for the server's close frame, then its FIN (read() == 0). */
      if (r > 0) {
        count_frames(&c->ctr, rbuf, r);
        continue;
      }
      if (r == 0 && c->ctr.closed) FINISH(c, 1, 0);
      else FINISH(c, 0, r == 0 ? 5 : 6);
    }
  }
  if (phase < 2) {
    take(&b);
    c1 = completed;
  }
  print_window(&a, &b);
  printf(" msgs=%ld failed=%ld f_socket=%ld f_connect=%ld f_closed_before_101=%ld f_bad_101=%ld f_write=%ld "
         "f_fin_before_close=%ld f_error=%ld f_timeout=%ld\n",
         c1 - c0, failed, fail_why[0], fail_why[1], fail_why[2], fail_why[3], fail_why[4], fail_why[5],
         fail_why[6], fail_why[7]);
  return 0;
}

/*
 * Closes every socket with RST (SO_LINGER 0) at the end of a job: no TIME_WAIT on our side, so
 * 10,000-connection runs back to back never run the ephemeral port range dry.
 */
static void reset_all(conn_t *cs, int n) {
  struct linger lg = {1, 0};
  for (int i = 0; i < n; i++) {
    if (cs[i].fd < 0) continue;
    setsockopt(cs[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(cs[i].fd);
    cs[i].fd = -1;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: loadgen echo|broadcast|handshake key=value...");
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* Die with the Node.js process that started us, however it ends (even SIGKILL). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1;
  port = iarg(argc, argv, "port", 0);
  server_pid = iarg(argc, argv, "spid", 0);
  if (port <= 0) die("port= required");
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, by construction */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const char *kf = arg(argc, argv, "keys", NULL);
  if (kf) load_keys(kf);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  /* A hard stop no matter what: warm-up + measure + generous setup time. */
  alarm((iarg(argc, argv, "warmup", 500) + iarg(argc, argv, "measure", 2000)) / 1000 + 150);
  if (strcmp(argv[1], "echo") == 0) return run_echo(argc, argv);
  if (strcmp(argv[1], "broadcast") == 0) return run_broadcast(argc, argv);
  if (strcmp(argv[1], "handshake") == 0) {
    if (nkeys == 0) die("handshake needs keys=");
    return run_handshake(argc, argv);
  }
  die("unknown mode");
  return 1;
}
