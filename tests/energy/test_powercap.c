/* tests/energy/test_powercap.c - the RAPL powercap sensor (energy/rapl_powercap.c) on fake
 * sysfs trees: zone selection (psys, core skipped; intel-rapl-mmio duplicate dropped), the
 * real flat-with-symlinks layout, exact unwrapped accumulation while a writer thread advances
 * the counters through wrap-arounds, malformed files, missing root, and EACCES.
 *
 * The writer changes energy_uj in place with one pwrite of a fixed-width value, because the
 * sensor keeps its fd open (a rename would leave it reading the old inode). A regular file
 * gives no all-or-nothing promise between a pwrite and a concurrent pread, while the kernel
 * builds each sysfs read whole, so the writer and the reads take one mutex: what stays
 * concurrent is the timing (reads land at arbitrary points of the scripted profile). */
#include "ws_test.h"
#include "energy/sensor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/timeutil.h"

/* ---- warnings ---- */

typedef struct {
    int n;
    char lines[8][1024];
} warnings;

static void collect(void *ctx, const char *line) {
    warnings *w = ctx;
    if (w->n < 8) snprintf(w->lines[w->n], sizeof w->lines[0], "%s", line);
    w->n++;
}

/* ---- building trees ---- */

/* out = a/b; a test path never comes near the limit, but fail loudly if one does */
static char *join(char *out, size_t size, const char *a, const char *b) {
    if ((size_t)snprintf(out, size, "%s/%s", a, b) >= size) fail_msg("path too long: %s/%s", a, b);
    return out;
}

static void mkdir_or_fail(const char *path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", path, strerror(errno));
    chmod(path, 0755); /* whatever the umask: the EACCES test reads the tree as nobody */
}

static void write_at(const char *dir, const char *file, const char *text) {
    char p[1024];
    ws_test_write_file(join(p, sizeof p, dir, file), text);
    chmod(p, 0644);
}

/* Fixed width (20 digits hold any u64), so an in-place rewrite never leaves stale digits. */
static void format_uj(char *buf, size_t size, uint64_t uj) { snprintf(buf, size, "%020" PRIu64 "\n", uj); }

/* Makes <parent>/<dir> with name, energy_uj, max_energy_range_uj; returns its path. */
static const char *mkzone(char *out, size_t size, const char *parent, const char *dir, const char *name,
                          uint64_t energy_uj, uint64_t max_range_uj) {
    char buf[32];
    mkdir_or_fail(join(out, size, parent, dir));
    write_at(out, "name", name);
    format_uj(buf, sizeof buf, energy_uj);
    write_at(out, "energy_uj", buf);
    snprintf(buf, sizeof buf, "%" PRIu64 "\n", max_range_uj);
    write_at(out, "max_energy_range_uj", buf);
    return out;
}

#define BIG_RANGE_UJ UINT64_C(262143328850) /* a real package's max_energy_range_uj */

/* The tree of a two-socket client-like box: core and psys to skip, package-0 also via MMIO. */
static void make_standard_tree(const char *root) {
    char z0[1024], z1[1024], p[1024];
    mkzone(z0, sizeof z0, root, "intel-rapl:0", "package-0\n", 1000, BIG_RANGE_UJ);
    write_at(z0, "constraint_0_max_power_uw", "125000000\n");
    write_at(z0, "constraint_0_power_limit_uw", "95000000\n");
    write_at(z0, "enabled", "1\n");
    mkzone(p, sizeof p, z0, "intel-rapl:0:0", "core\n", 10, BIG_RANGE_UJ);
    mkzone(p, sizeof p, z0, "intel-rapl:0:1", "dram\n", 20, UINT64_C(65712999613));
    mkzone(z1, sizeof z1, root, "intel-rapl:1", "package-1\n", 30, BIG_RANGE_UJ);
    write_at(z1, "enabled", "0\n");
    write_at(z1, "constraint_0_power_limit_uw", "95000000\n"); /* not enforced: enabled is 0 */
    mkzone(p, sizeof p, z1, "intel-rapl:1:0", "dram\n", 40, UINT64_C(65712999613));
    mkzone(p, sizeof p, root, "intel-rapl:2", "psys\n", 50, BIG_RANGE_UJ);
    mkzone(p, sizeof p, root, "intel-rapl-mmio:0", "package-0\n", 60, BIG_RANGE_UJ);
}

