/* study/store_runs.c - the analysis view of a stored study: runs, epochs, plan memberships
 * and power series into a ws_runset (analysis/runset.h). Contract in study/store.h.
 * One read transaction, so that a runner writing meanwhile (WAL) never shows half a study.
 * Runs ingested without a plan (no study.json) become points of a series named "runs",
 * one point per distinct (world, GBS, LBS, accum, data fraction). */
#include "core/error.h"
#include "core/log.h"
#include "study/store.h"
#include "study/store_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}
static int col_int(sqlite3_stmt *st, int i) { return sqlite3_column_int(st, i); }
static void col_text(sqlite3_stmt *st, int i, char *dst, size_t size) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

/* "gpu: reason; cpu: reason" and "gpu, cpu" from the record's energy.missing[] */
static void missing_text(const char *json, ws_run *r) {
    r->missing[0] = r->missing_domains[0] = 0;
    cJSON *arr = json ? cJSON_Parse(json) : NULL;
    size_t n = 0, d = 0;
    for (const cJSON *m = cJSON_IsArray(arr) ? arr->child : NULL; m; m = m->next) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(m, "kind");
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(m, "reason");
        if (!cJSON_IsString(k)) continue;
        if (n < sizeof r->missing)
            n += (size_t)snprintf(r->missing + n, sizeof r->missing - n, "%s%s: %s", n ? "; " : "", k->valuestring,
                                  cJSON_IsString(why) ? why->valuestring : "no sensor");
        if (d < sizeof r->missing_domains)
            d += (size_t)snprintf(r->missing_domains + d, sizeof r->missing_domains - d, "%s%s", d ? ", " : "",
                                  k->valuestring);
    }
    cJSON_Delete(arr);
}

static const char runs_sql[] =
    "SELECT r.id, r.run_key, r.status, r.model, r.data, r.precision, r.device, r.device_kind, r.hardware,"
    " r.world_size, r.nodes, r.global_batch, r.local_batch, r.accum, r.data_fraction, r.epochs_requested,"
    " r.steps_requested, r.time_s, r.device_hours, r.energy_j, r.energy_gpu_j, r.energy_cpu_j, r.energy_dram_j,"
    " r.samples, r.updates, r.samples_per_device_hour, r.updates_per_device_hour, r.kwh_per_device_hour,"
    " r.val_loss, r.val_top1, r.val_top5, r.val_rmse_norm, r.val_acc, r.sacct_energy_j,"
    " (SELECT count(*) FROM devices d WHERE d.run_id = r.id AND d.kind = 'gpu' AND d.energy_j IS NOT NULL),"
    " (SELECT count(*) FROM devices d WHERE d.run_id = r.id AND d.kind = 'cpu' AND d.energy_j IS NOT NULL),"
    " json_extract(r.record_json, '$.energy.missing')"
    " FROM runs r WHERE r.study_id = ? ORDER BY r.run_key";

static void fill_run(sqlite3_stmt *st, ws_run *r) {
    memset(r, 0, sizeof *r);
    int c = 1;
    col_text(st, c++, r->run_key, sizeof r->run_key);
    col_text(st, c++, r->status, sizeof r->status);
    col_text(st, c++, r->model, sizeof r->model);
    col_text(st, c++, r->data, sizeof r->data);
    col_text(st, c++, r->precision, sizeof r->precision);
    col_text(st, c++, r->device, sizeof r->device);
    col_text(st, c++, r->device_kind, sizeof r->device_kind);
    col_text(st, c++, r->hardware, sizeof r->hardware);
    r->world = col_int(st, c++);
    r->nodes = col_int(st, c++);
    r->global_batch = col_int(st, c++);
    r->local_batch = col_int(st, c++);
    r->accum = col_int(st, c++);
    r->data_fraction = col_real(st, c++);
    r->epochs_requested = col_int(st, c++);
    r->steps_requested = (long)sqlite3_column_int64(st, c++);
    r->time_s = col_real(st, c++);
    r->device_hours = col_real(st, c++);
    r->energy_j = col_real(st, c++);
    r->energy_gpu_j = col_real(st, c++);
    r->energy_cpu_j = col_real(st, c++);
    r->energy_dram_j = col_real(st, c++);
    r->samples = col_real(st, c++);
    r->updates = col_real(st, c++);
    r->samples_per_device_hour = col_real(st, c++);
    r->updates_per_device_hour = col_real(st, c++);
    r->kwh_per_device_hour = col_real(st, c++);
    r->val_loss = col_real(st, c++);
    r->val_top1 = col_real(st, c++);
    r->val_top5 = col_real(st, c++);
    r->val_rmse_norm = col_real(st, c++);
    r->val_acc = col_real(st, c++);
    r->sacct_energy_j = col_real(st, c++);
    /* the record lists node 0's devices; nodes are alike, so the job metered nodes x as many */
    int nodes = r->nodes > 0 ? r->nodes : 1;
    r->gpu_devices = col_int(st, c++) * nodes;
    r->cpu_sockets = col_int(st, c++) * nodes;
    missing_text((const char *)sqlite3_column_text(st, c), r);
}

