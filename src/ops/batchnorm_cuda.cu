/* src/ops/batchnorm_cuda.cu - batch normalisation on the GPU, NHWC, fused with the residual
 * add and the ReLU that follow it in ResNet.
 * defines: ws_batchnorm_forward_train_cuda, ws_batchnorm_forward_eval_cuda,
 *          ws_batchnorm_backward_cuda
 * reference: src/ops/batchnorm_cpu.c (+ eltwise_cpu.c, composed in batchnorm.c);
 * contract: src/ops/batchnorm.h. Shapes: x, y, dy, dx, residual [M, C] with M = N*H*W
 * (NHWC), storage type T; per-channel vectors fp32.
 *
 * Memory traffic is the cost (the arithmetic is trivial), so each pass touches every
 * element once and the fused epilogue saves the separate add and ReLU passes:
 *   train forward: stats (read x) -> finalize (per channel) -> apply (read x, residual;
 *                  write y);
 *   backward:      reduce (read dy, y, x; write the masked gradient g into dresidual, or
 *                  over dy) -> finalize -> dx (read g, x; write dx); with a ReLU and no
 *                  residual the mask is recomputed from x instead (reduce reads dy, x and
 *                  writes nothing; dx reads dy, x): 5 passes instead of 7. The recomputed
 *                  sign is the forward's bit for bit: the same fmaf of the same fp32 mean,
 *                  scale (gamma * the stored fp32 invstd) and beta, rounded to T. With a
 *                  residual the sign needs it, so the forward writes a 1-bit mask of what
 *                  its ReLU kept (relu_mask: bit e%8 of byte e/8 for element e of [M, C],
 *                  C a multiple of 8) and reduce reads that instead of y: 1/16 of y's bytes
 *                  in bf16 (ResNet-50 bf16 LBS 256: ~2.5 GB less a step, an estimate).
 * The per-channel finalize kernels combine the row blocks' partials with 16 threads per
 * channel (fixed order): one thread per channel walking up to 1024 partials took 66 us a
 * call, 7 ms of a 45 ms ResNet-50 bf16 step (Nsight Compute, H200, 2026-12-01).
 * Threads read 16-byte vectors of channels (8 bf16 or 4 fp32) when C allows, so a warp's
 * loads coalesce along the contiguous channel dimension; rows are split over blockIdx.y.
 *
 * Numerics: each thread sums its few dozen rows in fp32 (doubles there cost registers and
 * so occupancy, i.e. bandwidth), the block and the per-channel combination in double in a
 * fixed order (deterministic, whatever the launch); the variance from data shifted by the
 * channel's first value (the reference's two passes in one: no cancellation when
 * |mean| >> std); running_var takes the unbiased variance, as PyTorch. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/batchnorm.h"
}

namespace {

template <typename T, int V> __device__ __forceinline__ void load_v(const T *p, float (&f)[V]) {
    if constexpr (V * sizeof(T) == 16) {
        wsi_vec<T> v = wsi_load16(p);
#pragma unroll
        for (int i = 0; i < V; i++) f[i] = wsi_to_f(v.v[i]);
    } else {
#pragma unroll
        for (int i = 0; i < V; i++) f[i] = wsi_to_f(p[i]);
    }
}

template <typename T, int V> __device__ __forceinline__ void store_v(T *p, const float (&f)[V]) {
    if constexpr (V * sizeof(T) == 16) {
        wsi_vec<T> v;
#pragma unroll
        for (int i = 0; i < V; i++) v.v[i] = wsi_from_f<T>(f[i]);
        wsi_store16(p, v);
    } else {
#pragma unroll
        for (int i = 0; i < V; i++) p[i] = wsi_from_f<T>(f[i]);
    }
}

/* Writes the ReLU-kept bits of a thread's V elements (bit v: element e + v) into the mask
 * byte of element e. V < 8: the 8/V threads of one byte are adjacent lanes (the launch's
 * TX is a power of two >= that, C a multiple of 8) and meet by shuffles; the first writes. */