static void expect_device(const wsi_sensor *s, size_t i, ws_domain dom, const char *name, const char *id) {
    ws_device_info in;
    memset(&in, 0x5a, sizeof in); /* poison: every field must be written */
    s->ops->device_info(s, i, &in);
    if (in.domain != dom || strcmp(in.name, name) || strcmp(in.id, id))
        fail_msg("device %zu: domain %d name \"%s\" id \"%s\", want %d \"%s\" \"%s\"", i, (int)in.domain,
                 in.name, in.id, (int)dom, name, id);
    assert_string_equal(in.backend, "rapl-powercap");
    assert_string_equal(in.power_kind, "derived");
    assert_int_equal(in.has_counter, 1);
    assert_int_equal(in.has_power, 0);
    WS_TEST_NEAR(in.counter_period_s, 0.001, 0, 0);
}

/* ---- tests ---- */

static void test_missing_root(void **state) {
    (void)state;
    const char *dir = ws_test_tmpdir("powercap");
    char root[1024];
    join(root, sizeof root, dir, "no-such-powercap");
    wsi_sensor *s = (wsi_sensor *)&s;
    ws_error err = {0};
    ws_status st = wsi_powercap_open(&s, root, NULL, NULL, &err);
    assert_int_equal(st, WS_ENOSENSOR);
    assert_int_equal(err.code, WS_ENOSENSOR);
    assert_null(s);
    if (!strstr(err.msg, root) || !strstr(err.msg, "absent") || !strstr(err.msg, "modprobe intel_rapl_msr"))
        fail_msg("unhelpful message: %s", err.msg);
    ws_test_rmtree(dir);
}

static void test_only_psys_is_no_sensor(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("powercap");
    char p[1024];
    mkzone(p, sizeof p, root, "intel-rapl:0", "psys\n", 1, BIG_RANGE_UJ);
    warnings w = {0};
    wsi_sensor *s = NULL;
    ws_error err = {0};
    assert_int_equal(wsi_powercap_open(&s, root, collect, &w, &err), WS_ENOSENSOR);
    assert_null(s);
    assert_non_null(strstr(err.msg, "no RAPL package or dram zone"));
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.lines[0], "intel-rapl:0 (psys"));
    ws_test_rmtree(root);
}

static void test_zones_selected_sorted_deduplicated(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("powercap");
    make_standard_tree(root);
    warnings w = {0};
    wsi_sensor *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(wsi_powercap_open(&s, root, collect, &w, &err));
    assert_string_equal(s->ops->name, "rapl-powercap");
    assert_int_equal(s->ops->device_count(s), 4);
    expect_device(s, 0, WS_DOMAIN_CPU, "package-0", "powercap:intel-rapl:0");
    expect_device(s, 1, WS_DOMAIN_CPU, "package-1", "powercap:intel-rapl:1");
    expect_device(s, 2, WS_DOMAIN_DRAM, "dram-0", "powercap:intel-rapl:0:1");
    expect_device(s, 3, WS_DOMAIN_DRAM, "dram-1", "powercap:intel-rapl:1:0");

    ws_device_info in;
    s->ops->device_info(s, 0, &in); /* its own bound: 125 W */
    WS_TEST_NEAR(in.wrap_after_s, 262143.328850 / 125.0, 1e-12, 0);
    WS_TEST_NEAR(in.power_limit_w, 95.0, 1e-12, 0);
    s->ops->device_info(s, 1, &in); /* default bound: 500 W; limit not enforced */
    WS_TEST_NEAR(in.wrap_after_s, 262143.328850 / 500.0, 1e-12, 0);
    WS_TEST_NEAR(in.power_limit_w, 0.0, 0, 0);
    s->ops->device_info(s, 2, &in); /* dram default: 200 W */
    WS_TEST_NEAR(in.wrap_after_s, 65712.999613 / 200.0, 1e-12, 0);

    /* one line, naming each skipped zone with its reason */
    assert_int_equal(w.n, 1);
    const char *want[] = {"intel-rapl:0:0 (core: a subset", "intel-rapl:2 (psys: ", "overlaps package+dram",
                          "intel-rapl-mmio:0 (package-0 again: kept intel-rapl:0, the MSR interface)"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(w.lines[0], want[i])) fail_msg("warning lacks \"%s\": %s", want[i], w.lines[0]);

    /* origin at open: nothing has been counted yet */
    wsi_sensor_sample smp;
    for (size_t i = 0; i < 4; i++) {
        WS_TEST_OK(s->ops->read(s, i, &smp, &err));
        assert_int_equal(smp.has_energy, 1);
        assert_int_equal(smp.has_power, 0);
        WS_TEST_NEAR(smp.energy_j, 0.0, 0, 0);
    }
    s->ops->close(s);
    ws_test_rmtree(root);
}

