/* tests/study/test_study_file.c - study files: the configs/ files load with the values they
 * say; malformed files fail with the documented messages (docs/study-file.md), each naming
 * the file, line, column and key; the plan resolves points, shares runs and orders them. */
#include "ws_test.h"
#include "study/plan.h"
#include "study/study_file.h"

static const char *dir;

static ws_status load_text(const char *text, ws_study *s, ws_error *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/study.yaml", dir);
    ws_test_write_file(path, text);
    return ws_study_load(s, path, err);
}

#define BASE                                                                                                           \
    "study: t\n"                                                                                                       \
    "model: {name: resnet18, width: 4}\n"                                                                              \
    "data: {spec: synthetic, fraction: 0.5}\n"                                                                         \
    "stopping: {epochs: 2}\n"

/* text must fail with a message containing every fragment (the line as ":LINE:") */
static void expect_error(const char *text, const char *f1, const char *f2, const char *f3) {
    ws_study s;
    ws_error err = {0};
    ws_status st = load_text(text, &s, &err);
    if (st == WS_OK) {
        ws_study_free(&s);
        fail_msg("accepted, expected an error with \"%s\":\n%s", f1, text);
    }
    assert_int_equal(st, WS_EINVAL);
    const char *frags[3] = {f1, f2, f3};
    for (int i = 0; i < 3; i++)
        if (frags[i] && !strstr(err.msg, frags[i])) fail_msg("error \"%s\" lacks \"%s\"", err.msg, frags[i]);
    assert_non_null(strstr(err.msg, "study.yaml:") ? err.msg : NULL);
}

