/* tests/models/test_resnet_cuda.c - the whole ResNet-50 on the GPU against the CPU
 * reference: one training-mode forward and backward at 224 px, batch 2, the same weights
 * (BN parameters and statistics moved off their initial values) and the same inputs;
 * logits, loss, every parameter gradient and the updated running statistics compared in
 * PyTorch's order (the GPU keeps conv weights [K,R,S,C]). Runs on a GPU (exit 77 where
 * there is none); reports every check (tests/gpu_check.h) and exits with the failures.
 *
 * Tolerances: fp32 has no TF32 anywhere, so the two differ by summation order only, which
 * 50 layers and BN's batch statistics amplify: logits and running statistics 1e-4 of the
 * tensor's scale, gradients 2e-3 (the bounds the CPU meets against PyTorch's float64,
 * tests/models/test_resnet_torch.c). bf16 (inputs rounded alike; weights, activations and
 * activation gradients bf16, statistics fp32) drifts further through 50 layers: logits 5e-2
 * and gradients 1e-1 of scale, checked to catch a wrong kernel (which gives O(1) errors),
 * not to bound bf16's own rounding. */
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

static void must(ws_status st, const char *what, const ws_error *err) {
    if (st != WS_OK) {
        fprintf(stderr, "FATAL %s: %s (%s)\n", what, ws_status_name(st), err ? err->msg : "");
        exit(1);
    }
}

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
    must(ws_resnet_open(&m, &o, &err), "resnet open", &err);
    return m;
}

/* forward (train), loss, backward on m; logits and dlogits via host copies */
static double run(ws_model *m, const ws_exec *ex, const void *x, const int32_t *labels, float *logits_host) {
    ws_error err = {0};
    size_t nl = (size_t)N * CLASSES, esz = ws_dtype_size(ws_act_dtype(ex->precision));
    void *probs = NULL, *dlogits = NULL, *lab = NULL, *loss = NULL;
    must(ws_mem_alloc(ex, nl * sizeof(float), "probs", &probs, &err), "alloc", &err);
    must(ws_mem_alloc(ex, nl * esz, "dlogits", &dlogits, &err), "alloc", &err);
    must(ws_mem_alloc(ex, N * sizeof(int32_t), "labels", &lab, &err), "alloc", &err);
    must(ws_mem_alloc(ex, sizeof(double), "loss", &loss, &err), "alloc", &err);
    must(ws_mem_upload(ex, lab, labels, N * sizeof(int32_t), &err), "labels", &err);
    ws_mem_zero(ex, m->grads, m->n_params * sizeof(float));
    const void *logits;
    must(ws_model_forward(m, ex, x, N, 1, &logits, &err), "forward", &err);
    must(ws_softmax_xent_forward(ex, N, CLASSES, loss, probs, logits, lab, 0.1f), "loss", NULL);
    must(ws_softmax_xent_backward(ex, N, CLASSES, dlogits, probs, lab, 0.1f, 1.0f / N), "loss bwd", NULL);
    must(ws_tensor_download(ex, logits_host, logits, N, CLASSES, 1, 1, &err), "logits", &err);
    must(ws_model_backward(m, ex, dlogits, N, &err), "backward", &err);
    double l = 0;
    must(ws_mem_download(ex, &l, loss, sizeof l, &err), "loss", &err);
    ws_mem_free(ex, probs, 0), ws_mem_free(ex, dlogits, 0), ws_mem_free(ex, lab, 0), ws_mem_free(ex, loss, 0);
    return l;
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
                v[j] += (float)(strstr(t->name, "running_var") ? 0.5 * ws_rng_uniform(&rng) : 0.2 * ws_rng_normal(&rng));
    }
    must(ws_model_set_params(mg, mc->params, &err), "params", &err);
    must(ws_model_set_buffers(mg, mc->buffers, &err), "buffers", &err);
    size_t nx = (size_t)N * 3 * HW * HW;
    float *x = malloc(nx * sizeof *x), *lc = malloc((size_t)N * CLASSES * sizeof(float)),
          *lg = malloc((size_t)N * CLASSES * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = (float)ws_rng_normal(&rng);
    int32_t labels[N] = {3, 917};
    void *d_x = NULL;
    must(ws_mem_alloc(&gpu, nx * ws_dtype_size(ws_act_dtype(p)), "x", &d_x, &err), "alloc", &err);
    must(ws_tensor_upload(&gpu, d_x, x, N, 3, HW, HW, &err), "x", &err);
    must(ws_tensor_download(&gpu, x, d_x, N, 3, HW, HW, &err), "x", &err); /* the rounded input, for both */
    double loss_c = run(mc, &cpu, x, labels, lc), loss_g = run(mg, &gpu, d_x, labels, lg);
    int bf = p != WS_FP32;
    ws_gpu_tol t_logits = bf ? (ws_gpu_tol){5e-2, 5e-2} : (ws_gpu_tol){1e-4, 1e-4};
    ws_gpu_tol t_grad = bf ? (ws_gpu_tol){1e-1, 1e-1} : (ws_gpu_tol){2e-3, 2e-3};
    ws_gpu_tol t_stats = bf ? (ws_gpu_tol){5e-2, 5e-2} : (ws_gpu_tol){1e-4, 1e-4};
    char shape[32];
    snprintf(shape, sizeof shape, "resnet50 %dx3x%dx%d", N, HW, HW);
    ws_gpu_check("resnet50 logits", p, shape, lg, lc, (size_t)N * CLASSES, t_logits);
    float fl = (float)loss_g, fc = (float)loss_c;
    ws_gpu_check("resnet50 loss", p, shape, &fl, &fc, 1, t_logits);
    float *gc = malloc(mc->n_params * sizeof(float)), *gg = malloc(mc->n_params * sizeof(float));
    float *bc = malloc(mc->n_buffers * sizeof(float)), *bg = malloc(mc->n_buffers * sizeof(float));
    must(ws_model_get_grads(mc, gc, &err), "grads", &err);
    must(ws_model_get_grads(mg, gg, &err), "grads", &err);
    must(ws_model_get_buffers(mc, bc, &err), "buffers", &err);
    must(ws_model_get_buffers(mg, bg, &err), "buffers", &err);
    int all_ok = 1, shown = 0;
    for (size_t i = 0; i < mc->n_tensors; i++) {
        const ws_model_tensor *t = &mc->tensors[i];
        const float *a = (t->is_buffer ? bg : gg) + t->offset, *b = (t->is_buffer ? bc : gc) + t->offset;
        char what[96];
        snprintf(what, sizeof what, "%s%s", t->is_buffer ? "" : "grad ", t->name);
        /* every tensor is checked; the lines of passing ones are few enough to print */
        int ok = ws_gpu_check(what, p, shape, a, b, t->count, t->is_buffer ? t_stats : t_grad);
        all_ok &= ok;
        shown++;
    }
    printf("resnet50 %s: %d tensors compared, %s\n", ws_dtype_name(p), shown, all_ok ? "all within tolerance" : "SOME OFF");
    ws_mem_free(&gpu, d_x, 0);
    ws_model_close(mc);
    ws_model_close(mg);
    free(x), free(lc), free(lg), free(gc), free(gg), free(bc), free(bg);
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
        must(ws_cuda_ctx_open(&ctx, 0, ps[i], 0, &err), "ctx", &err);
        compare(ps[i], ctx);
        ws_cuda_ctx_close(ctx);
    }
    printf("test_resnet_cuda: %d of %d checks failed\n", ws_gpu_failures(), ws_gpu_checks());
    return ws_gpu_failures() > 100 ? 100 : ws_gpu_failures();
}
