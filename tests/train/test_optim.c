/* tests/train/test_optim.c - SGD, LARS, Adam and AdamW (train/optim.h) against steps
 * worked by hand and against the update formulas evaluated in double here; the
 * checkpoint round trip (bitwise-identical continuation) and option/layout checks. */
#include "ws_test.h"
#include "core/rng.h"
#include "train/optim.h"

/* A few float operations per element and step: the float result stays within a few ulps
 * of the double formula. Tighter than the fp32 table {1e-4, 1e-5} on purpose, so that a
 * dropped term (wd*p is ~1e-3 of p here) cannot hide inside the tolerance. */
#define RTOL 1e-5
#define ATOL 1e-6

/* A layout with the awkward cases: a gap no tensor covers, a tensor spanning two
 * 8192-element chunks, tiny no_decay tensors, an empty tensor. */
static const ws_param_tensor LAYOUT[] = {
    {.offset = 0, .count = 37, .no_decay = 0},    /* a conv weight */
    {.offset = 37, .count = 5, .no_decay = 1},    /* its BN gamma */
    {.offset = 45, .count = 9000, .no_decay = 0}, /* 42..44: a gap */
    {.offset = 9045, .count = 3, .no_decay = 1},  /* a bias */
    {.offset = 9048, .count = 0, .no_decay = 0},  /* empty */
};
#define N_LAYOUT (sizeof LAYOUT / sizeof LAYOUT[0])
#define TOTAL 9050 /* 9048, 9049: not covered either */

static int covered(size_t i) {
    for (size_t t = 0; t < N_LAYOUT; t++)
        if (i >= LAYOUT[t].offset && i < LAYOUT[t].offset + LAYOUT[t].count) return 1;
    return 0;
}

static void fill_normal(ws_rng *rng, float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * ws_rng_normal(rng));
}

/* Pass if |got-want| <= atol + rtol*|want| everywhere (NaN fails); else name the worst. */
static void check_close(const float *got, const double *want, size_t n, double rtol, double atol, const char *what) {
    size_t worst = 0, bad = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double lim = atol + rtol * fabs(want[i]), diff = fabs((double)got[i] - want[i]);
        if (!(diff <= lim)) {
            bad++;
            double excess = isnan(diff) ? INFINITY : diff - lim;
            if (excess > worst_excess) worst_excess = excess, worst = i;
        }
    }
    if (bad)
        fail_msg("%s: %zu of %zu elements off; worst [%zu] got %.9g want %.9g (rtol %g, atol %g)", what, bad, n, worst,
                 (double)got[worst], want[worst], rtol, atol);
}

static ws_optim *open_layout(const ws_optim_opts *o) {
    ws_error err = {0};
    ws_optim *opt = NULL;
    WS_TEST_OK(ws_optim_open(&opt, o, LAYOUT, N_LAYOUT, TOTAL, &err));
    return opt;
}

/* ---- names ---- */

static void test_parse_and_name(void **state) {
    (void)state;
    const char *names[] = {"sgd", "lars", "adam", "adamw"};
    for (int i = 0; i < 4; i++) {
        ws_optimizer_kind k = WS_OPT_SGD;
        assert_int_equal(ws_optimizer_parse(names[i], &k), 0);
        assert_int_equal(k, (ws_optimizer_kind)i);
        assert_string_equal(ws_optimizer_name(k), names[i]);
    }
    ws_optimizer_kind k = WS_OPT_LARS;
    assert_int_equal(ws_optimizer_parse("SGD", &k), -1);
    assert_int_equal(ws_optimizer_parse("adamax", &k), -1);
    assert_int_equal(ws_optimizer_parse("", &k), -1);
    assert_int_equal(ws_optimizer_parse(NULL, &k), -1);
    assert_int_equal(k, WS_OPT_LARS); /* untouched on failure */
    assert_string_equal(ws_optimizer_name((ws_optimizer_kind)42), "unknown");
}

