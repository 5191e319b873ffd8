/* cli/cmd_measure.c - `wattscale measure [OPTIONS] -- COMMAND [ARGS...]`.
 * defines: ws_cmd_measure. Runs COMMAND under the energy meter like time(1): SIGINT,
 * SIGTERM, SIGHUP and SIGQUIT are forwarded to it, and we exit with its status (128+N when
 * signal N ended it). Exit 125: our own error (bad flag, report not written);
 * 126: COMMAND not executable; 127: COMMAND not found, as shells do. */
#include "cli/commands.h"
#include "cli/measure_report.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "wattscale/wattscale.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { EXIT_OURS = 125, EXIT_NOEXEC = 126, EXIT_NOTFOUND = 127 };

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig) {
    if (child_pid > 0) kill((pid_t)child_pid, sig);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: wattscale measure [OPTIONS] -- COMMAND [ARGS...]\n"
            "\n"
            "Runs COMMAND and measures the energy of this machine's GPUs (NVML), CPU packages and\n"
            "DRAM (RAPL) while it runs. Prints a table on stderr; exits with COMMAND's status.\n"
            "\n"
            "  --interval MS        sampling interval in ms (default 100, 10 to 60000)\n"
            "  --counter-interval MS  read costly energy counters (NVML) this often between the\n"
            "                       start and the end, which always read them (default 1000; 0: every sample)\n"
            "  --idle-seconds S     measure S seconds of idle before COMMAND; report energy above idle\n"
            "  --json FILE          write the report as JSON (schema wattscale.measure/1)\n"
            "  --csv FILE           write the power time series: time_s,device,kind,power_w,energy_j\n"
            "  --sensors LIST       comma list of nvml,powercap,perf (default: all)\n"
            "  --gpus UUID,...|all  meter only these GPUs, by UUID as nvidia-smi -L shows (default: all);\n"
            "                       the others are not read and are listed as left out. CPU and DRAM\n"
            "                       (RAPL) are per package: they cannot be split by job\n"
            "  --pue X              power usage effectiveness for the footprint (default 1.0)\n"
            "  --carbon G           grid intensity, gCO2e per kWh (default 475)\n"
            "  --price P            energy price per kWh (default 0.30)\n"
            "  --quiet              no table\n"
            "\n"
            "environment: WATTSCALE_POWERCAP_ROOT (default /sys/class/powercap),\n"
            "  WATTSCALE_NVML_LIBRARY (default libnvidia-ml.so.1), WATTSCALE_PUE,\n"
            "  WATTSCALE_CARBON_G_PER_KWH, WATTSCALE_PRICE_PER_KWH, WATTSCALE_CURRENCY\n");
}

static int parse_double(const char *flag, const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double x = strtod(text, &end);
    if (errno || !end || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "wattscale measure: %s wants a number from %g to %g, got '%s'\n", flag, lo, hi, text);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_sensors(const char *list, unsigned *out) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    unsigned mask = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "nvml")) mask |= WS_SENSOR_NVML;
        else if (!strcmp(tok, "powercap")) mask |= WS_SENSOR_RAPL_POWERCAP;
        else if (!strcmp(tok, "perf")) mask |= WS_SENSOR_RAPL_PERF;
        else if (!strcmp(tok, "none")) mask |= 0;
        else {
            fprintf(stderr, "wattscale measure: unknown sensor '%s' in --sensors (nvml, powercap, perf, none)\n", tok);
            return -1;
        }
    }
    *out = mask;
    return 0;
}

/* "all" leaves *out NULL; else a NULL-terminated list of the comma-separated UUIDs, in
 * `storage` (a copy of list the caller frees). */
static int parse_gpus(const char *list, char **storage, char ***out) {
    *out = NULL;
    *storage = NULL;
    if (!strcmp(list, "all")) return 0;
    size_t n = 1;
    for (const char *c = list; *c; c++) n += *c == ',';
    char *copy = strdup(list);
    char **uuids = calloc(n + 1, sizeof *uuids);
    if (!copy || !uuids) {
        free(copy);
        free(uuids);
        fprintf(stderr, "wattscale measure: out of memory\n");
        return -1;
    }
    size_t k = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) uuids[k++] = tok;
    if (k == 0) {
        free(copy);
        free(uuids);
        fprintf(stderr, "wattscale measure: --gpus wants GPU UUIDs separated by commas (nvidia-smi -L) or all\n");
        return -1;
    }
    *storage = copy;
    *out = uuids;
    return 0;
}

