/* src/ops/conv2d_cpu.c - reference 2-D convolution (no bias), the oracle for the CUDA twin.
 * defines: ws_conv2d_forward_cpu, ws_conv2d_backward_cpu, ws_conv2d_workspace_bytes_cpu
 * twin: src/ops/conv2d_cuda.cu (cuDNN); contract and shapes: src/ops/conv2d.h
 * Shapes: x [N,C,H,W], w [K,C,R,S], y and dy [N,K,P,Q], NCHW, fp32.
 * Per image: im2col turns x[n] into col [C*R*S, P*Q], then one product
 *   forward   y[n] [K,P*Q]     = w [K,CRS] x col
 *   backward  dw  [K,CRS]     += dy[n] [K,P*Q] x col^T
 *             dcol [CRS,P*Q]   = w^T x dy[n], folded back into dx[n] by col2im.
 * A 1x1, stride-1, unpadded convolution skips im2col: x[n] is already its col.
 *
 * Threads and determinism: the batch is cut into T contiguous chunks, T = `threads` (<= 0:
 * omp_get_max_threads(), 1 without OpenMP), at most N. Each chunk owns a col buffer and a
 * private partial dw in the workspace; the partials are added in chunk order 0..T-1 and
 * the sum is added once to dw. The partition, not the OpenMP runtime, fixes every sum, so
 * results are bitwise reproducible for a given T (with or without OpenMP); y and dx are
 * per image and identical for every T; dw differs between values of T by rounding only.
 * Pass the same `threads` to ws_conv2d_workspace_bytes_cpu and to the calls it sizes for.
 * The products thread themselves where the batch does not (one chunk): OpenBLAS with its
 * own pool, the fallback over rows of C (ops/gemm_cpu.c), whose sums do not depend on it. */
#include "ops/conv2d.h"
#include "ops/gemm.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { ALIGN_FLOATS = 16 }; /* 64 B: chunk buffers on separate cache lines */


static int desc_ok(const ws_conv2d_desc *d) {
    if (!d || d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->k < 1 || d->r < 1 || d->s < 1 || d->stride < 1 ||
        d->pad < 0)
        return 0;
    ws_conv2d_desc m = ws_conv2d_desc_make(d->n, d->c, d->h, d->w, d->k, d->r, d->s, d->stride, d->pad);
    if (d->p < 1 || d->q < 1 || d->p != m.p || d->q != m.q) return 0;
    /* the products take int dimensions */
    return (size_t)d->c * d->r * d->s <= INT_MAX && (size_t)d->p * d->q <= INT_MAX &&
           (size_t)d->c * d->h * d->w <= INT_MAX;
}

static int is_direct(const ws_conv2d_desc *d) { return d->r == 1 && d->s == 1 && d->stride == 1 && d->pad == 0; }

static int chunk_count(const ws_conv2d_desc *d, int threads) {
    int t = wsi_omp_threads(threads);
    return t < d->n ? t : d->n;
}

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }
static size_t col_floats(const ws_conv2d_desc *d) { return round_up((size_t)d->c * d->r * d->s * d->p * d->q); }
static size_t dw_floats(const ws_conv2d_desc *d) { return round_up((size_t)d->k * d->c * d->r * d->s); }

size_t ws_conv2d_workspace_bytes_cpu(const ws_conv2d_desc *d, int threads) {
    if (!desc_ok(d)) return 0;
    /* + one alignment unit: the caller's pointer is rounded up to 64 B */
    return ((size_t)chunk_count(d, threads) * (col_floats(d) + dw_floats(d)) + ALIGN_FLOATS) * sizeof(float);
}

/* Chunk t's buffers: col [CRS*PQ], then partial dw [KCRS], 64-byte aligned. */
static float *chunk_base(const ws_conv2d_desc *d, void *workspace, int t) {
    const uintptr_t align = ALIGN_FLOATS * sizeof(float);
    uintptr_t a = ((uintptr_t)workspace + align - 1) & ~(align - 1);
    return (float *)a + (size_t)t * (col_floats(d) + dw_floats(d));
}

/* col[(c*R + r)*S + s][p*Q + q] = x[c][p*stride - pad + r][q*stride - pad + s], 0 outside. */
static void im2col(const ws_conv2d_desc *d, const float *x, float *col) {
    int P = d->p, Q = d->q;
    for (int c = 0; c < d->c; c++)
        for (int r = 0; r < d->r; r++)
            for (int s = 0; s < d->s; s++) {
                float *row = col + ((size_t)(c * d->r + r) * d->s + s) * P * Q;
                const float *xc = x + (size_t)c * d->h * d->w;
                for (int p = 0; p < P; p++) {
                    int ih = p * d->stride - d->pad + r;
                    float *out = row + (size_t)p * Q;
                    if (ih < 0 || ih >= d->h) {
                        memset(out, 0, (size_t)Q * sizeof *out);
                        continue;
                    }
                    for (int q = 0; q < Q; q++) {
                        int iw = q * d->stride - d->pad + s;
                        out[q] = (iw >= 0 && iw < d->w) ? xc[(size_t)ih * d->w + iw] : 0.0f;
                    }
                }
            }
}