static void test_defaults(void **state) {
    (void)state;
    ws_optim_opts o = ws_optim_opts_default(WS_OPT_SGD);
    assert_true(o.kind == WS_OPT_SGD && o.momentum == 0.9 && o.nesterov == 0 && o.weight_decay == 1e-4);
    assert_true(o.decay_bn_and_bias == 1 && o.lars_trust == 0.001 && o.lars_eps == 1e-9);
    assert_true(o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8);
    assert_int_equal(ws_optim_opts_default(WS_OPT_LARS).decay_bn_and_bias, 0); /* MLPerf */
    assert_int_equal(ws_optim_opts_default(WS_OPT_ADAMW).decay_bn_and_bias, 1);
}

/* ---- SGD ---- */

/* Worked by hand: p = (1, -2), g = (0.5, 0.25), lr 0.1, momentum 0.9, no decay.
 * step 1: buf = g = (0.5, 0.25);           p = (1 - 0.05, -2 - 0.025)   = (0.95, -2.025)
 * step 2: buf = 0.9*buf + g = (0.95, 0.475); p = (0.95 - 0.095, -2.025 - 0.0475) = (0.855, -2.0725)
 * with Nesterov, d = g + 0.9*buf:
 * step 1: d = (0.95, 0.475);  p = (0.905, -2.0475)
 * step 2: buf = (0.95, 0.475), d = g + 0.9*buf = (1.355, 0.6775); p = (0.7695, -2.11525) */
static void test_sgd_by_hand(void **state) {
    (void)state;
    ws_error err = {0};
    for (int nesterov = 0; nesterov <= 1; nesterov++) {
        ws_optim_opts o = ws_optim_opts_default(WS_OPT_SGD);
        o.weight_decay = 0;
        o.nesterov = nesterov;
        ws_optim *opt = NULL;
        WS_TEST_OK(ws_optim_open(&opt, &o, NULL, 0, 2, &err)); /* NULL: one tensor, the whole buffer */
        float p[2] = {1.0f, -2.0f};
        const float g[2] = {0.5f, 0.25f};
        ws_optim_step(opt, p, g, 0.1);
        WS_TEST_NEAR(p[0], nesterov ? 0.905 : 0.95, 1e-6, 0);
        WS_TEST_NEAR(p[1], nesterov ? -2.0475 : -2.025, 1e-6, 0);
        ws_optim_step(opt, p, g, 0.1);
        WS_TEST_NEAR(p[0], nesterov ? 0.7695 : 0.855, 1e-6, 0);
        WS_TEST_NEAR(p[1], nesterov ? -2.11525 : -2.0725, 1e-6, 0);
        assert_int_equal(ws_optim_steps(opt), 2);
        ws_optim_close(opt);
    }
    /* The first step copies d into the buffer (torch.clone), it does not compute
     * momentum*0 + d. The two differ only in the sign of a zero: with p = g = -0,
     * clone gives buf = -0 and p = -0 - lr*(-0) = +0; 0.9*0 + (-0) = +0 would leave p = -0. */
    {
        ws_optim_opts o = ws_optim_opts_default(WS_OPT_SGD);
        o.weight_decay = 0;
        ws_optim *opt = NULL;
        WS_TEST_OK(ws_optim_open(&opt, &o, NULL, 0, 1, &err));
        float p = -0.0f;
        const float g = -0.0f;
        ws_optim_step(opt, &p, &g, 0.1);
        assert_true(p == 0.0f && !signbit(p));
        ws_optim_close(opt);
    }
    /* Weight decay by hand: wd 0.5, momentum 0: d = g + 0.5*p = 0.5 + 0.5 = 1; p = 1 - 0.1. */
    ws_optim_opts o = ws_optim_opts_default(WS_OPT_SGD);
    o.weight_decay = 0.5;
    o.momentum = 0;
    ws_optim *opt = NULL;
    WS_TEST_OK(ws_optim_open(&opt, &o, NULL, 0, 1, &err));
    float p = 1.0f;
    const float g = 0.5f;
    ws_optim_step(opt, &p, &g, 0.1);
    WS_TEST_NEAR(p, 0.9, 1e-7, 0);
    ws_optim_close(opt);
}

