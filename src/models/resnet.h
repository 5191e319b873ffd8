/* models/resnet.h - ResNet v1.5 (torchvision's resnet18/34/50/101/152: the stride-2 of a
 * bottleneck sits on its 3x3 conv), with the ImageNet stem (7x7/2 conv + 3x3/2 max pool)
 * or a small-image stem (3x3/1 conv, no pool) for 28-32 px inputs.
 * defines: ws_resnet_opts, ws_resnet_opts_default, ws_resnet_open.
 * Initialisation as torchvision: convs kaiming_normal_(fan_out, relu), BN weight 1 bias 0,
 * fc uniform(+-1/sqrt(in)) for weight and bias; optional zero init of each residual
 * block's last BN weight (zero_init_residual). ResNet-50 with 1000 classes has
 * torchvision's 25,557,032 parameters. */
#ifndef WS_MODELS_RESNET_H
#define WS_MODELS_RESNET_H

#include <stdint.h>
#include "models/model.h"

typedef struct {
    int depth;              /* 18, 34, 50, 101, 152 */
    int classes;            /* 1000 */
    int in_c, in_h, in_w;   /* 3 x 224 x 224 */
    int small_stem;         /* 3x3/1 conv, no max pool */
    int base_width;         /* 64 (torchvision); smaller for tests and fixtures */
    int zero_init_residual;
    int max_batch;          /* activations are planned for this many samples */
    int threads;            /* CPU threads the model will run with (ws_exec.threads; 0: OpenMP
                             * default): conv scratch is sized for them */
    const ws_exec *exec;    /* where it runs (kept by value); NULL: the CPU reference with
                             * `threads`. On CUDA, open plans every convolution (cuDNN's
                             * algorithms at max_batch) and puts all memory on the GPU. */
    uint64_t seed;          /* initialisation */
} ws_resnet_opts;

ws_resnet_opts ws_resnet_opts_default(void);
ws_status ws_resnet_open(ws_model **out, const ws_resnet_opts *o, ws_error *err);
/* Parameters of a configuration without building it (for plans and tests). */
size_t ws_resnet_param_count(const ws_resnet_opts *o);

/* For tests (tests/models/test_resnet_cuda.c): the activations of the last forward, 0 the
 * input, in the model's memory, layout and storage type, with their per-sample shape, so a
 * test can give two models the same activations and compare their backward alone. */
size_t wsi_resnet_activation_count(const ws_model *m);
void *wsi_resnet_activation(const ws_model *m, size_t i, int *c, int *h, int *w);
/* All batch norms' saved statistics of the last training forward (mean and 1/std, fp32, in
 * the model's memory), one block of *bytes: the same layout on every device. */
float *wsi_resnet_bn_stats(const ws_model *m, size_t *bytes);

#endif
