/* tests/analysis/test_predict.c - the performance model (analysis/predict.h, loo.h,
 * advise.h) on run records made from a known truth (perf_truth.h): the calibration recovers
 * it, predictions match its closed form (and cover it under noise), the unmeasured terms
 * widen the interval by their whole range, bad requests are refused with the reason, the
 * store hands the same runs over. `test_predict write DIR` writes the synthetic study the
 * CLI test (test_predict_cli.sh) ingests. */
#include "ws_test.h"

#include "analysis/advise.h"
#include "analysis/loo.h"
#include "analysis/predict.h"
#include "perf_truth.h"
#include "study/store.h"
#include "study/store_perf.h"

/* runs at LBS 32..256 x 1, 2, 4, 8 GPUs (nodes of 4), reps repetitions, 2 epochs of 102,400
 * samples, evaluated after each */
static void truth_set(const ws_truth *t, int reps, int max_gpus, ws_perf_set *ps, char ***texts) {
    static const int lbs[4] = {32, 64, 128, 256}, gpus[4] = {1, 2, 4, 8};
    ws_rng rng = ws_rng_seeded(5);
    ps->runs = calloc(64, sizeof *ps->runs);
    ps->n = 0;
    if (texts) *texts = calloc(64, sizeof **texts);
    ws_error err = {0};
    for (int g = 0; g < 4; g++)
        for (int b = 0; b < 4; b++)
            for (int rep = 0; rep < reps && gpus[g] <= max_gpus; rep++) {
                ws_truth_run r = {gpus[g], 4, lbs[b], 1, 2, 2 - (b & 1), 102400, 1, "bf16"};
                char key[64];
                snprintf(key, sizeof key, "g%d-lbs%d-r%d", gpus[g], lbs[b], rep);
                char *text = ws_truth_record(t, &r, &rng);
                WS_TEST_OK(ws_perf_from_record(text, key, &ps->runs[ps->n], &err));
                if (texts)
                    (*texts)[ps->n] = text;
                else
                    free(text);
                ps->n++;
            }
}

static void free_texts(char **texts, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
}

static ws_calibration calibrate(const ws_perf_set *ps, const ws_truth *t) {
    ws_calib_select sel = {0};
    ws_calibration c;
    ws_error err = {0};
    WS_TEST_OK(ws_calibrate(ps, &sel, &t->net, &c, &err));
    return c;
}

static void test_record_parse(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    ws_rng rng = ws_rng_seeded(1);
    ws_truth_run r = {8, 4, 64, 2, 2, 1, 102400, 0.5, "bf16"};
    char *text = ws_truth_record(&t, &r, &rng);
    ws_perf_run p;
    ws_error err = {0};
    WS_TEST_OK(ws_perf_from_record(text, "k", &p, &err));
    free(text);
    assert_int_equal(p.world, 8);
    assert_int_equal(p.nodes, 2);
    assert_int_equal(p.ranks_per_node, 4);
    assert_int_equal(p.global_batch, 1024);
    assert_int_equal(p.accum, 2);
    assert_int_equal(p.evals, 1);
    assert_true(p.steady);
    assert_string_equal(p.hardware, "Truth GPU");
    assert_string_equal(p.data_kind, "synthetic");
    WS_TEST_NEAR(p.samples_per_epoch, 100 * 1024, 0, 0);
    WS_TEST_NEAR(p.win_steps, 2 * 100 - 5, 0, 0);
    WS_TEST_NEAR(p.parameters, 25557032, 0, 0);
    assert_true(isfinite(p.run_energy_host_j));
    /* not a record */
    assert_int_equal(ws_perf_from_record("{\"schema\": \"wattscale.measure/1\"}", "m", &p, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "run record m"));
    assert_int_equal(ws_perf_from_record("not json", "x", &p, &err), WS_EFORMAT);
}

