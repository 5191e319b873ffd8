/* dist/tcp_rendezvous.c - joining a tcp world: the rendezvous address, rank 0's listening
 * socket, the peers' connections and the handshake that checks the world and places each
 * rank on its node; contract in dist/tcp.h (wsi_tcp_rendezvous).
 * defines: wsi_tcp_rendezvous, wsi_tcp_socket_options.
 *
 * tcp://HOST:PORT: rank 0 listens on PORT (on HOST's address when that is a loopback one,
 * else on every interface), the peers connect to HOST:PORT, retrying until rank 0 is up.
 * file:///PATH: rank 0 listens on a free port and writes "wattscale-rendezvous/1 ADDR PORT
 * TOKEN" into PATH (a temporary file renamed over it: readers never see half a line); the
 * peers poll PATH. TOKEN, random per run, makes a stale file from an earlier run harmless:
 * its rank 0 is gone (connection refused) or, if another job reuses the file, that job's
 * rank 0 answers "stale" and the peer reads the file again. Rank 0 removes the file once
 * everyone has joined.
 *
 * The handshake: each peer sends a hello (rank, size, node id, given local rank/size,
 * token); when all have come, rank 0 numbers the nodes by their lowest rank, computes local
 * ranks (or checks the given ones) and answers each peer with its place, or everyone with
 * the same error (a duplicate rank, another world size, ranks that never came). */
#include "dist/tcp.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define HELLO_MAGIC 0x4f4c4548u   /* "HELO" */
#define WELCOME_MAGIC 0x434c4557u /* "WELC" */
#define PROTOCOL_VERSION 1u
#define HANDSHAKE_S 10.0          /* a connection that does not say hello in time is dropped */
#define RETRY_S 0.2
#define LOG_EVERY_S 10.0

enum { WELCOME_OK = 0, WELCOME_ERROR = 1, WELCOME_STALE = 2 };

typedef struct {
    uint32_t magic, version;
    int32_t rank, size, local_rank, local_size;
    uint64_t token;
    char node[256], host[256];
} hello_msg;

typedef struct {
    uint32_t magic;
    int32_t status, node, nodes, local_rank, local_size;
    char msg[512];
} welcome_msg;

typedef struct {
    int is_file;
    char host[256], port[16]; /* tcp:// */
    char path[1024];          /* file:// */
} rdzv_addr;

/* ------------------------------------------------------------------ sockets */

void wsi_tcp_socket_options(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* small frames go out at once */
    /* A peer host that disappears without FIN or RST: probes after 10 s idle, every 5 s,
     * 3 unanswered end the connection (~25 s); unacknowledged data fails after 30 s. */
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    int idle = 10, intvl = 5, cnt = 3;
    unsigned user_ms = 30000;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof user_ms);
}

static int poll_ms(double deadline) {
    double left = deadline - ws_now_s();
    if (left <= 0) return 0;
    return left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
}

