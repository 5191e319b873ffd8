/* cli/cmd_predict.c - `wattscale predict` (one configuration, a series over GPU counts, or
 * leave-one-out over the measured runs) and `wattscale advise` (the configuration with the
 * least energy under a deadline and a GPU budget), both from a study's database.
 * defines: ws_cmd_predict, ws_cmd_advise. Exit status: 0 done, 1 failed, 2 bad flags or a
 * configuration the model cannot predict. */
#include "cli/commands.h"
#include "ws_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if WS_HAVE_SQLITE && WS_HAVE_GSL
#include "analysis/advise.h"
#include "analysis/loo.h"
#include "analysis/predict.h"
#include "analysis/report.h"
#include "cli/model_inputs.h"
#include "core/json.h"
#include "core/timeutil.h"
#endif

static const char common_help[] =
    "Calibration (from the study's finished runs of one model / hardware / precision / data kind):\n"
    "  --study NAME --model M --hardware H --precision P --data KIND   pick the group where the\n"
    "                            database holds several (the error lists the choices)\n"
    "Network (the gradient all-reduce; alpha-beta model of ring and tree all-reduce):\n"
    "  --network FILE           fitted parameters from `wattscale calibrate allreduce` (repeatable);\n"
    "                           without one, labelled assumptions: 329 GB/s NVLink bus bandwidth\n"
    "                           (facts.md, 2x H100), NCCL's tuning-model latencies, and\n"
    "  --inter-node-gbps X      between nodes, per node (default 200: InfiniBand HDR)\n"
    "  --intra-node-bus-gb-s X  an assumed NCCL bus bandwidth within a node instead (GB/s)\n"
    "  --algo auto|ring|tree    (default auto: the faster, as NCCL's tuner)   --bucket-mb MB (25)\n"
    "  --gpus-per-node N        node size (default 8)\n"
    "Workload: --epochs E | --steps S | --target METRIC=VALUE (epochs from the study's runs that\n"
    "  reached it, against GBS); --samples-per-epoch N (default: the runs'), --evals N,\n"
    "  --data-fraction F; --host-power-w W: assumed CPU+DRAM power per node where none was measured\n";

static void predict_usage(FILE *f) {
    fprintf(f,
            "usage: wattscale predict DB --gpus N[,N...] (--lbs N | --gbs N [--lbs N]) [--accum N]\n"
            "                         (--epochs E | --steps S | --target M=V) [options] [--json FILE]\n"
            "       wattscale predict DB --loo [--json FILE]\n"
            "\n"
            "Predicts wall time, GPU-hours and energy, with 95%% intervals, of configurations not yet\n"
            "run, from a performance model calibrated on a study's measured runs (DB: its database).\n"
            "Several GPU counts give a series (constant LBS with --lbs, constant GBS with --gbs).\n"
            "--loo predicts every measured run from the others of its group (leave-one-out) and\n"
            "prints the errors. Every assumption a prediction rests on is printed under it.\n\n%s",
            common_help);
}

static void advise_usage(FILE *f) {
    fprintf(f,
            "usage: wattscale advise DB (--target M=V | --epochs E | --steps S) [--max-gpus N]\n"
            "                        [--deadline-h H] [--precision P[,P...]] [--lbs N[,N...]]\n"
            "                        [--extrapolate-lbs] [--gpu-memory-gib G] [--top K] [options] [--json FILE]\n"
            "\n"
            "Searches GPU counts (1, 2, 4, ... up to --max-gpus, default 8), local batch sizes (the\n"
            "measured range, or --lbs; --extrapolate-lbs goes beyond it up to what --gpu-memory-gib\n"
            "holds) and precisions (every one measured, or --precision) for the configuration with the\n"
            "least predicted energy to the target (or for the given epochs or steps) whose predicted\n"
            "wall time, upper end of its interval, meets --deadline-h. Prints the best --top (10).\n\n%s",
            common_help);
}

#if WS_HAVE_SQLITE && WS_HAVE_GSL

typedef struct {
    ws_cli_model_args m;
    const char *model, *hardware, *precision, *data, *json, *target;
    int gpus[64], n_gpus;
    int lbs[64], n_lbs;
    long gbs, accum, steps, evals, gpus_per_node, top, max_gpus, min_gpus;
    double epochs, samples_per_epoch, data_fraction, bucket_mb, host_power_w, deadline_h, gpu_memory_gib;
    ws_allreduce_algo algo;
    int loo, extrapolate_lbs;
} opts;

