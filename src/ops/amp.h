/* ops/amp.h - dynamic loss scaling for fp16 training (PyTorch's GradScaler, the device half).
 * defines: ws_amp_scale, ws_amp_unscale_check (dispatch and CPU reference, ops/amp.c) and
 *          their _cuda twins (ops/amp_cuda.cu).
 * fp16 gradients underflow without scaling: the loss gradient is multiplied by S before
 * backward, and the parameter gradients divided by S before the optimizer, which skips the
 * step when any of them is inf or NaN (the host halves S then, and doubles it after a run
 * of good steps: train/train.c). S lives in device memory (a float), so the work can sit
 * in a CUDA graph while S changes.
 * scale: x[i] *= *scale, x in the activation storage type (the loss gradient).
 * unscale_check: g[i] *= 1 / *scale (fp32, as torch's _amp_foreach_non_finite_check_and_
 *   unscale_), and *found_inf = 1 when any result is not finite (it is never cleared here:
 *   the caller zeroes it before the step). */
#ifndef WS_OPS_AMP_H
#define WS_OPS_AMP_H

#include "ops/ops.h"

ws_status ws_amp_scale(const ws_exec *ex, void *x, size_t n, const float *scale);
ws_status ws_amp_unscale_check(const ws_exec *ex, float *g, size_t n, const float *scale, int *found_inf);

void ws_amp_scale_cuda(const ws_exec *ex, void *x, size_t n, const float *scale);
void ws_amp_unscale_check_cuda(const ws_exec *ex, float *g, size_t n, const float *scale, int *found_inf);

#endif
