/* tests/train/test_forecast_loss.c - the forecasting task's loss (train/task_forecast.c,
 * wsi_forecast_loss): FourCastNet's two-step fine-tuning loss rel_l2(f(x), t1) +
 * rel_l2(f(f(x)), t2) on a tiny AFNO, its value against a forward-only recomputation, its
 * parameter gradient (through both steps, the second in an AFNO sharing the first's
 * parameters) against central finite differences, the one-step loss likewise, and a second
 * instance of another size refused. Skips (77) in a build without FFTW. */
#include "ws_test.h"
#include "models/afno_test.h"
#include "core/rng.h"
#include "models/afno.h"
#include "ops/rel_l2.h"
#include "train/task_forecast.h"

enum { N = 2 };

static ws_afno_opts tiny(void) {
    ws_afno_opts o = ws_afno_opts_default();
    o.img_h = 8, o.img_w = 16, o.patch = 4; /* 2 x 4 tokens */
    o.in_c = o.out_c = 2;                   /* a forecast feeds its output back as input */
    o.embed = 8, o.depth = 2, o.num_blocks = 2;
    o.max_batch = N, o.threads = 1, o.seed = 5;
    return o;
}

typedef struct {
    ws_model *first, *second;
    ws_exec ex;
    size_t count;
    float *x, *t1, *t2, *dy1, *dy2, *y1;
} fixture;

static float *floats(size_t n) {
    float *p = calloc(n, sizeof *p);
    assert_non_null(p);
    return p;
}

static void fill(ws_rng *r, float *v, size_t n, double std) {
    for (size_t i = 0; i < n; i++) v[i] = (float)(std * ws_rng_normal(r));
}

static fixture make(void) {
    fixture f;
    memset(&f, 0, sizeof f);
    ws_error err = {0};
    ws_afno_opts o = tiny();
    WS_TEST_OK(ws_afno_open(&f.first, &o, &err));
    ws_test_afno_perturb(f.first, 11); /* every gradient generic, the spectral path in play */
    o.share_params = f.first;
    o.input_grad = 1;
    WS_TEST_OK(ws_afno_open(&f.second, &o, &err));
    assert_ptr_equal(f.second->params, f.first->params);
    assert_ptr_equal(f.second->grads, f.first->grads);
    f.ex = ws_exec_cpu(1);
    f.count = f.first->out_per_sample;
    f.x = floats(N * f.count), f.t1 = floats(N * f.count), f.t2 = floats(N * f.count);
    f.dy1 = floats(N * f.count), f.dy2 = floats(N * f.count), f.y1 = floats(N * f.count);
    ws_rng rng = ws_rng_seeded(12);
    fill(&rng, f.x, N * f.count, 1.0);
    fill(&rng, f.t1, N * f.count, 1.0);
    fill(&rng, f.t2, N * f.count, 1.0);
    return f;
}

static void release(fixture *f) {
    ws_model_close(f->second); /* before the model whose parameters it uses */
    ws_model_close(f->first);
    free(f->x), free(f->t1), free(f->t2), free(f->dy1), free(f->dy2), free(f->y1);
}

/* The loss recomputed by forward passes only (the first model twice, through a copy of its
 * first prediction), independent of wsi_forecast_loss. */
static double loss_of(fixture *f, int steps) {
    const void *out;
    ws_error err = {0};
    double l1 = 0, l2 = 0;
    WS_TEST_OK(ws_model_forward(f->first, &f->ex, f->x, N, 1, &out, &err));
    memcpy(f->y1, out, N * f->count * sizeof(float));
    assert_int_equal(ws_rel_l2_forward_cpu(N, f->count, 1, &l1, f->y1, f->t1), WS_OK);
    if (steps == 1) return l1;
    WS_TEST_OK(ws_model_forward(f->first, &f->ex, f->y1, N, 1, &out, &err));
    assert_int_equal(ws_rel_l2_forward_cpu(N, f->count, 1, &l2, out, f->t2), WS_OK);
    return l1 + l2;
}

/* Analytic gradient of the `steps`-step loss (a fresh copy, caller frees) and its value. */
static float *analytic(fixture *f, int steps, double *loss) {
    ws_error err = {0};
    ws_model *m = f->first;
    memset(m->grads, 0, m->n_params * sizeof(float));
    double l1 = 0, l2 = 0;
    WS_TEST_OK(wsi_forecast_loss(m, steps == 2 ? f->second : NULL, &f->ex, N, f->x, f->t1, f->t2, 1.0f / N, f->dy1,
                                 f->dy2, &l1, &l2, &err));
    *loss = l1 + l2;
    float *g = floats(m->n_params);
    memcpy(g, m->grads, m->n_params * sizeof(float));
    return g;
}

