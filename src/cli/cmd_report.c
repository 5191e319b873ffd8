/* cli/cmd_report.c - `wattscale report DB [--out DIR] [--study NAME] [--target M=V]`: a
 * study's database into the analysis report (one HTML file with the figures embedded, a
 * Markdown summary, CSV tables, each figure's gnuplot script and data).
 * defines: ws_cmd_report. Works from the database alone: the runs may have been made on
 * other machines. Exit status: 0 written, 1 failed, 2 bad flags. */
#include "cli/commands.h"
#include "ws_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if WS_HAVE_SQLITE && WS_HAVE_GSL
#include "analysis/report.h"
#include "cli/model_inputs.h"
#include "study/store.h"
#include "study/store_perf.h"
#endif

static void usage(FILE *f) {
    fprintf(f, "usage: wattscale report DB [--out DIR] [--study NAME] [--target METRIC=VALUE] [--no-figures]\n"
               "                        [--network FILE] [--inter-node-gbps X] [--intra-node-bus-gb-s X]\n"
               "                        [--gpus-per-node N]\n"
               "                        [--predict-max-gpus N] [--no-predict]\n"
               "\n"
               "Analyses a study's database (made by `wattscale study run` or `study ingest`, here or\n"
               "elsewhere) and writes into DIR (default: the database's folder/report):\n"
               "  report.html   the whole analysis, figures embedded (one file to open or send)\n"
               "  report.md     a Markdown summary\n"
               "  tables/*.csv  every table, as pandas.read_csv reads them (empty = not measured)\n"
               "  figures/      each figure as SVG and PNG, with the gnuplot script (.gp) and data\n"
               "                (.dat) beside it: edit the script and run `gnuplot NAME.gp` to restyle\n"
               "--study picks a study when the database holds several; --target sets the metric for\n"
               "energy-to-target (default: the study file's analysis.target). Figures need gnuplot\n"
               "(apt-get install gnuplot-nox; or WATTSCALE_GNUPLOT=/path/to/gnuplot); without it the\n"
               "scripts and data are written and the report says so.\n"
               "Predicted curves (wattscale predict's model, calibrated on the study's runs) are drawn\n"
               "beside the measured points up to --predict-max-gpus (default: 512 or twice the largest\n"
               "measured count), on nodes of --gpus-per-node GPUs; --network and the bandwidths as for\n"
               "`wattscale predict`; --no-predict leaves them out.\n");
}

int ws_cmd_report(int argc, char **argv) {
    const char *db = NULL, *out = NULL, *study = NULL, *target = NULL;
    int figures = 1;
#if WS_HAVE_SQLITE && WS_HAVE_GSL
    ws_cli_model_args model = ws_cli_model_args_default();
    int predict = 1;
    long gpus_per_node = 0, max_gpus = 0;
#endif
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#if WS_HAVE_SQLITE && WS_HAVE_GSL
        int took = strcmp(a, "--study") ? ws_cli_model_flag("wattscale report", &model, argc, argv, &i) : 0;
        if (took < 0) return 2;
        if (took) continue;
        if (!strcmp(a, "--no-predict")) {
            predict = 0;
            continue;
        }
        if (!strcmp(a, "--gpus-per-node") || !strcmp(a, "--predict-max-gpus")) {
            if (ws_cli_parse_int("wattscale report", a, v, 1, a[2] == 'g' ? &gpus_per_node : &max_gpus)) return 2;
            i++;
            continue;
        }
#endif
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out") && v)
            out = argv[++i];
        else if (!strcmp(a, "--study") && v)
            study = argv[++i];
        else if (!strcmp(a, "--target") && v)
            target = argv[++i];
        else if (!strcmp(a, "--no-figures"))
            figures = 0;
        else if (a[0] == '-') {
            fprintf(stderr, "wattscale report: unknown or incomplete flag '%s' (see --help)\n", a);
            return 2;
        } else if (!db)
            db = a;
        else {
            fprintf(stderr, "wattscale report: one database only ('%s' is a second)\n", a);
            return 2;
        }
    }
    if (!db) {
        usage(stderr);
        return 2;
    }
#if WS_HAVE_SQLITE && WS_HAVE_GSL
    if (access(db, R_OK) != 0) {
        fprintf(stderr, "wattscale report: no database at %s (made by `wattscale study run FILE`)\n", db);
        return 1;
    }
    ws_report_opts o = ws_report_opts_default();
    char out_dir[4096];
    if (!out) {
        const char *slash = strrchr(db, '/');
        snprintf(out_dir, sizeof out_dir, "%.*s%sreport", slash ? (int)(slash - db) : 0, db, slash ? "/" : "");
        out = out_dir;
    }
    o.out_dir = out;
    o.figures = figures;
    ws_error err = {0};
    ws_store *s = NULL;
    if (ws_store_open(&s, db, &err) != WS_OK) {
        fprintf(stderr, "wattscale report: %s\n", err.msg);
        return 1;
    }
    char names[64][64];
    size_t n = 0;
    if (!study) {
        if (ws_store_study_names(s, names, 64, &n, &err) != WS_OK || n == 0) {
            fprintf(stderr, "wattscale report: %s\n", n == 0 && !err.msg[0] ? "the database holds no study" : err.msg);
            ws_store_close(s);
            return 1;
        }
        if (n > 1) {
            fprintf(stderr, "wattscale report: %s holds %zu studies; pick one with --study:", db, n);
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %s", names[i]);
            fprintf(stderr, "\n");
            ws_store_close(s);
            return 2;
        }
        study = names[0];
    }
    ws_runset rs;
    ws_perf_set perf = {0};
    ws_report_predict rp = {&perf, ws_network_default(200), (int)gpus_per_node, (int)max_gpus};
    if (predict && ws_cli_network("wattscale report", &model, &rp.net)) {
        ws_store_close(s);
        return 1;
    }
    ws_status st = ws_store_load_runset(s, study, &rs, &err);
    if (st == WS_OK && predict) st = ws_store_load_perf(s, study, &perf, &err);
    if (predict) o.predict = &rp;
    ws_store_close(s);
    if (st == WS_OK && target) st = ws_report_set_target(&rs, target, &err);
    ws_report_result res;
    if (st == WS_OK) st = ws_report_write(&rs, &o, &res, &err);
    ws_runset_free(&rs);
    ws_perf_set_free(&perf);
    if (st != WS_OK) {
        fprintf(stderr, "wattscale report: %s\n", err.msg);
        return st == WS_EINVAL ? 2 : 1;
    }
    if (res.figures_note[0]) fprintf(stderr, "wattscale report: %s\n", res.figures_note);
    fprintf(stderr,
            "wattscale report: study %s, %zu runs: %s (open it in a browser; figures embedded)\n"
            "  summary %s, tables %s/*.csv, figures %s/ (%zu, with their .gp scripts and .dat data)\n",
            study, res.n_runs, res.html_path, res.md_path, res.tables_dir, res.figures_dir, res.n_figures);
    return 0;
#else
    (void)out, (void)study, (void)target, (void)figures;
    fprintf(stderr,
            "wattscale report: this build lacks %s: apt-get install%s%s, then rebuild (the runs and the "
            "database are fine: make the report on a machine that has them)\n",
            WS_HAVE_SQLITE ? "GSL" : "SQLite", WS_HAVE_SQLITE ? "" : " libsqlite3-dev",
            WS_HAVE_GSL ? "" : " libgsl-dev");
    return 1;
#endif
}