static void test_malformed(void **state) {
    (void)state;
    /* YAML syntax: libyaml's words, with the line */
    expect_error(BASE "series: [\n  {name: a\n", ":7:", "YAML syntax error", NULL);
    expect_error("study: t\n  model: x\n", ":2:", "YAML syntax error", NULL);
    /* unknown and duplicate keys, with the known ones */
    expect_error(BASE "optimiser: {lr: 0.1}\nseries: [{name: a, scaling: constant_gbs, global_batch: 8, gpus: [1]}]\n",
                 ":5:1: optimiser: unknown key", "optimizer", NULL);
    expect_error(BASE "optimizer: {lr: 0.1, lrr: linear}\n", ":5:22: optimizer.lrr: unknown key", "lr_rule", NULL);
    expect_error(BASE "seed: 1\nseed: 2\n", ":6:1: seed: given twice (first at line 5)", NULL, NULL);
    /* types and ranges */
    expect_error(BASE "optimizer: {lr: fast}\n", ":5:17: optimizer.lr: expected a number, got \"fast\"", NULL, NULL);
    expect_error(BASE "repetitions: 0\n", ":5:14: repetitions: 0 is out of range (1 to 1000)", NULL, NULL);
    expect_error(BASE "precision: fp8\n", ":5:12: precision: \"fp8\" is not one of fp32|tf32|bf16|fp16", NULL, NULL);
    expect_error(BASE "model: [resnet18]\n", "model: given twice", NULL, NULL);
    expect_error("study: t\nmodel: [resnet18]\n", ":2:8: model: expected a mapping, got a list", NULL, NULL);
    expect_error(BASE "stopping: {epochs: 2, target: val_top1}\n", "stopping: given twice", NULL, NULL);
    expect_error("study: t\nmodel: {name: resnet18}\ndata: {spec: synthetic}\nstopping: {target: top1=0.5}\n",
                 ":4:20: stopping.target: metric \"top1\" is not one of val_top1|val_top5|val_loss|val_rmse_norm|val_acc", NULL, NULL);
    expect_error(BASE "train_args: [--seed, \"3\"]\n", ":5:14: train_args[0]: --seed is set by the study runner", NULL,
                 NULL);
    /* what must be there */
    expect_error("model: {name: resnet18}\n", "study: missing", NULL, NULL);
    expect_error("study: t\ndata: {spec: synthetic}\nstopping: {epochs: 1}\n", "model.name: missing", NULL, NULL);
    expect_error(BASE "series: []\n", ":5:9: series: expected a non-empty list of series, got an empty list", NULL,
                 NULL);
    expect_error("study: t\nmodel: {name: resnet18}\ndata: {spec: synthetic}\n", "stopping: missing", NULL, NULL);
    expect_error("study: t\nmodel: {name: resnet18}\ndata: {spec: synthetic}\nstopping: {epochs: 1, steps: 5}\n",
                 ":4:11: stopping: give epochs or steps, not both", NULL, NULL);
    expect_error(BASE, "series: missing", NULL, NULL);
    expect_error("", "empty study file", NULL, NULL);
    /* series */
    expect_error(BASE "series: [{scaling: constant_gbs}]\n", "series[0].name: missing", NULL, NULL);
    expect_error(BASE "series: [{name: a, global_batch: 8, gpus: [1]}]\n", "series[0].scaling: missing", NULL, NULL);
    expect_error(BASE "series: [{name: a, scaling: constant_gbs, gpus: [1, 2]}]\n",
                 "series[0]: constant_gbs needs global_batch", NULL, NULL);
    expect_error(BASE "series: [{name: a, scaling: constant_gbs, global_batch: 64, gpus: [1, 3]}]\n",
                 ":5:71: series[0].gpus[1]: global_batch 64 does not split over 3 GPUs", NULL, NULL);
    expect_error(BASE "series: [{name: a, scaling: constant_lbs, local_batch: 8, gpus: [1, two]}]\n",
                 "series[0].gpus[1]: expected an integer, got \"two\"", NULL, NULL);
    expect_error(BASE "series: [{name: a, scaling: constant_lbs, local_batch: 8, gpus: [2, 2]}]\n",
                 "series[0].gpus[1]: the same point as gpus[0]", NULL, NULL);
    expect_error(BASE "series:\n  - {name: a, scaling: constant_lbs, local_batch: 8, gpus: [1]}\n"
                      "  - {name: a, scaling: constant_lbs, local_batch: 16, gpus: [1]}\n",
                 ":7:12: series[1].name: \"a\" names series[0] already", NULL, NULL);
    expect_error(BASE "series:\n  - name: p\n    points:\n      - {gpus: 2, local_batch: 8}\n      - {gpus: 4}\n",
                 ":9:9: series[0].points[1]: needs global_batch or local_batch", NULL, NULL);
    expect_error(BASE "series:\n  - name: p\n    points:\n      - {gpus: 2, global_batch: 10, local_batch: 4}\n",
                 "series[0].points[0]: global_batch 10 is not a multiple of local_batch 4 x gpus 2", NULL, NULL);
    expect_error(BASE "series:\n  - name: p\n    scaling: constant_gbs\n    points:\n"
                      "      - {gpus: 1, global_batch: 64}\n      - {gpus: 2, global_batch: 32}\n",
                 ":10:9: series[0].points[1]: global_batch 32, but this constant_gbs series started with 64", NULL,
                 NULL);
    /* launcher */
    expect_error(BASE "series: [{name: a, scaling: constant_lbs, local_batch: 8, gpus: [1]}]\nlauncher: pbs\n",
                 ":6:11: launcher: \"pbs\" is not one of local|slurm", NULL, NULL);
    expect_error(BASE "series: [{name: a, scaling: constant_lbs, local_batch: 8, gpus: [1]}]\n"
                      "launcher: {type: local, partition: gpu}\n",
                 "launcher.partition: unknown key (known here: type env mpirun mpirun_single cpu_threads)", NULL, NULL);
    expect_error(BASE "series: [{name: a, scaling: constant_lbs, local_batch: 8, gpus: [1]}]\n"
                      "launcher: {type: local, mpirun: mpiexec -n 2}\n",
                 "launcher.mpirun: the template must contain {ranks}", NULL, NULL);
}

