/* analysis/allreduce_fit.c - the all-reduce model's parameters from measured timings (GSL
 * lines through analysis/fit.h), and its two files: the timings a benchmark writes
 * ("wattscale.allreduce-timings/1", bench/dist/allreduce_nccl.c) and the fitted model
 * ("wattscale.allreduce-model/1", read by prediction). Contract in analysis/allreduce.h. */
#include "analysis/allreduce.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/json.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TIMINGS_SCHEMA "wattscale.allreduce-timings/1"
#define MODEL_SCHEMA "wattscale.allreduce-model/1"

void ws_ar_timings_free(ws_ar_timings *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_sets; i++)
        free(t->sets[i].points);
    free(t->sets);
    memset(t, 0, sizeof *t);
}

static void copy_str(const cJSON *o, const char *key, char *dst, size_t size) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, size, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* parses path as a JSON object with the given schema */
static ws_status load_json(const char *path, const char *schema, cJSON **out, ws_error *err) {
    char *text = NULL;
    ws_status st = ws_read_file(path, &text, NULL, err);
    if (st != WS_OK) return st;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return wsi_error(err, WS_EFORMAT, "%s: not a JSON object", path);
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "schema");
    if (!cJSON_IsString(s) || strcmp(s->valuestring, schema)) {
        char got[96] = "missing"; /* copied: the message outlives the parsed tree */
        if (cJSON_IsString(s)) snprintf(got, sizeof got, "\"%.80s\"", s->valuestring);
        cJSON_Delete(root);
        return wsi_error(err, WS_EFORMAT, "%s: \"schema\" is %s, expected \"%s\"", path, got, schema);
    }
    *out = root;
    return WS_OK;
}

static int positive(const cJSON *v) { return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble > 0; }

ws_status ws_ar_timings_load(const char *path, ws_ar_timings *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    cJSON *root = NULL;
    ws_status st = load_json(path, TIMINGS_SCHEMA, &root, err);
    if (st != WS_OK) return st;
    copy_str(root, "gpu", out->gpu, sizeof out->gpu);
    copy_str(root, "host", out->host, sizeof out->host);
    copy_str(root, "written_at", out->written_at, sizeof out->written_at);
    copy_str(root, "library", out->library, sizeof out->library);
    const cJSON *sets = cJSON_GetObjectItemCaseSensitive(root, "sets");
    int n = cJSON_IsArray(sets) ? cJSON_GetArraySize(sets) : -1;
    if (n <= 0) {
        cJSON_Delete(root);
        return wsi_error(err, WS_EFORMAT, "%s: \"sets\" must be a non-empty array", path);
    }
    out->sets = calloc((size_t)n, sizeof *out->sets);
    if (!out->sets) {
        cJSON_Delete(root);
        return wsi_error(err, WS_ENOMEM, "%s: out of memory", path);
    }
    int i = 0;
    for (const cJSON *s = sets->child; s && st == WS_OK; s = s->next, i++) {
        ws_ar_set *set = &out->sets[out->n_sets++];
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(s, "gpus"),
                    *nd = cJSON_GetObjectItemCaseSensitive(s, "nodes");
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(s, "points");
        if (!positive(g) || !positive(nd) || g->valueint % nd->valueint != 0) {
            st = wsi_error(err, WS_EFORMAT,
                           "%s: sets[%d]: \"gpus\" and \"nodes\" must be positive, nodes dividing gpus", path, i);
            break;
        }
        set->gpus = g->valueint;
        set->nodes = nd->valueint;
        copy_str(s, "algo", set->algo, sizeof set->algo);
        if (!set->algo[0]) snprintf(set->algo, sizeof set->algo, "default");
        int m = cJSON_IsArray(pts) ? cJSON_GetArraySize(pts) : -1;
        if (m <= 0 || !(set->points = calloc((size_t)m, sizeof *set->points))) {
            st = wsi_error(err, m <= 0 ? WS_EFORMAT : WS_ENOMEM, "%s: sets[%d].points: %s", path, i,
                           m <= 0 ? "must be a non-empty array" : "out of memory");
            break;
        }
        int k = 0;
        for (const cJSON *p = pts->child; p; p = p->next, k++) {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, "bytes"),
                        *t = cJSON_GetObjectItemCaseSensitive(p, "time_s");
            if (!positive(b) || !positive(t)) {
                st =
                    wsi_error(err, WS_EFORMAT,
                              "%s: sets[%d].points[%d]: \"bytes\" and \"time_s\" must be positive numbers", path, i, k);
                break;
            }
            set->points[set->n_points++] = (ws_ar_point){b->valuedouble, t->valuedouble};
        }
    }
    cJSON_Delete(root);
    if (st != WS_OK) ws_ar_timings_free(out);
    return st;
}

