/* dist/tcp.c - the tcp world after the rendezvous: frames over the star, a progress
 * engine, the collectives, the float reducer, aborting and the hang-up watcher; contract
 * in dist/tcp.h.
 * defines: wsi_tcp_open/close/abort, wsi_tcp_barrier/allreduce_f64/bcast/gather/allgather,
 * wsi_tcp_reducer_*.
 *
 * The engine: every transfer is a request (a frame to send, or one expected) queued on a
 * connection; pump() polls all connections once and moves whatever bytes can move, on
 * non-blocking sockets, so rank 0 receives from all peers at once and a hang-up on any
 * connection is seen while waiting for another. Sends leave in the order posted; an
 * incoming frame goes to the posted receive with its class and sequence number (or waits,
 * unread, until that receive is posted), so frames that arrive early (a broadcast before
 * this rank reached it) are fine.
 *
 * Locking: one mutex over the engine. The calling thread holds it except while blocked in
 * poll(), so that wsi_tcp_abort from another thread (the watchdog's) can still send a
 * clean ABORT frame. `in_engine` tells the watcher that the calling thread is inside a
 * collective and will see any hang-up itself; outside, the watcher acts. */
#include "dist/tcp.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAGIC 0x43545357u /* "WSTC" */
#define ABORT_FLUSH_S 2.0       /* how long an abort tries to deliver its frames */
#define ABORT_LINGER_S 1.0      /* and then waits for the others to hang up */

enum { KIND_DATA = 1, KIND_ABORT = 2 };
enum { CLS_WORLD = 0, CLS_REDUCE = 1 };
enum {
    OP_BARRIER = 1, OP_SUM, OP_MAX, OP_MIN, OP_BCAST, OP_GATHER, OP_ALLGATHER, OP_REDUCE_F32, OP_BYE,
    OP_GATHER_BYTES, OP_COUNT
};
static const char *op_names[OP_COUNT] = {"?", "ws_world_barrier", "ws_world_allreduce_sum_f64",
                                         "ws_world_allreduce_max_f64", "ws_world_allreduce_min_f64",
                                         "ws_world_bcast_bytes", "ws_world_gather_f64", "ws_world_allgather_bytes",
                                         "a gradient reduction", "ws_world_close", "ws_world_gather_bytes"};

typedef struct {
    uint32_t magic;
    uint8_t kind, cls;
    uint16_t op;  /* ABORT: the rank that aborted */
    uint32_t seq;
    uint32_t aux; /* ABORT: the exit code */
    uint64_t len;
} frame_hdr;
_Static_assert(sizeof(frame_hdr) == 24, "frame header layout");

typedef struct req {
    struct req *next;
    frame_hdr h;       /* the frame to send, or the one expected */
    unsigned char *buf;
    size_t done;       /* send: header + payload bytes written; receive: payload bytes read */
    int complete, queued;
} req;

typedef struct {
    int fd, rank;
    req *out_head, *out_tail; /* sends, in order */
    req *posted;              /* receives, any order */
    frame_hdr in_hdr;         /* the incoming frame's header */
    size_t in_hdr_done;
    req *in_cur;              /* where the current frame's payload goes */
    int held;                 /* in_hdr is complete and waits for its receive */
    int ending;               /* hung up: frames nobody expects are skipped, not held */
    size_t discard;           /* payload bytes still to skip */
    int closed;
} conn;

struct wsi_tcp {
    int rank, size;
    double collective_timeout_s, close_timeout_s;
    conn *c;       /* [size]; rank 0: c[1..size-1]; a peer: c[0] only */
    int *live;     /* the ranks of the connections, for iteration */
    int n_live;
    uint32_t seq;  /* world collectives so far */
    uint32_t rseq; /* reducer operations so far */
    req *rq_in, *rq_out;   /* [size] for the collectives */
    req **rs;              /* [size] the requests a collective waits for */
    unsigned char *stage;  /* rank 0: the peers' contributions to a world collective */
    size_t stage_size;
    pthread_mutex_t mu;
    atomic_int in_engine, failed, aborting;
    char last_error[512];
    /* watcher */
    pthread_t watcher;
    int watcher_running, stop_pipe[2];
};

static ws_status set_error(wsi_tcp *t, ws_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static ws_status set_error(wsi_tcp *t, ws_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->last_error, sizeof t->last_error, fmt, ap);
    va_end(ap);
    atomic_store(&t->failed, 1);
    return wsi_error(err, WS_ELIBRARY, "%s", t->last_error);
}

static const char *op_name(unsigned op) { return op < OP_COUNT ? op_names[op] : "an unknown collective"; }

/* ------------------------------------------------------------------ requests */

static void post_send(wsi_tcp *t, req *r, int peer, int cls, int op, uint32_t seq, const void *buf, size_t len) {
    memset(r, 0, sizeof *r);
    r->h = (frame_hdr){FRAME_MAGIC, KIND_DATA, (uint8_t)cls, (uint16_t)op, seq, 0, len};
    r->buf = (unsigned char *)buf;
    r->queued = 1;
    conn *c = &t->c[peer];
    if (c->out_tail) c->out_tail->next = r;
    else c->out_head = r;
    c->out_tail = r;
}

static int same_frame(const frame_hdr *a, const frame_hdr *b) { return a->cls == b->cls && a->seq == b->seq; }