template <int V> __device__ __forceinline__ void store_mask_bits(uint8_t *mask, size_t e, unsigned bits) {
    if constexpr (V == 8) {
        mask[e >> 3] = (uint8_t)bits;
    } else {
        constexpr int G = 8 / V;
        const unsigned lane = (threadIdx.y * blockDim.x + threadIdx.x) & 31u;
        const unsigned group = ((1u << G) - 1u) << (lane & ~(unsigned)(G - 1));
        bits <<= (unsigned)(e & 7);
#pragma unroll
        for (int o = 1; o < G; o <<= 1) bits |= __shfl_xor_sync(group, bits, o);
        if ((e & 7) == 0) mask[e >> 3] = (uint8_t)bits;
    }
}

/* Launch shape of every kernel here: TX threads across vector columns (a power of two up to
 * 32), TY = 256/TX across rows, RB row blocks; a thread keeps its channels' parameters in
 * registers and walks its rows, so no per-element index arithmetic or parameter loads. */
struct red_shape {
    dim3 grid, block;
    int rb;
    size_t shared;
};

static red_shape launch_shape(const ws_cuda_ctx *c, size_t M, int C, int V, int rows_per_thread, size_t rb_cap) {
    int cv = C / V, tx = 1;
    while (tx < cv && tx < 32) tx <<= 1;
    int ty = 256 / tx;
    unsigned gx = (unsigned)((cv + tx - 1) / tx);
    size_t want = (M + (size_t)ty * rows_per_thread - 1) / ((size_t)ty * rows_per_thread);
    size_t fill = (size_t)(c->sm_count > 0 ? c->sm_count : 132) * 8 / gx + 1; /* about 8 blocks per SM */
    size_t rb = want;
    if (rb > fill) rb = fill;
    if (rb > rb_cap) rb = rb_cap;
    if (rb < 1) rb = 1;
    red_shape s;
    s.grid = dim3(gx, (unsigned)rb);
    s.block = dim3((unsigned)tx, (unsigned)ty);
    s.rb = (int)rb;
    s.shared = (size_t)2 * tx * ty * V * sizeof(double);
    return s;
}

/* Reductions: partials per row block must fit the scratch. */
static red_shape reduction_shape(const ws_cuda_ctx *c, size_t M, int C, int V) {
    size_t by_scratch = (WSI_CUDA_SMALL_SCRATCH_BYTES - (size_t)8 * C * sizeof(float)) / ((size_t)C * sizeof(double2));
    return launch_shape(c, M, C, V, 16, by_scratch < 1024 ? by_scratch : 1024);
}

/* Sums over the block's rows of a and b per channel into part[blockIdx.y][c]: per-thread
 * sums (float, over a few dozen rows) meet in double. */
template <int V>
__device__ __forceinline__ void block_reduce_store(const float (&a)[V], const float (&b)[V], int cv, int CV,
                                                   double2 *part, int C) {
    extern __shared__ double sh[];
    const int tx = threadIdx.x, ty = threadIdx.y, TX = blockDim.x, TY = blockDim.y;
    double *sa = sh, *sb = sh + (size_t)TX * TY * V;
#pragma unroll
    for (int v = 0; v < V; v++) {
        sa[((size_t)ty * TX + tx) * V + v] = a[v];
        sb[((size_t)ty * TX + tx) * V + v] = b[v];
    }
    __syncthreads();
    for (int s = TY / 2; s > 0; s >>= 1) {
        if (ty < s) {
#pragma unroll
            for (int v = 0; v < V; v++) {
                sa[((size_t)ty * TX + tx) * V + v] += sa[((size_t)(ty + s) * TX + tx) * V + v];
                sb[((size_t)ty * TX + tx) * V + v] += sb[((size_t)(ty + s) * TX + tx) * V + v];
            }
        }
        __syncthreads();
    }
    if (ty == 0 && cv < CV) {
#pragma unroll
        for (int v = 0; v < V; v++)
            part[(size_t)blockIdx.y * C + (size_t)cv * V + v] = make_double2(sa[(size_t)tx * V + v], sb[(size_t)tx * V + v]);
    }
}

/* Sums of (x - k) and (x - k)^2 per channel, k the channel's first value (shifted data: no
 * cancellation when |mean| >> std). */
