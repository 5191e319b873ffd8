/* study/store.c - run records into SQLite; contract and tables in study/store.h.
 * Every value reaches SQLite through a bound parameter; the only SQL built at run time is
 * "PRAGMA user_version = N" with N from our own migration table (PRAGMA takes no parameters).
 * The field tables below map run-record keys (dotted paths) to columns, in the order of
 * the column lists in the INSERT statements beside them; wsi_store_prepare() checks the counts agree. */
#include "study/store.h"
#include "study/power_series.h"
#include "study/store_internal.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUN_SCHEMA "wattscale.run/1"
#define NOW_ISO "(strftime('%Y-%m-%dT%H:%M:%SZ','now'))"

/* ---- schema: migrations[v-1] takes user_version v-1 to v; append, never edit ---- */

static const char *const migrations[WS_STORE_SCHEMA_VERSION] = {
    /* v1 */
    "CREATE TABLE studies("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at TEXT NOT NULL DEFAULT " NOW_ISO ");"
    "CREATE TABLE runs("
    "  id INTEGER PRIMARY KEY,"
    "  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,"
    "  run_key TEXT NOT NULL,"
    "  status TEXT NOT NULL,"         /* completed, target_reached, ... as in the record */
    "  written_at TEXT,"
    "  model TEXT, data TEXT, precision TEXT, device TEXT, optimizer TEXT, lr REAL,"
    "  world_size INTEGER, nodes INTEGER,"
    "  global_batch INTEGER, local_batch INTEGER, accum INTEGER,"
    "  data_fraction REAL, seed INTEGER,"
    "  epochs INTEGER,"               /* rows in the record's epochs[]: epochs run */
    "  epochs_requested INTEGER,"     /* config.epochs (0 when the run was given steps) */
    "  steps_requested INTEGER,"      /* config.steps */
    "  target_metric TEXT, target_value REAL,"
    "  time_s REAL, device_kind TEXT, device_hours REAL,"
    "  energy_j REAL, energy_gpu_j REAL, energy_cpu_j REAL, energy_dram_j REAL,"
    "  energy_domains TEXT,"          /* none, partial, all: which domains energy_j covers */
    "  samples REAL, updates INTEGER,"
    "  samples_per_device_hour REAL, updates_per_device_hour REAL,"
    "  kwh_per_device_hour REAL, j_per_sample REAL,"
    "  val_loss REAL, val_top1 REAL, val_top5 REAL,"
    "  record_json TEXT NOT NULL,"
    "  ingested_at TEXT NOT NULL DEFAULT " NOW_ISO ","
    "  UNIQUE(study_id, run_key));"
    "CREATE TABLE epochs("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  epoch INTEGER NOT NULL, steps INTEGER, samples REAL,"
    "  train_loss REAL, train_top1 REAL, val_loss REAL, val_top1 REAL, val_top5 REAL,"
    "  lr REAL, time_s REAL, data_s REAL, compute_s REAL, comm_s REAL,"
    "  energy_j REAL, energy_gpu_j REAL, energy_cpu_j REAL, energy_dram_j REAL,"
    "  energy_source TEXT,"
    "  PRIMARY KEY(run_id, epoch));"
    "CREATE TABLE devices("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  kind TEXT, name TEXT, device_id TEXT, source TEXT,"
    "  energy_j REAL, mean_power_w REAL, max_power_w REAL, uncertainty_j REAL);"
    "CREATE INDEX devices_run ON devices(run_id);"
    "CREATE TABLE nodes("
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  node INTEGER NOT NULL, host TEXT,"
    "  energy_gpu_j REAL, energy_cpu_j REAL, energy_dram_j REAL,"
    "  PRIMARY KEY(run_id, node));",
    /* v2: the study runner and the analysis. A v1 run gets its hardware and resume count
     * from the record it keeps; its power series and Slurm figures need a re-ingest. */
    "ALTER TABLE studies ADD COLUMN config_path TEXT;"
    "ALTER TABLE studies ADD COLUMN config_text TEXT;"  /* the study file as run */
    "ALTER TABLE studies ADD COLUMN metric TEXT;"
    "ALTER TABLE studies ADD COLUMN target_metric TEXT;"
    "ALTER TABLE studies ADD COLUMN target_value REAL;"
    "ALTER TABLE studies ADD COLUMN degradation_tolerance REAL;"
    "ALTER TABLE runs ADD COLUMN hardware TEXT;"        /* GPU name, else the CPU model */
    "ALTER TABLE runs ADD COLUMN resumed_times INTEGER;"
    "ALTER TABLE runs ADD COLUMN slurm_job_id TEXT;"
    "ALTER TABLE runs ADD COLUMN sacct_energy_j REAL;"  /* Slurm's ConsumedEnergy: the node-level cross-check */
    "UPDATE runs SET"
    "  hardware = coalesce(CASE WHEN device_kind = 'gpu' THEN json_extract(record_json, '$.hardware.gpus[0].name') END,"
    "                      json_extract(record_json, '$.hardware.cpu')),"
    "  resumed_times = json_extract(record_json, '$.totals.resumed_times');"
    "CREATE TABLE series_points("    /* the plan: which series point and repetition a run stands for */
    "  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,"
    "  series TEXT NOT NULL, scaling TEXT NOT NULL, growing INTEGER NOT NULL,"
    "  point INTEGER NOT NULL, repetition INTEGER NOT NULL, run_key TEXT NOT NULL,"
    "  gpus INTEGER, global_batch INTEGER, local_batch INTEGER, accum INTEGER, data_fraction REAL,"
    "  PRIMARY KEY(study_id, series, point, repetition));"
    "CREATE INDEX series_points_run ON series_points(study_id, run_key);"
    "CREATE TABLE power_series("     /* downsampled: window middle and mean power (study/power_series.h) */
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  node INTEGER NOT NULL, device_id TEXT NOT NULL, kind TEXT, t_s REAL NOT NULL, power_w REAL NOT NULL);"
    "CREATE INDEX power_series_run ON power_series(run_id);"
    "CREATE TABLE slurm_jobs("
    "  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,"
    "  run_key TEXT NOT NULL, job_id TEXT NOT NULL, state TEXT NOT NULL,"
    "  submitted_at TEXT NOT NULL DEFAULT " NOW_ISO ", updated_at TEXT NOT NULL DEFAULT " NOW_ISO ","
    "  elapsed_s REAL, consumed_energy_j REAL,"
    "  PRIMARY KEY(study_id, job_id));"
    "CREATE INDEX slurm_jobs_run ON slurm_jobs(study_id, run_key);",
    /* v3: forecasting runs (FourCastNet): RMSE/std (mean over channels, validation, first
     * lead) and ACC, per run and per epoch, filled in from the records already stored */
    "ALTER TABLE runs ADD COLUMN val_rmse_norm REAL;"
    "ALTER TABLE runs ADD COLUMN val_acc REAL;"
    "ALTER TABLE epochs ADD COLUMN val_rmse_norm REAL;"
    "ALTER TABLE epochs ADD COLUMN val_acc REAL;"
    "UPDATE runs SET val_rmse_norm = json_extract(record_json, '$.totals.val_rmse_norm'),"
    "  val_acc = json_extract(record_json, '$.totals.val_acc');"
    "UPDATE epochs SET"
    "  val_rmse_norm = (SELECT json_extract(j.value, '$.val_rmse_norm')"
    "    FROM runs r, json_each(r.record_json, '$.epochs') j"
    "    WHERE r.id = epochs.run_id AND json_extract(j.value, '$.epoch') = epochs.epoch),"
    "  val_acc = (SELECT json_extract(j.value, '$.val_acc')"
    "    FROM runs r, json_each(r.record_json, '$.epochs') j"
    "    WHERE r.id = epochs.run_id AND json_extract(j.value, '$.epoch') = epochs.epoch);",
};

