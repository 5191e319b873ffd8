/* data/synthetic_device.h - synthetic samples generated where they are consumed: on the GPU,
 * so that measuring a GPU's training cost needs no host pipeline (the CPU generator,
 * data/dataset_synthetic.c, makes ~270 samples/s per core, far below an H100's rate).
 * defines: ws_synthetic_fill_device. Implementation: data/synthetic_device.cu.
 *
 * Same distribution and class structure as ws_dataset_open_synthetic (pixel = N(0,1) noise
 * + signal * P_label with P_k a fixed +-1 pattern per class), not the same numbers: noise
 * comes from Philox4x32-10 keyed by (seed, split) with the sample index and element in the
 * counter, and the pattern sign from a hash of (seed, label, element), so every sample is a
 * pure function of (seed, split, index) and a model can learn the classes. Labels are the
 * dataset's own (ws_dataset_labels), so sampler, metrics and records are unchanged. The
 * element of a pattern or noise value is its CHW index: the numbers do not depend on the
 * layout written.
 * x: [n, c, h, w] in ex's layout and activation storage type, in device memory; indices and
 * labels: n entries in device memory. CUDA exec only (WS_ENOTSUP elsewhere). */
#ifndef WS_DATA_SYNTHETIC_DEVICE_H
#define WS_DATA_SYNTHETIC_DEVICE_H

#include <stdint.h>
#include "ops/ops.h"

ws_status ws_synthetic_fill_device(const ws_exec *ex, void *x, const int64_t *indices, const int32_t *labels, int n,
                                   int c, int h, int w, uint64_t seed, int split, float signal);

#endif
