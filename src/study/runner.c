/* study/runner.c - `wattscale study run`: the plan's missing runs, resumable; contract and
 * the resume rules in study/runner.h. The launchers (launcher_local.c, launcher_slurm.c)
 * only start runs; what is done, what to resume and what to ingest is decided here, from
 * the run folders and the store. */
#include "study/runner.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define SIDECAR_SCHEMA "wattscale.study-run/1"

ws_runner_opts ws_runner_opts_default(void) {
    ws_runner_opts o = {0};
    o.wait = 1;
    return o;
}

const char *ws_run_state_name(ws_run_state st) {
    static const char *names[] = {"done", "recorded", "queued", "interrupted", "failed", "missing"};
    return st <= WS_RUN_MISSING ? names[st] : "?";
}

/* ---- run folders ---- */

static void run_dir(const ws_study *s, const ws_plan_run *r, char *out, size_t size) {
    snprintf(out, size, "%s/%s", s->runs_dir, r->key);
}

static int exists(const char *dir, const char *name) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* dir/run.json parsed (NULL when absent or unreadable: a torn write cannot happen, the
 * record is written atomically, but a run killed before its first record has none) */
static cJSON *read_record(const char *dir) {
    char path[PATH_MAX + 16], *text = NULL;
    snprintf(path, sizeof path, "%s/run.json", dir);
    if (access(path, F_OK) != 0 || ws_read_file(path, &text, NULL, NULL) != WS_OK) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static void record_status(const char *dir, char *out, size_t size) {
    cJSON *j = read_record(dir);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    snprintf(out, size, "%s", cJSON_IsString(st) ? st->valuestring : "");
    cJSON_Delete(j);
}

static int finished_ok(const char *status) { return !strcmp(status, "completed") || !strcmp(status, "target_reached"); }
static int finished(const char *status) { return finished_ok(status) || !strcmp(status, "failed"); }

ws_run_state ws_study_run_state(const ws_study *s, ws_store *store, const ws_plan_run *r, ws_store_job *job) {
    char dir[PATH_MAX], status[32];
    run_dir(s, r, dir, sizeof dir);
    job->job_id[0] = 0;
    if (store && ws_store_has_run(store, s->name, r->key)) return WS_RUN_DONE;
    record_status(dir, status, sizeof status);
    if (finished_ok(status)) return WS_RUN_RECORDED;
    if (store && ws_store_last_job(store, s->name, r->key, job) && wsi_slurm_state_active(job->state))
        return WS_RUN_QUEUED;
    if (exists(dir, "checkpoint.wstf")) return WS_RUN_INTERRUPTED;
    if (!strcmp(status, "failed") || (job->job_id[0] && !wsi_slurm_state_active(job->state))) return WS_RUN_FAILED;
    return WS_RUN_MISSING;
}

/* The flags that define the run: everything but where it writes and how many threads. */
static cJSON *defining_args(const ws_study *s, const ws_plan_run *r, ws_error *err) {
    char **argv = NULL;
    if (ws_plan_train_args(s, r, "-", 0, 0, &argv, err) != WS_OK) return NULL;
    cJSON *a = cJSON_CreateArray();
    for (char **p = argv; *p; p++) {
        if (!strcmp(*p, "--out")) {
            p++;
            continue;
        }
        cJSON_AddItemToArray(a, cJSON_CreateString(*p));
    }
    ws_plan_args_free(argv);
    return a;
}

static ws_status write_sidecar(const ws_study *s, const ws_plan_run *r, const char *dir, const cJSON *args,
                               ws_error *err) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "schema", SIDECAR_SCHEMA);
    cJSON_AddStringToObject(j, "study", s->name);
    cJSON_AddStringToObject(j, "study_file", s->path);
    cJSON_AddStringToObject(j, "run_key", r->key);
    cJSON_AddNumberToObject(j, "repetition", r->repetition);
    cJSON_AddNumberToObject(j, "seed", (double)r->seed);
    cJSON_AddNumberToObject(j, "gpus", r->point.gpus);
    cJSON_AddNumberToObject(j, "global_batch", r->point.global_batch);
    cJSON_AddNumberToObject(j, "local_batch", r->point.local_batch);
    cJSON_AddNumberToObject(j, "accum", r->point.accum);
    cJSON_AddNumberToObject(j, "data_fraction", r->point.data_fraction);
    cJSON *members = cJSON_AddArrayToObject(j, "members");
    for (size_t m = 0; m < r->n_members; m++) {
        const ws_study_series *se = &s->series[r->members[m].series];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "series", se->name);
        cJSON_AddStringToObject(o, "scaling", ws_study_scaling_name(se->scaling));
        cJSON_AddNumberToObject(o, "growing", se->growing);
        cJSON_AddNumberToObject(o, "point", (double)r->members[m].point);
        cJSON_AddNumberToObject(o, "repetition", r->repetition);
        cJSON_AddItemToArray(members, o);
    }
    cJSON_AddItemToObject(j, "train_args", cJSON_Duplicate(args, 1));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/study.json", dir);
    ws_status st = ws_json_write_file(path, j, err);
    cJSON_Delete(j);
    return st;
}

