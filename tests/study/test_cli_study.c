/* tests/study/test_cli_study.c - `wattscale study ingest` over records `wattscale train`
 * wrote: both land, a second ingest replaces rather than duplicates, a folder without
 * records is an error naming it. */
#include "ws_test.h"
#include "study/store.h"

static char errbuf[1 << 14];

static int ws(const char *const *args) {
    return ws_test_run(getenv("WATTSCALE_BIN"), args, 0, 0, errbuf, sizeof errbuf);
}

static void test_ingest_runs(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("study");
    char run[600], db[600];
    for (int k = 0; k < 2; k++) {
        snprintf(run, sizeof run, "%s/runs/rep%d", dir, k);
        char seed[8];
        snprintf(seed, sizeof seed, "%d", k);
        const char *train[] = {"train", "--model", "resnet18", "--width", "4", "--data", "synthetic",
                               "--synthetic-shape", "3x16x16", "--synthetic-classes", "5", "--synthetic-count", "128",
                               "--global-batch", "32", "--steps", "2", "--seed", seed, "--quiet", "--out", run, NULL};
        if (ws(train) != 0) fail_msg("train failed: %s", errbuf);
    }
    snprintf(run, sizeof run, "%s/runs", dir);
    snprintf(db, sizeof db, "%s/study.db", dir);
    const char *ingest[] = {"study", "ingest", run, "--db", db, "--study", "s1", NULL};
    for (int again = 0; again < 2; again++) {
        if (ws(ingest) != 0) fail_msg("ingest failed: %s", errbuf);
        assert_non_null(strstr(errbuf, "2 run record(s) stored"));
    }
    ws_store *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_store_open(&s, db, &err));
    assert_int_equal(ws_store_run_count(s, "s1"), 2);
    assert_true(ws_store_has_run(s, "s1", "rep0"));
    assert_true(ws_store_has_run(s, "s1", "rep1"));
    ws_store_close(s);
    const char *bad[] = {"study", "ingest", "/nonexistent/runs", "--db", db, NULL};
    assert_int_equal(ws(bad), 1);
    assert_non_null(strstr(errbuf, "/nonexistent/runs"));
    const char *flag[] = {"study", "ingest", run, "--bogus", NULL};
    assert_int_equal(ws(flag), 2);
    ws_test_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ingest_runs)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
