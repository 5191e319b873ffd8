/* study/launcher_slurm.c - the Slurm launcher: one sbatch script per run (srun starts one
 * rank per GPU), submitted where sbatch exists, followed with sacct (else squeue).
 * defines: wsi_slurm_submit, wsi_slurm_poll, wsi_slurm_write_sidecar, wsi_slurm_state_active
 * (study/runner.h). The script decides at start whether to resume (a checkpoint in its
 * folder), so a requeued or resubmitted job continues instead of starting over. sacct's
 * ConsumedEnergyRaw (J, the job on all its nodes, where the cluster's energy accounting
 * is on) is kept beside wattscale's own figures as the node-level cross-check. */
#include "core/error.h"
#include "core/fileutil.h"
#include "core/json.h"
#include "core/log.h"
#include "core/proc.h"
#include "study/runner.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int wsi_slurm_state_active(const char *state) {
    static const char *active[] = {"PENDING",  "RUNNING",  "CONFIGURING", "COMPLETING",
                                   "REQUEUED", "RESIZING", "SUSPENDED",   "SUBMITTED"};
    for (size_t i = 0; i < sizeof active / sizeof active[0]; i++)
        if (!strncmp(state, active[i], strlen(active[i]))) return 1;
    return 0;
}

/* a word for bash, single-quoted unless plain */
static void put_word(FILE *f, const char *w) {
    if (w[0] && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+@%") == strlen(w)) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (; *w; w++) {
        if (*w == '\'')
            fputs("'\\''", f);
        else
            fputc(*w, f);
    }
    fputc('\'', f);
}

