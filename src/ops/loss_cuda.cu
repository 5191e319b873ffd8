/* src/ops/loss_cuda.cu - softmax cross-entropy with label smoothing, and top-k counts, on
 * the GPU.
 * defines: ws_softmax_xent_forward_cuda, ws_softmax_xent_backward_cuda, ws_topk_count_cuda
 * reference: src/ops/loss_cpu.c; contract: src/ops/loss.h.
 * One block per row: max, then sum of exp and sum of logits in double (as the reference),
 * lse = max + log(sum); each row's loss goes to scratch and one thread adds them in row
 * order, so the mean is deterministic. Logits are read in the activation storage type
 * (bf16 under autocast-like runs) and everything after is fp32/double, as PyTorch's
 * cross_entropy upcasts. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/loss.h"
}

#include <math.h>

#define ROW_THREADS 256

template <typename T>
__global__ void xent_rows(double *__restrict__ row_loss, float *__restrict__ probs, const T *__restrict__ logits,
                          const int32_t *__restrict__ labels, int k, float smoothing) {
    __shared__ float smax[ROW_THREADS / 32];
    __shared__ double ssum[ROW_THREADS / 32], szs[ROW_THREADS / 32];
    const int i = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const T *z = logits + (size_t)i * k;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < k; j += blockDim.x) m = fmaxf(m, wsi_to_f(z[j]));
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) smax[warp] = m;
    __syncthreads();
    m = smax[0];
    for (int w = 1; w < (int)(blockDim.x >> 5); w++) m = fmaxf(m, smax[w]);
    double s = 0.0, zs = 0.0;
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
        double v = wsi_to_f(z[j]);
        s += exp(v - (double)m);
        zs += v;
    }
    for (int o = 16; o > 0; o >>= 1) {
        s += __shfl_xor_sync(0xffffffffu, s, o);
        zs += __shfl_xor_sync(0xffffffffu, zs, o);
    }
    if (lane == 0) {
        ssum[warp] = s;
        szs[warp] = zs;
    }
    __syncthreads();
    s = 0.0;
    zs = 0.0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) {
        s += ssum[w];
        zs += szs[w];
    }
    double lse = (double)m + log(s);
    float *pr = probs + (size_t)i * k;
    for (int j = threadIdx.x; j < k; j += blockDim.x) pr[j] = (float)exp((double)wsi_to_f(z[j]) - lse);
    if (threadIdx.x == 0) {
        double eps = smoothing;
        int y = labels[i];
        double zy = (y >= 0 && y < k) ? (double)wsi_to_f(z[y]) : NAN;
        row_loss[i] = (1.0 - eps) * (lse - zy) + eps * (lse - zs / k);
    }
}

__global__ void mean_rows(double *__restrict__ loss, const double *__restrict__ row_loss, int n) {
    double t = 0.0;
    for (int i = 0; i < n; i++) t += row_loss[i];
    *loss = t / n;
}

template <typename T>
__global__ void xent_backward(T *__restrict__ dz, const float *__restrict__ probs, const int32_t *__restrict__ labels,
                              int n, int k, double off, double on, float scale) {
    size_t total = (size_t)n * k;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(e / k), j = (int)(e % k);
        dz[e] = wsi_from_f<T>((float)(scale * (probs[e] - (j == labels[i] ? on : off))));
    }
}

/* One warp per row: how many logits rank ahead of the label's (ops/loss_cpu.c's rule). */
template <typename T>
__global__ void topk_rows(double *__restrict__ count, const T *__restrict__ logits, const int32_t *__restrict__ labels,
                          int n, int k, int topk) {
    int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
    if (row >= n) return;
    const T *z = logits + (size_t)row * k;
    int y = labels[row];
    if (y < 0 || y >= k) return;
    float zy = wsi_to_f(z[y]);
    if (isnan(zy)) return;
    int ahead = 0;
    for (int j = lane; j < k; j += 32) {
        float v = wsi_to_f(z[j]);
        ahead += (isnan(v) || v > zy || (v == zy && j < y)) ? 1 : 0;
    }
    for (int o = 16; o > 0; o >>= 1) ahead += __shfl_xor_sync(0xffffffffu, ahead, o);
    if (lane == 0 && ahead < topk) atomicAdd(count, 1.0); /* integers: exact in any order */
}

extern "C" void ws_softmax_xent_forward_cuda(const ws_exec *ex, int n, int k, double *loss, float *probs,
                                             const void *logits, const int32_t *labels, float smoothing) {
    ws_cuda_ctx *c = ex->cuda;
    if ((size_t)n * sizeof(double) > WSI_CUDA_SMALL_SCRATCH_BYTES) ws_fatal("loss: batch %d too large for the scratch", n);
    double *rows = (double *)c->small;
    WS_DISPATCH_ACT(ex->precision, T,
                    xent_rows<T><<<n, ROW_THREADS, 0, c->stream>>>(rows, probs, (const T *)logits, labels, k, smoothing));
    WS_CHECK_LAUNCH(c, "xent_rows");
    mean_rows<<<1, 1, 0, c->stream>>>(loss, rows, n);
    WS_CHECK_LAUNCH(c, "mean_rows");
}

extern "C" void ws_softmax_xent_backward_cuda(const ws_exec *ex, int n, int k, void *dlogits, const float *probs,
                                              const int32_t *labels, float smoothing, float scale) {
    ws_cuda_ctx *c = ex->cuda;
    double off = (double)smoothing / k, on = 1.0 - smoothing + off;
    size_t total = (size_t)n * k;
    WS_DISPATCH_ACT(ex->precision, T,
                    xent_backward<T><<<wsi_blocks(c, total, 256), 256, 0, c->stream>>>((T *)dlogits, probs, labels, n,
                                                                                      k, off, on, scale));
    WS_CHECK_LAUNCH(c, "xent_backward");
}

extern "C" void ws_topk_count_cuda(const ws_exec *ex, int n, int k, const void *logits, const int32_t *labels,
                                   int topk, double *count) {
    ws_cuda_ctx *c = ex->cuda;
    unsigned blocks = (unsigned)(((size_t)n * 32 + 255) / 256);
    WS_DISPATCH_ACT(ex->precision, T,
                    topk_rows<T><<<blocks, 256, 0, c->stream>>>(count, (const T *)logits, labels, n, k, topk));
    WS_CHECK_LAUNCH(c, "topk_rows");
}
