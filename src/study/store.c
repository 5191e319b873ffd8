/* study/store.c - run records into SQLite; contract and tables in study/store.h.
 * Every value reaches SQLite through a bound parameter; the only SQL built at run time is
 * "PRAGMA user_version = N" with N from our own migration table (PRAGMA takes no parameters).
 * The field tables below map run-record keys (dotted paths) to columns, in the order of
 * the column lists in the INSERT statements beside them; prepare() checks the counts agree. */
#include "study/store.h"
#include "core/error.h"
#include "core/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RUN_SCHEMA "wattscale.run/1"
#define NOW_ISO "(strftime('%Y-%m-%dT%H:%M:%SZ','now'))"

struct ws_store {
    sqlite3 *db;
    int version;
};

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
};

/* ---- record fields -> columns ---- */

typedef struct {
    const char *key; /* dotted path inside the object being stored */
    char type;       /* 'r' REAL, 'i' INTEGER, 't' TEXT; JSON null or absent -> NULL */
} field;

/* runs: after the four hand-bound parameters study_id, run_key, record_json, epochs */
static const char run_sql[] =
    "INSERT INTO runs(study_id, run_key, record_json, epochs,"
    " status, written_at, model, data, precision, device, optimizer, lr,"
    " world_size, nodes, global_batch, local_batch, accum, data_fraction, seed,"
    " epochs_requested, steps_requested, target_metric, target_value,"
    " time_s, device_kind, device_hours, energy_j, energy_gpu_j, energy_cpu_j, energy_dram_j,"
    " energy_domains, samples, updates, samples_per_device_hour, updates_per_device_hour,"
    " kwh_per_device_hour, j_per_sample, val_loss, val_top1, val_top5)"
    " VALUES(?,?,?,?, ?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?, ?,?,?,?, ?,?,?,?,?,?,?, ?,?,?,?,?, ?,?,?,?,?)";
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
};
#define RUN_HAND_BOUND 4

/* epochs, devices, nodes: after the one hand-bound parameter run_id */
static const char epoch_sql[] =
    "INSERT INTO epochs(run_id, epoch, steps, samples, train_loss, train_top1, val_loss, val_top1,"
    " val_top5, lr, time_s, data_s, compute_s, comm_s, energy_j, energy_gpu_j, energy_cpu_j,"
    " energy_dram_j, energy_source) VALUES(?, ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const field epoch_fields[] = {
    {"epoch", 'i'}, {"steps", 'i'}, {"samples", 'r'}, {"train_loss", 'r'}, {"train_top1", 'r'},
    {"val_loss", 'r'}, {"val_top1", 'r'}, {"val_top5", 'r'}, {"lr", 'r'}, {"time_s", 'r'},
    {"data_s", 'r'}, {"compute_s", 'r'}, {"comm_s", 'r'}, {"energy_j", 'r'},
    {"energy_by_domain_j.gpu", 'r'}, {"energy_by_domain_j.cpu", 'r'}, {"energy_by_domain_j.dram", 'r'},
    {"energy_source", 't'},
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

static ws_status sql_error(ws_error *err, sqlite3 *db, const char *what) {
    return wsi_error(err, WS_ELIBRARY, "sqlite3 %s (%s): %s", what, sqlite3_db_filename(db, "main"),
                     sqlite3_errmsg(db));
}

static ws_status exec(sqlite3 *db, const char *sql, const char *what, ws_error *err) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) return sql_error(err, db, what);
    return WS_OK;
}