/* ---- record fields -> columns ---- */

typedef struct {
    const char *key; /* dotted path inside the object being stored */
    char type;       /* 'r' REAL, 'i' INTEGER, 't' TEXT; JSON null or absent -> NULL */
} field;

/* runs: after the hand-bound parameters study_id, run_key, record_json, epochs, hardware,
 * slurm_job_id, sacct_energy_j */
static const char run_sql[] =
    "INSERT INTO runs(study_id, run_key, record_json, epochs, hardware, slurm_job_id, sacct_energy_j,"
    " status, written_at, model, data, precision, device, optimizer, lr,"
    " world_size, nodes, global_batch, local_batch, accum, data_fraction, seed,"
    " epochs_requested, steps_requested, target_metric, target_value,"
    " time_s, device_kind, device_hours, energy_j, energy_gpu_j, energy_cpu_j, energy_dram_j,"
    " energy_domains, samples, updates, samples_per_device_hour, updates_per_device_hour,"
    " kwh_per_device_hour, j_per_sample, val_loss, val_top1, val_top5, resumed_times, val_rmse_norm, val_acc)"
    " VALUES(?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?, ?,?,?,?, ?,?,?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?,?, ?,?)";
static const field run_fields[] = {
    {"status", 't'}, {"written_at", 't'}, {"config.model", 't'}, {"config.data", 't'},
    {"config.precision", 't'}, {"config.device", 't'}, {"config.optimizer", 't'}, {"config.lr", 'r'},
    {"world.size", 'i'}, {"world.nodes", 'i'}, {"config.global_batch", 'i'}, {"config.local_batch", 'i'},
    {"config.accum", 'i'}, {"config.data_fraction", 'r'}, {"config.seed", 'i'},
    {"config.epochs", 'i'}, {"config.steps", 'i'}, {"config.target_metric", 't'}, {"config.target_value", 'r'},
    {"totals.time_s", 'r'}, {"totals.device_kind", 't'}, {"totals.device_hours", 'r'},
    {"totals.energy_j", 'r'}, {"totals.energy_by_domain_j.gpu", 'r'}, {"totals.energy_by_domain_j.cpu", 'r'},
    {"totals.energy_by_domain_j.dram", 'r'}, {"totals.energy_domains", 't'},
    {"totals.samples", 'r'}, {"totals.updates", 'i'},
    {"totals.samples_per_device_hour", 'r'}, {"totals.updates_per_device_hour", 'r'},
    {"totals.kwh_per_device_hour", 'r'}, {"totals.j_per_sample", 'r'},
    {"totals.val_loss", 'r'}, {"totals.val_top1", 'r'}, {"totals.val_top5", 'r'},
    {"totals.resumed_times", 'i'}, {"totals.val_rmse_norm", 'r'}, {"totals.val_acc", 'r'},
};
#define RUN_HAND_BOUND 7

