/* dist/world.c - the data-parallel world over MPI, over TCP (dist/tcp.h), or a single
 * process; contract in dist/world.h.
 * defines: ws_world_*, wsi_world_mpi_comm, wsi_world_tcp, wsi_world_enter, wsi_world_leave,
 *          wsi_world_mpi_error.
 *
 * The bootstrap reads the environment (which backend, the ranks, the rendezvous); each
 * collective has a tcp branch (dist/tcp.c does the work), an MPI branch and a
 * single-process branch; WS_HAVE_MPI (from ws_config.h) removes the MPI branches from
 * builds without MPI. The watchdog is a thread
 * sleeping on a condition variable (CLOCK_MONOTONIC) that wakes a few times per limit to
 * compare the time of the last heartbeat with now. */
#include "dist/world.h"
#include "core/error.h"
#include "dist/tcp.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "ws_config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if WS_HAVE_MPI
#include <mpi.h>
#endif

#define WATCHDOG_EXIT_CODE 3
#define FATAL_EXIT_CODE 1
/* MPI counts are int: larger buffers go in chunks of this many elements. */
#define CHUNK_ELEMS ((size_t)1 << 28)

struct ws_world {
    int rank, size, local_rank, local_size, node, nodes;
    char host[256];
    const char *backend;
    int mpi;               /* 1: the MPI backend (even with size 1 under mpirun -np 1) */
    int mpi_initialised;   /* 1: we called MPI_Init_thread, so we call MPI_Finalize */
    int hook_installed;
    wsi_tcp *tcp;          /* the tcp backend, or NULL */
#if WS_HAVE_MPI
    MPI_Comm comm;         /* dup of MPI_COMM_WORLD, MPI_ERRORS_RETURN */
#endif
    /* watchdog */
    atomic_llong beat_ns;              /* ws_now_s() of the last heartbeat, ns */
    _Atomic(const char *) in_call;     /* the blocking call this rank is in, or NULL */
    double watchdog_s;
    int watchdog_running, watchdog_stop;
    pthread_t watchdog;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* ------------------------------------------------------------------ errors */

ws_status wsi_world_mpi_error(ws_error *err, int mpi_rc, const char *fmt, ...) {
    char call[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call, sizeof call, fmt, ap);
    va_end(ap);
    char text[512] = "";
#if WS_HAVE_MPI
    int len = 0;
    if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", mpi_rc);
#else
    snprintf(text, sizeof text, "MPI error %d", mpi_rc);
#endif
    return wsi_error(err, WS_ELIBRARY, "%s: %s", call, text);
}

/* ------------------------------------------------------------------ bootstrap */

/* A positive int from the environment; 0 when unset; -1 when set but not a positive int
 * (or, with allow_zero, a non-negative one). */
static int env_int(const char *name, int allow_zero) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v > INT_MAX || v < (allow_zero ? 0 : 1)) return -1;
    return (int)v;
}

/* The number of ranks a launcher says it started (0: no launcher seen; 1 or more). PMIx
 * exports a rank but no size; it counts as "launched", size unknown (1). Under Slurm the
 * size is the step's (SLURM_STEP_NUM_TASKS, set by srun): a batch script itself also has
 * SLURM_PROCID and SLURM_NTASKS (the allocation's), but is one process. */
static int launcher_size(const char **which) {
    static const char *sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int n = env_int(sizes[i], 0);
        if (n != 0) {
            *which = sizes[i];
            return n > 0 ? n : 1;
        }
    }
    if (getenv("SLURM_PROCID") && getenv("SLURM_NTASKS")) {
        int n = env_int("SLURM_STEP_NUM_TASKS", 0);
        *which = "SLURM_STEP_NUM_TASKS";
        return n > 0 ? n : 1;
    }
    if (getenv("PMIX_RANK")) {
        *which = "PMIX_RANK";
        return 1;
    }
    return 0;
}

static ws_world *world_new(void) {
    ws_world *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->size = w->local_size = w->nodes = 1;
    w->backend = "single";
    atomic_init(&w->beat_ns, (long long)(ws_now_s() * 1e9));
    atomic_init(&w->in_call, NULL);
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (gethostname(w->host, sizeof w->host) != 0) snprintf(w->host, sizeof w->host, "unknown");
    w->host[sizeof w->host - 1] = 0;
    return w;
}