static int parse_list(const char *prog, const char *flag, const char *v, int *out, int *n, int max) {
    *n = 0;
    if (!v) return fprintf(stderr, "%s: %s needs a value\n", prog, flag), 2;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long x;
        if (*n == max) return fprintf(stderr, "%s: %s: at most %d values\n", prog, flag, max), 2;
        if (ws_cli_parse_int(prog, flag, t, 1, &x)) return 2;
        out[(*n)++] = (int)x;
    }
    return *n ? 0 : (fprintf(stderr, "%s: %s: no values\n", prog, flag), 2);
}

/* 0 parsed, 1 --help shown, 2 bad flags */
static int parse(const char *prog, int advise, int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->m = ws_cli_model_args_default();
    o->gpus_per_node = 8;
    o->epochs = o->samples_per_epoch = o->data_fraction = o->host_power_w = o->gpu_memory_gib = NAN;
    o->deadline_h = INFINITY;
    o->evals = -1;
    o->top = 10;
    o->max_gpus = 8;
    o->min_gpus = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0, took = ws_cli_model_flag(prog, &o->m, argc, argv, &i);
        if (took < 0) return 2;
        if (took) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            (advise ? advise_usage : predict_usage)(stdout);
            return 1;
        } else if (!strcmp(a, "--loo") && !advise) {
            o->loo = 1;
            continue;
        } else if (!strcmp(a, "--extrapolate-lbs") && advise) {
            o->extrapolate_lbs = 1;
            continue;
        } else if (a[0] != '-') {
            if (o->m.db) return fprintf(stderr, "%s: one database only ('%s' is a second)\n", prog, a), 2;
            o->m.db = a;
            continue;
        }
        if (!v) return fprintf(stderr, "%s: %s needs a value (see --help)\n", prog, a), 2;
        i++;
        if (!strcmp(a, "--model"))
            o->model = v;
        else if (!strcmp(a, "--hardware"))
            o->hardware = v;
        else if (!strcmp(a, "--precision"))
            o->precision = v;
        else if (!strcmp(a, "--data"))
            o->data = v;
        else if (!strcmp(a, "--json"))
            o->json = v;
        else if (!strcmp(a, "--target"))
            o->target = v;
        else if (!strcmp(a, "--gpus") && !advise)
            rc = parse_list(prog, a, v, o->gpus, &o->n_gpus, 64);
        else if (!strcmp(a, "--lbs"))
            rc = parse_list(prog, a, v, o->lbs, &o->n_lbs, advise ? 64 : 1);
        else if (!strcmp(a, "--gbs") && !advise)
            rc = ws_cli_parse_int(prog, a, v, 1, &o->gbs);
        else if (!strcmp(a, "--accum") && !advise)
            rc = ws_cli_parse_int(prog, a, v, 1, &o->accum);
        else if (!strcmp(a, "--steps"))
            rc = ws_cli_parse_int(prog, a, v, 1, &o->steps);
        else if (!strcmp(a, "--evals"))
            rc = ws_cli_parse_int(prog, a, v, 0, &o->evals);
        else if (!strcmp(a, "--gpus-per-node"))
            rc = ws_cli_parse_int(prog, a, v, 1, &o->gpus_per_node);
        else if (!strcmp(a, "--top") && advise)
            rc = ws_cli_parse_int(prog, a, v, 1, &o->top);
        else if (!strcmp(a, "--max-gpus") && advise)
            rc = ws_cli_parse_int(prog, a, v, 1, &o->max_gpus);
        else if (!strcmp(a, "--min-gpus") && advise)
            rc = ws_cli_parse_int(prog, a, v, 1, &o->min_gpus);
        else if (!strcmp(a, "--epochs"))
            rc = ws_cli_parse_num(prog, a, v, 1e-9, &o->epochs);
        else if (!strcmp(a, "--samples-per-epoch"))
            rc = ws_cli_parse_num(prog, a, v, 1, &o->samples_per_epoch);
        else if (!strcmp(a, "--data-fraction"))
            rc = ws_cli_parse_num(prog, a, v, 1e-9, &o->data_fraction);
        else if (!strcmp(a, "--bucket-mb"))
            rc = ws_cli_parse_num(prog, a, v, 1e-6, &o->bucket_mb);
        else if (!strcmp(a, "--host-power-w"))
            rc = ws_cli_parse_num(prog, a, v, 0, &o->host_power_w);
        else if (!strcmp(a, "--deadline-h") && advise)
            rc = ws_cli_parse_num(prog, a, v, 1e-9, &o->deadline_h);
        else if (!strcmp(a, "--gpu-memory-gib") && advise)
            rc = ws_cli_parse_num(prog, a, v, 1e-9, &o->gpu_memory_gib);
        else if (!strcmp(a, "--algo")) {
            if (ws_allreduce_parse_algo(v, &o->algo))
                return fprintf(stderr, "%s: --algo %s: want auto, ring or tree\n", prog, v), 2;
        } else
            return fprintf(stderr, "%s: unknown flag '%s' (see --help)\n", prog, a), 2;
        if (rc) return rc;
    }
    if (!o->m.db) return (advise ? advise_usage : predict_usage)(stderr), 2;
    int work = (o->epochs > 0) + (o->steps > 0) + (o->target != NULL);
    if (work > 1) return fprintf(stderr, "%s: give one of --epochs, --steps and --target\n", prog), 2;
    if (!o->loo && !work)
        return fprintf(stderr, "%s: no workload: give --epochs E, --steps S or --target METRIC=VALUE\n", prog), 2;
    if (!advise && !o->loo) {
        if (!o->n_gpus) return fprintf(stderr, "%s: give --gpus N (or a list: --gpus 1,2,4,8)\n", prog), 2;
        if (!o->n_lbs && !o->gbs) return fprintf(stderr, "%s: give --lbs N, --gbs N or both\n", prog), 2;
    }
    return 0;
}

