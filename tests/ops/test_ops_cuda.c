/* tests/ops/test_ops_cuda.c - every CUDA operator against its CPU reference, in every run
 * precision, on fresh random inputs and awkward shapes.
 * Runs on a GPU (exit 77, skipped, where there is none or the build has no CUDA). Not a
 * cmocka program: one run reports every check (a line each: op, precision, shape, max
 * errors, worst element), because GPU time is scarce and one failure should not hide the
 * next; the exit status is the number of failed checks (capped), 0 when all pass.
 *
 * Method (style.md 7): inputs ~ N(0,1) from a seeded ws_rng, rounded to the precision's
 * storage type first (a round trip through the GPU), so the CPU reference (fp32 NCHW,
 * double sums) and the GPU see the same numbers; outputs are poisoned (0xFF: NaN in every
 * type) before each run; a check passes where |got - ref| <= atol * scale + rtol * |ref|
 * (tests/gpu_check.h: scale is max |ref| of the tensor; the tolerance table by precision).
 * Gradients that accumulate (+=) start from random values. */
#include "gpu_check.h"
#include "core/rng.h"
#include "ops/amp.h"
#include "ops/batchnorm.h"
#include "ops/conv2d.h"
#include "ops/conv_choices.h"
#include "ops/convert.h"
#include "ops/cuda_ctx.h"
#include "ops/eltwise.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/mem.h"
#include "ops/pool.h"
#include "train/optim.h"
#include "ws_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef ws_gpu_tol tol;
#define tol_of ws_gpu_tol_of
#define check ws_gpu_check

static const ws_dtype PRECISIONS[] = {WS_FP32, WS_TF32, WS_BF16, WS_FP16};
static ws_rng rng;
static ws_cuda_ctx *ctx[4];

static float *host(size_t n) {
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    return p;
}
static void fill(float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * ws_rng_normal(&rng));
}
static void *dev(const ws_exec *ex, size_t bytes) {
    void *p = NULL;
    ws_error err = {0};
    if (ws_mem_alloc(ex, bytes, "test", &p, &err) != WS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return p;
}
static size_t esz(const ws_exec *ex) { return ws_dtype_size(ws_act_dtype(ex->precision)); }

/* x (NCHW fp32, host) -> device activation; x is overwritten with what the device holds
 * (rounded to the storage type), so the reference sees the same inputs. */
static void *up(const ws_exec *ex, float *x, int n, int c, int h, int w) {
    ws_error err = {0};
    void *d = dev(ex, (size_t)n * c * h * w * esz(ex));
    ws_gpu_must(ws_tensor_upload(ex, d, x, n, c, h, w, &err), "upload", &err);
    ws_gpu_must(ws_tensor_download(ex, x, d, n, c, h, w, &err), "download", &err);
    return d;
}
static void down(const ws_exec *ex, float *x, const void *d, int n, int c, int h, int w) {
    ws_error err = {0};
    ws_gpu_must(ws_tensor_download(ex, x, d, n, c, h, w, &err), "download", &err);
}
static void poison(const ws_exec *ex, void *d, size_t bytes) {
    unsigned char *ff = malloc(bytes ? bytes : 1);
    memset(ff, 0xFF, bytes);
    ws_error err = {0};
    ws_gpu_must(ws_mem_upload(ex, d, ff, bytes, &err), "poison", &err);
    free(ff);
}

/* ---------------------------------------------------------------- conv2d */

typedef struct {
    int n, c, h, w, k, r, s, stride, pad;
} conv_shape;

/* [K,C,R,S] <-> [K,R,S,C] on the host (fp32 master weights and their gradients) */
static void kcrs_to_krsc(float *dst, const float *src, int K, int C, int R, int S, int back) {
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++)
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++) {
                    size_t a = (((size_t)k * C + c) * R + r) * S + s, b = (((size_t)k * R + r) * S + s) * C + c;
                    if (back) dst[a] = src[b];
                    else dst[b] = src[a];
                }
}

static const char *label(char *buf, size_t size, const char *what, const char *api) {
    snprintf(buf, size, "%s [%s]", what, api);
    return buf;
}

/* One shape in the context cx, opened with WATTSCALE_CUDNN_API=api ("auto", "legacy" or
 * "graph"): a forced API must be what every direction of the plan runs. Eager forward and
 * backward (dx =, dW +=), the same captured into a CUDA graph and replayed (as the trainer
 * runs them), then dx +=. */
