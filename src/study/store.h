/* study/store.h - the result store of the study layer: run records in SQLite.
 * defines: ws_store (opaque), ws_store_open/close, ws_store_ingest_run/_file, ws_store_has_run,
 * ws_store_run_count, ws_store_schema_version, ws_store_db; for the runner ws_store_put_study,
 * ws_store_put_plan, ws_store_run_status, ws_store_put_job, ws_store_last_job,
 * ws_store_throughput; for the analysis ws_store_load_runset, ws_store_study_names.
 * Implementation: study/store.c (open, migrations, ingest), study/store_study.c (studies,
 * plans, jobs), study/store_runs.c (the analysis view).
 *
 * The run record (OUT/run.json, "wattscale.run/1") is the source of truth; the store is an
 * index over records for analysis, rebuilt by re-ingesting. Tables (units in names, JSON
 * null is SQL NULL, never 0):
 *   studies(id, name UNIQUE, created_at, config_path, config_text, metric, target_metric, ...)
 *   runs(id, study_id, run_key, status, ..., hardware, sacct_energy_j, record_json, ingested_at,
 *        UNIQUE(study_id, run_key))
 *   epochs(run_id, epoch, ...)   devices(run_id, ...)   nodes(run_id, node, ...)
 *   power_series(run_id, node, device_id, kind, t_s, power_w)      downsampled (v2)
 *   series_points(study_id, series, point, repetition, run_key, ...)   the plan (v2)
 *   slurm_jobs(study_id, run_key, job_id, state, elapsed_s, consumed_energy_j, ...)  (v2)
 * Rows of epochs, devices, nodes and power_series go with their run (ON DELETE CASCADE). A
 * run's id changes when it is re-ingested: join and look up by (studies.name, runs.run_key),
 * never by runs.id. Timestamps are UTC ISO 8601 text ("2026-11-25T20:32:20Z").
 * Schema v1 databases are upgraded in place on open (v2: the columns and tables above; a v1
 * run's hardware and resume count are filled from its stored record).
 *
 * Threads: one ws_store per thread (the handle is not shared). Processes: any number may
 * open the same file (WAL; writers wait up to 5 s for each other). */
#ifndef WS_STUDY_STORE_H
#define WS_STUDY_STORE_H

#include <stddef.h>
#include "analysis/runset.h"
#include "study/plan.h"
#include "study/study_file.h"
#include "wattscale/status.h"

#define WS_STORE_SCHEMA_VERSION 3
#define WS_STORE_POWER_POINTS 500 /* per device and run: windows of the downsampled power series */

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
 * ingests it; run_key NULL or "" means the run directory's last path component. A run
 * directory's other files go into the same transaction: study.json (the runner's sidecar,
 * "wattscale.study-run/1": the series points the run stands for), slurm.json
 * ("wattscale.slurm-job/1": job id, state and sacct's ConsumedEnergy) and power.csv /
 * power-nodeK.csv (downsampled to WS_STORE_POWER_POINTS windows per device). study NULL or
 * "": the study named in study.json, else "default". */
ws_status ws_store_ingest_file(ws_store *s, const char *study, const char *run_key, const char *path,
                               ws_error *err);

/* 1 if the run is stored with status "completed" or "target_reached" (the study runner's
 * "skip what is done"); 0 otherwise, and 0 after a SQLite error too (logged), so that a
 * failing store makes the runner redo a run rather than skip it. */
int ws_store_has_run(ws_store *s, const char *study, const char *run_key);
/* Runs stored for the study, whatever their status; study NULL counts every study's runs.
 * 0 after a SQLite error (logged). */
size_t ws_store_run_count(ws_store *s, const char *study);

/* ---- for the study runner (study/store_study.c) ---- */

/* Creates or updates the study's row with its file (path and text) and analysis settings. */
ws_status ws_store_put_study(ws_store *s, const ws_study *study, ws_error *err);
/* Replaces the study's plan (series_points) with plan's runs, in one transaction. */
ws_status ws_store_put_plan(ws_store *s, const ws_study *study, const ws_plan *plan, ws_error *err);
/* 1 and the stored status in buf when the run is stored, else 0 and buf "" (also after a
 * SQLite error, logged). */
int ws_store_run_status(ws_store *s, const char *study, const char *run_key, char *buf, size_t size);

typedef struct {
    char job_id[32];
    char state[32];           /* Slurm's words: PENDING, RUNNING, COMPLETED, FAILED, ... */
    double elapsed_s;         /* NAN: unknown */
    double consumed_energy_j; /* sacct ConsumedEnergyRaw; NAN: not accounted */
} ws_store_job;

/* Inserts or updates (by job id) a Slurm job of the run. */
ws_status ws_store_put_job(ws_store *s, const char *study, const char *run_key, const ws_store_job *job,
                           ws_error *err);
/* The run's most recently submitted job into *out: 1 found, 0 none (or a SQLite error, logged). */
int ws_store_last_job(ws_store *s, const char *study, const char *run_key, ws_store_job *out);
/* Mean samples per device-second of the study's completed runs with the given model,
 * device and precision, *n_runs how many; NAN when none. */
double ws_store_throughput(ws_store *s, const char *study, const char *model, const char *device,
                           const char *precision, size_t *n_runs);

/* ---- for the analysis (study/store_runs.c) ---- */

/* The names of the studies stored, in order of creation, into names[0..max); *n the count. */
ws_status ws_store_study_names(ws_store *s, char (*names)[64], size_t max, size_t *n, ws_error *err);
/* Every run of study with its epochs, plan memberships and power series, and the study's
 * analysis settings (metric, target, tolerance; defaults when the study was only ingested).
 * WS_EINVAL when the study is not in the store. The caller frees with ws_runset_free. */
ws_status ws_store_load_runset(ws_store *s, const char *study, ws_runset *out, ws_error *err);

/* The sqlite3 * handle for analysis queries: read only, owned by the store, valid until
 * ws_store_close. Returned as void * so that callers need not include sqlite3.h. */
void *ws_store_db(ws_store *s);

#endif
