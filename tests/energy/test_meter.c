/* tests/energy/test_meter.c - the meter's arithmetic against a scripted in-process sensor
 * whose true energy is known in closed form: totals, counter vs integral, uncertainty,
 * regions (nested), idle baseline, read failures, decimated series, CSV, missing domains,
 * and the footprint. Sensors of real kinds are tested in test_nvml.c and test_powercap.c;
 * the meter over the fake NVML library is tested at the end of this file. */
#include "ws_test.h"
#include "core/timeutil.h"
#include "energy/meter_internal.h"
#include "wattscale/energy.h"

#include <stdatomic.h>
#include <unistd.h>

/* ---- a scripted sensor: power p(t) known exactly, counter quantised to a period ---- */

typedef struct {
    const char *name;
    ws_domain domain;
    int has_counter, has_power;
    double period_s;       /* counter update period; 0: continuous */
    double p0_w, p1_w;     /* power before and after step_s */
    double step_s;
    int fail;              /* every read fails */
} script_dev;

typedef struct {
    wsi_sensor base;
    script_dev dev[4];
    size_t n;
    double t0;             /* set at the first read: time zero of the script */
    /* reads so far; atomic: the test polls them while the sampler thread reads */
    atomic_size_t full_reads, power_reads;
    /* when each successful read happened (script clock, s; all devices in turn): the
     * meter's lock orders the reads, the test looks after ws_meter_stop */
    double read_s[4096];
    size_t n_read_s;
} script_sensor;

static double script_energy(const script_dev *d, double t) {
    if (t <= d->step_s) return d->p0_w * t;
    return d->p0_w * d->step_s + d->p1_w * (t - d->step_s);
}

static size_t sc_count(const wsi_sensor *s) { return ((const script_sensor *)s)->n; }

static void sc_info(const wsi_sensor *s, size_t i, ws_device_info *out) {
    const script_dev *d = &((const script_sensor *)s)->dev[i];
    memset(out, 0, sizeof *out);
    out->domain = d->domain;
    snprintf(out->name, sizeof out->name, "%s", d->name);
    snprintf(out->id, sizeof out->id, "fake:%s", d->name);
    snprintf(out->backend, sizeof out->backend, "fake");
    snprintf(out->power_kind, sizeof out->power_kind, "%s", d->has_power ? "instant" : "derived");
    out->has_counter = d->has_counter;
    out->has_power = 1;
    out->counter_period_s = d->period_s;
}

static ws_status sc_read(wsi_sensor *s, size_t i, wsi_sensor_sample *out, ws_error *err) {
    script_sensor *sc = (script_sensor *)s;
    sc->full_reads++;
    const script_dev *d = &sc->dev[i];
    if (d->fail) {
        if (err) snprintf(err->msg, sizeof err->msg, "scripted failure of %s", d->name);
        return WS_ESENSOR;
    }
    double now = ws_now_s();
    if (sc->t0 == 0) sc->t0 = now;
    double t = now - sc->t0;
    if (sc->n_read_s < sizeof sc->read_s / sizeof sc->read_s[0]) sc->read_s[sc->n_read_s++] = t;
    double tq = d->period_s > 0 ? floor(t / d->period_s) * d->period_s : t;
    out->has_energy = d->has_counter;
    out->energy_j = 1000.0 + script_energy(d, tq); /* arbitrary origin, as real counters have */
    out->has_power = d->has_power;
    out->power_w = t <= d->step_s ? d->p0_w : d->p1_w;
    return WS_OK;
}

static void sc_close(wsi_sensor *s) { free(s); }

/* power alone, as NVML offers: the meter reads the counter less often */
static ws_status sc_read_power(wsi_sensor *s, size_t i, wsi_sensor_sample *out, ws_error *err) {
    script_sensor *sc = (script_sensor *)s;
    ws_status st = sc_read(s, i, out, err);
    sc->full_reads--;
    sc->power_reads++;
    out->has_energy = 0;
    out->energy_j = 0;
    return st;
}

static const wsi_sensor_ops script_ops = {"script", sc_count, sc_info, sc_read, sc_close, NULL};
static const wsi_sensor_ops script_ops_power = {"script", sc_count, sc_info, sc_read, sc_close, sc_read_power};

static ws_meter *open_scripted_opts(const script_dev *devs, size_t n, ws_meter_opts o, const wsi_sensor_ops *ops,
                                    script_sensor **out_sensor) {
    ws_meter *m = NULL;
    ws_error err = {0};
    o.sensors = 0; /* no real sensors: only the scripted one */
    WS_TEST_OK(ws_meter_open(&m, &o, &err));
    script_sensor *s = calloc(1, sizeof *s);
    s->base.ops = ops;
    memcpy(s->dev, devs, n * sizeof *devs);
    s->n = n;
    WS_TEST_OK(wsi_meter_add_sensor(m, &s->base, &err));
    if (out_sensor) *out_sensor = s;
    return m;
}

