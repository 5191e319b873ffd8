/* energy/meter.c - the energy meter: sensor discovery, the sampler thread, accumulation,
 * idle baseline, regions and the kept power series.
 * defines: ws_meter_* (contract in include/wattscale/energy.h), wsi_meter_add_sensor.
 *
 * Per device the meter keeps, from the start of the measurement:
 *   - the counter's energy since start (devices with a counter),
 *   - the trapezoid integral of sampled power (devices with a power reading),
 *   - the last power (read, or derived from two counter readings for RAPL).
 * A "snapshot" of those numbers is taken at start, at each region boundary and at stop;
 * every figure is the difference of two snapshots, so regions and totals are computed the
 * same way. One mutex guards all state: the sampler thread and the callers' region
 * boundaries both sample under it, so a sensor is never read by two threads at once. */
#include "energy/meter_internal.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SENSORS 8
#define MAX_WARNINGS 64

typedef struct {
    double t;           /* monotonic time of the sample, s */
    int has_energy;
    double energy_j;    /* counter energy since start */
    double integral_j;  /* power integral since start */
    double power_w;     /* power at that moment (read or derived) */
    size_t samples;
} snapshot;

typedef struct {
    ws_device_info info;
    wsi_sensor *sensor;
    size_t index;               /* device index within its sensor */
    /* accumulation since start */
    int primed;                 /* a first sample was taken */
    double raw_e0;              /* counter reading at start, J */
    double last_t, last_raw_e, last_power_w;
    int last_has_e, last_has_p;
    double last_energy_t;       /* when the counter was last read */
    double integral_at_energy_j;/* the power integral then: the CSV's energy between counter reads */
    double integral_j;
    double max_power_w;
    size_t samples;
    size_t read_errors;
    int seen_change;            /* the counter has moved once since start */
    double last_change_t;       /* when the counter last moved: observed update period */
    double change_interval_sum_s;
    size_t change_count;
    /* phases: energy attributed so far, and the phase times seen at the last sample */
    double phase_energy_j[WS_METER_MAX_PHASES];
    double phase_seen_s[WS_METER_MAX_PHASES];
    /* idle baseline */
    int has_idle;
    double idle_power_w;
    /* kept power series, decimated by 2 each time it fills */
    double *series_t, *series_p;
    size_t series_n, series_stride, series_seen;
} meter_device;

typedef struct {
    char *name;
    int depth;
    int open;
    snapshot *begin, *end;      /* one per device */
    double *max_power_w;        /* per device, over the region */
} region;

struct ws_meter {
    ws_meter_opts opts;
    wsi_sensor *sensors[MAX_SENSORS];
    size_t n_sensors;
    meter_device *dev;
    size_t n_dev;
    ws_missing_domain missing[WS_DOMAIN_COUNT];
    size_t n_missing;
    ws_left_out_device *left_out; /* GPUs found and not selected (opts.gpu_uuids) */
    size_t n_left_out;
    char *warnings[MAX_WARNINGS];
    size_t n_warnings;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int thread_running;
    int stop_requested;
    int state;                  /* 0 opened, 1 running, 2 stopped */
    double t_start, t_stop;
    double sampler_cpu_s;
    snapshot *start_snap, *stop_snap;

    region *regions;
    size_t n_regions, cap_regions;
    int open_depth;

    /* phases: own lock, so that entering one never waits for a sensor read */
    pthread_mutex_t phase_lock;
    char phase_names[WS_METER_MAX_PHASES][32];
    int n_phases;
    int phase;                  /* current */
    double phase_since;         /* when it was entered */
    double phase_closed_s[WS_METER_MAX_PHASES];
};

enum { STATE_OPENED = 0, STATE_RUNNING = 1, STATE_STOPPED = 2 };

/* ---------------------------------------------------------------- warnings */

