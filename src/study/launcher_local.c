/* study/launcher_local.c - the local launcher: a run as one process, or as mpirun's ranks
 * on this machine. defines: wsi_launch_local (study/runner.h).
 * The mpirun template ("mpirun -np {ranks}" by default) is the user's; we add only what
 * Open MPI needs here and nothing another MPI would refuse: --oversubscribe when there are
 * more ranks than physical cores, --allow-run-as-root when running as root. On the CPU
 * backend each rank gets cores / ranks threads (launcher.cpu_threads: auto), so that every
 * point of a series uses the same cores. */
#include "core/error.h"
#include "core/log.h"
#include "core/proc.h"
#include "study/runner.h"
#include "ws_config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* (package, core) pairs of the online CPUs; the logical CPU count where sysfs says nothing */
static int physical_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int pairs[1024][2], count = 0;
    for (long cpu = 0; cpu < n && cpu < 1024; cpu++) {
        char path[128];
        int id[2] = {-1, -1};
        const char *names[2] = {"physical_package_id", "core_id"};
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/%s", cpu, names[k]);
            FILE *f = fopen(path, "r");
            if (f) {
                if (fscanf(f, "%d", &id[k]) != 1) id[k] = -1;
                fclose(f);
            }
        }
        if (id[0] < 0 || id[1] < 0) return (int)n;
        int seen = 0;
        for (int i = 0; i < count && !seen; i++)
            seen = pairs[i][0] == id[0] && pairs[i][1] == id[1];
        if (!seen) {
            pairs[count][0] = id[0];
            pairs[count][1] = id[1];
            count++;
        }
    }
    return count > 0 ? count : (int)n;
}

/* Is `mpirun` Open MPI? (asked once per program) */
static int is_open_mpi(const char *mpirun) {
    static char asked[PATH_MAX];
    static int answer;
    if (strcmp(asked, mpirun) != 0) {
        char out[1024], errout[256];
        char *argv[] = {(char *)mpirun, "--version", NULL};
        int code = 0;
        answer = ws_proc_capture(argv, out, sizeof out, errout, sizeof errout, &code, NULL) == WS_OK &&
                 (strstr(out, "Open MPI") || strstr(out, "OpenRTE") || strstr(errout, "Open MPI"));
        snprintf(asked, sizeof asked, "%s", mpirun);
    }
    return answer;
}

static int has_word(char **words, const char *w) {
    for (; *words; words++)
        if (!strcmp(*words, w)) return 1;
    return 0;
}

static void print_command(char **argv, const char *const *env) {
    for (size_t i = 0; env && env[i]; i++)
        printf("%s ", env[i]);
    for (char **a = argv; *a; a++) {
        int plain = strspn(*a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+") == strlen(*a);
        printf(plain ? "%s%s" : "%s'%s'", a == argv ? "" : " ", *a);
    }
    printf("\n");
}

ws_status wsi_launch_local(const wsi_launch_ctx *c, const ws_plan_run *r, const char *dir, int resume, int *exit_code,
                           ws_error *err) {
    const ws_study *s = c->study;
    const ws_study_launcher *l = &s->launcher;
    int ranks = r->point.gpus;
    *exit_code = 0;
    if (ranks > 1 && !WS_HAVE_MPI)
        return wsi_error(err, WS_ENOTSUP,
                         "run %s needs %d ranks and this build has no MPI: apt-get install "
                         "libopenmpi-dev openmpi-bin, then rebuild",
                         r->key, ranks);
    int threads = 0;
    if (!strcmp(s->device, "cpu")) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = l->cpu_threads > 0   ? l->cpu_threads
                  : l->cpu_threads < 0 ? 0
                                       : (int)(cores / ranks > 0 ? cores / ranks : 1);
    }
    char **args = NULL, **launcher = NULL;
    ws_status st = ws_plan_train_args(s, r, dir, resume, threads, &args, err);
    size_t n_launcher = 0, n_args = 0;
    if (st == WS_OK && (ranks > 1 || l->mpirun_single)) {
        char ranks_var[32];
        snprintf(ranks_var, sizeof ranks_var, "ranks=%d", ranks);
        const char *vars[] = {ranks_var, "nodes=1", NULL};
        st = ws_proc_split(l->mpirun, vars, &launcher, &n_launcher, err);
    }
    for (char **a = args; a && *a; a++)
        n_args++;
    char **argv = NULL;
    if (st == WS_OK && !(argv = calloc(n_launcher + n_args + 6, sizeof *argv)))
        st = wsi_error(err, WS_ENOMEM, "out of memory");
    if (st == WS_OK) {
        size_t n = 0;
        for (size_t i = 0; i < n_launcher; i++)
            argv[n++] = launcher[i];
        if (launcher && is_open_mpi(launcher[0])) {
            if (ranks > physical_cores() && !has_word(launcher, "--oversubscribe")) argv[n++] = "--oversubscribe";
            if (geteuid() == 0 && !has_word(launcher, "--allow-run-as-root")) argv[n++] = "--allow-run-as-root";
        }
        argv[n++] = (char *)c->wattscale;
        argv[n++] = "train";
        for (size_t i = 0; i < n_args; i++)
            argv[n++] = args[i];
        argv[n] = NULL;

        /* environment: the study's, plus NVLink multicast off for NCCL unless set */
        const char *env[64];
        char env_buf[64][600];
        size_t ne = 0;
        for (size_t i = 0; i < l->n_env && ne < 62; i++, ne++) {
            snprintf(env_buf[ne], sizeof env_buf[ne], "%s=%s", l->env[i].key, l->env[i].value);
            env[ne] = env_buf[ne];
        }
        int nvls_set = getenv("NCCL_NVLS_ENABLE") != NULL;
        for (size_t i = 0; i < l->n_env; i++)
            nvls_set |= !strcmp(l->env[i].key, "NCCL_NVLS_ENABLE");
        if (!strcmp(s->device, "cuda") && ranks > 1 && !nvls_set) env[ne++] = "NCCL_NVLS_ENABLE=0";
        env[ne] = NULL;

        if (c->opts->dry_run) {
            print_command(argv, env);
        } else {
            char log_path[PATH_MAX + 16];
            snprintf(log_path, sizeof log_path, "%s/train.log", dir);
            FILE *log = fopen(log_path, "a");
            if (log) {
                fprintf(log, "== wattscale study run: %s%s\n", r->key, resume ? " (resumed)" : "");
                fclose(log);
            }
            ws_proc_opts po = {argv, env, log_path, c->lock_fd, 1};
            st = ws_proc_run(&po, exit_code, err);
        }
    }
    free(argv);
    ws_proc_words_free(launcher);
    ws_plan_args_free(args);
    return st;
}
