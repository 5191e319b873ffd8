/* tests/analysis/perf_truth.c - run records from a known performance model; contract in
 * tests/analysis/perf_truth.h. Laid out as train/run_record.c writes them. */
#include "perf_truth.h"
#include "ws_test.h"

#include "core/fileutil.h"

#include <cjson/cJSON.h>

ws_truth ws_truth_default(void) {
    ws_truth t;
    memset(&t, 0, sizeof t);
    t.c0_s = 4e-3;
    t.c1_s = 0.15e-3;
    t.d_s = 1e-6;
    t.e0_j = 0.6;
    t.e1_j = 0.094;
    t.wait_w = 180;
    t.idle_w = 120;
    t.host_w = 250;
    t.overlap = 0.35;
    t.startup_s = 6;
    t.eval_s = 30;
    t.over_w = 90;
    t.mem0_b = 0.5 * 1073741824.0;
    t.mem1_b = 0.052 * 1073741824.0;
    t.parameters = 25557032;
    t.net = ws_network_default(200);
    return t;
}

static double ring(const ws_network *n, double bytes, double p, double N) {
    double b = N > 1 && n->inter.beta_s_per_byte > n->intra.beta_s_per_byte ? n->inter.beta_s_per_byte
                                                                            : n->intra.beta_s_per_byte;
    double c = N > 1 ? n->inter.call_s : n->intra.call_s;
    return c + 2 * (p - N) * n->intra.alpha_s + 2 * (N - 1) * n->inter.alpha_s + 2 * (p - 1) / p * bytes * b;
}

static double tree(const ws_network *n, double bytes, double p, double N) {
    double b = N > 1 && n->inter.beta_s_per_byte > n->intra.beta_s_per_byte ? n->inter.beta_s_per_byte
                                                                            : n->intra.beta_s_per_byte;
    double c = N > 1 ? n->inter.call_s : n->intra.call_s;
    return c + 2 * ((p / N - 1) * n->intra.alpha_s + ceil(log2(N)) * n->inter.alpha_s) + 2 * bytes * b;
}

double ws_truth_allreduce_s(const ws_truth *t, int gpus, int nodes) {
    if (gpus < 2) return 0;
    double total = 4 * t->parameters, bucket = 25.0 * 1048576;
    double full = floor(total / bucket), rest = total - full * bucket, T = 0;
    T += full * fmin(ring(&t->net, bucket, gpus, nodes), tree(&t->net, bucket, gpus, nodes));
    if (rest > 0) T += fmin(ring(&t->net, rest, gpus, nodes), tree(&t->net, rest, gpus, nodes));
    return T;
}

double ws_truth_step_s(const ws_truth *t, int gpus, int nodes, int lbs, int accum) {
    return accum * (t->c0_s + t->c1_s * lbs + t->d_s * lbs) + (1 - t->overlap) * ws_truth_allreduce_s(t, gpus, nodes);
}

static cJSON *domains(double gpu, double host) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "gpu", gpu);
    if (isfinite(host))
        cJSON_AddNumberToObject(o, "cpu", host);
    else
        cJSON_AddNullToObject(o, "cpu");
    cJSON_AddNullToObject(o, "dram");
    return o;
}