static ws_meter *open_scripted(const script_dev *devs, size_t n, double interval_ms, size_t series_capacity,
                               FILE *csv, script_sensor **out_sensor) {
    ws_meter_opts o = ws_meter_opts_default();
    o.interval_ms = interval_ms;
    o.csv = csv;
    if (series_capacity) o.series_capacity = series_capacity;
    return open_scripted_opts(devs, n, o, &script_ops, out_sensor);
}

/* Waits until a read counter of the sensor (boundary reads included) reaches `reads`, or
 * fails after 60 s. A fixed sleep cannot promise a number of samples: on a loaded machine
 * (or under ASan) the sampler thread may run late for the whole sleep. So a test that needs
 * N samples waits for them; only a meter that stops sampling fails here. */
static void wait_for_reads(const atomic_size_t *counter, size_t reads) {
    double t0 = ws_now_s();
    while (atomic_load(counter) < reads) {
        if (ws_now_s() - t0 > 60)
            fail_msg("the sampler thread read the sensor %zu times in 60 s, want %zu", (size_t)atomic_load(counter),
                     reads);
        ws_sleep_s(0.005);
    }
}

/* The longest time between two samples of device i from the start (its series, so the
 * stop's read too), s: what one sampling interval can smear is bounded by it, where a fixed
 * 5 ms would be wrong whenever the sampler thread ran late. */
static double longest_gap_s(const ws_meter *m, size_t i) {
    const double *t, *p;
    size_t n = ws_meter_series(m, i, &t, &p);
    double gap = 0, prev = 0;
    for (size_t k = 0; k < n; k++) {
        if (t[k] - prev > gap) gap = t[k] - prev;
        prev = t[k];
    }
    return gap;
}

/* ---- tests ---- */

static void test_totals_counter_integral_and_uncertainty(void **state) {
    (void)state;
    script_dev devs[] = {
        {"gpu-step", WS_DOMAIN_GPU, 1, 1, 0.05, 100, 300, 0.3, 0}, /* counter + instant power, a step */
        {"gpu-nocounter", WS_DOMAIN_GPU, 0, 1, 0, 50, 50, 0, 0},   /* power only */
        {"package-0", WS_DOMAIN_CPU, 1, 0, 0.001, 20, 20, 0, 0},   /* RAPL-like: counter only */
    };
    ws_error err = {0};
    script_sensor *sc = NULL;
    ws_meter *m = open_scripted(devs, 3, 5, 0, NULL, &sc);
    assert_int_equal(ws_meter_device_count(m), 3);
    double wall0 = ws_now_s();
    WS_TEST_OK(ws_meter_start(m, &err));
    ws_sleep_s(0.6);
    wait_for_reads(&sc->full_reads, 3 * 52); /* 3 devices: the start's read, 51 ticks (0.26 s unloaded) */
    WS_TEST_OK(ws_meter_stop(m, &err));
    double wall_s = ws_now_s() - wall0;
    ws_device_energy e[3];
    WS_TEST_OK(ws_meter_read(m, e, &err));
    double dur = e[0].duration_s;
    assert_true(dur > 0.55 && dur <= wall_s); /* the 0.6 s slept, within the calls' own time */

    /* gpu-step: the counter is the source; the truth over [0, dur] lies within the
     * uncertainty (period x edge power) of the reported figure. */
    double truth = script_energy(&devs[0], dur);
    assert_int_equal(e[0].source, WS_SOURCE_COUNTER);
    assert_true(e[0].has_counter && e[0].has_integral);
    WS_TEST_NEAR(e[0].uncertainty_j, 0.05 * 300, 1e-9, 1e-9);
    WS_TEST_NEAR(e[0].energy_j, truth, 0, e[0].uncertainty_j + 1e-6);
    /* the trapezoids smear the step over one sampling interval (5 ms unloaded): error
     * <= 100 W x its length; twice that, plus slack for the clocks' microseconds */
    double gap = longest_gap_s(m, 0), integral_tol = 200 * gap + 0.5;
    WS_TEST_NEAR(e[0].integral_energy_j, truth, 0, integral_tol);
    double difference_j = e[0].integral_energy_j - e[0].counter_energy_j;
    WS_TEST_NEAR(e[0].difference_rel, difference_j / e[0].counter_energy_j, 1e-9, 0);
    assert_true(fabs(difference_j) <= e[0].uncertainty_j + integral_tol); /* within both errors */
    WS_TEST_NEAR(e[0].max_power_w, 300, 1e-9, 0);
    WS_TEST_NEAR(e[0].mean_power_w, e[0].energy_j / dur, 1e-12, 0);

    /* gpu-nocounter: integral is the source, exact for constant power */
    assert_int_equal(e[1].source, WS_SOURCE_POWER_INTEGRAL);
    assert_false(e[1].has_counter);
    WS_TEST_NEAR(e[1].energy_j, 50 * e[1].duration_s, 1e-9, 1e-9);
    WS_TEST_NEAR(e[1].mean_power_w, 50, 1e-9, 0);

    /* package-0: counter, power derived from it; no independent integral */
    assert_int_equal(e[2].source, WS_SOURCE_COUNTER);
    assert_false(e[2].has_integral);
    WS_TEST_NEAR(e[2].energy_j, 20 * e[2].duration_s, 0, 20 * 0.001 * 2 + 1e-6);
    WS_TEST_NEAR(e[2].mean_power_w, 20, 0.01, 0);
    /* the 51 ticks waited for (plus the stop's read), never more than one per interval:
     * the sampler does not burst after falling behind */
    assert_true(e[2].samples > 50);
    assert_true(e[2].samples <= e[2].duration_s / 0.005 + 2);
    assert_true(ws_meter_sampler_cpu_s(m) >= 0);
    ws_meter_close(m);
}