/* Starts argv; returns its pid, or -1 with *exit_code set when it cannot run. A close-on-
 * exec pipe carries exec's errno back, so "not found" is told apart from a command that
 * itself exits 127. */
static pid_t spawn(char **argv, int *exit_code) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        fprintf(stderr, "wattscale measure: pipe: %s\n", strerror(errno));
        *exit_code = EXIT_OURS;
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "wattscale measure: fork: %s\n", strerror(errno));
        close(p[0]);
        close(p[1]);
        *exit_code = EXIT_OURS;
        return -1;
    }
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(p[1], &e, sizeof e);
        (void)w;
        _exit(EXIT_NOTFOUND);
    }
    close(p[1]);
    int e = 0;
    ssize_t r;
    do r = read(p[0], &e, sizeof e); while (r < 0 && errno == EINTR);
    close(p[0]);
    if (r == (ssize_t)sizeof e) {
        waitpid(pid, NULL, 0);
        fprintf(stderr, "wattscale measure: cannot run '%s': %s\n", argv[0], strerror(e));
        *exit_code = (e == ENOENT) ? EXIT_NOTFOUND : EXIT_NOEXEC;
        return -1;
    }
    return pid;
}

static int run_measure(int argc, char **argv, char **gpu_storage, char ***gpu_uuids);

int ws_cmd_measure(int argc, char **argv) {
    char *gpu_storage = NULL, **gpu_uuids = NULL;
    int rc = run_measure(argc, argv, &gpu_storage, &gpu_uuids);
    free(gpu_storage);
    free(gpu_uuids);
    return rc;
}

