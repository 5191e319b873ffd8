/* src/ops/layernorm_cuda.cu - layer normalization over the last dimension on the GPU.
 * defines: ws_layernorm_forward_cuda, ws_layernorm_backward_cuda
 * reference: src/ops/layernorm_cpu.c; contract: src/ops/layernorm.h
 * Shapes: x, y, dx, dy [ROWS, DIM] fp32; gamma, beta, dgamma, dbeta [DIM]; mean, rstd [ROWS].
 *
 * One warp per row (8 rows per 256-thread block; the last block's spare warps idle), lanes
 * striding the row so each step reads 128 contiguous bytes. Statistics in fp32 as PyTorch's
 * CUDA kernel, but two passes (mean, then squared deviations, the row re-read from L1/L2)
 * like the reference, so a large mean with a small spread loses nothing to cancellation;
 * sums reduced by warp shuffles. rstd = 1/sqrtf (not rsqrtf: its 2 ulp are avoidable).
 * Backward: the same warp per row for dx (two fp32 sums, then the formula of layernorm.h);
 * dgamma and dbeta are column sums over all rows done without atomics by ops/colsum.cuh
 * (row chunks, partials in double, summed in chunk order: deterministic). */
#include "ops/colsum.cuh"

extern "C" {
#include "ops/layernorm.h"
}

#define ROWS_PER_BLOCK 8

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ void layernorm_fwd(float *__restrict__ y, float *__restrict__ mean, float *__restrict__ rstd,
                              const float *__restrict__ x, const float *__restrict__ gamma,
                              const float *__restrict__ beta, int rows, int dim, float eps) {
    const int r = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + (size_t)r * dim;
    float s = 0.0f;
    for (int j = lane; j < dim; j += 32) s += xr[j];
    const float mu = warp_sum(s) / dim;
    float ss = 0.0f;
    for (int j = lane; j < dim; j += 32) {
        float d = xr[j] - mu;
        ss += d * d;
    }
    const float rs = 1.0f / sqrtf(warp_sum(ss) / dim + eps);
    float *yr = y + (size_t)r * dim;
    for (int j = lane; j < dim; j += 32) yr[j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
    if (lane == 0) {
        mean[r] = mu;
        rstd[r] = rs;
    }
}

__global__ void layernorm_bwd_dx(float *__restrict__ dx, const float *__restrict__ dy, const float *__restrict__ x,
                                 const float *__restrict__ gamma, const float *__restrict__ mean,
                                 const float *__restrict__ rstd, int rows, int dim) {
    const int r = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *xr = x + (size_t)r * dim, *dyr = dy + (size_t)r * dim;
    const float mu = mean[r], rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (int j = lane; j < dim; j += 32) {
        float g = dyr[j] * gamma[j];
        sg += g;
        sgx += g * ((xr[j] - mu) * rs);
    }
    const float mean_g = warp_sum(sg) / dim, mean_gx = warp_sum(sgx) / dim;
    float *dxr = dx + (size_t)r * dim;
    for (int j = lane; j < dim; j += 32) {
        float xhat = (xr[j] - mu) * rs;
        dxr[j] = rs * (dyr[j] * gamma[j] - mean_g - xhat * mean_gx);
    }
}

/* row r's contributions to column j: dy * xhat (dgamma) and dy (dbeta) */
struct ln_param_terms {
    const float *dy, *x, *mean, *rstd;
    int dim;
    __device__ void operator()(int r, int j, double acc[2]) const {
        size_t e = (size_t)r * dim + j;
        float g = dy[e];
        acc[0] += (double)g * (double)((x[e] - mean[r]) * rstd[r]);
        acc[1] += g;
    }
};

struct ln_param_add {
    float *dgamma, *dbeta;
    __device__ void operator()(int j, int v, double s) const { (v == 0 ? dgamma : dbeta)[j] += (float)s; }
};

static unsigned row_blocks(int rows) { return (unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK); }

extern "C" void ws_layernorm_forward_cuda(const ws_exec *ex, int rows, int dim, float eps, float *y, float *mean,
                                          float *rstd, const float *x, const float *gamma, const float *beta) {
    ws_cuda_ctx *c = ex->cuda;
    layernorm_fwd<<<row_blocks(rows), ROWS_PER_BLOCK * 32, 0, c->stream>>>(y, mean, rstd, x, gamma, beta, rows, dim,
                                                                           eps);
    WS_CHECK_LAUNCH(c, "layernorm forward");
}

extern "C" void ws_layernorm_backward_cuda(const ws_exec *ex, int rows, int dim, float *dx, float *dgamma,
                                           float *dbeta, const float *dy, const float *x, const float *gamma,
                                           const float *mean, const float *rstd) {
    ws_cuda_ctx *c = ex->cuda;
    layernorm_bwd_dx<<<row_blocks(rows), ROWS_PER_BLOCK * 32, 0, c->stream>>>(dx, dy, x, gamma, mean, rstd, rows,
                                                                              dim);
    WS_CHECK_LAUNCH(c, "layernorm backward dx");
    wsi_colsum<2>(c, rows, dim, ln_param_terms{dy, x, mean, rstd, dim}, ln_param_add{dgamma, dbeta},
                  "layernorm backward dgamma/dbeta");
}