template <typename T, int V> __global__ void bn_stats(const T *__restrict__ x, int C, size_t M, double2 *__restrict__ part) {
    const int CV = C / V, cv = blockIdx.x * blockDim.x + threadIdx.x;
    float s1[V], s2[V];
#pragma unroll
    for (int v = 0; v < V; v++) s1[v] = s2[v] = 0.0f;
    if (cv < CV) {
        float k[V];
        load_v<T, V>(x + (size_t)cv * V, k);
        const size_t step = (size_t)gridDim.y * blockDim.y;
#pragma unroll 4
        for (size_t m = (size_t)blockIdx.y * blockDim.y + threadIdx.y; m < M; m += step) {
            float f[V];
            load_v<T, V>(x + m * C + (size_t)cv * V, f);
#pragma unroll
            for (int v = 0; v < V; v++) {
                float d = f[v] - k[v];
                s1[v] += d;
                s2[v] = fmaf(d, d, s2[v]);
            }
        }
    }
    block_reduce_store<V>(s1, s2, cv, CV, part, C);
}

/* The partials of channel c summed over the rb row blocks: FIN_TY threads per channel walk
 * every FIN_TY-th block, then thread row 0 adds the rows in order (deterministic). Block
 * (32, FIN_TY), grid ceil(C / 32). Returns 1 on the thread that holds the sum. */
constexpr int FIN_TY = 16;
__device__ __forceinline__ int finalize_sum(const double2 *__restrict__ part, int rb, int C, double &s1, double &s2) {
    __shared__ double2 sh[FIN_TY][32];
    const int tx = threadIdx.x, ty = threadIdx.y, c = blockIdx.x * 32 + tx;
    double a = 0, b = 0;
    if (c < C)
        for (int k = ty; k < rb; k += FIN_TY) {
            double2 p = part[(size_t)k * C + c];
            a += p.x;
            b += p.y;
        }
    sh[ty][tx] = make_double2(a, b);
    __syncthreads();
    if (ty != 0 || c >= C) return 0;
    for (int k = 1; k < FIN_TY; k++) {
        a += sh[k][tx].x;
        b += sh[k][tx].y;
    }
    s1 = a;
    s2 = b;
    return 1;
}

/* The scale the forward applies and the backward recomputes the ReLU's sign with: from the
 * stored fp32 invstd, so that both sides have the same bits. */
__device__ __forceinline__ float bn_scale(float gamma, float invstd) { return (float)((double)gamma * (double)invstd); }

/* Per channel: batch statistics, running updates, and the apply parameters. */
template <typename T>
__global__ void bn_finalize_forward(const double2 *__restrict__ part, int rb, int C, size_t M, const T *__restrict__ x,
                                    const float *__restrict__ gamma, float *running_mean, float *running_var,
                                    float *save_mean, float *save_invstd, float *a_mean, float *a_scale, double eps,
                                    double momentum) {
    double s1, s2;
    if (!finalize_sum(part, rb, C, s1, s2)) return;
    const int c = blockIdx.x * 32 + threadIdx.x;
    double md = s1 / (double)M, var = s2 / (double)M - md * md;
    if (var < 0) var = 0;
    double mean = (double)wsi_to_f(x[c]) + md;
    float invstd = (float)(1.0 / sqrt(var + eps));
    save_mean[c] = (float)mean;
    save_invstd[c] = invstd;
    running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * (var * (double)M / (double)(M - 1)));
    a_mean[c] = (float)mean;
    a_scale[c] = bn_scale(gamma[c], invstd);
}

__global__ void bn_eval_params(int C, const float *__restrict__ gamma, const float *__restrict__ rm,
                               const float *__restrict__ rv, float *a_mean, float *a_scale, double eps) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    a_mean[c] = rm[c];
    a_scale[c] = (float)((double)gamma[c] / sqrt((double)rv[c] + eps));
}

/* y = relu?((x - mean) * scale + beta + residual?); mask (or NULL): which y are > 0, as
 * stored in T (store_mask_bits) */