/* Was the checkpoint in dir made with these flags? (A study file edited since must not
 * continue an old run under new settings.) No sidecar: a run of an older runner; trust it. */
static int same_args(const char *dir, const cJSON *args) {
    char path[PATH_MAX + 16], *text = NULL;
    snprintf(path, sizeof path, "%s/study.json", dir);
    if (access(path, F_OK) != 0) return 1;
    if (ws_read_file(path, &text, NULL, NULL) != WS_OK) return 0;
    cJSON *j = cJSON_Parse(text);
    free(text);
    int same = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(j, "train_args"), args, 1);
    cJSON_Delete(j);
    return same;
}

/* "completed in 41.2 s, val_top1 0.7140, 12.3 kJ" from the record */
static void outcome(const char *dir, const char *metric, char *out, size_t size) {
    cJSON *j = read_record(dir);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "totals");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(t, "time_s");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(t, metric);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(t, "energy_j");
    int n = snprintf(out, size, "%s", cJSON_IsString(st) ? st->valuestring : "no run record");
    if (cJSON_IsNumber(time)) n += snprintf(out + n, size - (size_t)n, " in %.1f s", time->valuedouble);
    if (cJSON_IsNumber(m)) n += snprintf(out + n, size - (size_t)n, ", %s %.4f", metric, m->valuedouble);
    if (cJSON_IsNumber(e))
        snprintf(out + n, size - (size_t)n, ", %.4g kJ", e->valuedouble / 1e3);
    else if (j)
        snprintf(out + n, size - (size_t)n, ", energy not measured");
    cJSON_Delete(j);
}