static void test_conv(ws_cuda_ctx *cx, const char *api, ws_dtype p, conv_shape cs) {
    ws_exec ex = ws_cuda_exec(cx), cpu = ws_exec_cpu(0);
    ws_conv2d_desc d = ws_conv2d_desc_make(cs.n, cs.c, cs.h, cs.w, cs.k, cs.r, cs.s, cs.stride, cs.pad);
    char shape[64], what[64];
    snprintf(shape, sizeof shape, "%dx%dx%dx%d k%d %dx%d/%d p%d", cs.n, cs.c, cs.h, cs.w, cs.k, cs.r, cs.s, cs.stride,
             cs.pad);
    ws_error err = {0};
    ws_status st = ws_conv2d_plan(&ex, &d, &err);
    if (!ws_gpu_expect(st == WS_OK, label(what, sizeof what, "conv2d plan", api), p, shape, err.msg)) return;
    const char *apis = ws_conv2d_plan_apis(&ex, &d);
    const char *other = strcmp(api, "graph") == 0 ? "legacy" : strcmp(api, "legacy") == 0 ? "graph" : NULL;
    ws_gpu_expect(apis && (!other || !strstr(apis, other)), label(what, sizeof what, "conv2d routes", api), p, shape,
                  apis ? apis : "no plan");
    printf("     routes %s %s [%s]: %s\n", ws_dtype_name(p), shape, api, apis ? apis : "-");
    size_t nx = (size_t)d.n * d.c * d.h * d.w, nw = (size_t)d.k * d.c * d.r * d.s, ny = (size_t)d.n * d.k * d.p * d.q;
    float *x = host(nx), *w = host(nw), *y = host(ny), *dy = host(ny), *dx = host(nx), *dw = host(nw), *dx0 = host(nx);
    float *y_ref = host(ny), *dx_ref = host(nx), *dw_ref = host(nw), *dw0 = host(nw), *t = host(nw);
    float *dw0_krsc = host(nw);
    fill(x, nx, 1);
    fill(w, nw, 1.0 / sqrt((double)d.c * d.r * d.s));
    fill(dy, ny, 1);
    fill(dw0, nw, 0.1);
    fill(dx0, nx, 0.5);
    void *d_x = up(&ex, x, d.n, d.c, d.h, d.w), *d_w = up(&ex, w, d.k, d.c, d.r, d.s); /* KRSC */
    void *d_dy = up(&ex, dy, d.n, d.k, d.p, d.q);
    void *d_y = dev(&ex, ny * esz(&ex)), *d_dx = dev(&ex, nx * esz(&ex));
    float *d_dw = dev(&ex, nw * sizeof(float));
    /* reference on the rounded inputs */
    void *ws = malloc(ws_conv2d_workspace_bytes(&cpu, &d) + 64);
    ws_gpu_must(ws_conv2d_forward(&cpu, &d, y_ref, x, w, ws), "cpu conv fwd", NULL);
    memcpy(dw_ref, dw0, nw * sizeof *dw_ref);
    ws_gpu_must(ws_conv2d_backward(&cpu, &d, dx_ref, dw_ref, dy, x, w, ws, 0), "cpu conv bwd", NULL);
    /* forward */
    poison(&ex, d_y, ny * esz(&ex));
    ws_gpu_must(ws_conv2d_forward(&ex, &d, d_y, d_x, d_w, NULL), "conv fwd", NULL);
    down(&ex, y, d_y, d.n, d.k, d.p, d.q);
    check(label(what, sizeof what, "conv2d forward", api), p, shape, y, y_ref, ny, tol_of(p));
    /* backward: dx overwritten, dw accumulated onto dw0 */
    kcrs_to_krsc(dw0_krsc, dw0, d.k, d.c, d.r, d.s, 0);
    ws_gpu_must(ws_mem_upload(&ex, d_dw, dw0_krsc, nw * sizeof(float), &err), "dw0", &err);
    poison(&ex, d_dx, nx * esz(&ex));
    ws_gpu_must(ws_conv2d_backward(&ex, &d, d_dx, d_dw, d_dy, d_x, d_w, NULL, 0), "conv bwd", NULL);
    down(&ex, dx, d_dx, d.n, d.c, d.h, d.w);
    check(label(what, sizeof what, "conv2d backward dx", api), p, shape, dx, dx_ref, nx, tol_of(p));
    ws_gpu_must(ws_mem_download(&ex, t, d_dw, nw * sizeof(float), &err), "dw", &err);
    kcrs_to_krsc(dw, t, d.k, d.c, d.r, d.s, 1);
    check(label(what, sizeof what, "conv2d backward dw (+=)", api), p, shape, dw, dw_ref, nw, tol_of(p));
    /* captured and replayed: the graph API's variant packs are made at capture */
    ws_cuda_graph *g = NULL;
    ws_gpu_must(ws_cuda_graph_begin(cx, &err), "graph begin", &err);
    ws_conv2d_forward(&ex, &d, d_y, d_x, d_w, NULL);
    ws_conv2d_backward(&ex, &d, d_dx, d_dw, d_dy, d_x, d_w, NULL, 0);
    st = ws_cuda_graph_end(cx, &g, &err);
    if (ws_gpu_expect(st == WS_OK, label(what, sizeof what, "conv2d captured", api), p, shape, err.msg)) {
        poison(&ex, d_y, ny * esz(&ex));
        poison(&ex, d_dx, nx * esz(&ex));
        ws_gpu_must(ws_mem_upload(&ex, d_dw, dw0_krsc, nw * sizeof(float), &err), "dw0", &err);
        ws_gpu_must(ws_cuda_graph_launch(cx, g, &err), "graph launch", &err);
        down(&ex, y, d_y, d.n, d.k, d.p, d.q);
        check(label(what, sizeof what, "conv2d forward replay", api), p, shape, y, y_ref, ny, tol_of(p));
        down(&ex, dx, d_dx, d.n, d.c, d.h, d.w);
        check(label(what, sizeof what, "conv2d dx replay", api), p, shape, dx, dx_ref, nx, tol_of(p));
        ws_gpu_must(ws_mem_download(&ex, t, d_dw, nw * sizeof(float), &err), "dw", &err);
        kcrs_to_krsc(dw, t, d.k, d.c, d.r, d.s, 1);
        check(label(what, sizeof what, "conv2d dw (+=) replay", api), p, shape, dw, dw_ref, nw, tol_of(p));
        ws_cuda_graph_free(g);
    }
    /* dx accumulate: dx0 + dx_ref */
    void *d_dx0 = up(&ex, dx0, d.n, d.c, d.h, d.w);
    ws_gpu_must(ws_conv2d_backward(&ex, &d, d_dx0, d_dw, d_dy, d_x, d_w, NULL, WS_ACCUMULATE), "conv bwd acc", NULL);
    down(&ex, dx, d_dx0, d.n, d.c, d.h, d.w);
    for (size_t i = 0; i < nx; i++) dx_ref[i] += dx0[i];
    check(label(what, sizeof what, "conv2d backward dx (+=)", api), p, shape, dx, dx_ref, nx, tol_of(p));
    free(ws);
    ws_mem_free(&ex, d_x, 0), ws_mem_free(&ex, d_w, 0), ws_mem_free(&ex, d_dy, 0), ws_mem_free(&ex, d_y, 0);
    ws_mem_free(&ex, d_dx, 0), ws_mem_free(&ex, d_dw, 0), ws_mem_free(&ex, d_dx0, 0);
    free(x), free(w), free(y), free(dy), free(dx), free(dw), free(dx0), free(y_ref), free(dx_ref), free(dw_ref);
    free(dw0), free(t), free(dw0_krsc);
}

/* Contexts opened with WATTSCALE_CUDNN_API forced, one per precision: every conv shape
 * through that API alone. A bad value of the variable is an error at open. */
static void test_conv_api(const char *api, const conv_shape *convs, size_t n_convs) {
    ws_error err = {0};
    setenv("WATTSCALE_CUDNN_API", api, 1);
    for (int pi = 0; pi < 4; pi++) {
        ws_cuda_ctx *cx = NULL;
        ws_gpu_must(ws_cuda_ctx_open(&cx, 0, PRECISIONS[pi], 0, &err), "ctx", &err);
        for (size_t i = 0; i < n_convs; i++) test_conv(cx, api, PRECISIONS[pi], convs[i]);
        ws_cuda_ctx_close(cx);
    }
    unsetenv("WATTSCALE_CUDNN_API");
}

static void test_conv_env_errors(void) {
    static const char *const BAD[][2] = {{"WATTSCALE_CUDNN_API", "fast"}, {"WATTSCALE_CUDNN_GRAPH_CANDIDATES", "0"},
                                         {"WATTSCALE_CUDNN_GRAPH_CANDIDATES", "8x"}};
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        ws_cuda_ctx *cx = NULL;
        ws_error err = {0};
        setenv(BAD[i][0], BAD[i][1], 1);
        ws_status st = ws_cuda_ctx_open(&cx, 0, WS_FP32, 0, &err);
        unsetenv(BAD[i][0]);
        char shape[64];
        snprintf(shape, sizeof shape, "%s=%s", BAD[i][0] + 10, BAD[i][1]);
        ws_gpu_expect(st == WS_EINVAL && !cx && strstr(err.msg, BAD[i][0]), "ctx open rejects", WS_FP32, shape,
                      err.msg);
        ws_cuda_ctx_close(cx);
    }
}