static void fmt_iv(char *out, size_t size, ws_interval v, double scale, int digits) {
    if (!isfinite(v.mid))
        snprintf(out, size, "-");
    else if (!isfinite(v.lo))
        snprintf(out, size, "%.*g [no interval]", digits, v.mid * scale);
    else
        snprintf(out, size, "%.*g [%.*g, %.*g]", digits, v.mid * scale, digits, v.lo * scale, digits, v.hi * scale);
}

static cJSON *iv_json(ws_interval v, double scale) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "mid", ws_json_num_or_null(isfinite(v.mid), v.mid * scale));
    cJSON_AddItemToObject(o, "lo", ws_json_num_or_null(isfinite(v.lo), v.lo * scale));
    cJSON_AddItemToObject(o, "hi", ws_json_num_or_null(isfinite(v.hi), v.hi * scale));
    return o;
}

static cJSON *line_json(const ws_line *l) {
    cJSON *o = cJSON_CreateObject();
    static const char *kinds[] = {"none", "one size", "two sizes (no interval)", "fitted"};
    cJSON_AddStringToObject(o, "kind", kinds[l->kind]);
    cJSON_AddItemToObject(o, "intercept", ws_json_num_or_null(l->kind > 0, l->fit.intercept));
    cJSON_AddItemToObject(o, "slope_per_sample", ws_json_num_or_null(l->kind > 1, l->fit.slope));
    cJSON_AddItemToObject(o, "r2", ws_json_num_or_null(l->kind == 3, l->fit.r2));
    cJSON_AddNumberToObject(o, "points", (double)l->fit.n);
    return o;
}

static cJSON *calib_json(const ws_calibration *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->model);
    cJSON_AddStringToObject(o, "hardware", c->hardware);
    cJSON_AddStringToObject(o, "precision", c->precision);
    cJSON_AddStringToObject(o, "data", c->data_kind);
    cJSON_AddStringToObject(o, "runs", c->runs);
    cJSON_AddItemToObject(o, "compute_s_per_microbatch", line_json(&c->time));
    cJSON_AddItemToObject(o, "gpu_energy_j_per_microbatch", line_json(&c->energy));
    cJSON_AddItemToObject(o, "peak_memory_bytes", line_json(&c->memory));
    cJSON_AddItemToObject(o, "data_wait_s_per_sample",
                          ws_json_num_or_null(isfinite(c->data_s_per_sample), c->data_s_per_sample));
    cJSON_AddItemToObject(o, "gpu_power_outside_compute_w",
                          ws_json_num_or_null(isfinite(c->idle_power_w), c->idle_power_w));
    cJSON_AddItemToObject(o, "gpu_power_allreduce_wait_w", ws_json_num_or_null(c->wait_measured, c->wait_power_w));
    cJSON_AddItemToObject(o, "overlapped_fraction", ws_json_num_or_null(c->n_overlap > 0, c->overlap));
    cJSON_AddItemToObject(o, "host_power_w_per_node", ws_json_num_or_null(c->host_measured, c->host_power_w));
    cJSON_AddStringToObject(o, "notes", c->notes);
    return o;
}

