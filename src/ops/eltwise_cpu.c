/* src/ops/eltwise_cpu.c - reference element-wise ops: ReLU forward and backward, residual add.
 * defines: ws_relu_forward_cpu, ws_relu_backward_cpu, ws_add_forward_cpu
 * twin: src/ops/eltwise_cuda.cu; contract: src/ops/eltwise.h
 * Shapes: n floats, any layout. Each output element depends on the same-index inputs only,
 * so the in-place aliasing the contract allows is safe, and every thread count gives the
 * same bits. NaN propagates through ReLU (x < 0 is false for NaN), as torch.relu: a
 * diverging run shows up in the loss instead of being clipped to 0. */
#include "ops/eltwise.h"

/* Below this many elements a thread team costs more than it saves. */
#define PARALLEL_MIN ((size_t)1 << 15)

#ifdef _OPENMP
#include <omp.h>
/* threads <= 0: the OpenMP default */
#endif

void ws_relu_forward_cpu(size_t n, int threads, float *y, const float *x) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if (n >= PARALLEL_MIN)
#else
    (void)threads;
#endif
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void ws_relu_backward_cpu(size_t n, int threads, float *dx, const float *dy, const float *y) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if (n >= PARALLEL_MIN)
#else
    (void)threads;
#endif
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void ws_add_forward_cpu(size_t n, int threads, float *y, const float *a, const float *b) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if (n >= PARALLEL_MIN)
#else
    (void)threads;
#endif
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}