/* epochs, devices, nodes: after the one hand-bound parameter run_id */
static const char epoch_sql[] =
    "INSERT INTO epochs(run_id, epoch, steps, samples, train_loss, train_top1, val_loss, val_top1,"
    " val_top5, lr, time_s, data_s, compute_s, comm_s, energy_j, energy_gpu_j, energy_cpu_j,"
    " energy_dram_j, energy_source, val_rmse_norm, val_acc)"
    " VALUES(?, ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const field epoch_fields[] = {
    {"epoch", 'i'}, {"steps", 'i'}, {"samples", 'r'}, {"train_loss", 'r'}, {"train_top1", 'r'},
    {"val_loss", 'r'}, {"val_top1", 'r'}, {"val_top5", 'r'}, {"lr", 'r'}, {"time_s", 'r'},
    {"data_s", 'r'}, {"compute_s", 'r'}, {"comm_s", 'r'}, {"energy_j", 'r'},
    {"energy_by_domain_j.gpu", 'r'}, {"energy_by_domain_j.cpu", 'r'}, {"energy_by_domain_j.dram", 'r'},
    {"energy_source", 't'}, {"val_rmse_norm", 'r'}, {"val_acc", 'r'},
};

static const char device_sql[] =
    "INSERT INTO devices(run_id, kind, name, device_id, source, energy_j, mean_power_w, max_power_w,"
    " uncertainty_j) VALUES(?, ?,?,?,?,?,?,?,?)";
static const field device_fields[] = {
    {"kind", 't'}, {"name", 't'}, {"id", 't'}, {"source", 't'},
    {"energy_j", 'r'}, {"mean_power_w", 'r'}, {"max_power_w", 'r'}, {"uncertainty_j", 'r'},
};

static const char node_sql[] =
    "INSERT INTO nodes(run_id, node, host, energy_gpu_j, energy_cpu_j, energy_dram_j)"
    " VALUES(?, ?,?,?,?,?)";
static const field node_fields[] = {
    {"node", 'i'}, {"host", 't'}, {"energy_by_domain_j.gpu", 'r'},
    {"energy_by_domain_j.cpu", 'r'}, {"energy_by_domain_j.dram", 'r'},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small helpers ---- */

ws_status wsi_store_sql_error(ws_error *err, sqlite3 *db, const char *what) {
    return wsi_error(err, WS_ELIBRARY, "sqlite3 %s (%s): %s", what, sqlite3_db_filename(db, "main"),
                     sqlite3_errmsg(db));
}

ws_status wsi_store_exec(sqlite3 *db, const char *sql, const char *what, ws_error *err) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) return wsi_store_sql_error(err, db, what);
    return WS_OK;
}

void wsi_store_rollback(sqlite3 *db) {
    /* after a failed COMMIT or a statement error SQLite may have rolled back already */
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

ws_status wsi_store_prepare(sqlite3 *db, const char *sql, int n_params, sqlite3_stmt **out, ws_error *err) {
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK) return wsi_store_sql_error(err, db, "prepare");
    WS_ASSERT(n_params < 0 || sqlite3_bind_parameter_count(*out) == n_params);
    return WS_OK;
}

static ws_status read_user_version(sqlite3 *db, int *out, ws_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) *out = sqlite3_column_int(st, 0);
    ws_status s = WS_OK;
    if (rc == SQLITE_NOTADB) /* SQLite reads the header at the first statement, not at open */
        s = wsi_error(err, WS_EFORMAT, "%s is not a SQLite database (%s): give the store a file of its own",
                      sqlite3_db_filename(db, "main"), sqlite3_errmsg(db));
    else if (rc != SQLITE_ROW)
        s = wsi_store_sql_error(err, db, "PRAGMA user_version");
    sqlite3_finalize(st);
    return s;
}

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

/* ---- ingest ---- */

typedef struct {
    const char *run_key;
    ws_error *err;
} ctx;

static ws_status format_error(const ctx *c, const char *where, const char *key, const char *what) {
    return wsi_error(c->err, WS_EFORMAT, "run record %s: %s%s%s: %s", c->run_key, where, where[0] && key[0] ? "." : "",
                     key, what);
}

/* Finds the dotted path key in obj; *out is NULL when a part is absent or null. A part
 * before the last that is present but no object is a format error. */
static ws_status lookup(const ctx *c, const char *where, const cJSON *obj, const char *key, const cJSON **out) {
    char part[64];
    const char *p = key;
    *out = NULL;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        WS_ASSERT(n < sizeof part);
        memcpy(part, p, n);
        part[n] = 0;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, part);
        if (!v || cJSON_IsNull(v)) return WS_OK;
        if (!dot) {
            *out = v;
            return WS_OK;
        }
        if (!cJSON_IsObject(v)) {
            char msg[96];
            snprintf(msg, sizeof msg, "expected an object at \"%s\", got %s", part, json_type_name(v));
            return format_error(c, where, key, msg);
        }
        obj = v;
        p = dot + 1;
    }
}