static cJSON *prediction_json(const ws_prediction *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "gpus", p->cfg.gpus);
    cJSON_AddNumberToObject(o, "nodes", p->nodes);
    cJSON_AddNumberToObject(o, "global_batch", p->cfg.global_batch);
    cJSON_AddNumberToObject(o, "local_batch", p->cfg.local_batch);
    cJSON_AddNumberToObject(o, "accum", p->cfg.accum);
    cJSON_AddItemToObject(o, "step_s", iv_json(p->step_s, 1));
    cJSON_AddItemToObject(o, "compute_s", iv_json(p->compute_s, 1));
    cJSON_AddItemToObject(o, "data_s", iv_json(p->data_s, 1));
    cJSON_AddItemToObject(o, "allreduce_s", iv_json(p->allreduce_s, 1));
    cJSON_AddItemToObject(o, "exposed_allreduce_s", iv_json(p->exposed_s, 1));
    cJSON_AddItemToObject(o, "overlapped_fraction", iv_json(p->overlap, 1));
    cJSON_AddStringToObject(o, "allreduce_algorithm", ws_allreduce_algo_name(p->algo_used));
    cJSON_AddNumberToObject(o, "buckets", p->n_buckets);
    cJSON_AddItemToObject(o, "samples_per_s", iv_json(p->samples_per_s, 1));
    cJSON_AddItemToObject(o, "step_energy_j", iv_json(p->step_energy_j, 1));
    cJSON_AddItemToObject(o, "j_per_sample", iv_json(p->j_per_sample, 1));
    cJSON_AddItemToObject(o, "gpu_power_w", iv_json(p->gpu_power_w, 1));
    cJSON_AddItemToObject(o, "epochs", iv_json(p->epochs, 1));
    cJSON_AddNumberToObject(o, "steps", p->steps);
    cJSON_AddItemToObject(o, "time_s", iv_json(p->time_s, 1));
    cJSON_AddItemToObject(o, "gpu_hours", iv_json(p->gpu_hours, 1));
    cJSON_AddItemToObject(o, "energy_kwh", iv_json(p->energy_kwh, 1));
    cJSON_AddItemToObject(o, "gpu_energy_kwh", iv_json(p->gpu_energy_kwh, 1));
    cJSON_AddItemToObject(o, "host_energy_kwh", iv_json(p->host_energy_kwh, 1));
    cJSON_AddStringToObject(o, "host_energy", p->host > 0 ? "measured" : p->host < 0 ? "assumed" : "not counted");
    cJSON_AddItemToObject(o, "peak_memory_bytes", iv_json(p->peak_memory_bytes, 1));
    cJSON_AddBoolToObject(o, "lbs_extrapolated", p->lbs_extrapolated);
    cJSON_AddStringToObject(o, "notes", p->notes);
    return o;
}

static cJSON *json_root(const char *kind, const ws_cli_model_inputs *in, const char *db) {
    cJSON *root = cJSON_CreateObject();
    char now[32];
    ws_wall_time_iso(now, sizeof now);
    cJSON_AddStringToObject(root, "schema", kind);
    cJSON_AddStringToObject(root, "written_at", now);
    cJSON_AddStringToObject(root, "database", db);
    cJSON_AddStringToObject(root, "study", in->study);
    cJSON *net = cJSON_AddObjectToObject(root, "network");
    cJSON_AddItemToObject(net, "intra_node", ws_link_json(&in->net.intra));
    cJSON_AddItemToObject(net, "inter_node", ws_link_json(&in->net.inter));
    return root;
}

