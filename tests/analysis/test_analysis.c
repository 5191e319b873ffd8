/* tests/analysis/test_analysis.c - the analysis layer on synthetic runs with known answers:
 * fits recover a known slope and its 95% interval (checked against the closed-form least
 * squares and by coverage over many seeded datasets), the multiple regression its
 * coefficients and collinearity; energy vs device-hours from synthetic run records through
 * the store; speedup and efficiencies; the degradation point; the Pareto front; energy to
 * target; summaries skip what was not measured. */
#include "ws_test.h"
#include "synth_record.h"
#include "analysis/analysis.h"
#include "analysis/report.h"
#include "core/fileutil.h"
#include "analysis/fit.h"
#include "analysis/gnuplot.h"
#include "analysis/stats.h"
#include "core/rng.h"
#include "study/store.h"

#include <unistd.h>

static int ws_gnuplot_present(void) { return ws_gnuplot_find() != NULL; }

/* the closed-form least squares the test trusts, independent of GSL */
static void ols(const double *x, const double *y, size_t n, double *slope, double *intercept, double *slope_se) {
    double mx = 0, my = 0, sxx = 0, sxy = 0, sse = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i] / n, my += y[i] / n;
    for (size_t i = 0; i < n; i++)
        sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
    *slope = sxy / sxx;
    *intercept = my - *slope * mx;
    for (size_t i = 0; i < n; i++) {
        double r = y[i] - *intercept - *slope * x[i];
        sse += r * r;
    }
    *slope_se = sqrt(sse / (n - 2) / sxx);
}

static void test_summary(void **state) {
    (void)state;
    double x[] = {1, NAN, 3, 5};
    ws_summary s = ws_summarize(x, 4);
    assert_int_equal(s.n, 3);
    WS_TEST_NEAR(s.mean, 3, 1e-15, 0);
    WS_TEST_NEAR(s.sd, 2, 1e-15, 0);
    s = ws_summarize(x, 1);
    assert_int_equal(s.n, 1);
    assert_true(isnan(s.sd));
    s = ws_summarize(x + 1, 1);
    assert_int_equal(s.n, 0);
    assert_true(isnan(s.mean));
    WS_TEST_NEAR(ws_t_quantile(0.975, 10), 2.228138852, 1e-8, 0); /* tables of Student's t */
}

static void test_line_recovers_slope_and_interval(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(42);
    enum { N = 14 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = 0.5 + i * 0.7;
        y[i] = 0.05 + 0.35 * x[i] + 0.04 * ws_rng_normal(&rng);
    }
    ws_linfit f = ws_fit_line(x, y, N);
    assert_true(f.valid);
    double slope, intercept, se;
    ols(x, y, N, &slope, &intercept, &se);
    WS_TEST_NEAR(f.slope, slope, 1e-12, 0);
    WS_TEST_NEAR(f.intercept, intercept, 1e-12, 1e-14);
    WS_TEST_NEAR(f.slope_se, se, 1e-9, 0);
    double t = 2.178812830; /* t(0.975, 12) */
    WS_TEST_NEAR(f.slope_hi - f.slope, t * se, 1e-8, 0);
    WS_TEST_NEAR(f.slope - f.slope_lo, t * se, 1e-8, 0);
    assert_true(f.slope_lo < 0.35 && 0.35 < f.slope_hi);
    assert_true(f.r2 > 0.99 && f.r2 <= 1);

    /* exact data: exact slope, zero-width interval, R^2 1 */
    for (int i = 0; i < N; i++)
        y[i] = 0.35 * x[i];
    f = ws_fit_line(x, y, N);
    WS_TEST_NEAR(f.slope, 0.35, 1e-12, 0);
    WS_TEST_NEAR(f.intercept, 0, 0, 1e-12);
    WS_TEST_NEAR(f.r2, 1, 1e-12, 0);
    WS_TEST_NEAR(f.slope_hi - f.slope_lo, 0, 0, 1e-10);

    /* too few points, or no spread in x: no fit, no interval */
    assert_false(ws_fit_line(x, y, 2).valid);
    double same[3] = {1, 1, 1};
    assert_false(ws_fit_line(same, y, 3).valid);
    double with_nan[4] = {1, NAN, 2, 3};
    assert_int_equal(ws_fit_line(with_nan, y, 4).n, 3);
}

/* A 95% interval covers the true slope in about 95% of datasets: 1000 seeded datasets,
 * binomial sd 0.7%, so [0.93, 0.97] fails with probability ~1e-4 if correct and surely if
 * the interval were 1.96 x SE (z instead of t: ~92% with 6 points) or 1 SE wide (~64%). */