static ws_status load_runs(sqlite3 *db, sqlite3_int64 study_id, ws_runset *rs, sqlite3_int64 **ids, ws_error *err) {
    sqlite3_stmt *st = NULL;
    ws_status s = wsi_store_prepare(db, runs_sql, 1, &st, err);
    if (s != WS_OK) return s;
    sqlite3_bind_int64(st, 1, study_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rs->n_runs == cap) {
            cap = cap ? 2 * cap : 64;
            ws_run *more = realloc(rs->runs, cap * sizeof *more);
            sqlite3_int64 *more_ids = realloc(*ids, cap * sizeof *more_ids);
            if (more) rs->runs = more;
            if (more_ids) *ids = more_ids;
            if (!more || !more_ids) {
                sqlite3_finalize(st);
                return wsi_error(err, WS_ENOMEM, "store: out of memory loading runs");
            }
        }
        (*ids)[rs->n_runs] = sqlite3_column_int64(st, 0);
        fill_run(st, &rs->runs[rs->n_runs++]);
    }
    if (rc != SQLITE_DONE) s = wsi_store_sql_error(err, db, "SELECT FROM runs");
    sqlite3_finalize(st);
    return s;
}

static long run_index(const sqlite3_int64 *ids, size_t n, sqlite3_int64 id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return (long)i;
    return -1;
}

/* *p holds n elements; make room for one more (capacity doubles at powers of two) */
static int grow(void **p, size_t n, size_t elem) {
    if (n & (n - 1)) return 0;
    void *q = realloc(*p, (n ? 2 * n : 64) * elem);
    if (!q) return -1;
    *p = q;
    return 0;
}

/* appends the row to the run's rows (rows of one run come together: ORDER BY run_key) */
typedef int (*row_add)(sqlite3_stmt *st, ws_runset *rs, ws_run *run);

static int add_epoch(sqlite3_stmt *st, ws_runset *rs, ws_run *run) {
    if (grow((void **)&rs->epochs, rs->n_epochs, sizeof *rs->epochs)) return -1;
    if (!run->n_epochs) run->first_epoch = rs->n_epochs;
    run->n_epochs++;
    ws_run_epoch *e = &rs->epochs[rs->n_epochs++];
    e->epoch = col_int(st, 1);
    e->time_s = col_real(st, 2);
    e->energy_j = col_real(st, 3);
    e->samples = col_real(st, 4);
    e->val_loss = col_real(st, 5);
    e->val_top1 = col_real(st, 6);
    e->val_top5 = col_real(st, 7);
    e->val_rmse_norm = col_real(st, 8);
    e->val_acc = col_real(st, 9);
    return 0;
}

static int add_power(sqlite3_stmt *st, ws_runset *rs, ws_run *run) {
    if (grow((void **)&rs->power, rs->n_power, sizeof *rs->power)) return -1;
    if (!run->n_power) run->first_power = rs->n_power;
    run->n_power++;
    ws_power_sample *p = &rs->power[rs->n_power++];
    p->node = col_int(st, 1);
    col_text(st, 2, p->device, sizeof p->device);
    col_text(st, 3, p->kind, sizeof p->kind);
    p->t_s = col_real(st, 4);
    p->power_w = col_real(st, 5);
    return 0;
}