/* All len bytes, or -1 (errno set; ETIMEDOUT at the deadline, EPIPE at end of stream). */
static int io_all(int fd, void *buf, size_t len, double deadline, int writing) {
    char *p = buf;
    while (len > 0) {
        struct pollfd pf = {fd, (short)(writing ? POLLOUT : POLLIN), 0};
        int n = poll(&pf, 1, poll_ms(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        ssize_t k = writing ? send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, p, len, MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (k < 0) return -1;
        if (k == 0) {
            errno = EPIPE;
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static const char *io_words(int e) {
    return e == EPIPE ? "the other side closed the connection" : e == ETIMEDOUT ? "timed out" : strerror(e);
}

/* ------------------------------------------------------------------ addresses */

static ws_status parse_addr(const char *spec, rdzv_addr *a, ws_error *err) {
    memset(a, 0, sizeof *a);
    if (!strncmp(spec, "file://", 7)) {
        const char *path = spec + 7;
        if (path[0] != '/' || !path[1])
            return wsi_error(err, WS_EINVAL, "rendezvous %s: a file rendezvous is file:///ABSOLUTE/PATH (three slashes)",
                             spec);
        if (strlen(path) >= sizeof a->path - 16)
            return wsi_error(err, WS_EINVAL, "rendezvous %s: path too long", spec);
        a->is_file = 1;
        snprintf(a->path, sizeof a->path, "%s", path);
        return WS_OK;
    }
    if (strncmp(spec, "tcp://", 6))
        return wsi_error(err, WS_EINVAL, "rendezvous %s: give tcp://HOST:PORT (rank 0 listens there) or file:///PATH "
                         "(on a file system every rank sees)", spec);
    const char *h = spec + 6, *colon;
    size_t hl;
    if (h[0] == '[') { /* [IPv6]:PORT */
        const char *close = strchr(h, ']');
        if (!close || close[1] != ':') return wsi_error(err, WS_EINVAL, "rendezvous %s: want tcp://[ADDR]:PORT", spec);
        h++;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon) return wsi_error(err, WS_EINVAL, "rendezvous %s: no port (tcp://HOST:PORT)", spec);
        hl = (size_t)(colon - h);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (hl == 0 || hl >= sizeof a->host || !colon[1] || *end || port < 1 || port > 65535)
        return wsi_error(err, WS_EINVAL, "rendezvous %s: want tcp://HOST:PORT with PORT in 1..65535", spec);
    memcpy(a->host, h, hl);
    a->host[hl] = 0;
    snprintf(a->port, sizeof a->port, "%ld", port);
    return WS_OK;
}

static int is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

static void addr_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size) {
    char h[NI_MAXHOST] = "?", p[NI_MAXSERV] = "?";
    getnameinfo(sa, len, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(buf, size, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, p);
}

static ws_status resolve(const char *host, const char *port, struct addrinfo **out, ws_error *err) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, out);
    if (rc != 0) return wsi_error(err, WS_EINVAL, "rendezvous host %s: %s", host, gai_strerror(rc));
    return WS_OK;
}

/* The address rank 0 writes into a rendezvous file: the first interface that is up, not
 * loopback and has an IPv4 address; 127.0.0.1 where none is (a single machine). */
static void own_address(char *buf, size_t size) {
    snprintf(buf, size, "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
            !(i->ifa_flags & IFF_LOOPBACK)) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf, (socklen_t)size);
            break;
        }
    freeifaddrs(ifs);
}

/* Rank 0's listening socket for (host, port): bound to host's address if that is a
 * loopback one (a single machine: nothing outside can connect), else to every address of
 * its family. port "0": any free port. */
static ws_status listen_on(const char *host, const char *port, int backlog, int *fd_out, ws_error *err) {
    struct addrinfo *ai = NULL;
    ws_status st = resolve(host, port, &ai, err);
    if (st != WS_OK) return st;
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len = (socklen_t)ai->ai_addrlen;
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    int family = ai->ai_family;
    freeaddrinfo(ai);
    if (!is_loopback((struct sockaddr *)&sa)) {
        if (family == AF_INET6) {
            ((struct sockaddr_in6 *)&sa)->sin6_addr = in6addr_any;
        } else {
            ((struct sockaddr_in *)&sa)->sin_addr.s_addr = htonl(INADDR_ANY);
        }
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return wsi_error(err, WS_ELIBRARY, "rendezvous: socket: %s", strerror(errno));
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* rebind while an old run's port is in TIME_WAIT */
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    char where[128];
    addr_text((struct sockaddr *)&sa, len, where, sizeof where);
    if (bind(fd, (struct sockaddr *)&sa, len) != 0) {
        int e = errno;
        close(fd);
        return wsi_error(err, WS_ELIBRARY, "rank 0 cannot listen on %s (rendezvous host %s): %s%s", where, host,
                         strerror(e),
                         e == EADDRINUSE ? " (another job or program holds this port: choose another one)" : "");
    }
    if (listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        return wsi_error(err, WS_ELIBRARY, "rendezvous: listen on %s: %s", where, strerror(e));
    }
    *fd_out = fd;
    return WS_OK;
}

static int connect_one(const struct addrinfo *ai, double deadline) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        struct pollfd pf = {fd, POLLOUT, 0};
        int n;
        while ((n = poll(&pf, 1, poll_ms(deadline))) < 0 && errno == EINTR) {}
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (n <= 0) soerr = n == 0 ? ETIMEDOUT : errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
        if (soerr) {
            close(fd);
            errno = soerr;
            return -1;
        }
    }
    return fd;
}