/* An incoming header meets its receive: checks op and length. */
static ws_status match(wsi_tcp *t, conn *c, req *r, ws_error *err) {
    if (c->in_hdr.op != r->h.op)
        return set_error(t, err, "rank %d is in %s (#%u) while rank %d is in %s: the ranks call collectives in "
                         "different orders", c->rank, op_name(c->in_hdr.op), (unsigned)c->in_hdr.seq, t->rank,
                         op_name(r->h.op));
    if (c->in_hdr.len != r->h.len)
        return set_error(t, err, "%s #%u: rank %d sent %llu bytes, rank %d expects %llu: the ranks pass different "
                         "counts", op_name(r->h.op), (unsigned)r->h.seq, c->rank, (unsigned long long)c->in_hdr.len,
                         t->rank, (unsigned long long)r->h.len);
    c->held = 0;
    c->in_cur = r;
    r->queued = 0;
    if (r->h.len == 0) {
        r->complete = 1;
        c->in_cur = NULL;
        c->in_hdr_done = 0;
    }
    return WS_OK;
}

static ws_status post_recv(wsi_tcp *t, req *r, int peer, int cls, int op, uint32_t seq, void *buf, size_t len,
                           ws_error *err) {
    memset(r, 0, sizeof *r);
    r->h = (frame_hdr){FRAME_MAGIC, KIND_DATA, (uint8_t)cls, (uint16_t)op, seq, 0, len};
    r->buf = buf;
    conn *c = &t->c[peer];
    if (c->held && same_frame(&c->in_hdr, &r->h)) return match(t, c, r, err);
    r->queued = 1;
    r->next = c->posted;
    c->posted = r;
    return WS_OK;
}

/* Takes r out of its connection's queues (a reducer closed mid-round). 1 if bytes of it
 * had moved, which leaves the stream unusable. */
static int unqueue(conn *c, req *r) {
    int torn = 0;
    for (req **p = &c->out_head, *prev = NULL; *p; prev = *p, p = &(*p)->next)
        if (*p == r) {
            torn = r->done > 0 && !r->complete;
            *p = r->next;
            if (c->out_tail == r) c->out_tail = prev;
            break;
        }
    for (req **p = &c->posted; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    if (c->in_cur == r) {
        c->in_cur = NULL;
        torn = 1;
    }
    r->queued = 0;
    return torn;
}

/* ------------------------------------------------------------------ moving bytes */

static ws_status conn_lost(wsi_tcp *t, conn *c, const char *call, const char *how, ws_error *err) {
    c->closed = 1;
    return set_error(t, err, "%s: connection to rank %d lost (%s): %s", call, c->rank, how,
                     c->rank == 0 ? "rank 0 died, or ended the job; its log says why"
                                  : "the process ended or died; its log says why");
}

/* One non-blocking sendmsg of what is left of r (header, then payload): bytes written, or
 * -1 with errno. */
static ssize_t send_some(int fd, req *r) {
    struct iovec iov[2];
    int n_iov = 0;
    size_t hdr = sizeof r->h, pdone = r->done > hdr ? r->done - hdr : 0;
    if (r->done < hdr) iov[n_iov++] = (struct iovec){(char *)&r->h + r->done, hdr - r->done};
    if (r->h.len > pdone) iov[n_iov++] = (struct iovec){r->buf + pdone, r->h.len - pdone};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n_iov;
    ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k > 0) r->done += (size_t)k;
    return k;
}

/* Blocks (polling) until r is sent or the deadline: 1 when sent. */
static int send_by(int fd, req *r, double deadline) {
    while (r->done < sizeof r->h + r->h.len && ws_now_s() < deadline) {
        struct pollfd pf = {fd, POLLOUT, 0};
        if (poll(&pf, 1, 100) <= 0) continue;
        if (send_some(fd, r) < 0 && errno != EAGAIN && errno != EINTR) return 0;
    }
    return r->done == sizeof r->h + r->h.len;
}

/* Reads and drops whatever comes on the open connections but `except` until each one
 * ends or `seconds` pass: the other sides hang up first, so that no reset can destroy
 * what we sent them before they read it. */
static void linger(wsi_tcp *t, int except, double seconds) {
    double until = ws_now_s() + seconds;
    static char junk[65536];
    for (int i = 0; i < t->n_live; i++) {
        conn *c = &t->c[t->live[i]];
        if (c->closed || c->rank == except) continue;
        while (ws_now_s() < until) {
            struct pollfd pf = {c->fd, POLLIN, 0};
            if (poll(&pf, 1, 50) <= 0) continue;
            ssize_t k = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) break;
        }
    }
}

static ws_status conn_write(wsi_tcp *t, conn *c, const char *call, ws_error *err) {
    while (c->out_head) {
        req *r = c->out_head;
        ssize_t k = send_some(c->fd, r);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return WS_OK;
            char how[160];
            snprintf(how, sizeof how, "writing: %s", strerror(errno));
            return conn_lost(t, c, call, how, err);
        }
        if (r->done == sizeof r->h + r->h.len) {
            r->complete = 1;
            r->queued = 0;
            c->out_head = r->next;
            if (!c->out_head) c->out_tail = NULL;
        }
    }
    return WS_OK;
}

static void handle_abort(wsi_tcp *t, conn *from, int code, int origin, const char *msg) __attribute__((noreturn));

