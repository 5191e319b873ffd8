/* tests/study/test_store.c - the SQLite result store: migrations, ingest and read-back
 * (JSON null is SQL NULL), replace on re-ingest, has_run, refusal of bad records and of a
 * newer database, two handles on one file. With WATTSCALE_BIN set, also a real record. */
#include "ws_test.h"
#include "study/store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A run record as train/run_record.c writes it, trimmed: 2 epochs (the first without
 * energy), two devices (the CPU one unmeasured), two nodes (one without DRAM). The %s are:
 * status, totals.energy_j, epochs[1].train_loss, world.size. */
static const char record_fmt[] =
    "{\"schema\": \"wattscale.run/1\", \"status\": \"%s\", \"written_at\": \"2026-11-25T20:32:20Z\",\n"
    " \"config\": {\"model\": \"resnet50\", \"base_width\": 64, \"data\": \"imagenet:/d\", \"data_fraction\": 0.5,\n"
    "   \"global_batch\": 1024, \"local_batch\": 256, \"accum\": 1, \"epochs\": 90, \"steps\": 0,\n"
    "   \"optimizer\": \"lars\", \"lr\": 0.1, \"device\": \"cuda\", \"precision\": \"bf16\", \"seed\": 42},\n"
    " \"world\": {\"size\": %s, \"nodes\": 2, \"ranks_per_node\": 2, \"backend\": \"mpi\"},\n"
    " \"hardware\": {\"host\": \"n1\", \"gpus\": []},\n"
    " \"energy\": {\n"
    "   \"devices\": [\n"
    "     {\"kind\": \"gpu\", \"name\": \"NVIDIA H100\", \"id\": \"GPU-1234\", \"source\": \"counter\",\n"
    "      \"energy_j\": 1500.5, \"mean_power_w\": 300.25, \"max_power_w\": 410, \"uncertainty_j\": 2.5},\n"
    "     {\"kind\": \"cpu\", \"name\": \"package-0\", \"id\": \"rapl:0\", \"source\": \"none\",\n"
    "      \"energy_j\": null, \"mean_power_w\": null, \"max_power_w\": null, \"uncertainty_j\": null}],\n"
    "   \"nodes\": [\n"
    "     {\"node\": 0, \"host\": \"n1\", \"energy_by_domain_j\": {\"gpu\": 3000, \"cpu\": 400, \"dram\": 50}},\n"
    "     {\"node\": 1, \"host\": \"n2\", \"energy_by_domain_j\": {\"gpu\": 3100, \"cpu\": 410, \"dram\": null}}],\n"
    "   \"missing\": []},\n"
    " \"epochs\": [\n"
    "   {\"epoch\": 1, \"steps\": 4, \"samples\": 4096, \"train_loss\": 6.5, \"train_top1\": 0.01,\n"
    "    \"val_loss\": null, \"val_top1\": null, \"val_top5\": null, \"lr\": 0.05, \"time_s\": 10.5,\n"
    "    \"data_s\": 1.5, \"compute_s\": 8, \"comm_s\": 1, \"energy_j\": null,\n"
    "    \"energy_by_domain_j\": {\"gpu\": null, \"cpu\": null, \"dram\": null}, \"energy_source\": \"none\"},\n"
    "   {\"epoch\": 2, \"steps\": 4, \"samples\": 4096, \"train_loss\": %s, \"train_top1\": 0.02,\n"
    "    \"val_loss\": 6.25, \"val_top1\": 0.03, \"val_top5\": 0.1, \"lr\": 0.1, \"time_s\": 10.25,\n"
    "    \"data_s\": 1.25, \"compute_s\": 8, \"comm_s\": 1, \"energy_j\": 6960,\n"
    "    \"energy_by_domain_j\": {\"gpu\": 6100, \"cpu\": 810, \"dram\": 50}, \"energy_source\": \"counter\"}],\n"
    " \"totals\": {\"time_s\": 20.75, \"device_kind\": \"gpu\", \"device_hours\": 0.0230555,\n"
    "   \"energy_j\": %s, \"energy_kwh\": null,\n"
    "   \"energy_by_domain_j\": {\"gpu\": 6100, \"cpu\": 810, \"dram\": null}, \"energy_domains\": \"partial\",\n"
    "   \"samples\": 8192, \"updates\": 8, \"samples_per_device_hour\": 355316.7,\n"
    "   \"updates_per_device_hour\": 346.99, \"kwh_per_device_hour\": null, \"j_per_sample\": 0.849,\n"
    "   \"val_loss\": 6.25, \"val_top1\": 0.03, \"val_top5\": 0.1, \"resumed_times\": 0}}\n";

