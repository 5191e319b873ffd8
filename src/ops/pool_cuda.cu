/* src/ops/pool_cuda.cu - max pooling and global average pooling on the GPU, NHWC.
 * defines: ws_maxpool_forward_cuda, ws_maxpool_backward_cuda, ws_avgpool_global_forward_cuda,
 *          ws_avgpool_global_backward_cuda
 * reference: src/ops/pool_cpu.c; contract: src/ops/pool.h.
 * Channels are innermost, so threads along c read coalesced rows. Max pooling keeps the
 * reference's rules (padding never wins, ties: the first in row-major order, NaN is
 * chosen). Its backward gathers instead of scattering: each input sums the outputs whose
 * argmax it is, in the reference's output order, so no atomics and the same bits. Where C
 * is a multiple of the 16-byte vector (8 bf16, 4 fp32: every ResNet pool), a thread takes
 * one pixel's vector of channels with 32-bit index arithmetic: one thread per element with
 * 64-bit divisions made the backward of ResNet-50's pool 2.7 ms at batch 256 on an H200
 * (integer work, not memory: 16x its bytes' time; WATTSCALE_PROFILE, 2026-12-01).
 * Average pooling sums in double, as the reference. */
#include "ops/cuda_common.cuh"

extern "C" {
#include "ops/pool.h"
}

#include <math.h>

template <typename T>
__global__ void maxpool_fwd(T *__restrict__ y, int32_t *__restrict__ argmax, const T *__restrict__ x,
                            ws_maxpool_desc d) {
    size_t total = (size_t)d.n * d.p * d.q * d.c;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)(o % d.c);
        size_t r = o / d.c;
        int q = (int)(r % d.q);
        r /= d.q;
        int p = (int)(r % d.p);
        size_t i = r / d.p;
        int h0 = p * d.stride - d.pad, h1 = h0 + d.r, w0 = q * d.stride - d.pad, w1 = w0 + d.s;
        if (h0 < 0) h0 = 0;
        if (h1 > d.h) h1 = d.h;
        if (w0 < 0) w0 = 0;
        if (w1 > d.w) w1 = d.w;
        int32_t best_i = h0 * d.w + w0;
        float best = -INFINITY;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) {
                float v = wsi_to_f(x[((i * d.h + ih) * d.w + iw) * d.c + ch]);
                if (v > best || isnan(v)) {
                    best = v;
                    best_i = ih * d.w + iw;
                }
            }
        y[o] = wsi_from_f<T>(best);
        argmax[o] = best_i;
    }
}

template <typename T>
__global__ void maxpool_bwd(T *__restrict__ dx, const T *__restrict__ dy, const int32_t *__restrict__ argmax,
                            ws_maxpool_desc d) {
    size_t total = (size_t)d.n * d.h * d.w * d.c;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)(o % d.c);
        size_t r = o / d.c;
        int iw = (int)(r % d.w);
        r /= d.w;
        int ih = (int)(r % d.h);
        size_t i = r / d.h;
        int32_t me = ih * d.w + iw;
        /* outputs whose window holds (ih, iw): p*stride - pad <= ih < p*stride - pad + r */
        int p0 = (ih + d.pad - d.r + d.stride) / d.stride; /* ceil((ih + pad - r + 1) / stride), >= 0 below */
        if (ih + d.pad - d.r + 1 <= 0) p0 = 0;
        int p1 = (ih + d.pad) / d.stride;
        if (p1 > d.p - 1) p1 = d.p - 1;
        int q0 = (iw + d.pad - d.s + d.stride) / d.stride;
        if (iw + d.pad - d.s + 1 <= 0) q0 = 0;
        int q1 = (iw + d.pad) / d.stride;
        if (q1 > d.q - 1) q1 = d.q - 1;
        float sum = 0.0f;
        for (int p = p0; p <= p1; p++)
            for (int q = q0; q <= q1; q++) {
                size_t k = ((i * d.p + p) * d.q + q) * d.c + ch;
                if (argmax[k] == me) sum += wsi_to_f(dy[k]);
            }
        dx[o] = wsi_from_f<T>(sum);
    }
}