/* Lines of a text file (0 when it is missing). */
static int file_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    if (!f) return 0;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

/* Plans one shape in a fresh context (opened with the environment as it is) and returns
 * what the context says about the planning; the context stays open in *out. */
static ws_cuda_conv_planning plan_fresh(ws_cuda_ctx **out, ws_dtype p, int deterministic, const ws_conv2d_desc *d,
                                        const char *shape) {
    ws_error err = {0};
    ws_gpu_must(ws_cuda_ctx_open(out, 0, p, deterministic, &err), "ctx", &err);
    ws_exec ex = ws_cuda_exec(*out);
    ws_status st = ws_conv2d_plan(&ex, d, &err);
    ws_gpu_expect(st == WS_OK, "conv choices: plan", p, shape, err.msg);
    return ws_cuda_conv_planning_get(*out);
}

/* The choices file (WATTSCALE_CONV_CHOICES, ops/conv_choices.h): a shape timed in one
 * context is restored untimed in the next, with the same routes, right results (test_conv:
 * eager, captured and replayed) and no line added; an entry this cuDNN cannot rebuild is
 * timed again and replaced; off keeps nothing; a deterministic context neither reads nor
 * writes the file. */
static void test_conv_choices(ws_dtype p, conv_shape cs) {
    ws_conv2d_desc d = ws_conv2d_desc_make(cs.n, cs.c, cs.h, cs.w, cs.k, cs.r, cs.s, cs.stride, cs.pad);
    char dir[] = "/tmp/ws-conv-choices-XXXXXX", path[64], shape[64], detail[256];
    snprintf(shape, sizeof shape, "%dx%dx%dx%d k%d %dx%d/%d p%d", cs.n, cs.c, cs.h, cs.w, cs.k, cs.r, cs.s, cs.stride,
             cs.pad);
    if (!mkdtemp(dir)) ws_gpu_must(WS_EIO, "mkdtemp", NULL);
    snprintf(path, sizeof path, "%s/sub/choices.txt", dir); /* its folder is made too */
    setenv("WATTSCALE_CONV_CHOICES", path, 1);
    ws_cuda_ctx *cx = NULL;
    ws_cuda_conv_planning a = plan_fresh(&cx, p, 0, &d, shape);
    char apis[64];
    ws_exec ex = ws_cuda_exec(cx);
    snprintf(apis, sizeof apis, "%s", ws_conv2d_plan_apis(&ex, &d));
    snprintf(detail, sizeof detail, "timed %d, from file %d, file '%s', %d lines", a.shapes_timed, a.shapes_from_file,
             a.choices_file, file_lines(path));
    ws_gpu_expect(a.shapes_timed == 1 && a.shapes_from_file == 0 && !strcmp(a.choices_file, path) &&
                      file_lines(path) == 1, "conv choices: timed and kept", p, shape, detail);
    ws_cuda_ctx_close(cx);

    ws_cuda_conv_planning b = plan_fresh(&cx, p, 0, &d, shape);
    ex = ws_cuda_exec(cx);
    const char *apis_b = ws_conv2d_plan_apis(&ex, &d);
    snprintf(detail, sizeof detail, "timed %d, from file %d, %d lines, routes %s (kept: %s), %.3f s", b.shapes_timed,
             b.shapes_from_file, file_lines(path), apis_b ? apis_b : "-", apis, b.seconds);
    ws_gpu_expect(b.shapes_timed == 0 && b.shapes_from_file == 1 && file_lines(path) == 1 && apis_b &&
                      !strcmp(apis_b, apis), "conv choices: restored untimed", p, shape, detail);
    printf("     conv choices %s %s: timed in %.3f s, restored in %.3f s (%s)\n", ws_dtype_name(p), shape, a.seconds,
           b.seconds, apis);
    test_conv(cx, "auto, restored", p, cs);
    ws_cuda_ctx_close(cx);

    /* a kept value this cuDNN cannot rebuild: timed again, the new line wins */
    ws_error err = {0};
    wsi_conv_choices *cc = NULL;
    ws_gpu_must(wsi_conv_choices_open(&cc, path, &err), "choices open", &err);
    char key[WSI_CONV_CHOICES_FIELD_MAX + 1];
    FILE *f = fopen(path, "r");
    if (!f || !fgets(key, sizeof key, f)) ws_gpu_must(WS_EIO, "choices read", NULL);
    fclose(f);
    *strchr(key, '\t') = '\0';
    ws_gpu_must(wsi_conv_choices_add(cc, key, "L-|G0 eng99999|G0 eng99999|G0 eng99999|G0 eng99999", &err),
                "choices add", &err);
    wsi_conv_choices_close(cc);
    ws_cuda_conv_planning c = plan_fresh(&cx, p, 0, &d, shape);
    ws_cuda_ctx_close(cx);
    ws_cuda_conv_planning c2 = plan_fresh(&cx, p, 0, &d, shape);
    ws_cuda_ctx_close(cx);
    snprintf(detail, sizeof detail, "stale: timed %d from file %d; then timed %d from file %d; %d lines",
             c.shapes_timed, c.shapes_from_file, c2.shapes_timed, c2.shapes_from_file, file_lines(path));
    ws_gpu_expect(c.shapes_timed == 1 && c2.shapes_from_file == 1 && file_lines(path) == 3,
                  "conv choices: stale entry timed again", p, shape, detail);

    /* deterministic: the file is not touched */
    ws_cuda_conv_planning e = plan_fresh(&cx, p, 1, &d, shape);
    ws_cuda_ctx_close(cx);
    snprintf(detail, sizeof detail, "heuristic %d, timed %d, from file %d, file '%s', %d lines", e.shapes_heuristic,
             e.shapes_timed, e.shapes_from_file, e.choices_file, file_lines(path));
    ws_gpu_expect(e.shapes_heuristic == 1 && e.shapes_timed == 0 && e.shapes_from_file == 0 && !e.choices_file[0] &&
                      file_lines(path) == 3, "conv choices: deterministic leaves the file", p, shape, detail);

    /* off (as main sets it for the other tests): timed, nothing kept */
    setenv("WATTSCALE_CONV_CHOICES", "off", 1);
    ws_cuda_conv_planning o = plan_fresh(&cx, p, 0, &d, shape);
    ws_cuda_ctx_close(cx);
    snprintf(detail, sizeof detail, "timed %d, from file %d, file '%s', %d lines", o.shapes_timed, o.shapes_from_file,
             o.choices_file, file_lines(path));
    ws_gpu_expect(o.shapes_timed == 1 && !o.choices_file[0] && file_lines(path) == 3, "conv choices: off", p, shape,
                  detail);
    char sub[80];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    unlink(path), rmdir(sub), rmdir(dir);
}

