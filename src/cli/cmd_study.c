/* cli/cmd_study.c - `wattscale study SUBCOMMAND`: for now `study ingest`, which stores run
 * records made elsewhere (other machines, Slurm jobs) in a study's SQLite database.
 * defines: ws_cmd_study. plan/run/status come with the study runner. Exit status: 0 done,
 * 1 a record could not be ingested, 2 bad flags. */
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
            "usage: wattscale study ingest DIR... [--db FILE] [--study NAME]\n"
            "\n"
            "Stores the run records (run.json, schema wattscale.run/1) found in each DIR or in its\n"
            "immediate subfolders in the study database (default study.db, study \"default\"). A run's\n"
            "key is its folder's name; ingesting a key again replaces that run.\n");
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
    if (strcmp(argv[1], "ingest") != 0) {
        fprintf(stderr, "wattscale study: unknown subcommand '%s' (this build has: ingest)\n", argv[1]);
        return 2;
    }
    const char *db = "study.db", *study = "default";
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
    fprintf(stderr, "wattscale study ingest: %d run record(s) stored in %s (study \"%s\": %zu runs)\n", count, db,
            study, ws_store_run_count(s, study));
    ws_store_close(s);
    return failed ? 1 : 0;
#else
    (void)db;
    (void)study;
    fprintf(stderr, "wattscale study ingest: this build has no SQLite: apt-get install libsqlite3-dev, then rebuild\n");
    return 1;
#endif
}