/* The vector forms: thread t = pixel * CV + channel vector; total < 2^32 (checked). */
template <typename T, int V>
__global__ void maxpool_fwd_vec(T *__restrict__ y, int32_t *__restrict__ argmax, const T *__restrict__ x,
                                ws_maxpool_desc d, unsigned total) {
    const unsigned CV = (unsigned)d.c / V;
    for (unsigned t = blockIdx.x * blockDim.x + threadIdx.x; t < total; t += gridDim.x * blockDim.x) {
        unsigned cv = t % CV, pix = t / CV;
        unsigned q = pix % (unsigned)d.q, r = pix / (unsigned)d.q;
        unsigned p = r % (unsigned)d.p, i = r / (unsigned)d.p;
        int h0 = (int)p * d.stride - d.pad, h1 = h0 + d.r, w0 = (int)q * d.stride - d.pad, w1 = w0 + d.s;
        if (h0 < 0) h0 = 0;
        if (h1 > d.h) h1 = d.h;
        if (w0 < 0) w0 = 0;
        if (w1 > d.w) w1 = d.w;
        float best[V];
        int32_t bi[V];
#pragma unroll
        for (int v = 0; v < V; v++) {
            best[v] = -INFINITY;
            bi[v] = h0 * d.w + w0;
        }
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++) {
                wsi_vec<T> in = wsi_load16(x + (((size_t)i * d.h + ih) * d.w + iw) * d.c + (size_t)cv * V);
#pragma unroll
                for (int v = 0; v < V; v++) {
                    float f = wsi_to_f(in.v[v]);
                    if (f > best[v] || isnan(f)) {
                        best[v] = f;
                        bi[v] = ih * d.w + iw;
                    }
                }
            }
        wsi_vec<T> out;
#pragma unroll
        for (int v = 0; v < V; v++) out.v[v] = wsi_from_f<T>(best[v]);
        size_t o = (size_t)pix * d.c + (size_t)cv * V;
        wsi_store16(y + o, out);
#pragma unroll
        for (int v = 0; v < V; v++) argmax[o + v] = bi[v];
    }
}

template <typename T, int V>
__global__ void maxpool_bwd_vec(T *__restrict__ dx, const T *__restrict__ dy, const int32_t *__restrict__ argmax,
                                ws_maxpool_desc d, unsigned total) {
    const unsigned CV = (unsigned)d.c / V;
    for (unsigned t = blockIdx.x * blockDim.x + threadIdx.x; t < total; t += gridDim.x * blockDim.x) {
        unsigned cv = t % CV, pix = t / CV;
        unsigned iw = pix % (unsigned)d.w, r = pix / (unsigned)d.w;
        unsigned ih = r % (unsigned)d.h, i = r / (unsigned)d.h;
        int32_t me = (int32_t)(ih * (unsigned)d.w + iw);
        int p0 = ((int)ih + d.pad - d.r + 1 <= 0) ? 0 : ((int)ih + d.pad - d.r + d.stride) / d.stride;
        int p1 = ((int)ih + d.pad) / d.stride;
        if (p1 > d.p - 1) p1 = d.p - 1;
        int q0 = ((int)iw + d.pad - d.s + 1 <= 0) ? 0 : ((int)iw + d.pad - d.s + d.stride) / d.stride;
        int q1 = ((int)iw + d.pad) / d.stride;
        if (q1 > d.q - 1) q1 = d.q - 1;
        float sum[V];
#pragma unroll
        for (int v = 0; v < V; v++) sum[v] = 0.0f;
        for (int p = p0; p <= p1; p++)
            for (int q = q0; q <= q1; q++) {
                size_t k = (((size_t)i * d.p + p) * d.q + q) * d.c + (size_t)cv * V;
                wsi_vec<T> g = wsi_load16(dy + k);
#pragma unroll
                for (int v = 0; v < V; v++)
                    if (__ldg(argmax + k + v) == me) sum[v] += wsi_to_f(g.v[v]);
            }
        wsi_vec<T> out;
#pragma unroll
        for (int v = 0; v < V; v++) out.v[v] = wsi_from_f<T>(sum[v]);
        wsi_store16(dx + (size_t)pix * d.c + (size_t)cv * V, out);
    }
}

template <typename T> __global__ void gap_fwd(T *__restrict__ y, const T *__restrict__ x, int n, int c, int hw) {
    size_t total = (size_t)n * c;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        size_t i = o / c, ch = o % c;
        double s = 0.0;
        for (int p = 0; p < hw; p++) s += wsi_to_f(x[(i * hw + p) * c + ch]);
        y[o] = wsi_from_f<T>((float)(s / (double)hw));
    }
}