/* Real sysfs: /sys/class/powercap holds symlinks to every zone, subzones included, into
 * /sys/devices/virtual/powercap/<type>/..., where subzones also sit inside their parent. */
static void test_flat_symlink_layout(void **state) {
    (void)state;
    const char *top = ws_test_tmpdir("powercap");
    char dev[1024], type[1024], root[1024], z0[1024], p[1024];
    join(dev, sizeof dev, top, "devices");
    join(type, sizeof type, dev, "intel-rapl");
    join(root, sizeof root, top, "class");
    mkdir_or_fail(dev);
    mkdir_or_fail(type);
    mkdir_or_fail(root);
    write_at(type, "enabled", "1\n");
    mkzone(z0, sizeof z0, type, "intel-rapl:0", "package-0\n", 5, BIG_RANGE_UJ);
    mkzone(p, sizeof p, z0, "intel-rapl:0:0", "core\n", 5, BIG_RANGE_UJ);
    mkzone(p, sizeof p, z0, "intel-rapl:0:1", "dram\n", 5, BIG_RANGE_UJ);
    const char *links[][2] = {{"../devices/intel-rapl", "intel-rapl"},
                              {"../devices/intel-rapl/intel-rapl:0", "intel-rapl:0"},
                              {"../devices/intel-rapl/intel-rapl:0/intel-rapl:0:0", "intel-rapl:0:0"},
                              {"../devices/intel-rapl/intel-rapl:0/intel-rapl:0:1", "intel-rapl:0:1"}};
    for (size_t i = 0; i < 4; i++) {
        join(p, sizeof p, root, links[i][1]);
        if (symlink(links[i][0], p) != 0) fail_msg("symlink %s: %s", p, strerror(errno));
    }
    warnings w = {0};
    wsi_sensor *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(wsi_powercap_open(&s, root, collect, &w, &err));
    assert_int_equal(s->ops->device_count(s), 2); /* each zone once, though reached up to 3 ways */
    expect_device(s, 0, WS_DOMAIN_CPU, "package-0", "powercap:intel-rapl:0");
    expect_device(s, 1, WS_DOMAIN_DRAM, "dram-0", "powercap:intel-rapl:0:1");
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.lines[0], "intel-rapl:0:0 (core"));
    assert_null(strstr(w.lines[0], "again")); /* no zone mistaken for a duplicate device */
    s->ops->close(s);
    ws_test_rmtree(top);
}

/* ---- counters advanced by a writer thread while the main thread reads ---- */

#define NZ 4
#define STEPS 250
#define STEP_S 0.002    /* 250 steps: 0.5 s */
#define READ_S 0.010
#define MAX_AHEAD 20    /* steps the writer may run ahead of the reader (see writer) */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd[NZ];
    uint64_t start_uj[NZ], max_uj[NZ], step_uj[NZ];
    int step;           /* steps written */
    int read_step;      /* step seen by the latest read */
    double t0_s;        /* monotonic time of step 0 */
} script;