/* With a cheap power read, the counter is read at the boundaries and every
 * counter_refresh_ms only; the figures stay those of the counter. */
static void test_counter_refresh_limits_counter_reads(void **state) {
    (void)state;
    script_dev devs[] = {{"gpu", WS_DOMAIN_GPU, 1, 1, 0.0, 150, 150, 0, 0}};
    ws_meter_opts o = ws_meter_opts_default();
    o.interval_ms = 5;
    o.counter_refresh_ms = 100;
    script_sensor *sc = NULL;
    ws_meter *m = open_scripted_opts(devs, 1, o, &script_ops_power, &sc);
    ws_error err = {0};
    WS_TEST_OK(ws_meter_start(m, &err));
    ws_sleep_s(0.5);
    wait_for_reads(&sc->power_reads, 60); /* ~95 in 0.5 s unloaded */
    WS_TEST_OK(ws_meter_stop(m, &err));
    ws_device_energy e;
    WS_TEST_OK(ws_meter_read(m, &e, &err));
    /* Counter reads: start, stop and one per 100 ms at most (5 in 0.5 s unloaded), derived
     * from the measured duration so that a late stop does not fail it. At least one
     * refresh: a power-only tick comes within 100 ms of a counter read, and the ticks reach
     * past 0.3 s (tick k comes no earlier than k x 5 ms after the start). */
    size_t full = atomic_load(&sc->full_reads), power = atomic_load(&sc->power_reads);
    if (full < 3 || full > 2 + e.duration_s / 0.1 + 1)
        fail_msg("%zu counter reads in %.3f s with a 100 ms refresh (%zu power reads)", full, e.duration_s, power);
    assert_true(power >= 60); /* the rest power only */
    assert_int_equal(e.source, WS_SOURCE_COUNTER);
    WS_TEST_NEAR(e.energy_j, 150 * e.duration_s, 1e-3, 0.01);
    WS_TEST_NEAR(e.integral_energy_j, 150 * e.duration_s, 1e-3, 0.01);
    ws_meter_close(m);
    /* counter_refresh_ms 0: the counter at every tick */
    o.counter_refresh_ms = 0;
    m = open_scripted_opts(devs, 1, o, &script_ops_power, &sc);
    WS_TEST_OK(ws_meter_start(m, &err));
    ws_sleep_s(0.1);
    wait_for_reads(&sc->full_reads, 11); /* ticks happened, and each read the counter */
    WS_TEST_OK(ws_meter_stop(m, &err));
    assert_int_equal(atomic_load(&sc->power_reads), 0);
    ws_meter_close(m);
}

static void test_regions_nested(void **state) {
    (void)state;
    script_dev devs[] = {{"gpu", WS_DOMAIN_GPU, 1, 1, 0.0, 100, 400, 0.25, 0}};
    ws_error err = {0};
    ws_meter *m = open_scripted(devs, 1, 5, 0, NULL, NULL);
    WS_TEST_OK(ws_meter_start(m, &err));
    int outer = -1, low = -1, high = -1;
    WS_TEST_OK(ws_meter_region_begin(m, "epoch", &outer, &err));
    WS_TEST_OK(ws_meter_region_begin(m, "low", &low, &err));
    ws_sleep_s(0.1);
    WS_TEST_OK(ws_meter_region_end(m, low, &err));
    ws_sleep_s(0.25);
    WS_TEST_OK(ws_meter_region_begin(m, "high", &high, &err));
    ws_device_energy tmp;
    assert_int_equal(ws_meter_region_energy(m, high, &tmp, &err), WS_ESTATE); /* still open */
    ws_sleep_s(0.1);
    WS_TEST_OK(ws_meter_region_end(m, high, &err));
    WS_TEST_OK(ws_meter_region_end(m, outer, &err));
    assert_int_equal(ws_meter_region_end(m, outer, &err), WS_ESTATE); /* twice */
    WS_TEST_OK(ws_meter_stop(m, &err));

    assert_int_equal(ws_meter_region_count(m), 3);
    assert_string_equal(ws_meter_region_name(m, low), "low");
    assert_int_equal(ws_meter_region_depth(m, outer), 0);
    assert_int_equal(ws_meter_region_depth(m, low), 1);
    ws_device_energy eo, el, eh;
    WS_TEST_OK(ws_meter_region_energy(m, outer, &eo, &err));
    WS_TEST_OK(ws_meter_region_energy(m, low, &el, &err));
    WS_TEST_OK(ws_meter_region_energy(m, high, &eh, &err));
    /* continuous counter (period 0): each region is exact for its own power */
    WS_TEST_NEAR(el.mean_power_w, 100, 1e-3, 0); /* meter and script clocks differ by us */
    WS_TEST_NEAR(eh.mean_power_w, 400, 1e-3, 0);
    WS_TEST_NEAR(eh.max_power_w, 400, 1e-3, 0);
    assert_true(eo.energy_j > el.energy_j + eh.energy_j);
    assert_true(eo.duration_s >= el.duration_s + eh.duration_s);
    ws_meter_close(m);
}