static void add_warning(ws_meter *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_warning(ws_meter *m, const char *fmt, ...) {
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ws_log(WS_LOG_WARN, "%s", line);
    if (m->n_warnings < MAX_WARNINGS) m->warnings[m->n_warnings++] = strdup(line);
}

static void sensor_warn(void *ctx, const char *line) { add_warning((ws_meter *)ctx, "%s", line); }

static void add_missing(ws_meter *m, ws_domain d, ws_status code, const char *reason) {
    for (size_t i = 0; i < m->n_missing; i++)
        if (m->missing[i].domain == d) return;
    ws_missing_domain *x = &m->missing[m->n_missing++];
    x->domain = d;
    x->code = code;
    snprintf(x->reason, sizeof x->reason, "%s", reason);
}

/* ---------------------------------------------------------------- options */

ws_meter_opts ws_meter_opts_default(void) {
    ws_meter_opts o;
    memset(&o, 0, sizeof o);
    o.interval_ms = 100.0;
    o.sensors = WS_SENSOR_ALL;
    o.series_capacity = 4096;
    o.counter_refresh_ms = 1000.0;
    return o;
}

/* ---------------------------------------------------------------- devices */

ws_status wsi_meter_add_sensor(ws_meter *m, wsi_sensor *s, ws_error *err) {
    if (m->state != STATE_OPENED || m->n_sensors == MAX_SENSORS) {
        s->ops->close(s);
        return wsi_error(err, WS_ESTATE, "cannot add a sensor to a started meter or past %d sensors", MAX_SENSORS);
    }
    size_t n = s->ops->device_count(s);
    meter_device *grown = realloc(m->dev, (m->n_dev + n) * sizeof *grown);
    if (!grown) {
        s->ops->close(s);
        return wsi_error(err, WS_ENOMEM, "meter: no memory for %zu devices", m->n_dev + n);
    }
    m->dev = grown;
    m->sensors[m->n_sensors++] = s;
    for (size_t i = 0; i < n; i++) {
        meter_device *d = &m->dev[m->n_dev + i];
        memset(d, 0, sizeof *d);
        s->ops->device_info(s, i, &d->info);
        d->sensor = s;
        d->index = i;
        d->series_t = calloc(m->opts.series_capacity, sizeof(double));
        d->series_p = calloc(m->opts.series_capacity, sizeof(double));
        if (!d->series_t || !d->series_p) {
            free(d->series_t);
            free(d->series_p);
            m->n_dev += i; /* the devices set up so far stay owned by the meter */
            return wsi_error(err, WS_ENOMEM, "meter: no memory for the power series");
        }
        d->series_stride = 1;
        /* A counter that can wrap between two samples would lose energy silently. */
        if (d->info.wrap_after_s > 0 && m->opts.interval_ms / 1e3 > 0.5 * d->info.wrap_after_s)
            add_warning(m, "%s: its counter can wrap within %.1f s at full power, and the sampling interval "
                           "is %.0f ms: use a shorter --interval",
                        d->info.name, d->info.wrap_after_s, m->opts.interval_ms);
    }
    m->n_dev += n;
    return WS_OK;
}

static const char *env_or(const char *opt, const char *env, const char *fallback) {
    if (opt) return opt;
    const char *v = getenv(env);
    return v && *v ? v : fallback;
}

/* The GPU selection while opening: the wanted UUIDs (normalised) and which matched. */
typedef struct {
    ws_meter *m;
    char (*uuid)[96];
    int *matched;
    size_t n;
    size_t seen;   /* GPUs NVML showed us */
    int no_memory;
} gpu_selection;

static int keep_selected_gpu(void *ctx, const ws_device_info *gpu) {
    gpu_selection *sel = ctx;
    sel->seen++;
    char id[96];
    int keep = 0;
    if (ws_gpu_uuid_normalize(id, sizeof id, gpu->id) == 0)
        for (size_t k = 0; k < sel->n; k++)
            if (!strcmp(id, sel->uuid[k])) keep = sel->matched[k] = 1; /* duplicates: ranks sharing a GPU */
    if (keep) return 1;
    ws_meter *m = sel->m;
    ws_left_out_device *grown = realloc(m->left_out, (m->n_left_out + 1) * sizeof *grown);
    if (!grown) {
        sel->no_memory = 1;
        return 0;
    }
    m->left_out = grown;
    ws_left_out_device *x = &m->left_out[m->n_left_out++];
    memset(x, 0, sizeof *x);
    x->domain = gpu->domain;
    snprintf(x->name, sizeof x->name, "%s", gpu->name);
    snprintf(x->id, sizeof x->id, "%s", gpu->id);
    snprintf(x->bus_id, sizeof x->bus_id, "%s", gpu->bus_id);
    snprintf(x->reason, sizeof x->reason, "not selected");
    return 0;
}

/* Every GPU, or the selected ones; a selected UUID NVML does not list is the caller's
 * mistake (a typo, a GPU of another node, a MIG instance), not a missing sensor. */
static ws_status open_gpus(ws_meter *m, const char *const *uuids, ws_error *err) {
    ws_error e = {0};
    wsi_sensor *s = NULL;
    const char *lib = env_or(m->opts.nvml_library, "WATTSCALE_NVML_LIBRARY", NULL);
    gpu_selection sel = {.m = m};
    wsi_device_filter filter = {.keep = keep_selected_gpu, .ctx = &sel};
    ws_status st = WS_OK;
    if (uuids) {
        while (uuids[sel.n]) sel.n++;
        sel.uuid = calloc(sel.n + 1, sizeof *sel.uuid);
        sel.matched = calloc(sel.n + 1, sizeof *sel.matched);
        if (!sel.uuid || !sel.matched) {
            st = wsi_error(err, WS_ENOMEM, "meter: no memory for the GPU selection");
            goto done;
        }
        for (size_t k = 0; k < sel.n; k++)
            if (ws_gpu_uuid_normalize(sel.uuid[k], sizeof sel.uuid[k], uuids[k]) != 0) {
                st = wsi_error(err, WS_EINVAL,
                               "meter: '%s' in the GPU selection is not a GPU UUID (GPU-xxxxxxxx-xxxx-xxxx-xxxx-"
                               "xxxxxxxxxxxx, as nvidia-smi -L shows)", uuids[k]);
                goto done;
            }
    }
    ws_status nst = wsi_nvml_open(&s, lib, uuids ? &filter : NULL, sensor_warn, m, &e);
    if (sel.no_memory) {
        if (s) s->ops->close(s);
        st = wsi_error(err, WS_ENOMEM, "meter: no memory for the list of GPUs left out");
        goto done;
    }
    if (nst == WS_OK && s) {
        wsi_meter_add_sensor(m, s, &e);
    } else {
        add_missing(m, WS_DOMAIN_GPU, nst, e.msg);
    }
    for (size_t k = 0; sel.seen > 0 && k < sel.n; k++)
        if (!sel.matched[k]) {
            char listed[600] = "";
            size_t len = 0;
            for (size_t i = 0; i < m->n_dev && len < sizeof listed; i++)
                if (m->dev[i].info.domain == WS_DOMAIN_GPU)
                    len += (size_t)snprintf(listed + len, sizeof listed - len, "%s%s", len ? ", " : "", m->dev[i].info.id);
            for (size_t i = 0; i < m->n_left_out && len < sizeof listed; i++)
                len += (size_t)snprintf(listed + len, sizeof listed - len, "%s%s", len ? ", " : "", m->left_out[i].id);
            st = wsi_error(err, WS_EINVAL,
                           "meter: GPU %s (selected) matches none of the %zu GPUs NVML lists here (%s); a MIG "
                           "instance is metered through its parent GPU's UUID (nvidia-smi -L), or meter all GPUs",
                           uuids[k], sel.seen, listed);
            break;
        }
done:
    free(sel.uuid);
    free(sel.matched);
    return st;
}

static int has_domain(const ws_meter *m, ws_domain d) {
    for (size_t i = 0; i < m->n_dev; i++)
        if (m->dev[i].info.domain == d) return 1;
    return 0;
}

static void open_rapl(ws_meter *m) {
    ws_error pc = {0}, pf = {0};
    ws_status st_pc = WS_ENOSENSOR, st_pf = WS_ENOSENSOR;
    wsi_sensor *s = NULL;
    size_t before = m->n_dev;
    if (m->opts.sensors & WS_SENSOR_RAPL_POWERCAP) {
        const char *root = env_or(m->opts.powercap_root, "WATTSCALE_POWERCAP_ROOT", NULL);
        st_pc = wsi_powercap_open(&s, root, sensor_warn, m, &pc);
        if (st_pc == WS_OK && s) wsi_meter_add_sensor(m, s, &pc);
    } else {
        snprintf(pc.msg, sizeof pc.msg, "powercap not requested");
    }
    if (m->n_dev == before && (m->opts.sensors & WS_SENSOR_RAPL_PERF)) {
        s = NULL;
        st_pf = wsi_rapl_perf_open(&s, getenv("WATTSCALE_PERF_SYSFS_ROOT"), sensor_warn, m, &pf);
        if (st_pf == WS_OK && s) {
            wsi_meter_add_sensor(m, s, &pf);
            if (st_pc != WS_OK) add_warning(m, "RAPL powercap unusable, using the perf_event PMU instead: %s", pc.msg);
        }
    } else if (!(m->opts.sensors & WS_SENSOR_RAPL_PERF)) {
        snprintf(pf.msg, sizeof pf.msg, "perf_event not requested");
    }
    if (m->n_dev == before) {
        /* Prefer to explain a permission problem: it is the one the user can fix. */
        ws_status code = (st_pc == WS_EPERM || st_pf != WS_EPERM) ? st_pc : st_pf;
        char reason[sizeof pc.msg + sizeof pf.msg + 2];
        snprintf(reason, sizeof reason, "%s; %s", pc.msg, pf.msg);
        add_missing(m, WS_DOMAIN_CPU, code, reason);
        add_missing(m, WS_DOMAIN_DRAM, code, reason);
        return;
    }
    if (!has_domain(m, WS_DOMAIN_CPU))
        add_missing(m, WS_DOMAIN_CPU, WS_ENOSENSOR, "RAPL exposes no package zone on this machine");
    if (!has_domain(m, WS_DOMAIN_DRAM))
        add_missing(m, WS_DOMAIN_DRAM, WS_ENOSENSOR,
                    "RAPL exposes no dram zone on this machine (many client and AMD CPUs have none)");
}

ws_status ws_meter_open(ws_meter **out, const ws_meter_opts *opts, ws_error *err) {
    *out = NULL;
    ws_meter_opts o = opts ? *opts : ws_meter_opts_default();
    if (!(o.interval_ms >= 1.0) || o.interval_ms > 60000.0)
        return wsi_error(err, WS_EINVAL, "meter: sampling interval %.3g ms out of range (10 to 60000 ms)", o.interval_ms);
    if (!(o.counter_refresh_ms >= 0))
        return wsi_error(err, WS_EINVAL, "meter: counter refresh %.3g ms must be >= 0", o.counter_refresh_ms);
    if (o.series_capacity < 16) o.series_capacity = 16;
    o.series_capacity &= ~(size_t)1; /* even, so halving keeps whole pairs */
    ws_meter *m = calloc(1, sizeof *m);
    if (!m) return wsi_error(err, WS_ENOMEM, "meter: out of memory");
    m->opts = o;
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->phase_lock, NULL);
    snprintf(m->phase_names[0], sizeof m->phase_names[0], "none");
    m->n_phases = 1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &ca);
    pthread_condattr_destroy(&ca);
    const char *const *gpu_uuids = o.gpu_uuids;
    m->opts.gpu_uuids = NULL; /* the caller's list: not kept past open */
    if (o.sensors & WS_SENSOR_NVML) {
        ws_status st = open_gpus(m, gpu_uuids, err);
        if (st != WS_OK) {
            ws_meter_close(m);
            return st;
        }
    } else {
        add_missing(m, WS_DOMAIN_GPU, WS_ENOSENSOR, "GPU sensors not requested");
    }
    if (o.sensors & (WS_SENSOR_RAPL_POWERCAP | WS_SENSOR_RAPL_PERF)) {
        open_rapl(m);
    } else {
        add_missing(m, WS_DOMAIN_CPU, WS_ENOSENSOR, "CPU sensors not requested");
        add_missing(m, WS_DOMAIN_DRAM, WS_ENOSENSOR, "DRAM sensors not requested");
    }
    *out = m;
    return WS_OK;
}