static ws_status write_script(const wsi_launch_ctx *c, const ws_plan_run *r, const char *dir, const char *path,
                              ws_error *err) {
    const ws_study *s = c->study;
    const ws_study_launcher *l = &s->launcher;
    int ranks = r->point.gpus;
    int per_node = ranks < l->gpus_per_node ? ranks : l->gpus_per_node;
    int nodes = ws_plan_nodes(r, l->gpus_per_node);
    int threads = !strcmp(s->device, "cpu") ? l->cpus_per_task : 0;
    char **args = NULL, **srun = NULL, **gpu = NULL;
    char ranks_s[32], nodes_s[32], gpn_s[48];
    snprintf(ranks_s, sizeof ranks_s, "ranks=%d", ranks);
    snprintf(nodes_s, sizeof nodes_s, "nodes=%d", nodes);
    snprintf(gpn_s, sizeof gpn_s, "gpus_per_node=%d", per_node);
    const char *vars[] = {ranks_s, nodes_s, gpn_s, NULL};
    ws_status st = ws_plan_train_args(s, r, dir, 0, threads, &args, err);
    if (st == WS_OK) st = ws_proc_split(l->srun, vars, &srun, NULL, err);
    if (st == WS_OK && l->gpu_request[0]) st = ws_proc_split(l->gpu_request, vars, &gpu, NULL, err);
    char cwd[PATH_MAX];
    if (st == WS_OK && !getcwd(cwd, sizeof cwd)) st = wsi_error(err, WS_EIO, "getcwd failed");
    char *text = NULL;
    size_t size = 0;
    FILE *f = st == WS_OK ? open_memstream(&text, &size) : NULL;
    if (st == WS_OK && !f) st = wsi_error(err, WS_ENOMEM, "out of memory");
    if (st == WS_OK) {
        fprintf(f, "#!/bin/bash\n# wattscale study %s, run %s: written by `wattscale study run %s`.\n", s->name, r->key,
                s->path);
        fprintf(f, "#SBATCH --job-name=ws-%s-%s\n", s->name, r->key);
        fprintf(f, "#SBATCH --nodes=%d\n#SBATCH --ntasks=%d\n#SBATCH --ntasks-per-node=%d\n", nodes, ranks, per_node);
        if (!strcmp(s->device, "cuda") && gpu)
            for (char **g = gpu; *g; g++)
                fprintf(f, "#SBATCH %s\n", *g);
        if (l->cpus_per_task) fprintf(f, "#SBATCH --cpus-per-task=%d\n", l->cpus_per_task);
        fprintf(f, "#SBATCH --time=%s\n", l->time_limit);
        if (l->partition[0]) fprintf(f, "#SBATCH --partition=%s\n", l->partition);
        if (l->account[0]) fprintf(f, "#SBATCH --account=%s\n", l->account);
        if (l->exclusive) fprintf(f, "#SBATCH --exclusive\n");
        fprintf(f, "#SBATCH --chdir=%s\n#SBATCH --output=%s/slurm-%%j.out\n", cwd, dir);
        for (size_t i = 0; i < l->n_sbatch_lines; i++)
            fprintf(f, "%s%s\n", strncmp(l->sbatch_lines[i], "#SBATCH", 7) ? "#SBATCH " : "", l->sbatch_lines[i]);
        fprintf(f, "set -eu\n");
        int nvls_set = 0;
        for (size_t i = 0; i < l->n_env; i++) {
            nvls_set |= !strcmp(l->env[i].key, "NCCL_NVLS_ENABLE");
            fprintf(f, "export %s=", l->env[i].key);
            put_word(f, l->env[i].value);
            fputc('\n', f);
        }
        if (!strcmp(s->device, "cuda") && !nvls_set) fprintf(f, "export NCCL_NVLS_ENABLE=0  # NVLink multicast off\n");
        fprintf(f, "resume=()\nif [ -f ");
        char ck[PATH_MAX + 32];
        snprintf(ck, sizeof ck, "%s/checkpoint.wstf", dir);
        put_word(f, ck);
        fprintf(f, " ]; then resume=(--resume ");
        put_word(f, dir);
        fprintf(f, "); fi\nexec");
        for (char **w = srun; *w; w++)
            fputc(' ', f), put_word(f, *w);
        fputc(' ', f);
        put_word(f, c->wattscale);
        fprintf(f, " train");
        for (char **a = args; *a; a++)
            fputc(' ', f), put_word(f, *a);
        fprintf(f, " ${resume[@]+\"${resume[@]}\"}\n");
        fclose(f);
        st = ws_write_file_atomic(path, text, size, err);
    }
    free(text);
    ws_proc_words_free(srun);
    ws_proc_words_free(gpu);
    ws_plan_args_free(args);
    return st;
}

ws_status wsi_slurm_submit(const wsi_launch_ctx *c, const ws_plan_run *r, const char *dir, ws_store_job *job,
                           ws_error *err) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/job.sbatch", dir);
    memset(job, 0, sizeof *job);
    job->elapsed_s = job->consumed_energy_j = NAN;
    ws_status st = write_script(c, r, dir, path, err);
    if (st != WS_OK || !ws_proc_on_path("sbatch")) return st;
    char out[256], errout[1024];
    char *argv[] = {"sbatch", "--parsable", path, NULL};
    int code = 0;
    if ((st = ws_proc_capture(argv, out, sizeof out, errout, sizeof errout, &code, err)) != WS_OK) return st;
    errout[strcspn(errout, "\n")] = 0;
    out[strcspn(out, ";\n")] = 0; /* "ID" or "ID;cluster" */
    if (code != 0 || !out[0] || strspn(out, "0123456789_") != strlen(out))
        return wsi_error(err, WS_ECHILD, "sbatch %s: exit %d: %s", path, code, errout[0] ? errout : out);
    snprintf(job->job_id, sizeof job->job_id, "%.31s", out);
    snprintf(job->state, sizeof job->state, "PENDING");
    return WS_OK;
}

static double number_or_nan(const char *s) {
    char *end = NULL;
    double v = strtod(s, &end);
    return end != s ? v : NAN;
}

