/* dist/tcp.h - the "tcp" world backend: ranks started without MPI (by hand, a script,
 * torchrun, or srun in a build without MPI), joined by a rendezvous into a star of TCP
 * connections: every rank r > 0 holds one connection to rank 0.
 * defines: wsi_tcp (opaque), wsi_tcp_conf, wsi_tcp_place, wsi_tcp_open/close/abort, the
 * collectives world.c maps onto (barrier, allreduce, bcast, gather, allgather), and
 * wsi_tcp_reducer, the non-blocking float sum grad_sync.c overlaps with backward.
 * Implementation: dist/tcp.c (frames, the progress engine, collectives, abort, the hang-up
 * watcher); dist/tcp_rendezvous.c (addresses, listening and connecting, the handshake).
 *
 * Why a star: these collectives carry metrics, set-up (an NCCL id, the initial weights)
 * and, on the CPU backend, gradients of small worlds. Through rank 0 every operation is
 * one round trip, the reduction order is fixed (rank 0 sums r0 + r1 + ... in rank order
 * and sends the same bits to all), and a dead peer is seen by rank 0 at once. Its cost is
 * rank 0's link carrying 2 (size-1) x the payload: fine on one node or for a few ranks;
 * large CPU worlds should use MPI.
 *
 * Frames: a 24-byte header (magic, kind, class, op, sequence, aux, length; host byte
 * order, checked at the handshake) and the payload. Each world collective has a sequence
 * number, each reducer operation another, so a rank that calls collectives in another
 * order than its peers gets an error naming both calls instead of garbage.
 *
 * Failures (world.h's policy, without mpirun to tear the job down):
 *  - a peer that dies or closes its socket: the collective in progress (or the next one)
 *    fails naming that rank; outside collectives, a watcher thread sees the hang-up and
 *    ends this process (exit 1), rank 0 first telling every other rank why;
 *  - wsi_tcp_abort(code): sends an ABORT frame (code, origin rank, reason) to rank 0, or
 *    from rank 0 to every rank; whoever receives one relays it (rank 0) and exits with its
 *    code, so the whole job ends with the aborting rank's code within about a second;
 *  - a peer host that vanishes (no FIN, no RST): TCP keep-alive and TCP_USER_TIMEOUT turn
 *    it into a socket error within about 30 s;
 *  - a peer that hangs: world.h's watchdog on the hanging rank (or, after its grace, on
 *    the waiting ones) aborts; an optional collective timeout
 *    (WATTSCALE_COLLECTIVE_TIMEOUT) makes a collective fail by itself.
 * Threads: all calls but wsi_tcp_abort belong to one thread (world.h's rule); wsi_tcp_abort
 * may come from any thread (the watchdog's). */
#ifndef WS_DIST_TCP_H
#define WS_DIST_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

typedef struct wsi_tcp wsi_tcp;

typedef struct {
    int size, rank;                /* size >= 2 */
    int local_rank, local_size;    /* -1: derived from the node ids at the rendezvous */
    char rendezvous[1024];         /* tcp://HOST:PORT (rank 0 listens) or file:///PATH */
    char node_id[256];             /* ranks with equal ids share a node; default hostname */
    char host[256];                /* this rank's hostname, for messages */
    char advertise[256];           /* file://: the address rank 0 writes; "" = its first
                                      non-loopback IPv4 address, else 127.0.0.1 */
    const char *source;            /* the variables that made the world, for messages */
    double rendezvous_timeout_s;   /* > 0 */
    double collective_timeout_s;   /* 0: none (the watchdog bounds hangs) */
} wsi_tcp_conf;

/* Where the rendezvous placed this rank. */
typedef struct {
    int node, nodes, local_rank, local_size;
} wsi_tcp_place;

/* Collective. Joins the world (rendezvous, handshake, node assignment), starts the
 * watcher. On failure *out is NULL and every connection is closed. */
ws_status wsi_tcp_open(wsi_tcp **out, const wsi_tcp_conf *c, wsi_tcp_place *place, ws_error *err);
/* Collective goodbye, then closes; a peer that died meanwhile is logged, not fatal.
 * NULL is a no-op. */
void wsi_tcp_close(wsi_tcp *t);
/* Ends the job from any thread: tells the other ranks (reason: `why`, or NULL for the
 * last error this world returned), then _exit(code). */
void wsi_tcp_abort(wsi_tcp *t, int code, const char *why) __attribute__((noreturn));

enum { WSI_TCP_SUM, WSI_TCP_MAX, WSI_TCP_MIN };
/* The semantics of world.h's collectives; `call` names the public function in messages. */
ws_status wsi_tcp_barrier(wsi_tcp *t, ws_error *err);
ws_status wsi_tcp_allreduce_f64(wsi_tcp *t, double *buf, size_t n, int op, const char *call, ws_error *err);
ws_status wsi_tcp_bcast(wsi_tcp *t, void *buf, size_t n, int root, ws_error *err);
/* len bytes per rank to root's out[r*len..] (out: root only, may be NULL elsewhere). Rank 0
 * collects them and, for another root, sends the size x len bytes on, so a gather costs
 * O(size x len) on every link (an allgather O(size x size x len) on rank 0's). `kind` names
 * the public gather in frames and messages (a rank in the other one is an error). */
enum { WSI_TCP_GATHER_F64, WSI_TCP_GATHER_BYTES };
ws_status wsi_tcp_gather(wsi_tcp *t, const void *in, size_t len, void *out, int root, int kind, ws_error *err);
ws_status wsi_tcp_allgather(wsi_tcp *t, const void *in, size_t len, void *out, ws_error *err);

/* ---- non-blocking sums of float buffers (gradient buckets) ----
 * A round: start(buf_i) for i = 0.., each buffer summed in place over all ranks (rank 0
 * adds the others' copies in rank order); progress moves bytes without blocking; wait
 * completes the round. Every rank starts the same buffers' sizes in the same order. A
 * buffer belongs to the reducer from start until wait returns. Rank 0 holds (size-1) x
 * max_floats floats of staging, allocated at open. */
typedef struct wsi_tcp_reducer wsi_tcp_reducer;
ws_status wsi_tcp_reducer_open(wsi_tcp_reducer **out, wsi_tcp *t, size_t max_ops, size_t max_floats, ws_error *err);
ws_status wsi_tcp_reducer_start(wsi_tcp_reducer *r, float *buf, size_t n, ws_error *err);
ws_status wsi_tcp_reducer_progress(wsi_tcp_reducer *r, ws_error *err);
ws_status wsi_tcp_reducer_wait(wsi_tcp_reducer *r, ws_error *err);
/* Withdraws what is still in flight (the world is unusable afterwards if bytes of it had
 * moved); NULL is a no-op. */
void wsi_tcp_reducer_close(wsi_tcp_reducer *r);

/* ---- between tcp.c and tcp_rendezvous.c ----
 * Connects the world: on rank 0 fds[1..size-1] become the peers' sockets (fds[0] = -1), on
 * a peer fds[0] is rank 0's (the rest -1); blocking sockets. fds has size entries. */
ws_status wsi_tcp_rendezvous(const wsi_tcp_conf *c, int *fds, wsi_tcp_place *place, ws_error *err);
/* Keep-alive, no Nagle, user timeout: the options every world socket gets. */
void wsi_tcp_socket_options(int fd);

#endif
