/* dist/world.h - the data-parallel world: who am I, how many are we, and the few
 * collectives the trainer needs for metrics and set-up (not for gradients: dist/grad_sync.h).
 * defines: ws_world (opaque), ws_world_open/close/end/abort, the rank and node queries,
 * barrier, allreduce (sum, max, min), bcast, gather (doubles, bytes), allgather, the watchdog
 * and heartbeat.
 * Implementation: dist/world.c (MPI when the build has it and a launcher started us; TCP
 * between processes started otherwise: dist/tcp.h; a single process otherwise).
 *
 * Backends: "mpi" (launched by mpirun or srun, built with MPI), "tcp" (several processes
 * given their ranks by environment variables and joined by a rendezvous; collectives go
 * through rank 0: dist/tcp.h) or "single" (one process; every collective is a local copy
 * or nothing). mpi.h stays out of this header: the few files that talk MPI themselves
 * (grad_sync.c) ask for the communicator with wsi_world_mpi_comm, and for the tcp
 * backend with wsi_world_tcp.
 *
 * Threads: all calls but ws_world_heartbeat, the queries and ws_world_abort belong to the
 * thread that opened the world (MPI_THREAD_FUNNELED). ws_world_heartbeat may be called
 * from any thread.
 *
 * Failure policy: a collective returns WS_ELIBRARY with the MPI call and MPI_Error_string's
 * text in err (tcp: what happened and the rank it happened with, e.g. "rank 2 closed its
 * connection"). A rank that fails alone must not call ws_world_close (MPI_Finalize, or the
 * tcp goodbye, would wait for peers that are waiting for it): end with ws_world_end(w,
 * code), which aborts the whole job when code != 0 and the world has several ranks. In a
 * tcp world a rank also ends by itself (exit 1, naming the rank) when a peer's connection
 * hangs up while it computes, and with the aborting rank's code when another rank aborts. */
#ifndef WS_DIST_WORLD_H
#define WS_DIST_WORLD_H

#include <stddef.h>

#include "wattscale/status.h"

typedef struct ws_world ws_world;

/* Bootstrap, in this order of precedence:
 *  1. built with MPI and launched by mpirun/srun (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK,
 *     SLURM_PROCID with SLURM_NTASKS in the environment) or MPI already initialised by the
 *     caller: MPI_Init_thread(MPI_THREAD_FUNNELED) unless initialised, a private duplicate
 *     of MPI_COMM_WORLD with MPI_ERRORS_RETURN; local rank and size from
 *     MPI_Comm_split_type(MPI_COMM_TYPE_SHARED); nodes numbered 0..nodes-1 in the order of
 *     their lowest global rank. Installs a fatal hook (ws_fatal -> MPI_Abort) and, when
 *     size > 1, the rank prefix of log lines. WATTSCALE_WORLD_SIZE is then ignored.
 *  2. WATTSCALE_WORLD_SIZE, WATTSCALE_RANK (required), WATTSCALE_LOCAL_RANK and
 *     WATTSCALE_LOCAL_SIZE (optional: derived from the node ids): size 1 gives a single
 *     world, larger ones the tcp backend.
 *  3. torchrun's (PyTorch env://) WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, when
 *     MASTER_ADDR and MASTER_PORT are set too: the same, rendezvous tcp://MASTER_ADDR:
 *     MASTER_PORT (MASTER_PORT + 1 under torchrun's agent store, which holds MASTER_PORT).
 *  4. built without MPI and launched as several ranks: with a rendezvous given, the tcp
 *     backend with the launcher's rank (OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK,
 *     SLURM_PROCID) and local rank (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID,
 *     SLURM_LOCALID); without one WS_ENOTSUP (each process would otherwise train alone).
 *  5. otherwise a single-process world.
 * The tcp backend reads: WATTSCALE_RENDEZVOUS (tcp://HOST:PORT, rank 0 listening there, or
 * file:///PATH on a file system every rank sees; required, or torchrun's MASTER_ADDR/PORT),
 * WATTSCALE_RENDEZVOUS_TIMEOUT (s, default 300: how long rank 0 waits for the others and
 * they for it), WATTSCALE_RENDEZVOUS_HOST (file://: the address rank 0 writes, default its
 * first non-loopback IPv4 address), WATTSCALE_NODE_ID (ranks with equal ids share a node,
 * default the hostname; local ranks are numbered in rank order on each node unless given)
 * and WATTSCALE_COLLECTIVE_TIMEOUT (s, default 0: none, the watchdog bounds hangs). The
 * open is collective (the rendezvous). Malformed values: WS_EINVAL; a rendezvous that
 * fails (timeout, a duplicate rank, another world size): WS_EINVAL or WS_ELIBRARY naming
 * the ranks. On failure *out is NULL and nothing needs closing. */
ws_status ws_world_open(ws_world **out, ws_error *err);

