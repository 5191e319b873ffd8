/* src/ops/gemm_cpu.c - reference single-precision matrix product, row-major, used by the CPU
 * convolution and linear layers.
 * defines: ws_gemm_cpu, ws_gemm_cpu_library
 * twin: none (on the GPU, cuBLAS plays this part inside each op's .cu); contract: src/ops/gemm.h
 * With BLAS (WS_HAVE_BLAS) a thin wrapper over cblas_sgemm; without it a cache-blocked loop
 * that packs op(A) and op(B) so one inner kernel serves all four transpose combinations.
 * Shapes: op(A) [M,K], op(B) [K,N], C [M,N]; lda/ldb/ldc are row strides of the stored
 * matrices (A stored [M,K] or, transposed, [K,M]). */
#include "ops/gemm.h"
#include "ws_config.h"

#include <stddef.h>

#if WS_HAVE_BLAS
#include <cblas.h>
#include <dlfcn.h>
#else
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#endif

#if WS_HAVE_BLAS

void ws_gemm_cpu(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
}

const char *ws_gemm_cpu_library(void) {
    Dl_info info;
    if (dladdr((void *)cblas_sgemm, &info) && info.dli_fname) return info.dli_fname;
    return "cblas_sgemm (library unknown)";
}

#else

/* Block sizes: a KC x NC panel of B (32 KiB) and an MC x KC panel of A (16 KiB) fit in L1/L2
 * of any x86 or Arm core; both live on the stack of the thread that packs them, because
 * ws_gemm_cpu has no workspace argument and must not allocate (ops.h). */
enum { MC = 64, KC = 128, NC = 64 };

/* C[0:mc, 0:nc] += ap[mc,KC-stride] x bp[kc,NC-stride]; alpha already folded into ap. */
static void kernel(int mc, int nc, int kc, const float *restrict ap, const float *restrict bp, float *restrict c,
                   int ldc) {
    for (int i = 0; i < mc; i++) {
        float *restrict ci = c + (size_t)i * ldc;
        if (nc == NC) {
            /* a constant trip count: gcc -O2 vectorizes only loops that need no epilogue */
            for (int p = 0; p < kc; p++) {
                float aip = ap[i * KC + p];
                const float *restrict bpp = bp + p * NC;
                for (int j = 0; j < NC; j++) ci[j] += aip * bpp[j];
            }
            continue;
        }
        for (int p = 0; p < kc; p++) {
            float aip = ap[i * KC + p];
            const float *restrict bpp = bp + p * NC;
            for (int j = 0; j < nc; j++) ci[j] += aip * bpp[j];
        }
    }
}

/* One row block of C: rows [i0, i0+mc). Every element of C sees the same sequence of
 * additions (k in increasing order, KC at a time) whichever thread owns its row block, so
 * the result does not depend on the number of threads. */
static void row_block(int trans_a, int trans_b, int i0, int mc, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float *c, int ldc) {
    float ap[MC * KC], bp[KC * NC];
    for (int j0 = 0; j0 < n; j0 += NC) {
        int nc = n - j0 < NC ? n - j0 : NC;
        for (int p0 = 0; p0 < k; p0 += KC) {
            int kc = k - p0 < KC ? k - p0 : KC;
            for (int p = 0; p < kc; p++)
                for (int j = 0; j < nc; j++)
                    bp[p * NC + j] =
                        trans_b ? b[(size_t)(j0 + j) * ldb + (p0 + p)] : b[(size_t)(p0 + p) * ldb + (j0 + j)];
            for (int i = 0; i < mc; i++)
                for (int p = 0; p < kc; p++)
                    ap[i * KC + p] = alpha * (trans_a ? a[(size_t)(p0 + p) * lda + (i0 + i)]
                                                      : a[(size_t)(i0 + i) * lda + (p0 + p)]);
            kernel(mc, nc, kc, ap, bp, c + (size_t)i0 * ldc + j0, ldc);
        }
    }
}

void ws_gemm_cpu(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    /* beta == 0 sets C without reading it, as BLAS does: callers pass NaN-poisoned or
     * uninitialised outputs with beta 0 (conv2d's dx, linear's y). */
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * ldc;
        if (beta == 0.0f)
            memset(ci, 0, (size_t)n * sizeof *ci);
        else if (beta != 1.0f)
            for (int j = 0; j < n; j++) ci[j] *= beta;
    }
    if (k <= 0 || alpha == 0.0f) return;
    int blocks = (m + MC - 1) / MC;
#ifdef _OPENMP
    /* Rows in parallel only for products worth a thread team, and never inside another
     * parallel region (conv2d calls this from its per-image threads). */
    int par = (double)m * n * k >= 1 << 20 && blocks > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (par)
#endif
    for (int ib = 0; ib < blocks; ib++) {
        int i0 = ib * MC;
        int mc = m - i0 < MC ? m - i0 : MC;
        row_block(trans_a, trans_b, i0, mc, n, k, alpha, a, lda, b, ldb, c, ldc);
    }
}

const char *ws_gemm_cpu_library(void) { return "built-in blocked loop (no BLAS in this build)"; }

#endif