static void rollback(sqlite3 *db) {
    /* after a failed COMMIT or a statement error SQLite may have rolled back already */
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static ws_status prepare(sqlite3 *db, const char *sql, int n_params, sqlite3_stmt **out, ws_error *err) {
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK) return sql_error(err, db, "prepare");
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
        s = sql_error(err, db, "PRAGMA user_version");
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
    return wsi_error(c->err, WS_EFORMAT, "run record %s: %s%s%s: %s", c->run_key, where, where[0] ? "." : "",
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
    return sql_error(c->err, db, where);
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

static ws_status ingest_tx(const ctx *c, sqlite3 *db, sqlite3_stmt **st, const char *study, const char *text,
                           const cJSON *root) {
    ws_status s;
    ws_error *err = c->err;
    if ((s = prepare(db, "INSERT OR IGNORE INTO studies(name) VALUES(?)", 1, &st[0], err)) != WS_OK ||
        (s = prepare(db, "SELECT id FROM studies WHERE name = ?", 1, &st[1], err)) != WS_OK ||
        (s = prepare(db, "DELETE FROM runs WHERE study_id = ? AND run_key = ?", 2, &st[2], err)) != WS_OK ||
        (s = prepare(db, run_sql, RUN_HAND_BOUND + (int)COUNT(run_fields), &st[3], err)) != WS_OK ||
        (s = prepare(db, epoch_sql, 1 + (int)COUNT(epoch_fields), &st[4], err)) != WS_OK ||
        (s = prepare(db, device_sql, 1 + (int)COUNT(device_fields), &st[5], err)) != WS_OK ||
        (s = prepare(db, node_sql, 1 + (int)COUNT(node_fields), &st[6], err)) != WS_OK)
        return s;

    sqlite3_bind_text(st[0], 1, study, -1, SQLITE_STATIC);
    if ((s = step_done(c, db, st[0], "INSERT INTO studies")) != WS_OK) return s;
    sqlite3_bind_text(st[1], 1, study, -1, SQLITE_STATIC);
    if (sqlite3_step(st[1]) != SQLITE_ROW) return sql_error(err, db, "SELECT FROM studies");
    sqlite3_int64 study_id = sqlite3_column_int64(st[1], 0);

    /* replace: the old run's epochs, devices and nodes go with it (ON DELETE CASCADE) */
    sqlite3_bind_int64(st[2], 1, study_id);
    sqlite3_bind_text(st[2], 2, c->run_key, -1, SQLITE_STATIC);
    if ((s = step_done(c, db, st[2], "DELETE FROM runs")) != WS_OK) return s;

    const cJSON *epochs = cJSON_GetObjectItemCaseSensitive(root, "epochs");
    sqlite3_bind_int64(st[3], 1, study_id);
    sqlite3_bind_text(st[3], 2, c->run_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st[3], 3, text, -1, SQLITE_STATIC);
    if (cJSON_IsArray(epochs))
        sqlite3_bind_int(st[3], 4, cJSON_GetArraySize(epochs));
    else
        sqlite3_bind_null(st[3], 4);
    if ((s = bind_fields(c, st[3], RUN_HAND_BOUND + 1, root, "", run_fields, COUNT(run_fields))) != WS_OK ||
        (s = step_done(c, db, st[3], "INSERT INTO runs")) != WS_OK)
        return s;
    sqlite3_int64 run_id = sqlite3_last_insert_rowid(db);

    if ((s = insert_rows(c, db, st[4], run_id, root, "epochs", epoch_fields, COUNT(epoch_fields))) != WS_OK ||
        (s = insert_rows(c, db, st[5], run_id, root, "energy.devices", device_fields, COUNT(device_fields))) !=
            WS_OK ||
        (s = insert_rows(c, db, st[6], run_id, root, "energy.nodes", node_fields, COUNT(node_fields))) != WS_OK)
        return s;
    return WS_OK;
}

ws_status ws_store_ingest_run(ws_store *s, const char *study, const char *run_key, const char *run_json,
                              ws_error *err) {
    if (!s || !study || !study[0] || !run_key || !run_key[0] || !run_json)
        return wsi_error(err, WS_EINVAL, "ws_store_ingest_run: store, study, run_key and run_json are required");
    ctx c = {run_key, err};
    cJSON *root = NULL;
    ws_status st = parse_record(&c, run_json, &root);
    if (st != WS_OK) {
        cJSON_Delete(root);
        return st;
    }
    sqlite3_stmt *stmts[7] = {0};
    st = exec(s->db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE (another writer held the store over 5 s?)", err);
    if (st == WS_OK) {
        st = ingest_tx(&c, s->db, stmts, study, run_json, root);
        for (size_t i = 0; i < COUNT(stmts); i++) sqlite3_finalize(stmts[i]);
        if (st == WS_OK) st = exec(s->db, "COMMIT", "COMMIT", err);
        if (st != WS_OK) rollback(s->db);
    }
    cJSON_Delete(root);
    return st;
}

/* ---- files ---- */

static ws_status read_text(const char *path, char **out, ws_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return wsi_error(err, WS_EIO, "open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *more = realloc(buf, cap * 2);
        if (!more) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf) return wsi_error(err, WS_ENOMEM, "read %s: out of memory", path);
    if (failed) {
        free(buf);
        return wsi_error(err, WS_EIO, "read %s: %s", path, strerror(errno));
    }
    buf[n] = 0;
    *out = buf;
    return WS_OK;
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
    ws_status st = read_text(file, &text, err);
    if (st != WS_OK) return st;
    st = ws_store_ingest_run(s, study, run_key, text, err);
    free(text);
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
        ws_status s = exec(db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE (migration)", err);
        if (s != WS_OK) return s;
        int now = 0;
        s = read_user_version(db, &now, err);
        if (s == WS_OK && now < v) {
            char what[64], pragma[64];
            snprintf(what, sizeof what, "migration to schema v%d", v);
            snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v);
            s = exec(db, migrations[v - 1], what, err);
            if (s == WS_OK) s = exec(db, pragma, what, err);
        }
        if (s == WS_OK) s = exec(db, "COMMIT", "COMMIT (migration)", err);
        if (s != WS_OK) {
            rollback(db);
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
    if (s == WS_OK) s = exec(db, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", err);
    if (s == WS_OK) {
        /* WAL lets analysis read while a runner writes; it answers with the mode it got
         * ("memory" for ":memory:"), which we accept: WAL is a speed-up, not a contract */
        sqlite3_stmt *st = NULL;
        s = prepare(db, "PRAGMA journal_mode = WAL", 0, &st, err);
        if (s == WS_OK && sqlite3_step(st) != SQLITE_ROW) s = sql_error(err, db, "PRAGMA journal_mode = WAL");
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
