/* cli/cmd_calibrate.c - `wattscale calibrate allreduce TIMINGS.json`: the all-reduce model's
 * latency and bandwidth fitted (GSL) to timings measured on a GPU machine
 * (bench/dist/allreduce_nccl.c), written as the file `wattscale predict --network` reads.
 * defines: ws_cmd_calibrate. Exit status: 0 written, 1 failed, 2 bad flags or timings. */
#include "cli/commands.h"
#include "ws_config.h"

#include <stdio.h>
#include <string.h>

#if WS_HAVE_GSL
#include "analysis/allreduce.h"
#include "cli/args.h"
#endif

static void usage(FILE *f) {
    fprintf(f, "usage: wattscale calibrate allreduce TIMINGS.json [--out FILE] [--min-bytes N] [--max-bytes N]\n"
               "\n"
               "Fits the alpha-beta model of ring all-reduce, T = c + 2(p-N) a_intra + 2(N-1) a_inter +\n"
               "2(p-1)/p n b, to measured timings (\"wattscale.allreduce-timings/1\", written on a GPU machine\n"
               "by bench/dist/allreduce_nccl.sh) over message sizes in [--min-bytes, --max-bytes] (default\n"
               "1 MB to 1 GiB: the range of 25 MB gradient buckets), and writes the fitted per-call and\n"
               "per-step latency and bus bandwidth, one node's and (from multi-node sets) the network's,\n"
               "with their standard errors, to FILE (default allreduce-model.json), which\n"
               "`wattscale predict --network FILE` reads. Links not in the timings stay assumptions.\n");
}

int ws_cmd_calibrate(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "allreduce")) {
        fprintf(stderr, "wattscale calibrate: unknown target '%s' (only: allreduce)\n", argv[1]);
        return 2;
    }
#if WS_HAVE_GSL
    const char *prog = "wattscale calibrate allreduce", *in = NULL, *out = "allreduce-model.json";
    double lo = 1e6, hi = 1073741824.0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out") && v) {
            out = argv[++i];
        } else if (!strcmp(a, "--min-bytes")) {
            if (ws_cli_parse_num(prog, a, v, 1, &lo)) return 2;
            i++;
        } else if (!strcmp(a, "--max-bytes")) {
            if (ws_cli_parse_num(prog, a, v, 1, &hi)) return 2;
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "%s: unknown or incomplete flag '%s' (see --help)\n", prog, a);
            return 2;
        } else if (!in) {
            in = a;
        } else {
            fprintf(stderr, "%s: one timings file only ('%s' is a second)\n", prog, a);
            return 2;
        }
    }
    if (!in) {
        usage(stderr);
        return 2;
    }
    if (!(hi > lo)) {
        fprintf(stderr, "%s: --max-bytes must exceed --min-bytes\n", prog);
        return 2;
    }
    ws_error err = {0};
    ws_ar_timings t;
    if (ws_ar_timings_load(in, &t, &err) != WS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 2;
    }
    ws_network assumed = ws_network_default(200);
    ws_ar_fit fit;
    ws_status st = ws_network_fit(&t, lo, hi, &assumed, &fit, &err);
    if (st == WS_OK) st = ws_network_write(out, &fit, &t, in, lo, hi, &err);
    if (st != WS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        ws_ar_timings_free(&t);
        return st == WS_EINVAL ? 2 : 1;
    }
    for (size_t i = 0; i < fit.n_sets; i++) {
        const ws_ar_set_fit *f = &fit.sets[i];
        printf("%d GPUs on %d node%s: T = %.4g us + n / %.4g GB/s (%zu sizes, R^2 %.5f, largest residual %.1f%%)\n",
               f->gpus, f->nodes, f->nodes == 1 ? "" : "s", f->line.intercept * 1e6, 1e-9 / f->line.slope, f->line.n,
               f->line.r2, 100 * f->max_rel_residual);
    }
    ws_network net = assumed;
    if (fit.have_intra) net.intra = fit.intra;
    if (fit.have_inter) net.inter = fit.inter;
    char desc[1200];
    ws_network_describe(&net, desc, sizeof desc);
    printf("%s\n", desc);
    if (fit.note[0]) printf("note: %s\n", fit.note);
    fprintf(stderr, "%s: wrote %s (use: wattscale predict DB --network %s ...)\n", prog, out, out);
    ws_ar_timings_free(&t);
    return 0;
#else
    fprintf(stderr, "wattscale calibrate: this build lacks GSL: apt-get install libgsl-dev, then rebuild\n");
    return 1;
#endif
}
