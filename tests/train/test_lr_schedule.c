/* tests/train/test_lr_schedule.c - scaling rules, warm-up, the five schedules
 * (train/lr_schedule.h): values at chosen epochs worked by hand, the plateau rule of
 * torch's ReduceLROnPlateau on a scripted validation-loss sequence (threshold, patience
 * and min_lr edges), the checkpoint round trip and option checks. */
#include "ws_test.h"
#include "train/lr_schedule.h"

#define PI 3.14159265358979323846

/* Schedules are a handful of double operations: agreement to ~1e-15 relative. */
#define RTOL 1e-12

static ws_lr_schedule *open_ok(const ws_lr_opts *o) {
    ws_error err = {0};
    ws_lr_schedule *s = NULL;
    WS_TEST_OK(ws_lr_open(&s, o, &err));
    return s;
}

static void test_parse(void **state) {
    (void)state;
    const char *rules[] = {"none", "linear", "sqrt"};
    for (int i = 0; i < 3; i++) {
        ws_lr_rule r = WS_LR_RULE_SQRT;
        assert_int_equal(ws_lr_rule_parse(rules[i], &r), 0);
        assert_int_equal(r, (ws_lr_rule)i);
    }
    const char *kinds[] = {"constant", "plateau", "cosine", "multistep", "poly"};
    for (int i = 0; i < 5; i++) {
        ws_sched_kind k = WS_SCHED_POLY;
        assert_int_equal(ws_sched_parse(kinds[i], &k), 0);
        assert_int_equal(k, (ws_sched_kind)i);
    }
    ws_lr_rule r = WS_LR_RULE_SQRT;
    ws_sched_kind k = WS_SCHED_COSINE;
    assert_int_equal(ws_lr_rule_parse("Linear", &r), -1);
    assert_int_equal(ws_lr_rule_parse(NULL, &r), -1);
    assert_int_equal(ws_sched_parse("step", &k), -1);
    assert_int_equal(ws_sched_parse("", &k), -1);
    assert_int_equal(r, WS_LR_RULE_SQRT);
    assert_int_equal(k, WS_SCHED_COSINE);
}

static void test_defaults_are_the_study(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    assert_true(o.base_lr == 0.1 && o.rule == WS_LR_RULE_LINEAR && o.global_batch == 256 && o.reference_batch == 256);
    assert_true(o.warmup_epochs == 5 && o.kind == WS_SCHED_PLATEAU);
    assert_true(o.plateau_factor == 0.5 && o.plateau_threshold == 1e-4 && o.plateau_patience == 5);
    assert_true(o.min_lr == 0 && o.gamma == 0.1 && o.poly_power == 2.0 && o.n_milestones == 0);
}