static int write_json(const char *prog, const char *path, cJSON *root) {
    ws_error err = {0};
    int rc = 0;
    if (path && ws_json_write_file(path, root, &err) != WS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        rc = 1;
    } else if (path) {
        fprintf(stderr, "%s: wrote %s\n", prog, path);
    }
    cJSON_Delete(root);
    return rc;
}

/* prints each distinct line of the notes once */
static void print_notes(char seen[][256], size_t *n_seen, size_t max, const char *notes) {
    char buf[1600];
    snprintf(buf, sizeof buf, "%s", notes);
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        size_t k = 0;
        while (k < *n_seen && strncmp(seen[k], l, 255))
            k++;
        if (k < *n_seen) continue;
        if (*n_seen < max) snprintf(seen[(*n_seen)++], 256, "%s", l);
        printf("  - %s\n", l);
    }
}

static ws_status target_model(const char *spec, ws_cli_model_inputs *in, const ws_calibration *c, ws_epochs_model *em,
                              ws_error *err) {
    ws_status st = ws_report_set_target(&in->rs, spec, err);
    return st == WS_OK ? ws_epochs_model_build(&in->rs, c, em, err) : st;
}

static ws_predict_config base_config(const opts *o, const ws_epochs_model *em) {
    ws_predict_config cfg = ws_predict_config_default();
    cfg.gpus_per_node = (int)o->gpus_per_node;
    cfg.accum = (int)o->accum;
    cfg.epochs = isfinite(o->epochs) ? o->epochs : 0;
    cfg.steps = o->steps;
    cfg.target = o->target ? em : NULL;
    cfg.samples_per_epoch = o->samples_per_epoch;
    cfg.data_fraction = o->data_fraction;
    cfg.evals = (int)o->evals;
    cfg.algo = o->algo;
    cfg.bucket_bytes = o->bucket_mb > 0 ? o->bucket_mb * 1e6 : 0;
    cfg.host_power_w = o->host_power_w;
    return cfg;
}

static double pct(double pred, double meas) { return 100 * (pred - meas) / meas; }

static int run_loo(const char *prog, const opts *o, ws_cli_model_inputs *in) {
    ws_loo_row *rows = NULL;
    size_t n = 0;
    ws_error err = {0};
    if (ws_loo_compute(&in->perf, &in->net, &rows, &n, &err) != WS_OK) {
        free(rows);
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 1;
    }
    printf("Leave-one-out: each run predicted from the others of its model / hardware / precision / data\n"
           "(study %s, %zu runs). Window = the run's steady state; run = all of it (start-up included).\n\n",
           in->study, n);
    printf("%-22s %-5s %5s %4s | %-30s %7s | %-30s %7s | %8s %7s | %8s %7s\n", "run", "prec", "LBS", "GPUs",
           "step ms: measured / predicted", "err", "J/sample: measured / predicted", "err", "run s", "err", "run kJ",
           "err");
    double se[4] = {0}, me[4] = {0};
    size_t cnt[4] = {0};
    cJSON *root = json_root("wattscale.loo/1", in, o->m.db);
    cJSON *arr = cJSON_AddArrayToObject(root, "rows");
    for (size_t i = 0; i < n; i++) {
        const ws_loo_row *r = &rows[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "run", r->run_key);
        cJSON_AddStringToObject(j, "precision", r->precision);
        cJSON_AddNumberToObject(j, "gpus", r->gpus);
        cJSON_AddNumberToObject(j, "local_batch", r->local_batch);
        cJSON_AddNumberToObject(j, "calibration_runs", (double)r->n_calib);
        cJSON_AddItemToArray(arr, j);
        if (!r->ok) {
            printf("%-22s %-5s %5d %4d | not predicted: %s\n", r->run_key, r->precision, r->local_batch, r->gpus,
                   r->why);
            cJSON_AddStringToObject(j, "not_predicted", r->why);
            continue;
        }
        char s[64], e[64];
        double errs[4] = {pct(r->step_s.mid, r->step_meas_s), pct(r->jps.mid, r->jps_meas),
                          pct(r->time_s.mid, r->time_meas_s), pct(r->energy_j.mid, r->energy_meas_j)};
        char sp[48], ep[48];
        fmt_iv(sp, sizeof sp, r->step_s, 1e3, 4);
        fmt_iv(ep, sizeof ep, r->jps, 1, 4);
        snprintf(s, sizeof s, "%.4g / %s", r->step_meas_s * 1e3, sp);
        snprintf(e, sizeof e, "%.4g / %s", r->jps_meas, ep);
        printf("%-22s %-5s %5d %4d | %-30s %+6.1f%% | %-30s %+6.1f%% | %8.4g %+6.1f%% | %8.4g %+6.1f%%\n", r->run_key,
               r->precision, r->local_batch, r->gpus, s, errs[0], e, errs[1], r->time_s.mid, errs[2],
               r->energy_j.mid / 1e3, errs[3]);
        for (int k = 0; k < 4; k++)
            if (isfinite(errs[k])) {
                se[k] += fabs(errs[k]);
                me[k] = fmax(me[k], fabs(errs[k]));
                cnt[k]++;
            }
        cJSON_AddNumberToObject(j, "step_s_measured", r->step_meas_s);
        cJSON_AddItemToObject(j, "step_s", iv_json(r->step_s, 1));
        cJSON_AddItemToObject(j, "j_per_sample_measured", ws_json_num_or_null(isfinite(r->jps_meas), r->jps_meas));
        cJSON_AddItemToObject(j, "j_per_sample", iv_json(r->jps, 1));
        cJSON_AddNumberToObject(j, "run_time_s_measured", r->time_meas_s);
        cJSON_AddItemToObject(j, "run_time_s", iv_json(r->time_s, 1));
        cJSON_AddItemToObject(j, "run_energy_j_measured",
                              ws_json_num_or_null(isfinite(r->energy_meas_j), r->energy_meas_j));
        cJSON_AddItemToObject(j, "run_energy_j", iv_json(r->energy_j, 1));
    }
    const char *what[4] = {"step time", "J/sample (window)", "run wall time", "run energy"};
    cJSON *sum = cJSON_AddObjectToObject(root, "mean_abs_error_pct");
    printf("\n");
    for (int k = 0; k < 4; k++) {
        if (!cnt[k]) continue;
        printf("%-18s mean |error| %.2f%%, largest %.2f%% (%zu runs)\n", what[k], se[k] / (double)cnt[k], me[k],
               cnt[k]);
        cJSON_AddNumberToObject(sum, what[k], se[k] / (double)cnt[k]);
    }
    free(rows);
    return write_json(prog, o->json, root);
}