/* The formula of torch.optim.SGD in double. */
static void ref_sgd_step(double *p, double *buf, const float *g, const ws_optim_opts *o, double lr, int first) {
    for (size_t t = 0; t < N_LAYOUT; t++) {
        double wd = LAYOUT[t].no_decay && !o->decay_bn_and_bias ? 0 : o->weight_decay;
        for (size_t i = LAYOUT[t].offset; i < LAYOUT[t].offset + LAYOUT[t].count; i++) {
            double d = g[i] + wd * p[i];
            if (o->momentum != 0) {
                buf[i] = first ? d : o->momentum * buf[i] + d;
                d = o->nesterov ? d + o->momentum * buf[i] : buf[i];
            }
            p[i] -= lr * d;
        }
    }
}

/* The same formula in float, in PyTorch's operations (an add with alpha is one fused
 * multiply-add in ATen, on CPU and CUDA): must agree to the bit. */
static void ref_sgd_step_float(float *p, float *buf, const float *g, const ws_optim_opts *o, double lr, int first) {
    const float m = (float)o->momentum, lr_f = (float)lr;
    for (size_t t = 0; t < N_LAYOUT; t++) {
        float wd = LAYOUT[t].no_decay && !o->decay_bn_and_bias ? 0.0f : (float)o->weight_decay;
        for (size_t i = LAYOUT[t].offset; i < LAYOUT[t].offset + LAYOUT[t].count; i++) {
            float d = g[i];
            if (wd != 0.0f) d = fmaf(wd, p[i], d);
            if (m != 0.0f) {
                buf[i] = first ? d : m * buf[i] + d;
                d = o->nesterov ? fmaf(m, buf[i], d) : buf[i];
            }
            p[i] = fmaf(-lr_f, d, p[i]);
        }
    }
}

/* Several steps with a changing lr, every combination of nesterov, momentum on/off and
 * decay_bn_and_bias, against double and against float-in-PyTorch-order. */
static void test_sgd_matches_formula(void **state) {
    (void)state;
    static float p[TOTAL], p0[TOTAL], pf[TOTAL], buf_f[TOTAL], g[TOTAL];
    static double pd[TOTAL], buf_d[TOTAL];
    const double lrs[] = {0.1, 0.4, 0.4, 0.25, 0.05};
    for (int variant = 0; variant < 6; variant++) {
        ws_optim_opts o = ws_optim_opts_default(WS_OPT_SGD);
        o.nesterov = variant & 1;
        o.decay_bn_and_bias = (variant >> 1) & 1;
        if (variant >= 4) o.momentum = 0, o.nesterov = 0;
        o.weight_decay = 0.01; /* large, so that decaying a no_decay tensor would show */
        ws_rng rng = ws_rng_seeded(100 + (uint64_t)variant);
        fill_normal(&rng, p, TOTAL, 1.0);
        memcpy(p0, p, sizeof p);
        memcpy(pf, p, sizeof p);
        for (size_t i = 0; i < TOTAL; i++) pd[i] = p[i], buf_d[i] = 0, buf_f[i] = 0;
        ws_optim *opt = open_layout(&o);
        for (int s = 0; s < 5; s++) {
            fill_normal(&rng, g, TOTAL, 0.1);
            ws_optim_step(opt, p, g, lrs[s]);
            ref_sgd_step(pd, buf_d, g, &o, lrs[s], s == 0);
            ref_sgd_step_float(pf, buf_f, g, &o, lrs[s], s == 0);
        }
        char what[64];
        snprintf(what, sizeof what, "sgd variant %d", variant);
        check_close(p, pd, TOTAL, RTOL, ATOL, what);
        if (memcmp(p, pf, sizeof p) != 0) fail_msg("%s: not bitwise equal to the float formula", what);
        for (size_t i = 0; i < TOTAL; i++)
            if (!covered(i) && memcmp(&p[i], &p0[i], sizeof(float)) != 0) fail_msg("%s: uncovered [%zu] changed", what, i);
        assert_int_equal(ws_optim_steps(opt), 5);
        ws_optim_close(opt);
    }
}