/* Binds fields f[0..n) of obj to parameters first, first+1, ... The text binds are
 * SQLITE_STATIC: the cJSON tree outlives the statement's step. */
static ws_status bind_fields(const ctx *c, sqlite3_stmt *st, int first, const cJSON *obj, const char *where,
                             const field *f, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int idx = first + (int)i;
        const cJSON *v;
        ws_status s = lookup(c, where, obj, f[i].key, &v);
        if (s != WS_OK) return s;
        char msg[96];
        if (!v) {
            sqlite3_bind_null(st, idx);
        } else if (f[i].type == 't') {
            if (!cJSON_IsString(v)) {
                snprintf(msg, sizeof msg, "expected a string or null, got %s", json_type_name(v));
                return format_error(c, where, f[i].key, msg);
            }
            sqlite3_bind_text(st, idx, v->valuestring, -1, SQLITE_STATIC);
        } else if (!cJSON_IsNumber(v)) {
            snprintf(msg, sizeof msg, "expected a number or null, got %s", json_type_name(v));
            return format_error(c, where, f[i].key, msg);
        } else if (f[i].type == 'r') {
            sqlite3_bind_double(st, idx, v->valuedouble);
        } else {
            double x = v->valuedouble;
            /* 9.2e18 = 2^63: past it an int64 cannot hold the value */
            if (x != floor(x) || fabs(x) >= 9.2e18) {
                snprintf(msg, sizeof msg, "expected an integer or null, got %.17g", x);
                return format_error(c, where, f[i].key, msg);
            }
            sqlite3_bind_int64(st, idx, (sqlite3_int64)x);
        }
    }
    return WS_OK;
}

static ws_status step_done(const ctx *c, sqlite3 *db, sqlite3_stmt *st, const char *where) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE) return WS_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) /* a record repeating an epoch or a node */
        return wsi_error(c->err, WS_EFORMAT, "run record %s: %s: %s", c->run_key, where, sqlite3_errmsg(db));
    return wsi_store_sql_error(c->err, db, where);
}

/* Inserts one row per element of the array at key (absent or null: none). */
static ws_status insert_rows(const ctx *c, sqlite3 *db, sqlite3_stmt *st, sqlite3_int64 run_id, const cJSON *root,
                             const char *key, const field *f, size_t n) {
    const cJSON *arr;
    ws_status s = lookup(c, "", root, key, &arr);
    if (s != WS_OK || !arr) return s;
    if (!cJSON_IsArray(arr)) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected an array or null, got %s", json_type_name(arr));
        return format_error(c, "", key, msg);
    }
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        char where[96];
        snprintf(where, sizeof where, "%s[%d]", key, i);
        if (!cJSON_IsObject(e)) {
            char msg[96];
            snprintf(msg, sizeof msg, "expected an object, got %s", json_type_name(e));
            return wsi_error(c->err, WS_EFORMAT, "run record %s: %s: %s", c->run_key, where, msg);
        }
        /* the first field (epoch, node) is the row's key: required */
        const cJSON *k;
        if ((s = lookup(c, where, e, f[0].key, &k)) != WS_OK) return s;
        if (f[0].type == 'i' && !k) return format_error(c, where, f[0].key, "missing");
        sqlite3_bind_int64(st, 1, run_id);
        if ((s = bind_fields(c, st, 2, e, where, f, n)) != WS_OK) {
            sqlite3_clear_bindings(st);
            return s;
        }
        if ((s = step_done(c, db, st, where)) != WS_OK) return s;
    }
    return WS_OK;
}

/* The checks that need no database: JSON, schema, and the keys every record has. */
static ws_status parse_record(const ctx *c, const char *text, cJSON **out) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        int line = 1;
        for (size_t i = 0; i < off && text[i]; i++) line += text[i] == '\n';
        return wsi_error(c->err, WS_EFORMAT, "run record %s: not valid JSON near byte %zu (line %d)", c->run_key,
                         off, line);
    }
    *out = root;
    if (!cJSON_IsObject(root))
        return wsi_error(c->err, WS_EFORMAT, "run record %s: expected a JSON object, got %s", c->run_key,
                         json_type_name(root));
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
    if (!cJSON_IsString(schema))
        return wsi_error(c->err, WS_EFORMAT, "run record %s: \"schema\" is missing (want \"%s\"): not a run record",
                         c->run_key, RUN_SCHEMA);
    if (strcmp(schema->valuestring, RUN_SCHEMA) != 0)
        return wsi_error(c->err, WS_EFORMAT,
                         "run record %s: schema \"%s\", this wattscale stores \"%s\" (a newer wattscale's record, "
                         "or another kind of report?)",
                         c->run_key, schema->valuestring, RUN_SCHEMA);
    static const struct {
        const char *key;
        cJSON_bool (*is)(const cJSON *);
        const char *want;
    } required[] = {{"status", cJSON_IsString, "a string"},
                    {"config", cJSON_IsObject, "an object"},
                    {"totals", cJSON_IsObject, "an object"}};
    for (size_t i = 0; i < COUNT(required); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, required[i].key);
        if (!v) return format_error(c, "", required[i].key, "missing");
        if (!required[i].is(v)) {
            char msg[96];
            snprintf(msg, sizeof msg, "expected %s, got %s", required[i].want, json_type_name(v));
            return format_error(c, "", required[i].key, msg);
        }
    }
    return WS_OK;
}