static int run_predict(const char *prog, const opts *o, ws_cli_model_inputs *in) {
    ws_error err = {0};
    ws_calib_select sel = {o->model, o->hardware, o->precision, o->data, NULL};
    ws_calibration cal;
    if (ws_calibrate(&in->perf, &sel, &in->net, &cal, &err) != WS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 2;
    }
    ws_epochs_model em;
    if (o->target && target_model(o->target, in, &cal, &em, &err) != WS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 2;
    }
    char desc[2400];
    ws_calibration_describe(&cal, desc, sizeof desc);
    printf("%s\n\n", desc);
    printf("%5s %5s %7s %5s %3s | %-30s | %-26s | %-30s | %-9s | %-30s | %s\n", "GPUs", "nodes", "GBS", "LBS", "acc",
           "step ms [95%]", "all-reduce ms (exposed)", "wall time s [95%]", "GPU-h", "energy kWh [95%]", "J/sample");
    cJSON *root = json_root("wattscale.prediction/1", in, o->m.db);
    cJSON_AddItemToObject(root, "calibration", calib_json(&cal));
    cJSON *arr = cJSON_AddArrayToObject(root, "predictions");
    char seen[48][256];
    size_t n_seen = 0;
    int rc = 0;
    ws_prediction *preds = malloc((size_t)o->n_gpus * sizeof *preds);
    if (!preds) return cJSON_Delete(root), fprintf(stderr, "%s: out of memory\n", prog), 1;
    for (int i = 0; i < o->n_gpus; i++) {
        ws_predict_config cfg = base_config(o, &em);
        cfg.gpus = o->gpus[i];
        cfg.local_batch = o->n_lbs ? o->lbs[0] : 0;
        cfg.global_batch = (int)o->gbs;
        ws_prediction *p = &preds[i];
        if (ws_predict(&cal, &in->net, &cfg, p, &err) != WS_OK) {
            printf("%5d | not predicted: %s\n", o->gpus[i], err.msg);
            rc = 2;
            p->notes[0] = 0;
            continue;
        }
        char st[64], ti[64], en[64], ar[48];
        fmt_iv(st, sizeof st, p->step_s, 1e3, 4);
        fmt_iv(ti, sizeof ti, p->time_s, 1, 4);
        fmt_iv(en, sizeof en, p->energy_kwh, 1, 4);
        snprintf(ar, sizeof ar, "%.3g (%.3g)", p->allreduce_s.mid * 1e3, p->exposed_s.mid * 1e3);
        printf("%5d %5d %7d %5d %3d | %-30s | %-26s | %-30s | %-9.4g | %-30s | %.4g\n", p->cfg.gpus, p->nodes,
               p->cfg.global_batch, p->cfg.local_batch, p->cfg.accum, st, ar, ti, p->gpu_hours.mid, en,
               p->j_per_sample.mid);
        cJSON_AddItemToArray(arr, prediction_json(p));
    }
    printf("\nAssumptions and notes:\n");
    for (int i = 0; i < o->n_gpus; i++)
        print_notes(seen, &n_seen, 48, preds[i].notes);
    if (!n_seen) printf("  - none beyond the calibration above\n");
    free(preds);
    int wrc = write_json(prog, o->json, root);
    return rc ? rc : wrc;
}

