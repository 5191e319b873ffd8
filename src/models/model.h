/* models/model.h - what the training loop sees of a model (ResNet, a classifier; AFNO, a
 * field-to-field model).
 * defines: ws_model (a small vtable plus the flat parameter, gradient and buffer memory),
 * ws_model_tensor (one named piece of that memory).
 *
 * Memory: every trained parameter lives in one flat buffer `params` (and its twin `grads`),
 * every untrained state (batch-norm running statistics) in `buffers`, so the optimizer
 * steps one buffer, the all-reduce sends one buffer, and a checkpoint writes three. The
 * tensors name the pieces with the PyTorch state_dict names of the reference model
 * (torchvision's "layer1.0.conv1.weight", FourCastNet's "blocks.0.filter.w1"), so weights
 * move to and from PyTorch by name. */
#ifndef WS_MODELS_MODEL_H
#define WS_MODELS_MODEL_H

#include <stddef.h>
#include "ops/ops.h"

typedef struct {
    char name[64];          /* PyTorch state_dict name */
    size_t offset, count;   /* into params (is_buffer 0) or buffers (is_buffer 1) */
    int ndims;
    int dims[4];
    int no_decay;           /* batch-norm parameter or bias */
    int is_buffer;
    int device_krsc;        /* a conv weight stored [K,R,S,C] in the model's memory (CUDA, NHWC);
                               checkpoints and PyTorch see dims, [K,C,R,S] */
} ws_model_tensor;

typedef struct ws_model ws_model;

typedef struct {
    /* x [n, in_c, in_h, in_w] in ex's layout and activation storage type, in the model's
     * memory; n <= max_batch; ex must be the exec the model was opened with. train: batch
     * statistics (and running updates) in BN; else running statistics. Returns the output
     * [n, out_per_sample] (a classifier's logits [n, classes]; AFNO's fields [n, out_c, H, W])
     * in the activation storage type, owned by the model, valid until the next forward. */
    ws_status (*forward)(ws_model *m, const ws_exec *ex, const void *x, int n, int train, const void **logits,
                         ws_error *err);
    /* dlogits: the gradient of the output [n, out_per_sample] for the last forward (which
     * must have been train=1): adds (+=) the parameter gradients into grads. */
    ws_status (*backward)(ws_model *m, const ws_exec *ex, const void *dlogits, int n, ws_error *err);
    void (*close)(ws_model *m);
} ws_model_ops;

struct ws_model {
    const ws_model_ops *ops;
    char name[32];
    int in_c, in_h, in_w, classes, max_batch;
    size_t out_per_sample;  /* floats of the output per sample: classes (a classifier), or
                             * out_c*H*W (a field model, whose classes is 0) */
    /* In the memory of `exec` (host memory on the CPU, device memory on CUDA); fp32. Use
     * ws_model_get_params and friends for host copies in PyTorch's order. */
    float *params, *grads, *buffers;
    /* params in the activation storage type, what the ops read as weights: params itself for
     * fp32/tf32, a bf16/fp16 copy otherwise, refreshed by the optimizer's step and by
     * ws_model_set_params / ws_model_refresh_work. */
    void *params_work;
    ws_exec exec;                     /* the device, layout and precision the model runs on */
    size_t n_params, n_buffers;
    ws_model_tensor *tensors;
    size_t n_tensors;
    double forward_flop_per_sample;  /* multiply-adds x 2 of convs and fc; training ~ 3x */
    size_t activation_bytes;          /* planned at open for max_batch */
    /* Called by backward as soon as a parameter range of grads is final for this pass
     * (reverse layer order), so data parallelism can start reducing it while backward goes
     * on. NULL: nobody listens. */
    void (*grads_ready)(void *ctx, size_t offset, size_t count);
    void *grads_ready_ctx;
};

/* Convenience wrappers; m NULL-safe close. */
static inline ws_status ws_model_forward(ws_model *m, const ws_exec *ex, const void *x, int n, int train,
                                         const void **logits, ws_error *err) {
    return m->ops->forward(m, ex, x, n, train, logits, err);
}
static inline ws_status ws_model_backward(ws_model *m, const ws_exec *ex, const void *dlogits, int n, ws_error *err) {
    return m->ops->backward(m, ex, dlogits, n, err);
}
static inline void ws_model_close(ws_model *m) {
    if (m) m->ops->close(m);
}
/* Finds a tensor by name; NULL when absent. (models/model.c, like the calls below.) */
const ws_model_tensor *ws_model_find(const ws_model *m, const char *name);

/* Host copies in PyTorch's order (each tensor as its dims say), whatever the device:
 * n_params floats for params and grads, n_buffers for buffers. Synchronous (set-up,
 * checkpoints, tests). set_params also refreshes params_work. */
ws_status ws_model_get_params(const ws_model *m, float *host, ws_error *err);
ws_status ws_model_set_params(ws_model *m, const float *host, ws_error *err);
ws_status ws_model_get_grads(const ws_model *m, float *host, ws_error *err);
ws_status ws_model_get_buffers(const ws_model *m, float *host, ws_error *err);
ws_status ws_model_set_buffers(ws_model *m, const float *host, ws_error *err);
/* params_work = (storage type) params, after params changed in place on the device. */
ws_status ws_model_refresh_work(ws_model *m, ws_error *err);

#endif
