/* tests/ops/gradcheck.c - the operator tests' shared helpers; contract in tests/ops/gradcheck.h.
 * WS_TEST_VERBOSE=1 prints every comparison's largest errors (how the tolerances were set). */
#include "ws_test.h"
#include "gradcheck.h"

static int verbose(void) {
    const char *v = getenv("WS_TEST_VERBOSE");
    return v && *v && *v != '0';
}

float *ws_test_floats(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) fail_msg("out of memory for %zu floats", n);
    return p;
}

void ws_test_fill_normal(ws_rng *rng, float *x, size_t n, double mean, double std) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + std * ws_rng_normal(rng));
}

void ws_test_fill(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

void ws_test_poison(void *p, size_t bytes) { memset(p, 0xFF, bytes); }

/* NaN sticks in a running maximum: !(v <= m) is true for NaN v */
static void keep_max(double *m, double v) {
    if (!(v <= *m)) *m = v;
}

ws_test_compare ws_test_compare_to(const float *got, const double *want, const double *mag, size_t n, ws_tol tol) {
    ws_test_compare r = {0, 0, 0.0, 0.0};
    double worst_ratio = -1.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        int same = g == w; /* first: inf matches inf, where inf - inf is NaN */
        double err = same ? 0.0 : fabs(g - w), bound = tol.atol + tol.rtol * (mag ? mag[i] : fabs(w));
        /* isfinite: an infinite want must not widen the bound to inf */
        int ok = same || (isfinite(err) && err <= bound);
        double ratio = !ok ? INFINITY : bound > 0.0 ? err / bound : 0.0;
        if (!ok) r.bad++;
        keep_max(&r.max_abs, err);
        keep_max(&r.max_rel, err / (fabs(w) > 0.0 ? fabs(w) : 1.0));
        if (ratio > worst_ratio) worst_ratio = ratio, r.worst = i;
    }
    return r;
}

void ws_test_close_(const float *got, const double *want, const double *mag, size_t n, ws_tol tol, const char *what,
                    const char *file, int line) {
    ws_test_compare r = ws_test_compare_to(got, want, mag, n, tol);
    if (verbose())
        fprintf(stderr, "  [close] %s:%d %s: n %zu, max abs err %.3g, max rel err %.3g\n", file, line, what, n,
                r.max_abs, r.max_rel);
    if (r.bad)
        fail_msg("%s:%d: %s: %zu of %zu elements off (rtol %g%s, atol %g); max abs err %.3g, max rel err %.3g; "
                 "worst [%zu]: got %.9g, want %.9g",
                 file, line, what, r.bad, n, tol.rtol, mag ? " of the terms' magnitude" : "", tol.atol, r.max_abs,
                 r.max_rel, r.worst, (double)got[r.worst], want[r.worst]);
}

void ws_test_close_f32_(const float *got, const float *want, size_t n, ws_tol tol, const char *what,
                        const char *file, int line) {
    double *w = malloc((n ? n : 1) * sizeof *w);
    if (!w) fail_msg("out of memory for %zu doubles", n);
    for (size_t i = 0; i < n; i++) w[i] = want[i];
    ws_test_compare r = ws_test_compare_to(got, w, NULL, n, tol);
    free(w);
    if (r.bad)
        fail_msg("%s:%d: %s: %zu of %zu elements off (rtol %g, atol %g); max abs err %.3g, max rel err %.3g; "
                 "worst [%zu]: got %.9g, want %.9g",
                 file, line, what, r.bad, n, tol.rtol, tol.atol, r.max_abs, r.max_rel, r.worst,
                 (double)got[r.worst], (double)want[r.worst]);
}

void ws_test_bitwise_(const void *a, const void *b, size_t bytes, const char *what_a, const char *what_b,
                      const char *file, int line) {
    const unsigned char *pa = a, *pb = b;
    for (size_t i = 0; i < bytes; i++)
        if (pa[i] != pb[i]) {
            size_t e = i / 4;
            float fa, fb;
            memcpy(&fa, pa + e * 4, 4);
            memcpy(&fb, pb + e * 4, 4);
            fail_msg("%s:%d: %s and %s differ first at byte %zu (as fp32 [%zu]: %.9g vs %.9g)", file, line, what_a,
                     what_b, i, e, (double)fa, (double)fb);
        }
}