/* Queries; cannot fail. Single world: 0, 1, 0, 1, 0, 1. */
int ws_world_rank(const ws_world *w);
int ws_world_size(const ws_world *w);
int ws_world_local_rank(const ws_world *w);  /* among the ranks on this node */
int ws_world_local_size(const ws_world *w);
int ws_world_node(const ws_world *w);        /* 0..nodes-1 */
int ws_world_nodes(const ws_world *w);
const char *ws_world_host(const ws_world *w);    /* this rank's hostname (gethostname) */
const char *ws_world_backend(const ws_world *w); /* "mpi", "tcp" or "single" */

ws_status ws_world_barrier(ws_world *w, ws_error *err);
/* In place, blocking, the same result on every rank; for metrics (losses, energy,
 * counts), not for gradients. */
ws_status ws_world_allreduce_sum_f64(ws_world *w, double *buf, size_t n, ws_error *err);
ws_status ws_world_allreduce_max_f64(ws_world *w, double *buf, size_t n, ws_error *err);
ws_status ws_world_allreduce_min_f64(ws_world *w, double *buf, size_t n, ws_error *err);
/* buf[0..n) of rank `root` to every rank (e.g. an NCCL unique id, a seed). */
ws_status ws_world_bcast_bytes(ws_world *w, void *buf, size_t n, int root, ws_error *err);
/* n doubles from every rank to root: out[r*n + i] = rank r's in[i]. out (size*n) is used
 * on root only and may be NULL elsewhere. */
ws_status ws_world_gather_f64(ws_world *w, const double *in, size_t n, double *out, int root, ws_error *err);
/* len bytes from every rank to root: out[r*len..] = rank r's in (records only one rank
 * writes: every node's GPU lists). out (size*len bytes) is used on root only and may be
 * NULL elsewhere; in and out must not overlap (MPI forbids it). Prefer it to the allgather
 * when only one rank needs the result: over tcp at most 2 x size x len bytes cross rank 0's
 * link, against size x size x len for the allgather. WS_EINVAL: root not a rank, len > INT_MAX (MPI's count), out
 * NULL on root. */
ws_status ws_world_gather_bytes(ws_world *w, const void *in, size_t len, void *out, int root, ws_error *err);
/* len bytes from every rank to every rank (hostnames, GPU UUIDs): out[r*len..] = rank r's
 * in; out has size*len bytes. */
ws_status ws_world_allgather_bytes(ws_world *w, const void *in, size_t len, void *out, ws_error *err);

/* Watchdog: a thread that, when ws_world_heartbeat was not called for `seconds`, logs this
 * rank, host, how long and where it stalled (inside a collective: waiting for peers;
 * outside: stuck itself), then aborts the whole job with exit code 3 (MPI_Abort; _exit in
 * a single world). Setting it (re)starts the clock; 0 disables. The trainer beats once per
 * step and per evaluation batch and sets the limit well above its slowest step (the first
 * steps, evaluation and checkpoints included). */
void ws_world_set_watchdog(ws_world *w, double seconds);
void ws_world_heartbeat(ws_world *w);

/* Ends the whole job now: MPI_Abort(code) in an MPI world; in a tcp world an ABORT to
 * every rank (relayed by rank 0; each exits with code), then _exit(code); else exit(code).
 * May be called from any thread. The watchdog
 * calls MPI_Abort from its own thread, which MPI_THREAD_FUNNELED does not strictly allow;
 * OpenMPI 4.1 copes (tests/dist/test_world_mpi.c, mode hang), and an alarm(10) armed first
 * ends the process should MPI_Abort ever hang, which mpirun then treats as a dead rank. */
void ws_world_abort(ws_world *w, int code) __attribute__((noreturn));

/* Stops the watchdog, removes the fatal hook, frees the communicators and calls
 * MPI_Finalize if ws_world_open called MPI_Init (tcp: a goodbye through rank 0, then the
 * sockets close). Collective: every rank must reach it.
 * NULL is a no-op. */
void ws_world_close(ws_world *w);

/* The way out of a program that has a world: code 0, or a single-process world: closes
 * and returns code (for `return ws_world_end(w, rc);` from main). code != 0 with several
 * ranks: the failure may be this rank's alone, so MPI_Abort(code) ends every rank instead
 * of leaving the others waiting in a collective; does not return. */
int ws_world_end(ws_world *w, int code);

/* ---- for the dist layer itself ---- */

/* A pointer to this world's MPI_Comm (the MPI_ERRORS_RETURN duplicate of MPI_COMM_WORLD);
 * NULL in a single world. void * keeps mpi.h out of this header. */
void *wsi_world_mpi_comm(ws_world *w);
/* This world's wsi_tcp (dist/tcp.h) in a tcp world; NULL otherwise. */
void *wsi_world_tcp(ws_world *w);
/* Names the blocking call this rank is in (a string literal), so the watchdog can say
 * whether a stalled rank waits for peers or is stuck itself; NULL when it leaves. */
void wsi_world_enter(ws_world *w, const char *call);
void wsi_world_leave(ws_world *w);
/* MPI's words for an MPI error code into err: "<call>: <MPI_Error_string>" (WS_ELIBRARY). */
ws_status wsi_world_mpi_error(ws_error *err, int mpi_rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
