/* tests/energy/test_nvml.c - the NVML sensor (energy/nvml.c) against the scripted stand-in
 * library tests/energy/fake_nvml.c, whose path CMake passes in $WATTSCALE_FAKE_NVML.
 * Each test writes a script (format: top of fake_nvml.c), points
 * $WATTSCALE_FAKE_NVML_CONFIG at it and opens the sensor. No GPU is needed.
 *
 * Timing: the fake integrates its scripted power over CLOCK_MONOTONIC time since nvmlInit,
 * so an energy check brackets each read between two clock readings and derives its
 * tolerance from those brackets and the counter's update period, never from a guess;
 * that holds however slow the machine (ASan, a loaded CI runner). Total sleep < 1 s. */
#include "ws_test.h"

#include "core/timeutil.h"
#include "energy/sensor.h"

#include <unistd.h>

/* ---- fixture ---------------------------------------------------------------------- */

typedef struct {
    int n;
    char lines[8][512];
} warnings;

static void collect_warning(void *ctx, const char *line) {
    warnings *w = ctx;
    if (w->n < 8) snprintf(w->lines[w->n], sizeof w->lines[0], "%s", line);
    w->n++;
}

static int warnings_contain(const warnings *w, const char *a, const char *b) {
    for (int i = 0; i < w->n && i < 8; i++)
        if (strstr(w->lines[i], a) && (!b || strstr(w->lines[i], b))) return 1;
    return 0;
}

static const char *fake_library(void) {
    const char *lib = getenv("WATTSCALE_FAKE_NVML");
    if (!lib || !*lib) fail_msg("WATTSCALE_FAKE_NVML is not set: run through ctest, or set it to libfake_nvml.so");
    return lib;
}

typedef struct {
    char dir[512];
    wsi_sensor *s;
    warnings warn;
    double open_start_s, open_end_s; /* brackets the fake's time origin (its nvmlInit) */
} fixture;

/* Writes `script`, points the fake at it and opens the sensor; returns the status. */
static ws_status open_script(fixture *fx, const char *script, ws_error *err) {
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "%s", ws_test_tmpdir("nvml"));
    char path[600];
    snprintf(path, sizeof path, "%s/fake_nvml.conf", fx->dir);
    ws_test_write_file(path, script);
    setenv("WATTSCALE_FAKE_NVML_CONFIG", path, 1);
    fx->open_start_s = ws_now_s();
    ws_status st = wsi_nvml_open(&fx->s, fake_library(), NULL, collect_warning, &fx->warn, err);
    fx->open_end_s = ws_now_s();
    return st;
}

/* Closing also undoes the fake's nvmlInit, so the next test's script is read afresh. */
static void fixture_close(fixture *fx) {
    if (fx->s) fx->s->ops->close(fx->s);
    fx->s = NULL;
    if (fx->dir[0]) ws_test_rmtree(fx->dir);
    fx->dir[0] = '\0';
    unsetenv("WATTSCALE_FAKE_NVML_CONFIG");
}

/* cmocka setup/teardown: a failed check jumps out of the test, and the teardown still
 * closes the sensor, so one failure does not cascade into the next tests. */
static int fixture_setup(void **state) {
    *state = calloc(1, sizeof(fixture));
    return *state ? 0 : -1;
}

static int fixture_teardown(void **state) {
    fixture_close(*state);
    free(*state);
    return 0;
}

static ws_device_info info_of(const fixture *fx, size_t i) {
    ws_device_info info;
    memset(&info, 0xA5, sizeof info); /* poison: every field must be written */
    fx->s->ops->device_info(fx->s, i, &info);
    return info;
}

/* Reads every device, bracketing the reads with the clock. */
static void read_all(fixture *fx, wsi_sensor_sample *out, double *t0_s, double *t1_s) {
    ws_error err = {0};
    *t0_s = ws_now_s();
    for (size_t i = 0; i < fx->s->ops->device_count(fx->s); i++) WS_TEST_OK(fx->s->ops->read(fx->s, i, &out[i], &err));
    *t1_s = ws_now_s();
}

/* ---- identity ---------------------------------------------------------------------- */

