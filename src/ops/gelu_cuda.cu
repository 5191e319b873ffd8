/* src/ops/gelu_cuda.cu - GELU (exact erf form) forward and backward on the GPU.
 * defines: ws_gelu_forward_cuda, ws_gelu_backward_cuda, ws_gelu_forward_act_cuda,
 *          ws_gelu_backward_act_cuda (bf16/fp16 storage: 16-byte vectors of 8 where aligned,
 *          fp32 arithmetic, one rounding per result)
 * reference: src/ops/gelu_cpu.c; contract: src/ops/gelu.h
 * Shapes: n floats. fp32 arithmetic (the reference's double would cost more than the
 * memory traffic on most GPUs), with Phi(x) = erfc(-x/sqrt 2)/2 rather than (1 + erf)/2:
 * the same function, but without the cancellation of 1 + erf for negative x, so the tail
 * keeps its relative accuracy as the reference's does. Grid-stride loops, four elements per
 * 16-byte load where the buffers are aligned, the rest one by one; every element depends on
 * its own inputs only, so aliasing (dx on dy) is safe. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/gelu.h"
}

#define INV_SQRT2_F 0.70710678118654752440f
#define INV_SQRT_2PI_F 0.39894228040143267794f

__device__ __forceinline__ float gelu_f(float v) { return 0.5f * v * erfcf(-v * INV_SQRT2_F); }

__device__ __forceinline__ float gelu_grad_f(float g, float v) {
    float cdf = 0.5f * erfcf(-v * INV_SQRT2_F), pdf = INV_SQRT_2PI_F * expf(-0.5f * v * v);
    return g * (cdf + v * pdf);
}

/* the first n4 * 4 elements as float4, the rest (n - 4 n4 < 4, or all when unaligned) as floats */
__global__ void gelu_fwd(float *y, const float *x, size_t n, size_t n4) {
    const size_t stride = (size_t)gridDim.x * blockDim.x, t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (size_t i = t; i < n4; i += stride) {
        float4 v = reinterpret_cast<const float4 *>(x)[i];
        v.x = gelu_f(v.x), v.y = gelu_f(v.y), v.z = gelu_f(v.z), v.w = gelu_f(v.w);
        reinterpret_cast<float4 *>(y)[i] = v;
    }
    for (size_t i = 4 * n4 + t; i < n; i += stride) y[i] = gelu_f(x[i]);
}

__global__ void gelu_bwd(float *dx, const float *dy, const float *x, size_t n, size_t n4) {
    const size_t stride = (size_t)gridDim.x * blockDim.x, t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    for (size_t i = t; i < n4; i += stride) {
        float4 v = reinterpret_cast<const float4 *>(x)[i], g = reinterpret_cast<const float4 *>(dy)[i];
        g.x = gelu_grad_f(g.x, v.x), g.y = gelu_grad_f(g.y, v.y), g.z = gelu_grad_f(g.z, v.z);
        g.w = gelu_grad_f(g.w, v.w);
        reinterpret_cast<float4 *>(dx)[i] = g;
    }
    for (size_t i = 4 * n4 + t; i < n; i += stride) dx[i] = gelu_grad_f(dy[i], x[i]);
}

extern "C" void ws_gelu_forward_cuda(const ws_exec *ex, size_t n, float *y, const float *x) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    size_t n4 = wsi_aligned16(y) && wsi_aligned16(x) ? n / 4 : 0;
    gelu_fwd<<<wsi_blocks(c, n4 ? n4 : n, 256), 256, 0, c->stream>>>(y, x, n, n4);
    WS_CHECK_LAUNCH(c, "gelu forward");
}

extern "C" void ws_gelu_backward_cuda(const ws_exec *ex, size_t n, float *dx, const float *dy, const float *x) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    size_t n4 = wsi_aligned16(dx) && wsi_aligned16(dy) && wsi_aligned16(x) ? n / 4 : 0;
    gelu_bwd<<<wsi_blocks(c, n4 ? n4 : n, 256), 256, 0, c->stream>>>(dx, dy, x, n, n4);
    WS_CHECK_LAUNCH(c, "gelu backward");
}

/* storage type T (bf16, fp16): the first n8 * 8 elements as 16-byte vectors, the rest one by one */
template <typename T> __global__ void gelu_fwd_act(T *y, const T *x, size_t n, size_t n8) {
    const size_t stride = (size_t)gridDim.x * blockDim.x, t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    constexpr int V = wsi_vec<T>::N;
    for (size_t i = t; i < n8; i += stride) {
        wsi_vec<T> v = wsi_load16(x + i * V);
        for (int k = 0; k < V; k++) v.v[k] = wsi_from_f<T>(gelu_f(wsi_to_f(v.v[k])));
        wsi_store16(y + i * V, v);
    }
    for (size_t i = V * n8 + t; i < n; i += stride) y[i] = wsi_from_f<T>(gelu_f(wsi_to_f(x[i])));
}

template <typename T> __global__ void gelu_bwd_act(T *dx, const T *dy, const T *x, size_t n, size_t n8) {
    const size_t stride = (size_t)gridDim.x * blockDim.x, t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    constexpr int V = wsi_vec<T>::N;
    for (size_t i = t; i < n8; i += stride) {
        wsi_vec<T> v = wsi_load16(x + i * V), g = wsi_load16(dy + i * V);
        for (int k = 0; k < V; k++) g.v[k] = wsi_from_f<T>(gelu_grad_f(wsi_to_f(g.v[k]), wsi_to_f(v.v[k])));
        wsi_store16(dx + i * V, g);
    }
    for (size_t i = V * n8 + t; i < n; i += stride) dx[i] = wsi_from_f<T>(gelu_grad_f(wsi_to_f(dy[i]), wsi_to_f(x[i])));
}

/* Only bf16/fp16 reach these (gelu.c sends fp32 storage to the kernels above). */
extern "C" void ws_gelu_forward_act_cuda(const ws_exec *ex, size_t n, void *y, const void *x) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    size_t n8 = wsi_aligned16(y) && wsi_aligned16(x) ? n / 8 : 0;
    WS_DISPATCH_ACT(ex->precision, T,
                    gelu_fwd_act<T><<<wsi_blocks(c, n8 ? n8 : n, 256), 256, 0, c->stream>>>((T *)y, (const T *)x, n, n8));
    WS_CHECK_LAUNCH(c, "gelu forward (storage type)");
}

extern "C" void ws_gelu_backward_act_cuda(const ws_exec *ex, size_t n, void *dx, const void *dy, const void *x) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    size_t n8 = wsi_aligned16(dx) && wsi_aligned16(dy) && wsi_aligned16(x) ? n / 8 : 0;
    WS_DISPATCH_ACT(ex->precision, T,
                    gelu_bwd_act<T><<<wsi_blocks(c, n8 ? n8 : n, 256), 256, 0, c->stream>>>((T *)dx, (const T *)dy,
                                                                                       (const T *)x, n, n8));
    WS_CHECK_LAUNCH(c, "gelu backward (storage type)");
}