/* dx (=, or += when accumulate) from dcol: the adjoint of im2col, adding overlapping
 * windows in a fixed order. */
static void col2im(const ws_conv2d_desc *d, const float *col, float *dx, int accumulate) {
    int P = d->p, Q = d->q;
    if (!accumulate) memset(dx, 0, (size_t)d->c * d->h * d->w * sizeof *dx);
    for (int c = 0; c < d->c; c++)
        for (int r = 0; r < d->r; r++)
            for (int s = 0; s < d->s; s++) {
                const float *row = col + ((size_t)(c * d->r + r) * d->s + s) * P * Q;
                float *dxc = dx + (size_t)c * d->h * d->w;
                for (int p = 0; p < P; p++) {
                    int ih = p * d->stride - d->pad + r;
                    if (ih < 0 || ih >= d->h) continue;
                    for (int q = 0; q < Q; q++) {
                        int iw = q * d->stride - d->pad + s;
                        if (iw >= 0 && iw < d->w) dxc[(size_t)ih * d->w + iw] += row[(size_t)p * Q + q];
                    }
                }
            }
}

ws_status ws_conv2d_forward_cpu(const ws_conv2d_desc *d, int threads, float *y, const float *x, const float *w,
                                void *workspace) {
    if (!desc_ok(d) || !y || !x || !w || !workspace) return WS_EINVAL;
    int chunks = chunk_count(d, threads), direct = is_direct(d);
    int K = d->k, CRS = d->c * d->r * d->s, PQ = d->p * d->q;
    size_t x_img = (size_t)d->c * d->h * d->w, y_img = (size_t)K * PQ;
#ifdef _OPENMP
#pragma omp parallel for num_threads(chunks) schedule(static) if (chunks > 1)
#endif
    for (int t = 0; t < chunks; t++) {
        float *col = chunk_base(d, workspace, t);
        int first = (int)((long long)d->n * t / chunks), last = (int)((long long)d->n * (t + 1) / chunks);
        for (int i = first; i < last; i++) {
            const float *xi = x + (size_t)i * x_img;
            if (!direct) im2col(d, xi, col);
            ws_gemm_cpu(0, 0, K, PQ, CRS, 1.0f, w, CRS, direct ? xi : col, PQ, 0.0f, y + (size_t)i * y_img, PQ);
        }
    }
    return WS_OK;
}

ws_status ws_conv2d_backward_cpu(const ws_conv2d_desc *d, int threads, float *dx, float *dw, const float *dy,
                                 const float *x, const float *w, void *workspace, int accumulate_dx) {
    if (!desc_ok(d) || !dw || !dy || !x || !w || !workspace) return WS_EINVAL;
    int chunks = chunk_count(d, threads), direct = is_direct(d);
    int K = d->k, CRS = d->c * d->r * d->s, PQ = d->p * d->q;
    size_t x_img = (size_t)d->c * d->h * d->w, y_img = (size_t)K * PQ, n_dw = (size_t)K * CRS;
#ifdef _OPENMP
#pragma omp parallel for num_threads(chunks) schedule(static) if (chunks > 1)
#endif
    for (int t = 0; t < chunks; t++) {
        float *col = chunk_base(d, workspace, t), *dw_part = col + col_floats(d);
        int first = (int)((long long)d->n * t / chunks), last = (int)((long long)d->n * (t + 1) / chunks);
        memset(dw_part, 0, n_dw * sizeof *dw_part);
        for (int i = first; i < last; i++) {
            const float *xi = x + (size_t)i * x_img, *dyi = dy + (size_t)i * y_img;
            if (!direct) im2col(d, xi, col);
            ws_gemm_cpu(0, 1, K, CRS, PQ, 1.0f, dyi, PQ, direct ? xi : col, PQ, 1.0f, dw_part, CRS);
            if (!dx) continue;
            float *dxi = dx + (size_t)i * x_img;
            /* col is free again: it takes dcol (for a direct conv dcol is dx[n] itself) */
            ws_gemm_cpu(1, 0, CRS, PQ, K, 1.0f, w, CRS, dyi, PQ, (direct && accumulate_dx) ? 1.0f : 0.0f,
                        direct ? dxi : col, PQ);
            if (!direct) col2im(d, col, dxi, accumulate_dx);
        }
    }
    /* Fixed-order reduction: partial 0 + 1 + ... + T-1, then one add into dw (+=), so a
     * gradient accumulated over micro-batches adds whole-batch sums, as PyTorch's .grad. */
    const float *part0 = chunk_base(d, workspace, 0) + col_floats(d);
    size_t stride = col_floats(d) + dw_floats(d);
#ifdef _OPENMP
#pragma omp parallel for num_threads(chunks) schedule(static) if (chunks > 1)
#endif
    for (size_t e = 0; e < n_dw; e++) {
        float sum = part0[e];
        for (int t = 1; t < chunks; t++) sum += part0[(size_t)t * stride + e];
        dw[e] += sum;
    }
    return WS_OK;
}