static void test_interval_coverage(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(7);
    int covered = 0;
    enum { N = 6, TRIALS = 1000 };
    for (int k = 0; k < TRIALS; k++) {
        double x[N], y[N];
        for (int i = 0; i < N; i++) {
            x[i] = i + 1;
            y[i] = 2 + 0.5 * x[i] + ws_rng_normal(&rng);
        }
        ws_linfit f = ws_fit_line(x, y, N);
        covered += f.slope_lo <= 0.5 && 0.5 <= f.slope_hi;
    }
    double rate = (double)covered / TRIALS;
    if (!(rate >= 0.93 && rate <= 0.97))
        fail_msg("95%% interval covered the true slope in %.1f%% of datasets", 100 * rate);
}

static void test_multifit(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(3);
    enum { N = 40 };
    double X[N * 3], y[N];
    for (int i = 0; i < N; i++) {
        double s = 1e5 + 3e4 * (i % 7), u = 50 + 17 * (i % 5);
        X[3 * i] = 1, X[3 * i + 1] = s, X[3 * i + 2] = u;
        y[i] = 0.2 + 1e-6 * s + 3e-4 * u + 0.001 * ws_rng_normal(&rng);
    }
    ws_multifit m;
    ws_error err = {0};
    WS_TEST_OK(ws_fit_multi(X, y, N, 3, &m, &err));
    assert_true(m.valid);
    assert_false(m.collinear);
    const double want[3] = {0.2, 1e-6, 3e-4};
    for (int j = 0; j < 3; j++) {
        if (!(m.lo[j] < want[j] && want[j] < m.hi[j]))
            fail_msg("coefficient %d: %g not in [%g, %g]", j, want[j], m.lo[j], m.hi[j]);
        WS_TEST_NEAR(m.coef[j], want[j], 0.05, 0);
    }
    assert_true(m.r2 > 0.99);
    /* one global batch size: samples = 256 x updates, so the design is rank deficient */
    for (int i = 0; i < N; i++)
        X[3 * i + 1] = 256 * X[3 * i + 2];
    WS_TEST_OK(ws_fit_multi(X, y, N, 3, &m, &err));
    assert_true(m.collinear);
    assert_false(m.valid);
    assert_int_equal(m.rank, 2);
}

/* ---- through run records and the store ---- */

static ws_store *store;
static const char *tmp;

static void ingest(const char *study, const char *key, const ws_synth_run *r) {
    char *text = ws_synth_record_json(r);
    ws_error err = {0};
    WS_TEST_OK(ws_store_ingest_run(store, study, key, text, &err));
    free(text);
}

static void load(const char *study, ws_runset *rs, ws_analysis *a) {
    ws_error err = {0};
    WS_TEST_OK(ws_store_load_runset(store, study, rs, &err));
    WS_TEST_OK(ws_analysis_compute(rs, a, &err));
}

static void test_energy_fit_from_records(void **state) {
    (void)state;
    ws_rng rng = ws_rng_seeded(11);
    enum { N = 12 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) {
        ws_synth_run r = ws_synth_run_default();
        r.world = 1 << (i % 4);
        r.time_s = 900 + 450 * i; /* device-hours 0.25 .. 12 */
        x[i] = r.time_s * r.world / 3600.0;
        y[i] = 0.42 * x[i] + 0.01 + 0.05 * ws_rng_normal(&rng); /* kWh: 420 W per GPU with the host */
        r.energy_j = y[i] * 3.6e6;
        char key[32];
        snprintf(key, sizeof key, "run%02d", i);
        ingest("fit", key, &r);
    }
    ws_runset rs;
    ws_analysis a;
    load("fit", &rs, &a);
    assert_true(a.any_energy && a.all_energy);
    assert_int_equal(a.energy.n_fits, 1);
    const ws_energy_fit *ef = &a.energy.fits[0];
    assert_string_equal(ef->group, "resnet50 / NVIDIA H200 / bf16");
    assert_int_equal(ef->n_runs, N);
    double slope, intercept, se;
    ols(x, y, N, &slope, &intercept, &se);
    WS_TEST_NEAR(ef->fit.slope, slope, 1e-9, 0);
    WS_TEST_NEAR(ef->fit.slope_hi - ef->fit.slope_lo, 2 * 2.228138852 * se, 1e-6, 0); /* t(0.975, 10) */
    assert_true(ef->fit.slope_lo < 0.42 && 0.42 < ef->fit.slope_hi);
    /* one GBS for all: samples/h and updates/h proportional -> collinear, each alone fitted */
    assert_true(a.energy.slope_on_both.collinear);
    assert_int_equal(a.energy.n_slope_runs, N);
    ws_analysis_free(&a);
    ws_runset_free(&rs);
}

