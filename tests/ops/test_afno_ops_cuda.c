/* tests/ops/test_afno_ops_cuda.c - the AFNO's CUDA operators (layernorm, gelu, bias_add,
 * patch, rel_l2, afno_filter: src/ops/<op>_cuda.cu) against their CPU references, forward
 * and backward, on fresh random inputs and awkward shapes, up to the full FourCastNet filter
 * of one sample (90 x 180 tokens, embed 768, 8 blocks).
 * Runs on a GPU (exit 77, skipped, where there is none or the build has no CUDA), like
 * test_ops_cuda: one run reports every check (a line each), the exit status is the number
 * of failed checks (capped at 100).
 *
 * Method (style.md 7, tests/gpu_check.h): inputs from a seeded ws_rng; device outputs
 * poisoned (0xFF bytes: NaN) before each call; gradients that accumulate (+=) start from
 * random values on both sides; a check passes where |got - ref| <= atol * scale + rtol *
 * |ref| (scale = max |ref| of the tensor), written so NaN fails. Tolerances: fp32's
 * {1e-5, 1e-5} for everything but the filter; permutations (patch) must be exact; the
 * filter's outputs {1e-4, 1e-5} because they pass through FFTs: an fp32 FFT's error in an
 * element grows with log2(HW) times the norm of the whole transform, not with the element,
 * and FFTW and cuFFT order their butterflies differently, so two correct fp32 FFTs differ
 * by a few 1e-6 of the largest element (more than fp32's 1e-5 rtol allows on the small
 * ones). The filter's backward is run on the saved activations of the CPU forward, so both
 * sides apply the same ReLU and softshrink masks: a mode within 1e-6 of the softshrink
 * threshold could otherwise pass on one side and not on the other, a discrete difference
 * no tolerance should absorb (the forward's saved O1, O2 are checked separately, and
 * those functions are continuous). Determinism: the filter and layer norm's parameter
 * gradients are run twice and must agree bit for bit. Run precisions: fp32 and tf32 (the
 * same arithmetic for these fp32 ops), and bf16 must be refused (WS_ENOTSUP); the filter
 * with its block MLP on TF32 (mlp_tf32, the AFNO's bf16 and tf32 runs) at TF32's tolerance
 * for everything after the MLP; GELU's
 * storage-typed form (ws_gelu_forward_act, the AFNO's bf16 MLP) at bf16 against the
 * reference on the bf16-rounded inputs, at bf16's tolerance (one rounding of the result). */
#include "gpu_check.h"
#include "core/rng.h"
#include "ops/afno_filter.h"
#include "ops/bias_add.h"
#include "ops/convert.h"
#include "ops/cuda_ctx.h"
#include "ops/gelu.h"
#include "ops/layernorm.h"
#include "ops/mem.h"
#include "ops/patch.h"
#include "ops/rel_l2.h"
#include "ws_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef ws_gpu_tol tol;
#define check ws_gpu_check

static const tol FP32 = {1e-5, 1e-5}, FFT = {1e-4, 1e-5}, EXACT = {0, 0};
static ws_rng rng;

static float *host(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    return p;
}
static void fill(float *x, size_t n, double mean, double sd) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + sd * ws_rng_normal(&rng));
}
static void *dev(const ws_exec *ex, size_t bytes) {
    void *p = NULL;
    ws_error err = {0};
    ws_gpu_must(ws_mem_alloc(ex, bytes, "test", &p, &err), "device alloc", &err);
    return p;
}
/* a device copy of n host floats */
static float *up(const ws_exec *ex, const float *h, size_t n) {
    float *d = dev(ex, n * sizeof(float));
    ws_error err = {0};
    ws_gpu_must(ws_mem_upload(ex, d, h, n * sizeof(float), &err), "upload", &err);
    return d;
}
/* n device floats, all NaN */
static float *poisoned(const ws_exec *ex, size_t n) {
    float *d = dev(ex, n * sizeof(float));
    unsigned char *ff = malloc(n * sizeof(float) + 1);
    memset(ff, 0xFF, n * sizeof(float));
    ws_error err = {0};
    ws_gpu_must(ws_mem_upload(ex, d, ff, n * sizeof(float), &err), "poison", &err);
    free(ff);
    return d;
}
static void down(const ws_exec *ex, float *h, const void *d, size_t n) {
    ws_error err = {0};
    ws_gpu_must(ws_mem_download(ex, h, d, n * sizeof(float), &err), "download", &err);
}
static void dfree(const ws_exec *ex, void *d, size_t n) { ws_mem_free(ex, d, n * sizeof(float)); }
/* downloads n device floats into buf and checks them against ref */
static void check_dev(const ws_exec *ex, const char *what, const char *shape, float *buf, const void *d,
                      const float *ref, size_t n, tol t) {
    down(ex, buf, d, n);
    check(what, ex->precision, shape, buf, ref, n, t);
}