/* ---------------------------------------------------------------- batch norm */

/* mask: 0 no ReLU mask; 1 a mask (forward writes, backward reads: ops/batchnorm.h); 2 a mask
 * with y one element off 16-byte alignment in the forward (scalar threads write the bytes by
 * shuffles); 3 a mask with dx off alignment in the backward (scalar threads read it). */
static void test_bn_mask(ws_dtype p, int n, int c, int h, int w, int residual, int relu, int mask) {
    ws_exec ex = ws_cuda_exec(ctx[p]), cpu = ws_exec_cpu(0);
    ws_batchnorm_desc d = {n, c, h, w, 1e-5, 0.1};
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%dx%d%s%s%s", n, c, h, w, residual ? " +res" : "", relu ? " relu" : "",
             mask == 1 ? " mask" : mask == 2 ? " mask y+1" : mask == 3 ? " mask dx+1" : "");
    size_t nx = (size_t)n * c * h * w;
    float *x = host(nx), *res = host(nx), *y = host(nx), *y_ref = host(nx), *dy = host(nx), *dy_ref = host(nx);
    float *dx = host(nx), *dx_ref = host(nx), *dres = host(nx), *dres_ref = host(nx);
    float *gamma = host(c), *beta = host(c), *rm = host(c), *rv = host(c), *rm_ref = host(c), *rv_ref = host(c);
    float *sm = host(c), *si = host(c), *sm_ref = host(c), *si_ref = host(c);
    float *dg = host(c), *db = host(c), *dg_ref = host(c), *db_ref = host(c), *v = host(c);
    fill(x, nx, 2);
    for (size_t i = 0; i < nx; i++) x[i] += 0.5f; /* a mean away from 0 */
    fill(res, nx, 1);
    fill(dy, nx, 1);
    fill(gamma, c, 1), fill(beta, c, 1), fill(rm, c, 0.1), fill(dg, c, 1), fill(db, c, 1);
    for (int i = 0; i < c; i++) rv[i] = 0.5f + (float)fabs(ws_rng_normal(&rng));
    ws_error err = {0};
    void *d_x = up(&ex, x, n, c, h, w), *d_res = up(&ex, res, n, c, h, w), *d_dy = up(&ex, dy, n, c, h, w);
    void *d_y_raw = dev(&ex, (nx + 16) * esz(&ex)), *d_dx_raw = dev(&ex, (nx + 16) * esz(&ex));
    void *d_dres = dev(&ex, nx * esz(&ex));
    void *d_y = (char *)d_y_raw + (mask == 2 ? esz(&ex) : 0), *d_dx = (char *)d_dx_raw + (mask == 3 ? esz(&ex) : 0);
    const size_t mask_bytes = ws_batchnorm_relu_mask_bytes(&d);
    uint8_t *d_mask = mask ? dev(&ex, mask_bytes) : NULL;
    if (d_mask) poison(&ex, d_mask, mask_bytes); /* every bit written, or the check below fails */
    float *d_vec[10];
    for (int i = 0; i < 10; i++) d_vec[i] = dev(&ex, (size_t)c * sizeof(float));
    enum { G, B, RM, RV, SM, SI, DG, DB };
    const float *init[8] = {gamma, beta, rm, rv, NULL, NULL, dg, db};
    for (int i = 0; i < 8; i++)
        if (init[i])
            ws_gpu_must(ws_mem_upload(&ex, d_vec[i], init[i], (size_t)c * sizeof(float), &err), "bn vec", &err);
    /* reference */
    memcpy(rm_ref, rm, c * sizeof(float)), memcpy(rv_ref, rv, c * sizeof(float));
    ws_gpu_must(ws_batchnorm_forward_train(&cpu, &d, y_ref, x, gamma, beta, rm_ref, rv_ref, sm_ref, si_ref,
                                    residual ? res : NULL, relu, NULL), "cpu bn fwd", NULL);
    /* the GPU's fused output is rounded to storage once; the reference composes fp32 ops */
    poison(&ex, d_y, nx * esz(&ex));
    ws_gpu_must(ws_batchnorm_forward_train(&ex, &d, d_y, d_x, d_vec[G], d_vec[B], d_vec[RM], d_vec[RV], d_vec[SM],
                                           d_vec[SI], residual ? d_res : NULL, relu, d_mask),
                "bn fwd", NULL);
    down(&ex, y, d_y, n, c, h, w);
    check("batchnorm train forward", p, shape, y, y_ref, nx, tol_of(p));
    if (d_mask && residual && relu && c % 8 == 0) { /* bit e%8 of byte e/8: y[e] > 0, e over NHWC */
        uint8_t *bits = (uint8_t *)host((mask_bytes + 3) / 4);
        ws_gpu_must(ws_mem_download(&ex, bits, d_mask, mask_bytes, &err), "mask", &err);
        size_t wrong = 0, first = SIZE_MAX;
        for (size_t e = 0; e < nx; e++) {
            size_t ci = e % c, pix = e / c; /* NHWC element e -> NCHW index of y */
            size_t ni = pix / ((size_t)h * w), hw = pix % ((size_t)h * w);
            int want = y[(ni * c + ci) * h * w + hw] > 0.0f, got = (bits[e / 8] >> (e % 8)) & 1;
            if (want != got && wrong++ == 0) first = e;
        }
        char detail[96];
        snprintf(detail, sizeof detail, "%zu of %zu bits wrong (first: element %zu)", wrong, nx, first);
        ws_gpu_expect(wrong == 0, "batchnorm relu mask bits", p, shape, detail);
        free(bits);
    }
    tol f32 = {1e-5, 1e-6};
    ws_gpu_must(ws_mem_download(&ex, v, d_vec[SM], c * sizeof(float), &err), "sm", &err);
    check("batchnorm save_mean", p, shape, v, sm_ref, c, f32);
    ws_gpu_must(ws_mem_download(&ex, v, d_vec[SI], c * sizeof(float), &err), "si", &err);
    check("batchnorm save_invstd", p, shape, v, si_ref, c, f32);
    ws_gpu_must(ws_mem_download(&ex, v, d_vec[RV], c * sizeof(float), &err), "rv", &err);
    check("batchnorm running_var", p, shape, v, rv_ref, c, f32);
    ws_gpu_must(ws_mem_download(&ex, v, d_vec[RM], c * sizeof(float), &err), "rm", &err);
    check("batchnorm running_mean", p, shape, v, rm_ref, c, f32);
    /* backward from the GPU's own forward output (y decides the ReLU mask): the reference
     * gets the same y, rounded as the GPU stored it */
    memcpy(dy_ref, dy, nx * sizeof(float));
    memcpy(dg_ref, dg, c * sizeof(float)), memcpy(db_ref, db, c * sizeof(float));
    ws_gpu_must(ws_batchnorm_backward(&cpu, &d, dx_ref, dg_ref, db_ref, dy_ref, y, x, gamma, beta, sm_ref, si_ref,
                               residual ? dres_ref : NULL, relu, NULL), "cpu bn bwd", NULL);
    poison(&ex, d_dx, nx * esz(&ex));
    poison(&ex, d_dres, nx * esz(&ex));
    ws_gpu_must(ws_batchnorm_backward(&ex, &d, d_dx, d_vec[DG], d_vec[DB], d_dy, d_y, d_x, d_vec[G], d_vec[B], d_vec[SM],
                                      d_vec[SI], residual ? d_dres : NULL, relu, d_mask),
                "bn bwd", NULL);
    down(&ex, dx, d_dx, n, c, h, w);
    check("batchnorm backward dx", p, shape, dx, dx_ref, nx, tol_of(p));
    if (residual) {
        down(&ex, dres, d_dres, n, c, h, w);
        check("batchnorm backward dresidual", p, shape, dres, dres_ref, nx, tol_of(p));
    }
    tol acc = {tol_of(p).rtol, tol_of(p).atol};
    ws_gpu_must(ws_mem_download(&ex, v, d_vec[DG], c * sizeof(float), &err), "dg", &err);
    check("batchnorm backward dgamma (+=)", p, shape, v, dg_ref, c, acc);
    ws_gpu_must(ws_mem_download(&ex, v, d_vec[DB], c * sizeof(float), &err), "db", &err);
    check("batchnorm backward dbeta (+=)", p, shape, v, db_ref, c, acc);
    /* eval */
    ws_gpu_must(ws_batchnorm_forward_eval(&cpu, &d, y_ref, x, gamma, beta, rm_ref, rv_ref, residual ? res : NULL, relu),
         "cpu bn eval", NULL);
    ws_gpu_must(ws_mem_upload(&ex, d_vec[RM], rm_ref, c * sizeof(float), &err), "rm", &err);
    ws_gpu_must(ws_mem_upload(&ex, d_vec[RV], rv_ref, c * sizeof(float), &err), "rv", &err);
    poison(&ex, d_y, nx * esz(&ex));
    ws_gpu_must(ws_batchnorm_forward_eval(&ex, &d, d_y, d_x, d_vec[G], d_vec[B], d_vec[RM], d_vec[RV],
                                          residual ? d_res : NULL, relu),
                "bn eval", NULL);
    down(&ex, y, d_y, n, c, h, w);
    check("batchnorm eval forward", p, shape, y, y_ref, nx, tol_of(p));
    ws_mem_free(&ex, d_x, 0), ws_mem_free(&ex, d_res, 0), ws_mem_free(&ex, d_dy, 0), ws_mem_free(&ex, d_y_raw, 0);
    ws_mem_free(&ex, d_dx_raw, 0), ws_mem_free(&ex, d_dres, 0), ws_mem_free(&ex, d_mask, 0);
    for (int i = 0; i < 10; i++) ws_mem_free(&ex, d_vec[i], 0);
    free(x), free(res), free(y), free(y_ref), free(dy), free(dy_ref), free(dx), free(dx_ref), free(dres);
    free(dres_ref), free(gamma), free(beta), free(rm), free(rv), free(rm_ref), free(rv_ref), free(sm), free(si);
    free(sm_ref), free(si_ref), free(dg), free(db), free(dg_ref), free(db_ref), free(v);
}

