/* energy/rapl_powercap.c - CPU package and DRAM energy from RAPL through powercap sysfs.
 * defines: wsi_powercap_open (contract in energy/sensor.h)
 * twin: energy/rapl_perf.c reads the same RAPL counters through the perf_event PMU.
 *
 * Layout we read (real sysfs: /sys/class/powercap lists every zone flat, as symlinks into
 * /sys/devices/virtual/powercap/<control type>/..., and each zone directory also holds its
 * subzones; test trees use plain nested directories; both are walked the same way):
 *   <root>/intel-rapl:0/{name,energy_uj,max_energy_range_uj,constraint_0_*}  name "package-0"
 *   <root>/intel-rapl:0/intel-rapl:0:1/...                                   name "dram"
 *   <root>/intel-rapl-mmio:0/...       the same package-0 counter again, through MMIO
 *   <root>/intel-rapl:1/...            name "psys" on client parts: package + dram + more
 * We keep package-N and dram zones only: psys overlaps them and core/uncore are subsets of
 * the package, so adding any of those would count energy twice.
 *
 * Units: sysfs speaks uJ; we accumulate integer uJ (exact, and 2^64 uJ is 1.8e13 J, so the
 * accumulator cannot overflow) and convert to J once, in read. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "energy/sensor.h"
#include "core/error.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_ROOT "/sys/class/powercap"

/* RAPL refreshes its energy status registers about every 1 ms (Intel SDM vol. 3B, "RAPL
 * interfaces"); a sample taken sooner can repeat the previous value. */
#define RAPL_PERIOD_S 0.001

/* Upper bounds on a zone's power, W, used only for wrap_after_s when the zone does not
 * publish constraint_0_max_power_uw. Deliberately generous (today's largest server packages
 * draw ~400 W; DRAM of a full socket well under 200 W): overestimating the power only makes
 * the meter sample more often than needed, while underestimating it could let the counter
 * wrap twice between samples, which no formula can undo. */
#define PACKAGE_MAX_POWER_W 500.0
#define DRAM_MAX_POWER_W 200.0

#define MAX_ZONES 256  /* candidates we look at; real machines have < 20 */
#define MAX_DEPTH 3    /* control type / zone / subzone */
#define SKIP_LINE 1024 /* the one warning that lists skipped zones */

typedef struct {
    ws_device_info info;
    char path[PATH_MAX];   /* .../energy_uj, for error messages */
    int fd;                /* energy_uj, open for the sensor's life (see read_energy_uj) */
    uint64_t max_range_uj; /* energy_uj counts 0 .. max_range_uj, then starts again at 0 */
    uint64_t last_uj;      /* raw energy_uj at the previous read */
    uint64_t total_uj;     /* unwrapped energy since open */
} zone;

typedef struct {
    wsi_sensor base;
    char root[PATH_MAX];   /* for the fix in a permission error */
    size_t n;
    zone *zones;
} powercap_sensor;

/* A zone directory found while walking, before we decide to keep it. */
typedef struct {
    char dir[64];            /* "intel-rapl:0:1": also the stable part of the id */
    char path[PATH_MAX - 32]; /* room for "/max_energy_range_uj" and the like */
    char name[64];           /* contents of `name`, "" when unreadable */
    ws_domain domain;
    int keep;
    long sort_major, sort_minor; /* package and die numbers, for a deterministic order */
    char device[96];         /* "package-0", "dram-0" */
} candidate;

typedef struct {
    candidate *c;
    size_t n;
} candidate_list;

/* The one warning line: every zone we skipped, and why. */
typedef struct {
    char line[SKIP_LINE];
    int count;
} skip_list;

/* ---- small file helpers ---- */

static void trim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
}

/* Reads a small text file whole. Returns 0, or the errno of open/read. */
static int read_small(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t got = read(fd, buf, size - 1);
    int e = got < 0 ? errno : 0;
    close(fd);
    if (got < 0) return e;
    buf[got] = '\0';
    trim(buf);
    return 0;
}

/* "123\n" -> 123. Refuses what strtoull would quietly accept: "", "-1" (negated), "12abc",
 * and values past 2^64 - 1. */
static int parse_u64(const char *text, uint64_t *out) {
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    if (!isdigit((unsigned char)*p)) return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno == ERANGE || end == p) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end != '\0') return -1;
    *out = (uint64_t)v;
    return 0;
}

static int is_perm(int e) { return e == EACCES || e == EPERM; }