static void test_idle_baseline(void **state) {
    (void)state;
    script_dev devs[] = {{"gpu", WS_DOMAIN_GPU, 1, 1, 0.0, 70, 70, 0, 0}};
    ws_error err = {0};
    ws_meter *m = open_scripted(devs, 1, 5, 0, NULL, NULL);
    WS_TEST_OK(ws_meter_measure_idle(m, 0.2, &err));
    WS_TEST_OK(ws_meter_start(m, &err));
    assert_int_equal(ws_meter_measure_idle(m, 0.1, &err), WS_ESTATE); /* only before start */
    ws_sleep_s(0.2);
    WS_TEST_OK(ws_meter_stop(m, &err));
    ws_device_energy e;
    WS_TEST_OK(ws_meter_read(m, &e, &err));
    assert_true(e.has_idle);
    WS_TEST_NEAR(e.idle_power_w, 70, 1e-3, 0);
    WS_TEST_NEAR(e.energy_above_idle_j, 0, 0, 0.05);
    ws_meter_close(m);
}

static void test_failing_device_reports_none_and_warns(void **state) {
    (void)state;
    script_dev devs[] = {{"broken", WS_DOMAIN_GPU, 1, 1, 0, 10, 10, 0, 1}, {"ok", WS_DOMAIN_GPU, 0, 1, 0, 10, 10, 0, 0}};
    ws_error err = {0};
    script_sensor *sc = NULL;
    ws_meter *m = open_scripted(devs, 2, 5, 0, NULL, &sc);
    WS_TEST_OK(ws_meter_start(m, &err));
    ws_sleep_s(0.05);
    wait_for_reads(&sc->full_reads, 2 * 10); /* the broken device failed at least 10 times */
    WS_TEST_OK(ws_meter_stop(m, &err));
    ws_device_energy e[2];
    WS_TEST_OK(ws_meter_read(m, e, &err));
    assert_int_equal(e[0].source, WS_SOURCE_NONE);
    assert_int_equal(e[1].source, WS_SOURCE_POWER_INTEGRAL);
    int found = 0;
    for (size_t i = 0; i < ws_meter_warning_count(m); i++)
        if (strstr(ws_meter_warning(m, i), "scripted failure of broken")) found++;
    assert_int_equal(found, 1); /* reported once, not once per sample */
    ws_meter_close(m);
}

static void test_series_is_bounded_and_ordered(void **state) {
    (void)state;
    script_dev devs[] = {{"gpu", WS_DOMAIN_GPU, 0, 1, 0, 10, 20, 0.1, 0}};
    ws_error err = {0};
    script_sensor *sc = NULL;
    ws_meter *m = open_scripted(devs, 1, 1, 16, NULL, &sc);
    WS_TEST_OK(ws_meter_start(m, &err));
    ws_sleep_s(0.3);
    wait_for_reads(&sc->full_reads, 41); /* 40 points for 16 places: decimated at least twice */
    WS_TEST_OK(ws_meter_stop(m, &err));
    const double *t, *p;
    size_t n = ws_meter_series(m, 0, &t, &p);
    assert_true(n >= 8 && n <= 16);
    for (size_t i = 1; i < n; i++) assert_true(t[i] > t[i - 1]);
    /* decimation kept the whole run, not just its start: the last point kept comes after
     * the middle one of the points offered (read 0 primes the meter, reads 1.. are points);
     * counted in reads, not seconds, so a sampler running late cannot fail it */
    size_t offered = sc->n_read_s - 1;
    assert_true(t[n - 1] >= sc->read_s[1 + offered / 2] - 1e-3);
    ws_meter_close(m);
}

