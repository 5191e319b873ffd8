/* train/optim_internal.h - the optimizer's state, shared by its CPU and CUDA halves
 * (internal to train/optim.c and train/optim_cuda.cu).
 * defines: chunk, struct ws_optim, wsi_optim_hyper (the per-step scalars), and the CUDA
 * half's entry points wsi_optim_dev_open/step/save/load/close. */
#ifndef WS_TRAIN_OPTIM_INTERNAL_H
#define WS_TRAIN_OPTIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "ops/ops.h"
#include "train/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Large enough that a chunk amortises the OpenMP scheduling (and fills a CUDA block),
 * small enough that ResNet-50's 25.6 M parameters give thousands of chunks. */
#define CHUNK 8192

typedef struct {
    size_t begin, count; /* element range in the flat buffer */
    size_t tensor;       /* index into ws_optim.tensors */
} chunk;

/* What changes from step to step, computed on the host by ws_optim_prepare. */
typedef struct {
    float lr;              /* SGD/LARS */
    float neg_step_size;   /* Adam: -(lr / bias_correction1) */
    float bc2_sqrt;        /* Adam: sqrt(bias_correction2) */
    float keep;            /* AdamW: 1 - lr*wd */
    int first;             /* the first step: momentum buffer = d */
    int pad[3];
} wsi_optim_hyper;

struct wsi_optim_dev;
struct ws_optim {
    ws_optim_opts o;
    size_t total_count, n_tensors, n_chunks;
    ws_param_tensor *tensors;
    chunk *chunks;
    int n_buffers;      /* 0 (SGD/LARS without momentum), 1 (momentum), 2 (Adam moments) */
    float *buf0, *buf1; /* momentum buffer or exp_avg; exp_avg_sq. Indexed like params */
    double *sq_p, *sq_g; /* LARS: per-chunk sums of squares of params and grads */
    float *local;        /* LARS: per-tensor trust ratio of the current step */
    uint64_t steps;
    uint64_t layout_hash;
    void *block; /* the one allocation everything above points into */
    /* on a device (ws_optim_open_on with CUDA): moments and LARS scratch above are NULL, the
     * state lives in dev (train/optim_cuda.cu) */
    ws_exec ex;
    int on_device;
    struct wsi_optim_dev *dev;
    void *work;           /* storage-type copy of params written by each step, or NULL */
    ws_dtype work_type;
    const int *skip;      /* device flag: skip the update */
    double pending_lr;    /* CPU: the lr of ws_optim_prepare, for ws_optim_enqueue */
};


/* The CUDA half (train/optim_cuda.cu). open allocates the device state (zeroed) and uploads
 * the chunk table; step enqueues hyper's upload and the kernels. */
ws_status wsi_optim_dev_open(ws_optim *opt, ws_error *err);
void wsi_optim_dev_prepare(ws_optim *opt, const wsi_optim_hyper *h);
void wsi_optim_dev_step(ws_optim *opt, float *params, const float *grads);
ws_status wsi_optim_dev_save(const ws_optim *opt, void *moments, ws_error *err);
ws_status wsi_optim_dev_load(ws_optim *opt, const void *moments, ws_error *err);
void wsi_optim_dev_close(ws_optim *opt);

#ifdef __cplusplus
}
#endif
#endif