static ws_status perm_error(ws_error *err, const char *root, const char *path, int e) {
    /* The fix names `root` so that it is right for the tree we were pointed at; on a real
     * machine that is /sys/class/powercap, which lists subzones flat, so one glob covers all. */
    return wsi_error(err, WS_EPERM,
                     "CPU/DRAM: open %s: %s: since Linux 5.10 (CVE-2020-8694, Platypus) RAPL energy "
                     "is readable by root only. Fix: run as root, or `sudo chmod o+r %s/*/energy_uj` "
                     "(lost at reboot), or the udev rule `ACTION==\"add\", SUBSYSTEM==\"powercap\", "
                     "RUN+=\"/bin/chmod o+r /sys%%p/energy_uj\"` in /etc/udev/rules.d/99-wattscale-rapl.rules",
                     path, strerror(e), root);
}

/* Reads the zone's counter. The fd stays open for the sensor's life and we pread at offset
 * 0: kernfs regenerates an attribute on every read from offset 0, so this sees a fresh value,
 * and one syscall per sample beats open+read+close (plus a path walk through sysfs symlinks)
 * for a sampler whose own CPU time the meter reports as overhead. Side effects: access is
 * checked once, at open; O_CLOEXEC keeps the fd out of the training command the CLI spawns. */
static ws_status read_energy_uj(zone *z, const char *root, uint64_t *out, ws_error *err) {
    char buf[32];
    ssize_t got = pread(z->fd, buf, sizeof buf - 1, 0);
    if (got < 0) {
        int e = errno;
        if (is_perm(e)) return perm_error(err, root, z->path, e);
        return wsi_error(err, WS_ESENSOR, "CPU/DRAM: read %s: %s", z->path, strerror(e));
    }
    buf[got] = '\0';
    /* a full buffer means more than 30 characters: no 64-bit count is that long */
    if ((size_t)got == sizeof buf - 1 || parse_u64(buf, out) != 0) {
        buf[strcspn(buf, "\n")] = '\0'; /* keep the error to one line */
        return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%.31s\", not a count of uJ", z->path, buf);
    }
    return WS_OK;
}

/* ---- walking the tree ---- */

/* "intel-rapl:0", "intel-rapl-mmio:1:0": a control type, then one or more ":<digits>". */
static int is_zone_name(const char *s) {
    const char *colon = strchr(s, ':');
    if (!colon || colon == s) return 0;
    for (const char *p = colon; *p; p++) {
        if (*p != ':' || !isdigit((unsigned char)p[1])) return 0;
        p++;
        while (isdigit((unsigned char)p[1])) p++;
    }
    return 1;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode); /* stat: real sysfs entries are symlinks */
}

static int cmp_dir(const void *a, const void *b) {
    return strcmp(((const candidate *)a)->dir, ((const candidate *)b)->dir);
}

static candidate *find_dir(const candidate_list *l, const char *dir) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->c[i].dir, dir)) return &l->c[i];
    return NULL;
}

/* Adds the zones of directory `path` whose names start with `prefix` (a control type's or
 * a zone's name followed by ':'), and their subzones. The same zone reached twice (flat in
 * /sys/class/powercap and nested under its parent) is added once. */
static void walk(candidate_list *l, const char *path, const char *prefix, int depth) {
    if (depth > MAX_DEPTH) return;
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && l->n < MAX_ZONES) {
        const char *nm = e->d_name;
        if (nm[0] == '.' || !is_zone_name(nm)) continue;
        if (prefix && strncmp(nm, prefix, strlen(prefix)) != 0) continue;
        size_t len = strlen(nm);
        if (len >= sizeof l->c[0].dir) continue; /* real zone names are < 30 characters */
        char sub[sizeof l->c[0].path];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, nm) >= sizeof sub || !is_dir(sub)) continue;
        if (!find_dir(l, nm)) {
            candidate *c = &l->c[l->n++];
            memset(c, 0, sizeof *c);
            memcpy(c->dir, nm, len + 1);
            memcpy(c->path, sub, strlen(sub) + 1);
        }
        char pre[sizeof l->c[0].dir + 1];
        memcpy(pre, nm, len);
        memcpy(pre + len, ":", 2);
        walk(l, sub, pre, depth + 1);
    }
    closedir(d);
}

/* Top level: zones themselves (real sysfs) or control-type directories holding them (a tree
 * copied from /sys/devices/virtual/powercap). */
static void walk_root(candidate_list *l, const char *root) {
    walk(l, root, NULL, 1);
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (nm[0] == '.' || strchr(nm, ':')) continue;
        char sub[PATH_MAX], pre[NAME_MAX + 2];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", root, nm) >= sizeof sub || !is_dir(sub)) continue;
        if ((size_t)snprintf(pre, sizeof pre, "%s:", nm) >= sizeof pre) continue;
        walk(l, sub, pre, 2);
    }
    closedir(d);
}