static void test_csv_stream(void **state) {
    (void)state;
    script_dev devs[] = {{"gpu", WS_DOMAIN_GPU, 1, 1, 0, 10, 10, 0, 0}};
    ws_error err = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *csv = open_memstream(&buf, &len);
    script_sensor *sc = NULL;
    ws_meter *m = open_scripted(devs, 1, 10, 0, csv, &sc);
    WS_TEST_OK(ws_meter_start(m, &err));
    ws_sleep_s(0.1);
    wait_for_reads(&sc->full_reads, 5); /* the start's read (no row), 4 ticks */
    WS_TEST_OK(ws_meter_stop(m, &err));
    ws_meter_close(m);
    fclose(csv);
    assert_true(strncmp(buf, "time_s,device,kind,power_w,energy_j\n", 36) == 0);
    int rows = 0;
    for (char *c = buf; *c; c++) rows += *c == '\n';
    assert_true(rows >= 5);
    assert_non_null(strstr(buf, ",fake:gpu,gpu,10.000,"));
    free(buf);
}

static void test_missing_domains_have_reasons(void **state) {
    (void)state;
    ws_meter_opts o = ws_meter_opts_default();
    o.powercap_root = "/nonexistent/powercap";
    o.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    setenv("WATTSCALE_PERF_SYSFS_ROOT", "/nonexistent/event_source", 1);
    ws_meter *m = NULL;
    ws_error err = {0};
    WS_TEST_OK(ws_meter_open(&m, &o, &err));
    assert_int_equal(ws_meter_device_count(m), 0);
    assert_int_equal(ws_meter_missing_count(m), 3);
    for (size_t i = 0; i < 3; i++) {
        const ws_missing_domain *x = ws_meter_missing(m, i);
        assert_true(strlen(x->reason) > 10);
        if (x->domain == WS_DOMAIN_GPU) assert_non_null(strstr(x->reason, "libnvidia-ml"));
        else assert_non_null(strstr(x->reason, "/nonexistent/powercap"));
    }
    /* a meter with no device still runs and reports nothing, rather than failing */
    WS_TEST_OK(ws_meter_start(m, &err));
    WS_TEST_OK(ws_meter_stop(m, &err));
    ws_meter_close(m);
}

static void test_bad_options_and_states(void **state) {
    (void)state;
    ws_meter_opts o = ws_meter_opts_default();
    o.interval_ms = 0;
    ws_meter *m = NULL;
    ws_error err = {0};
    assert_int_equal(ws_meter_open(&m, &o, &err), WS_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "interval"));
    script_dev devs[] = {{"gpu", WS_DOMAIN_GPU, 1, 1, 0, 10, 10, 0, 0}};
    m = open_scripted(devs, 1, 10, 0, NULL, NULL);
    ws_device_energy e;
    assert_int_equal(ws_meter_stop(m, &err), WS_ESTATE);
    assert_int_equal(ws_meter_read(m, &e, &err), WS_ESTATE);
    int id;
    assert_int_equal(ws_meter_region_begin(m, "x", &id, &err), WS_ESTATE);
    ws_meter_close(m);
    ws_meter_close(NULL);
}

/* Phases split the sampled energy by the time each held: a power step that coincides with
 * a phase change lands in the right phase, within one sampling interval. */
static void test_phases_attribute_energy(void **state) {
    (void)state;
    script_dev devs[] = {{"gpu", WS_DOMAIN_GPU, 1, 1, 0.0, 50, 300, 0.2, 0}};
    ws_error err = {0};
    script_sensor *sc = NULL;
    ws_meter *m = open_scripted(devs, 1, 5, 0, NULL, &sc);
    int a = ws_meter_phase_define(m, "compute"), b = ws_meter_phase_define(m, "allreduce");
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_string_equal(ws_meter_phase_name(m, b), "allreduce");
    WS_TEST_OK(ws_meter_start(m, &err));
    /* Phases a (0.2 s, ending at the script's step), b (0.1 s), then 0 again (0.05 s; 0
     * also before a). Each change is bracketed by the clock, so the true phase times and
     * energies follow from when the changes happened, not from what the sleeps should take:
     * a late wake-up moves the step's place in the phases, and the truth with it. */
    const int order[3] = {a, b, 0};
    const double sleep_s[3] = {0.2, 0.1, 0.05};
    double lo[3], hi[3]; /* bracket of each change, script clock (0: the meter's first read) */
    for (int k = 0; k < 3; k++) {
        double t0 = ws_now_s();
        ws_meter_phase_enter(m, order[k]);
        double t1 = ws_now_s();
        lo[k] = t0 - sc->t0; /* t0 was set by the start's read, in this thread */
        hi[k] = t1 - sc->t0;
        ws_sleep_s(sleep_s[k]);
    }
    WS_TEST_OK(ws_meter_stop(m, &err));
    double ea, eb, e0, ta, tb;
    WS_TEST_OK(ws_meter_phase_energy(m, a, &ea, &ta, &err));
    WS_TEST_OK(ws_meter_phase_energy(m, b, &eb, &tb, &err));
    WS_TEST_OK(ws_meter_phase_energy(m, 0, &e0, NULL, &err));
    assert_true(ta >= lo[1] - hi[0] && ta <= hi[1] - lo[0]);
    assert_true(tb >= lo[2] - hi[1] && tb <= hi[2] - lo[1]);
    ws_device_energy e;
    WS_TEST_OK(ws_meter_read(m, &e, &err));
    /* 50 W until 0.2 s, 300 W after (unloaded: 10 J, 30 J and 15 J). The meter splits each
     * sampling interval's energy by the time each phase held in it, so only the interval
     * holding the step can misplace energy: at most 250 W x its length, for each phase. The
     * brackets' width adds at most 300 W x itself. */
    double mid[3];
    for (int k = 0; k < 3; k++) mid[k] = 0.5 * (lo[k] + hi[k]);
    double end = e.duration_s; /* the stop's read, script clock */
    double ea_truth = script_energy(&devs[0], mid[1]) - script_energy(&devs[0], mid[0]);
    double eb_truth = script_energy(&devs[0], mid[2]) - script_energy(&devs[0], mid[1]);
    double e0_truth = script_energy(&devs[0], mid[0]) + script_energy(&devs[0], end) - script_energy(&devs[0], mid[2]);
    double slack = 250 * longest_gap_s(m, 0) + 300 * (hi[0] - lo[0] + hi[1] - lo[1] + hi[2] - lo[2]) + 1e-3;
    WS_TEST_NEAR(ea, ea_truth, 0, slack);
    WS_TEST_NEAR(eb, eb_truth, 0, slack);
    WS_TEST_NEAR(e0, e0_truth, 0, slack);
    WS_TEST_NEAR(ea + eb + e0, e.integral_energy_j, 1e-9, 1e-9); /* the phases partition the integral */
    assert_int_equal(ws_meter_phase_energy(m, 7, &ea, NULL, &err), WS_EINVAL);
    ws_meter_close(m);
}