/* ---- LARS ---- */

/* Worked by hand: one adapted tensor p = (3, 4), g = (0.6, 0.8): ||p|| = 5, ||g|| = 1,
 * eta 0.001, wd 1e-4, eps 1e-9:
 *   local = 0.001*5 / (1 + 1e-4*5 + 1e-9) = 0.005 / 1.000500001 = 0.00499750124...
 *   d = (0.6 + 3e-4, 0.8 + 4e-4) * local;  p -= lr * d, lr = 2.
 * One no_decay tensor p = (1), g = (0.5): not adapted, not decayed (LARS default):
 *   p = 1 - 2*0.5 = 0.
 * One adapted tensor with p = 0 (local = 1): p = 0 - 2*(0.25 + 0) = -0.5.
 * One adapted tensor with g = 0 (local = 1): p = 2 - 2*(0 + 1e-4*2) = 1.9996. */
static void test_lars_by_hand(void **state) {
    (void)state;
    ws_error err = {0};
    const ws_param_tensor t[] = {
        {.offset = 0, .count = 2, .no_decay = 0},
        {.offset = 2, .count = 1, .no_decay = 1},
        {.offset = 3, .count = 1, .no_decay = 0},
        {.offset = 4, .count = 1, .no_decay = 0},
    };
    ws_optim_opts o = ws_optim_opts_default(WS_OPT_LARS);
    ws_optim *opt = NULL;
    WS_TEST_OK(ws_optim_open(&opt, &o, t, 4, 5, &err));
    float p[5] = {3, 4, 1, 0, 2};
    const float g[5] = {0.6f, 0.8f, 0.5f, 0.25f, 0};
    ws_optim_step(opt, p, g, 2.0);
    const double local = 0.001 * 5 / (1 + 1e-4 * 5 + 1e-9);
    WS_TEST_NEAR(local, 0.00499750124, 1e-9, 0);
    WS_TEST_NEAR(p[0], 3 - 2 * (0.6 + 1e-4 * 3) * local, 1e-7, 0);
    WS_TEST_NEAR(p[1], 4 - 2 * (0.8 + 1e-4 * 4) * local, 1e-7, 0);
    WS_TEST_NEAR(p[2], 0.0, 0, 1e-7);
    WS_TEST_NEAR(p[3], -0.5, 1e-7, 0);
    WS_TEST_NEAR(p[4], 1.9996, 1e-7, 0);
    ws_optim_close(opt);

    /* decay_bn_and_bias = 1: the no_decay tensor is decayed, still not adapted. */
    o.decay_bn_and_bias = 1;
    WS_TEST_OK(ws_optim_open(&opt, &o, t, 4, 5, &err));
    float q[5] = {3, 4, 1, 0, 2};
    ws_optim_step(opt, q, g, 2.0);
    /* 1 - 1.0002 cancels: the float result is exact only to the ulp of 1 (1.2e-7). */
    WS_TEST_NEAR(q[2], 1 - 2 * (0.5 + 1e-4), 0, 2e-7);
    ws_optim_close(opt);
}