static char *record(const char *status, const char *energy_j, const char *train_loss, const char *world) {
    static char buf[4][8192];
    static int slot;
    char *b = buf[slot++ % 4];
    int n = snprintf(b, sizeof buf[0], record_fmt, status, world, train_loss, energy_j);
    assert_true(n > 0 && (size_t)n < sizeof buf[0]);
    return b;
}
static char *good_record(void) { return record("completed", "6960", "5.5", "4"); }

/* The one row of sql (with ?1 bound to key when key is non-NULL); the caller finalizes. */
static sqlite3_stmt *one_row(ws_store *s, const char *sql, const char *key) {
    sqlite3 *db = ws_store_db(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (key) sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: no row (%s)", sql, sqlite3_errmsg(db));
    return st;
}

static long long query_int(ws_store *s, const char *sql, const char *key) {
    sqlite3_stmt *st = one_row(s, sql, key);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

typedef struct {
    long long studies, runs, epochs, devices, nodes;
} counts;

static counts count_rows(ws_store *s) {
    counts c = {query_int(s, "SELECT count(*) FROM studies", NULL), query_int(s, "SELECT count(*) FROM runs", NULL),
                query_int(s, "SELECT count(*) FROM epochs", NULL), query_int(s, "SELECT count(*) FROM devices", NULL),
                query_int(s, "SELECT count(*) FROM nodes", NULL)};
    return c;
}

static void assert_counts(counts got, counts want) {
    assert_int_equal(got.studies, want.studies);
    assert_int_equal(got.runs, want.runs);
    assert_int_equal(got.epochs, want.epochs);
    assert_int_equal(got.devices, want.devices);
    assert_int_equal(got.nodes, want.nodes);
}

static ws_store *open_in(const char *dir, char *path, size_t size) {
    ws_error err = {0};
    ws_store *s = NULL;
    snprintf(path, size, "%s/results.db", dir);
    WS_TEST_OK(ws_store_open(&s, path, &err));
    assert_non_null(s);
    return s;
}

static void test_open_migrates(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("store");
    char path[600];
    ws_store *s = open_in(dir, path, sizeof path);
    assert_int_equal(ws_store_schema_version(s), WS_STORE_SCHEMA_VERSION);
    assert_int_equal(query_int(s, "PRAGMA user_version", NULL), WS_STORE_SCHEMA_VERSION);
    assert_int_equal(query_int(s, "PRAGMA foreign_keys", NULL), 1);
    assert_int_equal(query_int(s, "PRAGMA busy_timeout", NULL), 5000);
    sqlite3_stmt *st = one_row(s, "PRAGMA journal_mode", NULL);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(ws_store_run_count(s, NULL), 0);
    ws_store_close(s);

    /* reopening an up-to-date store migrates nothing and keeps the data */
    ws_error err = {0};
    WS_TEST_OK(ws_store_open(&s, path, &err));
    WS_TEST_OK(ws_store_ingest_run(s, "st", "r1", good_record(), &err));
    ws_store_close(s);
    WS_TEST_OK(ws_store_open(&s, path, &err));
    assert_int_equal(ws_store_schema_version(s), WS_STORE_SCHEMA_VERSION);
    assert_int_equal(ws_store_run_count(s, "st"), 1);
    ws_store_close(s);
    ws_store_close(NULL);
    ws_test_rmtree(dir);
}

static void test_ingest_reads_back(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("store");
    char path[600];
    ws_store *s = open_in(dir, path, sizeof path);
    const char *text = good_record();
    WS_TEST_OK(ws_store_ingest_run(s, "scaling", "rn50-gb1024", text, &err));
    assert_int_equal(ws_store_run_count(s, "scaling"), 1);
    assert_int_equal(ws_store_run_count(s, "other"), 0);
    assert_counts(count_rows(s), (counts){1, 1, 2, 2, 2});

    sqlite3_stmt *st = one_row(s,
                               "SELECT status, model, data, precision, device, world_size, nodes, global_batch,"
                               " local_batch, accum, data_fraction, seed, epochs, epochs_requested, time_s,"
                               " device_hours, energy_j, energy_gpu_j, energy_cpu_j, energy_dram_j, samples,"
                               " updates, kwh_per_device_hour, j_per_sample, val_loss, val_top1, val_top5,"
                               " target_metric, record_json, ingested_at, optimizer, lr"
                               " FROM runs WHERE run_key = ?1",
                               "rn50-gb1024");
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "completed");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "resnet50");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "imagenet:/d");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "bf16");
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "cuda");
    assert_int_equal(sqlite3_column_int(st, 5), 4);
    assert_int_equal(sqlite3_column_int(st, 6), 2);
    assert_int_equal(sqlite3_column_int(st, 7), 1024);
    assert_int_equal(sqlite3_column_int(st, 8), 256);
    assert_int_equal(sqlite3_column_int(st, 9), 1);
    assert_true(sqlite3_column_double(st, 10) == 0.5);
    assert_int_equal(sqlite3_column_type(st, 11), SQLITE_INTEGER);
    assert_int_equal(sqlite3_column_int(st, 11), 42);
    assert_int_equal(sqlite3_column_int(st, 12), 2);
    assert_int_equal(sqlite3_column_int(st, 13), 90);
    assert_true(sqlite3_column_double(st, 14) == 20.75);
    WS_TEST_NEAR(sqlite3_column_double(st, 15), 0.0230555, 0, 0);
    assert_true(sqlite3_column_double(st, 16) == 6960);
    assert_true(sqlite3_column_double(st, 17) == 6100);
    assert_true(sqlite3_column_double(st, 18) == 810);
    assert_int_equal(sqlite3_column_type(st, 19), SQLITE_NULL); /* dram null: NULL, not 0 */
    assert_true(sqlite3_column_double(st, 20) == 8192);
    assert_int_equal(sqlite3_column_int(st, 21), 8);
    assert_int_equal(sqlite3_column_type(st, 22), SQLITE_NULL);
    WS_TEST_NEAR(sqlite3_column_double(st, 23), 0.849, 0, 0);
    assert_true(sqlite3_column_double(st, 24) == 6.25);
    assert_true(sqlite3_column_double(st, 25) == 0.03);
    assert_true(sqlite3_column_double(st, 26) == 0.1);
    assert_int_equal(sqlite3_column_type(st, 27), SQLITE_NULL); /* absent key: NULL */
    assert_string_equal((const char *)sqlite3_column_text(st, 28), text);
    assert_int_equal(strlen((const char *)sqlite3_column_text(st, 29)), strlen("2026-11-25T20:32:20Z"));
    assert_string_equal((const char *)sqlite3_column_text(st, 30), "lars");
    assert_true(sqlite3_column_double(st, 31) == 0.1);
    sqlite3_finalize(st);

    /* epoch 1: no energy, no validation -> NULLs; epoch 2: numbers */
    st = one_row(s,
                 "SELECT e.val_loss, e.val_top1, e.energy_j, e.energy_gpu_j, e.energy_source, e.train_loss,"
                 " e.time_s, e.comm_s, e.steps"
                 " FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.run_key = ?1 AND e.epoch = 1",
                 "rn50-gb1024");
    for (int i = 0; i < 4; i++) assert_int_equal(sqlite3_column_type(st, i), SQLITE_NULL);
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "none");
    assert_true(sqlite3_column_double(st, 5) == 6.5);
    assert_true(sqlite3_column_double(st, 6) == 10.5);
    assert_true(sqlite3_column_double(st, 7) == 1);
    assert_int_equal(sqlite3_column_int(st, 8), 4);
    sqlite3_finalize(st);
    st = one_row(s,
                 "SELECT e.val_loss, e.val_top1, e.energy_j, e.energy_gpu_j, e.energy_source, e.train_loss,"
                 " e.energy_dram_j, e.lr"
                 " FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.run_key = ?1 AND e.epoch = 2",
                 "rn50-gb1024");
    assert_true(sqlite3_column_double(st, 0) == 6.25);
    assert_true(sqlite3_column_double(st, 1) == 0.03);
    assert_true(sqlite3_column_double(st, 2) == 6960);
    assert_true(sqlite3_column_double(st, 3) == 6100);
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "counter");
    assert_true(sqlite3_column_double(st, 5) == 5.5);
    assert_true(sqlite3_column_double(st, 6) == 50);
    assert_true(sqlite3_column_double(st, 7) == 0.1);
    sqlite3_finalize(st);

    /* devices: the GPU measured, the CPU not */
    st = one_row(s, "SELECT name, device_id, source, energy_j, mean_power_w, max_power_w, uncertainty_j"
                    " FROM devices WHERE kind = ?1", "gpu");
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "NVIDIA H100");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "GPU-1234");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "counter");
    assert_true(sqlite3_column_double(st, 3) == 1500.5);
    assert_true(sqlite3_column_double(st, 4) == 300.25);
    assert_true(sqlite3_column_double(st, 5) == 410);
    assert_true(sqlite3_column_double(st, 6) == 2.5);
    sqlite3_finalize(st);
    st = one_row(s, "SELECT source, energy_j, mean_power_w, max_power_w, uncertainty_j FROM devices WHERE kind = ?1",
                 "cpu");
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "none");
    for (int i = 1; i < 5; i++) assert_int_equal(sqlite3_column_type(st, i), SQLITE_NULL);
    sqlite3_finalize(st);

    /* nodes */
    st = one_row(s, "SELECT node, energy_gpu_j, energy_cpu_j, energy_dram_j FROM nodes WHERE host = ?1", "n2");
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    assert_true(sqlite3_column_double(st, 1) == 3100);
    assert_true(sqlite3_column_double(st, 2) == 410);
    assert_int_equal(sqlite3_column_type(st, 3), SQLITE_NULL);
    sqlite3_finalize(st);
    assert_int_equal(query_int(s, "SELECT sum(energy_dram_j) FROM nodes", NULL), 50);

    /* a record without energy at all */
    WS_TEST_OK(ws_store_ingest_run(s, "scaling", "no-energy", record("completed", "null", "5.5", "4"), &err));
    assert_int_equal(query_int(s, "SELECT energy_j IS NULL FROM runs WHERE run_key = ?1", "no-energy"), 1);
    ws_store_close(s);
    ws_test_rmtree(dir);
}

