/* ops/amp_cuda.cu - loss scaling on the GPU.
 * defines: ws_amp_scale_cuda, ws_amp_unscale_check_cuda
 * reference: ops/amp.c; contract: ops/amp.h. Grid-stride, one element per thread;
 * found_inf is set by plain stores of 1 (any thread, any order: the same result). */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/amp.h"
}

template <typename T> __global__ void amp_scale(T *x, size_t n, const float *scale) {
    float s = *scale;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = wsi_from_f<T>(wsi_to_f(x[i]) * s);
}

__global__ void amp_unscale(float *g, size_t n, const float *scale, int *found_inf) {
    float inv = 1.0f / *scale;
    int bad = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = g[i] * inv;
        g[i] = v;
        bad |= !isfinite(v);
    }
    if (__any_sync(0xffffffffu, bad) && (threadIdx.x & 31) == 0) *found_inf = 1;
}

extern "C" void ws_amp_scale_cuda(const ws_exec *ex, void *x, size_t n, const float *scale) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    WS_DISPATCH_ACT(ex->precision, T, amp_scale<T><<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>((T *)x, n, scale));
    WS_CHECK_LAUNCH(c, "amp_scale");
}

extern "C" void ws_amp_unscale_check_cuda(const ws_exec *ex, float *g, size_t n, const float *scale, int *found_inf) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    amp_unscale<<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>(g, n, scale, found_inf);
    WS_CHECK_LAUNCH(c, "amp_unscale");
}
