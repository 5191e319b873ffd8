/* train/optim.h - optimizers for data-parallel training: SGD (momentum, Nesterov), LARS,
 * Adam and AdamW, with PyTorch's semantics where PyTorch has the same optimizer.
 * defines: ws_optimizer_kind, ws_optimizer_parse, ws_optimizer_name, ws_optim_opts,
 *          ws_optim_opts_default, ws_param_tensor, ws_optim (opaque), ws_optim_open,
 *          ws_optim_step, ws_optim_steps, ws_optim_state_bytes, ws_optim_state_save,
 *          ws_optim_state_load, ws_optim_close, and for devices ws_optim_open_on,
 *          ws_optim_set_work, ws_optim_set_skip, ws_optim_prepare, ws_optim_enqueue,
 *          ws_optim_unstep. Implementation: train/optim.c (CPU and the common part),
 *          train/optim_cuda.cu (the same update rules as CUDA kernels, element for element:
 *          fmaf where the CPU has fmaf, so SGD and LARS give the CPU's bits).
 *
 * The parameters live in one flat float buffer of `total_count` elements (llm.c style);
 * ws_param_tensor entries describe the pieces (a conv weight, a BN gamma, a bias). The
 * gradients have the same layout and are the already all-reduced, batch-averaged ones.
 *
 * Update rules, per element, in float (PyTorch's fp32 path: double hyper-parameters are
 * rounded to float first, as ATen does with a Scalar on a float tensor). wd is the
 * tensor's weight decay: opts.weight_decay, or 0 for a no_decay tensor when
 * !decay_bn_and_bias. "first" is the first ws_optim_step after open (state_load restores it).
 *
 *   SGD  (torch.optim.SGD, dampening 0):
 *        d = g + wd*p                        (fmaf; skipped when wd == 0, as PyTorch does)
 *        buf = first ? d : momentum*buf + d  (two roundings; no buffer at all when
 *                                             momentum == 0: d as is)
 *        d = nesterov ? d + momentum*buf : buf   (fmaf)
 *        p = p - lr*d                        (fmaf)
 *
 *   LARS (layer-wise adaptive rate scaling; PyTorch has none, so this is the formulation
 *        of You, Gitman, Ginsburg 2017 (arXiv:1708.03888) with the epsilon and the
 *        zero-norm guard of the MLPerf ResNet-50 reference (TF LARSOptimizer) and
 *        kakaobrain/torchlars, and PyTorch's placement of lr outside the momentum buffer):
 *        for a tensor with !no_decay, norms over the whole tensor, in double:
 *          local = (||p|| > 0 && ||g|| > 0) ? eta*||p|| / (||g|| + wd*||p|| + lars_eps) : 1
 *          d = (g + wd*p) * local
 *        for a no_decay tensor (BN parameters, biases; never adapted, as in Goyal et al.,
 *        You et al. and MLPerf): d = g + wd*p, and wd is 0 there by default for LARS
 *        (ws_optim_opts_default(WS_OPT_LARS) sets decay_bn_and_bias = 0, MLPerf's choice).
 *        then momentum (and Nesterov, if asked) exactly as SGD above.
 *        (You et al. and TF fold lr into the buffer, v = m*v + lr*local*(g + wd*p), p -= v;
 *        the two agree while lr is constant and differ by the usual PyTorch-vs-Caffe
 *        momentum convention when lr changes. NVIDIA apex LARC (clip off) is the same as
 *        ours except that it also skips weight decay when a norm is 0.)
 *
 *   Adam / AdamW (torch.optim.Adam / AdamW, amsgrad off, not capturable), t = step number
 *        starting at 1, bias corrections in double:
 *          Adam:  g = g + wd*p                (L2 added to the gradient; fmaf)
 *          AdamW: p = p * (1 - lr*wd)         (decoupled, before the Adam update)
 *          m = m + (1-beta1)*(g - m)          (lerp_, = beta1*m + (1-beta1)*g; fmaf)
 *          v = beta2*v + ((1-beta2)*g)*g      (mul_ then addcmul_; fmaf)
 *          denom = sqrt(v) / sqrt(1 - beta2^t) + eps
 *          p = p - (lr / (1 - beta1^t)) * m / denom
 *
 * Every "x + a*y" above that ATen computes as an add with alpha, a lerp or an addcmul is
 * one fmaf (a single rounding), as ATen's kernels do on CPU and CUDA. Checked once against
 * torch 2.11 (float32, CPU and CUDA, foreach on and off): SGD, with and without Nesterov
 * and weight decay, and LARS replayed as scaled gradients into torch's SGD gave the same
 * bits on every element after 6 steps; Adam/AdamW gave torch's CPU bits on 99.98% of the
 * elements and were off by at most 3e-8 elsewhere (torch's own CUDA Adam is off from its
 * CPU Adam by up to 2.4e-7). Results are bitwise deterministic whatever the OpenMP thread
 * count, and do not depend on compiler flags (fmaf is exact by definition). */
#ifndef WS_TRAIN_OPTIM_H
#define WS_TRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "ops/ops.h"
#include "wattscale/status.h"

typedef enum { WS_OPT_SGD, WS_OPT_LARS, WS_OPT_ADAM, WS_OPT_ADAMW } ws_optimizer_kind;