static void test_reingest_replaces(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("store");
    char path[600];
    ws_store *s = open_in(dir, path, sizeof path);
    WS_TEST_OK(ws_store_ingest_run(s, "st", "a", record("running", "6960", "5.5", "4"), &err));
    WS_TEST_OK(ws_store_ingest_run(s, "st", "b", good_record(), &err));
    counts before = count_rows(s);
    assert_counts(before, (counts){1, 2, 4, 4, 4});

    WS_TEST_OK(ws_store_ingest_run(s, "st", "a", record("completed", "7000.5", "4.75", "8"), &err));
    assert_counts(count_rows(s), before);
    sqlite3_stmt *st = one_row(s, "SELECT status, energy_j, world_size FROM runs WHERE run_key = ?1", "a");
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "completed");
    assert_true(sqlite3_column_double(st, 1) == 7000.5);
    assert_int_equal(sqlite3_column_int(st, 2), 8);
    sqlite3_finalize(st);
    st = one_row(s,
                 "SELECT e.train_loss FROM epochs e JOIN runs r ON r.id = e.run_id"
                 " WHERE r.run_key = ?1 AND e.epoch = 2",
                 "a");
    assert_true(sqlite3_column_double(st, 0) == 4.75);
    sqlite3_finalize(st);
    /* no orphans: every child row belongs to a stored run */
    assert_int_equal(query_int(s,
                               "SELECT (SELECT count(*) FROM epochs WHERE run_id NOT IN (SELECT id FROM runs))"
                               " + (SELECT count(*) FROM devices WHERE run_id NOT IN (SELECT id FROM runs))"
                               " + (SELECT count(*) FROM nodes WHERE run_id NOT IN (SELECT id FROM runs))",
                               NULL),
                     0);
    /* the same key in another study is another run */
    WS_TEST_OK(ws_store_ingest_run(s, "st2", "a", good_record(), &err));
    assert_int_equal(ws_store_run_count(s, "st"), 2);
    assert_int_equal(ws_store_run_count(s, "st2"), 1);
    assert_int_equal(ws_store_run_count(s, NULL), 3);
    ws_store_close(s);
    ws_test_rmtree(dir);
}