static void world_free(ws_world *w) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* A non-negative number of seconds from the environment (def when unset); -1 when
 * malformed or, with positive, not > 0. */
static double env_seconds(const char *name, double def, int positive) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0) || !isfinite(v) || (positive && v == 0)) return -1;
    return v;
}

/* The names a world's size, rank and local rank/size come from. */
typedef struct {
    const char *size, *rank, *local_rank, *local_size, *source;
} env_names;

static const env_names wattscale_names = {"WATTSCALE_WORLD_SIZE", "WATTSCALE_RANK", "WATTSCALE_LOCAL_RANK",
                                          "WATTSCALE_LOCAL_SIZE", "WATTSCALE_WORLD_SIZE/WATTSCALE_RANK"};
static const env_names torchrun_names = {"WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                         "torchrun's WORLD_SIZE/RANK"};

/* torchrun (and PyTorch's env:// convention) gives WORLD_SIZE, RANK and MASTER_ADDR/PORT. */
static int torchrun_env(void) {
    return getenv("WORLD_SIZE") && getenv("RANK") && getenv("MASTER_ADDR") && getenv("MASTER_PORT");
}

/* The rendezvous: WATTSCALE_RENDEZVOUS, else tcp://MASTER_ADDR:MASTER_PORT. torchrun's
 * agent serves its own store on MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True): then rank 0
 * listens on the port after it. 0 when neither is set. */
static int rendezvous_from_env(char *buf, size_t size) {
    const char *r = getenv("WATTSCALE_RENDEZVOUS");
    if (r && *r) {
        snprintf(buf, size, "%s", r);
        return 1;
    }
    const char *addr = getenv("MASTER_ADDR"), *port = getenv("MASTER_PORT");
    if (!addr || !*addr || !port || !*port) return 0;
    const char *agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
    long p = strtol(port, NULL, 10);
    if (agent && !strcmp(agent, "True") && p > 0 && p < 65535) p++;
    else p = p > 0 ? p : 0;
    snprintf(buf, size, strchr(addr, ':') ? "tcp://[%s]:%ld" : "tcp://%s:%ld", addr, p);
    return 1;
}

/* Size, rank and local rank/size under `names` (rank_name/local_name may point elsewhere:
 * a launcher's variables). size from `size_override` when > 0. */
static ws_status read_world_env(const env_names *n, int size_override, wsi_tcp_conf *c, ws_error *err) {
    int size = size_override > 0 ? size_override : env_int(n->size, 0);
    int rank = env_int(n->rank, 1), local = getenv(n->local_rank) ? env_int(n->local_rank, 1) : -1;
    int local_size = getenv(n->local_size) ? env_int(n->local_size, 0) : -1;
    if (size < 0 || (size == 0 && size_override <= 0))
        return wsi_error(err, WS_EINVAL, "%s=%s: not a positive integer", n->size, getenv(n->size));
    if (rank < 0 || rank >= size)
        return wsi_error(err, WS_EINVAL, "%s=%s: not in 0..%d (%s=%d)", n->rank, getenv(n->rank) ? getenv(n->rank) : "",
                         size - 1, n->size, size);
    if (getenv(n->local_rank) && (local < 0 || local >= size))
        return wsi_error(err, WS_EINVAL, "%s=%s: not in 0..%d (%s=%d)", n->local_rank, getenv(n->local_rank), size - 1,
                         n->size, size);
    if (getenv(n->local_size) && (local_size < 1 || local_size > size))
        return wsi_error(err, WS_EINVAL, "%s=%s: not in 1..%d (%s=%d)", n->local_size, getenv(n->local_size), size,
                         n->size, size);
    c->size = size;
    c->rank = rank;
    c->local_rank = local;
    c->local_size = local_size;
    c->source = n->source;
    return WS_OK;
}

/* The rest of a tcp world's configuration: rendezvous, node id, timeouts. */
static ws_status read_tcp_env(const ws_world *w, wsi_tcp_conf *c, ws_error *err) {
    if (!rendezvous_from_env(c->rendezvous, sizeof c->rendezvous))
        return wsi_error(err, WS_EINVAL,
                         "%s gives a world of %d ranks, but no rendezvous: set WATTSCALE_RENDEZVOUS=tcp://HOST:PORT "
                         "(HOST: rank 0's machine, which listens on PORT) or file:///PATH (a file on a file system "
                         "all ranks share) on every rank%s",
                         c->source, c->size,
                         WS_HAVE_MPI ? ", or start the ranks with mpirun/srun (this build has MPI) without it" : "");
    const char *node = getenv("WATTSCALE_NODE_ID");
    snprintf(c->node_id, sizeof c->node_id, "%s", node && *node ? node : w->host);
    snprintf(c->host, sizeof c->host, "%s", w->host);
    const char *adv = getenv("WATTSCALE_RENDEZVOUS_HOST");
    snprintf(c->advertise, sizeof c->advertise, "%s", adv ? adv : "");
    c->rendezvous_timeout_s = env_seconds("WATTSCALE_RENDEZVOUS_TIMEOUT", 300, 1);
    c->collective_timeout_s = env_seconds("WATTSCALE_COLLECTIVE_TIMEOUT", 0, 0);
    if (c->rendezvous_timeout_s < 0)
        return wsi_error(err, WS_EINVAL, "WATTSCALE_RENDEZVOUS_TIMEOUT=%s: not a positive number of seconds",
                         getenv("WATTSCALE_RENDEZVOUS_TIMEOUT"));
    if (c->collective_timeout_s < 0)
        return wsi_error(err, WS_EINVAL, "WATTSCALE_COLLECTIVE_TIMEOUT=%s: not a number of seconds (0: none)",
                         getenv("WATTSCALE_COLLECTIVE_TIMEOUT"));
    return WS_OK;
}

/* ws_fatal's last words in a tcp world: tell the other ranks, so none waits forever. */
static ws_world *tcp_hook_world;
static void tcp_fatal_hook(void) {
    if (tcp_hook_world && tcp_hook_world->tcp)
        wsi_tcp_abort(tcp_hook_world->tcp, FATAL_EXIT_CODE, "a fatal error (ws_fatal; its log says which)");
}

static ws_status open_tcp(ws_world *w, const wsi_tcp_conf *c, ws_error *err) {
    wsi_tcp_place p;
    ws_status st = wsi_tcp_open(&w->tcp, c, &p, err);
    if (st != WS_OK) return st;
    w->backend = "tcp";
    w->rank = c->rank;
    w->size = c->size;
    w->local_rank = p.local_rank;
    w->local_size = p.local_size;
    w->node = p.node;
    w->nodes = p.nodes;
    tcp_hook_world = w;
    ws_set_fatal_hook(tcp_fatal_hook);
    w->hook_installed = 1;
    ws_log_set_rank(w->rank);
    return WS_OK;
}

/* Without MPI: the world from WATTSCALE_*, torchrun's variables or, for several ranks a
 * launcher started (launched > 1, `which` its variable), the launcher's ranks; size 1 is a
 * single world, more the tcp backend. */
static ws_status open_env(ws_world *w, int launched, const char *which, ws_error *err) {
    wsi_tcp_conf c;
    memset(&c, 0, sizeof c);
    ws_status st;
    if (getenv("WATTSCALE_WORLD_SIZE")) {
        st = read_world_env(&wattscale_names, 0, &c, err);
    } else if (torchrun_env()) {
        st = read_world_env(&torchrun_names, 0, &c, err);
    } else if (launched > 1) {
        char rdzv[8];
        if (!rendezvous_from_env(rdzv, sizeof rdzv))
            return wsi_error(err, WS_ENOTSUP,
                             "launched as %d ranks (%s=%d) but this build lacks MPI, so every rank would train "
                             "alone; install MPI (apt-get install libopenmpi-dev openmpi-bin) and rebuild with "
                             "-DWS_WITH_MPI=ON, or set WATTSCALE_RENDEZVOUS=tcp://HOST:PORT (or file:///PATH) to join "
                             "the ranks over TCP, or run one process",
                             launched, which, launched);
        /* the launcher's own names for rank and local rank */
        env_names n = {which, "SLURM_PROCID", "SLURM_LOCALID", "WATTSCALE_LOCAL_SIZE", "the launcher's ranks"};
        if (getenv("OMPI_COMM_WORLD_RANK")) n.rank = "OMPI_COMM_WORLD_RANK", n.local_rank = "OMPI_COMM_WORLD_LOCAL_RANK";
        else if (getenv("PMI_RANK")) n.rank = "PMI_RANK", n.local_rank = "MPI_LOCALRANKID";
        else if (getenv("PMIX_RANK")) n.rank = "PMIX_RANK", n.local_rank = "WATTSCALE_LOCAL_RANK";
        st = read_world_env(&n, launched, &c, err);
    } else {
        return WS_OK;
    }
    if (st != WS_OK || c.size == 1) return st;
    if ((st = read_tcp_env(w, &c, err)) != WS_OK) return st;
    return open_tcp(w, &c, err);
}

#if WS_HAVE_MPI
/* ws_fatal's last words: end every rank, so that none waits forever in a collective. */
static void fatal_hook(void) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, FATAL_EXIT_CODE);
}