static void test_calibration_recovers_truth(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    ws_perf_set ps;
    truth_set(&t, 1, 8, &ps, NULL);
    ws_calibration c = calibrate(&ps, &t);
    assert_int_equal(c.n_runs, 16);
    assert_int_equal(c.time.kind, 3);
    WS_TEST_NEAR(c.time.fit.intercept, t.c0_s, 1e-9, 1e-12);
    WS_TEST_NEAR(c.time.fit.slope, t.c1_s, 1e-9, 0);
    WS_TEST_NEAR(c.data_s_per_sample, t.d_s, 1e-9, 0);
    WS_TEST_NEAR(c.energy.fit.intercept, t.e0_j, 1e-9, 1e-12);
    WS_TEST_NEAR(c.energy.fit.slope, t.e1_j, 1e-9, 0);
    WS_TEST_NEAR(c.memory.fit.slope, t.mem1_b, 1e-9, 0);
    assert_true(c.wait_measured && c.host_measured);
    WS_TEST_NEAR(c.wait_power_w, t.wait_w, 1e-9, 0);
    WS_TEST_NEAR(c.idle_power_w, t.idle_w, 1e-9, 0);
    WS_TEST_NEAR(c.host_power_w, t.host_w, 1e-9, 0);
    assert_int_equal(c.n_overlap, 12); /* the runs on 2, 4, 8 GPUs */
    WS_TEST_NEAR(c.overlap, t.overlap, 1e-9, 0);
    assert_int_equal(c.startup.kind, 3);
    WS_TEST_NEAR(c.startup.fit.intercept, t.startup_s, 1e-9, 1e-12);
    WS_TEST_NEAR(c.startup.fit.slope, t.eval_s, 1e-9, 0);
    WS_TEST_NEAR(c.overhead_gpu_power_w, t.over_w, 1e-9, 0);
    WS_TEST_NEAR(c.samples_per_epoch, 102400, 0, 0); /* every GBS here divides it */
    ws_perf_set_free(&ps);
}

/* predict a configuration not run (16 GPUs on 4 nodes, LBS 96) and one with accumulation,
 * against the truth's closed form */
static void test_prediction_matches_closed_form(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    ws_perf_set ps;
    truth_set(&t, 1, 8, &ps, NULL);
    ws_calibration c = calibrate(&ps, &t);
    ws_error err = {0};
    const struct { int gpus, lbs, accum; } cases[3] = {{16, 96, 1}, {2, 64, 4}, {1, 200, 1}};
    for (int k = 0; k < 3; k++) {
        ws_predict_config cfg = ws_predict_config_default();
        cfg.gpus = cases[k].gpus;
        cfg.gpus_per_node = 4;
        cfg.local_batch = cases[k].lbs;
        cfg.accum = cases[k].accum;
        cfg.epochs = 3;
        cfg.samples_per_epoch = 102400;
        cfg.evals = 3;
        ws_prediction p;
        WS_TEST_OK(ws_predict(&c, &t.net, &cfg, &p, &err));
        int G = cases[k].gpus, N = G > 4 ? G / 4 : 1, b = cases[k].lbs, a = cases[k].accum, B = G * b * a;
        double step = ws_truth_step_s(&t, G, N, b, a), T = ws_truth_allreduce_s(&t, G, N);
        double exposed = (1 - t.overlap) * T, steps = 3 * floor(102400.0 / B);
        double outside = t.startup_s + t.eval_s * 3 / G, time = outside + steps * step;
        double e_step = G * (a * (t.e0_j + t.e1_j * b) + t.wait_w * exposed);
        double energy = steps * e_step + G * t.over_w * outside + N * t.host_w * time;
        assert_int_equal(p.nodes, N);
        assert_int_equal(p.cfg.global_batch, B);
        WS_TEST_NEAR(p.allreduce_s.mid, T, 1e-12, 0);
        WS_TEST_NEAR(p.step_s.mid, step, 1e-9, 0);
        WS_TEST_NEAR(p.steps, steps, 0, 0);
        WS_TEST_NEAR(p.time_s.mid, time, 1e-9, 0);
        WS_TEST_NEAR(p.gpu_hours.mid, time * G / 3600, 1e-9, 0);
        WS_TEST_NEAR(p.energy_kwh.mid, energy / 3.6e6, 1e-9, 0);
        WS_TEST_NEAR(p.samples_per_s.mid, B / step, 1e-9, 0);
        assert_int_equal(p.host, 1);
        /* exact data: the interval closes on the value */
        WS_TEST_NEAR(p.step_s.hi - p.step_s.lo, 0, 0, 1e-9 * step);
        assert_int_equal(p.lbs_extrapolated, 0);
    }
    ws_perf_set_free(&ps);
}

