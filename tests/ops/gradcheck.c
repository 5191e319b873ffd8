/* tests/ops/gradcheck.c - the operator tests' shared helpers; contract in tests/ops/gradcheck.h. */
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

/* The shared comparison: want as double. ok <=> err <= bound, false for NaN. */
static void close_report(const float *got, const float *wantf, const double *wantd, size_t n, ws_tol tol,
                         const char *what, const char *file, int line) {
    size_t bad = 0, worst = 0;
    double max_abs = 0.0, max_rel = 0.0, worst_ratio = -1.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = wantd ? wantd[i] : (double)wantf[i];
        double err = fabs(g - w), bound = tol.atol + tol.rtol * fabs(w);
        int ok = err <= bound;
        double ratio = ok ? err / (bound > 0 ? bound : 1.0) : INFINITY;
        if (!ok) bad++;
        if (!(err <= max_abs)) max_abs = err;              /* NaN sticks */
        double rel = err / (fabs(w) > 0 ? fabs(w) : 1.0);
        if (!(rel <= max_rel)) max_rel = rel;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = i;
        }
    }
    if (verbose())
        fprintf(stderr, "  [close] %s:%d %s: n %zu, max abs err %.3g, max rel err %.3g\n", file, line, what, n,
                max_abs, max_rel);
    if (bad) {
        double w = wantd ? wantd[worst] : (double)wantf[worst];
        fail_msg("%s:%d: %s: %zu of %zu elements off (rtol %g, atol %g); max abs err %.3g, max rel err %.3g; "
                 "worst [%zu]: got %.9g, want %.9g",
                 file, line, what, bad, n, tol.rtol, tol.atol, max_abs, max_rel, worst, (double)got[worst], w);
    }
}

void ws_test_close_(const float *got, const double *want, size_t n, ws_tol tol, const char *what, const char *file,
                    int line) {
    close_report(got, NULL, want, n, tol, what, file, line);
}

void ws_test_close_f32_(const float *got, const float *want, size_t n, ws_tol tol, const char *what,
                        const char *file, int line) {
    close_report(got, want, NULL, n, tol, what, file, line);
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

void ws_gradcheck_(float *x, size_t n, const float *analytic, ws_gradcheck_fn fn, void *ctx,
                   const ws_gradcheck_opts *opts, const char *what, const char *file, int line) {
    ws_gradcheck_opts o = opts ? *opts : ws_gradcheck_opts_default();
    double scale = 1.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(analytic[i]) > scale) scale = fabs(analytic[i]);
    size_t points = (o.max_points && o.max_points < n) ? o.max_points : n;
    ws_rng pick = ws_rng_seeded(0x6772616463686bull); /* the same sample on every run */
    size_t bad = 0, worst = 0;
    double max_abs = 0.0, max_rel = 0.0, worst_ratio = -1.0, worst_num = 0.0;
    for (size_t j = 0; j < points; j++) {
        size_t i = points == n ? j : (size_t)ws_rng_below(&pick, n);
        float x0 = x[i];
        double h = o.h_rel * (fabs(x0) > 1.0 ? fabs(x0) : 1.0);
        /* the step actually taken is that of the rounded fp32 values, not 2h */
        float xp = (float)(x0 + h), xm = (float)(x0 - h);
        x[i] = xp;
        double lp = fn(ctx);
        x[i] = xm;
        double lm = fn(ctx);
        x[i] = x0;
        double num = (lp - lm) / ((double)xp - (double)xm), ana = analytic[i];
        double err = fabs(num - ana), bound = o.tol.atol * scale + o.tol.rtol * fabs(ana);
        int ok = err <= bound;
        double ratio = ok ? err / bound : INFINITY;
        if (!ok) bad++;
        if (!(err <= max_abs)) max_abs = err;
        double rel = err / (fabs(ana) > 0 ? fabs(ana) : 1.0);
        if (!(rel <= max_rel)) max_rel = rel;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = i;
            worst_num = num;
        }
    }
    if (verbose())
        fprintf(stderr, "  [grad]  %s:%d %s: %zu of %zu points, scale %.3g, max abs err %.3g (%.3g of scale), "
                        "max rel err %.3g\n",
                file, line, what, points, n, scale, max_abs, max_abs / scale, max_rel);
    if (bad)
        fail_msg("%s:%d: gradient of %s: %zu of %zu points off (rtol %g, atol %g x scale %.3g); max abs err %.3g, "
                 "max rel err %.3g; worst [%zu]: numeric %.9g, analytic %.9g",
                 file, line, what, bad, points, o.tol.rtol, o.tol.atol, scale, max_abs, max_rel, worst, worst_num,
                 (double)analytic[worst]);
}
