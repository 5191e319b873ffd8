/* study/runner.h - `wattscale study run` and `study status`: run what is missing, know
 * what is done. defines: ws_runner_opts, ws_runner_summary, ws_run_state, ws_study_run,
 * ws_study_run_state, ws_run_state_name; the launchers' interface (wsi_launch_*).
 * Implementation: study/runner.c; launchers study/launcher_local.c, study/launcher_slurm.c.
 *
 * Resuming is the point: each run lives in runs_dir/KEY; its run record (written
 * atomically by `wattscale train`) says whether it finished, and the store says whether
 * it was ingested. So the runner, started again after being killed at any moment,
 *   - skips a run stored as completed (or target_reached),
 *   - ingests a run whose record says completed but that the store lacks (killed between
 *     the end of training and the ingest),
 *   - continues an interrupted run from its checkpoint (`wattscale train --resume DIR`),
 *   - starts the others from scratch.
 * One runner per database at a time: it holds an exclusive lock on DB.lock, which the
 * local runs it starts inherit, so a new runner waits until runs left over by a killed one
 * have ended (they get SIGTERM when their runner dies). */
#ifndef WS_STUDY_RUNNER_H
#define WS_STUDY_RUNNER_H

#include "study/plan.h"
#include "study/store.h"
#include "study/study_file.h"

typedef struct {
    const char *wattscale;   /* the program runs are started with; NULL: this process's own */
    int dry_run;             /* print each launch command, run nothing, write nothing */
    int wait;                /* slurm: wait until the submitted jobs end (1) */
    const char *only_series; /* run only runs of this series (NULL: all) */
} ws_runner_opts;

ws_runner_opts ws_runner_opts_default(void);

typedef struct {
    size_t planned, already_done, ran, failed, submitted, still_queued, unsubmitted;
} ws_runner_summary;

ws_status ws_study_run(const ws_study *s, const ws_runner_opts *o, ws_runner_summary *sum, ws_error *err);

typedef enum {
    WS_RUN_DONE,        /* stored, completed or target_reached */
    WS_RUN_RECORDED,    /* its record says finished, not yet ingested */
    WS_RUN_QUEUED,      /* a Slurm job of it is pending or running */
    WS_RUN_INTERRUPTED, /* has a checkpoint: the next run resumes it */
    WS_RUN_FAILED,      /* its last attempt failed (no checkpoint to resume) */
    WS_RUN_MISSING      /* never started */
} ws_run_state;

/* The state of planned run r of study s (store may be NULL: then only files are read).
 * job: the last Slurm job when there is one (state as stored), else job_id "". */
ws_run_state ws_study_run_state(const ws_study *s, ws_store *store, const ws_plan_run *r, ws_store_job *job);
const char *ws_run_state_name(ws_run_state st); /* done, recorded, queued, interrupted, failed, missing */

/* ---- between the runner and its launchers (not for other callers) ---- */

typedef struct {
    const ws_study *study;
    const ws_runner_opts *opts;
    ws_store *store;
    const char *wattscale; /* absolute path */
    const char *runs_dir;  /* absolute path */
    int lock_fd;
} wsi_launch_ctx;

/* Runs r in dir (local launcher) and waits; *exit_code is the run's exit status. */
ws_status wsi_launch_local(const wsi_launch_ctx *c, const ws_plan_run *r, const char *dir, int resume, int *exit_code,
                           ws_error *err);
/* Slurm: writes dir/job.sbatch; submits it when sbatch is on PATH (job->job_id set), else
 * leaves job->job_id "" (the script waits to be submitted by hand). */
ws_status wsi_slurm_submit(const wsi_launch_ctx *c, const ws_plan_run *r, const char *dir, ws_store_job *job,
                           ws_error *err);
/* Asks sacct (else squeue) for the job's state; fills state, elapsed, energy. 1 when the
 * job has ended (any terminal state), 0 while pending or running. */
int wsi_slurm_poll(const wsi_launch_ctx *c, const char *dir, ws_store_job *job);
/* Slurm's job states that have not ended yet (PENDING, RUNNING, ...). */
int wsi_slurm_state_active(const char *state);
/* Writes dir/slurm.json with the job's final figures ("wattscale.slurm-job/1"). */
ws_status wsi_slurm_write_sidecar(const char *dir, const ws_store_job *job, ws_error *err);

#endif