/* a status as a check line: the call must return `want` */
static void check_status(const char *what, ws_dtype p, ws_status got, ws_status want) {
    float g = (float)got, w = (float)want;
    check(what, p, ws_status_name(want), &g, &w, 1, EXACT);
}

/* ---------------------------------------------------------------- layernorm */

static void test_layernorm(const ws_exec *ex, int rows, int dim, double offset) {
    ws_exec cpu = ws_exec_cpu(0);
    char shape[64];
    snprintf(shape, sizeof shape, "%d x %d (mean %g)", rows, dim, offset);
    const size_t n = (size_t)rows * dim;
    const float eps = 1e-6f;
    float *x = host(n), *gamma = host(dim), *beta = host(dim), *dy = host(n), *dg0 = host(dim), *db0 = host(dim);
    fill(x, n, offset, 1.0), fill(gamma, dim, 1.0, 0.2), fill(beta, dim, 0.0, 0.2), fill(dy, n, 0.0, 1.0);
    fill(dg0, dim, 0.0, 0.5), fill(db0, dim, 0.0, 0.5);
    float *y_ref = host(n), *mean_ref = host(rows), *rstd_ref = host(rows), *dx_ref = host(n);
    float *dg_ref = host(dim), *db_ref = host(dim), *got = host(n), *got2 = host(dim);
    memcpy(dg_ref, dg0, dim * sizeof(float)), memcpy(db_ref, db0, dim * sizeof(float));
    ws_gpu_must(ws_layernorm_forward(&cpu, rows, dim, eps, y_ref, mean_ref, rstd_ref, x, gamma, beta), "cpu ln fwd",
                NULL);
    ws_gpu_must(ws_layernorm_backward(&cpu, rows, dim, dx_ref, dg_ref, db_ref, dy, x, gamma, mean_ref, rstd_ref),
         "cpu ln bwd", NULL);

    float *d_x = up(ex, x, n), *d_g = up(ex, gamma, dim), *d_b = up(ex, beta, dim), *d_dy = up(ex, dy, n);
    float *d_y = poisoned(ex, n), *d_mean = poisoned(ex, rows), *d_rstd = poisoned(ex, rows), *d_dx = poisoned(ex, n);
    float *d_dg = up(ex, dg0, dim), *d_db = up(ex, db0, dim);
    ws_gpu_must(ws_layernorm_forward(ex, rows, dim, eps, d_y, d_mean, d_rstd, d_x, d_g, d_b), "ln fwd", NULL);
    check_dev(ex, "layernorm forward y", shape, got, d_y, y_ref, n, FP32);
    check_dev(ex, "layernorm forward mean", shape, got, d_mean, mean_ref, rows, FP32);
    check_dev(ex, "layernorm forward rstd", shape, got, d_rstd, rstd_ref, rows, FP32);
    /* backward from the reference's statistics, so that only the backward is compared */
    float *d_mref = up(ex, mean_ref, rows), *d_rref = up(ex, rstd_ref, rows);
    ws_gpu_must(ws_layernorm_backward(ex, rows, dim, d_dx, d_dg, d_db, d_dy, d_x, d_g, d_mref, d_rref), "ln bwd", NULL);
    check_dev(ex, "layernorm backward dx", shape, got, d_dx, dx_ref, n, FP32);
    check_dev(ex, "layernorm backward dgamma (+=)", shape, got, d_dg, dg_ref, dim, FP32);
    check_dev(ex, "layernorm backward dbeta (+=)", shape, got, d_db, db_ref, dim, FP32);
    /* the column sums again from the same start: the same bits */
    down(ex, got, d_dg, dim);
    ws_error err = {0};
    ws_gpu_must(ws_mem_upload(ex, d_dg, dg0, dim * sizeof(float), &err), "dg0", &err);
    ws_gpu_must(ws_mem_upload(ex, d_db, db0, dim * sizeof(float), &err), "db0", &err);
    ws_gpu_must(ws_layernorm_backward(ex, rows, dim, d_dx, d_dg, d_db, d_dy, d_x, d_g, d_mref, d_rref), "ln bwd 2",
                NULL);
    check_dev(ex, "layernorm dgamma deterministic", shape, got2, d_dg, got, dim, EXACT);

    dfree(ex, d_x, n), dfree(ex, d_g, dim), dfree(ex, d_b, dim), dfree(ex, d_dy, n), dfree(ex, d_y, n);
    dfree(ex, d_mean, rows), dfree(ex, d_rstd, rows), dfree(ex, d_dx, n), dfree(ex, d_dg, dim), dfree(ex, d_db, dim);
    dfree(ex, d_mref, rows), dfree(ex, d_rref, rows);
    free(x), free(gamma), free(beta), free(dy), free(dg0), free(db0), free(y_ref), free(mean_ref), free(rstd_ref);
    free(dx_ref), free(dg_ref), free(db_ref), free(got), free(got2);
}

/* ---------------------------------------------------------------- gelu */