/* ---- choosing zones ---- */

static void skip_note(skip_list *s, const char *dir, const char *why) {
    size_t used = strlen(s->line);
    if (s->count == 0) used = (size_t)snprintf(s->line, sizeof s->line, "powercap: skipped ");
    if (used < sizeof s->line - 1) /* past the end: truncated, the first zones matter most */
        snprintf(s->line + used, sizeof s->line - used, "%s%s (%s)", s->count ? ", " : "", dir, why);
    s->count++;
}

/* "package-3" -> 3, -1; "package-0-die-1" -> 0, 1 (multi-die parts). 0 when not a package. */
static int parse_package(const char *name, long *pkg, long *die) {
    char *end;
    if (strncmp(name, "package-", 8) != 0 || !isdigit((unsigned char)name[8])) return 0;
    *pkg = strtol(name + 8, &end, 10);
    *die = -1;
    if (*end == '\0') return 1;
    if (strncmp(end, "-die-", 5) == 0 && isdigit((unsigned char)end[5])) {
        *die = strtol(end + 5, &end, 10);
        return *end == '\0';
    }
    return 0;
}

/* The control type of a zone directory: "intel-rapl-mmio" for "intel-rapl-mmio:0". */
static size_t control_len(const char *dir) { return (size_t)(strchr(dir, ':') - dir); }

/* MSR (intel-rapl) beats MMIO and anything else: it is the interface every RAPL tool
 * reads, so our figures match theirs. */
static int prefer(const candidate *c) {
    return control_len(c->dir) == 10 && strncmp(c->dir, "intel-rapl", 10) == 0;
}

/* Classifies every candidate, fills device names, drops duplicates; appends a note per
 * skipped zone to `skipped`. */
static void classify(candidate_list *l, skip_list *skipped) {
    for (size_t i = 0; i < l->n; i++) {
        candidate *c = &l->c[i];
        char p[PATH_MAX + 8];
        snprintf(p, sizeof p, "%s/name", c->path);
        if (read_small(p, c->name, sizeof c->name) != 0) c->name[0] = '\0';
    }
    for (size_t i = 0; i < l->n; i++) {
        candidate *c = &l->c[i];
        long pkg, die;
        if (parse_package(c->name, &pkg, &die)) {
            c->domain = WS_DOMAIN_CPU;
            c->sort_major = pkg;
            c->sort_minor = die;
            snprintf(c->device, sizeof c->device, "%s", c->name);
            c->keep = 1;
        } else if (!strcmp(c->name, "dram")) {
            /* dram-N takes N from the parent package: intel-rapl:1:0 -> intel-rapl:1 -> package-1 */
            char parent_dir[sizeof c->dir];
            snprintf(parent_dir, sizeof parent_dir, "%s", c->dir);
            char *last = strrchr(parent_dir, ':');
            *last = '\0';
            const candidate *par = find_dir(l, parent_dir);
            c->domain = WS_DOMAIN_DRAM;
            if (par && parse_package(par->name, &pkg, &die)) {
                c->sort_major = pkg;
                c->sort_minor = die;
                snprintf(c->device, sizeof c->device, "dram-%s", par->name + 8);
            } else { /* a top-level dram zone: its own index is all we have */
                c->sort_major = strtol(strrchr(c->dir, ':') + 1, NULL, 10);
                c->sort_minor = -1;
                snprintf(c->device, sizeof c->device, "dram-%ld", c->sort_major);
            }
            c->keep = 1;
        } else if (!strcmp(c->name, "psys")) {
            skip_note(skipped, c->dir, "psys: the whole platform, overlaps package+dram, would count twice");
        } else if (!strcmp(c->name, "core")) {
            skip_note(skipped, c->dir, "core: a subset of its package");
        } else if (!strcmp(c->name, "uncore")) {
            skip_note(skipped, c->dir, "uncore: a subset of its package");
        } else if (c->name[0] == '\0') {
            skip_note(skipped, c->dir, "no readable name file");
        } else {
            char why[96];
            snprintf(why, sizeof why, "%s: not a package or dram domain", c->name);
            skip_note(skipped, c->dir, why);
        }
    }
    /* the same device seen through two control types (intel-rapl and intel-rapl-mmio) */
    for (size_t i = 0; i < l->n; i++) {
        for (size_t j = i + 1; j < l->n && l->c[i].keep; j++) {
            candidate *a = &l->c[i], *b = &l->c[j];
            if (!b->keep || strcmp(a->device, b->device) != 0) continue;
            candidate *lose = (prefer(b) && !prefer(a)) ? a : b; /* ties: the first by dir name */
            candidate *win = lose == a ? b : a;
            char why[256];
            snprintf(why, sizeof why, "%s again: kept %s, %s", lose->device, win->dir,
                     prefer(win) ? "the MSR interface" : "the first found");
            skip_note(skipped, lose->dir, why);
            lose->keep = 0;
        }
    }
}