/* Reads until the socket would block. A complete ABORT frame ends the process. */
static ws_status conn_read(wsi_tcp *t, conn *c, const char *call, ws_error *err) {
    static unsigned char junk[65536]; /* skipped payloads; their bytes are never looked at */
    for (;;) {
        if (c->held) return WS_OK; /* until its receive is posted */
        ssize_t k;
        if (c->discard)
            k = recv(c->fd, junk, c->discard < sizeof junk ? c->discard : sizeof junk, MSG_DONTWAIT);
        else if (c->in_cur)
            k = recv(c->fd, c->in_cur->buf + c->in_cur->done, c->in_cur->h.len - c->in_cur->done, MSG_DONTWAIT);
        else
            k = recv(c->fd, (char *)&c->in_hdr + c->in_hdr_done, sizeof c->in_hdr - c->in_hdr_done, MSG_DONTWAIT);
        if (k == 0) return conn_lost(t, c, call, "closed by the other side", err);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return WS_OK;
            char how[160];
            snprintf(how, sizeof how, "%s", strerror(errno));
            return conn_lost(t, c, call, how, err);
        }
        if (c->discard) {
            c->discard -= (size_t)k;
            if (!c->discard) c->in_hdr_done = 0;
            continue;
        }
        if (c->in_cur) {
            req *r = c->in_cur;
            r->done += (size_t)k;
            if (r->done == r->h.len) {
                r->complete = 1;
                c->in_cur = NULL;
                c->in_hdr_done = 0;
            }
            continue;
        }
        c->in_hdr_done += (size_t)k;
        if (c->in_hdr_done < sizeof c->in_hdr) continue;
        frame_hdr *h = &c->in_hdr;
        if (h->magic != FRAME_MAGIC)
            return set_error(t, err, "%s: rank %d sent bytes that are no wattscale frame (a bug)", call, c->rank);
        if (h->kind == KIND_ABORT) {
            /* the reason follows at once: read it with a short deadline */
            char msg[1024] = "";
            size_t n = h->len < sizeof msg - 1 ? (size_t)h->len : sizeof msg - 1, got = 0;
            double deadline = ws_now_s() + ABORT_FLUSH_S;
            while (got < n && ws_now_s() < deadline) {
                struct pollfd pf = {c->fd, POLLIN, 0};
                if (poll(&pf, 1, 100) <= 0) continue;
                ssize_t m = recv(c->fd, msg + got, n - got, MSG_DONTWAIT);
                if (m == 0 || (m < 0 && errno != EINTR && errno != EAGAIN)) break;
                if (m > 0) got += (size_t)m;
            }
            msg[got] = 0;
            handle_abort(t, c, (int)h->aux, (int)h->op, got ? msg : "(no reason given)");
        }
        if (h->kind != KIND_DATA)
            return set_error(t, err, "%s: rank %d sent a frame of unknown kind %u (a bug)", call, c->rank, h->kind);
        req **p = &c->posted;
        while (*p && !same_frame(&(*p)->h, h)) p = &(*p)->next;
        if (!*p) {
            if (!c->ending) {
                c->held = 1;
                return WS_OK;
            }
            c->discard = h->len;
            if (!c->discard) c->in_hdr_done = 0;
            continue;
        }
        req *r = *p;
        *p = r->next;
        ws_status st = match(t, c, r, err);
        if (st != WS_OK) return st;
    }
}

/* One poll over every open connection, for at most timeout_s (< 0: no limit); the lock is
 * released while blocked. A hang-up is read to its end first, since an ABORT frame may be
 * the last thing the other side sent. */
static ws_status pump(wsi_tcp *t, double timeout_s, const char *call, ws_error *err) {
    if (atomic_load(&t->failed)) /* the streams are out of step: nothing more can work */
        return wsi_error(err, WS_ELIBRARY, "%s: this world failed earlier: %s", call, t->last_error);
    struct pollfd pf[t->n_live > 0 ? t->n_live : 1];
    int idx[t->n_live > 0 ? t->n_live : 1], n = 0;
    for (int i = 0; i < t->n_live; i++) {
        conn *c = &t->c[t->live[i]];
        if (c->closed) continue;
        short ev = POLLRDHUP;
        if (c->out_head) ev |= POLLOUT;
        if (!c->held) ev |= POLLIN;
        pf[n] = (struct pollfd){c->fd, ev, 0};
        idx[n++] = t->live[i];
    }
    if (n == 0) return set_error(t, err, "%s: every connection is closed", call);
    int ms = timeout_s < 0 ? -1 : timeout_s > 1e6 ? 1000000000 : (int)ceil(timeout_s * 1000);
    pthread_mutex_unlock(&t->mu);
    int k = poll(pf, (nfds_t)n, ms);
    int poll_errno = errno;
    pthread_mutex_lock(&t->mu);
    if (k < 0 && poll_errno != EINTR) return set_error(t, err, "%s: poll: %s", call, strerror(poll_errno));
    if (k <= 0) return WS_OK;
    for (int i = 0; i < n; i++) {
        conn *c = &t->c[idx[i]];
        short re = pf[i].revents;
        if (!re || c->closed) continue;
        ws_status st = WS_OK;
        if (re & (POLLRDHUP | POLLHUP | POLLERR)) {
            /* the connection is ending: what it still holds is read (into its receive,
             * or skipped) up to the end, where the error names the rank */
            c->ending = 1;
            if (c->held) {
                c->held = 0;
                c->discard = c->in_hdr.len;
                if (!c->discard) c->in_hdr_done = 0;
            }
            for (;;) {
                if ((st = conn_read(t, c, call, err)) != WS_OK) return st;
                struct pollfd one = {c->fd, POLLIN, 0};
                if (poll(&one, 1, 1000) <= 0) return conn_lost(t, c, call, "it hung up", err);
            }
        }
        if (re & POLLOUT) st = conn_write(t, c, call, err);
        if (st == WS_OK && (re & POLLIN)) st = conn_read(t, c, call, err);
        if (st != WS_OK) return st;
    }
    return WS_OK;
}