static void test_bn(ws_dtype p, int n, int c, int h, int w, int residual, int relu) {
    test_bn_mask(p, n, c, h, w, residual, relu, 0);
}

/* ---------------------------------------------------------------- element-wise, pooling */

static void test_eltwise(ws_dtype p, size_t n) {
    ws_exec ex = ws_cuda_exec(ctx[p]), cpu = ws_exec_cpu(0);
    char shape[32];
    snprintf(shape, sizeof shape, "%zu", n);
    float *a = host(n), *b = host(n), *y = host(n), *ref = host(n);
    fill(a, n, 1), fill(b, n, 1);
    void *d_a = up(&ex, a, 1, (int)n, 1, 1), *d_b = up(&ex, b, 1, (int)n, 1, 1), *d_y = dev(&ex, n * esz(&ex));
    ws_relu_forward(&cpu, n, ref, a);
    poison(&ex, d_y, n * esz(&ex));
    ws_relu_forward(&ex, n, d_y, d_a);
    down(&ex, y, d_y, 1, (int)n, 1, 1);
    check("relu forward", p, shape, y, ref, n, tol_of(p));
    ws_relu_backward(&cpu, n, ref, b, a);
    ws_relu_backward(&ex, n, d_y, d_b, d_a);
    down(&ex, y, d_y, 1, (int)n, 1, 1);
    check("relu backward", p, shape, y, ref, n, tol_of(p));
    ws_add_forward(&cpu, n, ref, a, b);
    ws_add_forward(&ex, n, d_y, d_a, d_b);
    down(&ex, y, d_y, 1, (int)n, 1, 1);
    check("add", p, shape, y, ref, n, tol_of(p));
    ws_mem_free(&ex, d_a, 0), ws_mem_free(&ex, d_b, 0), ws_mem_free(&ex, d_y, 0);
    free(a), free(b), free(y), free(ref);
}