/* 1% noise on each run's compute time and energy, two repetitions: within 2% and inside the
 * 95% interval */
static void test_noisy_calibration_covers_truth(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    t.noise = 0.01;
    ws_perf_set ps;
    truth_set(&t, 2, 8, &ps, NULL);
    ws_calibration c = calibrate(&ps, &t);
    assert_int_equal(c.n_runs, 32);
    if (!(c.time.fit.slope_lo < t.c1_s && t.c1_s < c.time.fit.slope_hi))
        fail_msg("c1 %g not in [%g, %g]", t.c1_s, c.time.fit.slope_lo, c.time.fit.slope_hi);
    ws_predict_config cfg = ws_predict_config_default();
    cfg.gpus = 16;
    cfg.gpus_per_node = 4;
    cfg.local_batch = 96;
    cfg.steps = 1000;
    cfg.evals = 0;
    ws_prediction p;
    ws_error err = {0};
    WS_TEST_OK(ws_predict(&c, &t.net, &cfg, &p, &err));
    double step = ws_truth_step_s(&t, 16, 4, 96, 1);
    WS_TEST_NEAR(p.step_s.mid, step, 0.02, 0);
    if (!(p.step_s.lo < step && step < p.step_s.hi))
        fail_msg("true step %g s outside the prediction [%g, %g]", step, p.step_s.lo, p.step_s.hi);
    double e = 16 * (t.e0_j + t.e1_j * 96 + t.wait_w * (1 - t.overlap) * ws_truth_allreduce_s(&t, 16, 4)) +
               4 * t.host_w * step;
    if (!(p.step_energy_j.lo < e && e < p.step_energy_j.hi))
        fail_msg("true step energy %g J outside the prediction [%g, %g]", e, p.step_energy_j.lo, p.step_energy_j.hi);
    ws_perf_set_free(&ps);
}

/* calibrated on one GPU: the overlap and the wait power are unknown, the interval spans their
 * range and the notes say which figures are assumed. A one-rank run's record still holds a few
 * microseconds between backward and the optimizer in comm_s (as the H200 runs do): no
 * all-reduce, so no wait power from it (it once gave 2,446 W) */
static void test_unmeasured_terms(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    ws_perf_set ps;
    truth_set(&t, 1, 1, &ps, NULL);
    for (size_t i = 0; i < ps.n; i++) {
        ps.runs[i].ep_comm_s = 5e-5;
        ps.runs[i].phase_j[WS_PHASE_ALLREDUCE_WAIT] = 0.12;
    }
    ws_calibration c = calibrate(&ps, &t);
    assert_int_equal(c.n_overlap, 0);
    assert_false(c.wait_measured);
    ws_predict_config cfg = ws_predict_config_default();
    cfg.gpus = 8;
    cfg.gpus_per_node = 4;
    cfg.local_batch = 16;
    cfg.steps = 100;
    ws_prediction p;
    ws_error err = {0};
    WS_TEST_OK(ws_predict(&c, &t.net, &cfg, &p, &err));
    /* a short backward bounds the overlap here (the last bucket, a quarter of the bytes,
     * would allow about 0.77) */
    double T = ws_truth_allreduce_s(&t, 8, 2), tc = t.c0_s + t.c1_s * 16;
    double fmax = 2.0 / 3.0 * tc / T;
    assert_true(fmax < 0.7);
    WS_TEST_NEAR(p.overlap.lo, 0, 0, 0);
    WS_TEST_NEAR(p.overlap.hi, fmax, 1e-9, 0);
    WS_TEST_NEAR(p.exposed_s.hi, T, 1e-9, 0);
    WS_TEST_NEAR(p.step_s.hi - p.step_s.lo, fmax * T, 1e-6, 0);
    assert_true(p.step_energy_j.hi > p.step_energy_j.lo);
    assert_non_null(strstr(p.notes, "Overlapped fraction not measured"));
    assert_non_null(strstr(p.notes, "Inter-node link: assumed"));
    assert_non_null(strstr(p.notes, "GPU power while waiting for the all-reduce not measured"));
    assert_non_null(strstr(p.notes, "Start-up time as measured on runs of at most 1 GPU"));
    ws_perf_set_free(&ps);
}