/* GELU's inputs (x normal with sd 3 and x[0] deep in the tail, where Phi underflows towards
 * 0; dy standard normal) and the shape label */
static void gelu_inputs(size_t n, int offset, char shape[64], float *x, float *dy) {
    snprintf(shape, 64, "%zu%s", n, offset ? " unaligned" : "");
    fill(x, n, 0.0, 3.0), fill(dy, n, 0.0, 1.0);
    x[0] = -9.0f;
}

/* offset: floats by which the device buffers start past an allocation (1: not 16-byte
 * aligned, the kernels' scalar path) */
static void test_gelu(const ws_exec *ex, size_t n, int offset) {
    ws_exec cpu = ws_exec_cpu(0);
    char shape[64];
    float *x = host(n), *dy = host(n), *y_ref = host(n), *dx_ref = host(n), *got = host(n);
    gelu_inputs(n, offset, shape, x, dy);
    ws_gpu_must(ws_gelu_forward(&cpu, n, y_ref, x), "cpu gelu fwd", NULL);
    ws_gpu_must(ws_gelu_backward(&cpu, n, dx_ref, dy, x), "cpu gelu bwd", NULL);
    float *bx = dev(ex, (n + offset) * sizeof(float)), *bdy = dev(ex, (n + offset) * sizeof(float));
    float *by = poisoned(ex, n + offset), *bdx = poisoned(ex, n + offset);
    ws_error err = {0};
    ws_gpu_must(ws_mem_upload(ex, bx + offset, x, n * sizeof(float), &err), "x", &err);
    ws_gpu_must(ws_mem_upload(ex, bdy + offset, dy, n * sizeof(float), &err), "dy", &err);
    ws_gpu_must(ws_gelu_forward(ex, n, by + offset, bx + offset), "gelu fwd", NULL);
    check_dev(ex, "gelu forward", shape, got, by + offset, y_ref, n, FP32);
    ws_gpu_must(ws_gelu_backward(ex, n, bdx + offset, bdy + offset, bx + offset), "gelu bwd", NULL);
    check_dev(ex, "gelu backward", shape, got, bdx + offset, dx_ref, n, FP32);
    /* dx on dy (in place, as afno.c calls it) */
    ws_gpu_must(ws_gelu_backward(ex, n, bdy + offset, bdy + offset, bx + offset), "gelu bwd in place", NULL);
    check_dev(ex, "gelu backward in place", shape, got, bdy + offset, dx_ref, n, FP32);
    dfree(ex, bx, n + offset), dfree(ex, bdy, n + offset), dfree(ex, by, n + offset), dfree(ex, bdx, n + offset);
    free(x), free(dy), free(y_ref), free(dx_ref), free(got);
}

/* ---------------------------------------------------------------- bias_add */

static void test_bias_add(const ws_exec *ex, int rows, size_t count) {
    ws_exec cpu = ws_exec_cpu(0);
    char shape[64];
    snprintf(shape, sizeof shape, "%d x %zu", rows, count);
    const size_t n = (size_t)rows * count;
    float *x = host(n), *b = host(count), *db0 = host(count), *y_ref = host(n), *db_ref = host(count), *got = host(n);
    fill(x, n, 0.0, 1.0), fill(b, count, 0.0, 1.0), fill(db0, count, 0.0, 0.5);
    memcpy(db_ref, db0, count * sizeof(float));
    ws_gpu_must(ws_bias_add_forward(&cpu, rows, count, y_ref, x, b), "cpu bias fwd", NULL);
    ws_gpu_must(ws_bias_add_backward(&cpu, rows, count, db_ref, x), "cpu bias bwd", NULL); /* x as dy */
    float *d_x = up(ex, x, n), *d_b = up(ex, b, count), *d_y = poisoned(ex, n), *d_db = up(ex, db0, count);
    ws_gpu_must(ws_bias_add_forward(ex, rows, count, d_y, d_x, d_b), "bias fwd", NULL);
    check_dev(ex, "bias_add forward", shape, got, d_y, y_ref, n, FP32);
    ws_gpu_must(ws_bias_add_forward(ex, rows, count, d_x, d_x, d_b), "bias fwd in place", NULL);
    check_dev(ex, "bias_add forward in place", shape, got, d_x, y_ref, n, FP32);
    ws_error err = {0};
    ws_gpu_must(ws_mem_upload(ex, d_x, x, n * sizeof(float), &err), "x", &err);
    ws_gpu_must(ws_bias_add_backward(ex, rows, count, d_db, d_x), "bias bwd", NULL);
    check_dev(ex, "bias_add backward db (+=)", shape, got, d_db, db_ref, count, FP32);
    dfree(ex, d_x, n), dfree(ex, d_b, count), dfree(ex, d_y, n), dfree(ex, d_db, count);
    free(x), free(b), free(db0), free(y_ref), free(db_ref), free(got);
}

/* ---------------------------------------------------------------- patch */

