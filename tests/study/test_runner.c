/* tests/study/test_runner.c - the study runner in this process (so that sanitizers see its
 * allocations): a study of one-rank runs is run, stored with its plan, and not run again; a
 * run whose record finished but was never stored is stored, not repeated; a run whose
 * training fails is counted failed and the others still run; run states as `study status`
 * reports them. The SIGKILL resume and the Slurm launcher are test_study_resume.sh and test_study_slurm.sh. */
#include "ws_test.h"
#include "core/fileutil.h"
#include "study/runner.h"

#include <sqlite3.h>

static const char *dir;

static void load(ws_study *s, const char *extra) {
    char path[600], text[4096];
    snprintf(path, sizeof path, "%s/s.yaml", dir);
    snprintf(text, sizeof text,
             "study: inproc\n"
             "database: %s/s.db\n"
             "runs_dir: %s/runs\n"
             "model: {name: resnet18, width: 4}\n"
             "data: {spec: synthetic, synthetic_shape: 3x8x8, synthetic_classes: 3, synthetic_count: 96}\n"
             "stopping: {epochs: 1}\n"
             "optimizer: {lr: 0.1, warmup_epochs: 0, schedule: constant}\n"
             "repetitions: 2\n"
             "launcher: {type: local, cpu_threads: 1}\n"
             "%s",
             dir, dir, extra);
    ws_test_write_file(path, text);
    ws_error err = {0};
    WS_TEST_OK(ws_study_load(s, path, &err));
}

static void read_record(const char *key, char **out) {
    char path[700];
    snprintf(path, sizeof path, "%s/runs/%s/run.json", dir, key);
    ws_error err = {0};
    WS_TEST_OK(ws_read_file(path, out, NULL, &err));
}

static void test_run_and_resume(void **state) {
    (void)state;
    ws_study s;
    load(&s, "series:\n"
             "  - {name: g, scaling: constant_gbs, global_batch: 32, gpus: [1]}\n"
             "  - {name: p, points: [{gpus: 1, global_batch: 16, local_batch: 16}, {gpus: 1, global_batch: 32}]}\n");
    ws_runner_opts o = ws_runner_opts_default();
    o.wattscale = getenv("WATTSCALE_BIN");
    ws_runner_summary sum;
    ws_error err = {0};
    WS_TEST_OK(ws_study_run(&s, &o, &sum, &err));
    assert_int_equal(sum.planned, 4); /* (1, 32) is shared by g and p */
    assert_int_equal(sum.ran, 4);
    assert_int_equal(sum.failed, 0);
    ws_store *st = NULL;
    WS_TEST_OK(ws_store_open(&st, s.database, &err));
    assert_int_equal(ws_store_run_count(st, "inproc"), 4);
    ws_plan p;
    WS_TEST_OK(ws_plan_make(&p, &s, &err));
    for (size_t i = 0; i < p.n_runs; i++) {
        ws_store_job done;
        assert_int_equal(ws_study_run_state(&s, st, &p.runs[i], &done), WS_RUN_DONE);
    }
    ws_runset rs;
    WS_TEST_OK(ws_store_load_runset(st, "inproc", &rs, &err));
    assert_int_equal(rs.n_members, 6); /* 3 points x 2 repetitions */
    ws_runset_free(&rs);

    /* finished but never stored (the runner was killed between the two): stored, not rerun */
    char *before = NULL, *after = NULL;
    read_record("g1-gbs32-lbs32-r2", &before);
    sqlite3_exec(ws_store_db(st), "DELETE FROM runs WHERE run_key = 'g1-gbs32-lbs32-r2'", NULL, NULL, NULL);
    assert_string_equal(p.runs[2].key, "g1-gbs32-lbs32-r2");
    ws_store_job job;
    assert_int_equal(ws_study_run_state(&s, st, &p.runs[2], &job), WS_RUN_RECORDED);
    ws_store_close(st);
    WS_TEST_OK(ws_study_run(&s, &o, &sum, &err));
    assert_int_equal(sum.already_done, 4);
    assert_int_equal(sum.ran, 0);
    read_record("g1-gbs32-lbs32-r2", &after);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* a series of its own: only its runs */
    o.only_series = "p";
    WS_TEST_OK(ws_study_run(&s, &o, &sum, &err));
    assert_int_equal(sum.planned, 4);
    o.only_series = "nope";
    assert_int_equal(ws_study_run(&s, &o, &sum, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "no series named \"nope\""));
    ws_plan_free(&p);
    ws_study_free(&s);
}

static void test_failing_run(void **state) {
    (void)state;
    ws_study s;
    /* GBS 128 is more than the 96 training samples: that run fails at its start (and says
     * why in its log); the GBS 8 runs go on */
    load(&s, "series:\n  - {name: f, points: [{gpus: 1, global_batch: 128}, {gpus: 1, global_batch: 8}]}\n");
    snprintf(s.database, sizeof s.database, "%s/f.db", dir);
    snprintf(s.runs_dir, sizeof s.runs_dir, "%s/frun", dir);
    ws_runner_opts o = ws_runner_opts_default();
    o.wattscale = getenv("WATTSCALE_BIN");
    ws_runner_summary sum;
    ws_error err = {0};
    WS_TEST_OK(ws_study_run(&s, &o, &sum, &err));
    assert_int_equal(sum.ran, 2);
    assert_int_equal(sum.failed, 2);
    char log[700];
    snprintf(log, sizeof log, "%s/frun/g1-gbs128-lbs128-r1/train.log", dir);
    char *text = NULL;
    WS_TEST_OK(ws_read_file(log, &text, NULL, &err));
    assert_non_null(strstr(text, "fewer than one global batch")); /* the train's own message, kept */
    free(text);
    ws_study_free(&s);
}

int main(void) {
    if (!getenv("WATTSCALE_BIN")) return 77;
    dir = ws_test_tmpdir("runner");
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run_and_resume), cmocka_unit_test(test_failing_run)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ws_test_rmtree(dir);
    return rc;
}
