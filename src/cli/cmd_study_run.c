/* cli/cmd_study_run.c - `wattscale study plan | run | status FILE`: a study file's runs,
 * running what is missing, and what is done. defines: ws_cmd_study_plan, ws_cmd_study_run,
 * ws_cmd_study_status (cli/commands.h). Exit status: 0 done (run: every planned run is
 * done), 1 a run failed or the store failed, 2 bad flags or a bad study file, 4 (run) jobs
 * still queued or waiting to be submitted. */
#include "cli/commands.h"
#include "ws_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if WS_HAVE_SQLITE && WS_HAVE_YAML
#include "study/plan.h"
#include "study/runner.h"
#include "study/store.h"
#include "study/study_file.h"

typedef struct {
    const char *file, *db, *runs_dir, *series, *wattscale;
    int dry_run, no_wait;
} study_flags;

static int parse(const char *cmd, int argc, char **argv, study_flags *f, int run_flags) {
    memset(f, 0, sizeof *f);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--db") && v)
            f->db = argv[++i];
        else if (!strcmp(a, "--runs-dir") && v)
            f->runs_dir = argv[++i];
        else if (run_flags && !strcmp(a, "--series") && v)
            f->series = argv[++i];
        else if (run_flags && !strcmp(a, "--wattscale") && v)
            f->wattscale = argv[++i];
        else if (run_flags && !strcmp(a, "--dry-run"))
            f->dry_run = 1;
        else if (run_flags && !strcmp(a, "--no-wait"))
            f->no_wait = 1;
        else if (a[0] == '-') {
            fprintf(stderr, "wattscale study %s: unknown or incomplete flag '%s' (see wattscale study --help)\n", cmd,
                    a);
            return 2;
        } else if (!f->file)
            f->file = a;
        else {
            fprintf(stderr, "wattscale study %s: one study file only ('%s' is a second)\n", cmd, a);
            return 2;
        }
    }
    if (!f->file) {
        fprintf(stderr, "wattscale study %s: which study file? (wattscale study %s FILE)\n", cmd, cmd);
        return 2;
    }
    return 0;
}

static int load(const char *cmd, const study_flags *f, ws_study *s) {
    ws_error err = {0};
    if (ws_study_load(s, f->file, &err) != WS_OK) {
        fprintf(stderr, "wattscale study %s: %s\n", cmd, err.msg);
        return 2;
    }
    if (f->db) snprintf(s->database, sizeof s->database, "%s", f->db);
    if (f->runs_dir) snprintf(s->runs_dir, sizeof s->runs_dir, "%s", f->runs_dir);
    return 0;
}

static const char *hours_unit(const ws_study *s) { return !strcmp(s->device, "cuda") ? "GPU-h" : "process-h"; }

/* the store when the database exists (plan and status never create one) */
static ws_store *open_existing(const ws_study *s) {
    ws_store *st = NULL;
    if (access(s->database, F_OK) != 0) return NULL;
    ws_error err = {0};
    if (ws_store_open(&st, s->database, &err) != WS_OK) {
        fprintf(stderr, "wattscale study: %s (reading files only)\n", err.msg);
        return NULL;
    }
    return st;
}

static void print_header(const ws_study *s, const ws_plan *p) {
    size_t shared = 0;
    for (size_t i = 0; i < p->n_runs; i++)
        shared += p->runs[i].n_members > 1;
    printf("study %s (%s): %zu series x %d repetition%s = %zu runs", s->name, s->path, s->n_series, s->repetitions,
           s->repetitions > 1 ? "s" : "", p->n_runs);
    if (shared) printf(" (%zu shared by series with a common point)", shared);
    printf("\n%s %s %s, %ld %s on %s; database %s, runs in %s; launcher %s\n", s->model, s->device, s->precision,
           s->steps ? s->steps : (long)s->epochs, s->steps ? "steps" : "epochs", s->data, s->database, s->runs_dir,
           s->launcher.kind == WS_LAUNCHER_SLURM ? "slurm" : "local");
}