static ws_status open_mpi(ws_world *w, ws_error *err) {
    int init = 0, rc;
    w->comm = MPI_COMM_NULL; /* not 0 in every MPI: close_mpi compares with it */
    MPI_Initialized(&init);
    if (!init) {
        int provided = MPI_THREAD_SINGLE;
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Init_thread(MPI_THREAD_FUNNELED)");
        w->mpi_initialised = 1;
        if (provided < MPI_THREAD_FUNNELED)
            ws_log(WS_LOG_WARN, "MPI provides thread level %d < MPI_THREAD_FUNNELED; OpenMP threads must not "
                                "call MPI (they do not)", provided);
        /* Ours to configure: errors come back as codes with MPI's text in our messages. */
        rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Comm_set_errhandler(MPI_COMM_WORLD)");
    }
    w->mpi = 1;
    w->backend = "mpi";
    w->comm = MPI_COMM_NULL;
    /* A duplicate keeps our collectives apart from any the caller runs on MPI_COMM_WORLD. */
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &w->comm);
    if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Comm_dup(MPI_COMM_WORLD)");
    rc = MPI_Comm_set_errhandler(w->comm, MPI_ERRORS_RETURN);
    if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Comm_set_errhandler");
    if ((rc = MPI_Comm_rank(w->comm, &w->rank)) != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Comm_rank");
    if ((rc = MPI_Comm_size(w->comm, &w->size)) != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Comm_size");

    /* The node's ranks, ordered by global rank: local rank 0 is the node's lowest rank. */
    MPI_Comm local = MPI_COMM_NULL, leaders = MPI_COMM_NULL;
    rc = MPI_Comm_split_type(w->comm, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &local);
    if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)");
    ws_status st = WS_OK;
    if ((rc = MPI_Comm_rank(local, &w->local_rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(local, &w->local_size)) != MPI_SUCCESS) {
        st = wsi_world_mpi_error(err, rc, "MPI_Comm_rank/size(node communicator)");
        goto out;
    }
    /* The nodes' lowest ranks, ordered by global rank: a leader's rank here is its node's
     * index, which its node then learns by broadcast. */
    rc = MPI_Comm_split(w->comm, w->local_rank == 0 ? 0 : MPI_UNDEFINED, w->rank, &leaders);
    if (rc != MPI_SUCCESS) {
        st = wsi_world_mpi_error(err, rc, "MPI_Comm_split(node leaders)");
        goto out;
    }
    int node_nodes[2] = {0, 1};
    if (w->local_rank == 0 && ((rc = MPI_Comm_rank(leaders, &node_nodes[0])) != MPI_SUCCESS ||
                               (rc = MPI_Comm_size(leaders, &node_nodes[1])) != MPI_SUCCESS)) {
        st = wsi_world_mpi_error(err, rc, "MPI_Comm_rank/size(node leaders)");
        goto out;
    }
    rc = MPI_Bcast(node_nodes, 2, MPI_INT, 0, local);
    if (rc != MPI_SUCCESS) {
        st = wsi_world_mpi_error(err, rc, "MPI_Bcast(node index)");
        goto out;
    }
    w->node = node_nodes[0];
    w->nodes = node_nodes[1];
out:
    if (leaders != MPI_COMM_NULL) MPI_Comm_free(&leaders);
    if (local != MPI_COMM_NULL) MPI_Comm_free(&local);
    return st;
}

/* Undoes open_mpi; finalize 0 after a failed open: the other ranks may be inside a
 * bootstrap collective, so MPI_Finalize could wait forever, while a process that exits
 * without it makes mpirun end the job. */
static void close_mpi(ws_world *w, int finalize) {
    if (w->comm != MPI_COMM_NULL) MPI_Comm_free(&w->comm);
    int fin = 0;
    MPI_Finalized(&fin);
    if (finalize && w->mpi_initialised && !fin) MPI_Finalize();
}
#endif

ws_status ws_world_open(ws_world **out, ws_error *err) {
    *out = NULL;
    ws_world *w = world_new();
    if (!w) return wsi_error(err, WS_ENOMEM, "ws_world_open: out of memory");
    const char *which = NULL;
    int launched = launcher_size(&which);
    int mpi_init = 0;
#if WS_HAVE_MPI
    MPI_Initialized(&mpi_init);
#endif
    ws_status st = WS_OK;
    (void)mpi_init;
#if WS_HAVE_MPI
    if (launched || mpi_init) {
        st = open_mpi(w, err);
        if (st != WS_OK) {
            close_mpi(w, 0);
            world_free(w);
            return st;
        }
        int env_size = env_int("WATTSCALE_WORLD_SIZE", 0);
        if (env_size != 0 && env_size != w->size)
            ws_log(WS_LOG_WARN, "WATTSCALE_WORLD_SIZE=%s ignored: the launcher started %d ranks",
                   getenv("WATTSCALE_WORLD_SIZE"), w->size);
        ws_set_fatal_hook(fatal_hook);
        w->hook_installed = 1;
        if (w->size > 1) ws_log_set_rank(w->rank);
    } else
#endif
    {
        st = open_env(w, launched, which, err);
        if (st != WS_OK) {
            world_free(w);
            return st;
        }
    }
    ws_log(WS_LOG_DEBUG, "world: rank %d of %d (%s), local rank %d of %d, node %d of %d, host %s", w->rank, w->size,
           w->backend, w->local_rank, w->local_size, w->node, w->nodes, w->host);
    *out = w;
    return WS_OK;
}

int ws_world_rank(const ws_world *w) { return w->rank; }
int ws_world_size(const ws_world *w) { return w->size; }
int ws_world_local_rank(const ws_world *w) { return w->local_rank; }
int ws_world_local_size(const ws_world *w) { return w->local_size; }
int ws_world_node(const ws_world *w) { return w->node; }
int ws_world_nodes(const ws_world *w) { return w->nodes; }
const char *ws_world_host(const ws_world *w) { return w->host; }
const char *ws_world_backend(const ws_world *w) { return w->backend; }

void *wsi_world_mpi_comm(ws_world *w) {
#if WS_HAVE_MPI
    if (w->mpi) return &w->comm;
#endif
    (void)w;
    return NULL;
}

void *wsi_world_tcp(ws_world *w) { return w->tcp; }

void wsi_world_enter(ws_world *w, const char *call) { atomic_store(&w->in_call, call); }
void wsi_world_leave(ws_world *w) { atomic_store(&w->in_call, NULL); }

/* ------------------------------------------------------------------ collectives */

ws_status ws_world_barrier(ws_world *w, ws_error *err) {
    if (w->tcp) {
        wsi_world_enter(w, "ws_world_barrier");
        ws_status st = wsi_tcp_barrier(w->tcp, err);
        wsi_world_leave(w);
        return st;
    }
#if WS_HAVE_MPI
    if (w->mpi) {
        wsi_world_enter(w, "ws_world_barrier");
        int rc = MPI_Barrier(w->comm);
        wsi_world_leave(w);
        if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Barrier");
    }
#endif
    (void)w;
    (void)err;
    return WS_OK;
}

#if WS_HAVE_MPI
static ws_status allreduce_f64(ws_world *w, double *buf, size_t n, MPI_Op op, const char *call, ws_error *err) {
    wsi_world_enter(w, call);
    for (size_t i = 0; i < n; i += CHUNK_ELEMS) {
        size_t c = n - i < CHUNK_ELEMS ? n - i : CHUNK_ELEMS;
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + i, (int)c, MPI_DOUBLE, op, w->comm);
        if (rc != MPI_SUCCESS) {
            wsi_world_leave(w);
            return wsi_world_mpi_error(err, rc, "MPI_Allreduce(%zu doubles) in %s", c, call);
        }
    }
    wsi_world_leave(w);
    return WS_OK;
}
#endif