static void test_patch(const ws_exec *ex, ws_patch_desc d, ws_patch_order order) {
    ws_exec cpu = ws_exec_cpu(0);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%dx%d p%d %s", d.n, d.c, d.h, d.w, d.p, order == WS_PATCH_CRS ? "crs" : "rsc");
    const size_t n = (size_t)d.n * d.c * d.h * d.w;
    float *img = host(n), *pat = host(n), *ref = host(n), *got = host(n);
    fill(img, n, 0.0, 1.0), fill(pat, n, 0.0, 1.0);
    float *d_img = up(ex, img, n), *d_pat = up(ex, pat, n), *d_out = poisoned(ex, n);
    ws_gpu_must(ws_patchify(&cpu, &d, order, ref, img), "cpu patchify", NULL);
    ws_gpu_must(ws_patchify(ex, &d, order, d_out, d_img), "patchify", NULL);
    check_dev(ex, "patchify", shape, got, d_out, ref, n, EXACT);
    float *d_out2 = poisoned(ex, n);
    ws_gpu_must(ws_unpatchify(&cpu, &d, order, ref, pat), "cpu unpatchify", NULL);
    ws_gpu_must(ws_unpatchify(ex, &d, order, d_out2, d_pat), "unpatchify", NULL);
    check_dev(ex, "unpatchify", shape, got, d_out2, ref, n, EXACT);
    dfree(ex, d_img, n), dfree(ex, d_pat, n), dfree(ex, d_out, n), dfree(ex, d_out2, n);
    free(img), free(pat), free(ref), free(got);
}

/* ---------------------------------------------------------------- rel_l2 */

static void test_rel_l2(const ws_exec *ex, int n, size_t count) {
    ws_exec cpu = ws_exec_cpu(0);
    char shape[64];
    snprintf(shape, sizeof shape, "%d x %zu", n, count);
    const size_t total = (size_t)n * count;
    float *pred = host(total), *target = host(total), *ref = host(total), *got = host(total);
    fill(target, total, 0.5, 1.0), fill(pred, total, 0.5, 1.0);
    if (n > 1) memcpy(pred, target, count * sizeof(float)); /* sample 0 exact: loss 0, gradient 0 */
    const float scale = 1.0f / (float)n;
    double loss_ref = 0, loss_got = 0;
    ws_gpu_must(ws_rel_l2_forward(&cpu, n, count, &loss_ref, pred, target), "cpu rel_l2 fwd", NULL);
    ws_gpu_must(ws_rel_l2_backward(&cpu, n, count, ref, pred, target, scale), "cpu rel_l2 bwd", NULL);
    float *d_p = up(ex, pred, total), *d_t = up(ex, target, total), *d_dp = poisoned(ex, total);
    double *d_loss = dev(ex, sizeof(double));
    ws_gpu_must(ws_rel_l2_forward(ex, n, count, d_loss, d_p, d_t), "rel_l2 fwd", NULL);
    ws_error err = {0};
    ws_gpu_must(ws_mem_download(ex, &loss_got, d_loss, sizeof(double), &err), "loss", &err);
    float lg = (float)loss_got, lr = (float)loss_ref;
    check("rel_l2 forward loss", ex->precision, shape, &lg, &lr, 1, FP32);
    ws_gpu_must(ws_rel_l2_backward(ex, n, count, d_dp, d_p, d_t, scale), "rel_l2 bwd", NULL);
    check_dev(ex, "rel_l2 backward", shape, got, d_dp, ref, total, FP32);
    /* a zero target: the CPU refuses (WS_EINVAL), CUDA gives a NaN loss */
    memset(target, 0, count * sizeof(float));
    ws_gpu_must(ws_mem_upload(ex, d_t, target, count * sizeof(float), &err), "zero target", &err);
    ws_gpu_must(ws_rel_l2_forward(ex, n, count, d_loss, d_p, d_t), "rel_l2 fwd zero", NULL);
    ws_gpu_must(ws_mem_download(ex, &loss_got, d_loss, sizeof(double), &err), "loss", &err);
    float is_nan = isnan(loss_got) ? 1.0f : 0.0f, one = 1.0f;
    check("rel_l2 zero target gives NaN", ex->precision, shape, &is_nan, &one, 1, EXACT);
    dfree(ex, d_p, total), dfree(ex, d_t, total), dfree(ex, d_dp, total);
    ws_mem_free(ex, d_loss, sizeof(double));
    free(pred), free(target), free(ref), free(got);
}

/* ---------------------------------------------------------------- afno_filter */

typedef struct {
    int n, h, w, c, blocks, factor;
    double fraction;
    float lambda;
    int plan_n; /* the N the plan and workspace are made for (>= n) */
    int backward;
    int mlp_tf32; /* the block MLP on TF32 tensor cores (the AFNO's bf16 and tf32 runs) */
} filter_shape;

static int have_fftw = 1;