/* ------------------------------------------------------------------ the rendezvous file */

static ws_status write_file(const char *path, const char *host, int port, uint64_t token, ws_error *err) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return wsi_error(err, WS_EIO, "rendezvous file: cannot write %s: %s (the folder must exist and be writable "
                         "by rank 0, and be shared with the other ranks)", tmp, strerror(errno));
    int bad = fprintf(f, "wattscale-rendezvous/1 %s %d %016llx\n", host, port, (unsigned long long)token) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return wsi_error(err, WS_EIO, "rendezvous file %s: %s", path, strerror(e));
    }
    return WS_OK;
}

/* 1: read; 0: absent or not (yet) a rendezvous line. */
static int read_file(const char *path, char *host, size_t host_size, char *port, size_t port_size, uint64_t *token) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512] = "", h[256];
    int p = 0;
    unsigned long long tok = 0;
    int ok = fgets(line, sizeof line, f) && sscanf(line, "wattscale-rendezvous/1 %255s %d %llx", h, &p, &tok) == 3 &&
             p > 0 && p < 65536;
    fclose(f);
    if (!ok) return 0;
    snprintf(host, host_size, "%s", h);
    snprintf(port, port_size, "%d", p);
    *token = tok;
    return 1;
}

/* Removes the file if it still holds our token (not a newer run's). */
static void remove_file(const char *path, uint64_t token) {
    char h[256], p[16];
    uint64_t t = 0;
    if (read_file(path, h, sizeof h, p, sizeof p, &t) && t == token) unlink(path);
}

/* ------------------------------------------------------------------ rank 0 */

/* Nodes numbered by their lowest rank; local ranks in rank order unless given (then they
 * must be 0..n-1 on the node, each once). */
static ws_status place_ranks(const hello_msg *h, int size, wsi_tcp_place *places, char *msg, size_t msg_size) {
    int *node_of = calloc((size_t)size, sizeof *node_of);
    int nodes = 0;
    if (!node_of) {
        snprintf(msg, msg_size, "out of memory");
        return WS_ENOMEM;
    }
    for (int r = 0; r < size; r++) {
        node_of[r] = -1;
        for (int q = 0; q < r && node_of[r] < 0; q++)
            if (!strcmp(h[q].node, h[r].node)) node_of[r] = node_of[q];
        if (node_of[r] < 0) node_of[r] = nodes++;
    }
    ws_status st = WS_OK;
    for (int r = 0; r < size && st == WS_OK; r++) {
        int count = 0, index = 0, given = 0;
        for (int q = 0; q < size; q++)
            if (node_of[q] == node_of[r]) {
                if (q < r) index++;
                count++;
                given += h[q].local_rank >= 0;
            }
        places[r].node = node_of[r];
        places[r].nodes = nodes;
        places[r].local_size = count;
        places[r].local_rank = h[r].local_rank >= 0 ? h[r].local_rank : index;
        if (h[r].local_size >= 0 && h[r].local_size != count) {
            snprintf(msg, msg_size, "rank %d says its node %s has %d ranks (local size), but %d ranks joined with that "
                     "node id", r, h[r].node, h[r].local_size, count);
            st = WS_EINVAL;
        } else if (given && given != count) {
            snprintf(msg, msg_size, "on node %s, %d of %d ranks give a local rank: give one to all or to none",
                     h[r].node, given, count);
            st = WS_EINVAL;
        } else if (places[r].local_rank >= count) {
            snprintf(msg, msg_size, "rank %d: local rank %d, but node %s has %d ranks", r, places[r].local_rank,
                     h[r].node, count);
            st = WS_EINVAL;
        }
        for (int q = 0; q < r && st == WS_OK; q++)
            if (node_of[q] == node_of[r] && places[q].local_rank == places[r].local_rank) {
                snprintf(msg, msg_size, "ranks %d and %d on node %s both have local rank %d (they would share a GPU)",
                         q, r, h[r].node, places[r].local_rank);
                st = WS_EINVAL;
            }
    }
    free(node_of);
    return st;
}