/* Central differences in fp32 on two parameters of every trained tensor (the unused final
 * norm skipped): h = 1e-3, tolerance 3e-2 relative + 3e-4 absolute, 1 miss in 10 allowed
 * for a step across a ReLU or soft-shrink kink: test_afno.c's settings and reasons. */
static void check_gradient(int steps) {
    fixture f = make();
    double loss = 0;
    float *g = analytic(&f, steps, &loss);
    double again = loss_of(&f, steps);
    WS_TEST_NEAR(loss, again, 1e-6, 1e-9); /* the same forward arithmetic */
    ws_model *m = f.first;
    ws_rng pick = ws_rng_seeded(13);
    int checked = 0, bad = 0;
    for (size_t t = 0; t < m->n_tensors; t++) {
        if (!strncmp(m->tensors[t].name, "norm.", 5)) continue;
        for (int k = 0; k < 2; k++) {
            size_t j = m->tensors[t].offset + ws_rng_below(&pick, m->tensors[t].count);
            float v0 = m->params[j], h = 1e-3f * (fabsf(v0) > 1 ? fabsf(v0) : 1);
            m->params[j] = v0 + h;
            double lp = loss_of(&f, steps);
            m->params[j] = v0 - h;
            double lm = loss_of(&f, steps);
            m->params[j] = v0;
            double fd = (lp - lm) / ((double)(v0 + h) - (double)(v0 - h));
            checked++;
            if (!(fabs(fd - g[j]) <= 3e-2 * fmax(fabs(fd), fabs(g[j])) + 3e-4)) {
                bad++;
                print_message("%s: analytic %.6g, finite difference %.6g\n", m->tensors[t].name, g[j], fd);
            }
        }
    }
    print_message("%d-step loss %.6f: %d parameters checked, %d off\n", steps, loss, checked, bad);
    assert_true(checked > 40);
    assert_true(bad * 10 <= checked);
    free(g);
    release(&f);
}

static void test_one_step_gradient(void **state) {
    (void)state;
    check_gradient(1);
}

static void test_two_step_gradient(void **state) {
    (void)state;
    check_gradient(2);
}

/* The second step is in the gradient: two-step minus one-step is far from 0, and the
 * second instance left the first's parameters as they were. */
static void test_second_step_contributes(void **state) {
    (void)state;
    fixture f = make();
    double l1 = 0, l2 = 0;
    float *before = floats(f.first->n_params);
    memcpy(before, f.first->params, f.first->n_params * sizeof(float));
    float *g1 = analytic(&f, 1, &l1), *g2 = analytic(&f, 2, &l2);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < f.first->n_params; i++) {
        diff += ((double)g2[i] - g1[i]) * ((double)g2[i] - g1[i]);
        norm += (double)g1[i] * g1[i];
    }
    print_message("losses: one step %.6f, two steps %.6f; |g2 - g1| / |g1| = %.3f\n", l1, l2, sqrt(diff / norm));
    assert_true(l2 > l1);
    assert_true(sqrt(diff / norm) > 0.1);
    assert_memory_equal(before, f.first->params, f.first->n_params * sizeof(float));
    free(before), free(g1), free(g2);
    release(&f);
}

static void test_sharing_another_size_is_refused(void **state) {
    (void)state;
    fixture f = make();
    ws_afno_opts o = tiny();
    o.embed = 12; /* other parameter count */
    o.num_blocks = 2;
    o.share_params = f.first;
    ws_model *m = NULL;
    ws_error err = {0};
    assert_int_equal(ws_afno_open(&m, &o, &err), WS_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "share_params"));
    release(&f);
}

int main(void) {
    ws_afno_opts o = tiny();
    ws_model *m = NULL;
    ws_error err = {0};
    if (ws_afno_open(&m, &o, &err) == WS_ENOTSUP) { /* the spectral filter needs FFTW */
        fprintf(stderr, "test_forecast_loss: skipped: %s\n", err.msg);
        return 77;
    }
    ws_model_close(m);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_step_gradient),
        cmocka_unit_test(test_two_step_gradient),
        cmocka_unit_test(test_second_step_contributes),
        cmocka_unit_test(test_sharing_another_size_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
