/* ops/gemm.h - single-precision matrix product on the CPU, row-major:
 * C[M,N] = alpha * op(A)[M,K] x op(B)[K,N] + beta * C, op = transpose when trans_* != 0.
 * defines: ws_gemm_cpu, ws_gemm_cpu_library. BLAS (cblas_sgemm) where the build has it (WS_HAVE_BLAS), else a
 * blocked loop (ops/gemm_cpu.c). lda/ldb/ldc are row strides of the stored matrices. */
#ifndef WS_OPS_GEMM_H
#define WS_OPS_GEMM_H

void ws_gemm_cpu(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc);

/* The shared library whose cblas_sgemm ws_gemm_cpu calls at run time (the dynamic linker's
 * choice, found with dladdr), or a description of the built-in loop. Shown by
 * `wattscale --version`: two libraries export cblas_sgemm on Debian (OpenBLAS and GSL's
 * reference libgslcblas) and the first loaded wins. */
const char *ws_gemm_cpu_library(void);

#endif