/* The tcp branch of the three all-reduces. */
static ws_status tcp_allreduce(ws_world *w, double *buf, size_t n, int op, const char *call, ws_error *err) {
    wsi_world_enter(w, call);
    ws_status st = wsi_tcp_allreduce_f64(w->tcp, buf, n, op, call, err);
    wsi_world_leave(w);
    return st;
}

ws_status ws_world_allreduce_sum_f64(ws_world *w, double *buf, size_t n, ws_error *err) {
    if (w->tcp) return tcp_allreduce(w, buf, n, WSI_TCP_SUM, "ws_world_allreduce_sum_f64", err);
#if WS_HAVE_MPI
    if (w->mpi) return allreduce_f64(w, buf, n, MPI_SUM, "ws_world_allreduce_sum_f64", err);
#endif
    (void)w, (void)buf, (void)n, (void)err;
    return WS_OK;
}

ws_status ws_world_allreduce_max_f64(ws_world *w, double *buf, size_t n, ws_error *err) {
    if (w->tcp) return tcp_allreduce(w, buf, n, WSI_TCP_MAX, "ws_world_allreduce_max_f64", err);
#if WS_HAVE_MPI
    if (w->mpi) return allreduce_f64(w, buf, n, MPI_MAX, "ws_world_allreduce_max_f64", err);
#endif
    (void)w, (void)buf, (void)n, (void)err;
    return WS_OK;
}