static void test_pool(ws_dtype p, int n, int c, int h, int w) {
    ws_exec ex = ws_cuda_exec(ctx[p]), cpu = ws_exec_cpu(0);
    char shape[48];
    snprintf(shape, sizeof shape, "%dx%dx%dx%d 3x3/2", n, c, h, w);
    ws_maxpool_desc d = ws_maxpool_desc_make(n, c, h, w, 3, 3, 2, 1);
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * d.p * d.q;
    float *x = host(nx), *y = host(ny), *y_ref = host(ny), *dy = host(ny), *dx = host(nx), *dx_ref = host(nx);
    int32_t *am_ref = malloc(ny * sizeof *am_ref);
    fill(x, nx, 1), fill(dy, ny, 1);
    void *d_x = up(&ex, x, n, c, h, w), *d_dy = up(&ex, dy, n, c, d.p, d.q);
    void *d_y = dev(&ex, ny * esz(&ex)), *d_dx = dev(&ex, nx * esz(&ex));
    int32_t *d_am = dev(&ex, ny * sizeof(int32_t));
    ws_maxpool_forward(&cpu, &d, y_ref, am_ref, x);
    poison(&ex, d_y, ny * esz(&ex));
    ws_gpu_must(ws_maxpool_forward(&ex, &d, d_y, d_am, d_x), "maxpool fwd", NULL);
    down(&ex, y, d_y, n, c, d.p, d.q);
    check("maxpool forward", p, shape, y, y_ref, ny, tol_of(p));
    ws_maxpool_backward(&cpu, &d, dx_ref, dy, am_ref);
    poison(&ex, d_dx, nx * esz(&ex));
    ws_gpu_must(ws_maxpool_backward(&ex, &d, d_dx, d_dy, d_am), "maxpool bwd", NULL);
    down(&ex, dx, d_dx, n, c, h, w);
    check("maxpool backward", p, shape, dx, dx_ref, nx, tol_of(p));
    /* global average pooling */
    size_t ng = (size_t)n * c;
    float *g = host(ng), *g_ref = host(ng);
    void *d_g = dev(&ex, ng * esz(&ex));
    ws_avgpool_global_forward(&cpu, n, c, h, w, g_ref, x);
    poison(&ex, d_g, ng * esz(&ex));
    ws_gpu_must(ws_avgpool_global_forward(&ex, n, c, h, w, d_g, d_x), "gap fwd", NULL);
    down(&ex, g, d_g, n, c, 1, 1);
    check("avgpool global forward", p, shape, g, g_ref, ng, tol_of(p));
    fill(g, ng, 1);
    void *d_gy = up(&ex, g, n, c, 1, 1);
    ws_avgpool_global_backward(&cpu, n, c, h, w, dx_ref, g);
    poison(&ex, d_dx, nx * esz(&ex));
    ws_gpu_must(ws_avgpool_global_backward(&ex, n, c, h, w, d_dx, d_gy), "gap bwd", NULL);
    down(&ex, dx, d_dx, n, c, h, w);
    check("avgpool global backward", p, shape, dx, dx_ref, nx, tol_of(p));
    ws_mem_free(&ex, d_x, 0), ws_mem_free(&ex, d_dy, 0), ws_mem_free(&ex, d_y, 0), ws_mem_free(&ex, d_dx, 0);
    ws_mem_free(&ex, d_am, 0), ws_mem_free(&ex, d_g, 0), ws_mem_free(&ex, d_gy, 0);
    free(x), free(y), free(y_ref), free(dy), free(dx), free(dx_ref), free(am_ref), free(g), free(g_ref);
}

/* ---------------------------------------------------------------- linear, loss */

static void test_linear(ws_dtype p, int n, int in, int out) {
    ws_exec ex = ws_cuda_exec(ctx[p]), cpu = ws_exec_cpu(0);
    char shape[48];
    snprintf(shape, sizeof shape, "%d x %d -> %d", n, in, out);
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    float *x = host(nx), *w = host(nw), *b = host(out), *y = host(ny), *y_ref = host(ny), *dy = host(ny);
    float *dx = host(nx), *dx_ref = host(nx), *dw = host(nw), *dw_ref = host(nw), *db = host(out), *db_ref = host(out);
    fill(x, nx, 1), fill(w, nw, 1.0 / sqrt(in)), fill(b, out, 1), fill(dy, ny, 1), fill(dw_ref, nw, 0.1);
    fill(db_ref, out, 0.1);
    ws_error err = {0};
    ws_gpu_must(ws_linear_plan(&ex, n, in, out, &err), "linear plan", &err);
    void *d_x = up(&ex, x, n, in, 1, 1), *d_w = up(&ex, w, out, in, 1, 1), *d_dy = up(&ex, dy, n, out, 1, 1);
    void *d_y = dev(&ex, ny * esz(&ex)), *d_dx = dev(&ex, nx * esz(&ex));
    float *d_b = dev(&ex, out * sizeof(float)), *d_dw = dev(&ex, nw * sizeof(float)),
          *d_db = dev(&ex, out * sizeof(float));
    ws_gpu_must(ws_mem_upload(&ex, d_b, b, out * sizeof(float), &err), "b", &err);
    ws_gpu_must(ws_mem_upload(&ex, d_dw, dw_ref, nw * sizeof(float), &err), "dw0", &err);
    ws_gpu_must(ws_mem_upload(&ex, d_db, db_ref, out * sizeof(float), &err), "db0", &err);
    ws_linear_forward(&cpu, n, in, out, y_ref, x, w, b);
    ws_linear_backward(&cpu, n, in, out, dx_ref, dw_ref, db_ref, dy, x, w);
    poison(&ex, d_y, ny * esz(&ex));
    ws_gpu_must(ws_linear_forward(&ex, n, in, out, d_y, d_x, d_w, d_b), "linear fwd", NULL);
    down(&ex, y, d_y, n, out, 1, 1);
    check("linear forward", p, shape, y, y_ref, ny, tol_of(p));
    poison(&ex, d_dx, nx * esz(&ex));
    ws_gpu_must(ws_linear_backward(&ex, n, in, out, d_dx, d_dw, d_db, d_dy, d_x, d_w), "linear bwd", NULL);
    down(&ex, dx, d_dx, n, in, 1, 1);
    check("linear backward dx", p, shape, dx, dx_ref, nx, tol_of(p));
    ws_gpu_must(ws_mem_download(&ex, dw, d_dw, nw * sizeof(float), &err), "dw", &err);
    check("linear backward dw (+=)", p, shape, dw, dw_ref, nw, tol_of(p));
    ws_gpu_must(ws_mem_download(&ex, db, d_db, out * sizeof(float), &err), "db", &err);
    check("linear backward db (+=)", p, shape, db, db_ref, out, tol_of(p));
    ws_mem_free(&ex, d_x, 0), ws_mem_free(&ex, d_w, 0), ws_mem_free(&ex, d_dy, 0), ws_mem_free(&ex, d_y, 0);
    ws_mem_free(&ex, d_dx, 0), ws_mem_free(&ex, d_b, 0), ws_mem_free(&ex, d_dw, 0), ws_mem_free(&ex, d_db, 0);
    free(x), free(w), free(b), free(y), free(y_ref), free(dy), free(dx), free(dx_ref), free(dw), free(dw_ref);
    free(db), free(db_ref);
}

