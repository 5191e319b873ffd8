/* ops/rel_l2.h - the relative L2 loss of FourCastNet (utils/darcy_loss.py LpLoss(d=2, p=2),
 * its default call .rel with size_average): per sample over ALL its values (every channel
 * and grid point together, not per channel),
 *   loss_i = ||pred_i - target_i||_2 / ||target_i||_2,   loss = mean_i loss_i.
 * defines: ws_rel_l2_forward, ws_rel_l2_backward (dispatch, ops/rel_l2.c), their _cpu
 *          references (ops/rel_l2_cpu.c) and _cuda twins (ops/rel_l2_cuda.cu).
 * Shapes: pred, target, dpred [N, COUNT] (COUNT = C*H*W floats per sample).
 * forward: *loss (=, double).
 * backward: dpred (=) = scale * (pred_i - target_i) / (||pred_i - target_i|| ||target_i||),
 *   scale = 1/N for the mean (pass another to fold accumulation in); where pred_i equals
 *   target_i the gradient is 0, as torch.norm's subgradient at 0.
 * A target of zero norm makes the loss undefined (PyTorch would give inf or NaN): on the
 * CPU both calls return WS_EINVAL for it instead of a silent inf; on CUDA, where the calls
 * are asynchronous (and graph-captured) and cannot see the data, the loss is NaN (and that
 * sample's gradient NaN) instead, never a finite number.
 * fp32 buffers in ex's device memory, *loss too (one double, as ws_softmax_xent_forward's:
 * on CUDA the caller downloads it); the CPU runs at fp32, CUDA at fp32 or tf32 (the same
 * arithmetic); bf16/fp16 are WS_ENOTSUP. */
#ifndef WS_OPS_REL_L2_H
#define WS_OPS_REL_L2_H

#include "ops/ops.h"

ws_status ws_rel_l2_forward(const ws_exec *ex, int n, size_t count, double *loss, const float *pred,
                            const float *target);
ws_status ws_rel_l2_backward(const ws_exec *ex, int n, size_t count, float *dpred, const float *pred,
                             const float *target, float scale);

/* The references return WS_EINVAL (and leave the outputs unspecified) on a zero target. */
ws_status ws_rel_l2_forward_cpu(int n, size_t count, int threads, double *loss, const float *pred,
                                const float *target);
ws_status ws_rel_l2_backward_cpu(int n, size_t count, int threads, float *dpred, const float *pred,
                                 const float *target, float scale);

void ws_rel_l2_forward_cuda(const ws_exec *ex, int n, size_t count, double *loss, const float *pred,
                            const float *target);
void ws_rel_l2_backward_cuda(const ws_exec *ex, int n, size_t count, float *dpred, const float *pred,
                             const float *target, float scale);

#endif