static void series_list(const ws_study *s, const ws_plan_run *r, char *out, size_t size) {
    size_t n = 0;
    out[0] = 0;
    for (size_t m = 0; m < r->n_members && n < size; m++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", m ? ", " : "", s->series[r->members[m].series].name);
}

static int in_series(const ws_study *s, const ws_plan_run *r, const char *only) {
    if (!only) return 1;
    for (size_t m = 0; m < r->n_members; m++)
        if (!strcmp(s->series[r->members[m].series].name, only)) return 1;
    return 0;
}

static ws_status ingest(const wsi_launch_ctx *c, const ws_plan_run *r, const char *dir, ws_error *err) {
    return ws_store_ingest_file(c->store, c->study->name, r->key, dir, err);
}

/* ---- preparing a run's folder ---- */

/* Writes the sidecar and decides between resume and a fresh start. */
static ws_status prepare(const wsi_launch_ctx *c, const ws_plan_run *r, const char *dir, int *resume, ws_error *err) {
    ws_status st = ws_make_dirs(dir, err);
    if (st != WS_OK) return st;
    cJSON *args = defining_args(c->study, r, err);
    if (!args) return err ? err->code : WS_ENOMEM;
    *resume = exists(dir, "checkpoint.wstf");
    if (*resume && !same_args(dir, args)) {
        char from[PATH_MAX + 32], to[PATH_MAX + 32];
        snprintf(from, sizeof from, "%s/checkpoint.wstf", dir);
        snprintf(to, sizeof to, "%s/checkpoint.stale.wstf", dir);
        ws_log(WS_LOG_WARN,
               "%s: its checkpoint was made with other settings (the study file changed?); starting it "
               "again, the old checkpoint kept as checkpoint.stale.wstf",
               r->key);
        rename(from, to);
        *resume = 0;
    }
    st = write_sidecar(c->study, r, dir, args, err);
    cJSON_Delete(args);
    return st;
}

/* ---- local ---- */

static void run_local(const wsi_launch_ctx *c, const ws_plan_run *r, size_t i, size_t n, ws_runner_summary *sum) {
    char dir[PATH_MAX], series[256], line[256];
    run_dir(c->study, r, dir, sizeof dir);
    series_list(c->study, r, series, sizeof series);
    ws_error err = {0};
    int resume = 0, code = 0;
    ws_status st = prepare(c, r, dir, &resume, &err);
    if (st == WS_OK) {
        ws_log(WS_LOG_INFO, "[%zu/%zu] %s (%s; %d rank%s): %s", i + 1, n, r->key, series, r->point.gpus,
               r->point.gpus > 1 ? "s" : "", resume ? "resuming from its checkpoint" : "starting");
        st = wsi_launch_local(c, r, dir, resume, &code, &err);
    }
    char status[32];
    record_status(dir, status, sizeof status);
    ws_error ierr = {0};
    /* a failed run is stored too (status failed), so that `study status` shows it */
    if (finished(status) && ingest(c, r, dir, &ierr) != WS_OK) {
        ws_log(WS_LOG_ERROR, "%s: %s", r->key, ierr.msg);
        code = code ? code : 1;
    }
    if (st == WS_OK && code == 0 && finished_ok(status)) {
        outcome(dir, c->study->metric, line, sizeof line);
        ws_log(WS_LOG_INFO, "[%zu/%zu] %s: %s", i + 1, n, r->key, line);
        sum->ran++;
    } else {
        if (st != WS_OK)
            ws_log(WS_LOG_ERROR, "[%zu/%zu] %s: %s", i + 1, n, r->key, err.msg);
        else
            ws_log(WS_LOG_ERROR, "[%zu/%zu] %s: failed (exit %d); see %s/train.log", i + 1, n, r->key, code, dir);
        sum->failed++;
    }
}

/* ---- slurm ---- */

/* A job that has ended: its figures beside the record, then the record into the store.
 * Returns 1 when the run is now stored as finished. A job that ended without a finished run
 * counts as failed when count_failure (the runner then resubmits it on its next call). */
static int finish_job(const wsi_launch_ctx *c, const ws_plan_run *r, const char *dir, ws_store_job *job,
                      ws_runner_summary *sum, int count_failure) {
    ws_error err = {0};
    char status[32];
    if (ws_store_put_job(c->store, c->study->name, r->key, job, &err) != WS_OK ||
        wsi_slurm_write_sidecar(dir, job, &err) != WS_OK)
        ws_log(WS_LOG_ERROR, "%s: job %s: %s", r->key, job->job_id, err.msg);
    record_status(dir, status, sizeof status);
    if (finished(status) && ingest(c, r, dir, &err) != WS_OK) {
        ws_log(WS_LOG_ERROR, "%s: %s", r->key, err.msg);
        strcpy(status, "");
    }
    if (finished_ok(status)) {
        char line[256];
        outcome(dir, c->study->metric, line, sizeof line);
        ws_log(WS_LOG_INFO, "%s: job %s %s: %s", r->key, job->job_id, job->state, line);
        sum->ran++;
        return 1;
    }
    ws_log(count_failure ? WS_LOG_ERROR : WS_LOG_WARN,
           "%s: job %s ended %s without a finished run record (see "
           "%s/slurm-%s.out)%s",
           r->key, job->job_id, job->state, dir, job->job_id, count_failure ? "" : "; submitting it again");
    sum->failed += count_failure != 0;
    return 0;
}

typedef struct {
    const ws_plan_run *run;
    ws_store_job job;
} pending_job;

static void run_slurm(const wsi_launch_ctx *c, const ws_plan *plan, ws_runner_summary *sum) {
    const ws_study *s = c->study;
    pending_job *pend = calloc(plan->n_runs ? plan->n_runs : 1, sizeof *pend);
    size_t n_pend = 0;
    if (!pend) {
        ws_log(WS_LOG_ERROR, "out of memory");
        return;
    }
    for (size_t i = 0; i < plan->n_runs; i++) {
        const ws_plan_run *r = &plan->runs[i];
        if (!in_series(s, r, c->opts->only_series)) continue;
        char dir[PATH_MAX];
        run_dir(s, r, dir, sizeof dir);
        ws_store_job job;
        ws_run_state state = ws_study_run_state(s, c->store, r, &job);
        if (state == WS_RUN_DONE) {
            sum->already_done++;
            continue;
        }
        if (state == WS_RUN_QUEUED) {
            /* submitted by an earlier call: see where it is now, never submit twice */
            if (wsi_slurm_poll(c, dir, &job)) {
                if (finish_job(c, r, dir, &job, sum, 0)) continue;
                /* ended unfinished while no runner watched: submit it again below */
            } else {
                ws_error err = {0};
                if (ws_store_put_job(c->store, s->name, r->key, &job, &err) != WS_OK)
                    ws_log(WS_LOG_WARN, "%s: %s", r->key, err.msg);
                pend[n_pend++] = (pending_job){r, job};
                continue;
            }
        }
        if (state == WS_RUN_RECORDED) {
            ws_error err = {0};
            if (job.job_id[0])
                finish_job(c, r, dir, &job, sum, 1);
            else if (ingest(c, r, dir, &err) != WS_OK)
                ws_log(WS_LOG_ERROR, "%s: %s", r->key, err.msg);
            else
                sum->already_done++;
            continue;
        }
        ws_error err = {0};
        int resume = 0;
        ws_status st = prepare(c, r, dir, &resume, &err);
        if (st == WS_OK) st = wsi_slurm_submit(c, r, dir, &job, &err);
        if (st == WS_OK && job.job_id[0]) st = ws_store_put_job(c->store, s->name, r->key, &job, &err);
        if (st != WS_OK) {
            ws_log(WS_LOG_ERROR, "%s: %s", r->key, err.msg);
            sum->failed++;
        } else if (!job.job_id[0]) {
            sum->unsubmitted++;
        } else {
            ws_log(WS_LOG_INFO, "%s: submitted as job %s%s", r->key, job.job_id,
                   resume ? " (resumes its checkpoint)" : "");
            sum->submitted++;
            pend[n_pend++] = (pending_job){r, job};
        }
    }
    if (sum->unsubmitted)
        ws_log(WS_LOG_WARN,
               "sbatch is not on PATH: %zu job script(s) written as %s/*/job.sbatch; submit them with sbatch, then "
               "run `wattscale study run %s` again to collect the runs (or `wattscale study ingest %s`)",
               sum->unsubmitted, c->runs_dir, s->path, c->runs_dir);
    while (c->opts->wait && n_pend > 0) {
        ws_sleep_s(s->launcher.poll_s);
        for (size_t k = 0; k < n_pend;) {
            char dir[PATH_MAX];
            run_dir(s, pend[k].run, dir, sizeof dir);
            if (wsi_slurm_poll(c, dir, &pend[k].job)) {
                finish_job(c, pend[k].run, dir, &pend[k].job, sum, 1);
                pend[k] = pend[--n_pend];
            } else {
                k++;
            }
        }
    }
    sum->still_queued = n_pend;
    free(pend);
}

/* ---- the runner ---- */

static ws_status absolute(const char *path, char *out, size_t size, ws_error *err) {
    char *real = realpath(path, NULL);
    if (!real) return wsi_error(err, WS_EIO, "realpath %s: %s", path, strerror(errno));
    snprintf(out, size, "%s", real);
    free(real);
    return WS_OK;
}

static void dirname_of(const char *path, char *out, size_t size) {
    snprintf(out, size, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash && slash != out)
        *slash = 0;
    else
        snprintf(out, size, slash ? "/" : ".");
}

/* One runner per database: an exclusive lock on DB.lock, waited for. */
static ws_status take_lock(const char *db, int *fd_out, ws_error *err) {
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lock", db);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return wsi_error(err, WS_EIO, "open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ws_log(WS_LOG_INFO,
               "waiting for %s: another `wattscale study run` of this database, or runs a killed one "
               "left behind, still hold it",
               path);
        if (flock(fd, LOCK_EX) != 0) {
            int e = errno;
            close(fd);
            return wsi_error(err, WS_EIO, "flock %s: %s", path, strerror(e));
        }
    }
    *fd_out = fd;
    return WS_OK;
}

