/* tests/energy/test_rapl_perf.c - the RAPL perf_event sensor (energy/rapl_perf.c): its sysfs
 * parsers (energy/rapl_perf.h), a missing PMU, broken fake trees, a fake PMU type the kernel
 * rejects, and the open/read/scale path end to end on the kernel's software cpu-clock PMU
 * (present everywhere, unlike the power PMU: CI runs in a VM, where RAPL is absent). */
#include "ws_test.h"
#include "energy/rapl_perf.h"
#include "energy/sensor.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timeutil.h"

/* ---- parsers ---- */

static void expect_cpus(const char *text, const int *want, size_t nwant) {
    int cpus[16];
    size_t n = 99;
    ws_error err = {0};
    WS_TEST_OK(wsi_rapl_perf_parse_cpumask(text, "cpumask", cpus, 16, &n, &err));
    if (n != nwant) fail_msg("\"%s\": %zu CPUs, want %zu", text, n, nwant);
    for (size_t i = 0; i < n; i++)
        if (cpus[i] != want[i]) fail_msg("\"%s\": cpu[%zu] = %d, want %d", text, i, cpus[i], want[i]);
}

static void test_parse_cpumask(void **state) {
    (void)state;
    expect_cpus("0,24\n", (int[]){0, 24}, 2);
    expect_cpus("0-1\n", (int[]){0, 1}, 2);
    expect_cpus("7", (int[]){7}, 1);
    expect_cpus("0-3,8-9,112\n", (int[]){0, 1, 2, 3, 8, 9, 112}, 7);
    expect_cpus("56,0\n", (int[]){56, 0}, 2); /* file order is package order */

    const char *bad[] = {"", "\n", "x", "-1", "3-1", "0,", "0,,1", "0-", "1,1", "0-2,2", "0 1", "0-15,16"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int cpus[16];
        size_t n;
        ws_error err = {0};
        ws_status st = wsi_rapl_perf_parse_cpumask(bad[i], "/x/power/cpumask", cpus, 16, &n, &err);
        if (st != WS_EFORMAT || !strstr(err.msg, "/x/power/cpumask"))
            fail_msg("\"%s\": %s, \"%s\"", bad[i], ws_status_name(st), err.msg);
    }
}

static void test_parse_event(void **state) {
    (void)state;
    struct { const char *text; uint64_t want; } good[] = {
        {"event=0x02\n", 2}, {"event=0x01", 1}, {"event=3", 3}, {"event=0xff\n", 0xff}, {" event=0x04 \n", 4}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t config = 12345;
        ws_error err = {0};
        WS_TEST_OK(wsi_rapl_perf_parse_event(good[i].text, "energy-pkg", &config, &err));
        if (config != good[i].want) fail_msg("\"%s\": 0x%llx", good[i].text, (unsigned long long)config);
    }
    const char *bad[] = {"", "\n", "event", "event=", "ev=0x2", "event=0x100", "event=zz", "event=-1",
                         "event=0x02,umask=0x1", "event=0x02 x", "config=0x2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t config;
        ws_error err = {0};
        ws_status st = wsi_rapl_perf_parse_event(bad[i], "/x/events/energy-pkg", &config, &err);
        if (st != WS_EFORMAT || !strstr(err.msg, "/x/events/energy-pkg"))
            fail_msg("\"%s\": %s, \"%s\"", bad[i], ws_status_name(st), err.msg);
    }
}

static void test_parse_scale(void **state) {
    (void)state;
    double s = 0;
    ws_error err = {0};
    WS_TEST_OK(wsi_rapl_perf_parse_scale("2.3283064365386962890625e-10\n", "scale", &s, &err));
    assert_true(s == 0x1p-32); /* exact: the kernel prints 2^-32 in full */
    WS_TEST_OK(wsi_rapl_perf_parse_scale("6.103515625e-5", "scale", &s, &err));
    assert_true(s == 0x1p-14);
    const char *bad[] = {"", "abc", "0", "-2.3e-10", "nan", "inf", "1e-10x", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ws_status st = wsi_rapl_perf_parse_scale(bad[i], "/x/energy-pkg.scale", &s, &err);
        if (st != WS_EFORMAT || !strstr(err.msg, "/x/energy-pkg.scale"))
            fail_msg("\"%s\": %s, \"%s\"", bad[i], ws_status_name(st), err.msg);
    }
}