template <typename T, int V>
__global__ void bn_apply(T *__restrict__ y, const T *__restrict__ x, const T *__restrict__ res,
                         const float *__restrict__ mean, const float *__restrict__ scale,
                         const float *__restrict__ beta, int C, size_t M, int relu, uint8_t *__restrict__ mask) {
    const int CV = C / V, cv = blockIdx.x * blockDim.x + threadIdx.x;
    if (cv >= CV) return;
    float mu[V], sc[V], be[V];
#pragma unroll
    for (int v = 0; v < V; v++) {
        mu[v] = mean[cv * V + v];
        sc[v] = scale[cv * V + v];
        be[v] = beta[cv * V + v];
    }
    const size_t step = (size_t)gridDim.y * blockDim.y;
#pragma unroll 2
    for (size_t m = (size_t)blockIdx.y * blockDim.y + threadIdx.y; m < M; m += step) {
        size_t e = m * C + (size_t)cv * V;
        float f[V], r[V];
        unsigned bits = 0;
        load_v<T, V>(x + e, f);
        if (res) load_v<T, V>(res + e, r);
#pragma unroll
        for (int v = 0; v < V; v++) {
            float o = __fmaf_rn(f[v] - mu[v], sc[v], be[v]); /* bn_relu_keeps recomputes this */
            if (res) o = wsi_to_f(wsi_from_f<T>(o)) + r[v]; /* the reference rounds bn's output first */
            if (relu) o = o < 0.0f ? 0.0f : o;
            f[v] = o;
            if (mask) bits |= (wsi_to_f(wsi_from_f<T>(o)) > 0.0f ? 1u : 0u) << v; /* y as stored */
        }
        store_v<T, V>(y + e, f);
        if (mask) store_mask_bits<V>(mask, e, bits);
    }
}

/* The forward's ReLU kept this element: its output relu(round_T(fma(x - mean, scale, beta)))
 * is positive (RELU_FROM_X: no residual, so y's sign follows from x alone). */
template <typename T>
__device__ __forceinline__ bool bn_relu_keeps(float x, float mean, float scale, float beta) {
    return wsi_to_f(wsi_from_f<T>(__fmaf_rn(x - mean, scale, beta))) > 0.0f;
}

enum { RELU_NONE = 0, RELU_FROM_Y = 1, RELU_FROM_X = 2, RELU_FROM_MASK = 3 };

/* g = relu ? dy*(y > 0) : dy, written to dres (or over dy for RELU_FROM_Y); sums of g and
 * g*xhat per channel. RELU_FROM_X (no dres) reads dy and x only and writes nothing;
 * RELU_FROM_MASK takes y > 0 from the forward's mask bits. */
template <typename T, int V, int RELU>
__global__ void bn_backward_reduce(T *__restrict__ dy, const T *__restrict__ y, const T *__restrict__ x,
                                   T *__restrict__ dres, const float *__restrict__ mean,
                                   const float *__restrict__ invstd, const float *__restrict__ gamma,
                                   const float *__restrict__ beta, int C, size_t M, double2 *__restrict__ part,
                                   const uint8_t *__restrict__ mask) {
    const int CV = C / V, cv = blockIdx.x * blockDim.x + threadIdx.x;
    float sg[V], sgx[V];
#pragma unroll
    for (int v = 0; v < V; v++) sg[v] = sgx[v] = 0.0f;
    if (cv < CV) {
        float mu[V], is[V], sc[V], be[V];
#pragma unroll
        for (int v = 0; v < V; v++) {
            mu[v] = mean[cv * V + v];
            is[v] = invstd[cv * V + v];
            if (RELU == RELU_FROM_X) {
                sc[v] = bn_scale(gamma[cv * V + v], is[v]);
                be[v] = beta[cv * V + v];
            }
        }
        const size_t step = (size_t)gridDim.y * blockDim.y;
#pragma unroll 2
        for (size_t m = (size_t)blockIdx.y * blockDim.y + threadIdx.y; m < M; m += step) {
            size_t e = m * C + (size_t)cv * V;
            float g[V], xv[V];
            load_v<T, V>(dy + e, g);
            load_v<T, V>(x + e, xv);
            if (RELU == RELU_FROM_Y) {
                float yv[V];
                load_v<T, V>(y + e, yv);
#pragma unroll
                for (int v = 0; v < V; v++) g[v] = yv[v] > 0.0f ? g[v] : 0.0f;
            } else if (RELU == RELU_FROM_X) {
#pragma unroll
                for (int v = 0; v < V; v++) g[v] = bn_relu_keeps<T>(xv[v], mu[v], sc[v], be[v]) ? g[v] : 0.0f;
            } else if (RELU == RELU_FROM_MASK) {
                const unsigned bits = (unsigned)mask[e >> 3] >> (unsigned)(e & 7);
#pragma unroll
                for (int v = 0; v < V; v++) g[v] = (bits >> v) & 1u ? g[v] : 0.0f;
            }
            if (dres) store_v<T, V>(dres + e, g);
            else if (RELU == RELU_FROM_Y || RELU == RELU_FROM_MASK) store_v<T, V>(dy + e, g);
#pragma unroll
            for (int v = 0; v < V; v++) {
                float xhat = (xv[v] - mu[v]) * is[v];
                sg[v] += g[v];
                sgx[v] = fmaf(g[v], xhat, sgx[v]);
            }
        }
    }
    block_reduce_store<V>(sg, sgx, cv, CV, part, C);
}

