/* bench/dist/allreduce_nccl.c - times NCCL all-reduce of fp32 buffers over message sizes and
 * GPU counts, and writes the timings `wattscale calibrate allreduce` fits the alpha-beta
 * model to ("wattscale.allreduce-timings/1"; analysis/allreduce.h).
 *
 *   ws_allreduce_nccl [--counts 2,4,8] [--min-bytes N] [--max-bytes N] [--iters K] [--reps R]
 *                     [--out FILE]
 * One process drives every GPU it sees (ncclCommInitAll), one set per GPU count in --counts
 * (default: 2, 4, ... up to all of them, and all of them): the GPUs of one node. Started by
 * mpirun with more than one rank (a build with MPI), one rank per GPU drives its local GPU,
 * and the one set covers every rank on every node: the inter-node figures.
 * Each point: K back-to-back in-place ncclAllReduce (sum) after a warm-up, R times; time_s is
 * the median of the R per-call times (the slowest rank's, with MPI), min_s/max_s the range.
 * NCCL_ALGO, NCCL_PROTO and NCCL_NVLS_ENABLE are recorded; NCCL_NVLS_ENABLE defaults to 0 here
 * (NVLink multicast stays off on the project's machines). */
#include <cuda_runtime.h>
#include <nccl.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if WS_BENCH_MPI
#include <mpi.h>
#endif

#define MAX_GPUS 64

static int rank = 0, world = 1;
#if WS_BENCH_MPI
static int mpi = 0; /* started by a launcher (mpirun, srun) */
#endif