/* LARS in double: whole-tensor norms, trust ratio, then SGD momentum. */
static void ref_lars_step(double *p, double *buf, const float *g, const ws_optim_opts *o, double lr, int first) {
    for (size_t t = 0; t < N_LAYOUT; t++) {
        const ws_param_tensor *T = &LAYOUT[t];
        double wd = T->no_decay && !o->decay_bn_and_bias ? 0 : o->weight_decay, local = 1;
        if (!T->no_decay) {
            double sp = 0, sg = 0;
            for (size_t i = T->offset; i < T->offset + T->count; i++) sp += p[i] * p[i], sg += (double)g[i] * g[i];
            double pn = sqrt(sp), gn = sqrt(sg);
            if (pn > 0 && gn > 0) local = o->lars_trust * pn / (gn + wd * pn + o->lars_eps);
        }
        for (size_t i = T->offset; i < T->offset + T->count; i++) {
            double d = (g[i] + wd * p[i]) * local;
            buf[i] = first ? d : o->momentum * buf[i] + d;
            d = o->nesterov ? d + o->momentum * buf[i] : buf[i];
            p[i] -= lr * d;
        }
    }
}

static void test_lars_matches_formula(void **state) {
    (void)state;
    static float p[TOTAL], g[TOTAL];
    static double pd[TOTAL], buf_d[TOTAL];
    /* LARS lrs are large (the trust ratio is ~1e-3): the study-size 0.1*GBS/256. */
    const double lrs[] = {3.2, 6.4, 6.4, 5.0};
    for (int variant = 0; variant < 4; variant++) {
        ws_optim_opts o = ws_optim_opts_default(WS_OPT_LARS);
        o.decay_bn_and_bias = variant & 1;
        o.nesterov = (variant >> 1) & 1;
        o.weight_decay = 5e-4;
        ws_rng rng = ws_rng_seeded(200 + (uint64_t)variant);
        fill_normal(&rng, p, TOTAL, 1.0);
        for (size_t i = 0; i < TOTAL; i++) pd[i] = p[i], buf_d[i] = 0;
        ws_optim *opt = open_layout(&o);
        for (int s = 0; s < 4; s++) {
            fill_normal(&rng, g, TOTAL, 0.01);
            ws_optim_step(opt, p, g, lrs[s]);
            ref_lars_step(pd, buf_d, g, &o, lrs[s], s == 0);
        }
        char what[64];
        snprintf(what, sizeof what, "lars variant %d", variant);
        check_close(p, pd, TOTAL, RTOL, ATOL, what);
        ws_optim_close(opt);
    }
}

/* ---- Adam, AdamW ---- */

/* Step 1 by hand: m = (1-b1) g, v = (1-b2) g^2, so m/(1-b1) = g and v/(1-b2) = g^2 and
 * p -= lr * g / (|g| + eps): a step of almost exactly lr against the gradient's sign. */
static void test_adam_first_step_by_hand(void **state) {
    (void)state;
    ws_error err = {0};
    ws_optim_opts o = ws_optim_opts_default(WS_OPT_ADAM);
    o.weight_decay = 0;
    ws_optim *opt = NULL;
    WS_TEST_OK(ws_optim_open(&opt, &o, NULL, 0, 3, &err));
    float p[3] = {1.0f, 1.0f, 1.0f};
    const float g[3] = {0.5f, -3.0f, 1e-3f};
    ws_optim_step(opt, p, g, 0.01);
    WS_TEST_NEAR(p[0], 1 - 0.01 * 0.5 / (0.5 + 1e-8), 1e-6, 0);
    WS_TEST_NEAR(p[1], 1 + 0.01 * 3 / (3 + 1e-8), 1e-6, 0);
    WS_TEST_NEAR(p[2], 1 - 0.01 * 1e-3 / (1e-3 + 1e-8), 1e-6, 0);
    ws_optim_close(opt);

    /* AdamW, wd 0.1, lr 0.01: p *= 1 - 1e-3 first, then the same step. */
    o = ws_optim_opts_default(WS_OPT_ADAMW);
    o.weight_decay = 0.1;
    WS_TEST_OK(ws_optim_open(&opt, &o, NULL, 0, 1, &err));
    float q = 2.0f;
    const float gq = 0.5f;
    ws_optim_step(opt, &q, &gq, 0.01);
    WS_TEST_NEAR(q, 2 * (1 - 0.01 * 0.1) - 0.01 * 0.5 / (0.5 + 1e-8), 1e-6, 0);
    ws_optim_close(opt);
}

