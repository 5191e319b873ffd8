/* study/store_perf.c - the performance view of a stored study; contract in study/store_perf.h. */
#include "study/store_perf.h"
#include "core/error.h"
#include "study/store_internal.h"

#include <stdlib.h>
#include <string.h>

ws_status ws_store_load_perf(ws_store *s, const char *study, ws_perf_set *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    sqlite3_int64 id = 0;
    ws_status st = wsi_store_study_id(s->db, study, 0, &id, err);
    if (st != WS_OK) return st;
    if (!id) return wsi_error(err, WS_EINVAL, "study \"%s\" is not in the database", study);
    sqlite3_stmt *q = NULL;
    if ((st = wsi_store_prepare(s->db, "SELECT run_key, record_json FROM runs WHERE study_id = ? ORDER BY run_key", 1,
                                &q, err)) != WS_OK)
        return st;
    sqlite3_bind_int64(q, 1, id);
    /* one read transaction: a runner ingesting meanwhile (WAL) never shows half a study */
    if ((st = wsi_store_exec(s->db, "BEGIN", "begin read", err)) != WS_OK) {
        sqlite3_finalize(q);
        return st;
    }
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 32;
            ws_perf_run *more = realloc(out->runs, cap * sizeof *more);
            if (!more) {
                st = wsi_error(err, WS_ENOMEM, "store: out of memory loading runs");
                break;
            }
            out->runs = more;
        }
        const char *key = (const char *)sqlite3_column_text(q, 0), *json = (const char *)sqlite3_column_text(q, 1);
        if ((st = ws_perf_from_record(json ? json : "", key ? key : "", &out->runs[out->n], err)) != WS_OK) break;
        out->n++;
    }
    if (st == WS_OK && rc != SQLITE_DONE) st = wsi_store_sql_error(err, s->db, "SELECT FROM runs");
    sqlite3_finalize(q);
    wsi_store_exec(s->db, "COMMIT", "end read", NULL);
    if (st != WS_OK) ws_perf_set_free(out);
    return st;
}
