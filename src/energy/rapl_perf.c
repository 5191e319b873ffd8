/* energy/rapl_perf.c - CPU package and DRAM energy from RAPL through the perf_event "power" PMU.
 * defines: wsi_rapl_perf_open (contract in energy/sensor.h), and the parsers of
 *          energy/rapl_perf.h (cpumask, event config, scale)
 * twin: energy/rapl_powercap.c reads the same RAPL counters through powercap sysfs.
 *
 * What we read (<root> is /sys/bus/event_source/devices unless a test says otherwise):
 *   <root>/power/type                   the PMU's type number for perf_event_attr.type
 *   <root>/power/cpumask                one CPU per package ("0,24"); the events count per
 *                                       package, so we open each on that CPU only
 *   <root>/power/events/energy-pkg      "event=0x02"; .scale (J per count), .unit ("Joules")
 *   <root>/power/events/energy-ram      the same for DRAM; absent on most client parts
 * energy-cores, energy-gpu (subsets of the package) and energy-psys (package + DRAM + more)
 * are left out, for the reasons rapl_powercap.c gives.
 *
 * Why offer this beside powercap: since Linux 5.10 powercap's energy_uj is root-only, while
 * perf needs only perf_event_paranoid <= 0 or CAP_PERFMON, which a cluster may grant. The
 * kernel keeps the count in 64 bits (it reads the 32-bit MSR from a timer often enough), so
 * wrap-around is the kernel's business here, not ours. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "energy/rapl_perf.h"
#include "energy/sensor.h"
#include "core/error.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFAULT_ROOT "/sys/bus/event_source/devices"
#define PARANOID_PATH "/proc/sys/kernel/perf_event_paranoid"
#define RAPL_PERIOD_S 0.001 /* RAPL refreshes its counters about every 1 ms */
#define MAX_PACKAGES 256    /* CPUs in the power PMU's cpumask: one per package (or die) */

/* ---- parsers (energy/rapl_perf.h) ---- */

static const char *skip_space(const char *p) {
    while (isspace((unsigned char)*p)) p++;
    return p;
}

/* A decimal CPU number; NULL when there is none. */
static const char *parse_cpu(const char *p, long *cpu) {
    if (!isdigit((unsigned char)*p)) return NULL;
    char *end;
    errno = 0;
    *cpu = strtol(p, &end, 10);
    if (errno == ERANGE || *cpu > INT_MAX) return NULL;
    return end;
}

ws_status wsi_rapl_perf_parse_cpumask(const char *text, const char *what, int *cpus, size_t cap, size_t *n,
                                      ws_error *err) {
    *n = 0;
    const char *p = skip_space(text);
    if (*p == '\0') return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s is empty: no CPU to count on", what);
    for (;;) {
        long lo, hi;
        const char *q = parse_cpu(p, &lo);
        if (!q) break;
        hi = lo;
        if (*q == '-' && !(q = parse_cpu(q + 1, &hi))) break;
        if (hi < lo) break;
        for (long c = lo; c <= hi; c++) {
            if (*n == cap)
                return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s lists more than %zu CPUs", what, cap);
            for (size_t i = 0; i < *n; i++) /* a CPU listed twice would count its package twice */
                if (cpus[i] == (int)c)
                    return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s lists CPU %ld twice", what, c);
            cpus[(*n)++] = (int)c;
        }
        p = q;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*skip_space(p) == '\0') return WS_OK;
        break;
    }
    char shown[64];
    snprintf(shown, sizeof shown, "%s", text);
    shown[strcspn(shown, "\n")] = '\0';
    return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%s\", not a CPU list like \"0,24\" or \"0-1\"", what,
                     shown);
}