/* sql selects run_id first and takes the study id as its one parameter */
static ws_status load_rows(sqlite3 *db, const char *sql, const char *what, sqlite3_int64 study_id, ws_runset *rs,
                           const sqlite3_int64 *ids, row_add add, ws_error *err) {
    sqlite3_stmt *st = NULL;
    ws_status s = wsi_store_prepare(db, sql, 1, &st, err);
    if (s != WS_OK) return s;
    sqlite3_bind_int64(st, 1, study_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long ri = run_index(ids, rs->n_runs, sqlite3_column_int64(st, 0));
        if (ri >= 0 && add(st, rs, &rs->runs[ri])) {
            sqlite3_finalize(st);
            return wsi_error(err, WS_ENOMEM, "store: out of memory loading %s", what);
        }
    }
    if (rc != SQLITE_DONE) s = wsi_store_sql_error(err, db, what);
    sqlite3_finalize(st);
    return s;
}

static const char epochs_sql[] =
    "SELECT e.run_id, e.epoch, e.time_s, e.energy_j, e.samples, e.val_loss, e.val_top1, e.val_top5,"
    " e.val_rmse_norm, e.val_acc FROM epochs e JOIN runs r ON r.id = e.run_id WHERE r.study_id = ? ORDER BY r.run_key, e.epoch";
static const char power_sql[] =
    "SELECT p.run_id, p.node, p.device_id, p.kind, p.t_s, p.power_w FROM power_series p"
    " JOIN runs r ON r.id = p.run_id WHERE r.study_id = ? ORDER BY r.run_key, p.node, p.device_id, p.t_s";

static ws_member *add_member(ws_runset *rs, size_t *cap) {
    if (rs->n_members == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        ws_member *more = realloc(rs->members, *cap * sizeof *more);
        if (!more) return NULL;
        rs->members = more;
    }
    ws_member *m = &rs->members[rs->n_members++];
    memset(m, 0, sizeof *m);
    return m;
}

static ws_status load_members(sqlite3 *db, sqlite3_int64 study_id, ws_runset *rs, ws_error *err) {
    sqlite3_stmt *st = NULL;
    /* series in plan order (first insertion), then point and repetition */
    ws_status s = wsi_store_prepare(db,
                                    "SELECT p.series, p.scaling, p.growing, p.point, p.repetition, p.run_key"
                                    " FROM series_points p WHERE p.study_id = ?1 ORDER BY"
                                    " (SELECT min(q.rowid) FROM series_points q WHERE q.study_id = ?1"
                                    "  AND q.series = p.series), p.point, p.repetition",
                                    1, &st, err);
    if (s != WS_OK) return s;
    sqlite3_bind_int64(st, 1, study_id);
    size_t cap = 0;
    char *planned = calloc(rs->n_runs ? rs->n_runs : 1, 1);
    int rc = SQLITE_DONE;
    while (planned && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 5);
        for (size_t i = 0; i < rs->n_runs; i++) {
            if (strcmp(rs->runs[i].run_key, key)) continue;
            ws_member *m = add_member(rs, &cap);
            if (!m) break;
            m->run = i;
            col_text(st, 0, m->series, sizeof m->series);
            col_text(st, 1, m->scaling, sizeof m->scaling);
            m->growing = col_int(st, 2);
            m->point = col_int(st, 3);
            m->repetition = col_int(st, 4);
            planned[i] = 1;
        }
    }
    sqlite3_finalize(st);
    if (!planned) return wsi_error(err, WS_ENOMEM, "store: out of memory loading series");
    if (rc != SQLITE_DONE) {
        free(planned);
        return wsi_store_sql_error(err, db, "SELECT FROM series_points");
    }
    /* runs outside any plan: one "runs" series, a point per distinct configuration */
    size_t first = rs->n_members;
    for (size_t i = 0; i < rs->n_runs; i++) {
        if (planned[i]) continue;
        const ws_run *r = &rs->runs[i];
        int point = -1, rep = 1, n_points = 0;
        for (size_t k = first; k < rs->n_members; k++) {
            const ws_run *o = &rs->runs[rs->members[k].run];
            n_points = rs->members[k].point + 1 > n_points ? rs->members[k].point + 1 : n_points;
            if (o->world == r->world && o->global_batch == r->global_batch && o->local_batch == r->local_batch &&
                o->accum == r->accum && o->data_fraction == r->data_fraction) {
                point = rs->members[k].point;
                rep++;
            }
        }
        ws_member *m = add_member(rs, &cap);
        if (!m) {
            free(planned);
            return wsi_error(err, WS_ENOMEM, "store: out of memory loading series");
        }
        m->run = i;
        snprintf(m->series, sizeof m->series, "runs");
        snprintf(m->scaling, sizeof m->scaling, "points");
        m->point = point >= 0 ? point : n_points;
        m->repetition = rep;
    }
    free(planned);
    return WS_OK;
}