/* A constant-GBS series on 1, 2, 4 GPUs, 2 repetitions, with known times and energies. */
static void test_scaling(void **state) {
    (void)state;
    const int gpus[3] = {1, 2, 4};
    const double time_s[3] = {1000, 600, 400}, energy_j[3] = {1e6, 1.2e6, 1.6e6};
    for (int p = 0; p < 3; p++)
        for (int rep = 0; rep < 2; rep++) {
            ws_synth_run r = ws_synth_run_default();
            r.world = gpus[p];
            r.local_batch = 256 / gpus[p];
            r.gpus_metered = gpus[p];
            r.time_s = time_s[p] * (rep ? 1.1 : 0.9); /* repetitions differ by +-10% */
            r.energy_j = energy_j[p];
            r.val_top1[1] = 0.70 + 0.02 * rep;
            char key[32];
            snprintf(key, sizeof key, "g%d-r%d", gpus[p], rep);
            ingest("scale", key, &r);
        }
    ws_runset rs;
    ws_analysis a;
    load("scale", &rs, &a);
    assert_int_equal(a.scaling.n_points, 3);
    const ws_series_point *b = &a.scaling.points[0], *q = &a.scaling.points[2];
    assert_int_equal(b->gpus, 1);
    assert_int_equal(q->gpus, 4);
    assert_int_equal(q->n_runs, 2);
    WS_TEST_NEAR(b->time_s.mean, 1000, 1e-12, 0);
    WS_TEST_NEAR(b->time_s.sd, sqrt(2) * 100, 1e-9, 0);
    /* throughput per device at 4 GPUs over the base's mean: per repetition, then the mean */
    double thr_b = (25600 / (900 / 3600.0) + 25600 / (1100 / 3600.0)) / 2;
    double e0 = 25600 / (4 * 360 / 3600.0) / thr_b, e1 = 25600 / (4 * 440 / 3600.0) / thr_b;
    WS_TEST_NEAR(q->parallel_efficiency.mean, (e0 + e1) / 2, 1e-12, 0);
    WS_TEST_NEAR(q->speedup.mean, 4 * (e0 + e1) / 2, 1e-12, 0);
    WS_TEST_NEAR(q->energy_efficiency.mean, 1e6 / 1.6e6, 1e-12, 0); /* same samples: E_base / E */
    WS_TEST_NEAR(q->energy_kwh.mean, 1.6e6 / 3.6e6, 1e-12, 0);
    WS_TEST_NEAR(q->gpu_power_w.mean, (0.8 * 1.6e6 / 360 / 4 + 0.8 * 1.6e6 / 440 / 4) / 2, 1e-12, 0);
    WS_TEST_NEAR(q->metric.mean, 0.71, 1e-12, 0);
    ws_analysis_free(&a);
    ws_runset_free(&rs);
}

static void test_accuracy_pareto_target(void **state) {
    (void)state;
    /* the metric holds up to GBS 256, slips within tolerance at 512, drops at 1024 */
    const int gbs[4] = {128, 256, 512, 1024};
    const double top1[4] = {0.760, 0.762, 0.755, 0.700}, time_s[4] = {400, 300, 200, 250};
    for (int p = 0; p < 4; p++) {
        ws_synth_run r = ws_synth_run_default();
        r.global_batch = r.local_batch = gbs[p];
        r.epochs = 4;
        r.time_s = time_s[p];
        r.energy_j = NAN; /* no sensor: time-based only */
        for (int e = 0; e < 4; e++)
            r.val_top1[e] = top1[p] * (e + 1) / 4.0;
        char key[32];
        snprintf(key, sizeof key, "gbs%d", gbs[p]);
        ingest("acc", key, &r);
    }
    ws_runset rs;
    ws_analysis a;
    load("acc", &rs, &a);
    snprintf(rs.target_metric, sizeof rs.target_metric, "val_top1");
    rs.target_value = 0.5;
    ws_analysis_free(&a);
    ws_error err = {0};
    WS_TEST_OK(ws_analysis_compute(&rs, &a, &err));
    assert_false(a.any_energy);
    assert_string_equal(a.missing_domains, "gpu, cpu, dram");
    assert_int_equal(a.accuracy.n_curves, 1);
    const ws_accuracy_curve *cv = &a.accuracy.curves[0];
    assert_int_equal(cv->n_points, 4);
    assert_int_equal(cv->degrades_beyond_gbs, 512);
    assert_int_equal(cv->first_degraded_gbs, 1024);
    assert_int_equal(cv->best_gbs, 256);
    /* front of time and metric: 1024 (worse metric, slower than 512) is dominated */
    for (size_t i = 0; i < a.pareto.n_points; i++) {
        const ws_pareto_point *p = &a.pareto.points[i];
        assert_true(isnan(p->energy_kwh));
        assert_int_equal(p->on_front, p->global_batch == 128 ? 0 : p->global_batch == 1024 ? 0 : 1);
    }
    /* 0.5 is reached at epoch 3 (3/4 x 0.76 = 0.57 >= 0.5, 2/4 x 0.76 < 0.5) */
    assert_int_equal(a.target.n_rows, 4);
    for (size_t i = 0; i < a.target.n_rows; i++) {
        const ws_target_row *t = &a.target.rows[i];
        assert_int_equal(t->n_reached, 1);
        WS_TEST_NEAR(t->epochs.mean, 3, 0, 0);
        int p = t->global_batch == 128 ? 0 : t->global_batch == 256 ? 1 : t->global_batch == 512 ? 2 : 3;
        WS_TEST_NEAR(t->time_s.mean, 0.75 * time_s[p], 1e-12, 0);
        assert_int_equal(t->energy_kwh.n, 0); /* not measured: not invented */
    }
    ws_analysis_free(&a);
    ws_runset_free(&rs);
}

