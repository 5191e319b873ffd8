/* src/ops/eltwise_cuda.cu - element-wise ReLU and add on the GPU.
 * defines: ws_relu_forward_cuda, ws_relu_backward_cuda, ws_add_forward_cuda
 * reference: src/ops/eltwise_cpu.c; contract: src/ops/eltwise.h. The same expressions as
 * the reference (NaN passes ReLU forward; backward keys on y > 0), one element per thread
 * in a grid-stride loop; in-place aliasing is safe (same index in and out). ResNet's
 * training path uses the fused batch-norm epilogue instead; these serve the rest. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/eltwise.h"
}

template <typename T> __global__ void relu_fwd(T *y, const T *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = wsi_to_f(x[i]);
        y[i] = wsi_from_f<T>(v < 0.0f ? 0.0f : v);
    }
}

template <typename T> __global__ void relu_bwd(T *dx, const T *dy, const T *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dx[i] = wsi_to_f(y[i]) > 0.0f ? dy[i] : wsi_from_f<T>(0.0f);
}

template <typename T> __global__ void add_fwd(T *y, const T *a, const T *b, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = wsi_from_f<T>(wsi_to_f(a[i]) + wsi_to_f(b[i]));
}

extern "C" void ws_relu_forward_cuda(const ws_exec *ex, size_t n, void *y, const void *x) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    WS_DISPATCH_ACT(ex->precision, T, relu_fwd<T><<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>((T *)y, (const T *)x, n));
    WS_CHECK_LAUNCH(c, "relu_fwd");
}

extern "C" void ws_relu_backward_cuda(const ws_exec *ex, size_t n, void *dx, const void *dy, const void *y) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    WS_DISPATCH_ACT(ex->precision, T,
                    relu_bwd<T><<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>((T *)dx, (const T *)dy, (const T *)y, n));
    WS_CHECK_LAUNCH(c, "relu_bwd");
}

extern "C" void ws_add_forward_cuda(const ws_exec *ex, size_t n, void *y, const void *a, const void *b) {
    ws_cuda_ctx *c = ex->cuda;
    if (!n) return;
    WS_DISPATCH_ACT(ex->precision, T,
                    add_fwd<T><<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>((T *)y, (const T *)a, (const T *)b, n));
    WS_CHECK_LAUNCH(c, "add_fwd");
}