static void send_welcome(int fd, int status, const wsi_tcp_place *p, const char *msg) {
    welcome_msg w;
    memset(&w, 0, sizeof w);
    w.magic = WELCOME_MAGIC;
    w.status = status;
    if (p) {
        w.node = p->node;
        w.nodes = p->nodes;
        w.local_rank = p->local_rank;
        w.local_size = p->local_size;
    }
    if (msg) snprintf(w.msg, sizeof w.msg, "%s", msg);
    io_all(fd, &w, sizeof w, ws_now_s() + HANDSHAKE_S, 1);
}

static void fill_hello(hello_msg *h, const wsi_tcp_conf *c, uint64_t token) {
    memset(h, 0, sizeof *h);
    h->magic = HELLO_MAGIC;
    h->version = PROTOCOL_VERSION;
    h->rank = c->rank;
    h->size = c->size;
    h->local_rank = c->local_rank;
    h->local_size = c->local_size;
    h->token = token;
    snprintf(h->node, sizeof h->node, "%s", c->node_id);
    snprintf(h->host, sizeof h->host, "%s", c->host);
}

/* The missing ranks as "1, 4, 5" (the first 16, then "..."). */
static void missing_list(const int *fds, int size, char *buf, size_t n) {
    size_t len = 0;
    int shown = 0;
    buf[0] = 0;
    for (int r = 1; r < size && len + 16 < n; r++)
        if (fds[r] < 0) {
            if (shown++ == 16) {
                snprintf(buf + len, n - len, ", ...");
                break;
            }
            len += (size_t)snprintf(buf + len, n - len, "%s%d", shown > 1 ? ", " : "", r);
        }
}