/* torch.optim.Adam / AdamW in double. */
static void ref_adam_step(double *p, double *m, double *v, const float *g, const ws_optim_opts *o, double lr, int t) {
    double bc1 = 1 - pow(o->beta1, t), bc2 = 1 - pow(o->beta2, t);
    for (size_t k = 0; k < N_LAYOUT; k++) {
        double wd = LAYOUT[k].no_decay && !o->decay_bn_and_bias ? 0 : o->weight_decay;
        for (size_t i = LAYOUT[k].offset; i < LAYOUT[k].offset + LAYOUT[k].count; i++) {
            double gi = g[i];
            if (o->kind == WS_OPT_ADAMW) p[i] *= 1 - lr * wd;
            else gi += wd * p[i];
            m[i] = o->beta1 * m[i] + (1 - o->beta1) * gi;
            v[i] = o->beta2 * v[i] + (1 - o->beta2) * gi * gi;
            p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + o->eps);
        }
    }
}

static void test_adam_matches_formula(void **state) {
    (void)state;
    static float p[TOTAL], g[TOTAL];
    static double pd[TOTAL], m[TOTAL], v[TOTAL];
    const double lrs[] = {1e-3, 2e-3, 2e-3, 1e-3, 5e-4};
    for (int variant = 0; variant < 4; variant++) {
        ws_optim_opts o = ws_optim_opts_default(variant < 2 ? WS_OPT_ADAM : WS_OPT_ADAMW);
        o.decay_bn_and_bias = variant & 1;
        o.weight_decay = variant < 2 ? 0.05 : 0.5; /* large, so that the decay shows */
        ws_rng rng = ws_rng_seeded(300 + (uint64_t)variant);
        fill_normal(&rng, p, TOTAL, 1.0);
        for (size_t i = 0; i < TOTAL; i++) pd[i] = p[i], m[i] = 0, v[i] = 0;
        ws_optim *opt = open_layout(&o);
        for (int s = 0; s < 5; s++) {
            fill_normal(&rng, g, TOTAL, 0.1);
            ws_optim_step(opt, p, g, lrs[s]);
            ref_adam_step(pd, m, v, g, &o, lrs[s], s + 1);
        }
        char what[64];
        snprintf(what, sizeof what, "%s variant %d", ws_optimizer_name(o.kind), variant);
        check_close(p, pd, TOTAL, RTOL, ATOL, what);
        ws_optim_close(opt);
    }
}

/* ---- checkpoints ---- */

/* Three steps, save, three more; a fresh optimizer loading the blob and the params must
 * reproduce the last three to the bit. */