/* ---- fake sysfs trees ---- */

static char *join(char *out, size_t size, const char *a, const char *b) {
    if ((size_t)snprintf(out, size, "%s/%s", a, b) >= size) fail_msg("path too long: %s/%s", a, b);
    return out;
}

/* <root>/power with type, cpumask and the energy-pkg event; ram_scale NULL: no energy-ram. */
static void make_pmu(const char *root, const char *type, const char *cpumask, const char *pkg_event,
                     const char *pkg_scale, const char *ram_scale) {
    char pmu[1024], ev[1024], p[1100];
    join(pmu, sizeof pmu, root, "power");
    join(ev, sizeof ev, pmu, "events");
    if (mkdir(pmu, 0755) != 0 || mkdir(ev, 0755) != 0) fail_msg("mkdir %s: %s", ev, strerror(errno));
    ws_test_write_file(join(p, sizeof p, pmu, "type"), type);
    ws_test_write_file(join(p, sizeof p, pmu, "cpumask"), cpumask);
    ws_test_write_file(join(p, sizeof p, ev, "energy-pkg"), pkg_event);
    ws_test_write_file(join(p, sizeof p, ev, "energy-pkg.scale"), pkg_scale);
    ws_test_write_file(join(p, sizeof p, ev, "energy-pkg.unit"), "Joules\n");
    if (ram_scale) {
        ws_test_write_file(join(p, sizeof p, ev, "energy-ram"), pkg_event);
        ws_test_write_file(join(p, sizeof p, ev, "energy-ram.scale"), ram_scale);
        ws_test_write_file(join(p, sizeof p, ev, "energy-ram.unit"), "Joules\n");
    }
}

static void test_missing_pmu(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("rapl-perf");
    wsi_sensor *s = (wsi_sensor *)&s;
    ws_error err = {0};
    assert_int_equal(wsi_rapl_perf_open(&s, root, NULL, NULL, &err), WS_ENOSENSOR);
    assert_int_equal(err.code, WS_ENOSENSOR);
    assert_null(s);
    assert_non_null(strstr(err.msg, "RAPL perf PMU absent"));
    assert_non_null(strstr(err.msg, root));
    ws_test_rmtree(root);
}