static void test_filter(const ws_exec *ex, filter_shape s) {
    ws_exec cpu = ws_exec_cpu(0);
    char shape[80];
    snprintf(shape, sizeof shape, "%dx%dx%dx%d nb%d f%d %.2g%s%s", s.n, s.h, s.w, s.c, s.blocks, s.factor,
             s.fraction, s.plan_n > s.n ? " (plan N larger)" : "", s.mlp_tf32 ? " mlp tf32" : "");
    ws_afno_filter_desc d = ws_afno_filter_desc_make(s.n, s.h, s.w, s.c, s.blocks, s.factor, s.fraction, s.lambda);
    ws_afno_filter_desc dmax =
        ws_afno_filter_desc_make(s.plan_n, s.h, s.w, s.c, s.blocks, s.factor, s.fraction, s.lambda);
    d.mlp_tf32 = dmax.mlp_tf32 = s.mlp_tf32;
    /* what passes through the block MLP: TF32's tolerance when it runs there (X, before it, not) */
    const tol MLP = s.mlp_tf32 ? ws_gpu_tol_of(WS_TF32) : FFT;
    ws_error err = {0};
    ws_afno_filter_plan *pc = NULL, *pg = NULL;
    ws_status st = ws_afno_filter_plan_open(&pc, &cpu, &d, &err);
    if (st == WS_ENOTSUP) {
        if (have_fftw) printf("skip afno_filter checks: %s\n", err.msg);
        have_fftw = 0;
        return;
    }
    ws_gpu_must(st, "cpu filter plan", &err);
    ws_gpu_must(ws_afno_filter_plan_open(&pg, ex, &dmax, &err), "cuda filter plan", &err);
    const int bs = s.c / s.blocks, bsf = bs * s.factor;
    const size_t nx = (size_t)s.n * s.h * s.w * s.c, nw = (size_t)2 * s.blocks * bs * bsf;
    const size_t nb1 = (size_t)2 * s.blocks * bsf, nb2 = (size_t)2 * s.blocks * bs;
    const size_t ns = ws_afno_filter_saved_floats(&d), nsmax = ws_afno_filter_saved_floats(&dmax);
    float *x = host(nx), *w1 = host(nw), *b1 = host(nb1), *w2 = host(nw), *b2 = host(nb2), *dy = host(nx);
    float *g0 = host(nw > nb1 ? nw : nb1);
    fill(x, nx, 0.0, 1.0), fill(w1, nw, 0.0, 1.0 / sqrt(bs)), fill(b1, nb1, 0.0, 0.3);
    fill(w2, nw, 0.0, 1.0 / sqrt(bsf)), fill(b2, nb2, 0.0, 0.3), fill(dy, nx, 0.0, 1.0);
    fill(g0, nw > nb1 ? nw : nb1, 0.0, 0.5); /* the start of every accumulated gradient */
    float *y_ref = host(nx), *saved_ref = host(ns), *dx_ref = host(nx), *got = host(nx > ns ? nx : ns);
    float *dw1_ref = host(nw), *db1_ref = host(nb1), *dw2_ref = host(nw), *db2_ref = host(nb2);
    memcpy(dw1_ref, g0, nw * 4), memcpy(db1_ref, g0, nb1 * 4);
    memcpy(dw2_ref, g0, nw * 4), memcpy(db2_ref, g0, nb2 * 4);
    void *ws_cpu = malloc(ws_afno_filter_workspace_bytes(&cpu, &d));
    ws_gpu_must(ws_afno_filter_forward(&cpu, pc, &d, y_ref, saved_ref, x, w1, b1, w2, b2, ws_cpu), "cpu filter fwd",
                NULL);
    if (s.backward)
        ws_gpu_must(ws_afno_filter_backward(&cpu, pc, &d, dx_ref, dw1_ref, db1_ref, dw2_ref, db2_ref, dy, saved_ref, w1,
                                            w2, ws_cpu),
                    "cpu filter bwd", NULL);

    const size_t ws_bytes = ws_afno_filter_workspace_bytes(ex, &dmax);
    void *d_ws = dev(ex, ws_bytes);
    float *d_x = up(ex, x, nx), *d_w1 = up(ex, w1, nw), *d_b1 = up(ex, b1, nb1), *d_w2 = up(ex, w2, nw);
    float *d_b2 = up(ex, b2, nb2), *d_y = poisoned(ex, nx), *d_saved = poisoned(ex, nsmax ? nsmax : 1);
    ws_gpu_must(ws_afno_filter_forward(ex, pg, &d, d_y, d_saved, d_x, d_w1, d_b1, d_w2, d_b2, d_ws), "filter fwd",
                NULL);
    check_dev(ex, "afno_filter forward y", shape, got, d_y, y_ref, nx, MLP);
    if (ns) {
        const size_t M = (size_t)s.n * ws_afno_filter_kept(&d), nX = M * 2 * s.c, nO1 = M * 2 * s.c * s.factor;
        down(ex, got, d_saved, ns);
        check("afno_filter forward saved X", ex->precision, shape, got, saved_ref, nX, FFT);
        check("afno_filter forward saved O1", ex->precision, shape, got + nX, saved_ref + nX, nO1, MLP);
        check("afno_filter forward saved O2", ex->precision, shape, got + nX + nO1, saved_ref + nX + nO1, nX, MLP);
    }
    /* again: the same bits */
    float *again = host(nx), *d_y2 = poisoned(ex, nx);
    ws_gpu_must(ws_afno_filter_forward(ex, pg, &d, d_y2, d_saved, d_x, d_w1, d_b1, d_w2, d_b2, d_ws), "filter fwd 2",
                NULL);
    down(ex, got, d_y, nx);
    check_dev(ex, "afno_filter forward deterministic", shape, again, d_y2, got, nx, EXACT);

    if (s.backward) {
        float *d_sref = up(ex, saved_ref, ns ? ns : 1), *d_dy = up(ex, dy, nx), *d_dx = poisoned(ex, nx);
        float *d_dw1 = up(ex, g0, nw), *d_db1 = up(ex, g0, nb1), *d_dw2 = up(ex, g0, nw), *d_db2 = up(ex, g0, nb2);
        ws_gpu_must(
            ws_afno_filter_backward(ex, pg, &d, d_dx, d_dw1, d_db1, d_dw2, d_db2, d_dy, d_sref, d_w1, d_w2, d_ws),
            "filter bwd", NULL);
        check_dev(ex, "afno_filter backward dx", shape, got, d_dx, dx_ref, nx, MLP);
        check_dev(ex, "afno_filter backward dw1 (+=)", shape, got, d_dw1, dw1_ref, nw, MLP);
        check_dev(ex, "afno_filter backward db1 (+=)", shape, got, d_db1, db1_ref, nb1, MLP);
        check_dev(ex, "afno_filter backward dw2 (+=)", shape, got, d_dw2, dw2_ref, nw, MLP);
        check_dev(ex, "afno_filter backward db2 (+=)", shape, got, d_db2, db2_ref, nb2, MLP);
        /* again from the same start: the same bits */
        down(ex, again, d_dw1, nw);
        ws_gpu_must(ws_mem_upload(ex, d_dw1, g0, nw * 4, &err), "dw1", &err);
        ws_gpu_must(
            ws_afno_filter_backward(ex, pg, &d, d_dx, d_dw1, d_db1, d_dw2, d_db2, d_dy, d_sref, d_w1, d_w2, d_ws),
            "filter bwd 2", NULL);
        check_dev(ex, "afno_filter dw1 deterministic", shape, got, d_dw1, again, nw, EXACT);
        dfree(ex, d_sref, ns ? ns : 1), dfree(ex, d_dy, nx), dfree(ex, d_dx, nx), dfree(ex, d_dw1, nw);
        dfree(ex, d_db1, nb1), dfree(ex, d_dw2, nw), dfree(ex, d_db2, nb2);
    }
    /* a plan for other sizes, or the CPU's plan on CUDA: refused */
    ws_afno_filter_desc other =
        ws_afno_filter_desc_make(s.n, s.h + 1, s.w, s.c, s.blocks, s.factor, s.fraction, s.lambda);
    check_status("afno_filter plan of other sizes", ex->precision,
                 ws_afno_filter_forward(ex, pg, &other, d_y, d_saved, d_x, d_w1, d_b1, d_w2, d_b2, d_ws), WS_EINVAL);
    check_status("afno_filter cpu plan on cuda", ex->precision,
                 ws_afno_filter_forward(ex, pc, &d, d_y, d_saved, d_x, d_w1, d_b1, d_w2, d_b2, d_ws), WS_EINVAL);

    ws_mem_free(ex, d_ws, ws_bytes);
    dfree(ex, d_x, nx), dfree(ex, d_w1, nw), dfree(ex, d_b1, nb1), dfree(ex, d_w2, nw), dfree(ex, d_b2, nb2);
    dfree(ex, d_y, nx), dfree(ex, d_y2, nx), dfree(ex, d_saved, nsmax ? nsmax : 1);
    ws_afno_filter_plan_close(pg);
    ws_afno_filter_plan_close(pc);
    free(ws_cpu), free(x), free(w1), free(b1), free(w2), free(b2), free(dy), free(g0), free(y_ref), free(saved_ref);
    free(dx_ref), free(got), free(again), free(dw1_ref), free(db1_ref), free(dw2_ref), free(db2_ref);
}

