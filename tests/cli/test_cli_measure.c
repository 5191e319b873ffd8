/* tests/cli/test_cli_measure.c - `wattscale measure` as a user runs it: exit status and
 * signals pass through, bad flags and missing commands give the documented messages, the
 * JSON report has the documented schema, and sensors are found through the environment
 * overrides (a fake NVML library, a fake powercap tree). WATTSCALE_BIN is the program. */
#include "ws_test.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int status;       /* exit code, or 128+signal */
    char err[16384];  /* stderr */
} run_result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void run_ws(const char *const *args, int sig, double sig_after_s, run_result *r) {
    const char *bin = getenv("WATTSCALE_BIN");
    assert_non_null(bin);
    r->status = ws_test_run(bin, args, sig, sig_after_s, r->err, sizeof r->err);
}

static cJSON *read_json(const char *path) { return ws_test_read_json(path); }

static void test_exit_status_passes_through(void **state) {
    (void)state;
    run_result r;
    const char *dir = ws_test_tmpdir("cli");
    char json[600];
    snprintf(json, sizeof json, "%s/m.json", dir);
    const char *args[] = {"measure", "--interval", "10", "--json", json, "--", "sh", "-c", "sleep 0.2; exit 3", NULL};
    run_ws(args, 0, 0, &r);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "exited 3"));
    cJSON *j = read_json(json);
    assert_string_equal(cJSON_GetObjectItem(j, "schema")->valuestring, "wattscale.measure/1");
    assert_int_equal(cJSON_GetObjectItem(j, "exit_code")->valueint, 3);
    double dur = cJSON_GetObjectItem(j, "duration_s")->valuedouble;
    assert_true(dur >= 0.2 && dur < 5);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "devices")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "missing")));
    cJSON *totals = cJSON_GetObjectItem(j, "totals");
    /* a total exists exactly when some device was measured; else it is null, not 0 */
    int measured = cJSON_GetArraySize(cJSON_GetObjectItem(j, "devices")) > 0;
    assert_int_equal(cJSON_IsNumber(cJSON_GetObjectItem(totals, "energy_j")), measured);
    assert_int_equal(cJSON_IsNull(cJSON_GetObjectItem(totals, "energy_j")), !measured);
    assert_int_equal(cJSON_IsObject(cJSON_GetObjectItem(j, "footprint")), measured);
    cJSON_Delete(j);
    ws_test_rmtree(dir);
}

static void test_death_by_signal_gives_128_plus_n(void **state) {
    (void)state;
    run_result r;
    const char *args[] = {"measure", "--quiet", "--", "sh", "-c", "kill -TERM $$", NULL};
    run_ws(args, 0, 0, &r);
    assert_int_equal(r.status, 128 + SIGTERM);
}

static void test_sigint_is_forwarded(void **state) {
    (void)state;
    run_result r;
    const char *args[] = {"measure", "--quiet", "--", "sleep", "30", NULL};
    double t0 = now_s();
    run_ws(args, SIGINT, 0.5, &r);
    assert_true(now_s() - t0 < 10);       /* the child got the signal: no 30 s wait */
    assert_int_equal(r.status, 128 + SIGINT); /* sleep dies of SIGINT; we report it as a shell would */
}

static void test_command_not_found_and_bad_flags(void **state) {
    (void)state;
    run_result r;
    const char *a1[] = {"measure", "--", "/nonexistent/program", NULL};
    run_ws(a1, 0, 0, &r);
    assert_int_equal(r.status, 127);
    assert_non_null(strstr(r.err, "cannot run '/nonexistent/program'"));
    const char *a2[] = {"measure", "--interval", "5", "--", "true", NULL};
    run_ws(a2, 0, 0, &r);
    assert_int_equal(r.status, 125);
    assert_non_null(strstr(r.err, "--interval wants a number from 10"));
    const char *a3[] = {"measure", "--bogus", "--", "true", NULL};
    run_ws(a3, 0, 0, &r);
    assert_int_equal(r.status, 125);
    assert_non_null(strstr(r.err, "unknown option '--bogus'"));
    const char *a4[] = {"measure", NULL};
    run_ws(a4, 0, 0, &r);
    assert_int_equal(r.status, 125);
    assert_non_null(strstr(r.err, "no command given"));
    const char *a5[] = {"measure", "--json", "/nonexistent/dir/x.json", "--", "true", NULL};
    run_ws(a5, 0, 0, &r);
    assert_int_equal(r.status, 125); /* the command succeeded but the report was lost: say so */
    assert_non_null(strstr(r.err, "/nonexistent/dir/x.json"));
    const char *a6[] = {"nonsense", NULL};
    run_ws(a6, 0, 0, &r);
    assert_int_equal(r.status, 2);
}

/* Sensors found through the documented overrides: a fake NVML library and a fake
 * powercap tree (static counters: identity only; the arithmetic is test_powercap's). */