ws_status ws_world_allreduce_min_f64(ws_world *w, double *buf, size_t n, ws_error *err) {
    if (w->tcp) return tcp_allreduce(w, buf, n, WSI_TCP_MIN, "ws_world_allreduce_min_f64", err);
#if WS_HAVE_MPI
    if (w->mpi) return allreduce_f64(w, buf, n, MPI_MIN, "ws_world_allreduce_min_f64", err);
#endif
    (void)w, (void)buf, (void)n, (void)err;
    return WS_OK;
}

ws_status ws_world_bcast_bytes(ws_world *w, void *buf, size_t n, int root, ws_error *err) {
    if (root < 0 || root >= w->size)
        return wsi_error(err, WS_EINVAL, "ws_world_bcast_bytes: root %d not in 0..%d", root, w->size - 1);
    if (w->tcp) {
        wsi_world_enter(w, "ws_world_bcast_bytes");
        ws_status st = wsi_tcp_bcast(w->tcp, buf, n, root, err);
        wsi_world_leave(w);
        return st;
    }
#if WS_HAVE_MPI
    if (w->mpi) {
        wsi_world_enter(w, "ws_world_bcast_bytes");
        for (size_t i = 0; i < n; i += CHUNK_ELEMS) {
            size_t c = n - i < CHUNK_ELEMS ? n - i : CHUNK_ELEMS;
            int rc = MPI_Bcast((char *)buf + i, (int)c, MPI_BYTE, root, w->comm);
            if (rc != MPI_SUCCESS) {
                wsi_world_leave(w);
                return wsi_world_mpi_error(err, rc, "MPI_Bcast(%zu bytes, root %d)", c, root);
            }
        }
        wsi_world_leave(w);
    }
#endif
    (void)buf, (void)n;
    return WS_OK;
}