/* GELU on bf16 buffers (ws_gelu_*_act on a bf16 exec): the device rounds x and dy to bf16
 * (ws_cast), the reference computes on those rounded values (read back), so only the
 * result's one rounding to bf16 and fp32 arithmetic remain; offset in elements (1: not
 * 16-byte aligned, the scalar path). */
static void test_gelu_bf16(const ws_exec *ex, size_t n, int offset) {
    ws_exec cpu = ws_exec_cpu(0);
    char shape[64];
    float *x = host(n), *dy = host(n), *y_ref = host(n), *dx_ref = host(n), *got = host(n);
    gelu_inputs(n, offset, shape, x, dy);
    float *f32 = up(ex, x, n), *g32 = up(ex, dy, n), *out32 = poisoned(ex, n);
    const size_t b16 = (n + offset) * 2;
    char *bx = dev(ex, b16), *bdy = dev(ex, b16), *by = dev(ex, b16);
    void *hx = bx + 2 * offset, *hdy = bdy + 2 * offset, *hy = by + 2 * offset;
    ws_gpu_must(ws_cast(ex, hx, WS_BF16, f32, WS_FP32, n), "cast x", NULL);
    ws_gpu_must(ws_cast(ex, hdy, WS_BF16, g32, WS_FP32, n), "cast dy", NULL);
    ws_gpu_must(ws_cast(ex, f32, WS_FP32, hx, WS_BF16, n), "x back", NULL);
    ws_gpu_must(ws_cast(ex, g32, WS_FP32, hdy, WS_BF16, n), "dy back", NULL);
    down(ex, x, f32, n), down(ex, dy, g32, n); /* the rounded inputs */
    ws_gpu_must(ws_gelu_forward(&cpu, n, y_ref, x), "cpu gelu fwd", NULL);
    ws_gpu_must(ws_gelu_backward(&cpu, n, dx_ref, dy, x), "cpu gelu bwd", NULL);
    const tol t = ws_gpu_tol_of(WS_BF16);
    ws_gpu_must(ws_gelu_forward_act(ex, n, hy, hx), "gelu fwd bf16", NULL);
    ws_gpu_must(ws_cast(ex, out32, WS_FP32, hy, WS_BF16, n), "y back", NULL);
    check_dev(ex, "gelu forward (bf16 storage)", shape, got, out32, y_ref, n, t);
    ws_gpu_must(ws_gelu_backward_act(ex, n, hdy, hdy, hx), "gelu bwd bf16 in place", NULL);
    ws_gpu_must(ws_cast(ex, out32, WS_FP32, hdy, WS_BF16, n), "dx back", NULL);
    check_dev(ex, "gelu backward in place (bf16 storage)", shape, got, out32, dx_ref, n, t);
    ws_mem_free(ex, bx, b16), ws_mem_free(ex, bdy, b16), ws_mem_free(ex, by, b16);
    dfree(ex, f32, n), dfree(ex, g32, n), dfree(ex, out32, n);
    free(x), free(dy), free(y_ref), free(dx_ref), free(got);
}