static void note(ws_ar_fit *f, const char *text) {
    size_t n = strlen(f->note);
    snprintf(f->note + n, sizeof f->note - n, "%s%s", n ? " " : "", text);
}

/* a line through the set's sizes in the window; 0 when fewer than 3 */
static int fit_set(const ws_ar_set *s, double lo, double hi, ws_ar_set_fit *out) {
    double x[256], y[256];
    size_t n = 0;
    for (size_t i = 0; i < s->n_points && n < 256; i++)
        if (s->points[i].bytes >= lo && s->points[i].bytes <= hi) {
            x[n] = s->points[i].bytes;
            y[n++] = s->points[i].time_s;
        }
    memset(out, 0, sizeof *out);
    out->gpus = s->gpus;
    out->nodes = s->nodes;
    out->line = ws_fit_line(x, y, n);
    if (!out->line.valid) return 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs(y[i] - (out->line.intercept + out->line.slope * x[i])) / y[i];
        if (r > out->max_rel_residual) out->max_rel_residual = r;
    }
    return 1;
}

/* per-step latency and per-call latency of one node from the intercepts A_p = c + 2(p-1) a */
static void intra_latency(ws_ar_fit *f, const ws_ar_set_fit *fits, size_t n) {
    double x[32], y[32];
    size_t k = 0;
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        x[k] = 2.0 * (fits[i].gpus - 1);
        y[k++] = fits[i].line.intercept;
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            seen |= fits[j].gpus == fits[i].gpus;
        distinct += !seen;
    }
    ws_link *l = &f->intra;
    if (distinct >= 3) {
        ws_linfit lat = ws_fit_line(x, y, k);
        l->call_s = lat.intercept;
        l->alpha_s = lat.slope;
        l->call_se_s = lat.intercept_se;
        l->alpha_se_s = lat.slope_se;
    } else if (distinct == 2) {
        /* two GPU counts: the line through their mean intercepts, exact (no interval) */
        double xa = x[0], ya = 0, yb = 0, xb = NAN;
        size_t na = 0, nb = 0;
        for (size_t i = 0; i < k; i++) {
            if (x[i] == xa)
                ya += y[i], na++;
            else
                xb = x[i], yb += y[i], nb++;
        }
        ya /= (double)na;
        yb /= (double)nb;
        l->alpha_s = (yb - ya) / (xb - xa);
        l->call_s = ya - l->alpha_s * xa;
        l->call_se_s = l->alpha_se_s = NAN;
        note(f, "Two GPU counts: per-call and per-step latency from the line through their intercepts, without "
                "an interval.");
    } else {
        double se = 0;
        l->alpha_s = 0;
        for (size_t i = 0; i < k; i++) {
            l->alpha_s += y[i] / x[i] / (double)k;
            se += fits[i].line.intercept_se / x[i] / (double)k;
        }
        l->call_s = 0;
        l->alpha_se_s = se;
        l->call_se_s = NAN;
        note(f, "One GPU count: per-call and per-step latency cannot be told apart, so the whole intercept is "
                "taken as per-step latency (this overstates how latency grows with more GPUs); time sets at several "
                "GPU counts to separate them.");
    }
    if (l->call_s < 0 || l->alpha_s < 0) {
        note(f, "A fitted latency came out negative (the window's small sizes behave differently): set to 0.");
        if (l->call_s < 0) l->call_s = 0;
        if (l->alpha_s < 0) l->alpha_s = 0;
    }
}

static void mean_se(const double *v, const double *se, size_t n, double *m, double *s) {
    *m = 0;
    for (size_t i = 0; i < n; i++)
        *m += v[i] / (double)n;
    if (n == 1) {
        *s = se[0];
        return;
    }
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - *m) * (v[i] - *m);
    *s = sqrt(ss / (double)(n - 1) / (double)n); /* spread between sets, not each line's own error */
}

static void gpu_list(const ws_ar_set_fit *fits, size_t n, int nodes_gt1, char *out, size_t size) {
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && len < size; i++)
        if ((fits[i].nodes > 1) == nodes_gt1)
            len += (size_t)snprintf(out + len, size - len, "%s%d", len ? ", " : "", fits[i].gpus);
}