static void test_refusals(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    ws_perf_set ps;
    truth_set(&t, 1, 1, &ps, NULL);
    /* one fp32 run: the precision must be chosen, and its one LBS limits what it predicts */
    ws_rng rng = ws_rng_seeded(2);
    ws_truth_run r = {1, 4, 64, 1, 2, 2, 102400, 1, "fp32"};
    char *text = ws_truth_record(&t, &r, &rng);
    ws_error err = {0};
    WS_TEST_OK(ws_perf_from_record(text, "fp32-run", &ps.runs[ps.n++], &err));
    free(text);
    ws_calib_select sel = {0};
    ws_calibration c;
    assert_int_equal(ws_calibrate(&ps, &sel, &t.net, &c, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "--precision"));
    assert_non_null(strstr(err.msg, "\"fp32\""));
    sel.precision = "fp16";
    assert_int_equal(ws_calibrate(&ps, &sel, &t.net, &c, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "\"fp16\""));
    sel.precision = "fp32";
    WS_TEST_OK(ws_calibrate(&ps, &sel, &t.net, &c, &err));
    assert_int_equal(c.time.kind, 1);
    ws_predict_config cfg = ws_predict_config_default();
    cfg.local_batch = 128;
    cfg.steps = 10;
    ws_prediction p;
    assert_int_equal(ws_predict(&c, &t.net, &cfg, &p, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "one local batch size (64)"));
    cfg.local_batch = 64; /* the measured size works */
    WS_TEST_OK(ws_predict(&c, &t.net, &cfg, &p, &err));
    sel.precision = "bf16";
    WS_TEST_OK(ws_calibrate(&ps, &sel, &t.net, &c, &err));
    cfg = ws_predict_config_default();
    cfg.gpus = 6;
    cfg.gpus_per_node = 4;
    cfg.local_batch = 64;
    cfg.steps = 10;
    assert_int_equal(ws_predict(&c, &t.net, &cfg, &p, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "do not fill nodes of 4"));
    cfg.gpus = 4;
    cfg.global_batch = 1000;
    assert_int_equal(ws_predict(&c, &t.net, &cfg, &p, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "GBS 1000"));
    cfg.global_batch = 0;
    cfg.steps = 0;
    cfg.samples_per_epoch = 1e5;
    assert_int_equal(ws_predict(&c, &t.net, &cfg, &p, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "no workload"));
    cfg.local_batch = 0;
    assert_int_equal(ws_predict(&c, &t.net, &cfg, &p, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "no batch size"));
    /* extrapolated LBS: predicted, and said so */
    cfg.local_batch = 1024;
    cfg.steps = 10;
    WS_TEST_OK(ws_predict(&c, &t.net, &cfg, &p, &err));
    assert_true(p.lbs_extrapolated);
    assert_non_null(strstr(p.notes, "outside the calibration's 32-256"));
    ws_perf_set_free(&ps);
}