static uint64_t raw_at(const script *sc, int z, int step) {
    /* modulo max: the sensor's convention, energy_uj wraps from max_energy_range_uj to 0 */
    return (sc->start_uj[z] + (uint64_t)step * sc->step_uj[z]) % sc->max_uj[z];
}

static void *writer(void *arg) {
    script *sc = arg;
    for (int k = 1; k <= STEPS; k++) {
        ws_sleep_until_s(sc->t0_s + k * STEP_S);
        pthread_mutex_lock(&sc->mu);
        /* A meter samples well within wrap_after_s; a starved reader (a loaded CI box, ASan)
         * must not let a counter wrap twice between reads, which no sensor can detect. */
        while (k - 1 - sc->read_step >= MAX_AHEAD) pthread_cond_wait(&sc->cv, &sc->mu);
        for (int z = 0; z < NZ; z++) {
            char buf[32];
            format_uj(buf, sizeof buf, raw_at(sc, z, k));
            if (pwrite(sc->fd[z], buf, strlen(buf), 0) != (ssize_t)strlen(buf)) abort();
        }
        sc->step = k;
        pthread_mutex_unlock(&sc->mu);
    }
    return NULL;
}

static void test_accumulates_through_wraps(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("powercap");
    /* device order: package-0, package-1, dram-0, dram-1; per step of 2 ms */
    script sc = {.start_uj = {5000000, UINT64_C(262000000000), 1200000, UINT64_C(4294967000)},
                 .max_uj = {7000000, BIG_RANGE_UJ, 1500000, UINT64_C(65712999613)},
                 .step_uj = {100000, 60000, 8000, 6000}}; /* 50, 30, 4, 3 W */
    /* package-0 wraps at steps 20, 90, 160, 230; dram-0 at 38 and 225, each in its own read
     * interval; package-1 starts past 2^32 uJ; dram-1 crosses 2^32 at step 1 (no u32 anywhere) */
    char z0[1024], z1[1024], p[1024], paths[NZ][1100];
    mkzone(z0, sizeof z0, root, "intel-rapl:0", "package-0\n", sc.start_uj[0], sc.max_uj[0]);
    mkzone(z1, sizeof z1, root, "intel-rapl:1", "package-1\n", sc.start_uj[1], sc.max_uj[1]);
    mkzone(p, sizeof p, z0, "intel-rapl:0:0", "dram\n", sc.start_uj[2], sc.max_uj[2]);
    join(paths[2], sizeof paths[2], p, "energy_uj");
    mkzone(p, sizeof p, z1, "intel-rapl:1:0", "dram\n", sc.start_uj[3], sc.max_uj[3]);
    join(paths[3], sizeof paths[3], p, "energy_uj");
    join(paths[0], sizeof paths[0], z0, "energy_uj");
    join(paths[1], sizeof paths[1], z1, "energy_uj");
    for (int z = 0; z < NZ; z++)
        if ((sc.fd[z] = open(paths[z], O_WRONLY)) < 0) fail_msg("open %s: %s", paths[z], strerror(errno));
    int wraps[NZ] = {0}, first_wrap[NZ] = {0};
    for (int z = 0; z < NZ; z++)
        for (int k = 1; k <= STEPS; k++)
            if (raw_at(&sc, z, k) < raw_at(&sc, z, k - 1) && wraps[z]++ == 0) first_wrap[z] = k;
    assert_true(wraps[0] >= 3 && wraps[2] >= 2 && wraps[1] == 0 && wraps[3] == 0);
    assert_true(first_wrap[0] != first_wrap[2]);

    wsi_sensor *s = NULL;
    ws_error err = {0};
    WS_TEST_OK(wsi_powercap_open(&s, root, NULL, NULL, &err));
    assert_int_equal(s->ops->device_count(s), NZ);
    expect_device(s, 2, WS_DOMAIN_DRAM, "dram-0", "powercap:intel-rapl:0:0");

    pthread_mutex_init(&sc.mu, NULL);
    pthread_cond_init(&sc.cv, NULL);
    pthread_t th;
    sc.t0_s = ws_now_s();
    assert_int_equal(pthread_create(&th, NULL, writer, &sc), 0);
    int reads = 0, moved = 0, last_step = 0;
    double last_j[NZ] = {0};
    for (int done = 0; !done;) {
        ws_sleep_s(READ_S);
        pthread_mutex_lock(&sc.mu);
        done = sc.step == STEPS;
        for (int z = 0; z < NZ; z++) {
            wsi_sensor_sample smp;
            ws_status st = s->ops->read(s, (size_t)z, &smp, &err);
            if (st != WS_OK) fail_msg("read %d at step %d: %s", z, sc.step, err.msg);
            /* exact: integer uJ in, one conversion out; atol is 1 nJ, far below 1 uJ */
            double want_j = (double)((uint64_t)sc.step * sc.step_uj[z]) * 1e-6;
            if (!(fabs(smp.energy_j - want_j) <= 1e-9))
                fail_msg("zone %d at step %d: %.9f J, want %.9f J", z, sc.step, smp.energy_j, want_j);
            assert_true(smp.energy_j >= last_j[z]);
            last_j[z] = smp.energy_j;
        }
        moved += sc.step != last_step;
        last_step = sc.read_step = sc.step;
        reads++;
        pthread_cond_signal(&sc.cv);
        pthread_mutex_unlock(&sc.mu);
    }
    pthread_join(th, NULL);
    /* 25 J, 15 J, 2 J, 1.5 J: what 50, 30, 4 and 3 W deliver in 0.5 s */
    WS_TEST_NEAR(last_j[0], 25.0, 1e-12, 0);
    WS_TEST_NEAR(last_j[1], 15.0, 1e-12, 0);
    WS_TEST_NEAR(last_j[2], 2.0, 1e-12, 0);
    WS_TEST_NEAR(last_j[3], 1.5, 1e-12, 0);
    if (moved < 13) fail_msg("only %d of %d reads saw the counters move: not interleaved", moved, reads);
    pthread_mutex_destroy(&sc.mu);
    pthread_cond_destroy(&sc.cv);
    for (int z = 0; z < NZ; z++) close(sc.fd[z]);
    s->ops->close(s);
    ws_test_rmtree(root);
}