static void test_scaling_rules(void **state) {
    (void)state;
    const struct {
        ws_lr_rule rule;
        int gbs;
        double want;
    } cases[] = {
        {WS_LR_RULE_LINEAR, 256, 0.1},   {WS_LR_RULE_LINEAR, 1024, 0.4}, {WS_LR_RULE_LINEAR, 8192, 3.2},
        {WS_LR_RULE_LINEAR, 64, 0.025},  {WS_LR_RULE_SQRT, 1024, 0.2},   {WS_LR_RULE_SQRT, 64, 0.05},
        {WS_LR_RULE_SQRT, 8192, 0.1 * sqrt(32.0)}, {WS_LR_RULE_NONE, 8192, 0.1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ws_lr_opts o = ws_lr_opts_default();
        o.rule = cases[i].rule;
        o.global_batch = cases[i].gbs;
        ws_lr_schedule *s = open_ok(&o);
        WS_TEST_NEAR(ws_lr_scaled(s), cases[i].want, RTOL, 0);
        ws_lr_close(s);
    }
}

/* The study at GBS 8192: 0.1 -> 3.2 over 5 epochs, per step. */
static void test_warmup(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    o.global_batch = 8192;
    ws_lr_schedule *s = open_ok(&o);
    assert_true(ws_lr_at(s, 0.0) == 0.1);  /* starts at base exactly */
    assert_true(ws_lr_at(s, -1.0) == 0.1); /* before the start: the start */
    assert_true(ws_lr_at(s, 5.0) == 3.2);  /* reaches scaled exactly at warmup_epochs */
    WS_TEST_NEAR(ws_lr_at(s, 2.5), 1.65, RTOL, 0);
    /* Per step: epoch 2, step 100 of 500. */
    WS_TEST_NEAR(ws_lr_at(s, 2.0 + 100.0 / 500.0), 0.1 + 3.1 * 2.2 / 5.0, RTOL, 0);
    double prev = 0;
    for (int step = 0; step < 5 * 40; step++) { /* 40 steps an epoch: strictly rising */
        double lr = ws_lr_at(s, step / 40.0);
        assert_true(lr > prev);
        prev = lr;
    }
    assert_true(prev < 3.2);
    WS_TEST_NEAR(ws_lr_at(s, nextafter(5.0, 0)), 3.2, RTOL, 0); /* continuous at the end */
    assert_true(ws_lr_at(s, 7.3) == 3.2);
    ws_lr_close(s);

    o.warmup_epochs = 0; /* none: scaled from the start */
    s = open_ok(&o);
    assert_true(ws_lr_at(s, 0.0) == 3.2);
    ws_lr_close(s);

    o.warmup_epochs = 2.5; /* fractional */
    o.kind = WS_SCHED_CONSTANT;
    s = open_ok(&o);
    WS_TEST_NEAR(ws_lr_at(s, 1.25), 1.65, RTOL, 0);
    assert_true(ws_lr_at(s, 2.5) == 3.2);
    ws_lr_close(s);
}

/* One scripted epoch: the loss fed in, whether torch would reduce, and the lr after. */
typedef struct {
    double loss;
    int reduced;
    double lr;
} script_row;

static void run_script(ws_lr_schedule *s, int first_epoch, const script_row *rows, int n) {
    for (int i = 0; i < n; i++) {
        int epoch = first_epoch + i;
        int got = ws_lr_epoch_end(s, epoch, rows[i].loss);
        if (got != rows[i].reduced)
            fail_msg("epoch %d (loss %g): reduced %d, want %d", epoch, rows[i].loss, got, rows[i].reduced);
        WS_TEST_NEAR(ws_lr_at(s, epoch + 1.0), rows[i].lr, RTOL, 0);
    }
}

/* torch ReduceLROnPlateau(mode='min', factor=0.5, patience=2, threshold=1e-4, 'rel'),
 * called from epoch 2 on (warm-up 2 epochs), scaled lr 0.4. Worked by hand from torch's
 * rule: better iff loss < best*(1 - 1e-4); reduce when bad epochs > patience. */
static void test_plateau_script(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    o.global_batch = 1024;
    o.warmup_epochs = 2;
    o.plateau_patience = 2;
    ws_lr_schedule *s = open_ok(&o);
    /* Warm-up epochs are ignored, however bad. */
    assert_int_equal(ws_lr_epoch_end(s, 0, 100.0), 0);
    assert_int_equal(ws_lr_epoch_end(s, 1, 100.0), 0);
    WS_TEST_NEAR(ws_lr_at(s, 1.5), 0.1 + 0.3 * 1.5 / 2, RTOL, 0);
    const script_row rows[] = {
        {5.0, 0, 0.4},    /* epoch 2: first counted; best = 5 (best starts at +inf) */
        {4.0, 0, 0.4},    /* best = 4 */
        {4.0, 0, 0.4},    /* equal is not better: bad 1 */
        {3.9999, 0, 0.4}, /* better, but not by 1e-4 relative (needs < 3.9996): bad 2 */
        {4.5, 1, 0.2},    /* bad 3 > patience 2: halve, bad = 0 */
        {3.9995, 0, 0.2}, /* < 3.9996: best = 3.9995, bad 0 */
        {5.0, 0, 0.2},    /* bad 1 */
        {5.0, 0, 0.2},    /* bad 2 == patience: not yet */
        {NAN, 1, 0.1},    /* NaN is never better: bad 3, halve */
        {3.0, 0, 0.1},    /* best = 3 */
    };
    run_script(s, 2, rows, (int)(sizeof rows / sizeof rows[0]));
    WS_TEST_NEAR(ws_lr_at(s, 12.5), 0.1, RTOL, 0); /* mid-epoch: the plateau lr */
    ws_lr_close(s);

    /* Only epochs trained wholly after warm-up count: with W = 2.5, epoch 2 (spanning the
     * warm-up's end) is ignored, so its low loss does not become the best. */
    o.warmup_epochs = 2.5;
    o.plateau_patience = 1;
    s = open_ok(&o);
    assert_int_equal(ws_lr_epoch_end(s, 1, 1.0), 0);
    assert_int_equal(ws_lr_epoch_end(s, 2, 1.0), 0);
    const script_row after[] = {
        {5.0, 0, 0.4}, /* epoch 3: first counted, best = 5 */
        {5.0, 0, 0.4}, /* bad 1 */
        {5.0, 1, 0.2}, /* bad 2 > 1 */
    };
    run_script(s, 3, after, 3);
    ws_lr_close(s);
}

/* The threshold edge to the last bit: best*(1-thr) itself is not better, the next double
 * below it is. */
static void test_plateau_threshold_edge(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    o.warmup_epochs = 0;
    o.plateau_patience = 0; /* every non-improvement reduces */
    ws_lr_schedule *s = open_ok(&o);
    const double best = 2.0, edge = best * (1 - 1e-4);
    assert_int_equal(ws_lr_epoch_end(s, 0, best), 0);
    assert_int_equal(ws_lr_epoch_end(s, 1, edge), 1); /* not better: bad 1 > 0 */
    WS_TEST_NEAR(ws_lr_at(s, 2), 0.05, RTOL, 0);
    assert_int_equal(ws_lr_epoch_end(s, 2, nextafter(edge, 0)), 0); /* better */
    WS_TEST_NEAR(ws_lr_at(s, 3), 0.05, RTOL, 0);
    ws_lr_close(s);

    /* threshold 0: any decrease is an improvement, equality is not. */
    o.plateau_threshold = 0;
    s = open_ok(&o);
    assert_int_equal(ws_lr_epoch_end(s, 0, 1.0), 0);
    assert_int_equal(ws_lr_epoch_end(s, 1, nextafter(1.0, 0)), 0);
    assert_int_equal(ws_lr_epoch_end(s, 2, nextafter(1.0, 0)), 1);
    ws_lr_close(s);
}

/* min_lr: the lr is floored; once at the floor torch's eps test stops "reductions". */
static void test_plateau_min_lr(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    o.global_batch = 1024; /* 0.4 */
    o.warmup_epochs = 0;
    o.plateau_patience = 1;
    o.min_lr = 0.15;
    ws_lr_schedule *s = open_ok(&o);
    const script_row rows[] = {
        {1.0, 0, 0.4},  {1.0, 0, 0.4},  {1.0, 1, 0.2},  /* bad 1, bad 2 > 1: 0.2 */
        {1.0, 0, 0.2},  {1.0, 1, 0.15}, /* max(0.1, 0.15) */
        {1.0, 0, 0.15}, {1.0, 0, 0.15}, /* at the floor: count reset, no reduction */
        {1.0, 0, 0.15}, {1.0, 0, 0.15},
    };
    run_script(s, 0, rows, (int)(sizeof rows / sizeof rows[0]));
    ws_lr_close(s);
}

static void test_other_kinds_ignore_epoch_end(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    o.kind = WS_SCHED_CONSTANT;
    o.warmup_epochs = 0;
    o.plateau_patience = 0;
    ws_lr_schedule *s = open_ok(&o);
    for (int e = 0; e < 5; e++) assert_int_equal(ws_lr_epoch_end(s, e, 10.0 + e), 0);
    assert_true(ws_lr_at(s, 5) == 0.1);
    ws_lr_close(s);
}

static void test_cosine(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    o.kind = WS_SCHED_COSINE;
    o.global_batch = 1024; /* S = 0.4 */
    o.warmup_epochs = 5;
    o.total_epochs = 105; /* decay over [5, 105] */
    o.min_lr = 0.001;
    ws_lr_schedule *s = open_ok(&o);
    WS_TEST_NEAR(ws_lr_at(s, 5), 0.4, RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, 30), 0.001 + 0.399 * 0.5 * (1 + sqrt(0.5)), RTOL, 0); /* u = 1/4 */
    WS_TEST_NEAR(ws_lr_at(s, 55), 0.001 + 0.399 * 0.5, RTOL, 0);                   /* u = 1/2 */
    WS_TEST_NEAR(ws_lr_at(s, 80), 0.001 + 0.399 * 0.5 * (1 - sqrt(0.5)), RTOL, 0); /* u = 3/4 */
    WS_TEST_NEAR(ws_lr_at(s, 105), 0.001, RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, 300), 0.001, RTOL, 0); /* past the horizon: min_lr */
    WS_TEST_NEAR(ws_lr_at(s, 17.25), 0.001 + 0.399 * 0.5 * (1 + cos(PI * 12.25 / 100)), RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, 2.5), 0.1 + 0.3 * 0.5, RTOL, 0); /* warm-up as always */
    ws_lr_close(s);
}