/* The report writer in this process (sanitizers see it): with gnuplot where there is one,
 * and without, when it must say so and still write the HTML, Markdown and tables. */
static void test_report_in_process(void **state) {
    (void)state;
    ws_runset rs;
    ws_analysis a;
    load("scale", &rs, &a); /* test_scaling's runs */
    ws_analysis_free(&a);
    char out[600], path[700];
    snprintf(out, sizeof out, "%s/report", tmp);
    ws_report_opts o = ws_report_opts_default();
    o.out_dir = out;
    ws_report_result res;
    ws_error err = {0};
    setenv("WATTSCALE_GNUPLOT", "/nonexistent/gnuplot", 1);
    WS_TEST_OK(ws_report_write(&rs, &o, &res, &err));
    assert_int_equal(res.n_figures, 0);
    assert_non_null(strstr(res.figures_note, "gnuplot not found"));
    char *html = NULL;
    WS_TEST_OK(ws_read_file(res.html_path, &html, NULL, &err));
    assert_non_null(strstr(html, "gnuplot not found"));
    assert_non_null(strstr(html, "Energy grows with GPU-hours"));
    free(html);
    snprintf(path, sizeof path, "%s/tables/series.csv", out);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/figures/speedup.gp", out);
    assert_int_equal(access(path, R_OK), 0); /* the script is written for drawing later */
    assert_int_equal(ws_test_env_restore(NULL), 0); /* gnuplot as found */
    if (ws_gnuplot_present()) {
        WS_TEST_OK(ws_report_write(&rs, &o, &res, &err));
        assert_int_equal(res.n_failed_figures, 0);
        assert_true(res.n_figures >= 6); /* energy, time, speedup, efficiency, accuracy, power/GPU, Pareto, slope */
        assert_string_equal(res.figures_note, "");
    }
    ws_runset_free(&rs);

    /* a study whose only run failed: a report that says so, no empty figure */
    ws_synth_run r = ws_synth_run_default();
    r.status = "failed";
    ingest("failed-only", "r1", &r);
    load("failed-only", &rs, &a);
    ws_analysis_free(&a);
    snprintf(out, sizeof out, "%s/report-failed", tmp);
    o.out_dir = out;
    WS_TEST_OK(ws_report_write(&rs, &o, &res, &err));
    assert_int_equal(res.n_figures, 0);
    assert_int_equal(res.n_failed_figures, 0);
    WS_TEST_OK(ws_read_file(res.html_path, &html, NULL, &err));
    assert_non_null(strstr(html, "0 runs finished, 1 failed"));
    assert_null(strstr(html, "<img"));
    free(html);
    ws_runset_free(&rs);
}

int main(void) {
    tmp = ws_test_tmpdir("analysis");
    char db[600];
    snprintf(db, sizeof db, "%s/a.db", tmp);
    ws_error err = {0};
    if (ws_store_open(&store, db, &err) != WS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_summary),
                                       cmocka_unit_test(test_line_recovers_slope_and_interval),
                                       cmocka_unit_test(test_interval_coverage),
                                       cmocka_unit_test(test_multifit),
                                       cmocka_unit_test(test_energy_fit_from_records),
                                       cmocka_unit_test(test_scaling),
                                       cmocka_unit_test(test_accuracy_pareto_target),
                                       cmocka_unit_test_teardown(test_report_in_process, ws_test_env_restore)};
    int rc = cmocka_run_group_tests(tests, ws_test_env_save, NULL);
    ws_store_close(store);
    ws_test_rmtree(tmp);
    return rc;
}