static int all_complete(req *const *rs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (rs[i] && !rs[i]->complete) return 0;
    return 1;
}

/* Pumps until every request in rs (NULLs skipped) is complete, or the collective timeout. */
static ws_status wait_reqs(wsi_tcp *t, req *const *rs, size_t n, const char *call, ws_error *err) {
    double deadline = t->collective_timeout_s > 0 ? ws_now_s() + t->collective_timeout_s : 0;
    while (!all_complete(rs, n)) {
        double left = -1;
        if (deadline > 0 && (left = deadline - ws_now_s()) <= 0) {
            char who[160] = "";
            size_t len = 0;
            for (size_t i = 0; i < n && len + 12 < sizeof who; i++)
                if (rs[i] && !rs[i]->complete) {
                    int r = -1;
                    for (int j = 0; j < t->n_live && r < 0; j++) {
                        conn *c = &t->c[t->live[j]];
                        for (req *q = c->out_head; q && r < 0; q = q->next) r = q == rs[i] ? c->rank : -1;
                        for (req *q = c->posted; q && r < 0; q = q->next) r = q == rs[i] ? c->rank : -1;
                        if (c->in_cur == rs[i]) r = c->rank;
                    }
                    len += (size_t)snprintf(who + len, sizeof who - len, "%s%d", len ? ", " : "", r);
                }
            return set_error(t, err, "%s: no progress with rank(s) %s for %.0f s (WATTSCALE_COLLECTIVE_TIMEOUT)", call,
                             who, t->collective_timeout_s);
        }
        ws_status st = pump(t, left, call, err);
        if (st != WS_OK) return st;
    }
    return WS_OK;
}

/* ------------------------------------------------------------------ aborting */

/* Sends an ABORT frame on every open connection but `except`, after the frame each one is
 * in the middle of (so the other side can parse it), within ABORT_FLUSH_S; then half-closes
 * and waits up to ABORT_LINGER_S for the other sides to hang up (an early close could
 * reset the connection before they read it). Called with the lock held, or without it as a
 * last resort. */
static void send_aborts(wsi_tcp *t, int code, int origin, const char *why, int except) {
    req ab;
    memset(&ab, 0, sizeof ab);
    ab.h = (frame_hdr){FRAME_MAGIC, KIND_ABORT, CLS_WORLD, (uint16_t)origin, 0, (uint32_t)code, strlen(why)};
    if (ab.h.len > 1023) ab.h.len = 1023;
    ab.buf = (unsigned char *)why;
    double deadline = ws_now_s() + ABORT_FLUSH_S;
    for (int i = 0; i < t->n_live; i++) {
        conn *c = &t->c[t->live[i]];
        if (c->closed || c->rank == except) continue;
        /* finish a frame already begun (nothing else of the queue), then the ABORT; one
         * that cannot be finished leaves the hang-up to say it */
        req *head = c->out_head && c->out_head->done > 0 ? c->out_head : NULL;
        ab.done = 0;
        if (!head || send_by(c->fd, head, deadline)) send_by(c->fd, &ab, deadline);
    }
    for (int i = 0; i < t->n_live; i++)
        if (!t->c[t->live[i]].closed) shutdown(t->c[t->live[i]].fd, SHUT_WR);
    linger(t, except, ABORT_LINGER_S);
}

static void end_process(int code) __attribute__((noreturn));
static void end_process(int code) {
    fflush(NULL);
    _exit(code);
}

/* An ABORT frame arrived on `from`: rank 0 passes it on, then every rank ends with its code. */
static void handle_abort(wsi_tcp *t, conn *from, int code, int origin, const char *msg) {
    atomic_store(&t->aborting, 1);
    ws_log(WS_LOG_ERROR, "rank %d ended the job (exit code %d): %s", origin, code, msg);
    if (t->rank == 0) send_aborts(t, code, origin, msg, from->rank);
    end_process(code);
}

void wsi_tcp_abort(wsi_tcp *t, int code, const char *why) {
    if (atomic_exchange(&t->aborting, 1)) {
        /* another thread is already aborting: let it finish, then end */
        ws_sleep_s(ABORT_FLUSH_S + ABORT_LINGER_S + 0.5);
        end_process(code);
    }
    char reason[700];
    snprintf(reason, sizeof reason, "rank %d: %s", t->rank,
             why ? why : t->last_error[0] ? t->last_error : "ws_world_abort (its log says why)");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    int locked = pthread_mutex_timedlock(&t->mu, &ts) == 0;
    if (locked) {
        send_aborts(t, code, t->rank, reason, -1);
    } else {
        /* the lock holder is stuck inside the engine: no clean frame is possible, so hang
         * up; the others name this rank when they see it */
        for (int i = 0; i < t->n_live; i++) shutdown(t->c[t->live[i]].fd, SHUT_RDWR);
    }
    end_process(code);
}

/* ------------------------------------------------------------------ the watcher */

/* Outside collectives nobody reads the sockets; this thread notices a hang-up (a peer that
 * died or aborted while this rank computes) and ends the process, rank 0 telling the rest. */