/* ---------------------------------------------------------------- sampling */

static void series_push(ws_meter *m, meter_device *d, double t, double p) {
    size_t cap = m->opts.series_capacity;
    if (d->series_seen++ % d->series_stride != 0) return;
    if (d->series_n == cap) {
        for (size_t i = 0; i < cap / 2; i++) {
            d->series_t[i] = d->series_t[2 * i];
            d->series_p[i] = d->series_p[2 * i];
        }
        d->series_n = cap / 2;
        d->series_stride *= 2;
        /* this point may fall between kept ones: keep it anyway, spacing evens out */
    }
    d->series_t[d->series_n] = t - m->t_start;
    d->series_p[d->series_n] = p;
    d->series_n++;
}

static void update_open_regions(ws_meter *m, size_t i, double p) {
    for (size_t r = 0; r < m->n_regions; r++)
        if (m->regions[r].open && p > m->regions[r].max_power_w[i]) m->regions[r].max_power_w[i] = p;
}

/* Phase times up to t: closed stretches plus the open one. */
static void phase_times(ws_meter *m, double t, double out[WS_METER_MAX_PHASES]) {
    pthread_mutex_lock(&m->phase_lock);
    for (int k = 0; k < WS_METER_MAX_PHASES; k++) out[k] = m->phase_closed_s[k];
    if (t > m->phase_since) out[m->phase] += t - m->phase_since;
    pthread_mutex_unlock(&m->phase_lock);
}

