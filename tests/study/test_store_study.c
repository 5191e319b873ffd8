/* tests/study/test_store_study.c - the store's schema v2 and v3: a v1 database (as wattscale
 * 0.1.0 wrote it) upgrades in place with its data; a forecast's skill (RMSE/std, ACC) is stored
 * per run and epoch and is the runset's metric; a run folder's sidecars (study.json,
 * slurm.json) and power.csv go in with its record, the power series downsampled with its
 * energy kept; the analysis view (runset) reads back what was stored; plans, Slurm jobs and
 * the throughput estimate round-trip. */
#include "ws_test.h"
#include "synth_record.h"
#include "core/fileutil.h"
#include "study/power_series.h"
#include "study/store.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

static long long query_int(ws_store *s, const char *sql) {
    sqlite3 *db = ws_store_db(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: no row", sql);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static double query_real(ws_store *s, const char *sql) {
    sqlite3 *db = ws_store_db(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: no row", sql);
    double v = sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_v1_upgrades(void **state) {
    (void)state;
    const char *sql_path = getenv("WATTSCALE_STORE_V1_SQL");
    if (!sql_path) skip();
    const char *dir = ws_test_tmpdir("storev1");
    char db_path[600], *sql = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_read_file(sql_path, &sql, NULL, &err));
    snprintf(db_path, sizeof db_path, "%s/v1.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) fail_msg("fixture: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    free(sql);

    ws_store *s = NULL;
    WS_TEST_OK(ws_store_open(&s, db_path, &err));
    assert_int_equal(ws_store_schema_version(s), WS_STORE_SCHEMA_VERSION);
    assert_int_equal(query_int(s, "PRAGMA user_version"), WS_STORE_SCHEMA_VERSION);
    /* v3's forecast columns exist, empty for a classification run */
    assert_int_equal(query_int(s, "SELECT count(*) FROM runs WHERE val_rmse_norm IS NULL AND val_acc IS NULL"), 1);
    assert_int_equal(query_int(s, "SELECT count(*) FROM epochs WHERE val_rmse_norm IS NULL"), 1);
    assert_int_equal(ws_store_run_count(s, "old"), 1);
    assert_true(ws_store_has_run(s, "old", "old-run"));
    /* filled from the stored record: a CPU run's hardware is its CPU */
    assert_int_equal(query_int(s, "SELECT count(*) FROM runs WHERE hardware IS NOT NULL AND hardware != ''"), 1);
    assert_int_equal(query_int(s, "SELECT resumed_times FROM runs"), 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM epochs"), 1);
    assert_int_equal(query_int(s, "SELECT count(*) FROM series_points"), 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM power_series"), 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM slurm_jobs"), 0);
    /* and it works as a v2 store: the runset view puts the plan-less run in series "runs" */
    ws_runset rs;
    WS_TEST_OK(ws_store_load_runset(s, "old", &rs, &err));
    assert_int_equal(rs.n_runs, 1);
    assert_int_equal(rs.n_members, 1);
    assert_string_equal(rs.members[0].series, "runs");
    assert_string_equal(rs.metric, "val_top1");
    ws_runset_free(&rs);
    ws_store_close(s);
    ws_test_rmtree(dir);
}

/* 2 devices every 10 ms: gpu0 constant 100 W, gpu1 a 0..200 W ramp; 10 s, then a resumed
 * session (new header, time from 0) of 5 s more */
static void write_power(const char *path, double *energy_gpu0, double *energy_gpu1) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    *energy_gpu0 = *energy_gpu1 = 0;
    for (int session = 0; session < 2; session++) {
        fprintf(f, "time_s,device,kind,power_w,energy_j\n");
        int n = session ? 500 : 1000;
        for (int i = 0; i <= n; i++) {
            double t = i * 0.01, ramp = 200.0 * (session * 10 + t) / 15.0;
            fprintf(f, "%.3f,GPU-0,gpu,100.000,0\n%.3f,GPU-1,gpu,%.3f,0\n", t, t, ramp);
            if (i < n) {
                *energy_gpu0 += 100 * 0.01;
                *energy_gpu1 += ramp * 0.01;
            }
        }
    }
    fclose(f);
}

static double integral(const ws_power_point *p, size_t n, const char *device) {
    /* windows are equal: mean power x window width, the width from the first two middles */
    double first = NAN, second = NAN, sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(p[i].device, device)) continue;
        if (k == 0) first = p[i].t_s;
        if (k == 1) second = p[i].t_s;
        sum += p[i].power_w;
        k++;
    }
    return sum * (second - first);
}

