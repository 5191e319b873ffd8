/* src/ops/linear_cpu.c - reference fully connected layer (nn.Linear), the oracle for the CUDA twin.
 * defines: ws_linear_forward_cpu, ws_linear_backward_cpu
 * twin: src/ops/linear_cuda.cu (cuBLAS); contract: src/ops/linear.h
 * Shapes: x, dx [N,IN]; w, dw [OUT,IN]; b, db [OUT]; y, dy [N,OUT]; row-major fp32.
 * All products go through ws_gemm_cpu (BLAS or its blocked loop), whose threads are its own:
 * these functions take no thread count. */
#include "ops/linear.h"
#include "ops/gemm.h"

#include <string.h>

void ws_linear_forward_cpu(int n, int in, int out, float *y, const float *x, const float *w, const float *b) {
    /* y = b broadcast, then y += x w^T; without a bias the product overwrites (beta 0), so
     * whatever y held before (NaN included) never leaks in */
    if (b)
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, (size_t)out * sizeof *y);
    ws_gemm_cpu(0, 1, n, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
}

void ws_linear_backward_cpu(int n, int in, int out, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w) {
    if (dx) ws_gemm_cpu(0, 0, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);     /* dx  = dy w     */
    ws_gemm_cpu(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);              /* dw += dy^T x   */
    if (db)
        for (int o = 0; o < out; o++) {                                             /* db += sum_n dy */
            double sum = 0.0;
            for (int i = 0; i < n; i++) sum += dy[(size_t)i * out + o];
            db[o] += (float)sum;
        }
}