ws_status wsi_rapl_perf_parse_event(const char *text, const char *what, uint64_t *config, ws_error *err) {
    char shown[64];
    snprintf(shown, sizeof shown, "%s", text);
    shown[strcspn(shown, "\n")] = '\0';
    const char *p = skip_space(text);
    int have_event = 0;
    *config = 0;
    while (*p) {
        size_t klen = strcspn(p, "=,\n");
        if (p[klen] != '=')
            return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%s\", not \"event=0x..\"", what, shown);
        if (klen != 5 || strncmp(p, "event", 5) != 0)
            return wsi_error(err, WS_EFORMAT,
                             "CPU/DRAM: %s holds \"%s\": only the term \"event\" (config:0-7) is known", what,
                             shown);
        const char *v = p + klen + 1;
        char *end;
        errno = 0;
        unsigned long long val = isdigit((unsigned char)*v) ? strtoull(v, &end, 0) : 0;
        if (!isdigit((unsigned char)*v) || errno == ERANGE || end == v || val > 0xff)
            return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%s\": event must be 0..0xff", what, shown);
        *config = val;
        have_event = 1;
        p = skip_space(end);
        if (*p == ',') p = skip_space(p + 1);
        else if (*p) return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%s\", not \"event=0x..\"", what, shown);
    }
    if (!have_event)
        return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%s\", not \"event=0x..\"", what, shown);
    return WS_OK;
}

ws_status wsi_rapl_perf_parse_scale(const char *text, const char *what, double *j_per_count, ws_error *err) {
    const char *p = skip_space(text);
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno == ERANGE || *skip_space(end) != '\0' || !isfinite(v) || !(v > 0)) {
        char shown[64];
        snprintf(shown, sizeof shown, "%s", text);
        shown[strcspn(shown, "\n")] = '\0';
        return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%s\", not a positive number of J per count",
                         what, shown);
    }
    *j_per_count = v;
    return WS_OK;
}

/* ---- the sensor ---- */

typedef struct {
    ws_device_info info;
    int fd;             /* perf event, counting since open */
    double j_per_count; /* from <event>.scale */
} perf_device;

typedef struct {
    wsi_sensor base;
    size_t n;
    perf_device *dev;
} perf_sensor;

/* A small sysfs file, trimmed of trailing space. 0, or the errno. */
static int read_small(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t got = read(fd, buf, size - 1);
    int e = got < 0 ? errno : 0;
    close(fd);
    if (got < 0) return e;
    buf[got] = '\0';
    while (got > 0 && isspace((unsigned char)buf[got - 1])) buf[--got] = '\0';
    return 0;
}

static ws_status file_error(const char *path, int e, ws_error *err) {
    return wsi_error(err, e == EACCES || e == EPERM ? WS_EPERM : WS_ESENSOR, "CPU/DRAM: read %s: %s", path,
                     strerror(e));
}

static ws_status read_required(const char *path, char *buf, size_t size, ws_error *err) {
    int e = read_small(path, buf, size);
    return e == 0 ? WS_OK : file_error(path, e, err);
}

/* One RAPL event of the power PMU, as parsed from its three files. */
typedef struct {
    const char *event; /* "energy-pkg" */
    ws_domain domain;
    const char *device; /* "package", "dram" */
    const char *id;     /* "pkg", "ram" */
    uint64_t config;
    double j_per_count;
} rapl_event;

/* 1: parsed; 0: the event is absent; <0: a status, in err. */
static int load_event(const char *pmu, rapl_event *ev, ws_error *err) {
    char path[PATH_MAX], buf[128];
    if ((size_t)snprintf(path, sizeof path, "%s/events/%s", pmu, ev->event) >= sizeof path - 8)
        return wsi_error(err, WS_EINVAL, "CPU/DRAM: path too long: %s", pmu);
    int e = read_small(path, buf, sizeof buf);
    if (e == ENOENT) return 0;
    if (e != 0) return file_error(path, e, err);
    ws_status st = wsi_rapl_perf_parse_event(buf, path, &ev->config, err);
    if (st != WS_OK) return st;
    size_t len = strlen(path);
    memcpy(path + len, ".scale", 7);
    if ((st = read_required(path, buf, sizeof buf, err)) != WS_OK) return st;
    if ((st = wsi_rapl_perf_parse_scale(buf, path, &ev->j_per_count, err)) != WS_OK) return st;
    /* the scale is only J per count if the unit says so; the kernel has always said Joules */
    memcpy(path + len, ".unit", 6);
    if (read_small(path, buf, sizeof buf) == 0 && strcmp(buf, "Joules") != 0)
        return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s is \"%s\", not \"Joules\"", path, buf);
    return 1;
}