static void test_power_series(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("power");
    char path[600];
    snprintf(path, sizeof path, "%s/power.csv", dir);
    double e0, e1;
    write_power(path, &e0, &e1);
    ws_power_point *pts = NULL;
    size_t n = 0;
    ws_error err = {0};
    WS_TEST_OK(ws_power_series_read(path, 0, 100, &pts, &n, &err));
    assert_int_equal(n, 200); /* 100 windows for each device */
    double t_max = 0;
    for (size_t i = 0; i < n; i++)
        t_max = pts[i].t_s > t_max ? pts[i].t_s : t_max;
    WS_TEST_NEAR(t_max, 15 - 0.075, 0, 0.01); /* the resumed session continues at 10 s */
    WS_TEST_NEAR(integral(pts, n, "GPU-0"), e0, 0.01, 0);
    WS_TEST_NEAR(integral(pts, n, "GPU-1"), e1, 0.01, 0);
    free(pts);
    /* a malformed row names its line */
    ws_test_write_file(path, "time_s,device,kind,power_w,energy_j\n0.1,GPU-0,gpu,5,0\nnonsense\n");
    pts = NULL;
    n = 0;
    assert_int_equal(ws_power_series_read(path, 0, 100, &pts, &n, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "power.csv:3"));
    free(pts);
    ws_test_rmtree(dir);
}

static const char sidecar[] =
    "{\"schema\": \"wattscale.study-run/1\", \"study\": \"side\", \"run_key\": \"g2\", \"repetition\": 1,"
    " \"gpus\": 2, \"global_batch\": 256, \"local_batch\": 128, \"accum\": 1, \"data_fraction\": 1,"
    " \"members\": [{\"series\": \"gbs256\", \"scaling\": \"constant_gbs\", \"growing\": 0, \"point\": 1,"
    " \"repetition\": 1}, {\"series\": \"lbs128\", \"scaling\": \"constant_lbs\", \"growing\": 0, \"point\": 1,"
    " \"repetition\": 1}]}";
static const char slurm[] =
    "{\"schema\": \"wattscale.slurm-job/1\", \"job_id\": \"4242\", \"state\": \"COMPLETED\", \"elapsed_s\": 101,"
    " \"consumed_energy_j\": 45000}";