void ws_test_status_(ws_status want, ws_status got, const char *what, const char *file, int line) {
    if (got != want)
        fail_msg("%s:%d: %s returned %s, want %s", file, line, what, ws_status_name(got), ws_status_name(want));
}

void ws_test_no_nan_(const float *x, size_t n, const char *what, const char *file, int line) {
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i])) fail_msg("%s:%d: %s[%zu] is NaN: an output element was not written", file, line, what, i);
}

double ws_gradcheck_dot(const float *r, const float *y, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)r[i] * (double)y[i];
    return sum;
}

ws_gradcheck_opts ws_gradcheck_opts_default(void) {
    ws_gradcheck_opts o = {.h_rel = 1e-2, .tol = {1e-2, 1e-3}, .max_points = 0};
    return o;
}

ws_gradcheck_result ws_gradcheck_measure(float *x, size_t n, const float *analytic, ws_gradcheck_fn fn, void *ctx,
                                         const ws_gradcheck_opts *opts) {
    ws_gradcheck_opts o = opts ? *opts : ws_gradcheck_opts_default();
    ws_gradcheck_result r = {.points = (o.max_points && o.max_points < n) ? o.max_points : n};
    for (size_t i = 0; i < n; i++) keep_max(&r.scale, fabs(analytic[i]));
    if (!(r.scale > 0.0) || isnan(r.scale)) r.scale = 1.0; /* all zero (or NaN, which fails below) */
    ws_rng pick = ws_rng_seeded(0x6772616463686bull);      /* the same sample on every run */
    double worst_ratio = -1.0;
    for (size_t j = 0; j < r.points; j++) {
        size_t i = r.points == n ? j : (size_t)ws_rng_below(&pick, n);
        float x0 = x[i];
        double h = o.h_rel * (fabs(x0) > 1.0 ? fabs(x0) : 1.0);
        /* divide by the step actually taken between the two rounded fp32 values, not 2h */
        float xp = (float)(x0 + h), xm = (float)(x0 - h);
        x[i] = xp;
        double lp = fn(ctx);
        x[i] = xm;
        double lm = fn(ctx);
        x[i] = x0;
        double num = (lp - lm) / ((double)xp - (double)xm), ana = analytic[i];
        double err = fabs(num - ana), bound = o.tol.atol * r.scale + o.tol.rtol * fabs(ana);
        int ok = isfinite(err) && err <= bound;
        double ratio = ok ? (bound > 0.0 ? err / bound : 0.0) : INFINITY;
        if (!ok) r.bad++;
        keep_max(&r.max_abs, err);
        keep_max(&r.max_rel, err / (fabs(ana) > 0.0 ? fabs(ana) : 1.0));
        if (ratio > worst_ratio) worst_ratio = ratio, r.worst = i, r.worst_numeric = num;
    }
    return r;
}

void ws_gradcheck_(float *x, size_t n, const float *analytic, ws_gradcheck_fn fn, void *ctx,
                   const ws_gradcheck_opts *opts, const char *what, const char *file, int line) {
    ws_gradcheck_opts o = opts ? *opts : ws_gradcheck_opts_default();
    ws_gradcheck_result r = ws_gradcheck_measure(x, n, analytic, fn, ctx, &o);
    if (verbose())
        fprintf(stderr, "  [grad]  %s:%d %s: %zu of %zu points, scale %.3g, max abs err %.3g (%.3g of scale), "
                        "max rel err %.3g\n",
                file, line, what, r.points, n, r.scale, r.max_abs, r.max_abs / r.scale, r.max_rel);
    if (r.bad)
        fail_msg("%s:%d: gradient of %s: %zu of %zu points off (rtol %g, atol %g x scale %.3g); max abs err %.3g, "
                 "max rel err %.3g; worst [%zu]: numeric %.9g, analytic %.9g",
                 file, line, what, r.bad, r.points, o.tol.rtol, o.tol.atol, r.scale, r.max_abs, r.max_rel, r.worst,
                 r.worst_numeric, (double)analytic[r.worst]);
}