static void test_configs_load(void **state) {
    (void)state;
    const char *configs = getenv("WATTSCALE_CONFIGS");
    if (!configs) skip();
    const char *names[] = {"demo-cpu.yaml", "gpu-1.yaml", "gpu-2.yaml", "resnet50-study.yaml"};
    for (size_t i = 0; i < 4; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", configs, names[i]);
        ws_study s;
        ws_error err = {0};
        WS_TEST_OK(ws_study_load(&s, path, &err));
        ws_plan p;
        WS_TEST_OK(ws_plan_make(&p, &s, &err));
        if (i == 0) { /* demo-cpu: 2 series x 2 repetitions over 3 distinct points */
            assert_string_equal(s.name, "demo-cpu");
            assert_string_equal(s.device, "cpu");
            assert_int_equal(s.n_series, 2);
            assert_int_equal(s.repetitions, 2);
            assert_int_equal(p.n_runs, 6);
        } else if (i == 3) { /* the study: 36 points, 6 shared, 5 repetitions */
            assert_int_equal(s.n_series, 6);
            assert_int_equal(s.launcher.kind, WS_LAUNCHER_SLURM);
            assert_int_equal(s.epochs, 100);
            assert_int_equal(p.n_runs, 150);
            /* lbs256-growing: 1 GPU on 1/256 of the data */
            const ws_study_series *g = &s.series[5];
            assert_string_equal(g->name, "lbs256-growing");
            WS_TEST_NEAR(g->points[0].data_fraction, 1.0 / 256, 1e-15, 0);
            assert_int_equal(g->points[8].global_batch, 65536);
        } else {
            assert_string_equal(s.device, "cuda");
            assert_string_equal(s.precision, "bf16");
            assert_int_equal(s.steps, 100);
        }
        ws_plan_free(&p);
        ws_study_free(&s);
    }
}

static void test_plan(void **state) {
    (void)state;
    ws_study s;
    ws_error err = {0};
    WS_TEST_OK(load_text(BASE "seed: 10\nrepetitions: 2\n"
                              "series:\n"
                              "  - {name: g, scaling: constant_gbs, global_batch: 64, gpus: [1, 2, 4]}\n"
                              "  - {name: l, scaling: constant_lbs, local_batch: 32, gpus: [1, 2], dataset: growing}\n"
                              "  - {name: a, scaling: constant_gbs, global_batch: 64, local_batch: 16, gpus: [2]}\n"
                              "estimate: {samples_per_device_s: 100}\n",
                         &s, &err));
    /* growing: fraction = 0.5 x gpus / 2 */
    WS_TEST_NEAR(s.series[1].points[0].data_fraction, 0.25, 1e-15, 0);
    WS_TEST_NEAR(s.series[1].points[1].data_fraction, 0.5, 1e-15, 0);
    assert_int_equal(s.series[2].points[0].accum, 2);
    ws_plan p;
    WS_TEST_OK(ws_plan_make(&p, &s, &err));
    /* per repetition: g 3 + l 2 (its 2-GPU point, GBS 64 on the base fraction, is g's) + a 1 */
    assert_int_equal(p.n_runs, 2 * 5);
    assert_string_equal(p.runs[0].key, "g1-gbs64-lbs64-r1");
    assert_string_equal(p.runs[1].key, "g2-gbs64-lbs32-r1");
    assert_int_equal(p.runs[1].n_members, 2); /* g's point 1 and l's point 1 */
    assert_string_equal(p.runs[3].key, "g1-gbs32-lbs32-f0.25-r1");
    assert_string_equal(p.runs[4].key, "g2-gbs64-lbs16-acc2-r1");
    assert_string_equal(p.runs[5].key, "g1-gbs64-lbs64-r2");
    assert_int_equal(p.runs[5].seed, 11);
    /* estimate: samples = 2 epochs x floor(2560 x 0.5 / 64) x 64, at 100 samples/s per device */
    WS_TEST_NEAR(p.runs[0].est_samples, 2560, 0, 0);
    WS_TEST_NEAR(p.runs[0].est_device_hours, 2560 / 100.0 / 3600, 1e-12, 0);
    char **argv = NULL;
    WS_TEST_OK(ws_plan_train_args(&s, &p.runs[4], "/runs/x", 1, 2, &argv, &err));
    const char *want[] = {
        "--model",        "resnet18", "--width",       "4",       "--data",          "synthetic", "--epochs", "2",
        "--global-batch", "64",       "--local-batch", "16",      "--data-fraction", "0.5",       "--seed",   "10",
        "--threads",      "2",        "--out",         "/runs/x", "--resume",        "/runs/x",   NULL};
    for (size_t i = 0; want[i] || argv[i]; i++) {
        if (!want[i] || !argv[i])
            fail_msg("argument %zu: got %s, want %s", i, argv[i] ? argv[i] : "(end)", want[i] ? want[i] : "(end)");
        assert_string_equal(argv[i], want[i]);
    }
    ws_plan_args_free(argv);
    ws_plan_free(&p);
    ws_study_free(&s);
}

int main(void) {
    dir = ws_test_tmpdir("studyfile");
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_malformed), cmocka_unit_test(test_configs_load),
                                       cmocka_unit_test(test_plan)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ws_test_rmtree(dir);
    return rc;
}