ws_status ws_network_fit(const ws_ar_timings *t, double min_bytes, double max_bytes, const ws_network *assumed,
                         ws_ar_fit *out, ws_error *err) {
    memset(out, 0, sizeof *out);
    out->intra = assumed->intra;
    out->inter = assumed->inter;
    int any_ring = 0;
    for (size_t i = 0; i < t->n_sets; i++)
        any_ring |= !strcasecmp(t->sets[i].algo, "ring");
    if (!any_ring) note(out, "No set was timed with NCCL_ALGO=Ring: the ring model is fitted to whatever NCCL chose.");
    ws_ar_set_fit intra[32], inter[32];
    size_t ni = 0, ne = 0;
    for (size_t i = 0; i < t->n_sets && out->n_sets < 32; i++) {
        const ws_ar_set *s = &t->sets[i];
        if (s->gpus < 2 || (any_ring && strcasecmp(s->algo, "ring"))) continue;
        ws_ar_set_fit f;
        if (!fit_set(s, min_bytes, max_bytes, &f)) continue;
        out->sets[out->n_sets++] = f;
        if (s->nodes == 1)
            intra[ni++] = f;
        else
            inter[ne++] = f;
    }
    if (ni + ne == 0)
        return wsi_error(err, WS_EINVAL,
                         "no set of the timings has 2 or more GPUs and 3 or more sizes between %.0f and %.0f bytes "
                         "(widen --min-bytes/--max-bytes, or time more sizes)",
                         min_bytes, max_bytes);
    char when[320];
    snprintf(when, sizeof when, "%s%s%s%s%s", t->gpu[0] ? t->gpu : "GPU not named", t->host[0] ? ", host " : "",
             t->host, t->written_at[0] ? ", " : "", t->written_at);
    char gpus[128];
    if (ni) {
        double b[32], se[32];
        for (size_t i = 0; i < ni; i++) {
            double f = intra[i].gpus / (2.0 * (intra[i].gpus - 1));
            b[i] = intra[i].line.slope * f;
            se[i] = intra[i].line.slope_se * f;
        }
        mean_se(b, se, ni, &out->intra.beta_s_per_byte, &out->intra.beta_se_s_per_byte);
        intra_latency(out, intra, ni);
        gpu_list(intra, ni, 0, gpus, sizeof gpus);
        out->intra.measured = out->have_intra = 1;
        snprintf(
            out->intra.source, sizeof out->intra.source,
            "measured: %.48s all-reduce over %.64s GPUs of one node (%.200s), ring model fitted to sizes %.3g-%.3g MB",
            t->library[0] ? t->library : "timed", gpus, when, min_bytes / 1e6, max_bytes / 1e6);
    }
    if (ne) {
        double b[32], bse[32], a[32], ase[32];
        for (size_t i = 0; i < ne; i++) {
            double p = inter[i].gpus, N = inter[i].nodes, f = p / (2 * (p - 1));
            b[i] = inter[i].line.slope * f;
            bse[i] = inter[i].line.slope_se * f;
            a[i] = (inter[i].line.intercept - out->intra.call_s - 2 * (p - N) * out->intra.alpha_s) / (2 * (N - 1));
            ase[i] = inter[i].line.intercept_se / (2 * (N - 1));
        }
        mean_se(b, bse, ne, &out->inter.beta_s_per_byte, &out->inter.beta_se_s_per_byte);
        mean_se(a, ase, ne, &out->inter.alpha_s, &out->inter.alpha_se_s);
        out->inter.call_s = out->intra.call_s;
        out->inter.call_se_s = out->intra.call_se_s;
        if (out->inter.alpha_s < 0) {
            note(out, "The inter-node step latency came out negative (intra-node figures too large for these "
                      "timings): set to 0.");
            out->inter.alpha_s = 0;
        }
        if (out->inter.beta_s_per_byte < out->intra.beta_s_per_byte)
            note(out, "Across nodes the bus bandwidth came out higher than within one: the network is not the "
                      "bottleneck of these sets, and the model keeps the intra-node figure for them.");
        if (!ni)
            note(out, "No one-node set: the intra-node latencies taken out of the inter-node intercepts are the "
                      "assumed ones.");
        gpu_list(inter, ne, 1, gpus, sizeof gpus);
        out->inter.measured = out->have_inter = 1;
        snprintf(out->inter.source, sizeof out->inter.source,
                 "measured: %.48s all-reduce over %.64s GPUs on several nodes (%.200s), ring model fitted to sizes "
                 "%.3g-%.3g MB",
                 t->library[0] ? t->library : "timed", gpus, when, min_bytes / 1e6, max_bytes / 1e6);
    }
    return WS_OK;
}

cJSON *ws_link_json(const ws_link *l) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "call_s", l->call_s);
    cJSON_AddNumberToObject(o, "alpha_s", l->alpha_s);
    cJSON_AddNumberToObject(o, "beta_s_per_byte", l->beta_s_per_byte);
    cJSON_AddNumberToObject(o, "bus_gb_per_s", 1e-9 / l->beta_s_per_byte);
    cJSON_AddItemToObject(o, "call_se_s", ws_json_num_or_null(isfinite(l->call_se_s), l->call_se_s));
    cJSON_AddItemToObject(o, "alpha_se_s", ws_json_num_or_null(isfinite(l->alpha_se_s), l->alpha_se_s));
    cJSON_AddItemToObject(o, "beta_se_s_per_byte",
                          ws_json_num_or_null(isfinite(l->beta_se_s_per_byte), l->beta_se_s_per_byte));
    cJSON_AddBoolToObject(o, "measured", l->measured);
    cJSON_AddStringToObject(o, "source", l->source);
    return o;
}