static void dry_run(const wsi_launch_ctx *c, const ws_plan *plan) {
    for (size_t i = 0; i < plan->n_runs; i++) {
        const ws_plan_run *r = &plan->runs[i];
        if (!in_series(c->study, r, c->opts->only_series)) continue;
        ws_store_job job;
        ws_run_state st = ws_study_run_state(c->study, c->store, r, &job);
        char dir[PATH_MAX];
        run_dir(c->study, r, dir, sizeof dir);
        if (st == WS_RUN_DONE || st == WS_RUN_RECORDED || st == WS_RUN_QUEUED) {
            printf("# %s: %s\n", r->key, ws_run_state_name(st));
            continue;
        }
        int code = 0;
        ws_error err = {0};
        if (c->study->launcher.kind == WS_LAUNCHER_LOCAL) {
            if (wsi_launch_local(c, r, dir, st == WS_RUN_INTERRUPTED, &code, &err) != WS_OK)
                printf("# %s: %s\n", r->key, err.msg);
        } else {
            printf("# %s: sbatch %s/job.sbatch\n", r->key, dir);
        }
    }
}

ws_status ws_study_run(const ws_study *s, const ws_runner_opts *o, ws_runner_summary *sum, ws_error *err) {
    memset(sum, 0, sizeof *sum);
    ws_plan plan;
    ws_status st = ws_plan_make(&plan, s, err);
    if (st != WS_OK) return st;
    for (size_t i = 0; i < plan.n_runs; i++)
        sum->planned += in_series(s, &plan.runs[i], o->only_series);
    if (o->only_series && !sum->planned) {
        ws_plan_free(&plan);
        return wsi_error(err, WS_EINVAL, "%s: no series named \"%s\"", s->path, o->only_series);
    }
    char wattscale[PATH_MAX], runs_dir[PATH_MAX], db_dir[PATH_MAX];
    st = absolute(o->wattscale ? o->wattscale : "/proc/self/exe", wattscale, sizeof wattscale, err);
    dirname_of(s->database, db_dir, sizeof db_dir);
    if (st == WS_OK && !o->dry_run) st = ws_make_dirs(db_dir, err);
    if (st == WS_OK && !o->dry_run) st = ws_make_dirs(s->runs_dir, err);
    if (st == WS_OK) {
        if (absolute(s->runs_dir, runs_dir, sizeof runs_dir, NULL) != WS_OK)
            snprintf(runs_dir, sizeof runs_dir, "%s", s->runs_dir);
    }
    wsi_launch_ctx c = {s, o, NULL, wattscale, runs_dir, -1};
    if (st == WS_OK && o->dry_run) {
        /* read what is there, change nothing */
        if (access(s->database, F_OK) == 0 && ws_store_open(&c.store, s->database, NULL) != WS_OK) c.store = NULL;
        dry_run(&c, &plan);
        ws_store_close(c.store);
        ws_plan_free(&plan);
        return WS_OK;
    }
    if (st == WS_OK) st = take_lock(s->database, &c.lock_fd, err);
    if (st == WS_OK) st = ws_store_open(&c.store, s->database, err);
    if (st == WS_OK) st = ws_store_put_study(c.store, s, err);
    if (st == WS_OK) st = ws_store_put_plan(c.store, s, &plan, err);
    if (st == WS_OK && s->launcher.kind == WS_LAUNCHER_SLURM) {
        run_slurm(&c, &plan, sum);
    } else if (st == WS_OK) {
        size_t todo = 0, k = 0;
        ws_run_state *states = calloc(plan.n_runs ? plan.n_runs : 1, sizeof *states);
        if (!states) st = wsi_error(err, WS_ENOMEM, "out of memory");
        for (size_t i = 0; st == WS_OK && i < plan.n_runs; i++) {
            ws_store_job job;
            if (!in_series(s, &plan.runs[i], o->only_series)) continue;
            states[i] = ws_study_run_state(s, c.store, &plan.runs[i], &job);
            if (states[i] == WS_RUN_DONE)
                sum->already_done++;
            else if (states[i] != WS_RUN_RECORDED)
                todo++;
        }
        for (size_t i = 0; st == WS_OK && i < plan.n_runs; i++) {
            const ws_plan_run *r = &plan.runs[i];
            if (!in_series(s, r, o->only_series) || states[i] == WS_RUN_DONE) continue;
            char dir[PATH_MAX];
            run_dir(s, r, dir, sizeof dir);
            if (states[i] == WS_RUN_RECORDED) {
                /* finished before the last runner was stopped, not yet stored */
                ws_error ierr = {0};
                if (ingest(&c, r, dir, &ierr) == WS_OK) {
                    ws_log(WS_LOG_INFO, "%s: finished earlier, now stored", r->key);
                    sum->already_done++;
                } else {
                    ws_log(WS_LOG_ERROR, "%s: %s", r->key, ierr.msg);
                    sum->failed++;
                }
                continue;
            }
            run_local(&c, r, k++, todo, sum);
        }
        free(states);
    }
    ws_store_close(c.store);
    if (c.lock_fd >= 0) close(c.lock_fd);
    ws_plan_free(&plan);
    return st;
}