/* epochs to a target against GBS: measured, interpolated in log2(GBS), never extrapolated */
static void test_epochs_model(void **state) {
    (void)state;
    ws_runset rs;
    memset(&rs, 0, sizeof rs);
    ws_run runs[4];
    ws_run_epoch ep[4 * 60];
    memset(runs, 0, sizeof runs);
    memset(ep, 0, sizeof ep);
    const int gbs[4] = {256, 256, 1024, 4096}, reach[4] = {30, 32, 34, 50};
    for (int i = 0; i < 4; i++) {
        ws_run *r = &runs[i];
        snprintf(r->status, sizeof r->status, "completed");
        snprintf(r->model, sizeof r->model, "resnet50");
        snprintf(r->data, sizeof r->data, "synthetic");
        r->data_fraction = 1;
        r->global_batch = gbs[i];
        r->first_epoch = (size_t)i * 60;
        r->n_epochs = 60;
        for (int e = 0; e < 60; e++) {
            ws_run_epoch *x = &ep[i * 60 + e];
            x->epoch = e + 1;
            x->val_top1 = e + 1 >= reach[i] ? 0.76 : 0.5;
            x->val_loss = x->val_top5 = NAN;
        }
    }
    rs.runs = runs;
    rs.n_runs = 4;
    rs.epochs = ep;
    rs.n_epochs = 240;
    snprintf(rs.target_metric, sizeof rs.target_metric, "val_top1");
    rs.target_value = 0.75;
    ws_calibration c;
    memset(&c, 0, sizeof c);
    snprintf(c.model, sizeof c.model, "resnet50");
    snprintf(c.data_kind, sizeof c.data_kind, "synthetic");
    ws_epochs_model m;
    ws_error err = {0};
    WS_TEST_OK(ws_epochs_model_build(&rs, &c, &m, &err));
    assert_int_equal(m.n, 3);
    assert_int_equal(m.n_reached, 4);
    ws_interval v;
    WS_TEST_OK(ws_epochs_at(&m, 256, &v, &err));
    WS_TEST_NEAR(v.mid, 31, 1e-12, 0);
    WS_TEST_NEAR(v.lo, 30, 0, 0);
    WS_TEST_NEAR(v.hi, 32, 0, 0);
    WS_TEST_OK(ws_epochs_at(&m, 512, &v, &err)); /* halfway between 256 and 1024 in log2 */
    WS_TEST_NEAR(v.mid, (31 + 34) / 2.0, 1e-12, 0);
    WS_TEST_OK(ws_epochs_at(&m, 2048, &v, &err));
    WS_TEST_NEAR(v.mid, (34 + 50) / 2.0, 1e-12, 0);
    assert_int_equal(ws_epochs_at(&m, 8192, &v, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "not extrapolated"));
    rs.target_value = 0.9; /* never reached */
    WS_TEST_OK(ws_epochs_model_build(&rs, &c, &m, &err));
    assert_int_equal(ws_epochs_at(&m, 256, &v, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "none of the 4 finished runs (data fraction 1)"));
}

/* leave-one-out on exact runs: every run predicted to rounding */
static void test_loo_exact(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    ws_perf_set ps;
    truth_set(&t, 1, 8, &ps, NULL);
    ws_loo_row *rows = NULL;
    size_t n = 0;
    ws_error err = {0};
    WS_TEST_OK(ws_loo_compute(&ps, &t.net, &rows, &n, &err));
    assert_int_equal(n, 16);
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].ok) fail_msg("%s: %s", rows[i].run_key, rows[i].why);
        assert_int_equal(rows[i].n_calib, 15);
        WS_TEST_NEAR(rows[i].step_s.mid, rows[i].step_meas_s, 1e-8, 0);
        WS_TEST_NEAR(rows[i].jps.mid, rows[i].jps_meas, 1e-8, 0);
        WS_TEST_NEAR(rows[i].time_s.mid, rows[i].time_meas_s, 1e-8, 0);
        WS_TEST_NEAR(rows[i].energy_j.mid, rows[i].energy_meas_j, 1e-8, 0);
    }
    free(rows);
    ws_perf_set_free(&ps);
}

