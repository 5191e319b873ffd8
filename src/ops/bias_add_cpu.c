/* src/ops/bias_add_cpu.c - reference row-broadcast add and its column-sum backward.
 * defines: ws_bias_add_forward_cpu, ws_bias_add_backward_cpu
 * twin: src/ops/bias_add_cuda.cu; contract: src/ops/bias_add.h
 * Shapes: x, y, dy [ROWS, COUNT]; b, db [COUNT]; fp32.
 * Forward threads over elements (each depends on its own inputs: aliasing is safe). The
 * backward threads over columns and adds each column's rows in order 0..ROWS-1 in double,
 * so db has the same bits for every thread count. */
#include "ops/bias_add.h"

#define PARALLEL_MIN ((size_t)1 << 15)

void ws_bias_add_forward_cpu(int rows, size_t count, int threads, float *y, const float *x, const float *b) {
    size_t total = (size_t)rows * count;
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if (total >= PARALLEL_MIN)
#else
    (void)threads;
#endif
    for (size_t i = 0; i < total; i++) y[i] = x[i] + b[i % count];
}

void ws_bias_add_backward_cpu(int rows, size_t count, int threads, float *db, const float *dy) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(wsi_omp_threads(threads)) schedule(static) if ((size_t)rows * count >= PARALLEL_MIN)
#else
    (void)threads;
#endif
    for (size_t j = 0; j < count; j++) {
        double sum = 0.0;
        for (int r = 0; r < rows; r++) sum += dy[(size_t)r * count + j];
        db[j] += (float)sum;
    }
}