/* sacct's line for the job allocation: "ID|STATE|ELAPSED|ENERGY"; 1 when found, -1 when
 * found without a state (ask again: an empty state must not read as "ended", which would
 * store the run before its accounting, without sacct's energy), 0 when not found */
static int ask_sacct(ws_store_job *job) {
    if (!ws_proc_on_path("sacct")) return 0;
    char out[4096], errout[512];
    char *argv[] = {"sacct", "-j", job->job_id, "-X", "-n", "-P", "-o", "JobID,State,ElapsedRaw,ConsumedEnergyRaw",
                    NULL};
    int code = 0;
    if (ws_proc_capture(argv, out, sizeof out, errout, sizeof errout, &code, NULL) != WS_OK || code != 0) return 0;
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = {0}, *s2 = NULL;
        int k = 0;
        for (char *t = strtok_r(line, "|", &s2); t && k < 4; t = strtok_r(NULL, "|", &s2))
            f[k++] = t;
        if (k < 2 || strcmp(f[0], job->job_id) != 0) continue;
        f[1][strcspn(f[1], " ")] = 0; /* "CANCELLED by 0" */
        if (!f[1][0]) return -1;
        snprintf(job->state, sizeof job->state, "%s", f[1]);
        job->elapsed_s = k > 2 ? number_or_nan(f[2]) : NAN;
        double e = k > 3 ? number_or_nan(f[3]) : NAN;
        job->consumed_energy_j = e > 0 ? e : NAN; /* 0 or empty: the cluster does not account energy */
        return 1;
    }
    return 0;
}

static int ask_squeue(ws_store_job *job) {
    if (!ws_proc_on_path("squeue")) return 0;
    char out[256], errout[512];
    char *argv[] = {"squeue", "-h", "-j", job->job_id, "-o", "%T", NULL};
    int code = 0;
    if (ws_proc_capture(argv, out, sizeof out, errout, sizeof errout, &code, NULL) != WS_OK || code != 0) return 0;
    out[strcspn(out, "\n ")] = 0;
    if (!out[0]) return 0;
    snprintf(job->state, sizeof job->state, "%.31s", out);
    return 1;
}

int wsi_slurm_poll(const wsi_launch_ctx *c, const char *dir, ws_store_job *job) {
    (void)c;
    int sacct = ask_sacct(job);
    if (sacct < 0) return 0; /* sacct knows the job but gave no state: still ours to follow */
    if (sacct || ask_squeue(job)) return !wsi_slurm_state_active(job->state);
    /* neither knows it (no accounting, and gone from the queue): it has ended; the run
     * record says how */
    char path[PATH_MAX + 16], *text = NULL;
    snprintf(path, sizeof path, "%s/run.json", dir);
    cJSON *j = NULL;
    if (access(path, F_OK) == 0 && ws_read_file(path, &text, NULL, NULL) == WS_OK) j = cJSON_Parse(text);
    free(text);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    int ok =
        cJSON_IsString(st) && (!strcmp(st->valuestring, "completed") || !strcmp(st->valuestring, "target_reached"));
    snprintf(job->state, sizeof job->state, ok ? "COMPLETED" : "ENDED");
    cJSON_Delete(j);
    return 1;
}

ws_status wsi_slurm_write_sidecar(const char *dir, const ws_store_job *job, ws_error *err) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "schema", "wattscale.slurm-job/1");
    cJSON_AddStringToObject(j, "job_id", job->job_id);
    cJSON_AddStringToObject(j, "state", job->state);
    cJSON_AddItemToObject(j, "elapsed_s", ws_json_num_or_null(1, job->elapsed_s));
    cJSON_AddItemToObject(j, "consumed_energy_j", ws_json_num_or_null(1, job->consumed_energy_j));
    cJSON_AddStringToObject(j, "energy_source", "sacct ConsumedEnergyRaw (the job's nodes, as Slurm accounts them)");
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/slurm.json", dir);
    ws_status st = ws_json_write_file(path, j, err);
    cJSON_Delete(j);
    return st;
}
