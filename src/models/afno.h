/* models/afno.h - AFNONet, the FourCastNet model (NVlabs/FourCastNet networks/afnonet.py):
 * patch embedding, learned position embedding, DEPTH blocks of
 *   x = x + filter(norm1(x))     (AFNO2D; its own "+ bias" adds norm1(x) once more:
 *                                  double_skip=True, as FourCastNet's Block)
 *   x = x + mlp(norm2(x))        (fc1, exact GELU, fc2; hidden = embed * mlp_ratio)
 * then the head Linear(embed, out_c*P*P, bias=False) and the rearrange
 * "b h w (p1 p2 c_out) -> b c_out (h p1) (w p2)" back to fields [N, out_c, H, W].
 * defines: ws_afno_opts, ws_afno_opts_default, ws_afno_param_count, ws_afno_open,
 *          ws_afno_input_grad.
 *
 * As FourCastNet, in every detail that changes numbers:
 *   - LayerNorm eps 1e-6 (norm_layer=partial(nn.LayerNorm, eps=1e-6));
 *   - dropout and drop-path are left out: FourCastNet trains with drop_rate = drop_path_rate
 *     = 0, where both are the identity;
 *   - the final `norm` exists as a parameter (norm.weight, norm.bias) but forward_features
 *     never applies it: we keep it, unused, so that state_dicts match by name; its gradient
 *     stays 0 (PyTorch: None; DDP runs with find_unused_parameters=True for it);
 *   - initialisation: pos_embed and every Linear weight trunc_normal_(std=.02) (timm's, cut
 *     at +-2 absolute), Linear biases 0, LayerNorm 1 and 0, the filter's w1, b1, w2, b2
 *     0.02 * randn, and the patch embedding, a Conv2d that _init_weights does not visit,
 *     PyTorch's default: weight and bias uniform in +-1/sqrt(in_c*P*P);
 *   - the filter keeps FourCastNet's mode selection (ops/afno_filter.h).
 * Parameter names are FourCastNet's state_dict names (pos_embed, patch_embed.proj.weight,
 * blocks.3.filter.w1, blocks.3.mlp.fc2.bias, norm.weight, head.weight, ...); in the flat
 * buffer they are laid out in execution order (patch embedding, position embedding, blocks,
 * norm, head), the order whose reverse backward finishes them in.
 *
 * Parameter count of the full configuration (720 x 1440, 20 channels in and out, patch 8,
 * embed 768, depth 12, 8 blocks, mlp_ratio 4; L = 90 x 180 = 16,200 tokens), exactly:
 *   patch_embed.proj  768 x 20 x 8 x 8 + 768                         =    983,808
 *   pos_embed         16,200 x 768                                    = 12,441,600
 *   per block         norm1 2 x 768                                   =      1,536
 *                     filter w1, w2 2 x 8 x 96 x 96 each, b1, b2 2 x 8 x 96 each
 *                                                                     =    297,984
 *                     norm2 2 x 768                                   =      1,536
 *                     fc1 768 x 3072 + 3072                           =  2,362,368
 *                     fc2 3072 x 768 + 768                            =  2,360,064
 *                     block total                                     =  5,023,488
 *   12 blocks                                                         = 60,281,856
 *   norm (unused)     2 x 768                                         =      1,536
 *   head              768 x (20 x 8 x 8)                              =    983,040
 *   total                                                             = 74,691,840
 * which is FourCastNet's "about 74.7M". Its Trainer.count_parameters counts every
 * parameter, the unused norm included. The 74,690,304 a PyTorch AFNO gave on the GPU
 * machine is exactly 1,536 = 2 x 768 fewer: the size of that norm, which a re-implementation
 * that drops the unused layer leaves out. The position embedding
 * alone is 17% of the model, the twelve spectral filters 4.8%. */
#ifndef WS_MODELS_AFNO_H
#define WS_MODELS_AFNO_H

#include <stdint.h>
#include "models/model.h"

typedef struct {
    int img_h, img_w;           /* 720 x 1440; multiples of patch */
    int patch;                  /* 8 */
    int in_c, out_c;            /* 20, 20 */
    int embed;                  /* 768; a multiple of num_blocks */
    int depth;                  /* 12 */
    int num_blocks;             /* 8 */
    double mlp_ratio;           /* 4: hidden = (int)(embed * mlp_ratio) */
    int hidden_size_factor;     /* 1 (FourCastNet's Block never sets another) */
    double sparsity_threshold;  /* 0.01: the softshrink lambda */
    double hard_thresholding_fraction; /* 1.0: fraction of the H/2+1 modes kept, in [0, 1] */
    int max_batch;              /* activations are planned for this many samples */
    int threads;                /* CPU threads the model runs with (ws_exec.threads; 0: OpenMP default) */
    const ws_exec *exec;        /* where it runs (kept by value); NULL: the CPU reference with `threads`.
                                 * CUDA: fp32 or tf32 (tf32: the token-wise products on tensor cores;
                                 * activations stay fp32 either way), every buffer in the GPU's memory,
                                 * parameters drawn on the host (the CPU's values for the seed) and
                                 * uploaded; fields in and out stay [N, C, H, W] fp32 (not NHWC). */
    int input_grad;             /* backward also computes the gradient of the input fields
                                 * (multi-step fine-tuning backpropagates through the input) */
    uint64_t seed;              /* initialisation */
    /* NULL, or an AFNO of the same configuration whose params and grads this one uses (not
     * copied, not initialised, not freed; it must outlive this one): a second instance with
     * its own activations, for the second forward of two-step fine-tuning, whose backward
     * adds into the same gradients. */
    const ws_model *share_params;
} ws_afno_opts;

/* The full FourCastNet configuration above, max_batch 1, seed 0. */
ws_afno_opts ws_afno_opts_default(void);
/* Parameters of a configuration without building it (plans, tests); 0 for a bad one. */
size_t ws_afno_param_count(const ws_afno_opts *o);
/* Builds the model, plans all memory and the FFTs for max_batch. WS_EINVAL names a bad size;
 * WS_ENOTSUP when the build has no FFTW, or for a device or precision the AFNO's operators
 * lack (bf16, fp16: the message names what runs). classes is 0; out_per_sample = out_c*img_h*img_w.
 * With share_params: WS_EINVAL when that model is no AFNO, has another parameter count or
 * runs on another exec. */
ws_status ws_afno_open(ws_model **out, const ws_afno_opts *o, ws_error *err);
/* After a backward of a model opened with input_grad: the gradient of the loss with respect
 * to the last forward's input, [n, in_c, img_h, img_w] (=, overwritten by each backward),
 * owned by the model, in its exec's memory. NULL for a model opened without input_grad or that is no AFNO. */
const float *ws_afno_input_grad(const ws_model *m);

#endif