static ws_status rank0(const wsi_tcp_conf *c, const rdzv_addr *a, int *fds, wsi_tcp_place *place, ws_error *err) {
    int lfd = -1;
    uint64_t token = 0;
    char where[320];
    ws_status st;
    if (a->is_file) {
        if (getrandom(&token, sizeof token, 0) != sizeof token) token = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(ws_now_s() * 1e9);
        char host[256];
        if (c->advertise[0]) snprintf(host, sizeof host, "%s", c->advertise);
        else own_address(host, sizeof host);
        if ((st = listen_on(host, "0", c->size, &lfd, err)) != WS_OK) return st;
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        getsockname(lfd, (struct sockaddr *)&sa, &sl);
        int port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                  : ((struct sockaddr_in *)&sa)->sin_port);
        if ((st = write_file(a->path, host, port, token, err)) != WS_OK) {
            close(lfd);
            return st;
        }
        snprintf(where, sizeof where, "%.100s:%d (written to %.180s)", host, port, a->path);
    } else {
        if ((st = listen_on(a->host, a->port, c->size, &lfd, err)) != WS_OK) return st;
        snprintf(where, sizeof where, "%.200s:%s", a->host, a->port);
    }
    ws_log(WS_LOG_DEBUG, "rendezvous: rank 0 of %d listens on %s", c->size, where);

    hello_msg *h = calloc((size_t)c->size, sizeof *h);
    wsi_tcp_place *places = calloc((size_t)c->size, sizeof *places);
    if (!h || !places) {
        free(h), free(places), close(lfd);
        return wsi_error(err, WS_ENOMEM, "rendezvous: out of memory");
    }
    fill_hello(&h[0], c, token);
    int joined = 0, status = WELCOME_OK;
    char msg[512] = "";
    double t0 = ws_now_s(), deadline = t0 + c->rendezvous_timeout_s, next_log = t0 + LOG_EVERY_S;
    while (joined < c->size - 1 && status == WELCOME_OK) {
        double now = ws_now_s();
        if (now >= deadline) {
            char miss[200];
            missing_list(fds, c->size, miss, sizeof miss);
            snprintf(msg, sizeof msg, "rendezvous at %.200s: rank(s) %.100s of %d did not join within %.0f s "
                     "(WATTSCALE_RENDEZVOUS_TIMEOUT): were they started, with the same rendezvous?",
                     where, miss, c->size, c->rendezvous_timeout_s);
            status = WELCOME_ERROR;
            break;
        }
        if (now >= next_log) {
            char miss[200];
            missing_list(fds, c->size, miss, sizeof miss);
            ws_log(WS_LOG_INFO, "rendezvous at %s: %d of %d ranks joined after %.0f s; waiting for rank(s) %s", where,
                   joined + 1, c->size, now - t0, miss);
            next_log = now + LOG_EVERY_S;
        }
        struct pollfd pf = {lfd, POLLIN, 0};
        double wake = deadline < next_log ? deadline : next_log;
        int n = poll(&pf, 1, poll_ms(wake));
        if (n <= 0) continue;
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        int fd = accept4(lfd, (struct sockaddr *)&from, &fl, SOCK_CLOEXEC);
        if (fd < 0) continue;
        char who[128];
        addr_text((struct sockaddr *)&from, fl, who, sizeof who);
        hello_msg in;
        if (io_all(fd, &in, sizeof in, ws_now_s() + HANDSHAKE_S, 0) != 0 || in.magic != HELLO_MAGIC) {
            ws_log(WS_LOG_WARN, "rendezvous: a connection from %s %s; ignored", who,
                   in.magic == __builtin_bswap32(HELLO_MAGIC) ? "came from a machine of the other byte order"
                                                               : "did not say hello as a wattscale rank");
            close(fd);
            continue;
        }
        in.node[sizeof in.node - 1] = in.host[sizeof in.host - 1] = 0;
        if (a->is_file && in.token != token) {
            send_welcome(fd, WELCOME_STALE, NULL, "stale rendezvous file");
            close(fd);
            continue;
        }
        if (in.version != PROTOCOL_VERSION) {
            snprintf(msg, sizeof msg, "rank %d (%s) speaks protocol %u, rank 0 %u: run the same wattscale on every rank",
                     in.rank, in.host, in.version, PROTOCOL_VERSION);
        } else if (in.size != c->size) {
            snprintf(msg, sizeof msg, "rank %d on %s says the world has %d ranks, rank 0 (%s) says %d: give every rank "
                     "the same world size", in.rank, in.host, in.size, c->source, c->size);
        } else if (in.rank < 1 || in.rank >= c->size) {
            snprintf(msg, sizeof msg, "a rank on %s calls itself rank %d, not in 1..%d", in.host, in.rank, c->size - 1);
        } else if (fds[in.rank] >= 0) {
            snprintf(msg, sizeof msg, "two processes claim rank %d (on %.100s and %.100s): give each process its own rank",
                     in.rank, h[in.rank].host, in.host);
        } else {
            fds[in.rank] = fd;
            h[in.rank] = in;
            joined++;
            continue;
        }
        send_welcome(fd, WELCOME_ERROR, NULL, msg);
        close(fd);
        status = WELCOME_ERROR;
    }
    close(lfd);
    if (a->is_file) remove_file(a->path, token);
    if (status == WELCOME_OK && place_ranks(h, c->size, places, msg, sizeof msg) != WS_OK) status = WELCOME_ERROR;
    for (int r = 1; r < c->size; r++)
        if (fds[r] >= 0) send_welcome(fds[r], status, &places[r], status == WELCOME_OK ? NULL : msg);
    free(h);
    if (status != WELCOME_OK) {
        free(places);
        return wsi_error(err, WS_EINVAL, "%s", msg);
    }
    *place = places[0];
    free(places);
    ws_log(WS_LOG_DEBUG, "rendezvous: %d ranks joined in %.2f s", c->size, ws_now_s() - t0);
    return WS_OK;
}

/* ------------------------------------------------------------------ the other ranks */