static void *watcher_main(void *arg) {
    wsi_tcp *t = arg;
    for (;;) {
        struct pollfd pf[t->n_live + 1];
        int n = 0;
        pf[n++] = (struct pollfd){t->stop_pipe[0], POLLIN, 0};
        pthread_mutex_lock(&t->mu);
        if (!atomic_load(&t->failed))
            for (int i = 0; i < t->n_live; i++)
                if (!t->c[t->live[i]].closed) pf[n++] = (struct pollfd){t->c[t->live[i]].fd, POLLRDHUP, 0};
        pthread_mutex_unlock(&t->mu);
        if (poll(pf, (nfds_t)n, -1) < 0 && errno != EINTR) return NULL;
        if (pf[0].revents) return NULL;
        int hung = 0;
        for (int i = 1; i < n; i++) hung |= pf[i].revents != 0;
        if (!hung) continue;
        pthread_mutex_lock(&t->mu);
        if (atomic_load(&t->in_engine) || atomic_load(&t->failed) || atomic_load(&t->aborting)) {
            /* the calling thread is in a collective and sees it itself, or already has */
            pthread_mutex_unlock(&t->mu);
            ws_sleep_s(0.05);
            continue;
        }
        ws_error err = {0};
        ws_status st = WS_OK;
        while (st == WS_OK) st = pump(t, 1.0, "outside any collective", &err);
        atomic_store(&t->aborting, 1);
        ws_log(WS_LOG_ERROR, "%s; ending the job", err.msg);
        if (t->rank == 0) send_aborts(t, 1, 0, err.msg, -1);
        end_process(1);
    }
}

/* ------------------------------------------------------------------ open, close */

static void tcp_free(wsi_tcp *t) {
    for (int i = 0; i < t->n_live; i++) close(t->c[t->live[i]].fd);
    if (t->stop_pipe[0] >= 0) close(t->stop_pipe[0]);
    if (t->stop_pipe[1] >= 0) close(t->stop_pipe[1]);
    pthread_mutex_destroy(&t->mu);
    free(t->c);
    free(t->live);
    free(t->rq_in);
    free(t->rq_out);
    free(t->rs);
    free(t->stage);
    free(t);
}

ws_status wsi_tcp_open(wsi_tcp **out, const wsi_tcp_conf *cf, wsi_tcp_place *place, ws_error *err) {
    *out = NULL;
    wsi_tcp *t = calloc(1, sizeof *t);
    int *fds = calloc((size_t)cf->size, sizeof *fds);
    if (t) {
        t->c = calloc((size_t)cf->size, sizeof *t->c);
        t->live = calloc((size_t)cf->size, sizeof *t->live);
        t->rq_in = calloc((size_t)cf->size, sizeof *t->rq_in);
        t->rq_out = calloc((size_t)cf->size, sizeof *t->rq_out);
        t->rs = calloc((size_t)cf->size, sizeof *t->rs);
        t->stop_pipe[0] = t->stop_pipe[1] = -1;
        pthread_mutex_init(&t->mu, NULL);
    }
    if (!t || !fds || !t->c || !t->live || !t->rq_in || !t->rq_out || !t->rs) {
        if (t) tcp_free(t);
        free(fds);
        return wsi_error(err, WS_ENOMEM, "tcp world: out of memory");
    }
    t->rank = cf->rank;
    t->size = cf->size;
    t->collective_timeout_s = cf->collective_timeout_s;
    t->close_timeout_s = cf->rendezvous_timeout_s > 60 ? cf->rendezvous_timeout_s : 60;
    ws_status st = wsi_tcp_rendezvous(cf, fds, place, err);
    if (st != WS_OK) {
        tcp_free(t);
        free(fds);
        return st;
    }
    for (int r = 0; r < cf->size; r++) {
        t->c[r].fd = -1;
        t->c[r].rank = r;
        if (fds[r] < 0) continue;
        wsi_tcp_socket_options(fds[r]);
        fcntl(fds[r], F_SETFL, fcntl(fds[r], F_GETFL) | O_NONBLOCK);
        t->c[r].fd = fds[r];
        t->live[t->n_live++] = r;
    }
    free(fds);
    int rc = pipe2(t->stop_pipe, O_CLOEXEC) != 0 ? errno : pthread_create(&t->watcher, NULL, watcher_main, t);
    if (rc != 0) {
        tcp_free(t);
        return wsi_error(err, WS_ELIBRARY, "tcp world: cannot start the hang-up watcher: %s", strerror(rc));
    }
    t->watcher_running = 1;
    *out = t;
    return WS_OK;
}

/* Enters the engine: the lock, and the mark that keeps the watcher out. */
static void enter(wsi_tcp *t) {
    pthread_mutex_lock(&t->mu);
    atomic_store(&t->in_engine, 1);
}

static void leave(wsi_tcp *t) {
    atomic_store(&t->in_engine, 0);
    pthread_mutex_unlock(&t->mu);
}

/* ------------------------------------------------------------------ collectives */

/* Rank 0's staging: `per` bytes for each of `ranks` ranks. */
static ws_status stage(wsi_tcp *t, size_t per, size_t ranks, ws_error *err) {
    size_t need = per * ranks;
    if (per && need / per != ranks) return wsi_error(err, WS_EINVAL, "tcp world: %zu bytes per rank overflow", per);
    if (need <= t->stage_size) return WS_OK;
    unsigned char *p = realloc(t->stage, need);
    if (!p) return wsi_error(err, WS_ENOMEM, "tcp world: out of memory for %zu bytes of staging", need);
    t->stage = p;
    t->stage_size = need;
    return WS_OK;
}