static void test_footprint(void **state) {
    (void)state;
    setenv("WATTSCALE_PUE", "1.5", 1);
    setenv("WATTSCALE_CARBON_G_PER_KWH", "400", 1);
    setenv("WATTSCALE_PRICE_PER_KWH", "0.2", 1);
    setenv("WATTSCALE_CURRENCY", "USD", 1);
    ws_footprint_opts o = ws_footprint_opts_default();
    ws_footprint f = ws_footprint_of(3.6e6, &o); /* 1 kWh */
    WS_TEST_NEAR(f.facility_energy_j, 5.4e6, 1e-12, 0);
    WS_TEST_NEAR(f.co2_g, 600, 1e-12, 0);
    WS_TEST_NEAR(f.cost, 0.3, 1e-12, 0);
    assert_string_equal(o.currency, "USD");
    setenv("WATTSCALE_PUE", "garbage", 1); /* ignored: the default stays */
    o = ws_footprint_opts_default();
    WS_TEST_NEAR(o.pue, 1.0, 0, 0);
}

/* The fake-NVML cases' fixture. A failed check jumps out of a case past its clean-up; the
 * teardown still closes what the case left: its meter (an open meter keeps the fake's
 * nvmlInit, so the next case's script would be ignored), the script's folder and the
 * environment, so that a failure stays in its case. */
typedef struct {
    ws_meter *m;
    char dir[512];
} nvml_case;

/* Starts a case: its folder, the script `text` in it, WATTSCALE_FAKE_NVML_CONFIG naming it. */
static nvml_case *nvml_case_script(void **state, const char *stem, const char *text) {
    nvml_case *c = *state;
    snprintf(c->dir, sizeof c->dir, "%s", ws_test_tmpdir(stem));
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/nvml.conf", c->dir);
    ws_test_write_file(cfg, text);
    setenv("WATTSCALE_FAKE_NVML_CONFIG", cfg, 1);
    return c;
}

static int nvml_case_setup(void **state) {
    *state = calloc(1, sizeof(nvml_case));
    return *state ? 0 : -1;
}

static int nvml_case_teardown(void **state) {
    nvml_case *c = *state;
    ws_meter_close(c->m);
    if (c->dir[0]) ws_test_rmtree(c->dir);
    free(c);
    return ws_test_env_restore(state);
}

/* The meter over the fake libnvidia-ml.so (tests/energy/fake_nvml.c): the whole path from
 * dlopen to figures, with a counter quantised to 100 ms as on the H100. */
