/* study/store.h - the result store of the study layer: run records in SQLite.
 * defines: ws_store (opaque), ws_store_open/close, ws_store_ingest_run/_file, ws_store_has_run,
 * ws_store_run_count, ws_store_schema_version, ws_store_db. Implementation: study/store.c.
 *
 * The run record (OUT/run.json, "wattscale.run/1") is the source of truth; the store is an
 * index over records for analysis, rebuilt by re-ingesting. Tables (schema v1; units in names,
 * JSON null is SQL NULL, never 0):
 *   studies(id, name UNIQUE, created_at)
 *   runs(id, study_id, run_key, status, ..., record_json, ingested_at, UNIQUE(study_id, run_key))
 *   epochs(run_id, epoch, ...)   devices(run_id, ...)   nodes(run_id, node, ...)
 * Rows of epochs, devices and nodes go with their run (ON DELETE CASCADE). A run's id changes
 * when it is re-ingested: join and look up by (studies.name, runs.run_key), never by runs.id.
 * Timestamps are UTC ISO 8601 text ("2026-11-25T20:32:20Z").
 *
 * Threads: one ws_store per thread (the handle is not shared). Processes: any number may
 * open the same file (WAL; writers wait up to 5 s for each other). */
#ifndef WS_STUDY_STORE_H
#define WS_STUDY_STORE_H

#include <stddef.h>
#include "wattscale/status.h"

#define WS_STORE_SCHEMA_VERSION 1

typedef struct ws_store ws_store;

/* Opens or creates the database at path: WAL journal, foreign keys on, busy timeout 5 s;
 * applies the schema migrations up to WS_STORE_SCHEMA_VERSION (PRAGMA user_version), each in
 * one transaction, so that two processes opening a new file at once both succeed. A database
 * written by a newer wattscale (user_version above ours) is refused with WS_ENOTSUP and left
 * untouched. On failure *out is NULL and nothing is left to close. */
ws_status ws_store_open(ws_store **out, const char *path, ws_error *err);
void ws_store_close(ws_store *s); /* NULL is a no-op */
int ws_store_schema_version(const ws_store *s);

/* Ingests one run record (the text of OUT/run.json) under (study, run_key) in one
 * transaction: the study row (created if missing), the run row with its totals and the
 * record's text, its epochs, energy.devices[] and energy.nodes[]. Re-ingesting a run_key
 * replaces that run's rows atomically. Malformed JSON, a missing or wrong "schema", a
 * missing status/config/totals, or a field of the wrong type -> WS_EFORMAT naming the run
 * key and the field, and nothing is written. SQLite failures -> WS_ELIBRARY. */
ws_status ws_store_ingest_run(ws_store *s, const char *study, const char *run_key, const char *run_json,
                              ws_error *err);
/* Reads path/run.json when path is a directory (or path itself when it is a file) and
 * ingests it; run_key NULL or "" means the run directory's last path component. */
ws_status ws_store_ingest_file(ws_store *s, const char *study, const char *run_key, const char *path,
                               ws_error *err);

/* 1 if the run is stored with status "completed" or "target_reached" (the study runner's
 * "skip what is done"); 0 otherwise, and 0 after a SQLite error too (logged), so that a
 * failing store makes the runner redo a run rather than skip it. */
int ws_store_has_run(ws_store *s, const char *study, const char *run_key);
/* Runs stored for the study, whatever their status; study NULL counts every study's runs.
 * 0 after a SQLite error (logged). */
size_t ws_store_run_count(ws_store *s, const char *study);

/* The sqlite3 * handle for analysis queries: read only, owned by the store, valid until
 * ws_store_close. Returned as void * so that callers need not include sqlite3.h. */
void *ws_store_db(ws_store *s);

#endif
