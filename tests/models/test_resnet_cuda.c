/* tests/models/test_resnet_cuda.c - the whole ResNet-50 on the GPU against the CPU
 * reference, training mode, 224 px, batch 2, the same weights (BN parameters and
 * statistics moved off their initial values) and the same inputs; results compared in
 * PyTorch's order (the GPU keeps conv weights [K,R,S,C]). Runs on a GPU (exit 77 where there
 * is none); reports every check (tests/gpu_check.h) and exits with the failures.
 *
 * Forward: logits, loss and the updated running statistics, compared directly.
 * Backward: given the GPU's activations. A ReLU network's gradient is not continuous in
 * its input: an activation within rounding of 0 flips its ReLU (and an input within
 * rounding of a tie flips a max pool), and through BN's batch statistics over 98 values
 * per channel in layer4 each flip moves whole channels' gradients. Measured on the CPU
 * alone (2026-12-01): the input perturbed by 1e-6 (relative) moved ResNet-50's parameter
 * gradients by 0.8-34% of their scale (tensor by tensor), so two correct implementations whose forwards differ
 * by rounding cannot be compared gradient for gradient. Hence the CPU's activations are
 * overwritten with the GPU's after both forwards (wsi_resnet_activation), and both run
 * backward from the same logit gradient: a linear, well-conditioned map, where the two
 * differ by summation order only (the batch norms' saved statistics are copied too: in bf16
 * the CPU's own, from its fp32 forward, differ from those of the GPU's bf16 activations).
 * Tolerances (of each tensor's scale): fp32 (no TF32 anywhere) logits and running
 * statistics 1e-4, gradients 2e-3 (the bounds the CPU meets against PyTorch's float64,
 * tests/models/test_resnet_torch.c). bf16 (weights, activations and activation gradients
 * bf16, statistics fp32) 1e-1 for both: measured 2026-12-01, bf16 logits drifted up to 7%
 * of scale from the fp32 reference through 50 layers (our estimate of the cause: some 80
 * roundings of up to 2^-9 in a row); checked to catch a wrong kernel (O(1) errors), not to
 * bound bf16's rounding. */
#include "gpu_check.h"
#include "core/rng.h"
#include "models/resnet.h"
#include "ops/convert.h"
#include "ops/cuda_ctx.h"
#include "ops/loss.h"
#include "ops/mem.h"
#include "ws_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 2
#define HW 224
#define CLASSES 1000


static ws_model *open_on(const ws_exec *ex) {
    ws_resnet_opts o = ws_resnet_opts_default();
    o.depth = 50;
    o.classes = CLASSES;
    o.in_h = o.in_w = HW;
    o.max_batch = N;
    o.seed = 7;
    o.exec = ex;
    ws_model *m = NULL;
    ws_error err = {0};
    ws_gpu_must(ws_resnet_open(&m, &o, &err), "resnet open", &err);
    return m;
}

static void *alloc(const ws_exec *ex, size_t bytes) {
    void *p = NULL;
    ws_error err = {0};
    ws_gpu_must(ws_mem_alloc(ex, bytes, "test", &p, &err), "alloc", &err);
    return p;
}