static void die(const char *fmt, const char *what, const char *why) {
    fprintf(stderr, "ws_allreduce_nccl (rank %d): ", rank);
    fprintf(stderr, fmt, what, why);
    fprintf(stderr, "\n");
#if WS_BENCH_MPI
    if (world > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    exit(1);
}

static void cuda_ok(cudaError_t e, const char *what) {
    if (e != cudaSuccess) die("%s: %s", what, cudaGetErrorString(e));
}
static void nccl_ok(ncclResult_t r, const char *what) {
    if (r != ncclSuccess) die("%s: %s (NCCL_DEBUG=WARN says more)", what, ncclGetErrorString(r));
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int n; /* GPUs this process drives */
    int dev[MAX_GPUS];
    ncclComm_t comm[MAX_GPUS];
    cudaStream_t stream[MAX_GPUS];
    float *buf[MAX_GPUS];
} drive;

/* K all-reduces of `count` floats on every GPU of d, then wait for all; seconds */
static double burst(drive *d, size_t count, int k) {
    double t0 = now_s();
    for (int i = 0; i < k; i++) {
        nccl_ok(ncclGroupStart(), "ncclGroupStart");
        for (int g = 0; g < d->n; g++)
            nccl_ok(ncclAllReduce(d->buf[g], d->buf[g], count, ncclFloat, ncclSum, d->comm[g], d->stream[g]),
                    "ncclAllReduce");
        nccl_ok(ncclGroupEnd(), "ncclGroupEnd");
    }
    for (int g = 0; g < d->n; g++) {
        cuda_ok(cudaSetDevice(d->dev[g]), "cudaSetDevice");
        cuda_ok(cudaStreamSynchronize(d->stream[g]), "cudaStreamSynchronize");
    }
    double t = now_s() - t0;
#if WS_BENCH_MPI
    if (world > 1) MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
#endif
    return t;
}

static void barrier(void) {
#if WS_BENCH_MPI
    if (world > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

/* one set: every size from lo to hi bytes (doubling) over the GPUs of d, as JSON into f */
static void time_set(FILE *f, drive *d, int gpus, int nodes, double lo, double hi, int iters, int reps, int first) {
    const char *algo = getenv("NCCL_ALGO");
    if (rank == 0)
        fprintf(f, "%s    {\"gpus\": %d, \"nodes\": %d, \"algo\": \"%s\", \"points\": [", first ? "" : ",\n", gpus,
                nodes, algo && algo[0] ? algo : "default");
    int firstp = 1;
    for (double bytes = lo; bytes <= hi; bytes *= 2) {
        size_t count = (size_t)(bytes / 4);
        burst(d, count, 2); /* warm-up: connections, protocol selection */
        double t[64];
        for (int r = 0; r < reps; r++) {
            barrier();
            t[r] = burst(d, count, iters) / iters;
        }
        qsort(t, (size_t)reps, sizeof t[0], cmp_double);
        double med = reps % 2 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2;
        double busbw = 4.0 * count / med * 2.0 * (gpus - 1) / gpus / 1e9; /* nccl-tests' bus bandwidth */
        if (rank == 0) {
            fprintf(
                f,
                "%s\n      {\"bytes\": %.0f, \"time_s\": %.9g, \"min_s\": %.9g, \"max_s\": %.9g, \"busbw_gb_s\": %.6g, "
                "\"iterations\": %d, \"repetitions\": %d}",
                firstp ? "" : ",", 4.0 * count, med, t[0], t[reps - 1], busbw, iters, reps);
            fprintf(stderr, "%3d GPUs %2d node(s) %12.0f B  %10.2f us  %8.2f GB/s bus\n", gpus, nodes, 4.0 * count,
                    med * 1e6, busbw);
        }
        firstp = 0;
    }
    if (rank == 0) fprintf(f, "\n    ]}");
}

static void drive_open(drive *d, size_t bytes) {
    for (int g = 0; g < d->n; g++) {
        cuda_ok(cudaSetDevice(d->dev[g]), "cudaSetDevice");
        cuda_ok(cudaStreamCreateWithFlags(&d->stream[g], cudaStreamNonBlocking), "cudaStreamCreate");
        cuda_ok(cudaMalloc((void **)&d->buf[g], bytes), "cudaMalloc (lower --max-bytes)");
        cuda_ok(cudaMemset(d->buf[g], 0, bytes), "cudaMemset");
    }
}

static void drive_close(drive *d) {
    for (int g = 0; g < d->n; g++) {
        cudaSetDevice(d->dev[g]);
        ncclCommDestroy(d->comm[g]);
        cudaStreamDestroy(d->stream[g]);
        cudaFree(d->buf[g]);
    }
}

static int parse_counts(const char *s, int *out, int max) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end || v < 2) return -1;
        out[n++] = (int)v;
    }
    return n;
}

int main(int argc, char **argv) {
#if WS_BENCH_MPI
    /* MPI only under a launcher: a plain start drives every GPU of this node itself */
    mpi = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") || getenv("SLURM_PROCID");
    if (mpi) {
        MPI_Init(&argc, &argv);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &world);
    }