static void test_multistep(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    o.kind = WS_SCHED_MULTISTEP;
    o.global_batch = 1024; /* S = 0.4 */
    o.milestones[0] = 30, o.milestones[1] = 60, o.milestones[2] = 80;
    o.n_milestones = 3;
    ws_lr_schedule *s = open_ok(&o);
    WS_TEST_NEAR(ws_lr_at(s, 5), 0.4, RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, nextafter(30, 0)), 0.4, RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, 30), 0.04, RTOL, 0); /* a milestone counts from its epoch on */
    WS_TEST_NEAR(ws_lr_at(s, 59.5), 0.04, RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, 60), 0.004, RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, 85), 0.0004, RTOL, 0);
    ws_lr_close(s);

    /* A repeated milestone applies gamma twice (torch's MultiStepLR Counter). */
    o.milestones[1] = 30;
    o.n_milestones = 2;
    o.gamma = 0.5;
    s = open_ok(&o);
    WS_TEST_NEAR(ws_lr_at(s, 31), 0.1, RTOL, 0);
    ws_lr_close(s);
}

static void test_poly(void **state) {
    (void)state;
    ws_lr_opts o = ws_lr_opts_default();
    o.kind = WS_SCHED_POLY;
    o.global_batch = 1024; /* S = 0.4 */
    o.warmup_epochs = 5;
    o.total_epochs = 45;
    ws_lr_schedule *s = open_ok(&o);
    WS_TEST_NEAR(ws_lr_at(s, 5), 0.4, RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, 15), 0.4 * 0.75 * 0.75, RTOL, 0); /* u = 1/4 */
    WS_TEST_NEAR(ws_lr_at(s, 25), 0.1, RTOL, 0);               /* u = 1/2: 0.4 * 0.25 */
    assert_true(ws_lr_at(s, 45) == 0);
    assert_true(ws_lr_at(s, 50) == 0);
    ws_lr_close(s);

    o.poly_power = 1; /* linear decay */
    o.min_lr = 0.01;  /* the end value */
    s = open_ok(&o);
    WS_TEST_NEAR(ws_lr_at(s, 25), 0.01 + 0.39 * 0.5, RTOL, 0);
    WS_TEST_NEAR(ws_lr_at(s, 45), 0.01, RTOL, 0);
    ws_lr_close(s);
}