static long perf_open(struct perf_event_attr *attr, int cpu) {
    return syscall(SYS_perf_event_open, attr, -1 /* every task */, cpu, -1 /* no group */, PERF_FLAG_FD_CLOEXEC);
}

static ws_status open_error(const char *pmu, unsigned type, const rapl_event *ev, int cpu, int e, ws_error *err) {
    if (e == EACCES || e == EPERM) {
        char paranoid[16] = "?";
        read_small(PARANOID_PATH, paranoid, sizeof paranoid);
        return wsi_error(err, WS_EPERM,
                         "CPU/DRAM: perf_event_open(%s/events/%s, cpu %d): %s: CPU-wide events need %s <= 0 "
                         "(it is %s) or CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8); a container's seccomp "
                         "profile may also forbid the call. Fix: `sudo sysctl kernel.perf_event_paranoid=0`, "
                         "or run as root",
                         pmu, ev->event, cpu, strerror(e), PARANOID_PATH, paranoid);
    }
    return wsi_error(err, WS_ESENSOR,
                     "CPU/DRAM: perf_event_open(type %u, config 0x%llx = %s/events/%s, cpu %d): %s: the kernel "
                     "rejected the event%s",
                     type, (unsigned long long)ev->config, pmu, ev->event, cpu, strerror(e),
                     e == ENOENT ? " (no PMU of that type: a stale or copied sysfs tree?)" : "");
}

static size_t rp_device_count(const wsi_sensor *s) { return ((const perf_sensor *)s)->n; }

static void rp_device_info(const wsi_sensor *s, size_t i, ws_device_info *out) {
    *out = ((const perf_sensor *)s)->dev[i].info;
}

static ws_status rp_read(wsi_sensor *s, size_t i, wsi_sensor_sample *out, ws_error *err) {
    perf_device *d = &((perf_sensor *)s)->dev[i];
    uint64_t count;
    memset(out, 0, sizeof *out);
    ssize_t got = read(d->fd, &count, sizeof count);
    if (got != (ssize_t)sizeof count)
        return wsi_error(err, WS_ESENSOR, "CPU/DRAM: read perf event of %s: %s", d->info.name,
                         got < 0 ? strerror(errno) : "short read");
    out->has_energy = 1;
    out->energy_j = (double)count * d->j_per_count;
    return WS_OK;
}

static void rp_close(wsi_sensor *s) {
    perf_sensor *ps = (perf_sensor *)s;
    if (!ps) return;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->dev[i].fd >= 0) close(ps->dev[i].fd);
    free(ps->dev);
    free(ps);
}

static const wsi_sensor_ops rapl_perf_ops = {
    .name = "rapl-perf",
    .device_count = rp_device_count,
    .device_info = rp_device_info,
    .read = rp_read,
    .close = rp_close,
};