/* What a run folder holds beside run.json: the runner's sidecars and the power samples. */
typedef struct {
    const cJSON *sidecar; /* study.json ("wattscale.study-run/1"): the plan points the run stands for */
    const cJSON *slurm;   /* slurm.json ("wattscale.slurm-job/1"): the job and sacct's energy */
    const ws_power_point *power;
    size_t n_power;
} extras;

static const char member_sql[] =
    "INSERT OR REPLACE INTO series_points(study_id, run_key, gpus, global_batch, local_batch, accum, data_fraction,"
    " series, scaling, growing, point, repetition) VALUES(?,?, ?,?,?,?,?, ?,?,?,?,?)";
static const field point_fields[] = {
    {"gpus", 'i'}, {"global_batch", 'i'}, {"local_batch", 'i'}, {"accum", 'i'}, {"data_fraction", 'r'},
};
static const field member_fields[] = {
    {"series", 't'}, {"scaling", 't'}, {"growing", 'i'}, {"point", 'i'}, {"repetition", 'i'},
};
const char wsi_store_job_sql[] =
    "INSERT INTO slurm_jobs(study_id, run_key, job_id, state, elapsed_s, consumed_energy_j) VALUES(?,?, ?,?,?,?)"
    " ON CONFLICT(study_id, job_id) DO UPDATE SET state = excluded.state, elapsed_s = excluded.elapsed_s,"
    " consumed_energy_j = excluded.consumed_energy_j, updated_at = " NOW_ISO;
static const field job_fields[] = {
    {"job_id", 't'}, {"state", 't'}, {"elapsed_s", 'r'}, {"consumed_energy_j", 'r'},
};
static const char power_sql[] =
    "INSERT INTO power_series(run_id, node, device_id, kind, t_s, power_w) VALUES(?,?,?,?,?,?)";

/* hardware: the GPU's name on the CUDA backend, else the CPU's model */
static const char *hardware_of(const cJSON *root) {
    const cJSON *totals = cJSON_GetObjectItemCaseSensitive(root, "totals");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(totals, "device_kind");
    const cJSON *hw = cJSON_GetObjectItemCaseSensitive(root, "hardware");
    const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(hw, "gpus");
    const cJSON *gpu0 = cJSON_IsArray(gpus) ? cJSON_GetArrayItem(gpus, 0) : NULL;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(gpu0, "name");
    if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "gpu") && cJSON_IsString(name)) return name->valuestring;
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(hw, "cpu");
    return cJSON_IsString(cpu) ? cpu->valuestring : NULL;
}

static void bind_text_or_null(sqlite3_stmt *st, int idx, const char *v) {
    if (v) sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, idx);
}

static ws_status insert_members(const ctx *c, sqlite3 *db, sqlite3_stmt *st, sqlite3_int64 study_id,
                                const cJSON *side) {
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(side, "members");
    if (!cJSON_IsArray(members)) return format_error(c, "study.json", "members", "expected an array");
    int i = 0;
    for (const cJSON *m = members->child; m; m = m->next, i++) {
        char where[64];
        snprintf(where, sizeof where, "study.json members[%d]", i);
        if (!cJSON_IsObject(m)) return format_error(c, where, "", "expected an object");
        for (size_t k = 0; k < COUNT(member_fields); k++)
            if (!cJSON_GetObjectItemCaseSensitive(m, member_fields[k].key))
                return format_error(c, where, member_fields[k].key, "missing");
        sqlite3_bind_int64(st, 1, study_id);
        sqlite3_bind_text(st, 2, c->run_key, -1, SQLITE_STATIC);
        ws_status s = bind_fields(c, st, 3, side, "study.json", point_fields, COUNT(point_fields));
        if (s == WS_OK) s = bind_fields(c, st, 3 + (int)COUNT(point_fields), m, where, member_fields, COUNT(member_fields));
        if (s == WS_OK) s = step_done(c, db, st, "INSERT INTO series_points");
        if (s != WS_OK) return s;
    }
    return WS_OK;
}

static ws_status insert_power(const ctx *c, sqlite3 *db, sqlite3_stmt *st, sqlite3_int64 run_id, const extras *x) {
    for (size_t i = 0; i < x->n_power; i++) {
        const ws_power_point *p = &x->power[i];
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int(st, 2, p->node);
        sqlite3_bind_text(st, 3, p->device, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->kind, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, p->t_s);
        sqlite3_bind_double(st, 6, p->power_w);
        ws_status s = step_done(c, db, st, "INSERT INTO power_series");
        if (s != WS_OK) return s;
    }
    return WS_OK;
}

enum { ST_DELETE, ST_RUN, ST_EPOCH, ST_DEVICE, ST_NODE, ST_MEMBER, ST_JOB, ST_POWER, ST_COUNT };

