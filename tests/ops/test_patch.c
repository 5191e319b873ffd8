/* tests/ops/test_patch.c - patchify and unpatchify (src/ops/patch_cpu.c, dispatch in
 * src/ops/patch.c): both layouts element by element, inverse and adjoint of each other,
 * the patch embedding as a product equal to nn.Conv2d(kernel = stride = P) followed by
 * flatten(2).transpose(1, 2), threads and statuses.
 * Shapes: image [N, C, H, W]; patches [N, GH*GW, C*P*P]. */
#include "ws_test.h"
#include "gradcheck.h"
#include "ops/conv2d.h"
#include "ops/linear.h"
#include "ops/patch.h"

static ws_exec cpu(int threads) { return ws_exec_cpu(threads); }

/* batch 1, P 1 (every pixel a token), non-square grids, odd channel counts */
static const ws_patch_desc SHAPES[] = {{1, 3, 8, 12, 4}, {2, 5, 6, 9, 3}, {3, 2, 4, 4, 1}, {2, 1, 16, 8, 8}};
enum { N_SHAPES = sizeof SHAPES / sizeof *SHAPES };

static size_t count(const ws_patch_desc *d) { return (size_t)d->n * d->c * d->h * d->w; }

static void test_patch_layouts(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9401);
    ws_exec ex = cpu(1);
    for (int k = 0; k < N_SHAPES; k++) {
        const ws_patch_desc *d = &SHAPES[k];
        const int P = d->p, GW = d->w / P, GH = d->h / P, C = d->c;
        size_t n = count(d);
        float *img = ws_test_floats(n), *pat = ws_test_floats(n), *back = ws_test_floats(n);
        ws_test_fill_normal(&rng, img, n, 0.0, 1.0);
        for (int order = WS_PATCH_CRS; order <= WS_PATCH_RSC; order++) {
            ws_test_poison(pat, n * sizeof *pat);
            WS_TEST_STATUS(WS_OK, ws_patchify(&ex, d, (ws_patch_order)order, pat, img));
            for (int i = 0; i < d->n; i++)
                for (int c = 0; c < C; c++)
                    for (int y = 0; y < d->h; y++)
                        for (int x = 0; x < d->w; x++) {
                            int r = y % P, s = x % P, token = (y / P) * GW + x / P;
                            size_t within = order == WS_PATCH_CRS ? ((size_t)c * P + r) * P + s : ((size_t)r * P + s) * C + c;
                            float want = img[(((size_t)i * C + c) * d->h + y) * d->w + x];
                            float got = pat[((size_t)i * GH * GW + token) * C * P * P + within];
                            if (got != want) fail_msg("order %d shape %d: patch value differs at (%d,%d,%d,%d)", order, k, i, c, y, x);
                        }
            ws_test_poison(back, n * sizeof *back);
            WS_TEST_STATUS(WS_OK, ws_unpatchify(&ex, d, (ws_patch_order)order, back, pat));
            WS_TEST_BITWISE(back, img, n); /* inverse */
            /* adjoint: <patchify(x), q> = <x, unpatchify(q)>, exactly, for any q */
            float *q = ws_test_floats(n), *uq = ws_test_floats(n);
            ws_test_fill_normal(&rng, q, n, 0.0, 1.0);
            WS_TEST_STATUS(WS_OK, ws_unpatchify(&ex, d, (ws_patch_order)order, uq, q));
            WS_TEST_NEAR(ws_gradcheck_dot(pat, q, n), ws_gradcheck_dot(img, uq, n), 1e-12, 1e-12);
            free(q), free(uq);
        }
        free(img), free(pat), free(back);
    }
}

/* FourCastNet's PatchEmbed: Conv2d(C, E, kernel=P, stride=P) with bias, then
 * .flatten(2).transpose(1, 2). Our form: linear(patchify_CRS(x), weight [E, C*P*P], bias). */
