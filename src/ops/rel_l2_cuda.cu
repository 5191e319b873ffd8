/* src/ops/rel_l2_cuda.cu - FourCastNet's relative L2 loss and its gradient on the GPU.
 * defines: ws_rel_l2_forward_cuda, ws_rel_l2_backward_cuda
 * reference: src/ops/rel_l2_cpu.c; contract: src/ops/rel_l2.h
 * Shapes: pred, target, dpred [N, COUNT] fp32; *loss one double in device memory.
 *
 * Both squared norms of every sample in double (as the reference): a grid of (chunks,
 * samples) blocks, each block adds its slice of the sample thread by thread, folds the
 * threads by warp shuffles and then warps in order, and writes one pair of partials to
 * the context's small scratch; then one thread adds each sample's partials in chunk order
 * (and, forward, the samples' ratios in sample order), so the loss has the same bits on
 * every run. The partition depends only on N, COUNT and the SM count.
 * A target of zero norm cannot be reported as WS_EINVAL here without a synchronisation
 * (the op is asynchronous and graph-captured): the loss becomes NaN instead (and that
 * sample's gradient NaN), which the trainer's divergence check stops on. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/rel_l2.h"
}

#include <math.h>

#define THREADS 256

/* part[(i * chunks + k) * 2 + {0, 1}] = sum over chunk k of sample i of (p - t)^2 and t^2 */
__global__ void rel_l2_partials(double *__restrict__ part, const float *__restrict__ pred,
                                const float *__restrict__ target, int n, size_t count, int chunks) {
    __shared__ double sh[2][THREADS / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, k = blockIdx.x;
    const size_t per = (count + chunks - 1) / chunks, j0 = (size_t)k * per, j1 = j0 + per < count ? j0 + per : count;
    for (int i = blockIdx.y; i < n; i += gridDim.y) {
        const float *p = pred + (size_t)i * count, *t = target + (size_t)i * count;
        double sd = 0.0, st = 0.0;
        for (size_t j = j0 + threadIdx.x; j < j1; j += THREADS) {
            double d = (double)p[j] - t[j], v = t[j];
            sd += d * d;
            st += v * v;
        }
        for (int o = 16; o > 0; o >>= 1) {
            sd += __shfl_xor_sync(0xffffffffu, sd, o);
            st += __shfl_xor_sync(0xffffffffu, st, o);
        }
        if (lane == 0) sh[0][warp] = sd, sh[1][warp] = st;
        __syncthreads();
        if (threadIdx.x == 0) {
            double a = 0.0, b = 0.0;
            for (int w = 0; w < THREADS / 32; w++) a += sh[0][w], b += sh[1][w];
            part[((size_t)i * chunks + k) * 2] = a;
            part[((size_t)i * chunks + k) * 2 + 1] = b;
        }
        __syncthreads(); /* sh is reused by the next sample */
    }
}

/* ||p_i - t_i|| and ||t_i|| from the partials, in chunk order */
__device__ void sample_norms(const double *part, int i, int chunks, double *diff, double *tnorm) {
    double a = 0.0, b = 0.0;
    for (int k = 0; k < chunks; k++) {
        a += part[((size_t)i * chunks + k) * 2];
        b += part[((size_t)i * chunks + k) * 2 + 1];
    }
    *diff = sqrt(a);
    *tnorm = sqrt(b);
}

__global__ void rel_l2_loss(double *loss, const double *__restrict__ part, int n, int chunks) {
    double total = 0.0;
    int zero_target = 0;
    for (int i = 0; i < n; i++) {
        double diff, tnorm;
        sample_norms(part, i, chunks, &diff, &tnorm);
        if (!(tnorm > 0.0)) zero_target = 1;
        total += diff / tnorm;
    }
    *loss = zero_target ? (double)NAN : total / n;
}

/* coef[i] = scale / (||p_i - t_i|| ||t_i||), 0 where p_i = t_i, NaN for a zero target */
__global__ void rel_l2_coef(double *__restrict__ coef, const double *__restrict__ part, int n, int chunks,
                            float scale) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double diff, tnorm;
    sample_norms(part, i, chunks, &diff, &tnorm);
    coef[i] = !(tnorm > 0.0) ? (double)NAN : diff > 0.0 ? (double)scale / (diff * tnorm) : 0.0;
}

__global__ void rel_l2_grad(float *__restrict__ dpred, const float *__restrict__ pred, const float *__restrict__ target,
                            const double *__restrict__ coef, int n, size_t count) {
    for (int i = blockIdx.y; i < n; i += gridDim.y) {
        const size_t base = (size_t)i * count;
        const double k = coef[i];
        for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < count; j += (size_t)gridDim.x * blockDim.x)
            dpred[base + j] = (float)(k * ((double)pred[base + j] - target[base + j]));
    }
}

/* Chunks per sample: about 8 blocks per SM over all samples, at least 4 elements per thread,
 * within the small scratch (partials, then one coefficient per sample). */
static int chunks_for(const ws_cuda_ctx *c, int n, size_t count) {
    const long sms = c->sm_count > 0 ? c->sm_count : 132;
    long k = (sms * 8 + n - 1) / n;
    long by_count = (long)((count + THREADS * 4 - 1) / (THREADS * 4));
    long by_scratch = (long)((WSI_CUDA_SMALL_SCRATCH_BYTES / sizeof(double) - (size_t)n) / (2 * (size_t)n));
    if (k > by_count) k = by_count;
    if (k > by_scratch) k = by_scratch;
    if (k < 1) ws_fatal("rel_l2: %d samples exceed the op scratch", n);
    return (int)k;
}

static int partials(ws_cuda_ctx *c, int n, size_t count, const float *pred, const float *target) {
    const int chunks = chunks_for(c, n, count);
    dim3 grid((unsigned)chunks, (unsigned)(n < 65535 ? n : 65535));
    rel_l2_partials<<<grid, THREADS, 0, c->stream>>>((double *)c->small, pred, target, n, count, chunks);
    WS_CHECK_LAUNCH(c, "rel_l2 norms");
    return chunks;
}

extern "C" void ws_rel_l2_forward_cuda(const ws_exec *ex, int n, size_t count, double *loss, const float *pred,
                                       const float *target) {
    ws_cuda_ctx *c = ex->cuda;
    const int chunks = partials(c, n, count, pred, target);
    rel_l2_loss<<<1, 1, 0, c->stream>>>(loss, (const double *)c->small, n, chunks);
    WS_CHECK_LAUNCH(c, "rel_l2 loss");
}

extern "C" void ws_rel_l2_backward_cuda(const ws_exec *ex, int n, size_t count, float *dpred, const float *pred,
                                        const float *target, float scale) {
    ws_cuda_ctx *c = ex->cuda;
    const int chunks = partials(c, n, count, pred, target);
    const double *part = (const double *)c->small;
    double *coef = (double *)c->small + (size_t)n * chunks * 2;
    rel_l2_coef<<<(unsigned)((n + 127) / 128), 128, 0, c->stream>>>(coef, part, n, chunks, scale);
    WS_CHECK_LAUNCH(c, "rel_l2 coefficients");
    const long sms = c->sm_count > 0 ? c->sm_count : 132;
    long per_sample = (sms * 8 + n - 1) / n, need = (long)((count + THREADS - 1) / THREADS);
    if (per_sample > need) per_sample = need;
    dim3 grid((unsigned)per_sample, (unsigned)(n < 65535 ? n : 65535));
    rel_l2_grad<<<grid, THREADS, 0, c->stream>>>(dpred, pred, target, coef, n, count);
    WS_CHECK_LAUNCH(c, "rel_l2 gradient");
}