/* Save mid-way, load into a fresh schedule: both continue identically. */
static void test_state_round_trip(void **state) {
    (void)state;
    ws_error err = {0};
    ws_lr_opts o = ws_lr_opts_default();
    o.global_batch = 2048;
    o.plateau_patience = 1;
    const double losses[] = {9, 8, 7, 7.5, 7.6, 7.7, 6.9, 7.0, 7.1, 7.2, 7.3, 5.0, 5.5};
    const int n = (int)(sizeof losses / sizeof losses[0]);
    ws_lr_schedule *a = open_ok(&o);
    for (int e = 0; e < 9; e++) ws_lr_epoch_end(a, e, losses[e]);
    assert_true(ws_lr_at(a, 9) < ws_lr_scaled(a)); /* a reduction happened before the save */
    unsigned char blob[256];
    assert_true(ws_lr_state_bytes() <= sizeof blob);
    ws_lr_state_save(a, blob);
    ws_lr_schedule *b = open_ok(&o);
    WS_TEST_OK(ws_lr_state_load(b, blob, ws_lr_state_bytes(), &err));
    assert_true(ws_lr_at(a, 9) == ws_lr_at(b, 9));
    for (int e = 9; e < n; e++) {
        int ra = ws_lr_epoch_end(a, e, losses[e]), rb = ws_lr_epoch_end(b, e, losses[e]);
        assert_int_equal(ra, rb);
        assert_true(ws_lr_at(a, e + 1) == ws_lr_at(b, e + 1));
    }
    /* Wrong size, not a blob, another kind: WS_EFORMAT and nothing changed. */
    double before = ws_lr_at(b, 20);
    assert_int_equal(ws_lr_state_load(b, blob, ws_lr_state_bytes() - 1, &err), WS_EFORMAT);
    unsigned char junk[256] = {0};
    assert_int_equal(ws_lr_state_load(b, junk, ws_lr_state_bytes(), &err), WS_EFORMAT);
    o.kind = WS_SCHED_COSINE;
    ws_lr_schedule *c = open_ok(&o);
    assert_int_equal(ws_lr_state_load(c, blob, ws_lr_state_bytes(), &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "plateau"));
    assert_true(ws_lr_at(b, 20) == before);
    ws_lr_close(a);
    ws_lr_close(b);
    ws_lr_close(c);
    ws_lr_close(NULL);
}