/* bf16 and fp16 runs are refused by every one of these fp32 ops */
static void test_refusals(ws_cuda_ctx *bf16) {
    ws_exec ex = ws_cuda_exec(bf16);
    float *d = poisoned(&ex, 64);
    double *l = dev(&ex, sizeof(double));
    ws_patch_desc pd = {1, 1, 4, 4, 2};
    ws_afno_filter_desc fd = ws_afno_filter_desc_make(1, 4, 4, 4, 1, 1, 1.0, 0.01f);
    ws_afno_filter_plan *p = NULL;
    check_status("layernorm at bf16", WS_BF16, ws_layernorm_forward(&ex, 2, 4, 1e-6f, d, d + 8, d + 10, d + 16, d, d),
                 WS_ENOTSUP);
    check_status("gelu at bf16", WS_BF16, ws_gelu_forward(&ex, 16, d, d + 16), WS_ENOTSUP);
    check_status("bias_add at bf16", WS_BF16, ws_bias_add_backward(&ex, 2, 8, d, d + 16), WS_ENOTSUP);
    check_status("patchify at bf16", WS_BF16, ws_patchify(&ex, &pd, WS_PATCH_RSC, d, d + 16), WS_ENOTSUP);
    check_status("rel_l2 at bf16", WS_BF16, ws_rel_l2_forward(&ex, 2, 8, l, d, d + 16), WS_ENOTSUP);
    check_status("afno_filter plan at bf16", WS_BF16, ws_afno_filter_plan_open(&p, &ex, &fd, NULL), WS_ENOTSUP);
    ws_mem_free(&ex, l, sizeof(double));
    dfree(&ex, d, 64);
}