char *ws_truth_record(const ws_truth *t, const ws_truth_run *r, ws_rng *rng) {
    int G = r->gpus, N = G <= r->gpus_per_node ? 1 : G / r->gpus_per_node, a = r->accum, b = r->lbs;
    int gbs = b * G * a;
    double noise_t = 1 + t->noise * ws_rng_normal(rng), noise_e = 1 + t->noise * ws_rng_normal(rng);
    double tc = (t->c0_s + t->c1_s * b) * noise_t, td = t->d_s * b;
    double T = ws_truth_allreduce_s(t, G, N), exposed = (1 - t->overlap) * T;
    double step = a * (tc + td) + exposed;
    double e_gpu_step = G * (a * (t->e0_j + t->e1_j * b) * noise_e + t->wait_w * exposed); /* all GPUs */
    double host = isfinite(t->host_w) ? t->host_w * N : 0;                                 /* W, all nodes */
    int S = (int)floor(r->samples_per_epoch / gbs), E = r->epochs;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "wattscale.run/1");
    cJSON_AddStringToObject(root, "status", "completed");
    cJSON_AddStringToObject(root, "written_at", "2026-12-02T00:00:00Z");
    cJSON *c = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(c, "model", "resnet50");
    cJSON_AddStringToObject(c, "data", "synthetic");
    cJSON_AddNumberToObject(c, "data_fraction", r->fraction);
    cJSON_AddNumberToObject(c, "global_batch", gbs);
    cJSON_AddNumberToObject(c, "local_batch", b);
    cJSON_AddNumberToObject(c, "accum", a);
    cJSON_AddNumberToObject(c, "epochs", E);
    cJSON_AddNumberToObject(c, "steps", 0);
    cJSON_AddStringToObject(c, "optimizer", "sgd");
    cJSON_AddNumberToObject(c, "lr", 0.1);
    cJSON_AddStringToObject(c, "device", "cuda");
    cJSON_AddStringToObject(c, "precision", r->precision ? r->precision : "bf16");
    cJSON_AddNumberToObject(c, "seed", 1);
    cJSON *w = cJSON_AddObjectToObject(root, "world");
    cJSON_AddNumberToObject(w, "size", G);
    cJSON_AddNumberToObject(w, "nodes", N);
    cJSON_AddNumberToObject(w, "ranks_per_node", G / N);
    cJSON_AddStringToObject(w, "backend", G > 1 ? "mpi" : "single");
    cJSON *h = cJSON_AddObjectToObject(root, "hardware");
    cJSON_AddStringToObject(h, "host", "truth");
    cJSON_AddStringToObject(h, "cpu", "Test CPU");
    cJSON *gpus = cJSON_AddArrayToObject(h, "gpus");
    for (int i = 0; i < G / N; i++) {
        cJSON *g = cJSON_CreateObject();
        cJSON_AddStringToObject(g, "name", "Truth GPU");
        cJSON_AddItemToArray(gpus, g);
    }
    cJSON *dev = cJSON_AddObjectToObject(root, "device");
    cJSON_AddNumberToObject(dev, "peak_memory_bytes", t->mem0_b + t->mem1_b * b);
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(m, "name", "resnet50");
    cJSON_AddNumberToObject(m, "parameters", t->parameters);
    cJSON *en = cJSON_AddObjectToObject(root, "energy");
    cJSON_AddArrayToObject(en, "devices");
    cJSON_AddArrayToObject(en, "missing");
    cJSON *rows = cJSON_AddArrayToObject(root, "epochs");
    double ep_time = 0, ep_gpu = 0;
    for (int e = 0; e < E; e++) {
        double time = S * step, data_s = S * a * td, comm_s = S * exposed, compute_s = S * a * tc;
        double gpu_j = S * e_gpu_step, host_j = host * time;
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "epoch", e + 1);
        cJSON_AddNumberToObject(row, "steps", S);
        cJSON_AddNumberToObject(row, "samples", (double)S * gbs);
        cJSON_AddNumberToObject(row, "train_loss", 5.0 / (e + 1));
        if (e < r->evals) {
            cJSON_AddNumberToObject(row, "val_loss", 4.0 / (e + 1));
            cJSON_AddNumberToObject(row, "val_top1", 0.3 * (e + 1));
        } else {
            cJSON_AddNullToObject(row, "val_loss");
            cJSON_AddNullToObject(row, "val_top1");
        }
        cJSON_AddNumberToObject(row, "time_s", time);
        cJSON_AddNumberToObject(row, "data_s", data_s);
        cJSON_AddNumberToObject(row, "compute_s", compute_s);
        cJSON_AddNumberToObject(row, "comm_s", comm_s);
        cJSON_AddNumberToObject(row, "energy_j", gpu_j + (isfinite(t->host_w) ? host_j : 0));
        cJSON_AddItemToObject(row, "energy_by_domain_j", domains(gpu_j, isfinite(t->host_w) ? host_j : NAN));
        cJSON_AddStringToObject(row, "energy_source", "counter");
        /* phases: every device, hosts included; the data wait at the idle power, the
         * exposed all-reduce at the wait power, the rest compute */
        double ph_data = (G * t->idle_w + host) * data_s, ph_wait = (G * t->wait_w + host) * comm_s;
        cJSON *ph = cJSON_AddObjectToObject(row, "energy_by_phase_j");
        cJSON_AddNumberToObject(ph, "other", 0);
        cJSON_AddNumberToObject(ph, "data", ph_data);
        cJSON_AddNumberToObject(ph, "compute", gpu_j + host_j - ph_data - ph_wait);
        cJSON_AddNumberToObject(ph, "allreduce_wait", ph_wait);
        cJSON_AddItemToArray(rows, row);
        ep_time += time;
        ep_gpu += gpu_j;
    }
    double outside = t->startup_s + t->eval_s * r->evals * r->fraction / G, run_time = ep_time + outside;
    double run_gpu = ep_gpu + G * t->over_w * outside, run_host = host * run_time;
    cJSON *tot = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(tot, "time_s", run_time);
    cJSON_AddStringToObject(tot, "device_kind", "gpu");
    cJSON_AddNumberToObject(tot, "device_hours", run_time * G / 3600);
    cJSON_AddNumberToObject(tot, "energy_j", run_gpu + (isfinite(t->host_w) ? run_host : 0));
    cJSON_AddItemToObject(tot, "energy_by_domain_j", domains(run_gpu, isfinite(t->host_w) ? run_host : NAN));
    cJSON_AddNumberToObject(tot, "samples", (double)E * S * gbs);
    cJSON_AddNumberToObject(tot, "updates", (double)E * S);
    double samples = (double)E * S * gbs, dh = run_time * G / 3600,
           total_j = run_gpu + (isfinite(t->host_w) ? run_host : 0);
    cJSON_AddNumberToObject(tot, "samples_per_device_hour", samples / dh);
    cJSON_AddNumberToObject(tot, "updates_per_device_hour", (double)E * S / dh);
    cJSON_AddNumberToObject(tot, "kwh_per_device_hour", total_j / 3.6e6 / dh);
    cJSON_AddNumberToObject(tot, "j_per_sample", total_j / samples);
    if (r->evals >= E) {
        cJSON_AddNumberToObject(tot, "val_loss", 4.0 / E);
        cJSON_AddNumberToObject(tot, "val_top1", 0.3 * E);
    }
    cJSON_AddNumberToObject(tot, "resumed_times", 0);
    cJSON *st = cJSON_AddObjectToObject(tot, "steady");
    double ws = (double)E * S - 5;
    cJSON_AddNumberToObject(st, "from_step", 5);
    cJSON_AddNumberToObject(st, "steps", ws);
    cJSON_AddNumberToObject(st, "time_s", ws * step);
    cJSON_AddNumberToObject(st, "samples", ws * gbs);
    cJSON_AddNumberToObject(st, "samples_per_s", gbs / step);
    cJSON_AddNumberToObject(st, "energy_j", ws * (e_gpu_step + host * step));
    cJSON_AddStringToObject(st, "energy_source", "counter");
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