static void test_run_folder_and_runset(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("folder");
    char run[600], path[700], db[600];
    snprintf(run, sizeof run, "%s/runs/g2", dir);
    ws_synth_run r = ws_synth_run_default();
    r.world = 2;
    r.local_batch = 128;
    r.gpus_metered = 2;
    ws_synth_write_run(run, &r);
    snprintf(path, sizeof path, "%s/study.json", run);
    ws_test_write_file(path, sidecar);
    snprintf(path, sizeof path, "%s/slurm.json", run);
    ws_test_write_file(path, slurm);
    snprintf(path, sizeof path, "%s/power.csv", run);
    double e0, e1;
    write_power(path, &e0, &e1);

    snprintf(db, sizeof db, "%s/s.db", dir);
    ws_store *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_store_open(&s, db, &err));
    /* study NULL: the sidecar names it */
    WS_TEST_OK(ws_store_ingest_file(s, NULL, NULL, run, &err));
    assert_int_equal(ws_store_run_count(s, "side"), 1);
    assert_int_equal(query_int(s, "SELECT count(*) FROM series_points"), 2);
    assert_int_equal(query_int(s, "SELECT count(*) FROM power_series"), 2 * WS_STORE_POWER_POINTS);
    assert_int_equal(query_int(s, "SELECT count(*) FROM slurm_jobs WHERE job_id = '4242' AND state = 'COMPLETED'"), 1);
    WS_TEST_NEAR(query_real(s, "SELECT sacct_energy_j FROM runs"), 45000, 0, 0);
    assert_int_equal(query_int(s, "SELECT count(*) FROM runs WHERE hardware = 'NVIDIA H200'"), 1);
    /* re-ingest replaces, never duplicates */
    WS_TEST_OK(ws_store_ingest_file(s, NULL, NULL, run, &err));
    assert_int_equal(query_int(s, "SELECT count(*) FROM power_series"), 2 * WS_STORE_POWER_POINTS);
    assert_int_equal(query_int(s, "SELECT count(*) FROM series_points"), 2);
    assert_int_equal(query_int(s, "SELECT count(*) FROM slurm_jobs"), 1);

    /* a plan-less run beside it, and one that failed */
    ws_synth_run r1 = ws_synth_run_default();
    char *text = ws_synth_record_json(&r1);
    WS_TEST_OK(ws_store_ingest_run(s, "side", "g1", text, &err));
    free(text);
    r1.status = "failed";
    text = ws_synth_record_json(&r1);
    WS_TEST_OK(ws_store_ingest_run(s, "side", "g1-failed", text, &err));
    free(text);

    ws_runset rs;
    WS_TEST_OK(ws_store_load_runset(s, "side", &rs, &err));
    assert_int_equal(rs.n_runs, 3);
    const ws_run *g2 = NULL;
    for (size_t i = 0; i < rs.n_runs; i++)
        if (!strcmp(rs.runs[i].run_key, "g2")) g2 = &rs.runs[i];
    assert_non_null(g2);
    assert_int_equal(g2->world, 2);
    assert_int_equal(g2->gpu_devices, 2);
    assert_int_equal(g2->cpu_sockets, 1);
    WS_TEST_NEAR(g2->energy_j, 36000, 1e-12, 0);
    WS_TEST_NEAR(g2->energy_gpu_j, 0.8 * 36000, 1e-12, 0);
    WS_TEST_NEAR(g2->sacct_energy_j, 45000, 0, 0);
    assert_int_equal(g2->n_epochs, 2);
    WS_TEST_NEAR(rs.epochs[g2->first_epoch + 1].val_top1, 0.2, 1e-12, 0);
    assert_int_equal(g2->n_power, 2 * WS_STORE_POWER_POINTS);
    /* g2 stands for points of two series; the others fall in "runs", one point each */
    size_t in_runs = 0, in_plan = 0;
    for (size_t m = 0; m < rs.n_members; m++) {
        if (!strcmp(rs.members[m].series, "runs"))
            in_runs++;
        else
            in_plan += !strcmp(rs.runs[rs.members[m].run].run_key, "g2");
    }
    assert_int_equal(in_plan, 2);
    assert_int_equal(in_runs, 2);
    ws_runset_free(&rs);
    assert_int_equal(ws_store_load_runset(s, "nope", &rs, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "no study \"nope\""));

    /* Slurm jobs: the last one submitted is the one returned */
    ws_store_job job = {"7", "PENDING", NAN, NAN}, got;
    WS_TEST_OK(ws_store_put_job(s, "side", "g1", &job, &err));
    snprintf(job.job_id, sizeof job.job_id, "8");
    WS_TEST_OK(ws_store_put_job(s, "side", "g1", &job, &err));
    snprintf(job.state, sizeof job.state, "COMPLETED");
    job.consumed_energy_j = 123;
    WS_TEST_OK(ws_store_put_job(s, "side", "g1", &job, &err)); /* an update, not a third job */
    assert_true(ws_store_last_job(s, "side", "g1", &got));
    assert_string_equal(got.job_id, "8");
    assert_string_equal(got.state, "COMPLETED");
    WS_TEST_NEAR(got.consumed_energy_j, 123, 0, 0);
    assert_true(isnan(got.elapsed_s));
    assert_false(ws_store_last_job(s, "side", "nothing", &got));
    char status[32];
    assert_true(ws_store_run_status(s, "side", "g1-failed", status, sizeof status));
    assert_string_equal(status, "failed");
    assert_false(ws_store_run_status(s, "side", "absent", status, sizeof status));
    /* throughput of finished runs only: 25600 samples / (100 s x world) */
    size_t n = 0;
    double sps = ws_store_throughput(s, "side", "resnet50", "cuda", "bf16", &n);
    assert_int_equal(n, 2);
    WS_TEST_NEAR(sps, (256.0 + 128.0) / 2, 1e-9, 0);
    assert_true(isnan(ws_store_throughput(s, "side", "resnet18", "cuda", "bf16", &n)));
    ws_store_close(s);
    ws_test_rmtree(dir);
}