static void test_loss(ws_dtype p, int n, int k, float smoothing) {
    ws_exec ex = ws_cuda_exec(ctx[p]), cpu = ws_exec_cpu(0);
    char shape[48];
    snprintf(shape, sizeof shape, "%d x %d eps %.2g", n, k, smoothing);
    size_t nz = (size_t)n * k;
    float *z = host(nz), *pr = host(nz), *pr_ref = host(nz), *dz = host(nz), *dz_ref = host(nz);
    int32_t *lab = malloc(n * sizeof *lab);
    fill(z, nz, 3);
    for (int i = 0; i < n; i++) lab[i] = (int32_t)ws_rng_below(&rng, (uint64_t)k);
    ws_error err = {0};
    void *d_z = up(&ex, z, n, k, 1, 1), *d_dz = dev(&ex, nz * esz(&ex));
    float *d_pr = dev(&ex, nz * sizeof(float));
    int32_t *d_lab = dev(&ex, n * sizeof(int32_t));
    double *d_loss = dev(&ex, 3 * sizeof(double));
    ws_gpu_must(ws_mem_upload(&ex, d_lab, lab, n * sizeof(int32_t), &err), "labels", &err);
    double loss_ref = 0, got[3] = {0, 0, 0};
    ws_softmax_xent_forward(&cpu, n, k, &loss_ref, pr_ref, z, lab, smoothing);
    ws_softmax_xent_backward(&cpu, n, k, dz_ref, pr_ref, lab, smoothing, 1.0f / n);
    double top1_ref = ws_topk_correct(n, k, z, lab, 1), top5_ref = ws_topk_correct(n, k, z, lab, 5);
    ws_mem_zero(&ex, d_loss, 3 * sizeof(double));
    ws_gpu_must(ws_softmax_xent_forward(&ex, n, k, d_loss, d_pr, d_z, d_lab, smoothing), "xent fwd", NULL);
    ws_gpu_must(ws_softmax_xent_backward(&ex, n, k, d_dz, d_pr, d_lab, smoothing, 1.0f / n), "xent bwd", NULL);
    ws_gpu_must(ws_topk_count(&ex, n, k, d_z, d_lab, 1, d_loss + 1), "top1", NULL);
    ws_gpu_must(ws_topk_count(&ex, n, k, d_z, d_lab, 5, d_loss + 2), "top5", NULL);
    ws_gpu_must(ws_mem_download(&ex, got, d_loss, sizeof got, &err), "loss", &err);
    ws_gpu_must(ws_mem_download(&ex, pr, d_pr, nz * sizeof(float), &err), "probs", &err);
    down(&ex, dz, d_dz, n, k, 1, 1);
    float lg = (float)got[0], lr = (float)loss_ref, c1 = (float)got[1], c1r = (float)top1_ref, c5 = (float)got[2],
          c5r = (float)top5_ref;
    tol f32 = {1e-5, 1e-6}, exact = {0, 0};
    check("softmax xent loss", p, shape, &lg, &lr, 1, f32);
    check("softmax probs", p, shape, pr, pr_ref, nz, f32);
    check("softmax xent backward", p, shape, dz, dz_ref, nz, tol_of(p));
    check("top-1 count", p, shape, &c1, &c1r, 1, exact);
    check("top-5 count", p, shape, &c5, &c5r, 1, exact);
    ws_mem_free(&ex, d_z, 0), ws_mem_free(&ex, d_dz, 0), ws_mem_free(&ex, d_pr, 0), ws_mem_free(&ex, d_lab, 0);
    ws_mem_free(&ex, d_loss, 0);
    free(z), free(pr), free(pr_ref), free(dz), free(dz_ref), free(lab);
}

/* ---------------------------------------------------------------- loss scaling, optimizer */

static void test_amp(void) {
    ws_exec ex = ws_cuda_exec(ctx[WS_FP16]), cpu = ws_exec_cpu(0);
    size_t n = 100003;
    float *g = host(n), *ref = host(n), scale = 1024.0f;
    fill(g, n, 1);
    memcpy(ref, g, n * sizeof *g);
    ws_error err = {0};
    float *d_g = dev(&ex, n * sizeof(float)), *d_s = dev(&ex, sizeof(float));
    int *d_inf = dev(&ex, sizeof(int)), inf = 0, inf_ref = 0;
    ws_gpu_must(ws_mem_upload(&ex, d_g, g, n * sizeof(float), &err), "g", &err);
    ws_gpu_must(ws_mem_upload(&ex, d_s, &scale, sizeof scale, &err), "s", &err);
    ws_mem_zero(&ex, d_inf, sizeof(int));
    ws_amp_unscale_check(&cpu, ref, n, &scale, &inf_ref);
    ws_gpu_must(ws_amp_unscale_check(&ex, d_g, n, d_s, d_inf), "unscale", NULL);
    ws_gpu_must(ws_mem_download(&ex, g, d_g, n * sizeof(float), &err), "g", &err);
    ws_gpu_must(ws_mem_download(&ex, &inf, d_inf, sizeof inf, &err), "inf", &err);
    check("amp unscale", WS_FP16, "100003", g, ref, n, (tol){0, 0});
    float fi = (float)inf, fr = (float)inf_ref;
    check("amp found_inf (finite)", WS_FP16, "100003", &fi, &fr, 1, (tol){0, 0});
    g[77777] = INFINITY;
    ws_gpu_must(ws_mem_upload(&ex, d_g, g, n * sizeof(float), &err), "g", &err);
    ws_gpu_must(ws_amp_unscale_check(&ex, d_g, n, d_s, d_inf), "unscale", NULL);
    ws_gpu_must(ws_mem_download(&ex, &inf, d_inf, sizeof inf, &err), "inf", &err);
    fi = (float)inf, fr = 1;
    check("amp found_inf (inf)", WS_FP16, "100003", &fi, &fr, 1, (tol){0, 0});
    ws_mem_free(&ex, d_g, 0), ws_mem_free(&ex, d_s, 0), ws_mem_free(&ex, d_inf, 0);
    free(g), free(ref);
}