/* Packages by number (then die), then DRAM in the same order. */
static int cmp_device(const void *pa, const void *pb) {
    const candidate *a = pa, *b = pb;
    if (a->domain != b->domain) return a->domain == WS_DOMAIN_CPU ? -1 : 1;
    if (a->sort_major != b->sort_major) return a->sort_major < b->sort_major ? -1 : 1;
    if (a->sort_minor != b->sort_minor) return a->sort_minor < b->sort_minor ? -1 : 1;
    return strcmp(a->dir, b->dir);
}

/* ---- opening a zone ---- */

/* An optional uW attribute, in W; 0 when absent, unreadable or malformed. */
static double optional_w(const candidate *c, const char *file) {
    char p[PATH_MAX + 64], buf[32];
    uint64_t uw;
    snprintf(p, sizeof p, "%s/%s", c->path, file);
    if (read_small(p, buf, sizeof buf) != 0 || parse_u64(buf, &uw) != 0) return 0.0;
    return (double)uw * 1e-6;
}

static ws_status open_zone(zone *z, const candidate *c, const char *root, ws_error *err) {
    char p[PATH_MAX + 32], buf[32];
    snprintf(p, sizeof p, "%s/max_energy_range_uj", c->path);
    int e = read_small(p, buf, sizeof buf);
    if (e != 0) {
        if (is_perm(e)) return perm_error(err, root, p, e);
        return wsi_error(err, WS_ESENSOR, "CPU/DRAM: read %s: %s", p, strerror(e));
    }
    if (parse_u64(buf, &z->max_range_uj) != 0 || z->max_range_uj == 0)
        return wsi_error(err, WS_EFORMAT, "CPU/DRAM: %s holds \"%s\", not a positive count of uJ", p, buf);

    snprintf(z->path, sizeof z->path, "%s/energy_uj", c->path);
    z->fd = open(z->path, O_RDONLY | O_CLOEXEC);
    if (z->fd < 0) {
        e = errno;
        if (is_perm(e)) return perm_error(err, root, z->path, e);
        return wsi_error(err, WS_ESENSOR, "CPU/DRAM: open %s: %s", z->path, strerror(e));
    }
    ws_status st = read_energy_uj(z, root, &z->last_uj, err);
    if (st != WS_OK) return st;

    ws_device_info *in = &z->info;
    in->domain = c->domain;
    snprintf(in->name, sizeof in->name, "%s", c->device);
    snprintf(in->id, sizeof in->id, "powercap:%s", c->dir);
    snprintf(in->backend, sizeof in->backend, "rapl-powercap");
    snprintf(in->power_kind, sizeof in->power_kind, "derived"); /* RAPL has energy only */
    in->has_counter = 1;
    in->has_power = 0;
    in->counter_period_s = RAPL_PERIOD_S;
    /* `enabled` switches power limiting, not counting: 0 means no limit is enforced. */
    char enabled[8];
    snprintf(p, sizeof p, "%s/enabled", c->path);
    int limiting = read_small(p, enabled, sizeof enabled) != 0 || strcmp(enabled, "0") != 0;
    in->power_limit_w = limiting ? optional_w(c, "constraint_0_power_limit_uw") : 0.0;
    /* constraint_0_max_power_uw is the most the package may be set to draw (from
     * MSR_PKG_POWER_INFO): the best bound the zone offers; else our generous defaults. */
    double max_w = optional_w(c, "constraint_0_max_power_uw");
    if (max_w <= 0) max_w = c->domain == WS_DOMAIN_CPU ? PACKAGE_MAX_POWER_W : DRAM_MAX_POWER_W;
    in->wrap_after_s = (double)z->max_range_uj * 1e-6 / max_w;
    return WS_OK;
}

/* ---- the sensor ---- */

static size_t pc_device_count(const wsi_sensor *s) { return ((const powercap_sensor *)s)->n; }

static void pc_device_info(const wsi_sensor *s, size_t i, ws_device_info *out) {
    *out = ((const powercap_sensor *)s)->zones[i].info;
}