/* A FourCastNet record: the classification figures absent, the skill per run and epoch. */
static char *forecast_record(double rmse_last, double acc_last) {
    ws_synth_run r = ws_synth_run_default();
    char *text = ws_synth_record_json(&r);
    cJSON *o = cJSON_Parse(text);
    free(text);
    cJSON *config = cJSON_GetObjectItemCaseSensitive(o, "config");
    cJSON_ReplaceItemInObjectCaseSensitive(config, "model", cJSON_CreateString("afno"));
    cJSON *epochs = cJSON_GetObjectItemCaseSensitive(o, "epochs"), *e;
    int i = 0, n = cJSON_GetArraySize(epochs);
    cJSON_ArrayForEach(e, epochs) {
        cJSON_DeleteItemFromObjectCaseSensitive(e, "val_top1");
        cJSON_DeleteItemFromObjectCaseSensitive(e, "val_top5");
        cJSON_AddNumberToObject(e, "val_rmse_norm", rmse_last + 0.1 * (n - 1 - i));
        cJSON_AddNumberToObject(e, "val_acc", acc_last - 0.1 * (n - 1 - i));
        i++;
    }
    cJSON *totals = cJSON_GetObjectItemCaseSensitive(o, "totals");
    cJSON_DeleteItemFromObjectCaseSensitive(totals, "val_top1");
    cJSON_DeleteItemFromObjectCaseSensitive(totals, "val_top5");
    cJSON_AddNumberToObject(totals, "val_rmse_norm", rmse_last);
    cJSON_AddNumberToObject(totals, "val_acc", acc_last);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static void test_forecast_runs(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("forecast");
    char db[600];
    snprintf(db, sizeof db, "%s/f.db", dir);
    ws_store *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_store_open(&s, db, &err));
    char *a = forecast_record(0.25, 0.8), *b = forecast_record(0.30, 0.7);
    WS_TEST_OK(ws_store_ingest_run(s, "fc", "a", a, &err));
    WS_TEST_OK(ws_store_ingest_run(s, "fc", "b", b, &err));
    free(a);
    free(b);
    WS_TEST_NEAR(query_real(s, "SELECT val_rmse_norm FROM runs WHERE run_key = 'a'"), 0.25, 0, 0);
    WS_TEST_NEAR(query_real(s, "SELECT val_acc FROM runs WHERE run_key = 'b'"), 0.7, 0, 0);
    assert_true(isnan(query_real(s, "SELECT val_top1 FROM runs WHERE run_key = 'a'")));
    ws_runset rs;
    WS_TEST_OK(ws_store_load_runset(s, "fc", &rs, &err));
    /* no study file set a metric: every run forecasts, so the skill is it, lower better */
    assert_string_equal(rs.metric, "val_rmse_norm");
    assert_false(ws_metric_higher_is_better(rs.metric));
    assert_true(ws_metric_higher_is_better("val_acc"));
    assert_int_equal(rs.n_runs, 2);
    const ws_run *ra = &rs.runs[0];
    assert_string_equal(ra->run_key, "a");
    WS_TEST_NEAR(ws_run_metric(ra, "val_rmse_norm"), 0.25, 0, 0);
    WS_TEST_NEAR(ws_run_metric(ra, "val_acc"), 0.8, 0, 0);
    assert_true(ra->n_epochs >= 2);
    const ws_run_epoch *first = &rs.epochs[ra->first_epoch];
    WS_TEST_NEAR(ws_run_epoch_metric(first, "val_rmse_norm"), 0.25 + 0.1 * (double)(ra->n_epochs - 1), 1e-12, 0);
    assert_true(isnan(ws_run_epoch_metric(first, "val_top1")));
    assert_true(isnan(ws_run_metric(ra, "no_such_metric")));
    assert_false(ws_metric_known("val_rmse"));
    ws_runset_free(&rs);
    ws_store_close(s);
    ws_test_rmtree(dir);
}

static void test_bad_sidecar(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("badside");
    char run[600], path[700], db[600];
    snprintf(run, sizeof run, "%s/r", dir);
    ws_synth_run r = ws_synth_run_default();
    ws_synth_write_run(run, &r);
    snprintf(path, sizeof path, "%s/study.json", run);
    ws_test_write_file(path, "{\"schema\": \"something/1\"}");
    snprintf(db, sizeof db, "%s/s.db", dir);
    ws_store *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_store_open(&s, db, &err));
    assert_int_equal(ws_store_ingest_file(s, "x", NULL, run, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "study.json"));
    ws_test_write_file(path, "{\"schema\": \"wattscale.study-run/1\", \"members\": [{\"series\": \"a\"}]}");
    assert_int_equal(ws_store_ingest_file(s, "x", NULL, run, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, "members[0]"));
    assert_int_equal(ws_store_run_count(s, NULL), 0); /* nothing half-written */
    ws_store_close(s);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_v1_upgrades), cmocka_unit_test(test_power_series),
                                       cmocka_unit_test(test_run_folder_and_runset),
                                       cmocka_unit_test(test_forecast_runs), cmocka_unit_test(test_bad_sidecar)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