__global__ void bn_finalize_backward(const double2 *__restrict__ part, int rb, int C, size_t M,
                                     const float *__restrict__ gamma, const float *__restrict__ invstd, float *dgamma,
                                     float *dbeta, float *b_k, float *b_mg, float *b_mgx) {
    double sg, sgx;
    if (!finalize_sum(part, rb, C, sg, sgx)) return;
    const int c = blockIdx.x * 32 + threadIdx.x;
    dbeta[c] += (float)sg;
    dgamma[c] += (float)sgx;
    b_k[c] = bn_scale(gamma[c], invstd[c]);
    b_mg[c] = (float)(sg / (double)M);
    b_mgx[c] = (float)(sgx / (double)M);
}

/* dx = gamma*invstd * (g - mean(g) - xhat * mean(g*xhat)); g read, or with RELU_FROM_X
 * made from dy and the recomputed sign (k is then also the forward's scale). */
template <typename T, int V, int RELU>
__global__ void bn_backward_dx(T *__restrict__ dx, const T *__restrict__ g, const T *__restrict__ x,
                               const float *__restrict__ mean, const float *__restrict__ invstd,
                               const float *__restrict__ k, const float *__restrict__ mg,
                               const float *__restrict__ mgx, const float *__restrict__ beta, int C, size_t M) {
    const int CV = C / V, cv = blockIdx.x * blockDim.x + threadIdx.x;
    if (cv >= CV) return;
    float mu[V], is[V], kk[V], a[V], b[V], be[V];
#pragma unroll
    for (int v = 0; v < V; v++) {
        int c = cv * V + v;
        mu[v] = mean[c];
        is[v] = invstd[c];
        kk[v] = k[c];
        a[v] = mg[c];
        b[v] = mgx[c];
        if (RELU == RELU_FROM_X) be[v] = beta[c];
    }
    const size_t step = (size_t)gridDim.y * blockDim.y;
#pragma unroll 2
    for (size_t m = (size_t)blockIdx.y * blockDim.y + threadIdx.y; m < M; m += step) {
        size_t e = m * C + (size_t)cv * V;
        float gv[V], xv[V];
        load_v<T, V>(g + e, gv);
        load_v<T, V>(x + e, xv);
#pragma unroll
        for (int v = 0; v < V; v++) {
            if (RELU == RELU_FROM_X && !bn_relu_keeps<T>(xv[v], mu[v], kk[v], be[v])) gv[v] = 0.0f;
            float xhat = (xv[v] - mu[v]) * is[v];
            gv[v] = kk[v] * (gv[v] - a[v] - xhat * b[v]);
        }
        store_v<T, V>(dx + e, gv);
    }
}

/* Vector width for this call: 16 bytes when C and every pointer allow it. */
template <typename T> static int vec_width(int C, const void *a, const void *b, const void *c2, const void *d, const void *e) {
    const int V = 16 / (int)sizeof(T);
    if (C % V) return 1;
    const void *p[5] = {a, b, c2, d, e};
    for (int i = 0; i < 5; i++)
        if (p[i] && !wsi_aligned16(p[i])) return 1;
    return V;
}

/* Per-channel scratch after the partials: 4 float vectors of C. */
struct bn_scratch {
    double2 *part;
    float *f0, *f1, *f2, *f3;
};
static bn_scratch scratch_of(ws_cuda_ctx *c, int C, int rb) {
    bn_scratch s;
    s.part = (double2 *)c->small;
    float *f = (float *)((char *)c->small + (((size_t)rb * C * sizeof(double2) + 255) & ~(size_t)255));
    s.f0 = f;
    s.f1 = f + C;
    s.f2 = f + 2 * (size_t)C;
    s.f3 = f + 3 * (size_t)C;
    return s;
}