static ws_status ingest_tx(const ctx *c, sqlite3 *db, sqlite3_stmt **st, const char *study, const char *text,
                           const cJSON *root, const extras *x) {
    ws_status s;
    ws_error *err = c->err;
    if ((s = wsi_store_prepare(db, "DELETE FROM runs WHERE study_id = ? AND run_key = ?", 2, &st[ST_DELETE], err)) != WS_OK ||
        (s = wsi_store_prepare(db, run_sql, RUN_HAND_BOUND + (int)COUNT(run_fields), &st[ST_RUN], err)) != WS_OK ||
        (s = wsi_store_prepare(db, epoch_sql, 1 + (int)COUNT(epoch_fields), &st[ST_EPOCH], err)) != WS_OK ||
        (s = wsi_store_prepare(db, device_sql, 1 + (int)COUNT(device_fields), &st[ST_DEVICE], err)) != WS_OK ||
        (s = wsi_store_prepare(db, node_sql, 1 + (int)COUNT(node_fields), &st[ST_NODE], err)) != WS_OK ||
        (s = wsi_store_prepare(db, member_sql, 2 + (int)(COUNT(point_fields) + COUNT(member_fields)), &st[ST_MEMBER],
                               err)) != WS_OK ||
        (s = wsi_store_prepare(db, wsi_store_job_sql, 2 + (int)COUNT(job_fields), &st[ST_JOB], err)) != WS_OK ||
        (s = wsi_store_prepare(db, power_sql, 6, &st[ST_POWER], err)) != WS_OK)
        return s;

    sqlite3_int64 study_id = 0;
    if ((s = wsi_store_study_id(db, study, 1, &study_id, err)) != WS_OK) return s;

    /* replace: the old run's epochs, devices, nodes and power go with it (ON DELETE CASCADE) */
    sqlite3_bind_int64(st[ST_DELETE], 1, study_id);
    sqlite3_bind_text(st[ST_DELETE], 2, c->run_key, -1, SQLITE_STATIC);
    if ((s = step_done(c, db, st[ST_DELETE], "DELETE FROM runs")) != WS_OK) return s;

    sqlite3_stmt *run = st[ST_RUN];
    const cJSON *epochs = cJSON_GetObjectItemCaseSensitive(root, "epochs");
    sqlite3_bind_int64(run, 1, study_id);
    sqlite3_bind_text(run, 2, c->run_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(run, 3, text, -1, SQLITE_STATIC);
    if (cJSON_IsArray(epochs)) sqlite3_bind_int(run, 4, cJSON_GetArraySize(epochs));
    else sqlite3_bind_null(run, 4);
    bind_text_or_null(run, 5, hardware_of(root));
    const cJSON *job_id = cJSON_GetObjectItemCaseSensitive(x->slurm, "job_id");
    const cJSON *energy = cJSON_GetObjectItemCaseSensitive(x->slurm, "consumed_energy_j");
    bind_text_or_null(run, 6, cJSON_IsString(job_id) ? job_id->valuestring : NULL);
    if (cJSON_IsNumber(energy)) sqlite3_bind_double(run, 7, energy->valuedouble);
    else sqlite3_bind_null(run, 7);
    if ((s = bind_fields(c, run, RUN_HAND_BOUND + 1, root, "", run_fields, COUNT(run_fields))) != WS_OK ||
        (s = step_done(c, db, run, "INSERT INTO runs")) != WS_OK)
        return s;
    sqlite3_int64 run_id = sqlite3_last_insert_rowid(db);

    if ((s = insert_rows(c, db, st[ST_EPOCH], run_id, root, "epochs", epoch_fields, COUNT(epoch_fields))) != WS_OK ||
        (s = insert_rows(c, db, st[ST_DEVICE], run_id, root, "energy.devices", device_fields, COUNT(device_fields))) !=
            WS_OK ||
        (s = insert_rows(c, db, st[ST_NODE], run_id, root, "energy.nodes", node_fields, COUNT(node_fields))) != WS_OK ||
        (s = insert_power(c, db, st[ST_POWER], run_id, x)) != WS_OK)
        return s;
    if (x->sidecar && (s = insert_members(c, db, st[ST_MEMBER], study_id, x->sidecar)) != WS_OK) return s;
    if (cJSON_IsString(job_id)) {
        sqlite3_bind_int64(st[ST_JOB], 1, study_id);
        sqlite3_bind_text(st[ST_JOB], 2, c->run_key, -1, SQLITE_STATIC);
        if ((s = bind_fields(c, st[ST_JOB], 3, x->slurm, "slurm.json", job_fields, COUNT(job_fields))) != WS_OK ||
            (s = step_done(c, db, st[ST_JOB], "INSERT INTO slurm_jobs")) != WS_OK)
            return s;
    }
    return WS_OK;
}

static ws_status ingest(ws_store *s, const char *study, const char *run_key, const char *run_json, const extras *x,
                        ws_error *err) {
    ctx c = {run_key, err};
    cJSON *root = NULL;
    ws_status st = parse_record(&c, run_json, &root);
    if (st != WS_OK) {
        cJSON_Delete(root);
        return st;
    }
    sqlite3_stmt *stmts[ST_COUNT] = {0};
    st = wsi_store_exec(s->db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE (another writer held the store over 5 s?)", err);
    if (st == WS_OK) {
        st = ingest_tx(&c, s->db, stmts, study, run_json, root, x);
        for (size_t i = 0; i < COUNT(stmts); i++) sqlite3_finalize(stmts[i]);
        if (st == WS_OK) st = wsi_store_exec(s->db, "COMMIT", "COMMIT", err);
        if (st != WS_OK) wsi_store_rollback(s->db);
    }
    cJSON_Delete(root);
    return st;
}

ws_status ws_store_ingest_run(ws_store *s, const char *study, const char *run_key, const char *run_json,
                              ws_error *err) {
    if (!s || !study || !study[0] || !run_key || !run_key[0] || !run_json)
        return wsi_error(err, WS_EINVAL, "ws_store_ingest_run: store, study, run_key and run_json are required");
    extras none = {0};
    return ingest(s, study, run_key, run_json, &none, err);
}

/* ---- files ---- */

/* dir/name parsed as JSON with the given schema; *out NULL when the file does not exist. */
static ws_status read_sidecar(const char *dir, const char *name, const char *schema, cJSON **out, ws_error *err) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *out = NULL;
    if (access(path, F_OK) != 0) return WS_OK;
    char *text = NULL;
    ws_status st = ws_read_file(path, &text, NULL, err);
    if (st != WS_OK) return st;
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *sch = cJSON_GetObjectItemCaseSensitive(j, "schema");
    if (!cJSON_IsObject(j) || !cJSON_IsString(sch) || strcmp(sch->valuestring, schema) != 0) {
        cJSON_Delete(j);
        return wsi_error(err, WS_EFORMAT, "%s: not a %s file (JSON object with \"schema\": \"%s\")", path, schema,
                         schema);
    }
    *out = j;
    return WS_OK;
}

/* dir/power.csv (one node) and dir/power-nodeK.csv (several), downsampled */
static ws_status read_power(const char *dir, ws_power_point **pts, size_t *n, ws_error *err) {
    char pattern[PATH_MAX + 32];
    snprintf(pattern, sizeof pattern, "%s/power*.csv", dir);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return WS_OK; /* none: nothing was sampled */
    ws_status st = WS_OK;
    for (size_t i = 0; i < g.gl_pathc && st == WS_OK; i++) {
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        int node = 0;
        if (strcmp(base, "power.csv") != 0 && sscanf(base, "power-node%d.csv", &node) != 1) continue;
        st = ws_power_series_read(g.gl_pathv[i], node, WS_STORE_POWER_POINTS, pts, n, err);
    }
    globfree(&g);
    return st;
}

ws_status ws_store_ingest_file(ws_store *s, const char *study, const char *run_key, const char *path,
                               ws_error *err) {
    if (!s || !path) return wsi_error(err, WS_EINVAL, "ws_store_ingest_file: store and path are required");
    struct stat sb;
    if (stat(path, &sb) != 0) return wsi_error(err, WS_EIO, "stat %s: %s", path, strerror(errno));
    int is_dir = S_ISDIR(sb.st_mode);
    char file[PATH_MAX + 16];
    snprintf(file, sizeof file, is_dir ? "%s/run.json" : "%s", path);
    char key[PATH_MAX];
    if (!run_key || !run_key[0]) {
        /* realpath: "." and "out/" name their folder too */
        char *real = realpath(path, NULL);
        if (!real) return wsi_error(err, WS_EIO, "realpath %s: %s", path, strerror(errno));
        if (!is_dir) *strrchr(real, '/') = 0; /* the file's folder names the run */
        const char *slash = strrchr(real, '/');
        snprintf(key, sizeof key, "%s", slash && slash[1] ? slash + 1 : real);
        free(real);
        if (!key[0]) return wsi_error(err, WS_EINVAL, "%s: no folder name to use as run key; pass one", path);
        run_key = key;
    }
    char *text = NULL;
    cJSON *sidecar = NULL, *slurm = NULL;
    ws_power_point *power = NULL;
    size_t n_power = 0;
    ws_status st = ws_read_file(file, &text, NULL, err);
    if (st == WS_OK && is_dir) st = read_sidecar(path, "study.json", "wattscale.study-run/1", &sidecar, err);
    if (st == WS_OK && is_dir) st = read_sidecar(path, "slurm.json", "wattscale.slurm-job/1", &slurm, err);
    if (st == WS_OK && is_dir) st = read_power(path, &power, &n_power, err);
    if (st == WS_OK) {
        const cJSON *named = cJSON_GetObjectItemCaseSensitive(sidecar, "study");
        if (!study || !study[0]) study = cJSON_IsString(named) ? named->valuestring : "default";
        extras x = {sidecar, slurm, power, n_power};
        st = ingest(s, study, run_key, text, &x, err);
    }
    free(text);
    free(power);
    cJSON_Delete(sidecar);
    cJSON_Delete(slurm);
    return st;
}

/* ---- queries ---- */

int ws_store_has_run(ws_store *s, const char *study, const char *run_key) {
    if (!s || !study || !run_key) return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT 1 FROM runs JOIN studies ON studies.id = runs.study_id"
                                " WHERE studies.name = ? AND runs.run_key = ?"
                                " AND runs.status IN ('completed', 'target_reached')",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, run_key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ws_log(WS_LOG_WARN, "store: has_run(%s, %s): %s; treating the run as not done", study, run_key,
               sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW;
}

size_t ws_store_run_count(ws_store *s, const char *study) {
    if (!s) return 0;
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    const char *sql = study ? "SELECT count(*) FROM runs JOIN studies ON studies.id = runs.study_id"
                              " WHERE studies.name = ?"
                            : "SELECT count(*) FROM runs";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (study) sqlite3_bind_text(st, 1, study, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = (size_t)sqlite3_column_int64(st, 0);
        else
            ws_log(WS_LOG_WARN, "store: run_count(%s): %s", study ? study : "all", sqlite3_errmsg(s->db));
    } else {
        ws_log(WS_LOG_WARN, "store: run_count(%s): %s", study ? study : "all", sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(st);
    return n;
}

void *ws_store_db(ws_store *s) { return s ? s->db : NULL; }

int ws_store_schema_version(const ws_store *s) { return s ? s->version : 0; }

/* ---- open, migrate, close ---- */

/* Each step in one IMMEDIATE transaction that re-reads the version first: a second process
 * that opened the new file at the same time waits for the first, then finds nothing to do. */
static ws_status migrate(sqlite3 *db, int *version, ws_error *err) {
    for (int v = *version + 1; v <= WS_STORE_SCHEMA_VERSION; v++) {
        ws_status s = wsi_store_exec(db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE (migration)", err);
        if (s != WS_OK) return s;
        int now = 0;
        s = read_user_version(db, &now, err);
        if (s == WS_OK && now < v) {
            char what[64], pragma[64];
            snprintf(what, sizeof what, "migration to schema v%d", v);
            snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v);
            s = wsi_store_exec(db, migrations[v - 1], what, err);
            if (s == WS_OK) s = wsi_store_exec(db, pragma, what, err);
        }
        if (s == WS_OK) s = wsi_store_exec(db, "COMMIT", "COMMIT (migration)", err);
        if (s != WS_OK) {
            wsi_store_rollback(db);
            return s;
        }
        *version = now < v ? v : now;
    }
    return WS_OK;
}

ws_status ws_store_open(ws_store **out, const char *path, ws_error *err) {
    if (!out || !path) return wsi_error(err, WS_EINVAL, "ws_store_open: out and path are required");
    *out = NULL;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        ws_status s = wsi_error(err, rc == SQLITE_CANTOPEN ? WS_EIO : WS_ELIBRARY, "sqlite3_open_v2 %s: %s", path,
                                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return s;
    }
    sqlite3_busy_timeout(db, 5000);
    int version = 0;
    /* the version check comes before anything that writes (journal_mode=WAL does) */
    ws_status s = read_user_version(db, &version, err);
    if (s == WS_OK && version > WS_STORE_SCHEMA_VERSION)
        s = wsi_error(err, WS_ENOTSUP,
                      "store %s has schema version %d, newer than this wattscale's %d: open it with the "
                      "wattscale that wrote it, or a newer one",
                      path, version, WS_STORE_SCHEMA_VERSION);
    if (s == WS_OK) s = wsi_store_exec(db, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", err);
    if (s == WS_OK) {
        /* WAL lets analysis read while a runner writes; it answers with the mode it got
         * ("memory" for ":memory:"), which we accept: WAL is a speed-up, not a contract */
        sqlite3_stmt *st = NULL;
        s = wsi_store_prepare(db, "PRAGMA journal_mode = WAL", 0, &st, err);
        /* the mode switch needs the file to itself, and SQLite answers SQLITE_BUSY at once,
         * without the busy handler, while another process creating the same store holds it
         * (seen in test_processes_race_on_new_file): retry for as long as the busy timeout */
        int step = SQLITE_BUSY;
        for (int tries = 0; s == WS_OK && tries < 250; tries++) {
            step = sqlite3_step(st);
            if (step != SQLITE_BUSY && step != SQLITE_LOCKED) break;
            sqlite3_reset(st);
            ws_sleep_s(0.02);
        }
        if (s == WS_OK && step != SQLITE_ROW) s = wsi_store_sql_error(err, db, "PRAGMA journal_mode = WAL");
        if (s == WS_OK && strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
            ws_log(WS_LOG_INFO, "store %s: journal mode %s, not wal", path, sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    if (s == WS_OK) s = migrate(db, &version, err);
    if (s != WS_OK) {
        sqlite3_close(db);
        return s;
    }
    ws_store *st = calloc(1, sizeof *st);
    if (!st) {
        sqlite3_close(db);
        return wsi_error(err, WS_ENOMEM, "ws_store_open %s: out of memory", path);
    }
    st->db = db;
    st->version = version;
    *out = st;
    return WS_OK;
}

void ws_store_close(ws_store *s) {
    if (!s) return;
    sqlite3_close(s->db); /* every statement is finalized where it was prepared */
    free(s);
}