void ws_truth_write_study(const ws_truth *t, const char *dir) {
    ws_rng rng = ws_rng_seeded(11);
    const struct {
        const char *series, *scaling;
        int lbs[4];
    } series[2] = {{"gbs512", "constant_gbs", {512, 256, 128, 64}}, {"lbs128", "constant_lbs", {128, 128, 128, 128}}};
    const int gpus[4] = {1, 2, 4, 8};
    for (int s = 0; s < 2; s++)
        for (int p = 0; p < 4; p++)
            for (int rep = 1; rep <= 2; rep++) {
                int G = gpus[p], b = series[s].lbs[p];
                ws_truth_run r = {G, 4, b, 1, 2, 2, 102400, 1, "bf16"};
                char key[96], path[1200];
                snprintf(key, sizeof key, "%s-g%d-lbs%d-r%d", series[s].series, G, b, rep);
                snprintf(path, sizeof path, "%s/%s", dir, key);
                ws_error err = {0};
                if (ws_make_dirs(path, &err) != WS_OK) fail_msg("%s", err.msg);
                char *rec = ws_truth_record(t, &r, &rng), file[1300];
                snprintf(file, sizeof file, "%s/run.json", path);
                ws_test_write_file(file, rec);
                free(rec);
                char side[1024];
                snprintf(
                    side, sizeof side,
                    "{\"schema\": \"wattscale.study-run/1\", \"study\": \"truth\", \"run_key\": \"%s\", "
                    "\"repetition\": %d, \"gpus\": %d, \"global_batch\": %d, \"local_batch\": %d, \"accum\": 1, "
                    "\"data_fraction\": 1, \"members\": [{\"series\": \"%s\", \"scaling\": \"%s\", \"growing\": 0, "
                    "\"point\": %d, \"repetition\": %d}]}",
                    key, rep, G, G * b, b, series[s].series, series[s].scaling, p, rep);
                snprintf(file, sizeof file, "%s/study.json", path);
                ws_test_write_file(file, side);
            }
}