ws_status wsi_rapl_perf_open(wsi_sensor **out, const char *sysfs_root, wsi_warn_fn warn, void *ctx,
                             ws_error *err) {
    (void)warn; /* nothing here is worth a warning: a missing energy-ram is a missing domain */
    (void)ctx;
    if (!out) return wsi_error(err, WS_EINVAL, "wsi_rapl_perf_open: out is NULL");
    *out = NULL;
    if (!sysfs_root) sysfs_root = DEFAULT_ROOT;

    char pmu[PATH_MAX - 64], path[PATH_MAX], buf[4096];
    if ((size_t)snprintf(pmu, sizeof pmu, "%s/power", sysfs_root) >= sizeof pmu)
        return wsi_error(err, WS_EINVAL, "wsi_rapl_perf_open: path too long: %s", sysfs_root);
    struct stat st;
    if (stat(pmu, &st) != 0 || !S_ISDIR(st.st_mode))
        return wsi_error(err, WS_ENOSENSOR,
                         "CPU/DRAM: RAPL perf PMU absent: no %s (virtual machine, a CPU without RAPL, or a "
                         "kernel without the rapl perf driver)",
                         pmu);

    snprintf(path, sizeof path, "%s/type", pmu);
    ws_status rc = read_required(path, buf, sizeof buf, err);
    if (rc != WS_OK) return rc;
    char *end;
    errno = 0;
    unsigned long type = strtoul(buf, &end, 10);
    if (!isdigit((unsigned char)buf[0]) || *end != '\0' || errno == ERANGE || type > UINT32_MAX)
        return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%s\", not a PMU type number", path, buf);

    int cpus[MAX_PACKAGES];
    size_t ncpu;
    snprintf(path, sizeof path, "%s/cpumask", pmu);
    if ((rc = read_required(path, buf, sizeof buf, err)) != WS_OK) return rc;
    if ((rc = wsi_rapl_perf_parse_cpumask(buf, path, cpus, MAX_PACKAGES, &ncpu, err)) != WS_OK) return rc;

    rapl_event evs[] = {{"energy-pkg", WS_DOMAIN_CPU, "package", "pkg", 0, 0},
                        {"energy-ram", WS_DOMAIN_DRAM, "dram", "ram", 0, 0}};
    int have[2];
    for (int k = 0; k < 2; k++) {
        have[k] = load_event(pmu, &evs[k], err);
        if (have[k] < 0) return (ws_status)have[k];
    }
    if (!have[0]) {
        /* seen on VMs that pass some RAPL through: psys alone, which we leave out (it
         * overlaps package and DRAM, and is no per-package figure) */
        snprintf(path, sizeof path, "%s/events/energy-psys", pmu);
        int psys = access(path, F_OK) == 0;
        return wsi_error(err, WS_ENOSENSOR, "CPU/DRAM: RAPL perf PMU %s has no energy-pkg event%s", pmu,
                         psys ? " (only energy-psys, the whole platform, which we do not use)" : "");
    }

    perf_sensor *ps = calloc(1, sizeof *ps);
    perf_device *dev = calloc(2 * ncpu, sizeof *dev);
    if (!ps || !dev) {
        free(ps);
        free(dev);
        return wsi_error(err, WS_ENOMEM, "wsi_rapl_perf_open: no memory");
    }
    ps->base.ops = &rapl_perf_ops;
    ps->dev = dev;
    /* packages first, then DRAM, each in cpumask order: the order powercap gives too */
    for (int k = 0; k < 2 && rc == WS_OK; k++) {
        if (!have[k]) continue;
        for (size_t p = 0; p < ncpu && rc == WS_OK; p++) {
            struct perf_event_attr attr;
            memset(&attr, 0, sizeof attr);
            attr.size = sizeof attr;
            attr.type = (uint32_t)type;
            attr.config = evs[k].config;
            long fd = perf_open(&attr, cpus[p]);
            if (fd < 0) {
                rc = open_error(pmu, (unsigned)type, &evs[k], cpus[p], errno, err);
                break;
            }
            perf_device *d = &dev[ps->n++];
            d->fd = (int)fd;
            d->j_per_count = evs[k].j_per_count;
            ws_device_info *in = &d->info;
            in->domain = evs[k].domain;
            /* N: the package's place in cpumask order; on multi-die parts each die has its
             * own CPU in the mask, so N counts dies there */
            snprintf(in->name, sizeof in->name, "%s-%zu", evs[k].device, p);
            snprintf(in->id, sizeof in->id, "perf:%s:%zu", evs[k].id, p);
            snprintf(in->backend, sizeof in->backend, "rapl-perf");
            snprintf(in->power_kind, sizeof in->power_kind, "derived"); /* energy only */
            in->has_counter = 1;
            in->has_power = 0;
            in->counter_period_s = RAPL_PERIOD_S;
            in->wrap_after_s = 0; /* 64-bit count kept by the kernel */
        }
    }
    if (rc != WS_OK) {
        rp_close(&ps->base);
        return rc;
    }
    *out = &ps->base;
    return WS_OK;
}