static ws_status load_settings(sqlite3 *db, const char *study, ws_runset *rs, sqlite3_int64 *id, ws_error *err) {
    sqlite3_stmt *st = NULL;
    ws_status s = wsi_store_prepare(
        db, "SELECT id, metric, target_metric, target_value, degradation_tolerance FROM studies WHERE name = ?", 1, &st,
        err);
    if (s != WS_OK) return s;
    sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        snprintf(rs->study, sizeof rs->study, "%s", study);
        col_text(st, 1, rs->metric, sizeof rs->metric);
        col_text(st, 2, rs->target_metric, sizeof rs->target_metric);
        rs->target_value = col_real(st, 3);
        rs->degradation_tolerance = col_real(st, 4);
        if (!isfinite(rs->degradation_tolerance)) rs->degradation_tolerance = 0.01;
    } else if (rc == SQLITE_DONE) {
        s = wsi_error(err, WS_EINVAL, "store %s has no study \"%s\" (see `wattscale report DB --study NAME`)",
                      sqlite3_db_filename(db, "main"), study);
    } else {
        s = wsi_store_sql_error(err, db, "SELECT FROM studies");
    }
    sqlite3_finalize(st);
    return s;
}

/* A study file without analysis.metric: top-1 for classification; the forecast skill
 * (RMSE/std, lower is better) when every run is a forecast. */
static void default_metric(ws_runset *rs) {
    int forecasts = rs->n_runs > 0;
    for (size_t i = 0; i < rs->n_runs; i++) forecasts &= !strcmp(rs->runs[i].model, "afno");
    snprintf(rs->metric, sizeof rs->metric, "%s", forecasts ? "val_rmse_norm" : "val_top1");
}

ws_status ws_store_load_runset(ws_store *s, const char *study, ws_runset *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    sqlite3 *db = s->db;
    ws_status st = wsi_store_exec(db, "BEGIN", "BEGIN (read)", err);
    if (st != WS_OK) return st;
    sqlite3_int64 id = 0, *ids = NULL;
    st = load_settings(db, study, out, &id, err);
    if (st == WS_OK) st = load_runs(db, id, out, &ids, err);
    if (st == WS_OK) st = load_rows(db, epochs_sql, "epochs", id, out, ids, add_epoch, err);
    if (st == WS_OK) st = load_rows(db, power_sql, "power series", id, out, ids, add_power, err);
    if (st == WS_OK) st = load_members(db, id, out, err);
    if (st == WS_OK && !out->metric[0]) default_metric(out);
    free(ids);
    wsi_store_exec(db, "COMMIT", "COMMIT (read)", NULL);
    if (st != WS_OK) ws_runset_free(out);
    return st;
}

ws_status ws_store_study_names(ws_store *s, char (*names)[64], size_t max, size_t *n, ws_error *err) {
    *n = 0;
    sqlite3_stmt *st = NULL;
    ws_status rs = wsi_store_prepare(s->db, "SELECT name FROM studies ORDER BY id", 0, &st, err);
    if (rs != WS_OK) return rs;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (*n < max) col_text(st, 0, names[(*n)++], 64);
    if (rc != SQLITE_DONE) rs = wsi_store_sql_error(err, s->db, "SELECT FROM studies");
    sqlite3_finalize(st);
    return rs;
}