template <typename T, int V>
static void forward_train(ws_cuda_ctx *c, const ws_batchnorm_desc *d, T *y, const T *x, const float *gamma,
                          const float *beta, float *rm, float *rv, float *save_mean, float *save_invstd, const T *res,
                          int relu, uint8_t *mask) {
    const int C = d->c;
    const size_t M = (size_t)d->n * d->h * d->w;
    red_shape rs = reduction_shape(c, M, C, V);
    bn_scratch s = scratch_of(c, C, rs.rb);
    bn_stats<T, V><<<rs.grid, rs.block, rs.shared, c->stream>>>(x, C, M, s.part);
    WS_CHECK_LAUNCH(c, "bn_stats");
    bn_finalize_forward<T><<<(C + 31) / 32, dim3(32, FIN_TY), 0, c->stream>>>(s.part, rs.rb, C, M, x, gamma, rm, rv,
                                                                              save_mean, save_invstd, s.f0, s.f1,
                                                                              d->eps, d->momentum);
    WS_CHECK_LAUNCH(c, "bn_finalize_forward");
    red_shape as = launch_shape(c, M, C, V, 4, 1u << 20);
    bn_apply<T, V><<<as.grid, as.block, 0, c->stream>>>(y, x, res, s.f0, s.f1, beta, C, M, relu, mask);
    WS_CHECK_LAUNCH(c, "bn_apply");
}

template <typename T, int V>
static void forward_eval(ws_cuda_ctx *c, const ws_batchnorm_desc *d, T *y, const T *x, const float *gamma,
                         const float *beta, const float *rm, const float *rv, const T *res, int relu) {
    const int C = d->c;
    const size_t M = (size_t)d->n * d->h * d->w;
    bn_scratch s = scratch_of(c, C, 0);
    bn_eval_params<<<(C + 127) / 128, 128, 0, c->stream>>>(C, gamma, rm, rv, s.f0, s.f1, d->eps);
    WS_CHECK_LAUNCH(c, "bn_eval_params");
    red_shape as = launch_shape(c, M, C, V, 4, 1u << 20);
    bn_apply<T, V><<<as.grid, as.block, 0, c->stream>>>(y, x, res, s.f0, s.f1, beta, C, M, relu, NULL);
    WS_CHECK_LAUNCH(c, "bn_apply (eval)");
}

template <typename T, int V, int RELU>
static void backward_as(ws_cuda_ctx *c, const ws_batchnorm_desc *d, T *dx, float *dgamma, float *dbeta, T *dy,
                        const T *y, const T *x, const float *gamma, const float *beta, const float *save_mean,
                        const float *save_invstd, T *dres, const uint8_t *mask) {
    const int C = d->c;
    const size_t M = (size_t)d->n * d->h * d->w;
    red_shape rs = reduction_shape(c, M, C, V);
    bn_scratch s = scratch_of(c, C, rs.rb);
    bn_backward_reduce<T, V, RELU><<<rs.grid, rs.block, rs.shared, c->stream>>>(dy, y, x, dres, save_mean, save_invstd,
                                                                                gamma, beta, C, M, s.part, mask);
    WS_CHECK_LAUNCH(c, "bn_backward_reduce");
    bn_finalize_backward<<<(C + 31) / 32, dim3(32, FIN_TY), 0, c->stream>>>(s.part, rs.rb, C, M, gamma, save_invstd,
                                                                           dgamma, dbeta, s.f0, s.f1, s.f2);
    WS_CHECK_LAUNCH(c, "bn_finalize_backward");
    const T *g = dres ? dres : dy;
    red_shape ds = launch_shape(c, M, C, V, 4, 1u << 20);
    bn_backward_dx<T, V, RELU><<<ds.grid, ds.block, 0, c->stream>>>(dx, g, x, save_mean, save_invstd, s.f0, s.f1, s.f2,
                                                                    beta, C, M);
    WS_CHECK_LAUNCH(c, "bn_backward_dx");
}

/* The ReLU's mask: with a residual from the forward's mask bits (mask non-NULL only where
 * the forward wrote them), else from y; without one from x, which both passes read already. */