static void test_meter_over_fake_nvml(void **state) {
    const char *lib = getenv("WATTSCALE_FAKE_NVML");
    if (!lib) skip();
    nvml_case *c =
        nvml_case_script(state, "meter-nvml",
                         "gpu name=\"Fake H100\" uuid=GPU-aaaa counter=yes counter_period_ms=100 power_mw=200000\n"
                         "gpu name=\"Fake H100\" uuid=GPU-bbbb counter=no power_mw=50000\n");
    ws_meter_opts o = ws_meter_opts_default();
    o.sensors = WS_SENSOR_NVML;
    o.nvml_library = lib;
    o.interval_ms = 10;
    o.counter_refresh_ms = 0; /* the counter at every tick, to see its period */
    ws_error err = {0};
    WS_TEST_OK(ws_meter_open(&c->m, &o, &err));
    assert_int_equal(ws_meter_device_count(c->m), 2);
    assert_string_equal(ws_meter_device(c->m, 0)->id, "GPU-aaaa");
    assert_true(ws_meter_device(c->m, 0)->has_counter);
    assert_false(ws_meter_device(c->m, 1)->has_counter);
    WS_TEST_OK(ws_meter_start(c->m, &err));
    ws_sleep_s(0.5);
    WS_TEST_OK(ws_meter_stop(c->m, &err));
    ws_device_energy e[2];
    WS_TEST_OK(ws_meter_read(c->m, e, &err));
    assert_int_equal(e[0].source, WS_SOURCE_COUNTER);
    WS_TEST_NEAR(e[0].uncertainty_j, 0.1 * 200, 1e-6, 0);
    /* the truth is 200 W x duration; the 100 ms counter may lag one period at each end */
    WS_TEST_NEAR(e[0].energy_j, 200 * e[0].duration_s, 0, e[0].uncertainty_j * 2);
    WS_TEST_NEAR(e[0].integral_energy_j, 200 * e[0].duration_s, 1e-3, 0.01);
    assert_int_equal(e[1].source, WS_SOURCE_POWER_INTEGRAL);
    WS_TEST_NEAR(e[1].energy_j, 50 * e[1].duration_s, 1e-3, 0.01);
    /* The 100 ms counter period shows up when sampled every 10 ms: each change is seen
     * within one sampling gap of when it happened, so the mean time between changes seen
     * lies within the longest gap (10 ms unloaded) of 100 ms; 0 (fewer than two changes
     * seen in 0.5 s) fails too. */
    double period = ws_meter_observed_counter_period_s(c->m, 0), gap = longest_gap_s(c->m, 0);
    if (!(period > 0 && period > 0.1 - gap - 1e-3 && period < 0.1 + gap + 1e-3))
        fail_msg("observed counter period %.4f s, want 0.1 s within the longest sampling gap %.4f s", period, gap);
}

/* GPU selection by UUID: two fake GPUs at different powers; the one left out fails every
 * power and energy read, so a single probe or read of it would show up as a warning. */
static void test_meter_selects_gpus_by_uuid(void **state) {
    const char *lib = getenv("WATTSCALE_FAKE_NVML");
    if (!lib) skip();
    nvml_case *c = nvml_case_script(state, "meter-select",
                                    "gpu name=\"Busy\" uuid=GPU-0a0a0a0a-1111-2222-3333-444444444444 power_mw=80000 "
                                    "counter_period_ms=0 fail_power=1\n"
                                    "gpu name=\"Ours\" uuid=GPU-0b0b0b0b-1111-2222-3333-444444444444 power_mw=50000 "
                                    "counter_period_ms=0\n");
    ws_meter_opts o = ws_meter_opts_default();
    o.sensors = WS_SENSOR_NVML;
    o.nvml_library = lib;
    o.interval_ms = 10;
    ws_error err = {0};

    /* select one, spelled as a user might (upper case, no prefix, a newline) */
    const char *one[] = {"0B0B0B0B-1111-2222-3333-444444444444\n", NULL};
    o.gpu_uuids = one;
    WS_TEST_OK(ws_meter_open(&c->m, &o, &err));
    assert_int_equal(ws_meter_device_count(c->m), 1);
    assert_string_equal(ws_meter_device(c->m, 0)->id, "GPU-0b0b0b0b-1111-2222-3333-444444444444");
    assert_int_equal(ws_meter_left_out_count(c->m), 1);
    assert_string_equal(ws_meter_left_out(c->m, 0)->id, "GPU-0a0a0a0a-1111-2222-3333-444444444444");
    assert_string_equal(ws_meter_left_out(c->m, 0)->name, "Busy");
    assert_string_equal(ws_meter_left_out(c->m, 0)->reason, "not selected");
    assert_null(ws_meter_left_out(c->m, 1));
    WS_TEST_OK(ws_meter_start(c->m, &err));
    ws_sleep_s(0.3);
    WS_TEST_OK(ws_meter_stop(c->m, &err));
    ws_device_energy e[1];
    WS_TEST_OK(ws_meter_read(c->m, e, &err));
    assert_int_equal(e[0].source, WS_SOURCE_COUNTER);
    WS_TEST_NEAR(e[0].energy_j, 50 * e[0].duration_s, 0, 0.05 * 50 * e[0].duration_s); /* 50 W alone, not 130 */
    assert_int_equal(ws_meter_warning_count(c->m), 0); /* the failing GPU was never touched */
    ws_meter_close(c->m);
    c->m = NULL;

    /* all (NULL): both, the failing one warns */
    o.gpu_uuids = NULL;
    WS_TEST_OK(ws_meter_open(&c->m, &o, &err));
    assert_int_equal(ws_meter_device_count(c->m), 2);
    assert_int_equal(ws_meter_left_out_count(c->m), 0);
    assert_true(ws_meter_warning_count(c->m) > 0);
    ws_meter_close(c->m);
    c->m = NULL;

    /* none ({NULL}): no GPU metered, both listed, the domain missing with the reason */
    const char *none[] = {NULL};
    o.gpu_uuids = none;
    WS_TEST_OK(ws_meter_open(&c->m, &o, &err));
    assert_int_equal(ws_meter_device_count(c->m), 0);
    assert_int_equal(ws_meter_left_out_count(c->m), 2);
    const ws_missing_domain *gpu_missing = NULL;
    for (size_t i = 0; i < ws_meter_missing_count(c->m); i++)
        if (ws_meter_missing(c->m, i)->domain == WS_DOMAIN_GPU) gpu_missing = ws_meter_missing(c->m, i);
    assert_non_null(gpu_missing);
    assert_non_null(strstr(gpu_missing->reason, "2 of the 2 GPUs NVML lists left out"));
    ws_meter_close(c->m);
    c->m = NULL;

    /* a UUID of no GPU here fails the open, naming it and the GPUs there are */
    const char *unknown[] = {"GPU-0b0b0b0b-1111-2222-3333-444444444444", "GPU-deadbeef-0000-0000-0000-000000000000",
                             NULL};
    o.gpu_uuids = unknown;
    assert_int_equal(ws_meter_open(&c->m, &o, &err), WS_EINVAL);
    assert_null(c->m);
    assert_non_null(strstr(err.msg, "GPU-deadbeef-0000-0000-0000-000000000000"));
    assert_non_null(strstr(err.msg, "GPU-0a0a0a0a-1111-2222-3333-444444444444"));

    /* not a UUID at all */
    const char *bad[] = {"cuda:0", NULL};
    o.gpu_uuids = bad;
    assert_int_equal(ws_meter_open(&c->m, &o, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "'cuda:0'"));
}