/* The two gathers: count elements of doubles (f64) or bytes per rank to root, one code
 * path so that their checks and backends cannot drift apart. MPI_DOUBLE rather than bytes
 * for doubles keeps MPI's count limit in elements, as world.h promises. */
static ws_status gather(ws_world *w, const void *in, size_t count, int f64, void *out, int root, const char *call,
                        ws_error *err) {
    size_t bytes = count * (f64 ? sizeof(double) : 1);
    if (root < 0 || root >= w->size)
        return wsi_error(err, WS_EINVAL, "%s: root %d not in 0..%d", call, root, w->size - 1);
    if (count > (size_t)INT_MAX)
        return wsi_error(err, WS_EINVAL, "%s: %zu %s per rank exceed MPI's int count", call, count,
                         f64 ? "doubles" : "bytes");
    if (w->rank == root && count > 0 && !out) return wsi_error(err, WS_EINVAL, "%s: out is NULL on root", call);
    if (w->tcp) {
        wsi_world_enter(w, call);
        ws_status st = wsi_tcp_gather(w->tcp, in, bytes, out, root, f64 ? WSI_TCP_GATHER_F64 : WSI_TCP_GATHER_BYTES,
                                      err);
        wsi_world_leave(w);
        return st;
    }
#if WS_HAVE_MPI
    if (w->mpi) {
        MPI_Datatype type = f64 ? MPI_DOUBLE : MPI_BYTE;
        wsi_world_enter(w, call);
        int rc = MPI_Gather(in, (int)count, type, out, (int)count, type, root, w->comm);
        wsi_world_leave(w);
        if (rc != MPI_SUCCESS)
            return wsi_world_mpi_error(err, rc, "MPI_Gather(%zu %s, root %d) in %s", count, f64 ? "doubles" : "bytes",
                                       root, call);
        return WS_OK;
    }
#endif
    if (bytes > 0 && out != in) memmove(out, in, bytes);
    return WS_OK;
}