static void test_malformed_files(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("powercap");
    char z[1024], file[1100];
    mkzone(z, sizeof z, root, "intel-rapl:0", "package-0\n", 0, BIG_RANGE_UJ);
    join(file, sizeof file, z, "energy_uj");
    wsi_sensor *s = NULL;
    ws_error err = {0};
    const char *bad[] = {"abc\n", "", "-5\n", "12x\n", "99999999999999999999999\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ws_test_write_file(file, bad[i]);
        ws_status st = wsi_powercap_open(&s, root, NULL, NULL, &err);
        if (st != WS_EFORMAT || s != NULL || !strstr(err.msg, file))
            fail_msg("energy_uj \"%s\": %s, %s", bad[i], ws_status_name(st), err.msg);
    }

    /* a counter that goes bad after open: read names the file, and the next good read
     * carries on from the last good value */
    ws_test_write_file(file, "00000000000000001000\n");
    WS_TEST_OK(wsi_powercap_open(&s, root, NULL, NULL, &err));
    int fd = open(file, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "abc\n", 4, 0), 4);
    wsi_sensor_sample smp;
    err.msg[0] = '\0';
    assert_int_equal(s->ops->read(s, 0, &smp, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, "abc"));
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "3500\n", 5, 0), 5);
    WS_TEST_OK(s->ops->read(s, 0, &smp, &err));
    WS_TEST_NEAR(smp.energy_j, 2500e-6, 0, 1e-12);
    close(fd);
    s->ops->close(s);

    join(file, sizeof file, z, "max_energy_range_uj");
    ws_test_write_file(file, "lots\n");
    assert_int_equal(wsi_powercap_open(&s, root, NULL, NULL, &err), WS_EFORMAT);
    assert_non_null(strstr(err.msg, file));
    ws_test_rmtree(root);
}

/* ---- EACCES: energy_uj readable by root only, as since Linux 5.10 ---- */

typedef struct {
    int skip;       /* 1: privileges could not be dropped */
    ws_status status;
    char msg[512];
} child_report;