/* CUDA's cudaDeviceProp.uuid as cuda_ctx.cu prints it, NVML's form and a user's spelling
 * meet in one string. */
static void test_gpu_uuid_normalize(void **state) {
    (void)state;
    char out[96];
    assert_int_equal(ws_gpu_uuid_normalize(out, sizeof out, "GPU-8c2f14aa-0b1c-2d3e-4f50-617283940abc"), 0);
    assert_string_equal(out, "GPU-8c2f14aa-0b1c-2d3e-4f50-617283940abc");
    assert_int_equal(ws_gpu_uuid_normalize(out, sizeof out, "  gpu-8C2F14AA-0B1C-2D3E-4F50-617283940ABC\n"), 0);
    assert_string_equal(out, "GPU-8c2f14aa-0b1c-2d3e-4f50-617283940abc");
    assert_int_equal(ws_gpu_uuid_normalize(out, sizeof out, "8c2f14aa-0b1c-2d3e-4f50-617283940abc"), 0);
    assert_string_equal(out, "GPU-8c2f14aa-0b1c-2d3e-4f50-617283940abc");
    assert_int_equal(ws_gpu_uuid_normalize(out, sizeof out, "MIG-AB12"), 0);
    assert_string_equal(out, "MIG-ab12");
    assert_int_equal(ws_gpu_uuid_normalize(out, sizeof out, ""), -1);
    assert_string_equal(out, "");
    assert_int_equal(ws_gpu_uuid_normalize(out, sizeof out, "GPU-"), -1);
    assert_int_equal(ws_gpu_uuid_normalize(out, sizeof out, "GPU-12 34"), -1);
    assert_int_equal(ws_gpu_uuid_normalize(out, sizeof out, NULL), -1);
    assert_int_equal(ws_gpu_uuid_normalize(out, 8, "GPU-8c2f14aa"), -1); /* does not fit */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_totals_counter_integral_and_uncertainty),
        cmocka_unit_test(test_counter_refresh_limits_counter_reads),
        cmocka_unit_test(test_regions_nested),
        cmocka_unit_test(test_idle_baseline),
        cmocka_unit_test(test_failing_device_reports_none_and_warns),
        cmocka_unit_test(test_series_is_bounded_and_ordered),
        cmocka_unit_test(test_csv_stream),
        cmocka_unit_test_teardown(test_missing_domains_have_reasons, ws_test_env_restore),
        cmocka_unit_test(test_bad_options_and_states),
        cmocka_unit_test(test_phases_attribute_energy),
        cmocka_unit_test_teardown(test_footprint, ws_test_env_restore),
        cmocka_unit_test_setup_teardown(test_meter_over_fake_nvml, nvml_case_setup, nvml_case_teardown),
        cmocka_unit_test_setup_teardown(test_meter_selects_gpus_by_uuid, nvml_case_setup, nvml_case_teardown),
        cmocka_unit_test(test_gpu_uuid_normalize),
    };
    return cmocka_run_group_tests(tests, ws_test_env_save, NULL);
}