ws_status ws_network_write(const char *path, const ws_ar_fit *fit, const ws_ar_timings *from, const char *from_path,
                           double min_bytes, double max_bytes, ws_error *err) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", MODEL_SCHEMA);
    char now[32];
    ws_wall_time_iso(now, sizeof now);
    cJSON_AddStringToObject(root, "written_at", now);
    cJSON_AddStringToObject(root, "model", "ring: T = c + 2(p-N) a_intra + 2(N-1) a_inter + 2(p-1)/p n b");
    cJSON *fr = cJSON_AddObjectToObject(root, "from");
    cJSON_AddStringToObject(fr, "timings", from_path);
    cJSON_AddStringToObject(fr, "gpu", from->gpu);
    cJSON_AddStringToObject(fr, "host", from->host);
    cJSON_AddStringToObject(fr, "written_at", from->written_at);
    cJSON_AddStringToObject(fr, "library", from->library);
    cJSON *win = cJSON_AddArrayToObject(root, "fit_bytes");
    cJSON_AddItemToArray(win, cJSON_CreateNumber(min_bytes));
    cJSON_AddItemToArray(win, cJSON_CreateNumber(max_bytes));
    if (fit->have_intra) cJSON_AddItemToObject(root, "intra_node", ws_link_json(&fit->intra));
    if (fit->have_inter) cJSON_AddItemToObject(root, "inter_node", ws_link_json(&fit->inter));
    cJSON *sets = cJSON_AddArrayToObject(root, "sets");
    for (size_t i = 0; i < fit->n_sets; i++) {
        const ws_ar_set_fit *f = &fit->sets[i];
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "gpus", f->gpus);
        cJSON_AddNumberToObject(s, "nodes", f->nodes);
        cJSON_AddNumberToObject(s, "sizes", (double)f->line.n);
        cJSON_AddNumberToObject(s, "intercept_s", f->line.intercept);
        cJSON_AddNumberToObject(s, "slope_s_per_byte", f->line.slope);
        cJSON_AddNumberToObject(s, "r2", f->line.r2);
        cJSON_AddNumberToObject(s, "max_rel_residual", f->max_rel_residual);
        cJSON_AddItemToArray(sets, s);
    }
    cJSON_AddStringToObject(root, "note", fit->note);
    ws_status st = ws_json_write_file(path, root, err);
    cJSON_Delete(root);
    return st;
}

static ws_status link_load(const char *path, const cJSON *o, const char *key, ws_link *l, ws_error *err) {
    const char *req[3] = {"call_s", "alpha_s", "beta_s_per_byte"};
    double v[3];
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, req[i]);
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble < 0 || (i == 2 && x->valuedouble <= 0))
            return wsi_error(err, WS_EFORMAT, "%s: %s.%s must be a %s number", path, key, req[i],
                             i == 2 ? "positive" : "non-negative");
        v[i] = x->valuedouble;
    }
    ws_link n;
    memset(&n, 0, sizeof n);
    n.call_s = v[0];
    n.alpha_s = v[1];
    n.beta_s_per_byte = v[2];
    const char *se[3] = {"call_se_s", "alpha_se_s", "beta_se_s_per_byte"};
    double *dst[3] = {&n.call_se_s, &n.alpha_se_s, &n.beta_se_s_per_byte};
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, se[i]);
        *dst[i] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    }
    n.measured = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "measured"));
    copy_str(o, "source", n.source, sizeof n.source);
    if (!n.source[0]) snprintf(n.source, sizeof n.source, "%s: from %s", n.measured ? "measured" : "assumed", path);
    *l = n;
    return WS_OK;
}

ws_status ws_network_load(const char *path, ws_network *net, ws_error *err) {
    cJSON *root = NULL;
    ws_status st = load_json(path, MODEL_SCHEMA, &root, err);
    if (st != WS_OK) return st;
    ws_network n = *net;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "intra_node");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(root, "inter_node");
    if (!in && !ex) st = wsi_error(err, WS_EFORMAT, "%s: neither \"intra_node\" nor \"inter_node\" is present", path);
    if (st == WS_OK && in) st = link_load(path, in, "intra_node", &n.intra, err);
    if (st == WS_OK && ex) st = link_load(path, ex, "inter_node", &n.inter, err);
    cJSON_Delete(root);
    if (st == WS_OK) *net = n;
    return st;
}