ws_status ws_world_gather_f64(ws_world *w, const double *in, size_t n, double *out, int root, ws_error *err) {
    return gather(w, in, n, 1, out, root, "ws_world_gather_f64", err);
}

ws_status ws_world_gather_bytes(ws_world *w, const void *in, size_t len, void *out, int root, ws_error *err) {
    return gather(w, in, len, 0, out, root, "ws_world_gather_bytes", err);
}

ws_status ws_world_allgather_bytes(ws_world *w, const void *in, size_t len, void *out, ws_error *err) {
    if (len > (size_t)INT_MAX)
        return wsi_error(err, WS_EINVAL, "ws_world_allgather_bytes: %zu bytes per rank exceed MPI's int count", len);
    if (w->tcp) {
        wsi_world_enter(w, "ws_world_allgather_bytes");
        ws_status st = wsi_tcp_allgather(w->tcp, in, len, out, err);
        wsi_world_leave(w);
        return st;
    }
#if WS_HAVE_MPI
    if (w->mpi) {
        wsi_world_enter(w, "ws_world_allgather_bytes");
        int rc = MPI_Allgather(in, (int)len, MPI_BYTE, out, (int)len, MPI_BYTE, w->comm);
        wsi_world_leave(w);
        if (rc != MPI_SUCCESS) return wsi_world_mpi_error(err, rc, "MPI_Allgather(%zu bytes)", len);
        return WS_OK;
    }
#endif
    (void)w, (void)err;
    if (len > 0 && out != in) memmove(out, in, len);
    return WS_OK;
}

/* ------------------------------------------------------------------ ending */

/* No return, from any thread. alarm first: should MPI_Abort itself hang (a wedged
 * runtime), SIGALRM's default action still ends this process, and mpirun then the rest. */