template <typename T, int V>
static void backward(ws_cuda_ctx *c, const ws_batchnorm_desc *d, T *dx, float *dgamma, float *dbeta, T *dy,
                     const T *y, const T *x, const float *gamma, const float *beta, const float *save_mean,
                     const float *save_invstd, T *dres, int relu, const uint8_t *mask) {
    if (!relu)
        backward_as<T, V, RELU_NONE>(c, d, dx, dgamma, dbeta, dy, y, x, gamma, beta, save_mean, save_invstd, dres,
                                     NULL);
    else if (dres && mask)
        backward_as<T, V, RELU_FROM_MASK>(c, d, dx, dgamma, dbeta, dy, y, x, gamma, beta, save_mean, save_invstd, dres,
                                          mask);
    else if (dres)
        backward_as<T, V, RELU_FROM_Y>(c, d, dx, dgamma, dbeta, dy, y, x, gamma, beta, save_mean, save_invstd, dres,
                                       NULL);
    else
        backward_as<T, V, RELU_FROM_X>(c, d, dx, dgamma, dbeta, dy, y, x, gamma, beta, save_mean, save_invstd, dres,
                                       NULL);
}

/* Whether the forward writes, and the backward reads, a ReLU mask for this call: both
 * decide by the same facts (a residual and a ReLU, C a multiple of 8), never by pointer
 * alignment, which may differ between the two calls. */
static int uses_mask(const ws_batchnorm_desc *d, const void *mask, int has_residual, int relu) {
    return mask && has_residual && relu && d->c % 8 == 0;
}

} // namespace

extern "C" void ws_batchnorm_forward_train_cuda(const ws_exec *ex, const ws_batchnorm_desc *d, void *y, const void *x,
                                                const float *gamma, const float *beta, float *running_mean,
                                                float *running_var, float *save_mean, float *save_invstd,
                                                const void *residual, int relu, uint8_t *relu_mask) {
    ws_cuda_ctx *c = ex->cuda;
    uint8_t *mask = uses_mask(d, relu_mask, residual != NULL, relu) ? relu_mask : NULL;
    WS_DISPATCH_ACT(ex->precision, T, {
        if (vec_width<T>(d->c, y, x, residual, NULL, NULL) > 1)
            forward_train<T, 16 / sizeof(T)>(c, d, (T *)y, (const T *)x, gamma, beta, running_mean, running_var,
                                             save_mean, save_invstd, (const T *)residual, relu, mask);
        else
            forward_train<T, 1>(c, d, (T *)y, (const T *)x, gamma, beta, running_mean, running_var, save_mean,
                                save_invstd, (const T *)residual, relu, mask);
    });
}

extern "C" void ws_batchnorm_forward_eval_cuda(const ws_exec *ex, const ws_batchnorm_desc *d, void *y, const void *x,
                                               const float *gamma, const float *beta, const float *running_mean,
                                               const float *running_var, const void *residual, int relu) {
    ws_cuda_ctx *c = ex->cuda;
    WS_DISPATCH_ACT(ex->precision, T, {
        if (vec_width<T>(d->c, y, x, residual, NULL, NULL) > 1)
            forward_eval<T, 16 / sizeof(T)>(c, d, (T *)y, (const T *)x, gamma, beta, running_mean, running_var,
                                            (const T *)residual, relu);
        else
            forward_eval<T, 1>(c, d, (T *)y, (const T *)x, gamma, beta, running_mean, running_var, (const T *)residual,
                               relu);
    });
}

extern "C" void ws_batchnorm_backward_cuda(const ws_exec *ex, const ws_batchnorm_desc *d, void *dx, float *dgamma,
                                           float *dbeta, void *dy, const void *y, const void *x, const float *gamma,
                                           const float *beta, const float *save_mean, const float *save_invstd,
                                           void *dresidual, int relu, const uint8_t *relu_mask) {
    ws_cuda_ctx *c = ex->cuda;
    const uint8_t *mask = uses_mask(d, relu_mask, dresidual != NULL, relu) ? relu_mask : NULL;
    WS_DISPATCH_ACT(ex->precision, T, {
        if (vec_width<T>(d->c, dx, dy, relu && dresidual && !mask ? y : NULL, x, dresidual) > 1)
            backward<T, 16 / sizeof(T)>(c, d, (T *)dx, dgamma, dbeta, (T *)dy, (const T *)y, (const T *)x, gamma, beta,
                                        save_mean, save_invstd, (T *)dresidual, relu, mask);
        else
            backward<T, 1>(c, d, (T *)dx, dgamma, dbeta, (T *)dy, (const T *)y, (const T *)x, gamma, beta, save_mean,
                           save_invstd, (T *)dresidual, relu, mask);
    });
}