/* Rank 0 receives `len` bytes from every peer (peer r into dst(r)), then sends `len_out`
 * bytes of src to every peer but `skip`; either phase may be empty. A peer does the
 * mirror image: sends its `len` bytes, receives `len_out` (recv_out NULL: none). */
static ws_status star(wsi_tcp *t, int op, uint32_t seq, unsigned char *(*dst)(void *, int), void *ctx, size_t len,
                      int want_in, const void *src, size_t len_out, int want_out, int skip, const char *call,
                      ws_error *err) {
    ws_status st = WS_OK;
    req **rs = t->rs;
    int n = 0;
    if (want_in) {
        for (int r = 1; r < t->size && st == WS_OK; r++) {
            st = post_recv(t, &t->rq_in[r], r, CLS_WORLD, op, seq, dst(ctx, r), len, err);
            rs[n++] = &t->rq_in[r];
        }
        if (st == WS_OK) st = wait_reqs(t, rs, (size_t)n, call, err);
    }
    n = 0;
    if (st == WS_OK && want_out) {
        for (int r = 1; r < t->size; r++) {
            if (r == skip) continue;
            post_send(t, &t->rq_out[r], r, CLS_WORLD, op, seq, src, len_out);
            rs[n++] = &t->rq_out[r];
        }
        st = wait_reqs(t, rs, (size_t)n, call, err);
    }
    return st;
}

/* A peer's half: send `out` (if any), then receive into `in` (if any). */
static ws_status peer_xfer(wsi_tcp *t, int op, uint32_t seq, const void *out, size_t out_len, int send, void *in,
                           size_t in_len, int recv_, const char *call, ws_error *err) {
    req *rs[2] = {NULL, NULL};
    if (send) {
        post_send(t, &t->rq_out[0], 0, CLS_WORLD, op, seq, out, out_len);
        rs[0] = &t->rq_out[0];
    }
    if (recv_) {
        ws_status st = post_recv(t, &t->rq_in[0], 0, CLS_WORLD, op, seq, in, in_len, err);
        if (st != WS_OK) return st;
        rs[1] = &t->rq_in[0];
    }
    return wait_reqs(t, rs, 2, call, err);
}

typedef struct {
    unsigned char *base;
    size_t stride;
    int offset; /* slot of rank r: base + (r - offset) * stride */
} slots;

static unsigned char *slot_of(void *ctx, int r) {
    slots *s = ctx;
    if (!s->base) return NULL;
    return s->base + (size_t)(r - s->offset) * s->stride;
}

ws_status wsi_tcp_barrier(wsi_tcp *t, ws_error *err) {
    enter(t);
    uint32_t seq = t->seq++;
    ws_status st;
    slots none = {NULL, 0, 0};
    if (t->rank == 0)
        st = star(t, OP_BARRIER, seq, slot_of, &none, 0, 1, NULL, 0, 1, -1, "ws_world_barrier", err);
    else
        st = peer_xfer(t, OP_BARRIER, seq, NULL, 0, 1, NULL, 0, 1, "ws_world_barrier", err);
    leave(t);
    return st;
}

ws_status wsi_tcp_allreduce_f64(wsi_tcp *t, double *buf, size_t n, int op, const char *call, ws_error *err) {
    int fop = op == WSI_TCP_MAX ? OP_MAX : op == WSI_TCP_MIN ? OP_MIN : OP_SUM;
    size_t bytes = n * sizeof *buf;
    enter(t);
    uint32_t seq = t->seq++;
    ws_status st;
    if (t->rank != 0) {
        /* receiving into the buffer being sent is safe: rank 0 answers only after it has
         * all of this rank's bytes */
        st = peer_xfer(t, fop, seq, buf, bytes, 1, buf, bytes, 1, call, err);
    } else if ((st = stage(t, bytes, (size_t)(t->size - 1), err)) == WS_OK) {
        slots s = {t->stage, bytes, 1};
        st = star(t, fop, seq, slot_of, &s, bytes, 1, NULL, 0, 0, -1, call, err);
        /* in rank order, so every run sums alike; NaN wins max and min */
        for (int r = 1; r < t->size && st == WS_OK; r++) {
            const double *o = (const double *)slot_of(&s, r);
            for (size_t i = 0; i < n; i++) {
                double a = buf[i], b = o[i];
                buf[i] = fop == OP_SUM ? a + b
                         : fop == OP_MAX ? (b > a || isnan(b) ? b : a)
                                         : (b < a || isnan(b) ? b : a);
            }
        }
        if (st == WS_OK) st = star(t, fop, seq, slot_of, &s, 0, 0, buf, bytes, 1, -1, call, err);
    }
    leave(t);
    return st;
}

ws_status wsi_tcp_bcast(wsi_tcp *t, void *buf, size_t n, int root, ws_error *err) {
    const char *call = "ws_world_bcast_bytes";
    enter(t);
    uint32_t seq = t->seq++;
    ws_status st;
    if (t->rank == 0) {
        st = WS_OK;
        if (root != 0) {
            req *rs[1] = {&t->rq_in[root]};
            st = post_recv(t, &t->rq_in[root], root, CLS_WORLD, OP_BCAST, seq, buf, n, err);
            if (st == WS_OK) st = wait_reqs(t, rs, 1, call, err);
        }
        if (st == WS_OK) st = star(t, OP_BCAST, seq, NULL, NULL, 0, 0, buf, n, 1, root, call, err);
    } else if (t->rank == root) {
        st = peer_xfer(t, OP_BCAST, seq, buf, n, 1, NULL, 0, 0, call, err);
    } else {
        st = peer_xfer(t, OP_BCAST, seq, NULL, 0, 0, buf, n, 1, call, err);
    }
    leave(t);
    return st;
}