/* Unwrapping: energy_uj runs 0 .. max_energy_range_uj and starts again at 0, so when it goes
 * down it has wrapped once and delta = (max - last) + cur. The kernel's max is mask * unit,
 * so the true period is max + one energy unit (15-61 uJ): we undercount that much per wrap,
 * ~2e-10 of the 262 kJ a wrap takes. Two wraps between reads cannot be seen; the meter
 * prevents them by sampling well within wrap_after_s. */
static ws_status pc_read(wsi_sensor *s, size_t i, wsi_sensor_sample *out, ws_error *err) {
    powercap_sensor *ps = (powercap_sensor *)s;
    zone *z = &ps->zones[i];
    uint64_t cur;
    memset(out, 0, sizeof *out);
    ws_status st = read_energy_uj(z, ps->root, &cur, err);
    if (st != WS_OK) return st;
    uint64_t delta = cur >= z->last_uj ? cur - z->last_uj
                                       : (z->last_uj <= z->max_range_uj ? z->max_range_uj - z->last_uj : 0) + cur;
    z->total_uj += delta;
    z->last_uj = cur;
    out->has_energy = 1;
    out->energy_j = (double)z->total_uj * 1e-6;
    return WS_OK;
}

static void pc_close(wsi_sensor *s) {
    powercap_sensor *ps = (powercap_sensor *)s;
    if (!ps) return;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->zones[i].fd >= 0) close(ps->zones[i].fd);
    free(ps->zones);
    free(ps);
}

static const wsi_sensor_ops powercap_ops = {
    .name = "rapl-powercap",
    .device_count = pc_device_count,
    .device_info = pc_device_info,
    .read = pc_read,
    .close = pc_close,
};

ws_status wsi_powercap_open(wsi_sensor **out, const char *root, wsi_warn_fn warn, void *ctx, ws_error *err) {
    if (!out) return wsi_error(err, WS_EINVAL, "wsi_powercap_open: out is NULL");
    *out = NULL;
    if (!root) root = DEFAULT_ROOT;

    struct stat st;
    int e = stat(root, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (e != 0) {
        if (is_perm(e)) return perm_error(err, root, root, e);
        return wsi_error(err, WS_ENOSENSOR,
                         "CPU/DRAM: %s absent: the kernel exposes no RAPL powercap (virtual machine, or "
                         "intel_rapl_common / amd RAPL driver not loaded; try `modprobe intel_rapl_msr`)",
                         root);
    }

    candidate_list l = {calloc(MAX_ZONES, sizeof(candidate)), 0};
    if (!l.c) return wsi_error(err, WS_ENOMEM, "wsi_powercap_open: no memory");
    walk_root(&l, root);
    qsort(l.c, l.n, sizeof *l.c, cmp_dir); /* readdir order is arbitrary; ours is not */

    skip_list skipped = {.count = 0};
    classify(&l, &skipped);
    if (warn && skipped.count > 0) warn(ctx, skipped.line);

    size_t kept = 0;
    for (size_t i = 0; i < l.n; i++)
        if (l.c[i].keep) l.c[kept++] = l.c[i];
    if (kept == 0) {
        free(l.c);
        return wsi_error(err, WS_ENOSENSOR,
                         "CPU/DRAM: %s has no RAPL package or dram zone (%zu zone%s, none usable: "
                         "virtual machine, or RAPL driver not loaded; try `modprobe intel_rapl_msr`)",
                         root, l.n, l.n == 1 ? "" : "s");
    }
    qsort(l.c, kept, sizeof *l.c, cmp_device);

    powercap_sensor *ps = calloc(1, sizeof *ps);
    zone *zones = calloc(kept, sizeof *zones);
    if (!ps || !zones) {
        free(ps);
        free(zones);
        free(l.c);
        return wsi_error(err, WS_ENOMEM, "wsi_powercap_open: no memory");
    }
    ps->base.ops = &powercap_ops;
    snprintf(ps->root, sizeof ps->root, "%s", root);
    ps->zones = zones;
    for (size_t i = 0; i < kept; i++) zones[i].fd = -1;
    ps->n = kept; /* before opening, so that pc_close closes what did open */
    ws_status rc = WS_OK;
    for (size_t i = 0; i < kept && rc == WS_OK; i++) rc = open_zone(&zones[i], &l.c[i], root, err);
    free(l.c);
    if (rc != WS_OK) {
        pc_close(&ps->base);
        return rc;
    }
    *out = &ps->base;
    return WS_OK;
}