/* "sgd", "lars", "adam", "adamw" (exact, lower case) -> *out; returns 0, or -1 for any
 * other name (out untouched). */
int ws_optimizer_parse(const char *name, ws_optimizer_kind *out);
/* The parse name of k; "unknown" for a value outside the enum. Cannot fail. */
const char *ws_optimizer_name(ws_optimizer_kind k);

typedef struct {
    ws_optimizer_kind kind;
    double momentum;        /* SGD/LARS, default 0.9; in [0, 1) */
    int nesterov;           /* SGD/LARS, default 0; needs momentum > 0 (as PyTorch) */
    double weight_decay;    /* default 1e-4 for every kind (the study's value; PyTorch's own
                             * defaults are 0 for Adam, 1e-2 for AdamW). SGD/LARS/Adam: L2
                             * added to the gradient; AdamW: decoupled */
    int decay_bn_and_bias;  /* 1 (PyTorch's default: decay everything; SGD/Adam/AdamW
                             * default); 0: no weight decay on no_decay tensors (LARS
                             * default, as MLPerf) */
    double lars_trust;      /* LARS trust coefficient eta, default 0.001 */
    double lars_eps;        /* LARS, default 1e-9 */
    double beta1, beta2, eps; /* Adam(W): 0.9, 0.999, 1e-8 */
} ws_optim_opts;

/* All fields set for `kind`, with the values noted above. Cannot fail. */
ws_optim_opts ws_optim_opts_default(ws_optimizer_kind kind);

/* One piece of the flat parameter buffer: elements [offset, offset + count). */
typedef struct {
    size_t offset, count;
    int no_decay; /* a BN parameter or a bias: excluded from weight decay when
                   * !decay_bn_and_bias, and from LARS adaptation always (as in Goyal et
                   * al., You et al. and MLPerf) */
} ws_param_tensor;

typedef struct ws_optim ws_optim;

/* Checks the options (WS_EINVAL naming the option) and the layout (WS_EINVAL: a tensor
 * past total_count, or two tensors overlapping), copies the tensor table, and allocates
 * all state once (zeroed; nothing allocates in ws_optim_step). tensors == NULL with
 * n_tensors == 0 means one decayed tensor covering the whole buffer. Elements covered by
 * no tensor are never updated. On failure *out is NULL and nothing is left to free. */
ws_status ws_optim_open(ws_optim **out, const ws_optim_opts *o, const ws_param_tensor *tensors, size_t n_tensors,
                        size_t total_count, ws_error *err);

/* One update with learning rate lr: params (total_count floats) is updated in place,
 * grads (same layout) is only read. Deterministic. Cannot fail. */
void ws_optim_step(ws_optim *opt, float *params, const float *grads, double lr);

/* Number of ws_optim_step calls since open, counting those restored by state_load. */
uint64_t ws_optim_steps(const ws_optim *opt);

/* Checkpointing: the full state (step count, momentum buffer or Adam moments) as bytes in
 * this machine's byte order, so that a resumed run continues bit-identically. The blob
 * records the kind, the element count and a hash of the tensor table; loading it into an
 * optimizer opened with a different kind, size or layout gives WS_EFORMAT and leaves the
 * optimizer unchanged. Hyper-parameters are not stored: they come from the opts at open. */
size_t ws_optim_state_bytes(const ws_optim *opt);
/* buf: state_bytes bytes of host memory (a device state is downloaded). */
ws_status ws_optim_state_save(const ws_optim *opt, void *buf, ws_error *err);
ws_status ws_optim_state_load(ws_optim *opt, const void *buf, size_t bytes, ws_error *err);

void ws_optim_close(ws_optim *opt); /* NULL is a no-op */

/* ---- on a device (CUDA) ----
 * ws_optim_open_on: as ws_optim_open, with the state in ex's memory; ws_optim_step's params
 * and grads are then pointers in that memory and the step is enqueued on ex's stream
 * (ex NULL or the CPU: ws_optim_open). The step splits in two, so that a CUDA graph can
 * hold the second half: prepare computes the step's scalars (lr, Adam's bias corrections,
 * the first-step flag) on the host, enqueues their copy to the device and counts the step;
 * enqueue runs the update kernels, which read the scalars from device memory.
 * ws_optim_step is both. A graph captured around enqueue is replayed after each prepare. */
ws_status ws_optim_open_on(ws_optim **out, const ws_exec *ex, const ws_optim_opts *o, const ws_param_tensor *tensors,
                           size_t n_tensors, size_t total_count, ws_error *err);
/* After each update also write the parameters in storage type dt into work (a model's
 * bf16/fp16 working copy of its weights, same layout). NULL: none. */
void ws_optim_set_work(ws_optim *opt, void *work, ws_dtype dt);
/* A device int: when non-zero at the step, the update does nothing (fp16 loss scaling found
 * inf/NaN gradients); the caller then calls ws_optim_unstep so the step is not counted. */
void ws_optim_set_skip(ws_optim *opt, const int *skip);
void ws_optim_prepare(ws_optim *opt, double lr);
void ws_optim_enqueue(ws_optim *opt, float *params, const float *grads);
void ws_optim_unstep(ws_optim *opt);

#endif
