/* study/store_study.c - what the study runner keeps in the store beside run records: the
 * study's file and settings, its plan (series_points), Slurm jobs, and the throughput of
 * finished runs for estimates. Contract in study/store.h. Each write is one transaction. */
#include "core/error.h"
#include "core/log.h"
#include "study/store.h"
#include "study/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

ws_status wsi_store_study_id(sqlite3 *db, const char *name, int create, sqlite3_int64 *id, ws_error *err) {
    *id = 0;
    sqlite3_stmt *st = NULL;
    ws_status s = WS_OK;
    if (create) {
        if ((s = wsi_store_prepare(db, "INSERT OR IGNORE INTO studies(name) VALUES(?)", 1, &st, err)) != WS_OK)
            return s;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) s = wsi_store_sql_error(err, db, "INSERT INTO studies");
        sqlite3_finalize(st);
        if (s != WS_OK) return s;
    }
    if ((s = wsi_store_prepare(db, "SELECT id FROM studies WHERE name = ?", 1, &st, err)) != WS_OK) return s;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        s = wsi_store_sql_error(err, db, "SELECT FROM studies");
    sqlite3_finalize(st);
    return s;
}

/* BEGIN IMMEDIATE; fn; COMMIT, or ROLLBACK on failure */
static ws_status in_transaction(ws_store *s, ws_status (*fn)(ws_store *, const void *, const void *, ws_error *),
                                const void *a, const void *b, ws_error *err) {
    ws_status st =
        wsi_store_exec(s->db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE (another writer held the store over 5 s?)", err);
    if (st != WS_OK) return st;
    st = fn(s, a, b, err);
    if (st == WS_OK) st = wsi_store_exec(s->db, "COMMIT", "COMMIT", err);
    if (st != WS_OK) wsi_store_rollback(s->db);
    return st;
}

static ws_status put_study_tx(ws_store *s, const void *a, const void *b, ws_error *err) {
    (void)b;
    const ws_study *study = a;
    sqlite3_int64 id = 0;
    ws_status st = wsi_store_study_id(s->db, study->name, 1, &id, err);
    if (st != WS_OK) return st;
    sqlite3_stmt *q = NULL;
    if ((st = wsi_store_prepare(s->db,
                                "UPDATE studies SET config_path = ?, config_text = ?, metric = ?, target_metric = ?,"
                                " target_value = ?, degradation_tolerance = ? WHERE id = ?",
                                7, &q, err)) != WS_OK)
        return st;
    sqlite3_bind_text(q, 1, study->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, study->text ? study->text : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, study->metric, -1, SQLITE_STATIC);
    if (study->target_metric[0]) {
        sqlite3_bind_text(q, 4, study->target_metric, -1, SQLITE_STATIC);
        sqlite3_bind_double(q, 5, study->target_value);
    }
    sqlite3_bind_double(q, 6, study->degradation_tolerance);
    sqlite3_bind_int64(q, 7, id);
    if (sqlite3_step(q) != SQLITE_DONE) st = wsi_store_sql_error(err, s->db, "UPDATE studies");
    sqlite3_finalize(q);
    return st;
}

ws_status ws_store_put_study(ws_store *s, const ws_study *study, ws_error *err) {
    return in_transaction(s, put_study_tx, study, NULL, err);
}

static ws_status put_plan_tx(ws_store *s, const void *a, const void *b, ws_error *err) {
    const ws_study *study = a;
    const ws_plan *plan = b;
    sqlite3_int64 id = 0;
    ws_status st = wsi_store_study_id(s->db, study->name, 1, &id, err);
    sqlite3_stmt *del = NULL, *ins = NULL;
    if (st == WS_OK) st = wsi_store_prepare(s->db, "DELETE FROM series_points WHERE study_id = ?", 1, &del, err);
    if (st == WS_OK)
        st = wsi_store_prepare(
            s->db,
            "INSERT INTO series_points(study_id, series, scaling, growing, point, repetition, run_key,"
            " gpus, global_batch, local_batch, accum, data_fraction) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
            12, &ins, err);
    if (st == WS_OK) {
        sqlite3_bind_int64(del, 1, id);
        if (sqlite3_step(del) != SQLITE_DONE) st = wsi_store_sql_error(err, s->db, "DELETE FROM series_points");
    }
    for (size_t i = 0; st == WS_OK && i < plan->n_runs; i++) {
        const ws_plan_run *r = &plan->runs[i];
        for (size_t m = 0; st == WS_OK && m < r->n_members; m++) {
            const ws_study_series *se = &study->series[r->members[m].series];
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, id);
            sqlite3_bind_text(ins, 2, se->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 3, ws_study_scaling_name(se->scaling), -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 4, se->growing);
            sqlite3_bind_int(ins, 5, (int)r->members[m].point);
            sqlite3_bind_int(ins, 6, r->repetition);
            sqlite3_bind_text(ins, 7, r->key, -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 8, r->point.gpus);
            sqlite3_bind_int(ins, 9, r->point.global_batch);
            sqlite3_bind_int(ins, 10, r->point.local_batch);
            sqlite3_bind_int(ins, 11, r->point.accum);
            sqlite3_bind_double(ins, 12, r->point.data_fraction);
            if (sqlite3_step(ins) != SQLITE_DONE) st = wsi_store_sql_error(err, s->db, "INSERT INTO series_points");
        }
    }
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    return st;
}