/* One broken file at a time: the error names it. */
static void test_broken_trees(void **state) {
    (void)state;
    struct {
        const char *type, *cpumask, *event, *scale, *file_to_spoil, *spoiled;
        ws_status want;
        const char *in_msg;
    } cases[] = {
        {"x\n", "0\n", "event=0x02\n", "1e-9\n", NULL, NULL, WS_EFORMAT, "power/type"},
        {"99999\n", "zz\n", "event=0x02\n", "1e-9\n", NULL, NULL, WS_EFORMAT, "power/cpumask"},
        {"99999\n", "0\n", "event=0x02,umask=1\n", "1e-9\n", NULL, NULL, WS_EFORMAT, "events/energy-pkg"},
        {"99999\n", "0\n", "event=0x02\n", "-1\n", NULL, NULL, WS_EFORMAT, "events/energy-pkg.scale"},
        {"99999\n", "0\n", "event=0x02\n", "1e-9\n", "events/energy-pkg.unit", "Watts\n", WS_EFORMAT, "Watts"},
        {"99999\n", "0\n", "event=0x02\n", "1e-9\n", "events/energy-pkg.scale", NULL, WS_ESENSOR,
         "energy-pkg.scale"},
        {"99999\n", "0\n", "event=0x02\n", "1e-9\n", "events/energy-pkg", NULL, WS_ENOSENSOR, "no energy-pkg"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *root = ws_test_tmpdir("rapl-perf");
        make_pmu(root, cases[i].type, cases[i].cpumask, cases[i].event, cases[i].scale, NULL);
        if (cases[i].file_to_spoil) {
            char pmu[1024], p[1100];
            join(p, sizeof p, join(pmu, sizeof pmu, root, "power"), cases[i].file_to_spoil);
            if (cases[i].spoiled) ws_test_write_file(p, cases[i].spoiled);
            else assert_int_equal(unlink(p), 0);
        }
        wsi_sensor *s = NULL;
        ws_error err = {0};
        ws_status st = wsi_rapl_perf_open(&s, root, NULL, NULL, &err);
        if (st != cases[i].want || s != NULL || !strstr(err.msg, cases[i].in_msg))
            fail_msg("case %zu: %s, want %s with \"%s\": %s", i, ws_status_name(st),
                     ws_status_name(cases[i].want), cases[i].in_msg, err.msg);
        ws_test_rmtree(root);
    }
}

/* Some VMs pass RAPL through with energy-psys alone: absent, and the reason says so. */
static void test_psys_only_pmu(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("rapl-perf");
    make_pmu(root, "9\n", "0\n", "event=0x05\n", "2.3283064365386962890625e-10\n", NULL);
    char pmu[1024], ev[1100], from[1200], to[1200];
    join(ev, sizeof ev, join(pmu, sizeof pmu, root, "power"), "events");
    const char *sfx[] = {"", ".scale", ".unit"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(from, sizeof from, "%s/energy-pkg%s", ev, sfx[i]);
        snprintf(to, sizeof to, "%s/energy-psys%s", ev, sfx[i]);
        assert_int_equal(rename(from, to), 0);
    }
    wsi_sensor *s = NULL;
    ws_error err = {0};
    assert_int_equal(wsi_rapl_perf_open(&s, root, NULL, NULL, &err), WS_ENOSENSOR);
    assert_null(s);
    assert_non_null(strstr(err.msg, "no energy-pkg event (only energy-psys"));
    ws_test_rmtree(root);
}

/* A well-formed tree whose type number no kernel has: perf_event_open fails (ENOENT, or EPERM
 * where a seccomp profile forbids the call), and the error says which event on which CPU. */
static void test_fake_type_is_a_clear_error(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("rapl-perf");
    make_pmu(root, "99999\n", "0\n", "event=0x02\n", "2.3283064365386962890625e-10\n", "1.52587890625e-05\n");
    wsi_sensor *s = (wsi_sensor *)&s;
    ws_error err = {0};
    ws_status st = wsi_rapl_perf_open(&s, root, NULL, NULL, &err);
    assert_null(s);
    if (st != WS_ESENSOR && st != WS_EPERM) fail_msg("%s: %s", ws_status_name(st), err.msg);
    assert_int_equal(err.code, st);
    const char *want[] = {"perf_event_open", "energy-pkg", "cpu 0"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(err.msg, want[i])) fail_msg("message lacks \"%s\": %s", want[i], err.msg);
    if (st == WS_EPERM && (!strstr(err.msg, "perf_event_paranoid") || !strstr(err.msg, "CAP_PERFMON") ||
                           !strstr(err.msg, "sudo sysctl kernel.perf_event_paranoid=0")))
        fail_msg("permission message lacks the fix: %s", err.msg);
    ws_test_rmtree(root);
}

/* The whole path (one fd per CPU in cpumask, u64 read, count x scale, device order and
 * names) on PERF_TYPE_SOFTWARE / PERF_COUNT_SW_CPU_CLOCK: a CPU-wide cpu-clock counts ns of
 * wall time, so with scale 1e-9 "energy" is seconds, which we can check against a clock. */
static void test_open_read_on_software_pmu(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("rapl-perf");
    char type[16], event[32];
    snprintf(type, sizeof type, "%d\n", PERF_TYPE_SOFTWARE);
    snprintf(event, sizeof event, "event=0x%02x\n", PERF_COUNT_SW_CPU_CLOCK);
    int two = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
    make_pmu(root, type, two ? "0-1\n" : "0\n", event, "1e-9\n", "2e-9\n");
    wsi_sensor *s = NULL;
    ws_error err = {0};
    double t_before_open = ws_now_s();
    ws_status st = wsi_rapl_perf_open(&s, root, NULL, NULL, &err);
    double t_after_open = ws_now_s();
    if (st != WS_OK) {
        ws_test_rmtree(root);
        if (st == WS_EPERM || st == WS_ESENSOR) { /* no perf here (seccomp, paranoid, no perf support) */
            print_message("cannot open a CPU-wide software event here: %s\n", err.msg);
            skip();
        }
        fail_msg("%s: %s", ws_status_name(st), err.msg);
    }
    size_t npkg = two ? 2 : 1;
    assert_string_equal(s->ops->name, "rapl-perf");
    assert_int_equal(s->ops->device_count(s), 2 * npkg);
    for (size_t i = 0; i < 2 * npkg; i++) {
        ws_device_info in;
        memset(&in, 0x5a, sizeof in);
        s->ops->device_info(s, i, &in);
        char name[32], id[32];
        int dram = i >= npkg;
        snprintf(name, sizeof name, "%s-%zu", dram ? "dram" : "package", i % npkg);
        snprintf(id, sizeof id, "perf:%s:%zu", dram ? "ram" : "pkg", i % npkg);
        assert_int_equal(in.domain, dram ? WS_DOMAIN_DRAM : WS_DOMAIN_CPU);
        assert_string_equal(in.name, name);
        assert_string_equal(in.id, id);
        assert_string_equal(in.backend, "rapl-perf");
        assert_string_equal(in.power_kind, "derived");
        assert_int_equal(in.has_counter, 1);
        assert_int_equal(in.has_power, 0);
        WS_TEST_NEAR(in.counter_period_s, 0.001, 0, 0);
        WS_TEST_NEAR(in.wrap_after_s, 0, 0, 0);
    }
    ws_sleep_s(0.1);
    for (size_t i = 0; i < 2 * npkg; i++) {
        wsi_sensor_sample smp;
        double t_before_read = ws_now_s();
        WS_TEST_OK(s->ops->read(s, i, &smp, &err));
        double t_after_read = ws_now_s();
        assert_int_equal(smp.has_energy, 1);
        assert_int_equal(smp.has_power, 0);
        /* counting began inside open and the value was taken inside read; 1 ms of slack for
         * the clocks' granularity. dram's scale is 2e-9: twice the seconds. */
        double k = i >= npkg ? 2.0 : 1.0;
        double lo = k * (t_before_read - t_after_open - 1e-3), hi = k * (t_after_read - t_before_open + 1e-3);
        if (!(smp.energy_j >= lo && smp.energy_j <= hi))
            fail_msg("device %zu: %.6f, want in [%.6f, %.6f]", i, smp.energy_j, lo, hi);
    }
    s->ops->close(s);
    ws_test_rmtree(root);
}

/* The machine's own power PMU: absent in a VM; where it opens, energy must advance at a
 * believable rate. */
static void test_real_pmu_if_any(void **state) {
    (void)state;
    wsi_sensor *s = NULL;
    ws_error err = {0};
    ws_status st = wsi_rapl_perf_open(&s, NULL, NULL, NULL, &err);
    if (st != WS_OK) {
        if (st != WS_ENOSENSOR && st != WS_EPERM) fail_msg("%s: %s", ws_status_name(st), err.msg);
        print_message("no usable RAPL perf PMU here (%s): %s\n", ws_status_name(st), err.msg);
        skip();
    }
    size_t n = s->ops->device_count(s);
    double e0[64];
    wsi_sensor_sample smp;
    for (size_t i = 0; i < n && i < 64; i++) {
        WS_TEST_OK(s->ops->read(s, i, &smp, &err));
        e0[i] = smp.energy_j;
    }
    double t0 = ws_now_s();
    ws_sleep_s(0.2);
    for (size_t i = 0; i < n && i < 64; i++) {
        ws_device_info in;
        s->ops->device_info(s, i, &in);
        WS_TEST_OK(s->ops->read(s, i, &smp, &err));
        double power_w = (smp.energy_j - e0[i]) / (ws_now_s() - t0);
        print_message("%-10s %-12s %8.2f W\n", in.name, in.id, power_w);
        assert_true(power_w >= 0 && power_w < 2000);
    }
    s->ops->close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_cpumask),
        cmocka_unit_test(test_parse_event),
        cmocka_unit_test(test_parse_scale),
        cmocka_unit_test(test_missing_pmu),
        cmocka_unit_test(test_broken_trees),
        cmocka_unit_test(test_psys_only_pmu),
        cmocka_unit_test(test_fake_type_is_a_clear_error),
        cmocka_unit_test(test_open_read_on_software_pmu),
        cmocka_unit_test(test_real_pmu_if_any),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