static void compare(ws_dtype p, ws_cuda_ctx *ctx) {
    ws_exec cpu = ws_exec_cpu(0), gpu = ws_cuda_exec(ctx);
    ws_model *mc = open_on(&cpu), *mg = open_on(&gpu);
    ws_error err = {0};
    /* BN parameters and statistics off 1/0, alike on both */
    ws_rng rng = ws_rng_seeded(99);
    for (size_t i = 0; i < mc->n_tensors; i++) {
        const ws_model_tensor *t = &mc->tensors[i];
        float *v = (t->is_buffer ? mc->buffers : mc->params) + t->offset;
        if (t->ndims == 1 && strncmp(t->name, "fc.", 3))
            for (size_t j = 0; j < t->count; j++)
                v[j] +=
                    (float)(strstr(t->name, "running_var") ? 0.5 * ws_rng_uniform(&rng) : 0.2 * ws_rng_normal(&rng));
    }
    ws_gpu_must(ws_model_set_params(mg, mc->params, &err), "params", &err);
    ws_gpu_must(ws_model_set_buffers(mg, mc->buffers, &err), "buffers", &err);
    const size_t nx = (size_t)N * 3 * HW * HW, nl = (size_t)N * CLASSES, esz = ws_dtype_size(ws_act_dtype(p));
    float *x = malloc(nx * sizeof *x), *lc = malloc(nl * sizeof(float)), *lg = malloc(nl * sizeof(float));
    float *probs = malloc(nl * sizeof(float)), *dl = malloc(nl * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = (float)ws_rng_normal(&rng);
    int32_t labels[N] = {3, 917};
    void *d_x = alloc(&gpu, nx * esz), *d_dl = alloc(&gpu, nl * esz);
    ws_gpu_must(ws_tensor_upload(&gpu, d_x, x, N, 3, HW, HW, &err), "x", &err);
    ws_gpu_must(ws_tensor_download(&gpu, x, d_x, N, 3, HW, HW, &err), "x", &err); /* the rounded input, for both */
    char shape[32];
    snprintf(shape, sizeof shape, "resnet50 %dx3x%dx%d", N, HW, HW);
    const int bf = p != WS_FP32;
    const ws_gpu_tol t_logits = bf ? (ws_gpu_tol){1e-1, 1e-1} : (ws_gpu_tol){1e-4, 1e-4};
    const ws_gpu_tol t_grad = bf ? (ws_gpu_tol){1e-1, 1e-1} : (ws_gpu_tol){2e-3, 2e-3};

    /* forward, compared directly */
    const void *logits_c, *logits_g;
    ws_gpu_must(ws_model_forward(mc, &cpu, x, N, 1, &logits_c, &err), "cpu forward", &err);
    ws_gpu_must(ws_model_forward(mg, &gpu, d_x, N, 1, &logits_g, &err), "gpu forward", &err);
    memcpy(lc, logits_c, nl * sizeof(float));
    ws_gpu_must(ws_tensor_download(&gpu, lg, logits_g, N, CLASSES, 1, 1, &err), "logits", &err);
    ws_gpu_check("resnet50 logits", p, shape, lg, lc, nl, t_logits);
    double loss_c = 0, loss_g = 0;
    ws_softmax_xent_forward(&cpu, N, CLASSES, &loss_c, probs, lc, labels, 0.1f);
    ws_softmax_xent_forward(&cpu, N, CLASSES, &loss_g, probs, lg, labels, 0.1f);
    float fl = (float)loss_g, fc = (float)loss_c;
    ws_gpu_check("resnet50 loss", p, shape, &fl, &fc, 1, t_logits);
    float *bc = malloc(mc->n_buffers * sizeof(float)), *bg = malloc(mc->n_buffers * sizeof(float));
    ws_gpu_must(ws_model_get_buffers(mc, bc, &err), "buffers", &err);
    ws_gpu_must(ws_model_get_buffers(mg, bg, &err), "buffers", &err);
    ws_gpu_check("resnet50 running statistics", p, shape, bg, bc, mc->n_buffers, t_logits);

    /* backward from the GPU's activations on both (see the top of the file) */
    size_t n_acts = wsi_resnet_activation_count(mg);
    for (size_t i = 1; i < n_acts; i++) {
        int c, h, w, c2, h2, w2;
        void *ag = wsi_resnet_activation(mg, i, &c, &h, &w), *ac = wsi_resnet_activation(mc, i, &c2, &h2, &w2);
        ws_gpu_must(ws_tensor_download(&gpu, ac, ag, N, c, h, w, &err), "activation", &err);
    }
    size_t bn_bytes_c = 0, bn_bytes_g = 0; /* and the batch norms' saved statistics */
    float *stats_c = wsi_resnet_bn_stats(mc, &bn_bytes_c), *stats_g = wsi_resnet_bn_stats(mg, &bn_bytes_g);
    if (bn_bytes_c != bn_bytes_g) ws_gpu_must(WS_EINVAL, "BN statistics of the two models differ in size", NULL);
    ws_gpu_must(ws_mem_download(&gpu, stats_c, stats_g, bn_bytes_c, &err), "BN statistics", &err);
    ws_softmax_xent_forward(&cpu, N, CLASSES, &loss_g, probs, lg, labels, 0.1f);
    ws_softmax_xent_backward(&cpu, N, CLASSES, dl, probs, labels, 0.1f, 1.0f / N);
    ws_gpu_must(ws_tensor_upload(&gpu, d_dl, dl, N, CLASSES, 1, 1, &err), "dlogits", &err);
    ws_gpu_must(ws_tensor_download(&gpu, dl, d_dl, N, CLASSES, 1, 1, &err), "dlogits", &err); /* rounded alike */
    ws_mem_zero(&cpu, mc->grads, mc->n_params * sizeof(float));
    ws_mem_zero(&gpu, mg->grads, mg->n_params * sizeof(float));
    ws_gpu_must(ws_model_backward(mc, &cpu, dl, N, &err), "cpu backward", &err);
    ws_gpu_must(ws_model_backward(mg, &gpu, d_dl, N, &err), "gpu backward", &err);
    float *gc = malloc(mc->n_params * sizeof(float)), *gg = malloc(mc->n_params * sizeof(float));
    ws_gpu_must(ws_model_get_grads(mc, gc, &err), "grads", &err);
    ws_gpu_must(ws_model_get_grads(mg, gg, &err), "grads", &err);
    int all_ok = 1, shown = 0;
    for (size_t i = 0; i < mc->n_tensors; i++) {
        const ws_model_tensor *t = &mc->tensors[i];
        if (t->is_buffer) continue;
        char what[96];
        snprintf(what, sizeof what, "grad %s", t->name);
        all_ok &= ws_gpu_check(what, p, shape, gg + t->offset, gc + t->offset, t->count, t_grad);
        shown++;
    }
    printf("resnet50 %s: forward and %d parameter gradients compared, %s\n", ws_dtype_name(p), shown,
           all_ok ? "all within tolerance" : "SOME OFF");
    ws_mem_free(&gpu, d_x, 0), ws_mem_free(&gpu, d_dl, 0);
    ws_model_close(mc);
    ws_model_close(mg);
    free(x), free(lc), free(lg), free(probs), free(dl), free(gc), free(gg), free(bc), free(bg);
}

int main(void) {
#if !WS_HAVE_CUDA
    printf("test_resnet_cuda: this build has no CUDA backend; skipped\n");
    return 77;
#endif
    if (ws_cuda_device_count() < 1) {
        printf("test_resnet_cuda: no GPU visible; skipped\n");
        return 77;
    }
    const ws_dtype ps[] = {WS_FP32, WS_BF16};
    for (int i = 0; i < 2; i++) {
        ws_cuda_ctx *ctx = NULL;
        ws_error err = {0};
        ws_gpu_must(ws_cuda_ctx_open(&ctx, 0, ps[i], 0, &err), "ctx", &err);
        compare(ps[i], ctx);
        ws_cuda_ctx_close(ctx);
    }
    printf("test_resnet_cuda: %d of %d checks failed\n", ws_gpu_failures(), ws_gpu_checks());
    return ws_gpu_failures() > 100 ? 100 : ws_gpu_failures();
}