static void series_names(const ws_study *s, const ws_plan_run *r, char *out, size_t size) {
    size_t n = 0;
    out[0] = 0;
    for (size_t m = 0; m < r->n_members && n < size; m++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", m ? "," : "", s->series[r->members[m].series].name);
}

int ws_cmd_study_plan(int argc, char **argv) {
    study_flags f;
    ws_study s;
    int rc = parse("plan", argc, argv, &f, 0);
    if (rc || (rc = load("plan", &f, &s))) return rc;
    ws_plan p;
    ws_error err = {0};
    if (ws_plan_make(&p, &s, &err) != WS_OK) {
        fprintf(stderr, "wattscale study plan: %s\n", err.msg);
        ws_study_free(&s);
        return 2;
    }
    ws_store *store = open_existing(&s);
    char source[256] = "";
    if (isfinite(s.estimate_samples_per_device_s)) {
        snprintf(source, sizeof source,
                 "estimate: %g samples/s per device from the study file (estimate:), ideal scaling",
                 s.estimate_samples_per_device_s);
    } else if (store) {
        size_t n = 0;
        double sps = ws_store_throughput(store, s.name, s.model, s.device, s.precision, &n);
        if (n) {
            ws_plan_estimate(&p, sps);
            snprintf(source, sizeof source,
                     "estimate: %.4g samples/s per device, the mean of %zu finished run%s in the store, ideal scaling",
                     sps, n, n > 1 ? "s" : "");
        }
    }
    print_header(&s, &p);
    printf("%-32s %-24s %5s %6s %5s %5s %9s %5s %12s %12s %s\n", "run", "series", "ranks", "gbs", "lbs", "accum",
           "fraction", "seed", "est.samples", hours_unit(&s), "state");
    double total_h = 0, total_samples = 0;
    int any_unknown = 0;
    for (size_t i = 0; i < p.n_runs; i++) {
        const ws_plan_run *r = &p.runs[i];
        char series[256], samples[32], hours[32];
        series_names(&s, r, series, sizeof series);
        ws_store_job job;
        ws_run_state st = ws_study_run_state(&s, store, r, &job);
        snprintf(samples, sizeof samples, isnan(r->est_samples) ? "?" : "%.0f", r->est_samples);
        snprintf(hours, sizeof hours, isnan(r->est_device_hours) ? "?" : "%.4g", r->est_device_hours);
        any_unknown |= isnan(r->est_device_hours);
        total_h += isnan(r->est_device_hours) ? 0 : r->est_device_hours;
        total_samples += isnan(r->est_samples) ? 0 : r->est_samples;
        printf("%-32s %-24s %5d %6d %5d %5d %9.4g %5ld %12s %12s %s\n", r->key, series, r->point.gpus,
               r->point.global_batch, r->point.local_batch, r->point.accum, r->point.data_fraction, r->seed, samples,
               hours, ws_run_state_name(st));
    }
    if (any_unknown)
        printf(
            "total: %zu runs, %.0f samples; %s unknown: give estimate.samples_per_device_s in the study file, or run "
            "some first\n",
            p.n_runs, total_samples, hours_unit(&s));
    else
        printf("total: %zu runs, %.0f samples, %.4g %s (%s)\n", p.n_runs, total_samples, total_h, hours_unit(&s),
               source);
    ws_store_close(store);
    ws_plan_free(&p);
    ws_study_free(&s);
    return 0;
}

int ws_cmd_study_status(int argc, char **argv) {
    study_flags f;
    ws_study s;
    int rc = parse("status", argc, argv, &f, 0);
    if (rc || (rc = load("status", &f, &s))) return rc;
    ws_plan p;
    ws_error err = {0};
    if (ws_plan_make(&p, &s, &err) != WS_OK) {
        fprintf(stderr, "wattscale study status: %s\n", err.msg);
        ws_study_free(&s);
        return 2;
    }
    ws_store *store = open_existing(&s);
    print_header(&s, &p);
    size_t count[WS_RUN_MISSING + 1] = {0};
    size_t(*per_series)[WS_RUN_MISSING + 1] = calloc(s.n_series, sizeof *per_series);
    for (size_t i = 0; i < p.n_runs && per_series; i++) {
        const ws_plan_run *r = &p.runs[i];
        ws_store_job job;
        ws_run_state st = ws_study_run_state(&s, store, r, &job);
        count[st]++;
        for (size_t m = 0; m < r->n_members; m++)
            per_series[r->members[m].series][st]++;
        if (st != WS_RUN_DONE) {
            printf("  %-32s %s", r->key, ws_run_state_name(st));
            if (job.job_id[0]) printf(" (Slurm job %s, %s)", job.job_id, job.state);
            printf("\n");
        }
    }
    for (size_t k = 0; k < s.n_series && per_series; k++) {
        size_t total = 0;
        for (int st = 0; st <= WS_RUN_MISSING; st++)
            total += per_series[k][st];
        printf("series %-24s %zu/%zu done", s.series[k].name, per_series[k][WS_RUN_DONE], total);
        for (int st = 1; st <= WS_RUN_MISSING; st++)
            if (per_series[k][st]) printf(", %zu %s", per_series[k][st], ws_run_state_name((ws_run_state)st));
        printf("\n");
    }
    printf("study %s: %zu/%zu runs done", s.name, count[WS_RUN_DONE], p.n_runs);
    for (int st = 1; st <= WS_RUN_MISSING; st++)
        if (count[st]) printf(", %zu %s", count[st], ws_run_state_name((ws_run_state)st));
    printf("\n");
    free(per_series);
    ws_store_close(store);
    ws_plan_free(&p);
    ws_study_free(&s);
    return 0;
}

int ws_cmd_study_run(int argc, char **argv) {
    study_flags f;
    ws_study s;
    int rc = parse("run", argc, argv, &f, 1);
    if (rc || (rc = load("run", &f, &s))) return rc;
    ws_runner_opts o = ws_runner_opts_default();
    o.dry_run = f.dry_run;
    o.wait = !f.no_wait;
    o.only_series = f.series;
    o.wattscale = f.wattscale;
    ws_runner_summary sum;
    ws_error err = {0};
    ws_status st = ws_study_run(&s, &o, &sum, &err);
    if (st != WS_OK) {
        fprintf(stderr, "wattscale study run: %s\n", err.msg);
        ws_study_free(&s);
        return st == WS_EINVAL ? 2 : 1;
    }
    if (!f.dry_run)
        fprintf(stderr, "wattscale study run: %s: %zu planned, %zu done before, %zu run now, %zu failed; database %s\n",
                s.name, sum.planned, sum.already_done, sum.ran, sum.failed, s.database);
    if (sum.still_queued || sum.unsubmitted)
        fprintf(
            stderr,
            "wattscale study run: %zu job(s) still queued, %zu script(s) not submitted: run it again to collect them\n",
            sum.still_queued, sum.unsubmitted);
    ws_study_free(&s);
    if (sum.failed) return 1;
    return sum.still_queued || sum.unsubmitted ? 4 : 0;
}

#else
static int unavailable(const char *cmd) {
    fprintf(stderr, "wattscale study %s: this build lacks %s%s%s: apt-get install%s%s, then rebuild\n", cmd,
            WS_HAVE_SQLITE ? "" : "SQLite", !WS_HAVE_SQLITE && !WS_HAVE_YAML ? " and " : "",
            WS_HAVE_YAML ? "" : "libyaml", WS_HAVE_SQLITE ? "" : " libsqlite3-dev", WS_HAVE_YAML ? "" : " libyaml-dev");
    return 1;
}
int ws_cmd_study_plan(int argc, char **argv) {
    (void)argc, (void)argv;
    return unavailable("plan");
}
int ws_cmd_study_run(int argc, char **argv) {
    (void)argc, (void)argv;
    return unavailable("run");
}
int ws_cmd_study_status(int argc, char **argv) {
    (void)argc, (void)argv;
    return unavailable("status");
}
#endif