static ws_status peer(const wsi_tcp_conf *c, const rdzv_addr *a, int *fds, wsi_tcp_place *place, ws_error *err) {
    double t0 = ws_now_s(), deadline = t0 + c->rendezvous_timeout_s, next_log = t0 + LOG_EVERY_S;
    char last[400] = "";
    for (;; ws_sleep_s(RETRY_S)) {
        double now = ws_now_s();
        if (now >= deadline)
            return wsi_error(err, WS_ELIBRARY, "rank %d: no rendezvous with rank 0 within %.0f s "
                             "(WATTSCALE_RENDEZVOUS_TIMEOUT): %s", c->rank, c->rendezvous_timeout_s,
                             last[0] ? last : "nothing happened");
        if (now >= next_log) {
            ws_log(WS_LOG_INFO, "rank %d: still waiting for rank 0 after %.0f s: %s", c->rank, now - t0, last);
            next_log = now + LOG_EVERY_S;
        }
        char host[256], port[16];
        uint64_t token = 0;
        if (a->is_file) {
            if (!read_file(a->path, host, sizeof host, port, sizeof port, &token)) {
                snprintf(last, sizeof last, "rendezvous file %.300s not written yet (is rank 0 running, and the folder "
                         "shared?)", a->path);
                continue;
            }
        } else {
            snprintf(host, sizeof host, "%s", a->host);
            snprintf(port, sizeof port, "%s", a->port);
        }
        struct addrinfo *ai = NULL;
        ws_error rerr = {0};
        if (resolve(host, port, &ai, &rerr) != WS_OK) {
            if (!a->is_file) return wsi_error(err, WS_EINVAL, "%s", rerr.msg);
            snprintf(last, sizeof last, "%.300s", rerr.msg);
            continue;
        }
        int fd = -1, e = 0;
        for (struct addrinfo *i = ai; i && fd < 0; i = i->ai_next) {
            double d = ws_now_s() + 5.0;
            fd = connect_one(i, d < deadline ? d : deadline);
            if (fd < 0) e = errno;
        }
        freeaddrinfo(ai);
        if (fd < 0) {
            snprintf(last, sizeof last, "connecting to rank 0 at %s:%s: %s", host, port, strerror(e));
            continue;
        }
        hello_msg h;
        fill_hello(&h, c, token);
        welcome_msg w;
        memset(&w, 0, sizeof w);
        /* Rank 0 answers when the whole world has come, or with its own verdict at its
         * timeout: wait a little longer than that, so that its message (naming who is
         * missing) is the one we report. */
        if (io_all(fd, &h, sizeof h, deadline, 1) != 0 ||
            io_all(fd, &w, sizeof w, deadline + 30.0, 0) != 0) {
            snprintf(last, sizeof last, "rank 0 at %s:%s: %s during the handshake", host, port, io_words(errno));
            close(fd);
            if (errno == ETIMEDOUT) continue;
            if (a->is_file) continue; /* perhaps a stale address: read the file again */
            return wsi_error(err, WS_ELIBRARY, "rank %d: %s", c->rank, last);
        }
        if (w.magic != WELCOME_MAGIC) {
            close(fd);
            return wsi_error(err, WS_ELIBRARY, "rank %d: %s:%s answered, but not as a wattscale rank 0 (another program "
                             "on that port?)", c->rank, host, port);
        }
        w.msg[sizeof w.msg - 1] = 0;
        if (w.status == WELCOME_STALE) {
            close(fd);
            snprintf(last, sizeof last, "%.100s:%s belongs to another run (stale rendezvous file %.200s)", host, port, a->path);
            continue;
        }
        if (w.status != WELCOME_OK) {
            close(fd);
            return wsi_error(err, WS_EINVAL, "rank 0 refused the world: %s", w.msg);
        }
        fds[0] = fd;
        place->node = w.node;
        place->nodes = w.nodes;
        place->local_rank = w.local_rank;
        place->local_size = w.local_size;
        return WS_OK;
    }
}

ws_status wsi_tcp_rendezvous(const wsi_tcp_conf *c, int *fds, wsi_tcp_place *place, ws_error *err) {
    for (int r = 0; r < c->size; r++) fds[r] = -1;
    rdzv_addr a;
    ws_status st = parse_addr(c->rendezvous, &a, err);
    if (st != WS_OK) return st;
    st = c->rank == 0 ? rank0(c, &a, fds, place, err) : peer(c, &a, fds, place, err);
    if (st != WS_OK)
        for (int r = 0; r < c->size; r++)
            if (fds[r] >= 0) {
                close(fds[r]);
                fds[r] = -1;
            }
    return st;
}