ws_status ws_store_put_plan(ws_store *s, const ws_study *study, const ws_plan *plan, ws_error *err) {
    return in_transaction(s, put_plan_tx, study, plan, err);
}

/* Prepares sql with ?1 = study name, ?2 = run key, and steps it once: SQLITE_ROW, _DONE or
 * the error (logged by the caller). */
static int first_row(sqlite3 *db, const char *sql, const char *study, const char *run_key, sqlite3_stmt **st) {
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_text(*st, 1, study, -1, SQLITE_STATIC);
    sqlite3_bind_text(*st, 2, run_key, -1, SQLITE_STATIC);
    return sqlite3_step(*st);
}

int ws_store_run_status(ws_store *s, const char *study, const char *run_key, char *buf, size_t size) {
    if (size) buf[0] = 0;
    sqlite3_stmt *st = NULL;
    int rc = first_row(s->db,
                       "SELECT runs.status FROM runs JOIN studies ON studies.id = runs.study_id"
                       " WHERE studies.name = ?1 AND runs.run_key = ?2",
                       study, run_key, &st);
    int found = rc == SQLITE_ROW;
    if (found)
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        ws_log(WS_LOG_WARN, "store: run_status(%s, %s): %s", study, run_key, sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return found;
}

static ws_status put_job_tx(ws_store *s, const void *a, const void *b, ws_error *err) {
    const char *const *names = a; /* study, run_key */
    const ws_store_job *job = b;
    sqlite3_int64 id = 0;
    ws_status st = wsi_store_study_id(s->db, names[0], 1, &id, err);
    sqlite3_stmt *q = NULL;
    if (st == WS_OK) st = wsi_store_prepare(s->db, wsi_store_job_sql, 6, &q, err);
    if (st != WS_OK) return st;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_text(q, 2, names[1], -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, job->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, job->state, -1, SQLITE_STATIC);
    if (isfinite(job->elapsed_s)) sqlite3_bind_double(q, 5, job->elapsed_s);
    if (isfinite(job->consumed_energy_j)) sqlite3_bind_double(q, 6, job->consumed_energy_j);
    if (sqlite3_step(q) != SQLITE_DONE) st = wsi_store_sql_error(err, s->db, "INSERT INTO slurm_jobs");
    sqlite3_finalize(q);
    return st;
}

ws_status ws_store_put_job(ws_store *s, const char *study, const char *run_key, const ws_store_job *job,
                           ws_error *err) {
    const char *names[2] = {study, run_key};
    return in_transaction(s, put_job_tx, names, job, err);
}

int ws_store_last_job(ws_store *s, const char *study, const char *run_key, ws_store_job *out) {
    sqlite3_stmt *st = NULL;
    /* rowid: the order of insertion, finer than submitted_at's seconds */
    int rc = first_row(s->db,
                       "SELECT job_id, state, elapsed_s, consumed_energy_j FROM slurm_jobs"
                       " JOIN studies ON studies.id = slurm_jobs.study_id"
                       " WHERE studies.name = ?1 AND run_key = ?2 ORDER BY slurm_jobs.rowid DESC LIMIT 1",
                       study, run_key, &st);
    int found = rc == SQLITE_ROW;
    if (found) {
        snprintf(out->job_id, sizeof out->job_id, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(out->state, sizeof out->state, "%s", (const char *)sqlite3_column_text(st, 1));
        out->elapsed_s = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
        out->consumed_energy_j = sqlite3_column_type(st, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 3);
    } else if (rc != SQLITE_DONE) {
        ws_log(WS_LOG_WARN, "store: last_job(%s, %s): %s", study, run_key, sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(st);
    return found;
}

double ws_store_throughput(ws_store *s, const char *study, const char *model, const char *device, const char *precision,
                           size_t *n_runs) {
    *n_runs = 0;
    sqlite3_stmt *st = NULL;
    double v = NAN;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT avg(samples_per_device_hour) / 3600.0, count(*) FROM runs"
                                " JOIN studies ON studies.id = runs.study_id WHERE studies.name = ?"
                                " AND status IN ('completed', 'target_reached') AND samples_per_device_hour > 0"
                                " AND model = ? AND device = ? AND precision = ?",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, device, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, precision, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 1) > 0) {
        v = sqlite3_column_double(st, 0);
        *n_runs = (size_t)sqlite3_column_int64(st, 1);
    } else if (rc != SQLITE_ROW) {
        ws_log(WS_LOG_WARN, "store: throughput(%s): %s", study, sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(st);
    return v;
}