int ws_cmd_predict(int argc, char **argv) {
    const char *prog = "wattscale predict";
    opts o;
    int rc = parse(prog, 0, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    ws_cli_model_inputs in;
    if ((rc = ws_cli_model_load(prog, &o.m, &in)) != 0) return rc;
    rc = o.loo ? run_loo(prog, &o, &in) : run_predict(prog, &o, &in);
    ws_cli_model_free(&in);
    return rc;
}

/* the precisions to try: the given list, else every one the finished runs of the group have */
static int precisions(const opts *o, const ws_perf_set *ps, char (*out)[8], int max) {
    int n = 0;
    if (o->precision) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", o->precision);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
            snprintf(out[n++], 8, "%s", t);
        return n;
    }
    for (size_t i = 0; i < ps->n && n < max; i++) {
        const ws_perf_run *r = &ps->runs[i];
        if ((o->model && strcmp(o->model, r->model)) || (o->hardware && strcmp(o->hardware, r->hardware)) ||
            (strcmp(r->status, "completed") && strcmp(r->status, "target_reached")))
            continue;
        int seen = 0;
        for (int k = 0; k < n; k++)
            seen |= !strcmp(out[k], r->precision);
        if (!seen && r->precision[0]) snprintf(out[n++], 8, "%s", r->precision);
    }
    return n;
}