static int run_measure(int argc, char **argv, char **gpu_storage, char ***gpu_uuids) {
    ws_meter_opts opts = ws_meter_opts_default();
    ws_footprint_opts fopts = ws_footprint_opts_default();
    const char *json_path = NULL, *csv_path = NULL;
    double idle_s = 0;
    int quiet = 0, i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1] == '-' && !has_value) {
            fprintf(stderr, "wattscale measure: %s needs a value (see --help)\n", a);
            return EXIT_OURS;
        } else if (!strcmp(a, "--interval")) {
            if (parse_double(a, argv[++i], 10, 60000, &opts.interval_ms)) return EXIT_OURS;
        } else if (!strcmp(a, "--counter-interval")) {
            if (parse_double(a, argv[++i], 0, 3600000, &opts.counter_refresh_ms)) return EXIT_OURS;
        } else if (!strcmp(a, "--idle-seconds")) {
            if (parse_double(a, argv[++i], 0, 3600, &idle_s)) return EXIT_OURS;
        } else if (!strcmp(a, "--json")) {
            json_path = argv[++i];
        } else if (!strcmp(a, "--csv")) {
            csv_path = argv[++i];
        } else if (!strcmp(a, "--sensors")) {
            if (parse_sensors(argv[++i], &opts.sensors)) return EXIT_OURS;
        } else if (!strcmp(a, "--gpus")) {
            free(*gpu_storage);
            free(*gpu_uuids);
            if (parse_gpus(argv[++i], gpu_storage, gpu_uuids)) return EXIT_OURS;
            opts.gpu_uuids = (const char *const *)*gpu_uuids;
        } else if (!strcmp(a, "--pue")) {
            if (parse_double(a, argv[++i], 1, 10, &fopts.pue)) return EXIT_OURS;
        } else if (!strcmp(a, "--carbon")) {
            if (parse_double(a, argv[++i], 0, 5000, &fopts.carbon_g_per_kwh)) return EXIT_OURS;
        } else if (!strcmp(a, "--price")) {
            if (parse_double(a, argv[++i], 0, 1000, &fopts.price_per_kwh)) return EXIT_OURS;
        } else if (a[0] == '-') {
            fprintf(stderr, "wattscale measure: unknown option '%s' (see --help)\n", a);
            return EXIT_OURS;
        } else {
            break; /* the command starts here (no "--" given) */
        }
    }
    if (i >= argc) {
        fprintf(stderr, "wattscale measure: no command given\n");
        usage(stderr);
        return EXIT_OURS;
    }
    char **command = argv + i;

    FILE *csv = NULL;
    if (csv_path) {
        csv = fopen(csv_path, "w");
        if (!csv) {
            fprintf(stderr, "wattscale measure: cannot write --csv %s: %s\n", csv_path, strerror(errno));
            return EXIT_OURS;
        }
        opts.csv = csv;
    }
    ws_error err = {0};
    ws_meter *m = NULL;
    if (ws_meter_open(&m, &opts, &err) != WS_OK) {
        fprintf(stderr, "wattscale measure: %s\n", err.msg);
        if (csv) fclose(csv);
        return EXIT_OURS;
    }
    if (!quiet) {
        for (size_t d = 0; d < ws_meter_device_count(m); d++) {
            const ws_device_info *info = ws_meter_device(m, d);
            ws_log(WS_LOG_INFO, "sensor: %s %s (%s, %s%s power)", ws_domain_name(info->domain), info->name, info->id,
                   info->has_counter ? "energy counter, " : "", info->power_kind);
        }
        for (size_t d = 0; d < ws_meter_missing_count(m); d++)
            ws_log(WS_LOG_INFO, "not measured: %s: %s", ws_domain_name(ws_meter_missing(m, d)->domain),
                   ws_meter_missing(m, d)->reason);
    }
    if (idle_s > 0) {
        if (!quiet) ws_log(WS_LOG_INFO, "measuring %.1f s of idle first", idle_s);
        if (ws_meter_measure_idle(m, idle_s, &err) != WS_OK) {
            fprintf(stderr, "wattscale measure: idle baseline: %s\n", err.msg);
            ws_meter_close(m);
            if (csv) fclose(csv);
            return EXIT_OURS;
        }
    }

    ws_measure_result r;
    memset(&r, 0, sizeof r);
    r.meter = m;
    r.command = command;
    r.interval_ms = opts.interval_ms;
    r.idle_seconds = idle_s;
    r.footprint = fopts;
    ws_wall_time_iso(r.start_time, sizeof r.start_time);

    struct sigaction sa, old[4];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t s = 0; s < 4; s++) sigaction(sigs[s], &sa, &old[s]);

    if (ws_meter_start(m, &err) != WS_OK) {
        fprintf(stderr, "wattscale measure: %s\n", err.msg);
        ws_meter_close(m);
        if (csv) fclose(csv);
        return EXIT_OURS;
    }
    double t0 = ws_now_s();
    int exit_code = 0;
    pid_t pid = spawn(command, &exit_code);
    int status = 0;
    if (pid > 0) {
        child_pid = pid;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        child_pid = 0;
    }
    double t1 = ws_now_s();
    ws_meter_stop(m, &err);
    for (size_t s = 0; s < 4; s++) sigaction(sigs[s], &old[s], NULL);
    if (pid < 0) {
        ws_meter_close(m);
        if (csv) fclose(csv);
        return exit_code;
    }
    if (WIFEXITED(status)) {
        r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        r.term_signal = WTERMSIG(status);
        r.exit_code = 128 + r.term_signal;
    }
    r.duration_s = t1 - t0;

    size_t n = ws_meter_device_count(m);
    ws_device_energy *energy = calloc(n ? n : 1, sizeof *energy);
    int rc = r.exit_code;
    if (!energy || ws_meter_read(m, energy, &err) != WS_OK) {
        fprintf(stderr, "wattscale measure: reading the meter failed: %s\n", energy ? err.msg : "out of memory");
        rc = rc ? rc : EXIT_OURS;
    } else {
        r.energy = energy;
        if (!quiet) ws_measure_print_table(stderr, &r);
        if (json_path && ws_measure_write_json(json_path, &r, &err) != WS_OK) {
            fprintf(stderr, "wattscale measure: %s\n", err.msg);
            rc = rc ? rc : EXIT_OURS;
        }
    }
    free(energy);
    ws_meter_close(m);
    if (csv && fclose(csv) != 0) {
        fprintf(stderr, "wattscale measure: writing --csv %s failed: %s\n", csv_path, strerror(errno));
        rc = rc ? rc : EXIT_OURS;
    }
    return rc;
}