static void test_state_round_trip_is_bitwise(void **state) {
    (void)state;
    ws_error err = {0};
    static float p[TOTAL], p_saved[TOTAL], g[6][TOTAL];
    for (int kind = WS_OPT_SGD; kind <= WS_OPT_ADAMW; kind++) {
        ws_optim_opts o = ws_optim_opts_default((ws_optimizer_kind)kind);
        ws_rng rng = ws_rng_seeded(400 + (uint64_t)kind);
        fill_normal(&rng, p, TOTAL, 1.0);
        for (int s = 0; s < 6; s++) fill_normal(&rng, g[s], TOTAL, 0.1);
        const double lr = kind >= WS_OPT_ADAM ? 1e-3 : 0.4;
        ws_optim *a = open_layout(&o);
        for (int s = 0; s < 3; s++) ws_optim_step(a, p, g[s], lr);
        size_t n = ws_optim_state_bytes(a);
        unsigned char *blob = malloc(n);
        assert_non_null(blob);
        WS_TEST_OK(ws_optim_state_save(a, blob, &err));
        memcpy(p_saved, p, sizeof p);
        for (int s = 3; s < 6; s++) ws_optim_step(a, p, g[s], lr * (s - 1));

        ws_optim *b = open_layout(&o);
        assert_int_equal(ws_optim_state_bytes(b), n);
        WS_TEST_OK(ws_optim_state_load(b, blob, n, &err));
        assert_int_equal(ws_optim_steps(b), 3);
        for (int s = 3; s < 6; s++) ws_optim_step(b, p_saved, g[s], lr * (s - 1));
        if (memcmp(p, p_saved, sizeof p) != 0) fail_msg("%s: resumed run differs", ws_optimizer_name(o.kind));
        assert_int_equal(ws_optim_steps(b), 6);

        /* Truncated, corrupted, other kind, other layout: WS_EFORMAT, nothing changed. */
        assert_int_equal(ws_optim_state_load(b, blob, n - 1, &err), WS_EFORMAT);
        assert_int_equal(ws_optim_state_load(b, blob, 8, &err), WS_EFORMAT);
        blob[0] ^= 0xFF;
        assert_int_equal(ws_optim_state_load(b, blob, n, &err), WS_EFORMAT);
        blob[0] ^= 0xFF;
        ws_optim_opts other = ws_optim_opts_default(kind == WS_OPT_SGD ? WS_OPT_LARS : WS_OPT_SGD);
        ws_optim *c = open_layout(&other);
        assert_int_equal(ws_optim_state_load(c, blob, n, &err), WS_EFORMAT);
        assert_non_null(strstr(err.msg, ws_optimizer_name(o.kind)));
        ws_optim_close(c);
        ws_param_tensor moved[N_LAYOUT];
        memcpy(moved, LAYOUT, sizeof moved);
        moved[1].offset = 38, moved[1].count = 4;
        WS_TEST_OK(ws_optim_open(&c, &o, moved, N_LAYOUT, TOTAL, &err));
        assert_int_equal(ws_optim_state_load(c, blob, n, &err), WS_EFORMAT);
        ws_optim_close(c);
        assert_int_equal(ws_optim_steps(b), 6);

        free(blob);
        ws_optim_close(a);
        ws_optim_close(b);
    }
}

/* ---- options and layout ---- */

static void expect_einval(const ws_optim_opts *o, const ws_param_tensor *t, size_t n, size_t total, const char *word) {
    ws_error err = {0};
    ws_optim *opt = (ws_optim *)&err; /* poisoned: open must set it to NULL */
    assert_int_equal(ws_optim_open(&opt, o, t, n, total, &err), WS_EINVAL);
    assert_null(opt);
    if (!strstr(err.msg, word)) fail_msg("error \"%s\" does not name \"%s\"", err.msg, word);
}