#endif
    setenv("NCCL_NVLS_ENABLE", "0", 0);
    double lo = 1024, hi = 1073741824.0;
    int iters = 20, reps = 5, counts[16], n_counts = 0;
    const char *out = "allreduce-timings.json";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("%s needs a value%s", a, "");
        i++;
        if (!strcmp(a, "--counts")) {
            if ((n_counts = parse_counts(v, counts, 16)) <= 0)
                die("--counts %s: want GPU counts of 2 or more%s", v, "");
        } else if (!strcmp(a, "--min-bytes"))
            lo = atof(v);
        else if (!strcmp(a, "--max-bytes"))
            hi = atof(v);
        else if (!strcmp(a, "--iters"))
            iters = atoi(v);
        else if (!strcmp(a, "--reps"))
            reps = atoi(v);
        else if (!strcmp(a, "--out"))
            out = v;
        else
            die("unknown flag %s%s", a, "");
    }
    if (!(lo >= 4 && hi >= lo) || iters < 1 || reps < 1 || reps > 64)
        die("%s%s", "want 4 <= --min-bytes <= --max-bytes, --iters >= 1, 1 <= --reps <= 64", "");
    FILE *f = NULL;
    if (rank == 0 && !(f = fopen(out, "w"))) die("write %s: %s", out, strerror(errno));
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    int visible = 0, nccl_version = 0;
    cuda_ok(cudaGetDeviceCount(&visible), "cudaGetDeviceCount");
    nccl_ok(ncclGetVersion(&nccl_version), "ncclGetVersion");
    struct cudaDeviceProp prop;
    cuda_ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    time_t wall = time(NULL);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&wall));
    if (rank == 0) {
        const char *env[3] = {"NCCL_ALGO", "NCCL_PROTO", "NCCL_NVLS_ENABLE"};
        fprintf(f, "{\n  \"schema\": \"wattscale.allreduce-timings/1\",\n  \"written_at\": \"%s\",\n", stamp);
        fprintf(f, "  \"host\": \"%s\",\n  \"gpu\": \"%s\",\n  \"library\": \"NCCL %d.%d.%d\",\n", host, prop.name,
                nccl_version / 10000, nccl_version / 100 % 100, nccl_version % 100);
        fprintf(f, "  \"dtype\": \"float32\",\n  \"op\": \"sum\",\n  \"env\": {");
        for (int k = 0; k < 3; k++) {
            const char *v = getenv(env[k]);
            fprintf(f, "%s\"%s\": %s%s%s", k ? ", " : "", env[k], v ? "\"" : "", v ? v : "null", v ? "\"" : "");
        }
        fprintf(f, "},\n  \"sets\": [\n");
    }
    drive d;
    memset(&d, 0, sizeof d);
    if (world > 1) {
#if WS_BENCH_MPI
        /* one rank per GPU: the local rank picks the device; nodes counted by shared memory */
        MPI_Comm local;
        int local_rank = 0, node_leader = 0, nodes = 0;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
        MPI_Comm_rank(local, &local_rank);
        node_leader = local_rank == 0;
        MPI_Allreduce(&node_leader, &nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (local_rank >= visible) die("%s%s", "more ranks on a node than GPUs", "");
        ncclUniqueId id;
        if (rank == 0) nccl_ok(ncclGetUniqueId(&id), "ncclGetUniqueId");
        MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
        d.n = 1;
        d.dev[0] = local_rank;
        cuda_ok(cudaSetDevice(local_rank), "cudaSetDevice");
        nccl_ok(ncclCommInitRank(&d.comm[0], world, id, rank), "ncclCommInitRank");
        drive_open(&d, (size_t)hi);
        time_set(f, &d, world, nodes, lo, hi, iters, reps, 1);
        drive_close(&d);
        MPI_Comm_free(&local);
#endif
    } else {
        if (visible < 2) die("%s%s", "fewer than 2 GPUs visible: nothing to all-reduce between", "");
        if (!n_counts) {
            for (int p = 2; p <= visible && n_counts < 15; p *= 2)
                counts[n_counts++] = p;
            if (counts[n_counts - 1] != visible) counts[n_counts++] = visible;
        }
        for (int c = 0; c < n_counts; c++) {
            if (counts[c] > visible || counts[c] > MAX_GPUS) die("--counts: %s%s", "more GPUs than visible", "");
            memset(&d, 0, sizeof d);
            d.n = counts[c];
            for (int g = 0; g < d.n; g++)
                d.dev[g] = g;
            nccl_ok(ncclCommInitAll(d.comm, d.n, d.dev), "ncclCommInitAll");
            drive_open(&d, (size_t)hi);
            time_set(f, &d, d.n, 1, lo, hi, iters, reps, c == 0);
            drive_close(&d);
        }
    }
    if (rank == 0) {
        fprintf(f, "\n  ]\n}\n");
        if (fclose(f) != 0) die("write %s: %s", out, strerror(errno));
        fprintf(stderr, "ws_allreduce_nccl: wrote %s (fit it with: wattscale calibrate allreduce %s)\n", out, out);
    }
#if WS_BENCH_MPI
    if (mpi) MPI_Finalize();
#endif
    return 0;
}