template <typename T> __global__ void gap_bwd(T *__restrict__ dx, const T *__restrict__ dy, int n, int c, int hw) {
    size_t total = (size_t)n * hw * c;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total; o += (size_t)gridDim.x * blockDim.x) {
        size_t ch = o % c, i = o / ((size_t)hw * c);
        dx[o] = wsi_from_f<T>((float)((double)wsi_to_f(dy[i * c + ch]) / (double)hw));
    }
}

/* The vector kernel applies: C a whole number of 16-byte vectors, aligned, and few enough
 * threads for 32-bit indices. */
template <typename T> static int vec_ok(const ws_maxpool_desc *d, const void *a, const void *b, size_t pixels) {
    const int V = 16 / (int)sizeof(T);
    return d->c % V == 0 && wsi_aligned16(a) && wsi_aligned16(b) && pixels * (size_t)(d->c / V) < ((size_t)1 << 32);
}

extern "C" void ws_maxpool_forward_cuda(const ws_exec *ex, const ws_maxpool_desc *d, void *y, int32_t *argmax,
                                        const void *x) {
    ws_cuda_ctx *c = ex->cuda;
    size_t total = (size_t)d->n * d->p * d->q * d->c;
    WS_DISPATCH_ACT(ex->precision, T, {
        const int V = 16 / (int)sizeof(T);
        size_t pixels = (size_t)d->n * d->p * d->q;
        if (vec_ok<T>(d, x, y, pixels)) {
            unsigned t = (unsigned)(pixels * (size_t)(d->c / V));
            maxpool_fwd_vec<T, 16 / sizeof(T)><<<wsi_blocks(c, t, 256), 256, 0, c->stream>>>((T *)y, argmax,
                                                                                          (const T *)x, *d, t);
            WS_CHECK_LAUNCH(c, "maxpool_fwd_vec");
            return;
        }
    });
    WS_DISPATCH_ACT(ex->precision, T,
                    maxpool_fwd<T><<<wsi_blocks(c, total, 256), 256, 0, c->stream>>>((T *)y, argmax, (const T *)x, *d));
    WS_CHECK_LAUNCH(c, "maxpool_fwd");
}

extern "C" void ws_maxpool_backward_cuda(const ws_exec *ex, const ws_maxpool_desc *d, void *dx, const void *dy,
                                         const int32_t *argmax) {
    ws_cuda_ctx *c = ex->cuda;
    size_t total = (size_t)d->n * d->h * d->w * d->c;
    WS_DISPATCH_ACT(ex->precision, T, {
        const int V = 16 / (int)sizeof(T);
        size_t pixels = (size_t)d->n * d->h * d->w;
        if (vec_ok<T>(d, dx, dy, pixels)) {
            unsigned t = (unsigned)(pixels * (size_t)(d->c / V));
            maxpool_bwd_vec<T, 16 / sizeof(T)><<<wsi_blocks(c, t, 256), 256, 0, c->stream>>>((T *)dx, (const T *)dy,
                                                                                          argmax, *d, t);
            WS_CHECK_LAUNCH(c, "maxpool_bwd_vec");
            return;
        }
    });
    WS_DISPATCH_ACT(ex->precision, T,
                    maxpool_bwd<T><<<wsi_blocks(c, total, 256), 256, 0, c->stream>>>((T *)dx, (const T *)dy, argmax, *d));
    WS_CHECK_LAUNCH(c, "maxpool_bwd");
}

extern "C" void ws_avgpool_global_forward_cuda(const ws_exec *ex, int n, int ch, int h, int w, void *y, const void *x) {
    ws_cuda_ctx *c = ex->cuda;
    size_t total = (size_t)n * ch;
    WS_DISPATCH_ACT(ex->precision, T,
                    gap_fwd<T><<<wsi_blocks(c, total, 256), 256, 0, c->stream>>>((T *)y, (const T *)x, n, ch, h * w));
    WS_CHECK_LAUNCH(c, "gap_fwd");
}

extern "C" void ws_avgpool_global_backward_cuda(const ws_exec *ex, int n, int ch, int h, int w, void *dx,
                                                const void *dy) {
    ws_cuda_ctx *c = ex->cuda;
    size_t total = (size_t)n * ch * h * w;
    WS_DISPATCH_ACT(ex->precision, T,
                    gap_bwd<T><<<wsi_blocks(c, total, 256), 256, 0, c->stream>>>((T *)dx, (const T *)dy, n, ch, h * w));
    WS_CHECK_LAUNCH(c, "gap_bwd");
}