/* Splits one sample interval's energy among the phases by the time each held in it. */
static void attribute_phases(ws_meter *m, meter_device *d, double t, double energy_j) {
    double now[WS_METER_MAX_PHASES], total = 0, delta[WS_METER_MAX_PHASES];
    phase_times(m, t, now);
    for (int k = 0; k < WS_METER_MAX_PHASES; k++) {
        delta[k] = now[k] - d->phase_seen_s[k];
        if (delta[k] < 0) delta[k] = 0;
        total += delta[k];
        d->phase_seen_s[k] = now[k];
    }
    if (total <= 0) {
        d->phase_energy_j[0] += energy_j;
        return;
    }
    for (int k = 0; k < WS_METER_MAX_PHASES; k++) d->phase_energy_j[k] += energy_j * delta[k] / total;
}

/* Reads device i once and folds the reading into its accumulators. Lock held. `full`
 * asks for the counter too; otherwise a sensor with a cheap power read (NVML) gives power
 * alone unless the counter is due (counter_refresh_ms). */
static void sample_device(ws_meter *m, size_t i, double t, int full) {
    meter_device *d = &m->dev[i];
    wsi_sensor_sample s = {0};
    ws_error e = {0};
    int power_only = !full && d->primed && d->info.has_counter && d->sensor->ops->read_power &&
                     t - d->last_energy_t < m->opts.counter_refresh_ms / 1e3;
    ws_status st = power_only ? d->sensor->ops->read_power(d->sensor, d->index, &s, &e)
                              : d->sensor->ops->read(d->sensor, d->index, &s, &e);
    if (st != WS_OK) {
        if (d->read_errors++ == 0) add_warning(m, "%s: read failed (later failures not repeated): %s", d->info.name, e.msg);
        return;
    }
    if (!d->primed) {
        d->primed = 1;
        d->raw_e0 = s.energy_j;
        d->last_t = t;
        d->last_raw_e = s.energy_j;
        d->last_has_e = s.has_energy;
        d->last_power_w = s.has_power ? s.power_w : 0.0;
        d->last_has_p = s.has_power;
        d->last_energy_t = t;
        d->integral_at_energy_j = 0;
        phase_times(m, t, d->phase_seen_s);
        d->samples = 1;
        if (s.has_power) d->max_power_w = s.power_w;
        return;
    }
    double dt = t - d->last_t;
    double p = s.power_w;
    if (s.has_energy && d->last_has_e && s.energy_j != d->last_raw_e) {
        if (d->seen_change) {
            d->change_interval_sum_s += t - d->last_change_t;
            d->change_count++;
        }
        d->seen_change = 1;
        d->last_change_t = t;
    }
    if (s.has_power) {
        if (d->last_has_p && dt > 0) d->integral_j += 0.5 * (p + d->last_power_w) * dt;
    } else if (s.has_energy && d->last_has_e && dt > 0) {
        /* RAPL: power derived from the counter between two samples */
        p = (s.energy_j - d->last_raw_e) / dt;
    } else {
        p = d->last_power_w;
    }
    if (p > d->max_power_w) d->max_power_w = p;
    if (dt > 0) attribute_phases(m, d, t, s.has_power ? 0.5 * (p + d->last_power_w) * dt : p * dt);
    d->last_t = t;
    if (s.has_energy) {
        d->last_raw_e = s.energy_j;
        d->last_energy_t = t;
        d->integral_at_energy_j = d->integral_j;
    }
    if (!power_only) d->last_has_e = s.has_energy; /* a power-only read says nothing of the counter */
    d->last_power_w = p;
    d->last_has_p = s.has_power;
    d->samples++;
    update_open_regions(m, i, p);
    series_push(m, d, t, p);
    if (m->opts.csv) {
        /* between counter reads: the last counter value plus the power integral since */
        double energy_j = d->info.has_counter && d->last_has_e
                              ? d->last_raw_e - d->raw_e0 + (d->integral_j - d->integral_at_energy_j)
                              : d->integral_j;
        fprintf(m->opts.csv, "%.6f,%s,%s,%.3f,%.6f\n", t - m->t_start, d->info.id, ws_domain_name(d->info.domain), p,
                energy_j);
    }
}