static void test_bad_options_and_layouts(void **state) {
    (void)state;
    ws_optim_opts o = ws_optim_opts_default(WS_OPT_SGD);
    o.momentum = 1.0;
    expect_einval(&o, NULL, 0, 4, "momentum");
    o.momentum = NAN;
    expect_einval(&o, NULL, 0, 4, "momentum");
    o = ws_optim_opts_default(WS_OPT_SGD);
    o.weight_decay = -1e-4;
    expect_einval(&o, NULL, 0, 4, "weight_decay");
    o = ws_optim_opts_default(WS_OPT_SGD);
    o.momentum = 0, o.nesterov = 1;
    expect_einval(&o, NULL, 0, 4, "nesterov");
    o = ws_optim_opts_default(WS_OPT_ADAM);
    o.nesterov = 1;
    expect_einval(&o, NULL, 0, 4, "nesterov");
    o = ws_optim_opts_default(WS_OPT_ADAMW);
    o.beta2 = 1.0;
    expect_einval(&o, NULL, 0, 4, "beta2");
    o = ws_optim_opts_default(WS_OPT_LARS);
    o.lars_trust = 0;
    expect_einval(&o, NULL, 0, 4, "lars_trust");
    o = ws_optim_opts_default(WS_OPT_SGD);
    o.kind = (ws_optimizer_kind)9;
    expect_einval(&o, NULL, 0, 4, "kind");

    o = ws_optim_opts_default(WS_OPT_SGD);
    const ws_param_tensor past[] = {{.offset = 2, .count = 3}};
    expect_einval(&o, past, 1, 4, "past");
    const ws_param_tensor huge[] = {{.offset = 2, .count = SIZE_MAX}};
    expect_einval(&o, huge, 1, 4, "past");
    const ws_param_tensor overlap[] = {{.offset = 0, .count = 3}, {.offset = 5, .count = 1}, {.offset = 2, .count = 2}};
    expect_einval(&o, overlap, 3, 8, "overlap");
    /* An empty tensor between two overlapping ones must not hide the overlap. */
    const ws_param_tensor hidden[] = {{.offset = 0, .count = 4}, {.offset = 2, .count = 0}, {.offset = 3, .count = 2}};
    expect_einval(&o, hidden, 3, 8, "overlap");
    expect_einval(&o, NULL, 2, 8, "tensors");
}

/* A tensor much larger than a chunk: the chunked double norm must equal the whole-tensor
 * one (LARS), and two runs must agree to the bit. */
static void test_large_tensor_lars_is_deterministic(void **state) {
    (void)state;
    enum { N = 300007 };
    ws_error err = {0};
    float *p = malloc(N * sizeof *p), *q = malloc(N * sizeof *q), *g = malloc(N * sizeof *g);
    double *pd = malloc(N * sizeof *pd);
    assert_true(p && q && g && pd);
    ws_rng rng = ws_rng_seeded(500);
    fill_normal(&rng, p, N, 1.0);
    fill_normal(&rng, g, N, 0.01);
    memcpy(q, p, N * sizeof *p);
    for (size_t i = 0; i < N; i++) pd[i] = p[i];
    ws_optim_opts o = ws_optim_opts_default(WS_OPT_LARS);
    ws_optim *a = NULL, *b = NULL;
    WS_TEST_OK(ws_optim_open(&a, &o, NULL, 0, N, &err));
    WS_TEST_OK(ws_optim_open(&b, &o, NULL, 0, N, &err));
    ws_optim_step(a, p, g, 10.0);
    ws_optim_step(b, q, g, 10.0);
    if (memcmp(p, q, N * sizeof *p) != 0) fail_msg("two identical LARS steps differ");
    double sp = 0, sg = 0;
    for (size_t i = 0; i < N; i++) sp += pd[i] * pd[i], sg += (double)g[i] * g[i];
    double local = o.lars_trust * sqrt(sp) / (sqrt(sg) + o.weight_decay * sqrt(sp) + o.lars_eps);
    for (size_t i = 0; i < N; i++) pd[i] -= 10.0 * (g[i] + o.weight_decay * pd[i]) * local;
    check_close(p, pd, N, RTOL, ATOL, "lars large tensor");
    ws_optim_close(a);
    ws_optim_close(b);
    free(p), free(q), free(g), free(pd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_name),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_sgd_by_hand),
        cmocka_unit_test(test_sgd_matches_formula),
        cmocka_unit_test(test_lars_by_hand),
        cmocka_unit_test(test_lars_matches_formula),
        cmocka_unit_test(test_adam_first_step_by_hand),
        cmocka_unit_test(test_adam_matches_formula),
        cmocka_unit_test(test_state_round_trip_is_bitwise),
        cmocka_unit_test(test_bad_options_and_layouts),
        cmocka_unit_test(test_large_tensor_lars_is_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