/* advise: the least energy of all candidates, and a deadline that moves it to more GPUs */
static void test_advise(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    ws_perf_set ps;
    truth_set(&t, 1, 8, &ps, NULL);
    ws_calibration c = calibrate(&ps, &t);
    const ws_calibration *cp = &c;
    ws_advise_opts o = ws_advise_opts_default();
    o.max_gpus = 16;
    o.base.gpus_per_node = 4;
    o.base.epochs = 1;
    o.base.samples_per_epoch = 1281167;
    o.base.evals = 0;
    ws_advice a;
    ws_error err = {0};
    WS_TEST_OK(ws_advise(&cp, 1, &t.net, &o, &a, &err));
    assert_true(a.by_energy);
    assert_int_equal(a.considered, 5 * 4); /* 1..16 GPUs x the 4 measured sizes */
    assert_int_equal(a.n, a.considered);
    for (size_t i = 1; i < a.n; i++)
        assert_true(a.rows[i - 1].p.energy_kwh.mid <= a.rows[i].p.energy_kwh.mid);
    int best_gpus = a.rows[0].p.cfg.gpus;
    double best_time = a.rows[0].p.time_s.mid;
    ws_advice_free(&a);
    /* a deadline the best cannot meet */
    o.deadline_s = 0.6 * best_time;
    WS_TEST_OK(ws_advise(&cp, 1, &t.net, &o, &a, &err));
    assert_true(a.over_deadline > 0);
    assert_true(a.n > 0);
    assert_true(a.rows[0].p.cfg.gpus > best_gpus);
    assert_true(a.rows[0].p.time_s.hi <= o.deadline_s);
    ws_advice_free(&a);
    ws_perf_set_free(&ps);
}

/* the store hands over the runs as their records hold them */
static void test_store_roundtrip(void **state) {
    (void)state;
    ws_truth t = ws_truth_default();
    ws_perf_set ps;
    char **texts = NULL;
    truth_set(&t, 1, 8, &ps, &texts);
    const char *dir = ws_test_tmpdir("predict-store");
    char db[1200];
    snprintf(db, sizeof db, "%s/s.db", dir);
    ws_store *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_store_open(&s, db, &err));
    for (size_t i = 0; i < ps.n; i++)
        WS_TEST_OK(ws_store_ingest_run(s, "truth", ps.runs[i].run_key, texts[i], &err));
    ws_perf_set back;
    WS_TEST_OK(ws_store_load_perf(s, "truth", &back, &err));
    assert_int_equal(back.n, ps.n);
    ws_calibration a = calibrate(&ps, &t), b = calibrate(&back, &t);
    WS_TEST_NEAR(b.time.fit.slope, a.time.fit.slope, 1e-12, 0);
    WS_TEST_NEAR(b.energy.fit.intercept, a.energy.fit.intercept, 1e-12, 0);
    WS_TEST_NEAR(b.overlap, a.overlap, 1e-12, 0);
    ws_perf_set_free(&back);
    assert_int_equal(ws_store_load_perf(s, "absent", &back, &err), WS_EINVAL);
    ws_store_close(s);
    free_texts(texts, ps.n);
    ws_perf_set_free(&ps);
    ws_test_rmtree(dir);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "write")) {
        ws_truth t = ws_truth_default();
        t.noise = 0.005;
        ws_truth_write_study(&t, argv[2]);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_parse),
        cmocka_unit_test(test_calibration_recovers_truth),
        cmocka_unit_test(test_prediction_matches_closed_form),
        cmocka_unit_test(test_noisy_calibration_covers_truth),
        cmocka_unit_test(test_unmeasured_terms),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_epochs_model),
        cmocka_unit_test(test_loo_exact),
        cmocka_unit_test(test_advise),
        cmocka_unit_test(test_store_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
