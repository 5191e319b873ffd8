/* ops/convert_cuda.cu - conversions between fp32 NCHW and NHWC activations on the GPU.
 * defines: ws_tensor_upload_cuda, ws_tensor_download_cuda, ws_convert_input_cuda,
 *          ws_convert_input_u8_cuda, ws_cast_cuda, and wsi_accumulate_f32 (ops/cuda_common.cuh).
 * CPU side and contract: ops/convert.{c,h}.
 * One thread per output element (grid-stride), output index in the destination's order so
 * the writes coalesce; the transposed reads of the input hit few distinct lines per warp
 * (c is small for images, and consecutive threads walk w). */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/convert.h"
}

template <typename T>
__global__ void nchw_to_nhwc(T *__restrict__ y, const float *__restrict__ x, int n, int c, int h, int w) {
    size_t total = (size_t)n * c * h * w, hw = (size_t)h * w;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)(o % c);
        size_t pix = o / c; /* (i*h + row)*w + col */
        size_t i = pix / hw, p = pix % hw;
        y[o] = wsi_from_f<T>(x[(i * c + ch) * hw + p]);
    }
}

template <typename T>
__global__ void nhwc_to_nchw(float *__restrict__ y, const T *__restrict__ x, int n, int c, int h, int w) {
    size_t total = (size_t)n * c * h * w, hw = (size_t)h * w;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        size_t p = o % hw, ic = o / hw; /* (i*c + ch) */
        size_t i = ic / c, ch = ic % c;
        y[o] = wsi_to_f(x[(i * hw + p) * c + ch]);
    }
}

struct norm_params {
    float mean[8], inv_std[8];
};

template <typename T>
__global__ void u8_to_act(T *__restrict__ y, const uint8_t *__restrict__ x, size_t total, int c, norm_params np) {
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)(o % c);
        y[o] = wsi_from_f<T>(((float)x[o] * (1.0f / 255.0f) - np.mean[ch]) * np.inv_std[ch]);
    }
}

template <typename D, typename S>
__global__ void cast_kernel(D *__restrict__ y, const S *__restrict__ x, size_t count) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x)
        y[i] = wsi_from_f<D>(wsi_to_f(x[i]));
}

template <typename T> __global__ void add_to_f32(float *__restrict__ dst, const T *__restrict__ src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] += wsi_to_f(src[i]);
}

void wsi_accumulate_f32(ws_cuda_ctx *c, float *dst, const void *src, ws_dtype t, size_t n) {
    if (!n) return;
    WS_DISPATCH_ACT(t, T, add_to_f32<T><<<wsi_blocks(c, n, 256), 256, 0, c->stream>>>(dst, (const T *)src, n));
    WS_CHECK_LAUNCH(c, "accumulate into fp32");
}

extern "C" void ws_convert_input_cuda(const ws_exec *ex, void *dst, const float *src, int n, int c, int h, int w) {
    ws_cuda_ctx *ctx = ex->cuda;
    size_t total = (size_t)n * c * h * w;
    WS_DISPATCH_ACT(ex->precision, T,
                    nchw_to_nhwc<T><<<wsi_blocks(ctx, total, 256), 256, 0, ctx->stream>>>((T *)dst, src, n, c, h, w));
    WS_CHECK_LAUNCH(ctx, "nchw_to_nhwc");
}

extern "C" void ws_convert_input_u8_cuda(const ws_exec *ex, void *dst, const uint8_t *src, int n, int c, int h, int w,
                                         const float *mean, const float *std) {
    ws_cuda_ctx *ctx = ex->cuda;
    size_t total = (size_t)n * c * h * w;
    norm_params np;
    for (int i = 0; i < 8; i++) {
        np.mean[i] = i < c ? mean[i] : 0.0f;
        np.inv_std[i] = i < c ? 1.0f / std[i] : 1.0f;
    }
    WS_DISPATCH_ACT(ex->precision, T,
                    u8_to_act<T><<<wsi_blocks(ctx, total, 256), 256, 0, ctx->stream>>>((T *)dst, src, total, c, np));
    WS_CHECK_LAUNCH(ctx, "u8_to_act");
}

extern "C" void ws_cast_cuda(const ws_exec *ex, void *dst, ws_dtype dst_t, const void *src, ws_dtype src_t,
                             size_t count) {
    ws_cuda_ctx *ctx = ex->cuda;
    if (!count) return;
    unsigned b = wsi_blocks(ctx, count, 256);
    WS_DISPATCH_ACT(dst_t, D, WS_DISPATCH_ACT(src_t, S, cast_kernel<D, S><<<b, 256, 0, ctx->stream>>>((D *)dst, (const S *)src, count)));
    WS_CHECK_LAUNCH(ctx, "cast");
}

extern "C" ws_status ws_tensor_upload_cuda(const ws_exec *ex, void *dst, const float *src, int n, int c, int h, int w,
                                           ws_error *err) {
    ws_cuda_ctx *ctx = ex->cuda;
    size_t bytes = (size_t)n * c * h * w * sizeof(float);
    void *tmp = NULL;
    ws_status st = wsi_cuda_malloc(ctx, &tmp, bytes, "upload staging", err);
    if (st != WS_OK) return st;
    cudaError_t e = cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyHostToDevice, ctx->stream);
    if (e == cudaSuccess) {
        ws_convert_input_cuda(ex, dst, (const float *)tmp, n, c, h, w);
        e = cudaStreamSynchronize(ctx->stream);
    }
    wsi_cuda_free(ctx, tmp, bytes);
    return e == cudaSuccess ? WS_OK : wsi_cuda_status(err, e, "ws_tensor_upload");
}

extern "C" ws_status ws_tensor_download_cuda(const ws_exec *ex, float *dst, const void *src, int n, int c, int h,
                                             int w, ws_error *err) {
    ws_cuda_ctx *ctx = ex->cuda;
    size_t total = (size_t)n * c * h * w, bytes = total * sizeof(float);
    void *tmp = NULL;
    ws_status st = wsi_cuda_malloc(ctx, &tmp, bytes, "download staging", err);
    if (st != WS_OK) return st;
    WS_DISPATCH_ACT(ex->precision, T,
                    nhwc_to_nchw<T><<<wsi_blocks(ctx, total, 256), 256, 0, ctx->stream>>>((float *)tmp, (const T *)src, n, c, h, w));
    WS_CHECK_LAUNCH(ctx, "nhwc_to_nchw");
    cudaError_t e = cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToHost, ctx->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(ctx->stream);
    wsi_cuda_free(ctx, tmp, bytes);
    return e == cudaSuccess ? WS_OK : wsi_cuda_status(err, e, "ws_tensor_download");
}
