/* study/store_internal.h - what the store's files share (store.c: open, migrations, ingest;
 * store_study.c: studies, plans, Slurm jobs; store_runs.c: the analysis view).
 * defines: struct ws_store, wsi_store_sql_error, wsi_store_exec, wsi_store_prepare,
 * wsi_store_rollback, wsi_store_study_id, wsi_store_job_sql. Not for use outside
 * src/study/store*.c. */
#ifndef WS_STUDY_STORE_INTERNAL_H
#define WS_STUDY_STORE_INTERNAL_H

#include <sqlite3.h>
#include "study/store.h"

struct ws_store {
    sqlite3 *db;
    int version;
};

/* "sqlite3 WHAT (FILE): MESSAGE" as WS_ELIBRARY */
ws_status wsi_store_sql_error(ws_error *err, sqlite3 *db, const char *what);
ws_status wsi_store_exec(sqlite3 *db, const char *sql, const char *what, ws_error *err);
/* prepares sql; n_params >= 0 asserts the statement's parameter count */
ws_status wsi_store_prepare(sqlite3 *db, const char *sql, int n_params, sqlite3_stmt **out, ws_error *err);
void wsi_store_rollback(sqlite3 *db); /* after a failure inside a transaction */
/* The id of study `name`; create: insert it when missing. *id 0 (and WS_OK) when absent. */
ws_status wsi_store_study_id(sqlite3 *db, const char *name, int create, sqlite3_int64 *id, ws_error *err);

/* Inserts or updates a Slurm job by (study_id, job_id); parameters: study_id, run_key,
 * job_id, state, elapsed_s, consumed_energy_j. */
extern const char wsi_store_job_sql[];

#endif