int main(void) {
#if !WS_HAVE_CUDA
    printf("test_afno_ops_cuda: this build has no CUDA backend; skipped\n");
    return 77;
#endif
    if (ws_cuda_device_count() < 1) {
        printf("test_afno_ops_cuda: no GPU visible; skipped\n");
        return 77;
    }
    rng = ws_rng_seeded(20261207);
    ws_error err = {0};
    ws_cuda_ctx *ctx[2] = {NULL, NULL}, *bf16 = NULL;
    ws_gpu_must(ws_cuda_ctx_open(&ctx[0], 0, WS_FP32, 0, &err), "ctx fp32", &err);
    ws_gpu_must(ws_cuda_ctx_open(&ctx[1], 0, WS_TF32, 0, &err), "ctx tf32", &err);
    ws_gpu_must(ws_cuda_ctx_open(&bf16, 0, WS_BF16, 0, &err), "ctx bf16", &err);
    printf("test_afno_ops_cuda on %s (%s)\n", ws_cuda_device_name(ctx[0]), ws_cuda_versions(ctx[0]));
    static const filter_shape SMALL[] = {
        {2, 7, 9, 12, 3, 1, 1.0, 0.01f, 2, 1, 0},  /* H, W odd: no Nyquist column */
        {2, 8, 8, 8, 2, 2, 1.0, 0.01f, 4, 1, 0},   /* W even, the Nyquist column kept; plan for N = 4 */
        {3, 12, 16, 16, 4, 1, 0.5, 0.02f, 3, 1, 0}, /* hard thresholding: rows 4..9, columns 0..2 */
        {1, 1, 9, 6, 2, 1, 1.0, 0.0f, 1, 1, 0},    /* one token row; lambda 0 */
        {2, 4, 4, 4, 2, 1, 0.0, 0.01f, 2, 1, 0},   /* nothing kept: y = x, dx = dy */
        {2, 32, 64, 64, 8, 1, 1.0, 0.01f, 3, 1, 0}, /* the CPU tests' AFNO grid, embed 64 */
    };
    /* FourCastNet's filter at full size, one sample: 720x1440 / patch 8, embed 768, 8 blocks */
    static const filter_shape FULL = {1, 90, 180, 768, 8, 1, 1.0, 0.01f, 1, 1, 0};
    for (int pi = 0; pi < 2; pi++) {
        ws_exec ex = ws_cuda_exec(ctx[pi]);
        test_layernorm(&ex, 1, 7, 0.0);
        test_layernorm(&ex, 13, 768, 0.0);   /* rows not a multiple of the 8 rows per block */
        test_layernorm(&ex, 300, 33, 5.0);   /* a mean far from 0 */
        test_layernorm(&ex, 4141, 768, 0.0); /* many row chunks in the column sums */
        test_gelu(&ex, 1001, 0);
        test_gelu(&ex, 65536 + 3, 0);
        test_gelu(&ex, 4099, 1);
        test_bias_add(&ex, 3, 1001);
        test_bias_add(&ex, 2, 16200 * 8);
        test_bias_add(&ex, 1, 7);
        static const ws_patch_desc PATCHES[] = {
            {2, 3, 8, 12, 4}, {1, 20, 16, 32, 8}, {3, 37, 10, 15, 5}, {1, 1, 1, 1, 1}};
        for (size_t i = 0; i < sizeof PATCHES / sizeof *PATCHES; i++) {
            test_patch(&ex, PATCHES[i], WS_PATCH_CRS);
            test_patch(&ex, PATCHES[i], WS_PATCH_RSC);
        }
        test_rel_l2(&ex, 1, 1001);
        test_rel_l2(&ex, 3, 1001);
        test_rel_l2(&ex, 5, (size_t)20 * 32 * 64);
        test_rel_l2(&ex, 2, (size_t)20 * 360 * 720);
        for (size_t i = 0; i < sizeof SMALL / sizeof *SMALL; i++) test_filter(&ex, SMALL[i]);
    }
    ws_exec ex = ws_cuda_exec(ctx[0]);
    test_filter(&ex, FULL);
    /* the block MLP on TF32 (bf16 and tf32 AFNO runs): batched and per-sample transforms,
     * the Nyquist column, hard thresholding, and the full size at the bf16 bench's LBS 2 */
    static const filter_shape TF32_MLP[] = {
        {2, 8, 8, 8, 2, 2, 1.0, 0.01f, 4, 1, 1},
        {3, 12, 16, 16, 4, 1, 0.5, 0.02f, 3, 1, 1},
        {2, 32, 64, 64, 8, 1, 1.0, 0.01f, 2, 1, 1},
        {2, 90, 180, 768, 8, 1, 1.0, 0.01f, 2, 1, 1},
    };
    for (size_t i = 0; i < sizeof TF32_MLP / sizeof *TF32_MLP; i++) test_filter(&ex, TF32_MLP[i]);
    test_refusals(bf16);
    ws_exec hx = ws_cuda_exec(bf16);
    test_gelu_bf16(&hx, 1001, 0);
    test_gelu_bf16(&hx, 65536 + 3, 0);
    test_gelu_bf16(&hx, 4099, 1);
    ws_cuda_ctx_close(ctx[0]), ws_cuda_ctx_close(ctx[1]), ws_cuda_ctx_close(bf16);
    printf("test_afno_ops_cuda: %d of %d checks failed\n", ws_gpu_failures(), ws_gpu_checks());
    return ws_gpu_failures() > 100 ? 100 : ws_gpu_failures();
}
