/* tests/dist/test_world_mpi.c - the dist layer (dist/world.h, dist/grad_sync.h) on as many
 * ranks as it is started with: `mpirun -np 2 test_world_mpi`, `-np 1`, alone, or as the
 * ranks of a tcp world (`ws_spawn 3 -- test_world_mpi`, tests/dist/spawn.c).
 *
 * Plain checks, not cmocka: several ranks write to one terminal, so each failing check
 * prints one line with its rank, and the ranks agree on the verdict by an all-reduce
 * (exit 1 on every rank if any failed). A 15 s watchdog guards against a hang in the
 * checks themselves.
 *
 * Modes (argv[1]), for the failure paths:
 *   hang    a 2 s watchdog; the last rank sleeps without heartbeats while the others wait
 *           in a barrier: the watchdog must end the job with exit code 3.
 *   die [R] rank R (default the last) kills itself (SIGKILL) while the others wait in an
 *           all-reduce: mpirun must tear the job down, or (tcp) the all-reduce fails naming
 *           rank R and ws_world_end ends every rank (no watchdog armed).
 *   exit R  rank R exits (code 0, without ws_world_close) while the others sleep outside
 *           any collective: (tcp) the hang-up watcher must end them, naming rank R.
 *   abort R rank R calls ws_world_abort(7) while the others sleep outside any collective:
 *           every rank must end with code 7.
 *   fatal   the last rank calls ws_fatal while the others wait in a barrier: the fatal
 *           hook's MPI_Abort (tcp: ABORT frames) must end the job.
 *   mismatch  (tcp only) the last rank calls an all-reduce where the others call a barrier:
 *           an error naming both calls, not garbage, and every rank ends.
 *   mismatch-gather  (tcp only) the same, with ws_world_gather_bytes against
 *           ws_world_gather_f64 of as many bytes (size <= 64).
 *   expect CODE SECONDS NEEDLE CMD [ARGS...]
 *           a wrapper for ctest: runs CMD (e.g. mpirun ... test_world_mpi hang), echoing
 *           its stderr; passes if CMD ends within SECONDS with exit code CODE ("nonzero":
 *           any but 0; death by signal N counts as 128+N) and its stderr contains NEEDLE
 *           ("-": no requirement). On timeout it kills CMD's process group and fails. */
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "dist/grad_sync.h"
#include "dist/world.h"
#include "ws_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
static int me; /* this rank, for the failure lines */