static void test_nvml_identity(void **state) {
    fixture *fx = *state;
    ws_error err = {0};
    WS_TEST_OK(open_script(fx,
                           "# two GPUs, the second one older\n"
                           "gpu name=\"NVIDIA H100 80GB HBM3\" uuid=GPU-11111111-2222-3333-4444-555555555555 "
                           "bus=00000000:1B:00.0 limit_mw=700000\n"
                           "gpu name=\"Tesla T4\" uuid=GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee bus=00000001:3E:00.0 "
                           "limit_mw=0 field_instant=no\n",
                           &err));
    assert_string_equal(fx->s->ops->name, "nvml");
    assert_int_equal(fx->s->ops->device_count(fx->s), 2);

    ws_device_info a = info_of(fx, 0);
    assert_int_equal(a.domain, WS_DOMAIN_GPU);
    assert_string_equal(a.name, "NVIDIA H100 80GB HBM3");
    assert_string_equal(a.id, "GPU-11111111-2222-3333-4444-555555555555");
    assert_string_equal(a.bus_id, "00000000:1B:00.0");
    assert_string_equal(a.backend, "nvml");
    assert_string_equal(a.power_kind, "instant");
    assert_int_equal(a.has_counter, 1);
    assert_int_equal(a.has_power, 1);
    WS_TEST_NEAR(a.power_limit_w, 700.0, 0, 0);
    WS_TEST_NEAR(a.counter_period_s, 0.1, 0, 0);
    WS_TEST_NEAR(a.wrap_after_s, 0.0, 0, 0);

    ws_device_info b = info_of(fx, 1);
    assert_string_equal(b.name, "Tesla T4");
    assert_string_equal(b.id, "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    assert_string_equal(b.bus_id, "00000001:3E:00.0");
    assert_string_equal(b.power_kind, "average"); /* no instant field: the averaged call */
    WS_TEST_NEAR(b.power_limit_w, 0.0, 0, 0);      /* the limit call failed: unknown */
    assert_int_equal(fx->warn.n, 0);
}

/* ---- energy and power over real time ------------------------------------------------ */

/* Counter readings agree with the scripted power x time: with a 100 ms update period (as
 * on the H100) and with a continuous counter. */
static void test_nvml_counter_matches_power(void **state) {
    fixture *fx = *state;
    const double p_w = 250.0, period_s = 0.1, start_j = 123456.789;
    ws_error err = {0};
    WS_TEST_OK(open_script(fx,
                           "gpu power_mw=250000 counter_period_ms=100 counter_start_mj=123456789\n"
                           "gpu power_mw=250000 counter_period_ms=0 counter_start_mj=123456789\n",
                           &err));
    wsi_sensor_sample s0[2], s1[2];
    double a0, a1, b0, b1;
    read_all(fx, s0, &a0, &a1);
    ws_sleep_s(0.3);
    read_all(fx, s1, &b0, &b1);

    for (int i = 0; i < 2; i++) {
        assert_int_equal(s0[i].has_energy, 1);
        assert_int_equal(s1[i].has_power, 1);
        WS_TEST_NEAR(s1[i].power_w, p_w, 0, 1e-9); /* mW integers, exact in J */
        /* The counter starts where the driver left it (not at 0) and is in J, not mJ. */
        assert_true(s0[i].energy_j >= start_j);
        assert_true(s0[i].energy_j <= start_j + p_w * (a1 - fx->open_start_s) + 1e-3);
    }
    /* True elapsed time between the reads lies in [b0 - a1, b1 - a0]; a counter that
     * advances every T lags the truth by [0, T) at each read, so the difference of two
     * readings is off by less than T of power either way. Plus 1 mJ of rounding. */
    double centre_s = (b0 + b1) / 2 - (a0 + a1) / 2;
    double bracket_s = (b1 - b0) / 2 + (a1 - a0) / 2;
    double d_quantised_j = s1[0].energy_j - s0[0].energy_j;
    double d_continuous_j = s1[1].energy_j - s0[1].energy_j;
    WS_TEST_NEAR(d_quantised_j, p_w * centre_s, 0, p_w * (bracket_s + period_s) + 1e-3);
    WS_TEST_NEAR(d_continuous_j, p_w * centre_s, 0, p_w * bracket_s + 2e-3);
    /* The quantised counter only moves in whole periods: 25 J steps at 250 W. */
    double steps = d_quantised_j / (p_w * period_s);
    WS_TEST_NEAR(steps, round(steps), 0, 1e-6);
    assert_true(steps >= 2);
}

/* A power step: the instant field follows it at once, the averaged call lags (so the
 * instant field is preferred), and the counter integrates both sides of the step. */
static void test_nvml_power_step(void **state) {
    fixture *fx = *state;
    const double p0_w = 100.0, p1_w = 300.0, step_s = 0.15, average_s = 1.0;
    ws_error err = {0};
    WS_TEST_OK(open_script(fx,
                           "gpu power_mw=100000 step_at_s=0.15 step_power_mw=300000 counter_period_ms=0\n"
                           "gpu power_mw=100000 step_at_s=0.15 step_power_mw=300000 field_instant=no average_ms=1000\n",
                           &err));
    assert_string_equal(info_of(fx, 0).power_kind, "instant");
    assert_string_equal(info_of(fx, 1).power_kind, "average");
    wsi_sensor_sample s0[2], s1[2];
    double a0, a1, b0, b1;
    read_all(fx, s0, &a0, &a1);
    if (a1 - fx->open_start_s >= step_s) { /* a machine too slow to read before the step */
        skip();
    }
    ws_sleep_until_s(fx->open_end_s + 0.35);
    read_all(fx, s1, &b0, &b1);

    WS_TEST_NEAR(s0[0].power_w, p0_w, 0, 1e-9);
    WS_TEST_NEAR(s1[0].power_w, p1_w, 0, 1e-9);
    /* Mean of the last 1 s, with 100 W before the fake's start: 100 + 200 W x (time since
     * the step) / 1 s, for a read at fake time in [b0 - open_end, b1 - open_start]. */
    double lo_w = p0_w + (p1_w - p0_w) * (b0 - fx->open_end_s - step_s) / average_s;
    double hi_w = p0_w + (p1_w - p0_w) * (b1 - fx->open_start_s - step_s) / average_s;
    WS_TEST_NEAR(s1[1].power_w, (lo_w + hi_w) / 2, 0, (hi_w - lo_w) / 2 + 1e-3);
    assert_true(s1[1].power_w < 0.5 * (p0_w + p1_w)); /* still far from 300 W */

    /* Energy from fake time ta to tb across the step; ta, tb and the fake's origin are
     * each known to within their bracket, and a shift of t by dt moves the integral by at
     * most p1 x dt. */
    double ta = (a0 + a1) / 2 - fx->open_start_s, tb = (b0 + b1) / 2 - fx->open_start_s;
    double want_j = p0_w * (step_s - ta) + p1_w * (tb - step_s);
    double slack_s = (a1 - a0) / 2 + (b1 - b0) / 2 + (fx->open_end_s - fx->open_start_s);
    WS_TEST_NEAR(s1[0].energy_j - s0[0].energy_j, want_j, 0, p1_w * slack_s + 2e-3);
}

/* ---- degraded GPUs ---------------------------------------------------------------- */

static void test_nvml_no_counter_warns(void **state) {
    fixture *fx = *state;
    ws_error err = {0};
    WS_TEST_OK(open_script(fx, "gpu uuid=GPU-0000000c-0000-0000-0000-000000000000 counter=no\n", &err));
    ws_device_info info = info_of(fx, 0);
    assert_int_equal(info.has_counter, 0);
    assert_int_equal(info.has_power, 1);
    WS_TEST_NEAR(info.counter_period_s, 0.0, 0, 0);
    assert_int_equal(fx->warn.n, 1);
    assert_true(warnings_contain(&fx->warn, "GPU-0000000c-0000-0000-0000-000000000000", "integrating power"));
    assert_true(warnings_contain(&fx->warn, "Not Supported", NULL)); /* NVML's words */

    wsi_sensor_sample s;
    WS_TEST_OK(fx->s->ops->read(fx->s, 0, &s, &err));
    assert_int_equal(s.has_energy, 0);
    assert_int_equal(s.has_power, 1);
    WS_TEST_NEAR(s.power_w, 100.0, 0, 1e-9);
}

/* A GPU whose calls fail opens (the failure could be passing) and then fails each read
 * with the call, the GPU and NVML's words. */
static void test_nvml_failing_reads(void **state) {
    fixture *fx = *state;
    ws_error err = {0};
    WS_TEST_OK(open_script(fx,
                           "gpu uuid=GPU-f0000000-0000-0000-0000-000000000000 fail_power=1\n"
                           "gpu uuid=GPU-f1000000-0000-0000-0000-000000000000 fail_power=1 counter=no\n",
                           &err));
    assert_int_equal(fx->s->ops->device_count(fx->s), 2);
    assert_true(warnings_contain(&fx->warn, "failed at open", "Unknown Error"));

    wsi_sensor_sample s;
    ws_error rerr = {0};
    assert_int_equal(fx->s->ops->read(fx->s, 0, &s, &rerr), WS_ESENSOR);
    assert_int_equal(rerr.code, WS_ESENSOR);
    assert_non_null(strstr(rerr.msg, "nvmlDeviceGetTotalEnergyConsumption(gpu 0, GPU-f0000000-"));
    assert_non_null(strstr(rerr.msg, "Unknown Error"));

    memset(&rerr, 0, sizeof rerr);
    assert_int_equal(fx->s->ops->read(fx->s, 1, &s, &rerr), WS_ESENSOR);
    assert_non_null(strstr(rerr.msg, "nvmlDeviceGetPowerUsage(gpu 1, GPU-f1000000-"));
    assert_non_null(strstr(rerr.msg, "Unknown Error"));
    /* A NULL err is allowed: the status alone. */
    assert_int_equal(fx->s->ops->read(fx->s, 1, &s, NULL), WS_ESENSOR);
}

/* The instant field passes its probe at open and fails later: the per-field return is
 * checked, not only the call's (NVML's call succeeds while the field fails). */
static void test_nvml_instant_field_fails_later(void **state) {
    fixture *fx = *state;
    ws_error err = {0};
    WS_TEST_OK(open_script(fx, "gpu uuid=GPU-f2000000-0000-0000-0000-000000000000 counter=no fail_power=1 "
                                "fail_after_s=0.05\n",
                           &err));
    if (fx->open_end_s - fx->open_start_s >= 0.05) { /* the probe itself may have failed */
        skip();
    }
    assert_string_equal(info_of(fx, 0).power_kind, "instant");
    ws_sleep_until_s(fx->open_end_s + 0.06);
    wsi_sensor_sample s;
    assert_int_equal(fx->s->ops->read(fx->s, 0, &s, &err), WS_ESENSOR);
    assert_non_null(strstr(err.msg, "nvmlDeviceGetFieldValues(gpu 0, GPU-f2000000-"));
    assert_non_null(strstr(err.msg, "NVML_FI_DEV_POWER_INSTANT): Unknown Error"));
}

/* Power and energy come from one nvmlDeviceGetFieldValues call where both fields answer
 * (one driver call per sample), and from two calls where the energy field does not; both
 * give the same counter. A later failure of the combined call names both fields. */
static void test_nvml_combined_fields(void **state) {
    fixture *fx = *state;
    ws_error err = {0};
    WS_TEST_OK(open_script(fx,
                           "gpu uuid=GPU-c0000000-0000-0000-0000-000000000000 counter_period_ms=0 power_mw=200000 "
                           "fail_power=1 fail_after_s=0.2\n"
                           "gpu uuid=GPU-c1000000-0000-0000-0000-000000000000 counter_period_ms=0 power_mw=200000 "
                           "field_energy=no\n",
                           &err));
    if (fx->open_end_s - fx->open_start_s >= 0.2) skip(); /* too slow a machine to script */
    wsi_sensor_sample a[2], b[2];
    for (size_t i = 0; i < 2; i++) WS_TEST_OK(fx->s->ops->read(fx->s, i, &a[i], &err));
    ws_sleep_s(0.05);
    for (size_t i = 0; i < 2; i++) WS_TEST_OK(fx->s->ops->read(fx->s, i, &b[i], &err));
    for (size_t i = 0; i < 2; i++) {
        assert_true(b[i].has_energy && b[i].has_power);
        WS_TEST_NEAR(b[i].power_w, 200, 1e-9, 0);
        /* continuous counter at 200 W: the difference is 200 W x (time between reads) */
        assert_true(b[i].energy_j - a[i].energy_j > 200 * 0.045 && b[i].energy_j - a[i].energy_j < 200 * 0.2);
    }
    ws_sleep_until_s(fx->open_end_s + 0.25);
    assert_int_equal(fx->s->ops->read(fx->s, 0, &b[0], &err), WS_ESENSOR);
    assert_non_null(strstr(err.msg, "nvmlDeviceGetFieldValues(gpu 0, GPU-c0000000-"));
    assert_non_null(strstr(err.msg, "POWER_INSTANT + TOTAL_ENERGY_CONSUMPTION): Unknown Error"));
}

/* ---- no sensor ---------------------------------------------------------------------- */

static void test_nvml_init_fails(void **state) {
    fixture *fx = *state;
    ws_error err = {0};
    assert_int_equal(open_script(fx, "init=fail\ngpu\n", &err), WS_ENOSENSOR);
    assert_null(fx->s);
    assert_int_equal(err.code, WS_ENOSENSOR);
    assert_non_null(strstr(err.msg, "nvmlInit_v2"));
    assert_non_null(strstr(err.msg, "Driver Not Loaded"));
    fixture_close(fx);

    /* Another code: the sensor is there but broken. */
    assert_int_equal(open_script(fx, "init=999\n", &err), WS_ESENSOR);
    assert_non_null(strstr(err.msg, "Unknown Error"));
}

static void test_nvml_no_gpu(void **state) {
    fixture *fx = *state;
    ws_error err = {0};
    assert_int_equal(open_script(fx, "# driver loaded, no GPU\n", &err), WS_ENOSENSOR);
    assert_null(fx->s);
    assert_non_null(strstr(err.msg, "NVML found no GPU"));
}

static void test_nvml_missing_library(void **state) {
    (void)state;
    wsi_sensor *s = (wsi_sensor *)&s; /* must be reset to NULL */
    ws_error err = {0};
    assert_int_equal(wsi_nvml_open(&s, "/nonexistent/libnvidia-ml.so.1", NULL, NULL, NULL, &err), WS_ENOSENSOR);
    assert_null(s);
    assert_int_equal(err.code, WS_ENOSENSOR);
    assert_non_null(strstr(err.msg, "/nonexistent/libnvidia-ml.so.1"));
    assert_non_null(strstr(err.msg, "WATTSCALE_NVML_LIBRARY"));
}

/* A library that loads but is not NVML (the C math library): the first missing symbol is
 * named. */
static void test_nvml_not_nvml(void **state) {
    (void)state;
    wsi_sensor *s = NULL;
    ws_error err = {0};
    assert_int_equal(wsi_nvml_open(&s, "libm.so.6", NULL, NULL, NULL, &err), WS_ESENSOR);
    assert_null(s);
    assert_non_null(strstr(err.msg, "nvmlInit_v2"));
}

/* Without a script the fake is one GPU at 100 W with a counter (what test_meter and the
 * CLI tests rely on). */
static void test_nvml_default_script(void **state) {
    (void)state;
    unsetenv("WATTSCALE_FAKE_NVML_CONFIG");
    wsi_sensor *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(wsi_nvml_open(&s, fake_library(), NULL, NULL, NULL, &err));
    assert_int_equal(s->ops->device_count(s), 1);
    wsi_sensor_sample smp;
    WS_TEST_OK(s->ops->read(s, 0, &smp, &err));
    assert_int_equal(smp.has_energy, 1);
    WS_TEST_NEAR(smp.power_w, 100.0, 0, 1e-9);
    s->ops->close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nvml_identity, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nvml_counter_matches_power, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nvml_power_step, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nvml_no_counter_warns, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nvml_failing_reads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nvml_combined_fields, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nvml_instant_field_fails_later, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nvml_init_fails, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nvml_no_gpu, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_nvml_missing_library),
        cmocka_unit_test(test_nvml_not_nvml),
        cmocka_unit_test(test_nvml_default_script),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