static void abort_job(ws_world *w, int code) __attribute__((noreturn));
static void abort_job(ws_world *w, int code) {
    if (w && w->tcp) wsi_tcp_abort(w->tcp, code, NULL);
    fflush(NULL);
#if WS_HAVE_MPI
    int fin = 0;
    MPI_Finalized(&fin);
    if (w && w->mpi && !fin) {
        signal(SIGALRM, SIG_DFL);
        alarm(10);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    (void)w;
    _exit(code);
}

void ws_world_abort(ws_world *w, int code) {
    if (w && w->tcp) wsi_tcp_abort(w->tcp, code, NULL);
#if WS_HAVE_MPI
    if (w && w->mpi) abort_job(w, code);
#endif
    (void)w;
    exit(code);
}

/* ------------------------------------------------------------------ watchdog */

void ws_world_heartbeat(ws_world *w) { atomic_store(&w->beat_ns, (long long)(ws_now_s() * 1e9)); }

static void *watchdog_main(void *arg) {
    ws_world *w = arg;
    pthread_mutex_lock(&w->mu);
    double limit_s = w->watchdog_s;
    /* Wakes a few times per limit: a stall is seen at most a quarter-limit late. */
    double period_s = fmin(1.0, limit_s / 4);
    /* A rank waiting in a collective gives a stuck peer's own watchdog (which fires about as
     * early) the time to abort first, so the log names the rank that stalled. */
    double grace_s = fmin(10.0, limit_s / 2), abort_at = 0;
    while (!w->watchdog_stop) {
        double wake = ws_now_s() + period_s;
        struct timespec ts;
        ts.tv_sec = (time_t)wake;
        ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->watchdog_stop) break;
        double now = ws_now_s(), idle_s = now - 1e-9 * (double)atomic_load(&w->beat_ns);
        if (idle_s < limit_s) {
            if (abort_at > 0) ws_log(WS_LOG_WARN, "watchdog: heartbeat again after %.1f s; not aborting", idle_s);
            abort_at = 0;
            continue;
        }
        const char *call = atomic_load(&w->in_call);
        if (call && abort_at == 0) {
            abort_at = now + grace_s;
            ws_log(WS_LOG_WARN,
                   "watchdog: rank %d of %d on %s: no heartbeat for %.1f s (limit %.1f s), inside %s waiting for "
                   "other ranks; aborting the job in %.1f s unless they arrive",
                   w->rank, w->size, w->host, idle_s, limit_s, call, grace_s);
            continue;
        }
        if (call && now < abort_at) continue;
        char where[160];
        if (call)
            snprintf(where, sizeof where, "inside %s, waiting for other ranks (one of them stalled or died)", call);
        else
            snprintf(where, sizeof where, "outside any collective (this rank itself is stuck)");
        ws_log(WS_LOG_ERROR,
               "watchdog: rank %d of %d on %s: no heartbeat for %.1f s (limit %.1f s), %s; aborting the job "
               "with exit code %d",
               w->rank, w->size, w->host, idle_s, limit_s, where, WATCHDOG_EXIT_CODE);
        abort_job(w, WATCHDOG_EXIT_CODE);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watchdog_stop(ws_world *w) {
    if (!w->watchdog_running) return;
    pthread_mutex_lock(&w->mu);
    w->watchdog_stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->watchdog, NULL);
    w->watchdog_running = 0;
}

void ws_world_set_watchdog(ws_world *w, double seconds) {
    watchdog_stop(w);
    if (!(seconds > 0)) return;
    ws_world_heartbeat(w);
    w->watchdog_s = seconds;
    w->watchdog_stop = 0;
    int rc = pthread_create(&w->watchdog, NULL, watchdog_main, w);
    if (rc != 0) {
        /* Not fatal: the run goes on, only without the guard against hangs. */
        ws_log(WS_LOG_WARN, "watchdog not started: pthread_create: %s", strerror(rc));
        return;
    }
    w->watchdog_running = 1;
}

/* ------------------------------------------------------------------ close */

void ws_world_close(ws_world *w) {
    if (!w) return;
    watchdog_stop(w);
    if (w->hook_installed) ws_set_fatal_hook(NULL);
    if (w->tcp) {
        wsi_tcp_close(w->tcp);
        w->tcp = NULL;
        tcp_hook_world = NULL;
    }
#if WS_HAVE_MPI
    if (w->mpi) close_mpi(w, 1);
#endif
    world_free(w);
}

int ws_world_end(ws_world *w, int code) {
    if (w && code != 0 && w->size > 1) {
        ws_log(WS_LOG_ERROR, "rank %d ends with exit code %d: aborting every rank", w->rank, code);
        ws_world_abort(w, code);
    }
    ws_world_close(w);
    return code;
}