static void test_optim(ws_optimizer_kind kind, int nesterov) {
    ws_exec ex = ws_cuda_exec(ctx[WS_BF16]);
    const size_t total = 70000;
    ws_param_tensor t[3] = {{0, 30000, 0}, {30000, 64, 1}, {30064, 39936, 0}};
    ws_optim_opts o = ws_optim_opts_default(kind);
    o.nesterov = nesterov;
    ws_optim *a = NULL, *b = NULL;
    ws_error err = {0};
    ws_gpu_must(ws_optim_open(&a, &o, t, 3, total, &err), "optim cpu", &err);
    ws_gpu_must(ws_optim_open_on(&b, &ex, &o, t, 3, total, &err), "optim gpu", &err);
    float *p = host(total), *g = host(total), *pg = host(total), *w = host(total);
    fill(p, total, 1);
    float *d_p = dev(&ex, total * sizeof(float)), *d_g = dev(&ex, total * sizeof(float));
    void *d_w = dev(&ex, total * 2);
    ws_optim_set_work(b, d_w, WS_BF16);
    ws_gpu_must(ws_mem_upload(&ex, d_p, p, total * sizeof(float), &err), "p", &err);
    for (int step = 0; step < 4; step++) {
        fill(g, total, 0.1);
        ws_gpu_must(ws_mem_upload(&ex, d_g, g, total * sizeof(float), &err), "g", &err);
        double lr = 0.1 * (step + 1);
        ws_optim_step(a, p, g, lr);
        ws_optim_step(b, d_p, d_g, lr);
    }
    ws_gpu_must(ws_mem_download(&ex, pg, d_p, total * sizeof(float), &err), "p", &err);
    char what[48];
    snprintf(what, sizeof what, "optimizer %s%s", ws_optimizer_name(kind), nesterov ? " nesterov" : "");
    /* SGD is element for element the CPU's arithmetic: the same bits */
    tol t_opt = kind == WS_OPT_SGD ? (tol){0, 0} : (tol){1e-6, 1e-7};
    check(what, WS_FP32, "70000, 4 steps", pg, p, total, t_opt);
    ws_exec bx = ws_cuda_exec(ctx[WS_BF16]);
    down(&bx, w, d_w, 1, (int)total, 1, 1);
    check("optimizer working copy", WS_BF16, "70000", w, pg, total, tol_of(WS_BF16));
    /* state round trip */
    size_t bytes = ws_optim_state_bytes(b);
    unsigned char *blob = malloc(bytes), *blob2 = malloc(bytes);
    ws_gpu_must(ws_optim_state_save(b, blob, &err), "state save", &err);
    ws_gpu_must(ws_optim_state_save(a, blob2, &err), "state save cpu", &err);
    float *m1 = (float *)(blob + bytes - total * sizeof(float)), *m2 = (float *)(blob2 + bytes - total * sizeof(float));
    check("optimizer state (last moment)", WS_FP32, "70000", m1, m2, total,
          kind == WS_OPT_SGD ? (tol){0, 0} : (tol){1e-5, 1e-7});
    ws_gpu_must(ws_optim_state_load(b, blob, bytes, &err), "state load", &err);
    ws_optim_close(a), ws_optim_close(b);
    ws_mem_free(&ex, d_p, 0), ws_mem_free(&ex, d_g, 0), ws_mem_free(&ex, d_w, 0);
    free(p), free(g), free(pg), free(w), free(blob), free(blob2);
}

int main(void) {
#if !WS_HAVE_CUDA
    printf("test_ops_cuda: this build has no CUDA backend; skipped\n");
    return 77;
#endif
    if (ws_cuda_device_count() < 1) {
        printf("test_ops_cuda: no GPU visible; skipped\n");
        return 77;
    }
    rng = ws_rng_seeded(20261201);
    ws_error err = {0};
    unsetenv("WATTSCALE_CUDNN_API"); /* the shared contexts run the default, auto */
    setenv("WATTSCALE_CONV_CHOICES", "off", 1); /* and time every shape (test_conv_choices sets its own file) */
    for (int i = 0; i < 4; i++)
        ws_gpu_must(ws_cuda_ctx_open(&ctx[PRECISIONS[i]], 0, PRECISIONS[i], 0, &err), "ctx", &err);
    printf("test_ops_cuda on %s (%s)\n", ws_cuda_device_name(ctx[0]), ws_cuda_versions(ctx[0]));
    /* awkward shapes: batch 1, odd sizes, channels not multiples of 8, strides, pads, the
     * ImageNet stem, a bottleneck's 1x1 and 3x3 */
    static const conv_shape CONVS[] = {
        {1, 3, 7, 9, 5, 3, 3, 1, 1},    {2, 5, 11, 10, 6, 7, 7, 2, 3},  {3, 6, 8, 7, 7, 1, 1, 2, 0},
        {2, 3, 10, 7, 5, 3, 3, 3, 1},   {2, 3, 32, 32, 16, 7, 7, 2, 3}, {4, 64, 14, 14, 64, 3, 3, 1, 1},
        {4, 64, 14, 14, 256, 1, 1, 1, 0}, {3, 128, 9, 9, 64, 3, 3, 2, 1},
        /* a ResNet downsample (1x1 stride 2) and a stride-2 3x3 on odd sizes */
        {4, 64, 15, 15, 128, 1, 1, 2, 0}, {2, 32, 15, 13, 48, 3, 3, 2, 1},
    };
    const size_t n_convs = sizeof CONVS / sizeof *CONVS;
    test_conv_env_errors();
    test_conv_api("legacy", CONVS, n_convs);
    test_conv_api("graph", CONVS, n_convs);
    test_conv_choices(WS_FP32, CONVS[5]);
    test_conv_choices(WS_BF16, CONVS[5]);
    for (int pi = 0; pi < 4; pi++) {
        ws_dtype p = PRECISIONS[pi];
        for (size_t i = 0; i < n_convs; i++) test_conv(ctx[p], "auto", p, CONVS[i]);
        test_bn(p, 2, 64, 9, 7, 1, 1);
        test_bn(p, 3, 24, 5, 5, 0, 1);
        test_bn(p, 2, 13, 6, 5, 1, 0);
        test_bn(p, 1, 7, 3, 3, 0, 0);
        test_bn(p, 32, 64, 28, 28, 1, 1);
        test_bn(p, 32, 64, 28, 28, 0, 1); /* the ReLU's sign recomputed from x, many row blocks */
        test_bn(p, 4, 200, 14, 14, 0, 1); /* finalize over channels not a multiple of 32 */
        test_bn_mask(p, 2, 64, 9, 7, 1, 1, 1);   /* the residual ReLU's sign from the mask */
        test_bn_mask(p, 32, 64, 28, 28, 1, 1, 1);
        test_bn_mask(p, 3, 24, 5, 5, 1, 1, 1);   /* fp32: 3 bytes a row, TX 8 */
        test_bn_mask(p, 2, 64, 9, 7, 1, 1, 2);   /* written by scalar threads */
        test_bn_mask(p, 2, 64, 9, 7, 1, 1, 3);   /* read by scalar threads */
        test_bn_mask(p, 2, 13, 6, 5, 1, 1, 1);   /* C not a multiple of 8: no mask, y read */
        test_bn_mask(p, 2, 64, 9, 7, 0, 1, 1);   /* no residual: mask ignored, sign from x */
        test_eltwise(p, 1001);
        test_eltwise(p, 65536 + 3);
        test_pool(p, 2, 64, 15, 13);
        test_pool(p, 3, 5, 8, 8);
        test_linear(p, 3, 7, 5);
        test_linear(p, 16, 256, 1000);
        test_loss(p, 5, 11, 0.0f);
        test_loss(p, 64, 1000, 0.1f);
    }
    test_amp();
    test_optim(WS_OPT_SGD, 0);
    test_optim(WS_OPT_SGD, 1);
    test_optim(WS_OPT_LARS, 0);
    test_optim(WS_OPT_ADAM, 0);
    test_optim(WS_OPT_ADAMW, 0);
    for (int i = 0; i < 4; i++) ws_cuda_ctx_close(ctx[PRECISIONS[i]]);
    printf("test_ops_cuda: %d of %d checks failed\n", ws_gpu_failures(), ws_gpu_checks());
    return ws_gpu_failures() > 100 ? 100 : ws_gpu_failures();
}
