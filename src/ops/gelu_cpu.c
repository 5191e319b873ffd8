/* src/ops/gelu_cpu.c - reference GELU (exact erf form), forward and backward.
 * defines: ws_gelu_forward_cpu, ws_gelu_backward_cpu
 * twin: src/ops/gelu_cuda.cu; contract: src/ops/gelu.h
 * Shapes: n floats. Each element in double (erf, exp) and rounded once, so the result is the
 * correctly rounded fp32 of the definition up to libm's erf error; each element depends on
 * the same-index inputs only, so aliasing is safe and every thread count gives the same bits.
 * For x below about -5.5 Phi(x) underflows toward 0 in the product and y is -0 or a tiny
 * negative number, as PyTorch's; NaN propagates. */
#include "ops/gelu.h"

#include <math.h>

#define PARALLEL_MIN ((size_t)1 << 15)
#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

void ws_gelu_forward_cpu(size_t n, int threads, float *y, const float *x) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if (n >= PARALLEL_MIN)
#else
    (void)threads;
#endif
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(0.5 * v * (1.0 + erf(v * INV_SQRT2)));
    }
}

void ws_gelu_backward_cpu(size_t n, int threads, float *dx, const float *dy, const float *x) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if (n >= PARALLEL_MIN)
#else
    (void)threads;
#endif
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        double cdf = 0.5 * (1.0 + erf(v * INV_SQRT2)), pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
        dx[i] = (float)((double)dy[i] * (cdf + v * pdf));
    }
}