static void test_has_run(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("store");
    char path[600];
    ws_store *s = open_in(dir, path, sizeof path);
    static const struct {
        const char *status;
        int done;
    } cases[] = {{"completed", 1}, {"target_reached", 1}, {"running", 0}, {"failed", 0}, {"interrupted", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        WS_TEST_OK(ws_store_ingest_run(s, "st", cases[i].status, record(cases[i].status, "1", "1", "1"), &err));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(ws_store_has_run(s, "st", cases[i].status), cases[i].done);
    assert_int_equal(ws_store_has_run(s, "st", "never-ran"), 0);
    assert_int_equal(ws_store_has_run(s, "other-study", "completed"), 0);
    assert_int_equal(ws_store_has_run(NULL, "st", "completed"), 0);
    /* a failed run re-run to completion counts as done */
    WS_TEST_OK(ws_store_ingest_run(s, "st", "failed", record("completed", "1", "1", "1"), &err));
    assert_int_equal(ws_store_has_run(s, "st", "failed"), 1);
    assert_int_equal(ws_store_run_count(s, "st"), 5);
    ws_store_close(s);
    ws_test_rmtree(dir);
}

static void test_bad_records_change_nothing(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("store");
    char path[600];
    ws_store *s = open_in(dir, path, sizeof path);
    WS_TEST_OK(ws_store_ingest_run(s, "st", "r", good_record(), &err));
    counts before = count_rows(s);

    char truncated[8192];
    snprintf(truncated, sizeof truncated, "%s", good_record());
    truncated[strlen(truncated) / 2] = 0;
    char bad_type[8192], dup_epoch[8192], no_epoch[8192], bad_int[8192], bad_nested[8192];
    /* the good record with one substring replaced */
    struct {
        char *buf;
        const char *from, *to;
    } edits[] = {
        {bad_type, "\"energy_j\": 6960,", "\"energy_j\": \"6960\","},
        {dup_epoch, "\"epoch\": 2,", "\"epoch\": 1,"},
        {no_epoch, "\"epoch\": 2,", ""},
        {bad_int, "\"seed\": 42", "\"seed\": 4.5"},
        {bad_nested, "\"world\": {\"size\": 4, \"nodes\": 2, \"ranks_per_node\": 2, \"backend\": \"mpi\"}",
         "\"world\": [4]"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        const char *g = good_record();
        const char *at = strstr(g, edits[i].from);
        assert_non_null(at);
        snprintf(edits[i].buf, 8192, "%.*s%s%s", (int)(at - g), g, edits[i].to, at + strlen(edits[i].from));
    }
    static const char wrong_schema_fmt[] = "{\"schema\": \"wattscale.measure/1\", \"status\": \"completed\"}";
    const struct {
        const char *text, *want_in_msg;
    } cases[] = {
        {truncated, "not valid JSON"},
        {"{\"status\": \"completed\"} trailing", "not valid JSON"},
        {"", "not valid JSON"},
        {"[1, 2]", "expected a JSON object"},
        {"{\"status\": \"completed\", \"config\": {}, \"totals\": {}}", "\"schema\" is missing"},
        {wrong_schema_fmt, "wattscale.measure/1"},
        {"{\"schema\": \"wattscale.run/2\", \"status\": \"completed\"}", "wattscale.run/2"},
        {"{\"schema\": \"wattscale.run/1\", \"config\": {}, \"totals\": {}}", "status: missing"},
        {"{\"schema\": \"wattscale.run/1\", \"status\": 1, \"config\": {}, \"totals\": {}}", "status: expected a string"},
        {"{\"schema\": \"wattscale.run/1\", \"status\": \"completed\", \"config\": {}}", "totals: missing"},
        {"{\"schema\": \"wattscale.run/1\", \"status\": \"completed\", \"config\": {}, \"totals\": {},"
         " \"epochs\": {}}",
         "epochs: expected an array"},
        {bad_type, "epochs[1].energy_j: expected a number or null, got a string"},
        {dup_epoch, "epochs[1]"},
        {no_epoch, "epochs[1].epoch: missing"},
        {bad_int, "config.seed: expected an integer"},
        {bad_nested, "world.size: expected an object at \"world\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* under the stored run's key: a bad record must not replace a good one */
        memset(&err, 0, sizeof err);
        ws_status st = ws_store_ingest_run(s, "st", "r", cases[i].text, &err);
        if (st != WS_EFORMAT) fail_msg("case %zu: %s, want WS_EFORMAT (%s)", i, ws_status_name(st), err.msg);
        if (!strstr(err.msg, cases[i].want_in_msg) || !strstr(err.msg, "run record r"))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].want_in_msg);
        assert_int_equal(ws_store_ingest_run(s, "new-study", "new", cases[i].text, &err), WS_EFORMAT);
        assert_counts(count_rows(s), before);
        assert_int_equal(ws_store_has_run(s, "st", "r"), 1);
    }
    assert_int_equal(query_int(s, "SELECT count(*) FROM studies WHERE name = ?1", "new-study"), 0);
    assert_int_equal(ws_store_ingest_run(s, "st", "r", NULL, &err), WS_EINVAL);
    assert_int_equal(ws_store_ingest_run(s, "", "r", good_record(), &err), WS_EINVAL);
    assert_int_equal(ws_store_ingest_run(s, "st", NULL, good_record(), &err), WS_EINVAL);
    /* the store still takes good records afterwards (no transaction left open) */
    WS_TEST_OK(ws_store_ingest_run(s, "st", "r2", good_record(), &err));
    assert_int_equal(ws_store_run_count(s, "st"), 2);
    ws_store_close(s);
    ws_test_rmtree(dir);
}

static void test_newer_or_foreign_db_refused(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("store");
    char path[600];
    snprintf(path, sizeof path, "%s/future.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x); PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    ws_store *s = (ws_store *)&err; /* poisoned: must come back NULL */
    assert_int_equal(ws_store_open(&s, path, &err), WS_ENOTSUP);
    assert_null(s);
    assert_non_null(strstr(err.msg, "schema version 99"));
    assert_non_null(strstr(err.msg, "newer"));
    assert_non_null(strstr(err.msg, path));
    /* left untouched: still version 99, still not WAL */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 99);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "delete");
    sqlite3_finalize(st);
    sqlite3_close(db);

    snprintf(path, sizeof path, "%s/not-a-db.db", dir);
    ws_test_write_file(path, "this is a run.json, not a database; this is a run.json, not a database\n");
    assert_int_equal(ws_store_open(&s, path, &err), WS_EFORMAT);
    assert_null(s);
    assert_non_null(strstr(err.msg, "not a SQLite database"));

    snprintf(path, sizeof path, "%s/no/such/dir/x.db", dir);
    assert_int_not_equal(ws_store_open(&s, path, &err), WS_OK);
    assert_null(s);
    assert_int_equal(ws_store_open(&s, NULL, &err), WS_EINVAL);
    ws_test_rmtree(dir);
}

static void test_two_handles(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("store");
    char path[600];
    snprintf(path, sizeof path, "%s/shared.db", dir);
    ws_store *a = NULL, *b = NULL;
    /* both open the file before either has written: the second finds the schema done */
    WS_TEST_OK(ws_store_open(&a, path, &err));
    WS_TEST_OK(ws_store_open(&b, path, &err));
    assert_int_equal(ws_store_schema_version(b), WS_STORE_SCHEMA_VERSION);
    WS_TEST_OK(ws_store_ingest_run(a, "st", "from-a", good_record(), &err));
    assert_int_equal(ws_store_has_run(b, "st", "from-a"), 1);

    /* WAL: b holds a read transaction (an analysis query mid-way) while a writes */
    sqlite3 *bdb = ws_store_db(b);
    sqlite3_stmt *reader = NULL;
    assert_int_equal(sqlite3_prepare_v2(bdb, "SELECT run_key FROM runs", -1, &reader, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(reader), SQLITE_ROW);
    WS_TEST_OK(ws_store_ingest_run(a, "st", "from-a-2", good_record(), &err));
    sqlite3_finalize(reader);
    WS_TEST_OK(ws_store_ingest_run(b, "st", "from-b", good_record(), &err));
    assert_int_equal(ws_store_run_count(a, "st"), 3);
    assert_int_equal(ws_store_run_count(b, "st"), 3);
    ws_store_close(a);
    ws_store_close(b);
    ws_test_rmtree(dir);
}

/* Processes racing to create one new store: each opens it, migrates or finds it migrated,
 * and stores its run. */
static void test_processes_race_on_new_file(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("store");
    char path[600];
    snprintf(path, sizeof path, "%s/race.db", dir);
    enum { N = 6 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            ws_error err = {0};
            ws_store *s = NULL;
            char key[16];
            snprintf(key, sizeof key, "p%d", i);
            ws_status st = ws_store_open(&s, path, &err);
            if (st == WS_OK) st = ws_store_ingest_run(s, "race", key, good_record(), &err);
            if (st != WS_OK) fprintf(stderr, "child %d: %s\n", i, err.msg);
            ws_store_close(s);
            _exit(st == WS_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int ws = 0;
        assert_int_equal(waitpid(pids[i], &ws, 0), pids[i]);
        assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    ws_error err = {0};
    ws_store *s = NULL;
    WS_TEST_OK(ws_store_open(&s, path, &err));
    assert_int_equal(ws_store_run_count(s, "race"), N);
    assert_int_equal(query_int(s, "SELECT count(*) FROM studies", NULL), 1);
    ws_store_close(s);
    ws_test_rmtree(dir);
}

static void test_ingest_file(void **state) {
    (void)state;
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("store");
    char path[600], run_dir[600], file[700];
    ws_store *s = open_in(dir, path, sizeof path);
    snprintf(run_dir, sizeof run_dir, "%s/rn50-gb256-seed1", dir);
    assert_int_equal(mkdir(run_dir, 0755), 0);
    snprintf(file, sizeof file, "%s/run.json", run_dir);
    ws_test_write_file(file, good_record());

    WS_TEST_OK(ws_store_ingest_file(s, "st", NULL, run_dir, &err));
    assert_int_equal(ws_store_has_run(s, "st", "rn50-gb256-seed1"), 1);
    char slashed[700];
    snprintf(slashed, sizeof slashed, "%s/", run_dir); /* a trailing slash names the same run */
    WS_TEST_OK(ws_store_ingest_file(s, "st", "", slashed, &err));
    WS_TEST_OK(ws_store_ingest_file(s, "st", NULL, file, &err)); /* the file itself: its folder's name */
    assert_int_equal(ws_store_run_count(s, "st"), 1);
    WS_TEST_OK(ws_store_ingest_file(s, "st", "given-key", run_dir, &err));
    assert_int_equal(ws_store_has_run(s, "st", "given-key"), 1);
    assert_int_equal(ws_store_run_count(s, "st"), 2);

    snprintf(file, sizeof file, "%s/missing", dir);
    assert_int_equal(ws_store_ingest_file(s, "st", NULL, file, &err), WS_EIO);
    assert_non_null(strstr(err.msg, "missing"));
    ws_store_close(s);
    ws_test_rmtree(dir);
}

/* A record the real trainer wrote, when the test runs beside the CLI (WATTSCALE_BIN). */
static void test_real_record(void **state) {
    (void)state;
    const char *bin = getenv("WATTSCALE_BIN");
    if (!bin || !bin[0]) skip();
    ws_error err = {0};
    const char *dir = ws_test_tmpdir("store");
    char path[600], out[600], msg[4096] = "";
    snprintf(out, sizeof out, "%s/tiny", dir);
    const char *args[] = {"train", "--model", "resnet18", "--width", "4", "--data", "synthetic",
                          "--synthetic-shape", "3x16x16", "--synthetic-classes", "5", "--synthetic-count", "128",
                          "--global-batch", "32", "--steps", "5", "--out", out, "--quiet", NULL};
    int rc = ws_test_run(bin, args, 0, 0, msg, sizeof msg);
    if (rc != 0) fail_msg("wattscale train exited %d: %s", rc, msg);
    ws_store *s = open_in(dir, path, sizeof path);
    WS_TEST_OK(ws_store_ingest_file(s, "real", NULL, out, &err));
    assert_int_equal(ws_store_has_run(s, "real", "tiny"), 1);
    assert_int_equal(query_int(s, "SELECT updates FROM runs WHERE run_key = ?1", "tiny"), 5);
    assert_int_equal(query_int(s, "SELECT count(*) FROM epochs", NULL),
                     query_int(s, "SELECT epochs FROM runs WHERE run_key = ?1", "tiny"));
    ws_store_close(s);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_migrates),
        cmocka_unit_test(test_ingest_reads_back),
        cmocka_unit_test(test_reingest_replaces),
        cmocka_unit_test(test_has_run),
        cmocka_unit_test(test_bad_records_change_nothing),
        cmocka_unit_test(test_newer_or_foreign_db_refused),
        cmocka_unit_test(test_two_handles),
        cmocka_unit_test(test_processes_race_on_new_file),
        cmocka_unit_test(test_ingest_file),
        cmocka_unit_test(test_real_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