static void expect_perm_message(ws_status st, const char *msg, const char *file) {
    if (st != WS_EPERM) fail_msg("got %s, want WS_EPERM: %s", ws_status_name(st), msg);
    const char *want[] = {file, "root", "CVE-2020-8694", "chmod o+r", "udev", "99-wattscale-rapl.rules",
                          "/sys%p/energy_uj"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(msg, want[i])) fail_msg("message lacks \"%s\": %s", want[i], msg);
}

static void test_permission_denied(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("powercap");
    chmod(root, 0755); /* mkdtemp made it 0700 */
    char z[1024], file[1100];
    mkzone(z, sizeof z, root, "intel-rapl:0", "package-0\n", 7, BIG_RANGE_UJ);
    join(file, sizeof file, z, "energy_uj");
    assert_int_equal(chmod(file, 0600), 0); /* 0400 root:root in real sysfs */

    if (geteuid() == 0) {
        /* root reads anything: drop to nobody in a child, which reports back through a pipe */
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            child_report r = {0};
            close(fds[0]);
            if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                setresuid(65534, 65534, 65534) != 0 || access(z, X_OK) != 0) {
                r.skip = 1;
            } else {
                wsi_sensor *s = NULL;
                ws_error err = {0};
                r.status = wsi_powercap_open(&s, root, NULL, NULL, &err);
                snprintf(r.msg, sizeof r.msg, "%s", err.msg);
                if (s) s->ops->close(s);
            }
            ssize_t wr = write(fds[1], &r, sizeof r);
            _exit(wr == (ssize_t)sizeof r ? 0 : 1);
        }
        close(fds[1]);
        child_report r;
        ssize_t got = read(fds[0], &r, sizeof r);
        close(fds[0]);
        int wst = 0;
        waitpid(pid, &wst, 0);
        if (got != (ssize_t)sizeof r || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
            fail_msg("child failed (read %zd bytes, wait status %d)", got, wst);
        ws_test_rmtree(root);
        if (r.skip) skip(); /* no CAP_SETUID (a user namespace without mappings?) */
        expect_perm_message(r.status, r.msg, file);
        return;
    }
    assert_int_equal(chmod(file, 0), 0);
    int probe = open(file, O_RDONLY);
    if (probe >= 0) { /* CAP_DAC_OVERRIDE without being root: cannot test here */
        close(probe);
        ws_test_rmtree(root);
        skip();
    }
    wsi_sensor *s = NULL;
    ws_error err = {0};
    ws_status st = wsi_powercap_open(&s, root, NULL, NULL, &err);
    assert_null(s);
    expect_perm_message(st, err.msg, file);
    ws_test_rmtree(root);
}

/* The machine's own powercap: absent in a VM, root-only on most hosts; where it opens, the
 * counters must move forward at a believable rate. */
static void test_real_sysfs_if_any(void **state) {
    (void)state;
    wsi_sensor *s = NULL;
    ws_error err = {0};
    warnings w = {0};
    ws_status st = wsi_powercap_open(&s, NULL, collect, &w, &err);
    if (st != WS_OK) {
        if (st != WS_ENOSENSOR && st != WS_EPERM) fail_msg("%s: %s", ws_status_name(st), err.msg);
        print_message("no usable powercap here (%s): %s\n", ws_status_name(st), err.msg);
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
        print_message("%-10s %-28s %8.2f W  wrap after %.0f s\n", in.name, in.id, power_w, in.wrap_after_s);
        assert_true(power_w >= 0 && power_w < 2000);
    }
    for (int i = 0; i < w.n && i < 8; i++) print_message("warning: %s\n", w.lines[i]);
    s->ops->close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_root),
        cmocka_unit_test(test_only_psys_is_no_sensor),
        cmocka_unit_test(test_zones_selected_sorted_deduplicated),
        cmocka_unit_test(test_flat_symlink_layout),
        cmocka_unit_test(test_accumulates_through_wraps),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_permission_denied),
        cmocka_unit_test(test_real_sysfs_if_any),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