static void test_sensors_through_environment_overrides(void **state) {
    (void)state;
    const char *lib = getenv("WATTSCALE_FAKE_NVML");
    if (!lib) skip();
    const char *dir = ws_test_tmpdir("cli-sensors");
    char path[700], json[700];
    snprintf(path, sizeof path, "%s/nvml.conf", dir);
    ws_test_write_file(path, "gpu name=\"Fake GPU\" uuid=GPU-cli-0 counter=yes counter_period_ms=100 power_mw=150000\n");
    setenv("WATTSCALE_FAKE_NVML_CONFIG", path, 1);
    setenv("WATTSCALE_NVML_LIBRARY", lib, 1);
    snprintf(path, sizeof path, "%s/powercap", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/powercap/intel-rapl:0", dir);
    mkdir(path, 0755);
    const char *files[][2] = {{"name", "package-0\n"}, {"energy_uj", "1000000\n"}, {"max_energy_range_uj", "262143328850\n"}};
    for (int i = 0; i < 3; i++) {
        char f[800];
        snprintf(f, sizeof f, "%s/%s", path, files[i][0]);
        ws_test_write_file(f, files[i][1]);
    }
    snprintf(path, sizeof path, "%s/powercap", dir);
    setenv("WATTSCALE_POWERCAP_ROOT", path, 1);
    snprintf(json, sizeof json, "%s/m.json", dir);
    run_result r;
    const char *args[] = {"measure", "--interval", "10", "--json", json, "--", "sleep", "0.5", NULL};
    run_ws(args, 0, 0, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "Fake GPU"));
    assert_non_null(strstr(r.err, "package-0"));
    assert_non_null(strstr(r.err, "not measured: dram"));
    cJSON *j = read_json(json);
    cJSON *devs = cJSON_GetObjectItem(j, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 2);
    int seen_gpu = 0, seen_cpu = 0;
    cJSON *d;
    cJSON_ArrayForEach(d, devs) {
        const char *kind = cJSON_GetObjectItem(d, "kind")->valuestring;
        double e = cJSON_GetObjectItem(d, "energy_j")->valuedouble;
        double dur = cJSON_GetObjectItem(d, "duration_s")->valuedouble;
        if (!strcmp(kind, "gpu")) {
            seen_gpu = 1;
            assert_string_equal(cJSON_GetObjectItem(d, "id")->valuestring, "GPU-cli-0");
            assert_string_equal(cJSON_GetObjectItem(d, "source")->valuestring, "counter");
            WS_TEST_NEAR(e, 150 * dur, 0, 2 * 0.1 * 150); /* within two counter periods */
        } else if (!strcmp(kind, "cpu")) {
            seen_cpu = 1;
            WS_TEST_NEAR(e, 0, 0, 1e-9); /* the fake counter never moved */
            assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "integral_energy_j")));
        }
    }
    assert_true(seen_gpu && seen_cpu);
    cJSON *missing = cJSON_GetObjectItem(j, "missing");
    assert_int_equal(cJSON_GetArraySize(missing), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(missing, 0), "kind")->valuestring, "dram");
    cJSON_Delete(j);
    ws_test_rmtree(dir);
}

/* --gpus: one of two fake GPUs metered, the other listed as left out; an unknown UUID is
 * our error (125) naming it. */
static void test_gpus_flag_selects_by_uuid(void **state) {
    (void)state;
    const char *lib = getenv("WATTSCALE_FAKE_NVML");
    if (!lib) skip();
    const char *dir = ws_test_tmpdir("cli-gpus");
    char path[700], json[700];
    snprintf(path, sizeof path, "%s/nvml.conf", dir);
    ws_test_write_file(path, "gpu name=\"Theirs\" uuid=GPU-00000000-0000-0000-0000-0000000000aa power_mw=300000\n"
                             "gpu name=\"Ours\" uuid=GPU-00000000-0000-0000-0000-0000000000bb power_mw=100000\n");
    setenv("WATTSCALE_FAKE_NVML_CONFIG", path, 1);
    setenv("WATTSCALE_NVML_LIBRARY", lib, 1);
    snprintf(json, sizeof json, "%s/m.json", dir);
    run_result r;
    const char *args[] = {"measure", "--sensors", "nvml", "--gpus", "GPU-00000000-0000-0000-0000-0000000000BB",
                          "--json", json, "--", "sleep", "0.3", NULL};
    run_ws(args, 0, 0, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "left out: gpu Theirs (GPU-00000000-0000-0000-0000-0000000000aa): not selected"));
    cJSON *j = read_json(json);
    cJSON *devs = cJSON_GetObjectItem(j, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(devs, 0), "name")->valuestring, "Ours");
    cJSON *out = cJSON_GetObjectItem(j, "left_out");
    assert_int_equal(cJSON_GetArraySize(out), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 0), "id")->valuestring,
                        "GPU-00000000-0000-0000-0000-0000000000aa");
    cJSON_Delete(j);
    const char *unknown[] = {"measure", "--gpus", "GPU-12345678-0000-0000-0000-000000000000", "--", "true", NULL};
    run_ws(unknown, 0, 0, &r);
    assert_int_equal(r.status, 125);
    assert_non_null(strstr(r.err, "GPU-12345678-0000-0000-0000-000000000000"));
    const char *empty[] = {"measure", "--gpus", ",", "--", "true", NULL};
    run_ws(empty, 0, 0, &r);
    assert_int_equal(r.status, 125);
    assert_non_null(strstr(r.err, "--gpus"));
    ws_test_rmtree(dir);
}

static void test_version_lists_optional_parts(void **state) {
    (void)state;
    run_result r;
    const char *bin = getenv("WATTSCALE_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --version", bin);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(r.err, 1, sizeof r.err - 1, f);
    r.err[n] = 0;
    assert_int_equal(pclose(f), 0);
    assert_non_null(strstr(r.err, "wattscale "));
    assert_non_null(strstr(r.err, "cuda"));
    assert_non_null(strstr(r.err, "nccl"));
    assert_non_null(strstr(r.err, "mpi"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status_passes_through),
        cmocka_unit_test(test_death_by_signal_gives_128_plus_n),
        cmocka_unit_test(test_sigint_is_forwarded),
        cmocka_unit_test(test_command_not_found_and_bad_flags),
        cmocka_unit_test_teardown(test_sensors_through_environment_overrides, ws_test_env_restore),
        cmocka_unit_test_teardown(test_gpus_flag_selects_by_uuid, ws_test_env_restore),
        cmocka_unit_test(test_version_lists_optional_parts),
    };
    return cmocka_run_group_tests(tests, ws_test_env_save, NULL);
}