/* Rank 0 assembles size x len bytes (into out on root 0, else staging) and, for a gather
 * to another root or an allgather, sends them on. */
static ws_status gather_common(wsi_tcp *t, int op, const void *in, size_t len, void *out, int root, const char *call,
                               ws_error *err) {
    size_t all = len * (size_t)t->size;
    if (len && all / len != (size_t)t->size) return wsi_error(err, WS_EINVAL, "%s: %zu bytes per rank overflow", call, len);
    enter(t);
    uint32_t seq = t->seq++;
    ws_status st = WS_OK;
    int every = op == OP_ALLGATHER;
    if (t->rank == 0) {
        unsigned char *dst = out;
        if (!every && root != 0) {
            /* staging holds (size-1) x len: here size x len are needed */
            if ((st = stage(t, len, (size_t)t->size, err)) == WS_OK) dst = t->stage;
        }
        if (st == WS_OK) {
            if (len) memmove(dst, in, len);
            slots s = {dst, len, 0};
            st = star(t, op, seq, slot_of, &s, len, 1, NULL, 0, 0, -1, call, err);
        }
        if (st == WS_OK && every) st = star(t, op, seq, NULL, NULL, 0, 0, dst, all, 1, -1, call, err);
        if (st == WS_OK && !every && root != 0) {
            req *rs[1] = {&t->rq_out[root]};
            post_send(t, &t->rq_out[root], root, CLS_WORLD, op, seq, dst, all);
            st = wait_reqs(t, rs, 1, call, err);
        }
    } else {
        int gets = every || t->rank == root;
        st = peer_xfer(t, op, seq, in, len, 1, out, all, gets, call, err);
    }
    leave(t);
    return st;
}

ws_status wsi_tcp_gather(wsi_tcp *t, const void *in, size_t len, void *out, int root, int kind, ws_error *err) {
    int op = kind == WSI_TCP_GATHER_BYTES ? OP_GATHER_BYTES : OP_GATHER;
    return gather_common(t, op, in, len, out, root, op_names[op], err);
}

ws_status wsi_tcp_allgather(wsi_tcp *t, const void *in, size_t len, void *out, ws_error *err) {
    return gather_common(t, OP_ALLGATHER, in, len, out, 0, "ws_world_allgather_bytes", err);
}

void wsi_tcp_close(wsi_tcp *t) {
    if (!t) return;
    if (t->watcher_running) {
        char b = 1;
        if (write(t->stop_pipe[1], &b, 1) != 1) ws_log(WS_LOG_WARN, "tcp world: cannot stop the watcher");
        pthread_join(t->watcher, NULL);
    }
    enter(t);
    if (!atomic_load(&t->failed)) {
        /* goodbye: nobody closes before everybody has arrived, so no rank mistakes a
         * finished peer for a dead one */
        double saved = t->collective_timeout_s;
        t->collective_timeout_s = t->close_timeout_s;
        uint32_t seq = t->seq++;
        ws_error err = {0};
        ws_status st;
        slots none = {NULL, 0, 0};
        if (t->rank == 0)
            st = star(t, OP_BYE, seq, slot_of, &none, 0, 1, NULL, 0, 1, -1, "ws_world_close", &err);
        else
            st = peer_xfer(t, OP_BYE, seq, NULL, 0, 1, NULL, 0, 1, "ws_world_close", &err);
        t->collective_timeout_s = saved;
        if (st != WS_OK) ws_log(WS_LOG_WARN, "tcp world: closing: %s", err.msg);
        /* rank 0 closes last: a peer still reading its goodbye must not see the hang-up
         * as a failure */
        if (st == WS_OK && t->rank == 0) linger(t, -1, ABORT_LINGER_S);
    }
    leave(t);
    tcp_free(t);
}

/* ------------------------------------------------------------------ the reducer */

typedef struct {
    float *buf;
    size_t n;
    float *stage;   /* rank 0: (size-1) x n, peer r's copy at stage + (r-1) n */
    uint32_t seq;
    req *in, *out;  /* rank 0: [size] each, slot 0 unused; a peer: one each */
    int reduced;    /* rank 0: the sum is in buf and its sends are posted */
} rop;

struct wsi_tcp_reducer {
    wsi_tcp *t;
    size_t max_ops, max_floats;
    rop *ops;
    req *reqs;      /* 2 x size per op */
    float *stage;
    size_t started, reduced, stage_used;
};

ws_status wsi_tcp_reducer_open(wsi_tcp_reducer **out, wsi_tcp *t, size_t max_ops, size_t max_floats, ws_error *err) {
    *out = NULL;
    wsi_tcp_reducer *r = calloc(1, sizeof *r);
    size_t per = 2 * (size_t)t->size;
    if (r) {
        r->t = t;
        r->max_ops = max_ops;
        r->max_floats = max_floats;
        r->ops = calloc(max_ops ? max_ops : 1, sizeof *r->ops);
        r->reqs = calloc((max_ops ? max_ops : 1) * per, sizeof *r->reqs);
        if (t->rank == 0 && max_floats) r->stage = malloc(max_floats * (size_t)(t->size - 1) * sizeof *r->stage);
    }
    if (!r || !r->ops || !r->reqs || (t->rank == 0 && max_floats && !r->stage)) {
        wsi_tcp_reducer_close(r);
        return wsi_error(err, WS_ENOMEM, "tcp gradient reduction: out of memory for %zu floats of staging on rank 0",
                         max_floats * (size_t)(t->size - 1));
    }
    for (size_t i = 0; i < max_ops; i++) {
        r->ops[i].in = r->reqs + i * per;
        r->ops[i].out = r->reqs + i * per + t->size;
    }
    *out = r;
    return WS_OK;
}