#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            failures++;                                                                          \
            fprintf(stderr, "[r%d] %s:%d: CHECK(%s) failed: ", me, __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

/* `call` returns ws_status and fills the ws_error `err` in scope. */
#define CHECK_OK(call)                                                                           \
    do {                                                                                         \
        ws_status st_ = (call);                                                                  \
        CHECK(st_ == WS_OK, "%s: %s", ws_status_name(st_), err.msg);                             \
    } while (0)

#define CHECK_STATUS(call, want)                                                                 \
    do {                                                                                         \
        ws_status st_ = (call);                                                                  \
        CHECK(st_ == (want), "got %s (%s), want %s", ws_status_name(st_), err.msg, #want);       \
    } while (0)

/* splitmix64: a seeded stream, so a failure replays exactly. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static size_t rng_below(uint64_t *s, size_t n) { return (size_t)(rng_next(s) % n); }
static float rng_sym(uint64_t *s) { return (float)((double)(rng_next(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

/* ------------------------------------------------------------------ bootstrap paths */

static int under_launcher(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") ||
           (getenv("SLURM_PROCID") && getenv("SLURM_NTASKS"));
}

/* The size a tcp world was given (WATTSCALE_* or torchrun's names); 0 when none. */
static int env_world_size(void) {
    const char *s = getenv("WATTSCALE_WORLD_SIZE");
    if (!s && getenv("MASTER_ADDR")) s = getenv("WORLD_SIZE");
    return s ? atoi(s) : 0;
}

/* One world of `size` that must fail to open with `want`, its message containing needle. */
static void expect_open_fails(const char *size, const char *rank, ws_status want, const char *needle) {
    ws_error err = {0};
    ws_world *w = NULL;
    setenv("WATTSCALE_WORLD_SIZE", size, 1);
    setenv("WATTSCALE_RANK", rank, 1);
    double t0 = ws_now_s();
    CHECK_STATUS(ws_world_open(&w, &err), want);
    CHECK(w == NULL, "no world on failure");
    CHECK(strstr(err.msg, needle) != NULL, "message names %s: %s", needle, err.msg);
    CHECK(ws_now_s() - t0 < 10, "failing took %.1f s", ws_now_s() - t0);
    if (w) ws_world_close(w);
}

/* Only without a launcher: none of these opens touches MPI. */
static void test_env_world(void) {
    ws_error err = {0};
    ws_world *w = NULL;
    static const char *others[] = {"WATTSCALE_RENDEZVOUS", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK",
                                   "WATTSCALE_RENDEZVOUS_TIMEOUT", "WATTSCALE_COLLECTIVE_TIMEOUT"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) unsetenv(others[i]);
    setenv("WATTSCALE_LOCAL_RANK", "1", 1);
    /* several ranks need a rendezvous, a well-formed one */
    expect_open_fails("2", "1", WS_EINVAL, "WATTSCALE_RENDEZVOUS=tcp://HOST:PORT");
    setenv("WATTSCALE_RENDEZVOUS", "http://example:80", 1);
    expect_open_fails("2", "1", WS_EINVAL, "tcp://HOST:PORT");
    setenv("WATTSCALE_RENDEZVOUS", "tcp://127.0.0.1", 1);
    expect_open_fails("2", "1", WS_EINVAL, "no port");
    setenv("WATTSCALE_RENDEZVOUS", "tcp://127.0.0.1:99999", 1);
    expect_open_fails("2", "1", WS_EINVAL, "1..65535");
    setenv("WATTSCALE_RENDEZVOUS", "file://relative/path", 1);
    expect_open_fails("2", "1", WS_EINVAL, "three slashes");
    setenv("WATTSCALE_RENDEZVOUS", "tcp://127.0.0.1:9", 1);
    setenv("WATTSCALE_RENDEZVOUS_TIMEOUT", "soon", 1);
    expect_open_fails("2", "1", WS_EINVAL, "WATTSCALE_RENDEZVOUS_TIMEOUT=soon");
    unsetenv("WATTSCALE_RENDEZVOUS_TIMEOUT");
    setenv("WATTSCALE_COLLECTIVE_TIMEOUT", "-1", 1);
    expect_open_fails("2", "1", WS_EINVAL, "WATTSCALE_COLLECTIVE_TIMEOUT=-1");
    unsetenv("WATTSCALE_COLLECTIVE_TIMEOUT");
    /* nobody at the other end (a port just free): a peer gives up naming rank 0, rank 0
     * naming the absent */
    setenv("WATTSCALE_RENDEZVOUS_TIMEOUT", "0.6", 1);
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (probe >= 0 && bind(probe, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(probe, (struct sockaddr *)&sa, &sl) == 0) {
        char free_rdzv[64];
        snprintf(free_rdzv, sizeof free_rdzv, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
        close(probe);
        probe = -1;
        setenv("WATTSCALE_RENDEZVOUS", free_rdzv, 1);
        expect_open_fails("2", "1", WS_ELIBRARY, "no rendezvous with rank 0 within");
    }
    if (probe >= 0) close(probe);
    setenv("WATTSCALE_RENDEZVOUS", "tcp://127.0.0.1:0", 1);
    expect_open_fails("3", "0", WS_EINVAL, "1..65535");
    char path[] = "/tmp/test_world_rdzv.XXXXXX", rdzv[64];
    if (mkdtemp(path)) {
        snprintf(rdzv, sizeof rdzv, "file://%s/r", path);
        setenv("WATTSCALE_RENDEZVOUS", rdzv, 1);
        setenv("WATTSCALE_RENDEZVOUS_HOST", "127.0.0.1", 1);
        unsetenv("WATTSCALE_LOCAL_RANK");
        expect_open_fails("3", "0", WS_EINVAL, "rank(s) 1, 2 of 3 did not join");
        char file[80];
        snprintf(file, sizeof file, "%s/r", path);
        CHECK(access(file, F_OK) != 0, "rank 0 left its rendezvous file %s behind", file);
        rmdir(path);
        unsetenv("WATTSCALE_RENDEZVOUS_HOST");
    }
    unsetenv("WATTSCALE_RENDEZVOUS");
    unsetenv("WATTSCALE_RENDEZVOUS_TIMEOUT");
    setenv("WATTSCALE_LOCAL_RANK", "1", 1);
    setenv("WATTSCALE_RANK", "1", 1);

    setenv("WATTSCALE_WORLD_SIZE", "1", 1);
    CHECK_STATUS(ws_world_open(&w, &err), WS_EINVAL); /* rank 1 of 1 */
    CHECK(strstr(err.msg, "WATTSCALE_RANK") != NULL, "%s", err.msg);
    setenv("WATTSCALE_RANK", "0", 1);
    setenv("WATTSCALE_LOCAL_RANK", "0", 1);
    CHECK_OK(ws_world_open(&w, &err));
    if (w) {
        CHECK(ws_world_size(w) == 1 && ws_world_rank(w) == 0, "size %d rank %d", ws_world_size(w), ws_world_rank(w));
        CHECK(!strcmp(ws_world_backend(w), "single"), "backend %s", ws_world_backend(w));
        ws_world_close(w);
        w = NULL;
    }
    setenv("WATTSCALE_WORLD_SIZE", "two", 1);
    CHECK_STATUS(ws_world_open(&w, &err), WS_EINVAL);
    unsetenv("WATTSCALE_WORLD_SIZE");
    unsetenv("WATTSCALE_RANK");
    unsetenv("WATTSCALE_LOCAL_RANK");

    /* torchrun's names: size 1 is a single world, a bad rank is named */
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", "9", 1);
    setenv("WORLD_SIZE", "1", 1);
    setenv("RANK", "0", 1);
    CHECK_OK(ws_world_open(&w, &err));
    if (w) CHECK(!strcmp(ws_world_backend(w), "single") && ws_world_size(w) == 1, "%s", ws_world_backend(w));
    ws_world_close(w);
    w = NULL;
    setenv("WORLD_SIZE", "2", 1);
    setenv("RANK", "2", 1);
    CHECK_STATUS(ws_world_open(&w, &err), WS_EINVAL);
    CHECK(strstr(err.msg, "RANK=2") != NULL, "%s", err.msg);
    unsetenv("MASTER_ADDR");
    unsetenv("MASTER_PORT");
    unsetenv("WORLD_SIZE");
    unsetenv("RANK");

#if !WS_HAVE_MPI
    /* A build without MPI started by mpirun as several ranks must refuse, not train alone. */
    setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    CHECK_STATUS(ws_world_open(&w, &err), WS_ENOTSUP);
    CHECK(strstr(err.msg, "lacks MPI") != NULL && strstr(err.msg, "4 ranks") != NULL, "%s", err.msg);
    CHECK(strstr(err.msg, "WATTSCALE_RENDEZVOUS") != NULL, "%s", err.msg);
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
    CHECK_OK(ws_world_open(&w, &err));
    ws_world_close(w);
    w = NULL;
    unsetenv("OMPI_COMM_WORLD_SIZE");
#endif
}

/* ------------------------------------------------------------------ world */

#define HOST_LEN 64

typedef struct {
    int rank, local_rank, local_size, node, nodes;
    int given_local; /* WATTSCALE_LOCAL_RANK in a tcp world, else -1 */
} rank_info;

static void test_world_info(ws_world *w) {
    ws_error err = {0};
    int rank = ws_world_rank(w), size = ws_world_size(w);
    CHECK(size >= 1 && rank >= 0 && rank < size, "rank %d size %d", rank, size);
    const char *env_size = getenv("OMPI_COMM_WORLD_SIZE");
    if (env_size) CHECK(size == atoi(env_size), "size %d, mpirun says %s", size, env_size);
    /* a build without MPI under mpirun joins its ranks over tcp when given a rendezvous */
    int launched_tcp = !WS_HAVE_MPI && under_launcher() && getenv("WATTSCALE_RENDEZVOUS") && env_size &&
                       atoi(env_size) > 1;
    const char *want = under_launcher() && WS_HAVE_MPI        ? "mpi"
                       : env_world_size() > 1 || launched_tcp ? "tcp"
                                                              : "single";
    CHECK(!strcmp(ws_world_backend(w), want), "backend %s, want %s", ws_world_backend(w), want);
    if (!strcmp(want, "tcp") && !launched_tcp)
        CHECK(size == env_world_size(), "size %d, environment %d", size, env_world_size());
    char host[HOST_LEN] = {0};
    gethostname(host, sizeof host - 1);
    CHECK(!strncmp(ws_world_host(w), host, HOST_LEN - 1), "host %s, gethostname %s", ws_world_host(w), host);
    CHECK(ws_world_nodes(w) >= 1 && ws_world_node(w) >= 0 && ws_world_node(w) < ws_world_nodes(w), "node %d of %d",
          ws_world_node(w), ws_world_nodes(w));
    CHECK(ws_world_local_size(w) >= 1 && ws_world_local_rank(w) >= 0 &&
              ws_world_local_rank(w) < ws_world_local_size(w),
          "local rank %d of %d", ws_world_local_rank(w), ws_world_local_size(w));

    char *hosts = calloc((size_t)size, HOST_LEN);
    rank_info *info = calloc((size_t)size, sizeof *info);
    const char *given = env_world_size() > 1 ? getenv("WATTSCALE_LOCAL_RANK") : NULL;
    rank_info mine = {rank,  ws_world_local_rank(w), ws_world_local_size(w), ws_world_node(w), ws_world_nodes(w),
                      given ? atoi(given) : -1};
    /* the node's name: WATTSCALE_NODE_ID where a tcp world was given one, else the host */
    char myhost[HOST_LEN] = {0};
    const char *node_id = getenv("WATTSCALE_NODE_ID");
    snprintf(myhost, sizeof myhost, "%s", node_id && env_world_size() > 1 ? node_id : ws_world_host(w));
    CHECK_OK(ws_world_allgather_bytes(w, myhost, HOST_LEN, hosts, &err));
    CHECK_OK(ws_world_allgather_bytes(w, &mine, sizeof mine, info, &err));
    /* The hostname stands for the shared-memory domain: nodes numbered by first appearance
     * in global rank order, local ranks 0.. in global rank order within a node. */
    int nodes = 0;
    for (int r = 0; r < size; r++) {
        const char *h = hosts + (size_t)r * HOST_LEN;
        CHECK(info[r].rank == r, "allgather slot %d holds rank %d", r, info[r].rank);
        int first = r, local = 0, local_size = 0;
        for (int q = 0; q < size; q++) {
            if (strcmp(hosts + (size_t)q * HOST_LEN, h)) continue;
            if (q < first) first = q;
            if (q < r) local++;
            local_size++;
        }
        int node = first == r ? nodes++ : info[first].node;
        CHECK(info[r].node == node, "rank %d on %s: node %d, want %d", r, h, info[r].node, node);
        if (info[r].given_local >= 0) local = info[r].given_local; /* the launcher's word wins */
        CHECK(info[r].local_rank == local && info[r].local_size == local_size, "rank %d: local %d of %d, want %d of %d",
              r, info[r].local_rank, info[r].local_size, local, local_size);
    }
    for (int r = 0; r < size; r++) CHECK(info[r].nodes == nodes, "rank %d: %d nodes, want %d", r, info[r].nodes, nodes);
    CHECK(!strcmp(hosts + (size_t)rank * HOST_LEN, myhost), "my slot");
    free(hosts);
    free(info);
}

/* Rank r's byte j in a gather of len bytes: differs between ranks, lengths and offsets. */
static unsigned char gather_byte(int r, size_t len, size_t j) { return (unsigned char)(r * 131 + j * 7 + len * 3 + 1); }

/* ws_world_gather_bytes to every root in turn, lengths that are no multiple of 8 (one of
 * several MB, more than a socket takes at once); the root's out poisoned first, the other
 * ranks' out given (poisoned, and it must stay so: only root receives) or NULL. */
static void test_gather_bytes(ws_world *w) {
    ws_error err = {0};
    int rank = ws_world_rank(w), size = ws_world_size(w);
    static const size_t lens[] = {1, 13, 2651, ((size_t)3 << 20) + 5};
    for (int root = 0; root < size; root++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            size_t len = lens[l], all = len * (size_t)size;
            unsigned char *in = malloc(len), *out = NULL;
            for (size_t j = 0; j < len; j++) in[j] = gather_byte(rank, len, j);
            int given = rank == root || (rank + (int)l) % 2 == 0;
            if (given && (out = malloc(all))) memset(out, 0xEE, all);
            CHECK_OK(ws_world_gather_bytes(w, in, len, out, root, &err));
            size_t bad = 0, first = 0;
            for (size_t k = 0; out && k < all; k++) {
                unsigned char want = rank == root ? gather_byte((int)(k / len), len, k % len) : 0xEE;
                if (out[k] != want && bad++ == 0) first = k;
            }
            CHECK(bad == 0, "gather of %zu bytes to %d: %zu bytes wrong, first at %zu (rank %zu's byte %zu)%s", len,
                  root, bad, first, first / len, first % len, rank == root ? "" : ": a rank not root received");
            for (size_t j = 0; j < len; j++) bad += in[j] != gather_byte(rank, len, j);
            CHECK(bad == 0, "gather of %zu bytes to %d changed the input", len, root);
            free(in);
            free(out);
        }
    CHECK_OK(ws_world_gather_bytes(w, NULL, 0, NULL, size - 1, &err)); /* nothing to gather: no buffers */
    /* refused before any byte moves, alike on every rank */
    unsigned char one = 1, outs[1];
    CHECK_STATUS(ws_world_gather_bytes(w, &one, 1, outs, -1, &err), WS_EINVAL);
    CHECK(strstr(err.msg, "ws_world_gather_bytes") && strstr(err.msg, "root -1"), "%s", err.msg);
    CHECK_STATUS(ws_world_gather_bytes(w, &one, 1, outs, size, &err), WS_EINVAL);
    CHECK_STATUS(ws_world_gather_bytes(w, &one, (size_t)INT_MAX + 1, outs, 0, &err), WS_EINVAL);
    CHECK(strstr(err.msg, "int count") != NULL, "%s", err.msg);
    if (size == 1) { /* elsewhere root alone would refuse and leave the others waiting */
        CHECK_STATUS(ws_world_gather_bytes(w, &one, 1, NULL, 0, &err), WS_EINVAL);
        CHECK(strstr(err.msg, "out is NULL on root") != NULL, "%s", err.msg);
    }
}

static void test_collectives(ws_world *w) {
    ws_error err = {0};
    int rank = ws_world_rank(w), size = ws_world_size(w);
    CHECK_OK(ws_world_barrier(w, &err));

    double sum[3] = {rank + 1.0, 1.5, -0.25 * rank};
    CHECK_OK(ws_world_allreduce_sum_f64(w, sum, 3, &err));
    CHECK(sum[0] == size * (size + 1) / 2.0 && sum[1] == 1.5 * size && sum[2] == -0.25 * size * (size - 1) / 2.0,
          "sum %g %g %g", sum[0], sum[1], sum[2]);
    double mx[2] = {rank, -rank}, mn[2] = {rank, -rank};
    CHECK_OK(ws_world_allreduce_max_f64(w, mx, 2, &err));
    CHECK(mx[0] == size - 1 && mx[1] == 0, "max %g %g", mx[0], mx[1]);
    CHECK_OK(ws_world_allreduce_min_f64(w, mn, 2, &err));
    CHECK(mn[0] == 0 && mn[1] == -(size - 1), "min %g %g", mn[0], mn[1]);
    CHECK_OK(ws_world_allreduce_sum_f64(w, NULL, 0, &err));

    /* bcast from the last rank: 1000 bytes, poisoned elsewhere */
    int root = size - 1;
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = rank == root ? (unsigned char)(i * 7 + 3) : 0xEE;
    CHECK_OK(ws_world_bcast_bytes(w, buf, sizeof buf, root, &err));
    int bad = 0;
    for (int i = 0; i < 1000; i++) bad += buf[i] != (unsigned char)(i * 7 + 3);
    CHECK(bad == 0, "%d bytes differ after bcast from %d", bad, root);
    CHECK_STATUS(ws_world_bcast_bytes(w, buf, 1, size, &err), WS_EINVAL);

    /* gather 3 doubles per rank to rank 0, and to the last rank */
    for (int g = 0; g < 2; g++) {
        int groot = g == 0 ? 0 : size - 1;
        double in[3] = {rank * 10.0, rank * 10.0 + 1, -rank};
        double *out = rank == groot ? malloc(3 * (size_t)size * sizeof *out) : NULL;
        if (out)
            for (int i = 0; i < 3 * size; i++) out[i] = NAN;
        CHECK_OK(ws_world_gather_f64(w, in, 3, out, groot, &err));
        if (out) {
            for (int r = 0; r < size; r++)
                CHECK(out[3 * r] == r * 10.0 && out[3 * r + 1] == r * 10.0 + 1 && out[3 * r + 2] == -r,
                      "gather to %d: slot %d = %g %g %g", groot, r, out[3 * r], out[3 * r + 1], out[3 * r + 2]);
            free(out);
        }
    }
    CHECK_STATUS(ws_world_gather_f64(w, sum, 1, NULL, -1, &err), WS_EINVAL);
    test_gather_bytes(w);
}

/* ------------------------------------------------------------------ grad_sync */

enum { MODE_REVERSE, MODE_SHUFFLED, MODE_PIECES, MODE_ACCUM, MODE_NO_READY, MODE_NO_BEGIN, MODE_COUNT };
static const char *mode_names[] = {"reverse", "shuffled", "pieces", "accum", "no-ready", "no-begin"};

typedef struct {
    ws_grad_range *t;
    size_t n, span;
    int gaps; /* 1: 5 floats between some tensors, never reduced */
} layout;

/* n tensors of 600..1000 floats and one of 70001 (index 7), ascending offsets. */
static layout make_layout(int gaps, uint64_t seed) {
    layout L;
    L.n = 41;
    L.gaps = gaps;
    L.t = calloc(L.n, sizeof *L.t);
    size_t off = 0;
    for (size_t i = 0; i < L.n; i++) {
        if (gaps && i % 10 == 5) off += 5;
        L.t[i].offset = off;
        L.t[i].count = i == 7 ? 70001 : 600 + rng_below(&seed, 401);
        off += L.t[i].count;
    }
    L.span = off;
    return L;
}

static int in_tensor(const layout *L, size_t k) {
    for (size_t i = 0; i < L->n; i++)
        if (k >= L->t[i].offset && k < L->t[i].offset + L->t[i].count) return 1;
    return 0;
}

/* The plan's promises: buckets within the limit, disjoint, in plan order descending (the
 * tensors ascend), covering exactly the tensors, a tensor within the limit in one bucket. */
static void check_plan(const ws_grad_sync *s, const layout *L, size_t limit, size_t want_buckets) {
    size_t nb = ws_grad_sync_buckets(s), total = 0;
    if (want_buckets) CHECK(nb == want_buckets, "limit %zu: %zu buckets, want %zu", limit, nb, want_buckets);
    for (size_t i = 0; i < nb; i++) {
        ws_grad_range b = ws_grad_sync_bucket(s, i);
        CHECK(b.count >= 1 && b.count <= limit, "bucket %zu: %zu floats, limit %zu", i, b.count, limit);
        if (i > 0) {
            ws_grad_range p = ws_grad_sync_bucket(s, i - 1);
            CHECK(b.offset + b.count <= p.offset, "bucket %zu [%zu,+%zu) not below bucket %zu [%zu,+%zu)", i,
                  b.offset, b.count, i - 1, p.offset, p.count);
        }
        total += b.count;
    }
    size_t want_total = 0;
    for (size_t j = 0; j < L->n; j++) {
        want_total += L->t[j].count;
        if (L->t[j].count > limit) continue;
        int inside = 0;
        for (size_t i = 0; i < nb; i++) {
            ws_grad_range b = ws_grad_sync_bucket(s, i);
            inside += L->t[j].offset >= b.offset && L->t[j].offset + L->t[j].count <= b.offset + b.count;
        }
        CHECK(inside == 1, "limit %zu: tensor %zu split or lost (%d buckets hold it whole)", limit, j, inside);
    }
    CHECK(total == want_total, "buckets hold %zu floats, tensors %zu", total, want_total);
}

/* The ready() calls of one pass, in the mode's order. */
static void report(ws_grad_sync *s, const layout *L, int mode, uint64_t *rng) {
    ws_error err = {0};
    size_t cap = L->n * 4, n = 0;
    ws_grad_range *r = calloc(cap, sizeof *r);
    for (size_t i = L->n; i-- > 0;) {
        if (mode != MODE_PIECES) {
            r[n++] = L->t[i];
            continue;
        }
        /* 1..4 pieces of random lengths */
        size_t pieces = 1 + rng_below(rng, 4), off = L->t[i].offset, left = L->t[i].count;
        for (size_t p = 0; p < pieces && left; p++) {
            size_t c = p + 1 == pieces ? left : 1 + rng_below(rng, left);
            r[n].offset = off;
            r[n++].count = c;
            off += c;
            left -= c;
        }
    }
    if (mode == MODE_SHUFFLED || mode == MODE_PIECES)
        for (size_t i = n; i > 1; i--) {
            size_t j = rng_below(rng, i);
            ws_grad_range tmp = r[i - 1];
            r[i - 1] = r[j];
            r[j] = tmp;
        }
    for (size_t i = 0; i < n; i++) CHECK_OK(ws_grad_sync_ready(s, r[i].offset, r[i].count, &err));
    free(r);
}

/* One pass in one mode: rank-specific random gradients, then the average checked against
 * the one computed on rank 0 from everybody's gradients (gathered), on every rank. */
static void run_pass(ws_world *w, ws_grad_sync *s, const layout *L, float *grads, int mode, uint64_t seed) {
    ws_error err = {0};
    int rank = ws_world_rank(w), size = ws_world_size(w);
    uint64_t g = seed ^ (0x1000003ull * (uint64_t)(rank + 1));
    for (size_t k = 0; k < L->span; k++) grads[k] = in_tensor(L, k) ? rng_sym(&g) : 12345.0f + (float)rank;
    double *mine = malloc(L->span * sizeof *mine), *all = NULL, *avg = malloc(L->span * sizeof *avg);
    for (size_t k = 0; k < L->span; k++) mine[k] = grads[k];
    if (rank == 0) all = malloc(L->span * (size_t)size * sizeof *all);
    CHECK_OK(ws_world_gather_f64(w, mine, L->span, all, 0, &err));
    if (rank == 0)
        for (size_t k = 0; k < L->span; k++) {
            double sum = 0;
            for (int r = 0; r < size; r++) sum += all[(size_t)r * L->span + k];
            avg[k] = sum / size;
        }
    CHECK_OK(ws_world_bcast_bytes(w, avg, L->span * sizeof *avg, 0, &err));

    uint64_t order = seed * 31 + (uint64_t)rank; /* a different order on each rank */
    if (mode == MODE_ACCUM) report(s, L, MODE_REVERSE, &order); /* an earlier micro-batch: ignored */
    if (mode != MODE_NO_BEGIN) ws_grad_sync_begin(s);
    size_t nb = ws_grad_sync_buckets(s);
    if (mode == MODE_REVERSE && size > 1) {
        /* bucket by bucket, in plan order: each starts on its last ready(), not in finish */
        for (size_t i = 0; i < nb; i++) {
            ws_grad_range b = ws_grad_sync_bucket(s, i);
            CHECK(ws_grad_sync_started(s) == i, "before bucket %zu: %zu started", i, ws_grad_sync_started(s));
            CHECK_OK(ws_grad_sync_ready(s, b.offset + 1, b.count - 1, &err));
            CHECK(ws_grad_sync_started(s) == i, "bucket %zu started before complete", i);
            CHECK_OK(ws_grad_sync_ready(s, b.offset, 1, &err));
        }
    } else if (mode != MODE_NO_READY && mode != MODE_NO_BEGIN) {
        report(s, L, mode, &order);
    }
    if (size > 1 && mode != MODE_NO_BEGIN) /* (no begin: no pass, the count is the last pass's) */
        CHECK(ws_grad_sync_started(s) == (mode == MODE_NO_READY ? 0 : nb),
              "mode %s: %zu of %zu buckets started before finish", mode_names[mode], ws_grad_sync_started(s), nb);
    CHECK_OK(ws_grad_sync_finish(s, &err));
    CHECK(ws_grad_sync_started(s) == (size > 1 ? nb : 0), "after finish: %zu started", ws_grad_sync_started(s));

    /* fp32 {rtol 1e-4, atol 1e-5} (style.md 7); floats outside the tensors untouched */
    size_t bad = 0, worst = 0;
    double worst_err = 0;
    for (size_t k = 0; k < L->span; k++) {
        double want = in_tensor(L, k) ? avg[k] : 12345.0 + rank, e = fabs(grads[k] - want);
        if (!(e <= 1e-5 + 1e-4 * fabs(want))) {
            if (bad++ == 0 || e > worst_err) worst = k, worst_err = e;
        }
    }
    CHECK(bad == 0, "mode %s: %zu floats wrong, worst at %zu: %g, want %g", mode_names[mode], bad, worst,
          (double)grads[worst], in_tensor(L, worst) ? avg[worst] : 12345.0 + rank);
    /* every rank holds the same bits, or the replicas drift apart */
    for (size_t k = 0; k < L->span; k++) mine[k] = in_tensor(L, k) ? grads[k] : 0;
    CHECK_OK(ws_world_gather_f64(w, mine, L->span, all, 0, &err));
    if (rank == 0) {
        size_t differ = 0;
        for (int r = 1; r < size; r++)
            for (size_t k = 0; k < L->span; k++) differ += memcmp(&all[(size_t)r * L->span + k], &all[k], sizeof *all) != 0;
        CHECK(differ == 0, "mode %s: %zu floats differ between ranks", mode_names[mode], differ);
    }
    free(mine);
    free(all);
    free(avg);
}

static void test_grad_sync(ws_world *w) {
    ws_error err = {0};
    int size = ws_world_size(w);
    for (int gaps = 0; gaps < 2; gaps++) {
        layout L = make_layout(gaps, 42);
        float *grads = calloc(L.span, sizeof *grads);
        size_t n_small = L.n - 1, big_pieces_1000 = (70001 + 999) / 1000;
        struct {
            size_t bytes, want; /* want 0: no exact count expected */
        } cfg[] = {
            {(size_t)1 << 30, gaps ? 5 : 1},         /* one bucket (per gap-separated group) */
            {4 * 8000, 0},                           /* several */
            {4 * 1000, n_small + big_pieces_1000},   /* one per tensor, the big one in pieces */
            {0, gaps ? 5 : 1},                       /* the 25 MiB default */
        };
        double floats = 0;
        for (size_t i = 0; i < L.n; i++) floats += (double)L.t[i].count;
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
            ws_grad_sync *s = NULL;
            CHECK_OK(ws_grad_sync_open(&s, w, grads, L.t, L.n, cfg[c].bytes, &err));
            if (!s) continue;
            size_t limit = (cfg[c].bytes ? cfg[c].bytes : WS_GRAD_SYNC_DEFAULT_BUCKET_BYTES) / 4;
            check_plan(s, &L, limit, cfg[c].want);
            if (cfg[c].want == 0)
                CHECK(ws_grad_sync_buckets(s) > 2 && ws_grad_sync_buckets(s) < L.n, "several: %zu buckets",
                      ws_grad_sync_buckets(s));
            for (int m = 0; m < MODE_COUNT; m++) {
                run_pass(w, s, &L, grads, m, 1000u * (uint64_t)c + (uint64_t)m + 7u * (uint64_t)gaps);
                ws_world_heartbeat(w);
            }
            double want_bytes = size > 1 ? MODE_COUNT * floats * 4 : 0;
            CHECK(ws_grad_sync_bytes(s) == want_bytes, "bytes %g, want %g", ws_grad_sync_bytes(s), want_bytes);
            CHECK(ws_grad_sync_wait_s(s) >= 0 && isfinite(ws_grad_sync_wait_s(s)), "wait %g s",
                  ws_grad_sync_wait_s(s));
            CHECK(ws_grad_sync_ready_s(s) >= 0 && isfinite(ws_grad_sync_ready_s(s)), "ready %g s",
                  ws_grad_sync_ready_s(s));
            if (size > 1) {
                /* misuse: rejected before anything starts, so the pass still completes */
                ws_grad_sync_begin(s);
                CHECK_OK(ws_grad_sync_ready(s, L.t[0].offset, 10, &err));
                CHECK_STATUS(ws_grad_sync_ready(s, L.t[0].offset + 5, 10, &err), WS_ESTATE);
                CHECK_STATUS(ws_grad_sync_ready(s, L.span - 1, 2, &err), WS_EINVAL);
                if (gaps) CHECK_STATUS(ws_grad_sync_ready(s, L.t[5].offset - 3, 5, &err), WS_EINVAL);
                CHECK_OK(ws_grad_sync_finish(s, &err));
            }
            ws_grad_sync_close(s);
        }
        free(grads);
        free(L.t);
    }
    /* overlapping tensors */
    ws_grad_range bad[2] = {{0, 10}, {9, 5}};
    float g[20];
    ws_grad_sync *s = NULL;
    CHECK_STATUS(ws_grad_sync_open(&s, w, g, bad, 2, 0, &err), WS_EINVAL);
    CHECK(s == NULL, "no object on failure");
    ws_grad_sync_close(NULL);
}

/* ------------------------------------------------------------------ failure modes */

static int run_failure_mode(const char *mode, const char *arg) {
    ws_error err = {0};
    ws_world *w = NULL;
    if (ws_world_open(&w, &err) != WS_OK) {
        fprintf(stderr, "ws_world_open: %s\n", err.msg);
        return 1;
    }
    int rank = ws_world_rank(w), last = ws_world_size(w) - 1, victim = arg ? atoi(arg) : last;
    ws_status st = ws_world_barrier(w, &err);
    if (!strcmp(mode, "hang")) {
        ws_world_set_watchdog(w, 2.0);
        ws_world_heartbeat(w);
        if (rank == last)
            for (;;) ws_sleep_s(1.0); /* no heartbeat: stuck in "compute" */
        st = ws_world_barrier(w, &err); /* waits for the stuck rank */
    } else if (!strcmp(mode, "die")) {
        if (rank == victim) {
            ws_sleep_s(0.5);
            raise(SIGKILL);
        }
        double x = 1;
        st = ws_world_allreduce_sum_f64(w, &x, 1, &err); /* the victim never joins */
    } else if (!strcmp(mode, "exit") || !strcmp(mode, "abort")) {
        if (rank == victim) {
            ws_sleep_s(0.5);
            if (!strcmp(mode, "abort")) ws_world_abort(w, 7);
            fflush(NULL);
            _exit(0); /* gone without a goodbye */
        }
        ws_sleep_s(30); /* "computing": only the watcher can notice */
        st = ws_world_barrier(w, &err);
    } else if (!strcmp(mode, "mismatch")) {
        double x = 1;
        st = rank == last ? ws_world_allreduce_sum_f64(w, &x, 1, &err) : ws_world_barrier(w, &err);
    } else if (!strcmp(mode, "mismatch-gather")) {
        /* the same 8 bytes to rank 0 through the other gather: told apart, not mixed up */
        double x = rank, all[64];
        st = rank == last ? ws_world_gather_bytes(w, &x, sizeof x, NULL, 0, &err)
                          : ws_world_gather_f64(w, &x, 1, rank == 0 ? all : NULL, 0, &err);
    } else if (!strcmp(mode, "fatal")) {
        if (rank == last) {
            ws_sleep_s(0.5);
            ws_fatal("deliberate fatal error on rank %d (test_world_mpi fatal)", rank);
        }
        st = ws_world_barrier(w, &err);
    } else {
        fprintf(stderr, "test_world_mpi: unknown mode %s (hang, die, exit, abort, fatal, mismatch, mismatch-gather, expect)\n", mode);
        return 2;
    }
    if (st != WS_OK) {
        /* world.h's failure policy: a failed collective ends the job from here */
        fprintf(stderr, "[r%d] mode %s: %s\n", rank, mode, err.msg);
        return ws_world_end(w, 1);
    }
    fprintf(stderr, "[r%d] mode %s: still running after the failure\n", rank, mode);
    ws_world_close(w);
    return 1; /* reaching here means the job was not torn down */
}

/* expect CODE SECONDS NEEDLE CMD [ARGS...] */
static int run_expect(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: test_world_mpi expect CODE|nonzero SECONDS NEEDLE|- CMD [ARGS...]\n");
        return 2;
    }
    int any_nonzero = !strcmp(argv[2], "nonzero"), want = atoi(argv[2]);
    double limit_s = atof(argv[3]);
    const char *needle = strcmp(argv[4], "-") ? argv[4] : NULL;
    int fd[2];
    if (pipe(fd) != 0) {
        perror("pipe");
        return 1;
    }
    double t0 = ws_now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        setpgid(0, 0); /* one group to kill on timeout */
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[5], argv + 5);
        fprintf(stderr, "exec %s: %s\n", argv[5], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    static char text[1 << 16];
    size_t len = 0;
    int status = 0, done = 0, timed_out = 0;
    while (!done) {
        struct pollfd p = {fd[0], POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char chunk[4096];
            ssize_t k = read(fd[0], chunk, sizeof chunk);
            if (k > 0) {
                fwrite(chunk, 1, (size_t)k, stderr);
                size_t keep = (size_t)k < sizeof text - 1 - len ? (size_t)k : sizeof text - 1 - len;
                memcpy(text + len, chunk, keep);
                len += keep;
            }
        }
        if (waitpid(pid, &status, WNOHANG) == pid) done = 1;
        if (!done && ws_now_s() - t0 > limit_s) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            done = timed_out = 1;
        }
    }
    /* what is still in the pipe (ranks may outlive mpirun by a moment: do not wait for EOF) */
    for (;;) {
        struct pollfd p = {fd[0], POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) break;
        char chunk[4096];
        ssize_t k = read(fd[0], chunk, sizeof chunk);
        if (k <= 0) break;
        fwrite(chunk, 1, (size_t)k, stderr);
        size_t keep = (size_t)k < sizeof text - 1 - len ? (size_t)k : sizeof text - 1 - len;
        memcpy(text + len, chunk, keep);
        len += keep;
    }
    close(fd[0]);
    text[len] = 0;
    double elapsed = ws_now_s() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    int ok = !timed_out && (any_nonzero ? code != 0 : code == want) && (!needle || strstr(text, needle));
    fprintf(stderr, "test_world_mpi expect: %s ended %s with code %d after %.1f s (want %s within %.0f s%s%s): %s\n",
            argv[5], timed_out ? "KILLED (timeout)" : "by itself", code, elapsed, argv[2], limit_s,
            needle ? ", stderr containing " : "", needle ? needle : "", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "expect")) return run_expect(argc, argv);
    if (argc > 1) return run_failure_mode(argv[1], argc > 2 ? argv[2] : NULL);

    if (!under_launcher() && env_world_size() == 0) test_env_world();
    ws_error err = {0};
    ws_world *w = NULL;
    ws_status st = ws_world_open(&w, &err);
    if (st != WS_OK) {
        fprintf(stderr, "ws_world_open: %s: %s\n", ws_status_name(st), err.msg);
        return 1;
    }
    me = ws_world_rank(w);
    ws_world_set_watchdog(w, 15.0); /* a hang in the checks ends the job, not the CI */
    double t0 = ws_now_s();
    test_world_info(w);
    ws_world_heartbeat(w);
    test_collectives(w);
    ws_world_heartbeat(w);
    test_grad_sync(w);
    ws_world_set_watchdog(w, 0);

    double worst = failures;
    CHECK_OK(ws_world_allreduce_max_f64(w, &worst, 1, &err));
    if (me == 0)
        fprintf(stderr, "test_world_mpi: %d rank(s) (%s, %d node(s)), %.1f s: %s\n", ws_world_size(w),
                ws_world_backend(w), ws_world_nodes(w), ws_now_s() - t0,
                worst == 0 && failures == 0 ? "all checks passed" : "FAILED");
    ws_world_close(w);
    return worst == 0 && failures == 0 ? 0 : 1;
}