/* full: read every counter (boundaries of intervals); else the sampler's periodic tick. */
static void sample_all(ws_meter *m, int full) {
    for (size_t i = 0; i < m->n_dev; i++) sample_device(m, i, ws_now_s(), full);
}

static void take_snapshot(const ws_meter *m, snapshot *out) {
    for (size_t i = 0; i < m->n_dev; i++) {
        const meter_device *d = &m->dev[i];
        out[i].t = d->last_t;
        out[i].has_energy = d->last_has_e && d->info.has_counter;
        out[i].energy_j = d->last_raw_e - d->raw_e0;
        out[i].integral_j = d->integral_j;
        out[i].power_w = d->last_power_w;
        out[i].samples = d->samples;
    }
}

/* The figures of device i between two snapshots. */
static void energy_between(const ws_meter *m, size_t i, const snapshot *a, const snapshot *b, double max_power_w,
                           ws_device_energy *out) {
    const meter_device *d = &m->dev[i];
    memset(out, 0, sizeof *out);
    out->duration_s = b->t - a->t;
    out->samples = b->samples - a->samples;
    out->max_power_w = max_power_w;
    double edge_power_w = fmax(a->power_w, b->power_w);
    if (b->samples == 0) { /* never read successfully: no figure at all, not a zero */
        out->source = WS_SOURCE_NONE;
        return;
    }
    if (d->info.has_counter && a->has_energy && b->has_energy) {
        out->has_counter = 1;
        out->counter_energy_j = b->energy_j - a->energy_j;
    }
    /* RAPL's "power" is derived from its counter, so its integral is no independent figure. */
    if (d->info.has_power && strcmp(d->info.power_kind, "derived") != 0) {
        out->has_integral = 1;
        out->integral_energy_j = b->integral_j - a->integral_j;
    }
    if (out->has_counter) {
        out->source = WS_SOURCE_COUNTER;
        out->energy_j = out->counter_energy_j;
        /* A reading reflects the counter's last update, up to one period old: at each end
         * the interval can miss (or gain) at most period x power there. */
        out->uncertainty_j = d->info.counter_period_s * edge_power_w;
        if (out->has_integral && out->counter_energy_j > 0)
            out->difference_rel = (out->integral_energy_j - out->counter_energy_j) / out->counter_energy_j;
    } else if (out->has_integral) {
        out->source = WS_SOURCE_POWER_INTEGRAL;
        out->energy_j = out->integral_energy_j;
        /* The trapezoids miss changes between samples; an averaged reading (NVML's ~1 s
         * window) also lags by its window at each end. */
        double window_s = strcmp(d->info.power_kind, "average") == 0 ? 1.0 : 0.0;
        out->uncertainty_j = (m->opts.interval_ms / 1e3 + window_s) * edge_power_w;
    } else {
        out->source = WS_SOURCE_NONE;
    }
    out->mean_power_w = out->duration_s > 0 ? out->energy_j / out->duration_s : 0.0;
    if (out->max_power_w < out->mean_power_w) out->max_power_w = out->mean_power_w;
    if (d->has_idle) {
        out->has_idle = 1;
        out->idle_power_w = d->idle_power_w;
        out->energy_above_idle_j = out->energy_j - d->idle_power_w * out->duration_s;
    }
}