static void expect_einval(const ws_lr_opts *o, const char *option) {
    ws_error err = {0};
    ws_lr_schedule *s = (ws_lr_schedule *)&err; /* poisoned: open must set it to NULL */
    assert_int_equal(ws_lr_open(&s, o, &err), WS_EINVAL);
    assert_null(s);
    if (!strstr(err.msg, option)) fail_msg("error \"%s\" does not name \"%s\"", err.msg, option);
}

static ws_lr_opts opts_of_kind(ws_sched_kind kind) {
    ws_lr_opts o = ws_lr_opts_default();
    o.kind = kind;
    return o;
}

static void test_bad_options(void **state) {
    (void)state;
    ws_lr_opts o;
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.base_lr = 0;
    expect_einval(&o, "base_lr");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.base_lr = NAN;
    expect_einval(&o, "base_lr");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.rule = (ws_lr_rule)7;
    expect_einval(&o, "rule");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.global_batch = 0;
    expect_einval(&o, "global_batch");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.reference_batch = -256;
    expect_einval(&o, "reference_batch");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.warmup_epochs = -1;
    expect_einval(&o, "warmup_epochs");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.warmup_epochs = INFINITY;
    expect_einval(&o, "warmup_epochs");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.min_lr = -1e-5;
    expect_einval(&o, "min_lr");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.plateau_factor = 1.0;
    expect_einval(&o, "plateau_factor");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.plateau_factor = 0;
    expect_einval(&o, "plateau_factor");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.plateau_threshold = -1e-4;
    expect_einval(&o, "plateau_threshold");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.plateau_threshold = 1;
    expect_einval(&o, "plateau_threshold");
    o = opts_of_kind(WS_SCHED_PLATEAU);
    o.plateau_patience = -1;
    expect_einval(&o, "plateau_patience");
    o = opts_of_kind(WS_SCHED_COSINE);
    o.total_epochs = 5;
    expect_einval(&o, "total_epochs"); /* == warmup_epochs */
    o = opts_of_kind(WS_SCHED_POLY);
    o.total_epochs = NAN;
    expect_einval(&o, "total_epochs");
    o = opts_of_kind(WS_SCHED_COSINE);
    o.min_lr = 0.2;
    expect_einval(&o, "min_lr"); /* above the scaled 0.1 */
    o = opts_of_kind(WS_SCHED_POLY);
    o.poly_power = 0;
    expect_einval(&o, "poly_power");
    o = opts_of_kind(WS_SCHED_MULTISTEP);
    o.n_milestones = 17;
    expect_einval(&o, "n_milestones");
    o = opts_of_kind(WS_SCHED_MULTISTEP);
    o.n_milestones = -1;
    expect_einval(&o, "n_milestones");
    o = opts_of_kind(WS_SCHED_MULTISTEP);
    o.gamma = 0;
    expect_einval(&o, "gamma");
    o = opts_of_kind(WS_SCHED_MULTISTEP);
    o.milestones[0] = 30;
    o.milestones[1] = 20;
    o.n_milestones = 2;
    expect_einval(&o, "milestones[1]");
    o = opts_of_kind(WS_SCHED_MULTISTEP);
    o.milestones[0] = 3;
    o.n_milestones = 1;
    expect_einval(&o, "milestones[0]"); /* inside warm-up */
    o = opts_of_kind((ws_sched_kind)99);
    expect_einval(&o, "kind");
    /* Options a kind does not use are not checked: a plateau run ignores poly_power. */
    o = ws_lr_opts_default();
    o.poly_power = -1;
    o.total_epochs = 0;
    ws_lr_close(open_ok(&o));
    o.rule = WS_LR_RULE_NONE;
    o.global_batch = 0; /* unused without a rule */
    ws_lr_close(open_ok(&o));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_defaults_are_the_study),
        cmocka_unit_test(test_scaling_rules),
        cmocka_unit_test(test_warmup),
        cmocka_unit_test(test_plateau_script),
        cmocka_unit_test(test_plateau_threshold_edge),
        cmocka_unit_test(test_plateau_min_lr),
        cmocka_unit_test(test_other_kinds_ignore_epoch_end),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_multistep),
        cmocka_unit_test(test_poly),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