int ws_cmd_advise(int argc, char **argv) {
    const char *prog = "wattscale advise";
    opts o;
    int rc = parse(prog, 1, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    ws_cli_model_inputs in;
    if ((rc = ws_cli_model_load(prog, &o.m, &in)) != 0) return rc;
    char prec[8][8];
    int np = precisions(&o, &in.perf, prec, 8);
    ws_calibration cals[8];
    const ws_calibration *cp[8];
    ws_epochs_model em;
    ws_error err = {0};
    int nc = 0;
    for (int k = 0; k < np && !rc; k++) {
        ws_calib_select sel = {o.model, o.hardware, prec[k], o.data, NULL};
        if (ws_calibrate(&in.perf, &sel, &in.net, &cals[nc], &err) != WS_OK) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            rc = 2;
        } else {
            cp[nc] = &cals[nc];
            nc++;
        }
    }
    if (!rc && !nc) fprintf(stderr, "%s: no finished run to calibrate on\n", prog), rc = 2;
    ws_interval unused;
    if (!rc && o.target &&
        (target_model(o.target, &in, &cals[0], &em, &err) != WS_OK || (!em.n && ws_epochs_at(&em, 1, &unused, &err))))
        fprintf(stderr, "%s: %s\n", prog, err.msg), rc = 2;
    ws_advice adv;
    memset(&adv, 0, sizeof adv);
    if (!rc) {
        ws_advise_opts ao = ws_advise_opts_default();
        ao.max_gpus = (int)o.max_gpus;
        ao.min_gpus = (int)o.min_gpus;
        ao.lbs = o.n_lbs ? o.lbs : NULL;
        ao.n_lbs = (size_t)o.n_lbs;
        ao.extrapolate_lbs = o.extrapolate_lbs;
        ao.gpu_memory_bytes = o.gpu_memory_gib * 1073741824.0;
        ao.deadline_s = o.deadline_h * 3600;
        ao.base = base_config(&o, &em);
        if (ws_advise(cp, (size_t)nc, &in.net, &ao, &adv, &err) != WS_OK)
            fprintf(stderr, "%s: %s\n", prog, err.msg), rc = 1;
    }
    if (!rc) {
        for (int k = 0; k < nc; k++) {
            char desc[2400];
            ws_calibration_describe(&cals[k], desc, sizeof desc);
            printf("%s\n", desc);
        }
        printf(
            "\n%zu configurations considered: %zu feasible, %zu over the deadline, %zu over the GPU memory, %zu at a "
            "GBS the epochs-to-target runs do not cover, %zu not predictable%s%s\n",
            adv.considered, adv.n, adv.over_deadline, adv.over_memory, adv.outside_target, adv.invalid,
            adv.invalid ? " (first: " : "", adv.invalid ? adv.first_error : "");
        if (adv.invalid) printf(")\n");
        if (!adv.n) {
            printf("No configuration meets the constraints.\n");
            rc = 1;
        } else {
            const ws_advice_row *b = &adv.rows[0];
            char en[64], ti[64];
            fmt_iv(en, sizeof en, b->p.energy_kwh, 1, 4);
            fmt_iv(ti, sizeof ti, b->p.time_s, 1 / 3600.0, 4);
            printf("\nLeast %s: %d GPUs (%d nodes) x LBS %d, GBS %d, %s: energy %s kWh, wall time %s h, %.4g "
                   "GPU-hours\n\n",
                   adv.by_energy ? "energy" : "GPU-hours (energy not measured)", b->p.cfg.gpus, b->p.nodes,
                   b->p.cfg.local_batch, b->p.cfg.global_batch, b->cal->precision, en, ti, b->p.gpu_hours.mid);
            printf("%4s %5s %5s %7s %5s | %-30s | %-30s | %-9s | %s\n", "rank", "prec", "GPUs", "GBS", "LBS",
                   "energy kWh [95%]", "wall time h [95%]", "GPU-h", "epochs");
            cJSON *root = json_root("wattscale.advice/1", &in, o.m.db);
            cJSON *arr = cJSON_AddArrayToObject(root, "ranked");
            for (size_t i = 0; i < adv.n && i < (size_t)o.top; i++) {
                const ws_advice_row *r = &adv.rows[i];
                fmt_iv(en, sizeof en, r->p.energy_kwh, 1, 4);
                fmt_iv(ti, sizeof ti, r->p.time_s, 1 / 3600.0, 4);
                printf("%4zu %5s %5d %7d %5d | %-30s | %-30s | %-9.4g | %.4g\n", i + 1, r->cal->precision,
                       r->p.cfg.gpus, r->p.cfg.global_batch, r->p.cfg.local_batch, en, ti, r->p.gpu_hours.mid,
                       r->p.epochs.mid);
                cJSON *j = prediction_json(&r->p);
                cJSON_AddStringToObject(j, "precision", r->cal->precision);
                cJSON_AddItemToArray(arr, j);
            }
            char seen[48][256];
            size_t n_seen = 0;
            printf("\nWhat the best rests on:\n");
            print_notes(seen, &n_seen, 48, b->p.notes);
            if (!n_seen) printf("  - nothing beyond the calibration above\n");
            rc = write_json(prog, o.json, root);
        }
    }
    ws_advice_free(&adv);
    ws_cli_model_free(&in);
    return rc;
}

#else

/* this build cannot calibrate: --help still answers, everything else says what is missing */
static int lacking(const char *prog, void (*usage)(FILE *), int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return usage(stdout), 0;
    fprintf(stderr, "%s: this build lacks %s: apt-get install%s%s, then rebuild\n", prog,
            WS_HAVE_SQLITE ? "GSL" : "SQLite", WS_HAVE_SQLITE ? "" : " libsqlite3-dev",
            WS_HAVE_GSL ? "" : " libgsl-dev");
    return 1;
}

int ws_cmd_predict(int argc, char **argv) { return lacking("wattscale predict", predict_usage, argc, argv); }
int ws_cmd_advise(int argc, char **argv) { return lacking("wattscale advise", advise_usage, argc, argv); }

#endif