/* ---------------------------------------------------------------- the thread */

static void *sampler_main(void *arg) {
    ws_meter *m = arg;
    double interval_s = m->opts.interval_ms / 1e3;
    double cpu0 = ws_thread_cpu_s();
    double next = ws_now_s() + interval_s;
    pthread_mutex_lock(&m->lock);
    while (!m->stop_requested) {
        struct timespec ts;
        ts.tv_sec = (time_t)floor(next);
        ts.tv_nsec = (long)((next - floor(next)) * 1e9);
        int rc = 0;
        while (!m->stop_requested && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&m->wake, &m->lock, &ts);
        if (m->stop_requested) break;
        sample_all(m, 0);
        next += interval_s;
        double now = ws_now_s();
        if (next < now) next = now + interval_s; /* fell behind (suspended?): do not burst */
        m->sampler_cpu_s = ws_thread_cpu_s() - cpu0;
    }
    m->sampler_cpu_s = ws_thread_cpu_s() - cpu0;
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

static void reset_accumulators(ws_meter *m) {
    for (size_t i = 0; i < m->n_dev; i++) {
        meter_device *d = &m->dev[i];
        d->primed = 0;
        d->integral_j = 0;
        d->max_power_w = 0;
        d->samples = 0;
        d->change_count = 0;
        d->change_interval_sum_s = 0;
        d->seen_change = 0;
        d->series_n = 0;
        d->series_seen = 0;
        d->series_stride = 1;
        memset(d->phase_energy_j, 0, sizeof d->phase_energy_j);
    }
    pthread_mutex_lock(&m->phase_lock);
    memset(m->phase_closed_s, 0, sizeof m->phase_closed_s);
    m->phase_since = ws_now_s();
    pthread_mutex_unlock(&m->phase_lock);
}

/* Reads every counter (the interval's first boundary) and snapshots it into `first`, then
 * starts the sampler. The snapshot is taken under the same lock as the read: taken after
 * the thread starts, a caller descheduled meanwhile would snapshot a later tick, whose
 * time a power-only read has moved on while its counter value is still the boundary's
 * (energy over one span, duration over a shorter one). */
static ws_status launch(ws_meter *m, snapshot *first, ws_error *err) {
    pthread_mutex_lock(&m->lock);
    reset_accumulators(m);
    m->t_start = ws_now_s();
    sample_all(m, 1);
    take_snapshot(m, first);
    m->stop_requested = 0;
    pthread_mutex_unlock(&m->lock);
    int rc = pthread_create(&m->thread, NULL, sampler_main, m);
    if (rc != 0) return wsi_error(err, WS_ENOMEM, "meter: pthread_create: %s", strerror(rc));
    m->thread_running = 1;
    return WS_OK;
}

static void halt(ws_meter *m) {
    if (!m->thread_running) return;
    pthread_mutex_lock(&m->lock);
    m->stop_requested = 1;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    m->thread_running = 0;
}

ws_status ws_meter_measure_idle(ws_meter *m, double seconds, ws_error *err) {
    if (m->state != STATE_OPENED) return wsi_error(err, WS_ESTATE, "meter: idle baseline must come before start");
    if (!(seconds > 0)) return wsi_error(err, WS_EINVAL, "meter: idle seconds must be positive, got %g", seconds);
    if (m->n_dev == 0) return WS_OK;
    snapshot *a = calloc(m->n_dev, sizeof *a), *b = calloc(m->n_dev, sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return wsi_error(err, WS_ENOMEM, "meter: out of memory");
    }
    ws_status st = launch(m, a, err);
    if (st == WS_OK) {
        ws_sleep_s(seconds);
        halt(m);
        pthread_mutex_lock(&m->lock);
        sample_all(m, 1);
        take_snapshot(m, b);
        for (size_t i = 0; i < m->n_dev; i++) {
            ws_device_energy e;
            energy_between(m, i, &a[i], &b[i], 0, &e);
            m->dev[i].has_idle = e.source != WS_SOURCE_NONE && e.duration_s > 0;
            m->dev[i].idle_power_w = e.mean_power_w;
        }
        reset_accumulators(m);
        pthread_mutex_unlock(&m->lock);
    }
    free(a);
    free(b);
    return st;
}

ws_status ws_meter_start(ws_meter *m, ws_error *err) {
    if (m->state != STATE_OPENED) return wsi_error(err, WS_ESTATE, "meter: already started");
    free(m->start_snap);
    m->start_snap = calloc(m->n_dev ? m->n_dev : 1, sizeof(snapshot));
    m->stop_snap = calloc(m->n_dev ? m->n_dev : 1, sizeof(snapshot));
    if (!m->start_snap || !m->stop_snap) return wsi_error(err, WS_ENOMEM, "meter: out of memory");
    if (m->opts.csv) fprintf(m->opts.csv, "time_s,device,kind,power_w,energy_j\n");
    ws_status st = launch(m, m->start_snap, err);
    if (st != WS_OK) return st;
    pthread_mutex_lock(&m->lock);
    m->state = STATE_RUNNING;
    pthread_mutex_unlock(&m->lock);
    return WS_OK;
}

ws_status ws_meter_stop(ws_meter *m, ws_error *err) {
    if (m->state != STATE_RUNNING) return wsi_error(err, WS_ESTATE, "meter: stop without start");
    halt(m);
    pthread_mutex_lock(&m->lock);
    sample_all(m, 1);
    m->t_stop = ws_now_s();
    take_snapshot(m, m->stop_snap);
    m->state = STATE_STOPPED;
    for (size_t r = 0; r < m->n_regions; r++)
        if (m->regions[r].open) add_warning(m, "region '%s' was still open at stop", m->regions[r].name);
    pthread_mutex_unlock(&m->lock);
    if (m->opts.csv) fflush(m->opts.csv);
    return WS_OK;
}

/* ---------------------------------------------------------------- readings */

ws_status ws_meter_read(ws_meter *m, ws_device_energy *out, ws_error *err) {
    if (m->state == STATE_OPENED) return wsi_error(err, WS_ESTATE, "meter: read before start");
    snapshot *now = m->stop_snap;
    pthread_mutex_lock(&m->lock);
    snapshot *tmp = NULL;
    if (m->state == STATE_RUNNING) {
        tmp = calloc(m->n_dev ? m->n_dev : 1, sizeof *tmp);
        if (!tmp) {
            pthread_mutex_unlock(&m->lock);
            return wsi_error(err, WS_ENOMEM, "meter: out of memory");
        }
        sample_all(m, 1);
        take_snapshot(m, tmp);
        now = tmp;
    }
    for (size_t i = 0; i < m->n_dev; i++) energy_between(m, i, &m->start_snap[i], &now[i], m->dev[i].max_power_w, &out[i]);
    pthread_mutex_unlock(&m->lock);
    free(tmp);
    return WS_OK;
}

double ws_meter_elapsed_s(const ws_meter *m) {
    if (m->state == STATE_OPENED) return 0.0;
    return (m->state == STATE_STOPPED ? m->t_stop : ws_now_s()) - m->t_start;
}

double ws_meter_sampler_cpu_s(const ws_meter *m) { return m->sampler_cpu_s; }

double ws_meter_observed_counter_period_s(const ws_meter *m, size_t i) {
    if (i >= m->n_dev || m->dev[i].change_count == 0) return 0.0;
    /* counter read only every counter_refresh_ms: the changes seen are our reads, not its updates */
    if (m->dev[i].sensor->ops->read_power && m->opts.counter_refresh_ms > m->opts.interval_ms) return 0.0;
    return m->dev[i].change_interval_sum_s / (double)m->dev[i].change_count;
}

size_t ws_meter_device_count(const ws_meter *m) { return m->n_dev; }
const ws_device_info *ws_meter_device(const ws_meter *m, size_t i) { return i < m->n_dev ? &m->dev[i].info : NULL; }
size_t ws_meter_missing_count(const ws_meter *m) { return m->n_missing; }
const ws_missing_domain *ws_meter_missing(const ws_meter *m, size_t i) { return i < m->n_missing ? &m->missing[i] : NULL; }
size_t ws_meter_left_out_count(const ws_meter *m) { return m->n_left_out; }
const ws_left_out_device *ws_meter_left_out(const ws_meter *m, size_t i) {
    return i < m->n_left_out ? &m->left_out[i] : NULL;
}
size_t ws_meter_warning_count(const ws_meter *m) { return m->n_warnings; }
const char *ws_meter_warning(const ws_meter *m, size_t i) { return i < m->n_warnings ? m->warnings[i] : NULL; }

size_t ws_meter_series(const ws_meter *m, size_t i, const double **t_s, const double **power_w) {
    if (i >= m->n_dev) return 0;
    *t_s = m->dev[i].series_t;
    *power_w = m->dev[i].series_p;
    return m->dev[i].series_n;
}

/* ---------------------------------------------------------------- regions */

ws_status ws_meter_region_begin(ws_meter *m, const char *name, int *region_id, ws_error *err) {
    if (m->state != STATE_RUNNING) return wsi_error(err, WS_ESTATE, "meter: region '%s' begun while not running", name);
    pthread_mutex_lock(&m->lock);
    ws_status st = WS_OK;
    if (m->n_regions == m->cap_regions) {
        size_t cap = m->cap_regions ? 2 * m->cap_regions : 16;
        region *grown = realloc(m->regions, cap * sizeof *grown);
        if (!grown) {
            st = wsi_error(err, WS_ENOMEM, "meter: out of memory for regions");
            goto out;
        }
        m->regions = grown;
        m->cap_regions = cap;
    }
    region *r = &m->regions[m->n_regions];
    memset(r, 0, sizeof *r);
    size_t n = m->n_dev ? m->n_dev : 1;
    r->name = strdup(name);
    r->begin = calloc(n, sizeof(snapshot));
    r->end = calloc(n, sizeof(snapshot));
    r->max_power_w = calloc(n, sizeof(double));
    if (!r->name || !r->begin || !r->end || !r->max_power_w) {
        free(r->name);
        free(r->begin);
        free(r->end);
        free(r->max_power_w);
        st = wsi_error(err, WS_ENOMEM, "meter: out of memory for region '%s'", name);
        goto out;
    }
    sample_all(m, 1);
    take_snapshot(m, r->begin);
    for (size_t i = 0; i < m->n_dev; i++) r->max_power_w[i] = m->dev[i].last_power_w;
    r->open = 1;
    r->depth = m->open_depth++;
    *region_id = (int)m->n_regions++;
out:
    pthread_mutex_unlock(&m->lock);
    return st;
}

ws_status ws_meter_region_end(ws_meter *m, int region_id, ws_error *err) {
    if (region_id < 0 || (size_t)region_id >= m->n_regions) return wsi_error(err, WS_EINVAL, "meter: no region %d", region_id);
    if (m->state != STATE_RUNNING) return wsi_error(err, WS_ESTATE, "meter: region ended while not running");
    pthread_mutex_lock(&m->lock);
    region *r = &m->regions[region_id];
    ws_status st = WS_OK;
    if (!r->open) {
        st = wsi_error(err, WS_ESTATE, "meter: region '%s' ended twice", r->name);
    } else {
        sample_all(m, 1);
        take_snapshot(m, r->end);
        r->open = 0;
        m->open_depth--;
    }
    pthread_mutex_unlock(&m->lock);
    return st;
}

size_t ws_meter_region_count(const ws_meter *m) { return m->n_regions; }
const char *ws_meter_region_name(const ws_meter *m, int id) {
    return id >= 0 && (size_t)id < m->n_regions ? m->regions[id].name : NULL;
}
int ws_meter_region_depth(const ws_meter *m, int id) {
    return id >= 0 && (size_t)id < m->n_regions ? m->regions[id].depth : -1;
}

ws_status ws_meter_region_energy(const ws_meter *m, int id, ws_device_energy *out, ws_error *err) {
    if (id < 0 || (size_t)id >= m->n_regions) return wsi_error(err, WS_EINVAL, "meter: no region %d", id);
    const region *r = &m->regions[id];
    if (r->open) return wsi_error(err, WS_ESTATE, "meter: region '%s' is still open", r->name);
    for (size_t i = 0; i < m->n_dev; i++) energy_between(m, i, &r->begin[i], &r->end[i], r->max_power_w[i], &out[i]);
    return WS_OK;
}

/* ---------------------------------------------------------------- phases */

int ws_meter_phase_define(ws_meter *m, const char *name) {
    pthread_mutex_lock(&m->phase_lock);
    int id = m->n_phases < WS_METER_MAX_PHASES ? m->n_phases++ : -1;
    if (id > 0) snprintf(m->phase_names[id], sizeof m->phase_names[id], "%s", name);
    pthread_mutex_unlock(&m->phase_lock);
    return id;
}

void ws_meter_phase_enter(ws_meter *m, int id) {
    if (id < 0 || id >= WS_METER_MAX_PHASES) id = 0;
    double t = ws_now_s();
    pthread_mutex_lock(&m->phase_lock);
    if (t > m->phase_since) m->phase_closed_s[m->phase] += t - m->phase_since;
    m->phase = id;
    m->phase_since = t;
    pthread_mutex_unlock(&m->phase_lock);
}

const char *ws_meter_phase_name(const ws_meter *m, int id) {
    return id >= 0 && id < m->n_phases ? m->phase_names[id] : NULL;
}

ws_status ws_meter_phase_energy(ws_meter *m, int id, double *energy_j, double *time_s, ws_error *err) {
    if (id < 0 || id >= m->n_phases) return wsi_error(err, WS_EINVAL, "meter: no phase %d", id);
    pthread_mutex_lock(&m->lock);
    if (m->state == STATE_RUNNING) sample_all(m, 0);
    for (size_t i = 0; i < m->n_dev; i++) energy_j[i] = m->dev[i].phase_energy_j[id];
    pthread_mutex_unlock(&m->lock);
    if (time_s) {
        double now[WS_METER_MAX_PHASES];
        phase_times(m, m->state == STATE_STOPPED ? m->t_stop : ws_now_s(), now);
        *time_s = now[id];
    }
    return WS_OK;
}

/* ---------------------------------------------------------------- close */

void ws_meter_close(ws_meter *m) {
    if (!m) return;
    halt(m);
    for (size_t i = 0; i < m->n_dev; i++) {
        free(m->dev[i].series_t);
        free(m->dev[i].series_p);
    }
    for (size_t s = 0; s < m->n_sensors; s++) m->sensors[s]->ops->close(m->sensors[s]);
    for (size_t r = 0; r < m->n_regions; r++) {
        free(m->regions[r].name);
        free(m->regions[r].begin);
        free(m->regions[r].end);
        free(m->regions[r].max_power_w);
    }
    for (size_t w = 0; w < m->n_warnings; w++) free(m->warnings[w]);
    free(m->regions);
    free(m->left_out);
    free(m->dev);
    free(m->start_snap);
    free(m->stop_snap);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->phase_lock);
    pthread_cond_destroy(&m->wake);
    free(m);
}