static void test_patch_embedding_is_the_strided_conv(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9402);
    ws_exec ex = cpu(1);
    const ws_patch_desc d = {2, 3, 12, 8, 4};
    const int E = 5, P = d.p, L = (d.h / P) * (d.w / P), CPP = d.c * P * P;
    size_t n = count(&d);
    float *x = ws_test_floats(n), *w = ws_test_floats((size_t)E * CPP), *b = ws_test_floats(E);
    float *pat = ws_test_floats(n), *tok = ws_test_floats((size_t)d.n * L * E), *conv = ws_test_floats((size_t)d.n * E * L);
    ws_test_fill_normal(&rng, x, n, 0.0, 1.0);
    ws_test_fill_normal(&rng, w, (size_t)E * CPP, 0.0, 0.3);
    ws_test_fill_normal(&rng, b, E, 0.0, 1.0);
    WS_TEST_STATUS(WS_OK, ws_patchify(&ex, &d, WS_PATCH_CRS, pat, x));
    WS_TEST_STATUS(WS_OK, ws_linear_forward(&ex, d.n * L, CPP, E, tok, pat, w, b));
    ws_conv2d_desc cd = ws_conv2d_desc_make(d.n, d.c, d.h, d.w, E, P, P, P, 0);
    void *ws = malloc(ws_conv2d_workspace_bytes(&ex, &cd));
    WS_TEST_STATUS(WS_OK, ws_conv2d_forward(&ex, &cd, conv, x, w, ws));
    double *want = malloc((size_t)d.n * L * E * sizeof *want);
    for (int i = 0; i < d.n; i++)
        for (int t = 0; t < L; t++)
            for (int e = 0; e < E; e++) /* [N, E, GH*GW] -> [N, GH*GW, E], plus the bias */
                want[((size_t)i * L + t) * E + e] = (double)conv[((size_t)i * E + e) * L + t] + b[e];
    WS_TEST_CLOSE(tok, want, (size_t)d.n * L * E, WS_TOL_FP32);
    free(x), free(w), free(b), free(pat), free(tok), free(conv), free(ws), free(want);
}

static void test_patch_threads_and_dispatch(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(9403);
    const ws_patch_desc d = {3, 4, 64, 48, 8}; /* 36,864 values: the thread team runs */
    size_t n = count(&d);
    float *img = ws_test_floats(n), *a = ws_test_floats(n), *b = ws_test_floats(n);
    ws_test_fill_normal(&rng, img, n, 0.0, 1.0);
    ws_patchify_cpu(&d, WS_PATCH_RSC, 1, a, img);
    ws_patchify_cpu(&d, WS_PATCH_RSC, 3, b, img);
    WS_TEST_BITWISE(a, b, n);
    ws_exec ex = cpu(1), gpu = {WS_DEVICE_CUDA, WS_FP32, 0, NULL, WS_NCHW};
    WS_TEST_STATUS(WS_ENOTSUP, ws_patchify(&gpu, &d, WS_PATCH_CRS, a, img));
    WS_TEST_STATUS(WS_ENOTSUP, ws_unpatchify(&gpu, &d, WS_PATCH_CRS, a, img));
    ws_patch_desc bad[4] = {d, d, d, d};
    bad[0].h = 63;       /* not a multiple of P */
    bad[1].p = 0;
    bad[2].n = 0;
    bad[3].w = 4;        /* smaller than one patch */
    for (int i = 0; i < 4; i++) {
        WS_TEST_STATUS(WS_EINVAL, ws_patchify(&ex, &bad[i], WS_PATCH_CRS, a, img));
        WS_TEST_STATUS(WS_EINVAL, ws_unpatchify(&ex, &bad[i], WS_PATCH_RSC, a, img));
    }
    WS_TEST_STATUS(WS_EINVAL, ws_patchify(&ex, &d, (ws_patch_order)7, a, img));
    WS_TEST_STATUS(WS_EINVAL, ws_patchify(&ex, &d, WS_PATCH_CRS, NULL, img));
    WS_TEST_STATUS(WS_EINVAL, ws_patchify(&ex, NULL, WS_PATCH_CRS, a, img));
    free(img), free(a), free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch_layouts),
        cmocka_unit_test(test_patch_embedding_is_the_strided_conv),
        cmocka_unit_test(test_patch_threads_and_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
