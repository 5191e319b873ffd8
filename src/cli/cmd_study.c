/* cli/cmd_study.c - `wattscale study SUBCOMMAND`: dispatches plan, run and status
 * (cli/cmd_study_run.c) and does `study ingest`, which stores run records made elsewhere
 * (other machines, Slurm jobs) in a study's SQLite database.
 * defines: ws_cmd_study. Exit status of ingest: 0 done, 1 a record could not be ingested,
 * 2 bad flags. */
#include "cli/commands.h"
#include "ws_config.h"
#if WS_HAVE_SQLITE
#include "study/store.h"
#endif

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: wattscale study plan FILE [--db F] [--runs-dir D]   the runs and their estimated device-hours\n"
            "       wattscale study run FILE [--db F] [--runs-dir D] [--series NAME] [--dry-run] [--no-wait]\n"
            "                                               run what is missing (resumes; --no-wait: Slurm, submit only)\n"
            "       wattscale study status FILE [--db F] [--runs-dir D]  what is done, queued, interrupted, missing\n"
            "       wattscale study ingest DIR... [--db FILE] [--study NAME]\n"
            "\n"
            "FILE is a study in YAML (docs/study-file.md; examples in configs/). ingest stores the run\n"
            "records (run.json, schema wattscale.run/1) found in each DIR or in its immediate subfolders\n"
            "in the study database (default study.db; the study named by the runner's study.json beside\n"
            "each record, else \"default\"). A run's key is its folder's name; ingesting a key again\n"
            "replaces that run.\n");
}

#if WS_HAVE_SQLITE
static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Ingests DIR/run.json, else every DIR/<sub>/run.json (sorted, so the order is stable). */
static int ingest_dir(ws_store *s, const char *study, const char *dir, int *count) {
    char path[4096];
    ws_error err = {0};
    snprintf(path, sizeof path, "%s/run.json", dir);
    if (is_file(path)) {
        if (ws_store_ingest_file(s, study, NULL, dir, &err) != WS_OK) {
            fprintf(stderr, "wattscale study ingest: %s\n", err.msg);
            return 1;
        }
        ++*count;
        return 0;
    }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "wattscale study ingest: cannot read folder %s\n", dir);
        return 1;
    }
    int failed = 0, found = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s/run.json", dir, names[i]->d_name);
            if (is_file(path)) {
                found++;
                snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
                if (ws_store_ingest_file(s, study, NULL, path, &err) != WS_OK) {
                    fprintf(stderr, "wattscale study ingest: %s\n", err.msg);
                    failed = 1;
                } else {
                    ++*count;
                }
            }
        }
        free(names[i]);
    }
    free(names);
    if (!found) {
        fprintf(stderr, "wattscale study ingest: no run.json in %s or its subfolders\n", dir);
        return 1;
    }
    return failed;
}
#endif

int ws_cmd_study(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "plan")) return ws_cmd_study_plan(argc, argv);
    if (!strcmp(argv[1], "run")) return ws_cmd_study_run(argc, argv);
    if (!strcmp(argv[1], "status")) return ws_cmd_study_status(argc, argv);
    if (strcmp(argv[1], "ingest") != 0) {
        fprintf(stderr, "wattscale study: unknown subcommand '%s' (plan, run, status, ingest)\n", argv[1]);
        return 2;
    }
    const char *db = "study.db", *study = NULL;
    const char *dirs[256];
    int n_dirs = 0;
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "--db") || !strcmp(argv[i], "--study")) && i + 1 < argc) {
            if (!strcmp(argv[i], "--db")) db = argv[++i];
            else study = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "wattscale study ingest: unknown or incomplete flag '%s'\n", argv[i]);
            return 2;
        } else if (n_dirs < 256) {
            dirs[n_dirs++] = argv[i];
        }
    }
    if (n_dirs == 0) {
        usage(stderr);
        return 2;
    }
#if WS_HAVE_SQLITE
    ws_store *s = NULL;
    ws_error err = {0};
    if (ws_store_open(&s, db, &err) != WS_OK) {
        fprintf(stderr, "wattscale study ingest: %s\n", err.msg);
        return 1;
    }
    int failed = 0, count = 0;
    for (int i = 0; i < n_dirs; i++) failed |= ingest_dir(s, study, dirs[i], &count);
    if (study)
        fprintf(stderr, "wattscale study ingest: %d run record(s) stored in %s (study \"%s\": %zu runs)\n", count, db,
                study, ws_store_run_count(s, study));
    else
        fprintf(stderr, "wattscale study ingest: %d run record(s) stored in %s (%zu runs in all)\n", count, db,
                ws_store_run_count(s, NULL));
    ws_store_close(s);
    return failed ? 1 : 0;
#else
    (void)db;
    (void)study;
    (void)dirs;
    fprintf(stderr, "wattscale study ingest: this build has no SQLite: apt-get install libsqlite3-dev, then rebuild\n");
    return 1;
#endif
}