/* Rank 0: sums, in start order, every operation whose copies have all come, and sends the
 * result back. */
static void reducer_advance(wsi_tcp_reducer *r) {
    wsi_tcp *t = r->t;
    if (t->rank != 0) return;
    for (; r->reduced < r->started; r->reduced++) {
        rop *o = &r->ops[r->reduced];
        for (int p = 1; p < t->size; p++)
            if (!o->in[p].complete) return;
        for (int p = 1; p < t->size; p++) {
            const float *c = o->stage + (size_t)(p - 1) * o->n;
            for (size_t i = 0; i < o->n; i++) o->buf[i] += c[i];
        }
        for (int p = 1; p < t->size; p++)
            post_send(t, &o->out[p], p, CLS_REDUCE, OP_REDUCE_F32, o->seq, o->buf, o->n * sizeof *o->buf);
        o->reduced = 1;
    }
}

ws_status wsi_tcp_reducer_start(wsi_tcp_reducer *r, float *buf, size_t n, ws_error *err) {
    wsi_tcp *t = r->t;
    if (r->started >= r->max_ops || n > r->max_floats - r->stage_used)
        return wsi_error(err, WS_ESTATE, "tcp gradient reduction: more than the %zu buffers / %zu floats planned",
                         r->max_ops, r->max_floats);
    enter(t);
    rop *o = &r->ops[r->started++];
    o->buf = buf;
    o->n = n;
    o->reduced = 0;
    uint32_t seq = o->seq = t->rseq++;
    size_t bytes = n * sizeof *buf;
    ws_status st = WS_OK;
    if (t->rank == 0) {
        o->stage = r->stage + r->stage_used * (size_t)(t->size - 1);
        r->stage_used += n;
        for (int p = 1; p < t->size && st == WS_OK; p++)
            st = post_recv(t, &o->in[p], p, CLS_REDUCE, OP_REDUCE_F32, seq, o->stage + (size_t)(p - 1) * n, bytes, err);
        if (st == WS_OK) reducer_advance(r);
    } else {
        post_send(t, &o->out[0], 0, CLS_REDUCE, OP_REDUCE_F32, seq, buf, bytes);
        st = post_recv(t, &o->in[0], 0, CLS_REDUCE, OP_REDUCE_F32, seq, buf, bytes, err);
    }
    if (st == WS_OK) st = pump(t, 0, op_names[OP_REDUCE_F32], err);
    leave(t);
    return st;
}

ws_status wsi_tcp_reducer_progress(wsi_tcp_reducer *r, ws_error *err) {
    enter(r->t);
    ws_status st = pump(r->t, 0, op_names[OP_REDUCE_F32], err);
    if (st == WS_OK) reducer_advance(r);
    leave(r->t);
    return st;
}

static int reducer_done(const wsi_tcp_reducer *r) {
    const wsi_tcp *t = r->t;
    for (size_t i = 0; i < r->started; i++) {
        const rop *o = &r->ops[i];
        if (t->rank != 0 && !(o->in[0].complete && o->out[0].complete)) return 0;
        if (t->rank == 0) {
            if (!o->reduced) return 0;
            for (int p = 1; p < t->size; p++)
                if (!o->out[p].complete) return 0;
        }
    }
    return 1;
}

ws_status wsi_tcp_reducer_wait(wsi_tcp_reducer *r, ws_error *err) {
    wsi_tcp *t = r->t;
    enter(t);
    ws_status st = WS_OK;
    double deadline = t->collective_timeout_s > 0 ? ws_now_s() + t->collective_timeout_s : 0;
    for (;;) {
        reducer_advance(r);
        if (reducer_done(r)) break;
        double left = -1;
        if (deadline > 0 && (left = deadline - ws_now_s()) <= 0) {
            st = set_error(t, err, "a gradient reduction: no progress for %.0f s (WATTSCALE_COLLECTIVE_TIMEOUT)",
                           t->collective_timeout_s);
            break;
        }
        if ((st = pump(t, left, op_names[OP_REDUCE_F32], err)) != WS_OK) break;
    }
    if (st == WS_OK) r->started = r->reduced = r->stage_used = 0;
    leave(t);
    return st;
}

void wsi_tcp_reducer_close(wsi_tcp_reducer *r) {
    if (!r) return;
    if (r->ops && r->reqs && r->started) {
        wsi_tcp *t = r->t;
        enter(t);
        int torn = 0;
        size_t per = 2 * (size_t)t->size;
        for (size_t i = 0; i < r->started * per; i++)
            if (r->reqs[i].queued)
                for (int j = 0; j < t->n_live; j++) torn |= unqueue(&t->c[t->live[j]], &r->reqs[i]);
        if (torn) set_error(t, NULL, "a gradient reduction was abandoned with bytes in flight");
        leave(t);
    }
    free(r->ops);
    free(r->reqs);
    free(r->stage);
    free(r);
}
