/* study/study_file.c - the YAML study file into a ws_study; contract in study/study_file.h,
 * keys and messages in docs/study-file.md. libyaml loads the document (its parser reports
 * syntax errors with line and column); this file walks the node tree against tables of
 * known keys, so that every problem names the file, line, column and dotted key.
 * Settings every run shares become `wattscale train` flags (train_opts below); the train
 * CLI checks them again, but here the error can still point at the line. */
#include "study/study_file.h"
#include "analysis/runset.h"
#include "core/error.h"
#include "core/fileutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *file;
    yaml_document_t *doc;
    ws_study *s;
    ws_error *err;
    void *user; /* what the key callback of the current walk_mapping fills */
} ctx;

/* ---- node helpers ---- */

static yaml_node_t *node_at(ctx *c, int index) { return yaml_document_get_node(c->doc, index); }

static int is_scalar(const yaml_node_t *n) { return n && n->type == YAML_SCALAR_NODE; }
static const char *text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* A plain null ("~", "null", empty) stands for "not given"; a quoted "" is a string. */
static int is_null(const yaml_node_t *n) {
    if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *t = text(n);
    return !t[0] || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static void describe(const yaml_node_t *n, char *buf, size_t size) {
    if (!n)
        snprintf(buf, size, "nothing");
    else if (n->type == YAML_MAPPING_NODE)
        snprintf(buf, size,
                 n->data.mapping.pairs.start == n->data.mapping.pairs.top ? "an empty mapping" : "a mapping");
    else if (n->type == YAML_SEQUENCE_NODE)
        snprintf(buf, size, n->data.sequence.items.start == n->data.sequence.items.top ? "an empty list" : "a list");
    else
        snprintf(buf, size, "\"%.60s\"", text(n));
}

static ws_status fail(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ws_status fail(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return wsi_error(c->err, WS_EINVAL, "%s:%lu:%lu: %s: %s", c->file, (unsigned long)n->start_mark.line + 1,
                         (unsigned long)n->start_mark.column + 1, key, msg);
    return wsi_error(c->err, WS_EINVAL, "%s: %s: %s", c->file, key, msg);
}

static ws_status want(ctx *c, const yaml_node_t *n, const char *key, const char *what) {
    char got[96];
    describe(n, got, sizeof got);
    return fail(c, n, key, "expected %s, got %s", what, got);
}

static int line_of(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }

/* Key paths are short (a few names deep); a truncated one is still a useful message. */
static void join(char *out, size_t size, const char *parent, const char *key) {
    if (snprintf(out, size, "%s%s%s", parent, parent[0] ? "." : "", key) >= (int)size) out[size - 1] = 0;
}

static void join_index(char *out, size_t size, const char *parent, size_t i) {
    if (snprintf(out, size, "%s[%zu]", parent, i) >= (int)size) out[size - 1] = 0;
}

/* ---- scalars ---- */

static ws_status get_string(ctx *c, const yaml_node_t *n, const char *key, char *dst, size_t size) {
    if (!is_scalar(n)) return want(c, n, key, "a string");
    if (strlen(text(n)) >= size) return fail(c, n, key, "longer than %zu characters", size - 1);
    snprintf(dst, size, "%s", text(n));
    return WS_OK;
}

static ws_status get_long(ctx *c, const yaml_node_t *n, const char *key, long lo, long hi, long *out) {
    if (!is_scalar(n)) return want(c, n, key, "an integer");
    char *end = NULL;
    errno = 0;
    long v = strtol(text(n), &end, 10);
    if (errno || end == text(n) || *end) return want(c, n, key, "an integer");
    if (v < lo || v > hi) return fail(c, n, key, "%ld is out of range (%ld to %ld)", v, lo, hi);
    *out = v;
    return WS_OK;
}

static ws_status get_int(ctx *c, const yaml_node_t *n, const char *key, long lo, long hi, int *out) {
    long v = 0;
    ws_status st = get_long(c, n, key, lo, hi, &v);
    if (st == WS_OK) *out = (int)v;
    return st;
}

static ws_status get_double(ctx *c, const yaml_node_t *n, const char *key, double lo, double hi, double *out) {
    if (!is_scalar(n)) return want(c, n, key, "a number");
    char *end = NULL;
    errno = 0;
    double v = strtod(text(n), &end);
    if (errno || end == text(n) || *end || !isfinite(v)) return want(c, n, key, "a number");
    if (!(v >= lo && v <= hi)) return fail(c, n, key, "%g is out of range (%g to %g)", v, lo, hi);
    *out = v;
    return WS_OK;
}

/* YAML 1.1 booleans, as libyaml's users expect them */
static ws_status get_bool(ctx *c, const yaml_node_t *n, const char *key, int *out) {
    static const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (is_scalar(n))
        for (size_t i = 0; i < COUNT(yes); i++) {
            if (!strcmp(text(n), yes[i])) return *out = 1, WS_OK;
            if (!strcmp(text(n), no[i])) return *out = 0, WS_OK;
        }
    return want(c, n, key, "true or false");
}

/* choices "a|b|c" */
static ws_status get_choice(ctx *c, const yaml_node_t *n, const char *key, const char *choices, char *dst,
                            size_t size) {
    if (!is_scalar(n)) return want(c, n, key, choices);
    const char *t = text(n);
    size_t len = strlen(t);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == len && !strncmp(p, t, k) && len < size) {
            snprintf(dst, size, "%s", t);
            return WS_OK;
        }
        p += k + (bar != NULL);
    }
    return fail(c, n, key, "\"%.60s\" is not one of %s", t, choices);
}

/* "METRIC=VALUE" with METRIC one of WS_METRICS */
static ws_status get_target(ctx *c, const yaml_node_t *n, const char *key, char *metric, size_t size, double *value) {
    if (!is_scalar(n)) return want(c, n, key, "METRIC=VALUE (e.g. val_top1=0.75)");
    const char *t = text(n), *eq = strchr(t, '=');
    size_t k = eq ? (size_t)(eq - t) : 0;
    char *end = NULL;
    double v = eq ? strtod(eq + 1, &end) : NAN;
    if (!eq || k >= size || end == eq + 1 || *end || !isfinite(v))
        return want(c, n, key, "METRIC=VALUE (e.g. val_top1=0.75)");
    memcpy(metric, t, k);
    metric[k] = 0;
    if (!ws_metric_known(metric)) return fail(c, n, key, "metric \"%s\" is not one of " WS_METRICS, metric);
    *value = v;
    return WS_OK;
}

/* ---- growing arrays ---- */

static int grow(void **p, size_t n, size_t elem) {
    if (n & (n - 1)) return 0; /* capacity doubles at powers of two */
    void *q = realloc(*p, (n ? 2 * n : 1) * elem);
    if (!q) return -1;
    *p = q;
    return 0;
}

static ws_status push_str(ctx *c, char ***arr, size_t *n, const char *v) {
    char *d = strdup(v);
    if (!d || grow((void **)arr, *n, sizeof **arr)) {
        free(d);
        return wsi_error(c->err, WS_ENOMEM, "%s: out of memory", c->file);
    }
    (*arr)[(*n)++] = d;
    return WS_OK;
}

static ws_status push_flag(ctx *c, const char *flag, const char *value) {
    ws_status st = push_str(c, &c->s->train_args, &c->s->n_train_args, flag);
    if (st == WS_OK && value) st = push_str(c, &c->s->train_args, &c->s->n_train_args, value);
    return st;
}

/* ---- mappings: walk pairs against a list of known keys ---- */

typedef ws_status (*key_fn)(ctx *c, const char *key, const char *path, yaml_node_t *value);

static ws_status walk_mapping(ctx *c, yaml_node_t *map, const char *path, const char *known, key_fn fn) {
    if (!map || map->type != YAML_MAPPING_NODE) return want(c, map, path[0] ? path : "(top level)", "a mapping");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        if (!is_scalar(k)) return want(c, k, path[0] ? path : "(top level)", "a plain key");
        char full[256];
        join(full, sizeof full, path, text(k));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(text(node_at(c, q->key)), text(k)))
                return fail(c, k, full, "given twice (first at line %d)", line_of(node_at(c, q->key)));
        /* known: "|a|b|c|" */
        char probe[80];
        snprintf(probe, sizeof probe, "|%s|", text(k));
        if (!strstr(known, probe)) {
            char list[256];
            snprintf(list, sizeof list, "%s", known + 1);
            list[strlen(list) - 1] = 0;
            for (char *b = list; (b = strchr(b, '|')); b++)
                *b = ' ';
            return fail(c, k, full, "unknown key (known here: %s)", list);
        }
        if (is_null(v) || !fn) continue; /* "key:" alone means the default */
        ws_status st = fn(c, text(k), full, v);
        if (st != WS_OK) return st;
    }
    return WS_OK;
}

static yaml_node_t *find_key(ctx *c, yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(c, p->key);
        if (is_scalar(k) && !strcmp(text(k), key)) {
            yaml_node_t *v = node_at(c, p->value);
            return is_null(v) ? NULL : v;
        }
    }
    return NULL;
}

/* ---- settings every run shares: key -> `wattscale train` flag ---- */

typedef enum { V_STR, V_INT, V_NUM, V_BOOL, V_CHOICE, V_TARGET } vtype;

typedef struct {
    const char *path; /* dotted key */
    vtype type;
    const char *flag;     /* with the value; V_BOOL: the flag when true */
    const char *flag_off; /* V_BOOL: the flag when false (NULL: none) */
    const char *choices;  /* V_CHOICE */
    double lo, hi;
} train_opt;

#define MODELS "resnet18|resnet34|resnet50|resnet101|resnet152|afno"
static const train_opt train_opts[] = {
    {"model.name", V_CHOICE, "--model", NULL, MODELS, 0, 0},
    {"model.width", V_INT, "--width", NULL, NULL, 1, 4096},
    {"model.small_stem", V_BOOL, "--small-stem", "--imagenet-stem", NULL, 0, 0},
    {"model.zero_init_residual", V_BOOL, "--zero-init-residual", NULL, NULL, 0, 0},
    {"data.spec", V_STR, "--data", NULL, NULL, 0, 0},
    {"data.synthetic_shape", V_STR, "--synthetic-shape", NULL, NULL, 0, 0},
    {"data.synthetic_classes", V_INT, "--synthetic-classes", NULL, NULL, 2, 1000000},
    {"data.synthetic_count", V_INT, "--synthetic-count", NULL, NULL, 1, 100000000},
    {"data.val_limit", V_INT, "--val-limit", NULL, NULL, 0, 1e9},
    {"device", V_CHOICE, "--device", NULL, "cpu|cuda", 0, 0},
    {"precision", V_CHOICE, "--precision", NULL, "fp32|tf32|bf16|fp16", 0, 0},
    {"stopping.epochs", V_INT, "--epochs", NULL, NULL, 1, 1000000},
    {"stopping.steps", V_INT, "--steps", NULL, NULL, 1, 1e9},
    {"stopping.target", V_TARGET, "--target", NULL, NULL, 0, 0},
    {"optimizer.name", V_CHOICE, "--optimizer", NULL, "sgd|lars|adam|adamw", 0, 0},
    {"optimizer.lr", V_NUM, "--lr", NULL, NULL, 0, 1000},
    {"optimizer.lr_rule", V_CHOICE, "--lr-rule", NULL, "linear|sqrt|none", 0, 0},
    {"optimizer.warmup_epochs", V_NUM, "--warmup-epochs", NULL, NULL, 0, 1e6},
    {"optimizer.schedule", V_CHOICE, "--schedule", NULL, "plateau|cosine|multistep|poly|constant", 0, 0},
    {"optimizer.schedule_epochs", V_NUM, "--schedule-epochs", NULL, NULL, 0.001, 1e6},
    {"optimizer.momentum", V_NUM, "--momentum", NULL, NULL, 0, 1},
    {"optimizer.nesterov", V_BOOL, "--nesterov", NULL, NULL, 0, 0},
    {"optimizer.weight_decay", V_NUM, "--weight-decay", NULL, NULL, 0, 1},
    {"optimizer.decay_bn_bias", V_BOOL, NULL, "--no-decay-bn-bias", NULL, 0, 0},
    {"optimizer.plateau_factor", V_NUM, "--plateau-factor", NULL, NULL, 0, 1},
    {"optimizer.plateau_patience", V_INT, "--plateau-patience", NULL, NULL, 0, 1000000},
    {"optimizer.min_lr", V_NUM, "--min-lr", NULL, NULL, 0, 1000},
    {"optimizer.milestones", V_STR, "--milestones", NULL, NULL, 0, 0},
    {"optimizer.gamma", V_NUM, "--gamma", NULL, NULL, 0, 1},
    {"optimizer.label_smoothing", V_NUM, "--label-smoothing", NULL, NULL, 0, 0.999},
    {"train.eval_every", V_INT, "--eval-every", NULL, NULL, 0, 1000000},
    {"train.checkpoint_every", V_INT, "--checkpoint-every", NULL, NULL, 0, 1000000},
    {"train.log_every", V_INT, "--log-every", NULL, NULL, 0, 1e9},
    {"train.meter_interval_ms", V_NUM, "--meter-interval", NULL, NULL, 10, 60000},
    {"train.meter_gpus", V_CHOICE, "--meter-gpus", NULL, "used|all", 0, 0},
    {"train.bucket_mb", V_NUM, "--bucket-mb", NULL, NULL, 0.001, 65536},
    {"train.watchdog_s", V_NUM, "--watchdog", NULL, NULL, 0, 1e7},
};

/* the typed copies the plan, runner and analysis read */
static void keep_typed(ws_study *s, const char *path, const char *v) {
    if (!strcmp(path, "model.name"))
        snprintf(s->model, sizeof s->model, "%s", v);
    else if (!strcmp(path, "data.spec"))
        snprintf(s->data, sizeof s->data, "%s", v);
    else if (!strcmp(path, "device"))
        snprintf(s->device, sizeof s->device, "%s", v);
    else if (!strcmp(path, "precision"))
        snprintf(s->precision, sizeof s->precision, "%s", v);
    else if (!strcmp(path, "stopping.epochs"))
        s->epochs = atoi(v);
    else if (!strcmp(path, "stopping.steps"))
        s->steps = atol(v);
    else if (!strcmp(path, "data.synthetic_count"))
        s->synthetic_count = atol(v);
}

static ws_status train_value(ctx *c, const char *path, yaml_node_t *v) {
    for (size_t i = 0; i < COUNT(train_opts); i++) {
        const train_opt *o = &train_opts[i];
        if (strcmp(o->path, path)) continue;
        char buf[512], metric[16];
        long l;
        double d;
        int b;
        ws_status st = WS_OK;
        switch (o->type) {
        case V_STR:
            st = get_string(c, v, path, buf, sizeof buf);
            break;
        case V_INT:
            st = get_long(c, v, path, (long)o->lo, (long)o->hi, &l);
            break;
        case V_NUM:
            st = get_double(c, v, path, o->lo, o->hi, &d);
            break;
        case V_CHOICE:
            st = get_choice(c, v, path, o->choices, buf, sizeof buf);
            break;
        case V_TARGET:
            st = get_target(c, v, path, metric, sizeof metric, &d);
            break;
        case V_BOOL:
            if ((st = get_bool(c, v, path, &b)) != WS_OK) return st;
            if (b && o->flag) return push_flag(c, o->flag, NULL);
            if (!b && o->flag_off) return push_flag(c, o->flag_off, NULL);
            return WS_OK;
        }
        if (st != WS_OK) return st;
        keep_typed(c->s, path, text(v));
        return push_flag(c, o->flag, text(v));
    }
    WS_ASSERT(!"train_value: key listed as known but missing in train_opts");
    return WS_EINVAL;
}

/* "|name|width|...|" for one section of train_opts, plus extra keys */
static void known_keys(const char *section, const char *extra, char *out, size_t size) {
    size_t n = strlen(section);
    snprintf(out, size, "|%s", extra ? extra : "");
    for (size_t i = 0; i < COUNT(train_opts); i++)
        if (!strncmp(train_opts[i].path, section, n) && train_opts[i].path[n] == '.') {
            size_t len = strlen(out);
            snprintf(out + len, size - len, "%s|", train_opts[i].path + n + 1);
        }
}

static ws_status section_key(ctx *c, const char *key, const char *path, yaml_node_t *v) {
    if (!strcmp(path, "data.fraction")) return get_double(c, v, path, 1e-9, 1, &c->s->data_fraction);
    (void)key;
    return train_value(c, path, v);
}

static ws_status train_section(ctx *c, const char *name, yaml_node_t *v, const char *extra) {
    char known[768];
    known_keys(name, extra, known, sizeof known);
    return walk_mapping(c, v, name, known, section_key);
}

/* ---- series ---- */

static ws_status resolve_point(ctx *c, const char *path, const yaml_node_t *at, ws_study_point *p, int gbs, int lbs,
                               int accum) {
    /* any two of GBS, LBS, accum determine the third; accum alone defaults to 1 */
    if (gbs && lbs && accum) {
        if ((long)lbs * p->gpus * accum != gbs)
            return fail(c, at, path, "global_batch %d != local_batch %d x gpus %d x accum %d", gbs, lbs, p->gpus,
                        accum);
    } else if (gbs && lbs) {
        if (gbs % ((long)lbs * p->gpus))
            return fail(c, at, path, "global_batch %d is not a multiple of local_batch %d x gpus %d", gbs, lbs,
                        p->gpus);
        accum = (int)(gbs / ((long)lbs * p->gpus));
    } else if (gbs) {
        if (!accum) accum = 1;
        if (gbs % ((long)p->gpus * accum))
            return fail(c, at, path,
                        "global_batch %d does not split over %d GPUs x accum %d: give GPU counts that divide it", gbs,
                        p->gpus, accum);
        lbs = (int)(gbs / ((long)p->gpus * accum));
    } else if (lbs) {
        if (!accum) accum = 1;
        gbs = lbs * p->gpus * accum;
    } else {
        return fail(c, at, path, "needs global_batch or local_batch (any two of global_batch, local_batch, accum)");
    }
    p->global_batch = gbs;
    p->local_batch = lbs;
    p->accum = accum;
    p->line = line_of(at);
    return WS_OK;
}

typedef struct {
    yaml_node_t *name, *scaling, *dataset, *gpus, *gbs, *lbs, *accum, *points, *fraction;
} series_nodes;

static ws_status series_key(ctx *c, const char *key, const char *path, yaml_node_t *v) {
    (void)path;
    series_nodes *n = c->user;
    if (!strcmp(key, "name"))
        n->name = v;
    else if (!strcmp(key, "scaling"))
        n->scaling = v;
    else if (!strcmp(key, "dataset"))
        n->dataset = v;
    else if (!strcmp(key, "gpus"))
        n->gpus = v;
    else if (!strcmp(key, "global_batch"))
        n->gbs = v;
    else if (!strcmp(key, "local_batch"))
        n->lbs = v;
    else if (!strcmp(key, "accum"))
        n->accum = v;
    else if (!strcmp(key, "points"))
        n->points = v;
    else if (!strcmp(key, "data_fraction"))
        n->fraction = v;
    return WS_OK;
}

static ws_status opt_int(ctx *c, yaml_node_t *v, const char *parent, const char *key, int *out) {
    *out = 0;
    if (!v) return WS_OK;
    char path[256];
    join(path, sizeof path, parent, key);
    return get_int(c, v, path, 1, 1 << 24, out);
}

static ws_status parse_points(ctx *c, ws_study_series *se, const series_nodes *n, const char *path) {
    char sub[256];
    if (n->points) {
        if (n->gpus) return fail(c, n->gpus, path, "give gpus or points, not both");
        if (n->points->type != YAML_SEQUENCE_NODE ||
            n->points->data.sequence.items.start == n->points->data.sequence.items.top) {
            join(sub, sizeof sub, path, "points");
            return want(c, n->points, sub,
                        "a non-empty list of {gpus, global_batch, local_batch, accum, data_fraction}");
        }
    } else if (!n->gpus || n->gpus->type != YAML_SEQUENCE_NODE ||
               n->gpus->data.sequence.items.start == n->gpus->data.sequence.items.top) {
        join(sub, sizeof sub, path, "gpus");
        if (!n->gpus) return fail(c, n->name, sub, "missing (a list of GPU counts, e.g. [1, 2, 4])");
        return want(c, n->gpus, sub, "a non-empty list of GPU counts");
    }
    yaml_node_t *list = n->points ? n->points : n->gpus;
    size_t count = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    se->points = calloc(count, sizeof *se->points);
    if (!se->points) return wsi_error(c->err, WS_ENOMEM, "%s: out of memory", c->file);
    int gbs = 0, lbs = 0, accum = 0;
    ws_status st;
    if ((st = opt_int(c, n->gbs, path, "global_batch", &gbs)) != WS_OK ||
        (st = opt_int(c, n->lbs, path, "local_batch", &lbs)) != WS_OK ||
        (st = opt_int(c, n->accum, path, "accum", &accum)) != WS_OK)
        return st;
    double base = c->s->data_fraction;
    if (n->fraction) {
        join(sub, sizeof sub, path, "data_fraction");
        if ((st = get_double(c, n->fraction, sub, 1e-9, 1, &base)) != WS_OK) return st;
    }
    if (n->points && (gbs || lbs || accum))
        return fail(c,
                    n->gbs   ? n->gbs
                    : n->lbs ? n->lbs
                             : n->accum,
                    path, "with points, give the batch sizes in each point");
    if (!n->points && se->scaling == WS_SCALING_CONSTANT_GBS && !gbs)
        return fail(c, n->name, path, "constant_gbs needs global_batch");
    if (!n->points && se->scaling == WS_SCALING_CONSTANT_LBS && !lbs)
        return fail(c, n->name, path, "constant_lbs needs local_batch");
    if (se->scaling == WS_SCALING_CONSTANT_LBS && gbs)
        return fail(c, n->gbs, path, "constant_lbs takes local_batch (and accum), not global_batch");

    int max_gpus = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = node_at(c, list->data.sequence.items.start[i]);
        ws_study_point *p = &se->points[i];
        char ipath[256];
        join(sub, sizeof sub, path, n->points ? "points" : "gpus");
        join_index(ipath, sizeof ipath, sub, i);
        int pg = gbs, pl = lbs, pa = accum;
        p->data_fraction = NAN;
        if (n->points) {
            /* keys checked here, values read with find_key below */
            if ((st = walk_mapping(c, item, ipath, "|gpus|global_batch|local_batch|accum|data_fraction|", NULL)) !=
                WS_OK)
                return st;
            yaml_node_t *g = find_key(c, item, "gpus");
            if (!g) return fail(c, item, ipath, "missing gpus");
            char kp[256];
            join(kp, sizeof kp, ipath, "gpus");
            if ((st = get_int(c, g, kp, 1, 1 << 20, &p->gpus)) != WS_OK ||
                (st = opt_int(c, find_key(c, item, "global_batch"), ipath, "global_batch", &pg)) != WS_OK ||
                (st = opt_int(c, find_key(c, item, "local_batch"), ipath, "local_batch", &pl)) != WS_OK ||
                (st = opt_int(c, find_key(c, item, "accum"), ipath, "accum", &pa)) != WS_OK)
                return st;
            yaml_node_t *f = find_key(c, item, "data_fraction");
            join(kp, sizeof kp, ipath, "data_fraction");
            if (f && (st = get_double(c, f, kp, 1e-9, 1, &p->data_fraction)) != WS_OK) return st;
        } else if ((st = get_int(c, item, ipath, 1, 1 << 20, &p->gpus)) != WS_OK) {
            return st;
        }
        if ((st = resolve_point(c, ipath, item, p, pg, pl, pa)) != WS_OK) return st;
        for (size_t j = 0; j < i; j++)
            if (se->points[j].gpus == p->gpus && se->points[j].global_batch == p->global_batch &&
                se->points[j].local_batch == p->local_batch)
                return fail(c, item, ipath, "the same point as %s[%zu] (gpus %d, global_batch %d)",
                            n->points ? "points" : "gpus", j, p->gpus, p->global_batch);
        /* explicit points of a constant_gbs (constant_lbs) series must keep it constant */
        if (n->points && i > 0 && se->scaling == WS_SCALING_CONSTANT_GBS &&
            p->global_batch != se->points[0].global_batch)
            return fail(c, item, ipath, "global_batch %d, but this constant_gbs series started with %d",
                        p->global_batch, se->points[0].global_batch);
        if (n->points && i > 0 && se->scaling == WS_SCALING_CONSTANT_LBS && p->local_batch != se->points[0].local_batch)
            return fail(c, item, ipath, "local_batch %d, but this constant_lbs series started with %d", p->local_batch,
                        se->points[0].local_batch);
        if (p->gpus > max_gpus) max_gpus = p->gpus;
        se->n_points++;
    }
    for (size_t i = 0; i < count; i++) {
        ws_study_point *p = &se->points[i];
        if (!isnan(p->data_fraction)) continue;
        p->data_fraction = se->growing ? base * p->gpus / max_gpus : base;
    }
    return WS_OK;
}

static int valid_name(const char *s) {
    if (!s[0]) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static ws_status parse_series(ctx *c, yaml_node_t *list) {
    if (list->type != YAML_SEQUENCE_NODE || list->data.sequence.items.start == list->data.sequence.items.top)
        return want(c, list, "series", "a non-empty list of series");
    size_t count = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    c->s->series = calloc(count, sizeof *c->s->series);
    if (!c->s->series) return wsi_error(c->err, WS_ENOMEM, "%s: out of memory", c->file);
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = node_at(c, list->data.sequence.items.start[i]);
        char path[64], sub[96];
        join_index(path, sizeof path, "series", i);
        series_nodes n = {0};
        c->user = &n;
        ws_status st =
            walk_mapping(c, item, path,
                         "|name|scaling|dataset|gpus|global_batch|local_batch|accum|points|data_fraction|", series_key);
        c->user = NULL;
        if (st != WS_OK) return st;
        ws_study_series *se = &c->s->series[c->s->n_series++];
        se->line = line_of(item);
        join(sub, sizeof sub, path, "name");
        if (!n.name) return fail(c, item, sub, "missing (every series has a name)");
        if ((st = get_string(c, n.name, sub, se->name, sizeof se->name)) != WS_OK) return st;
        if (!valid_name(se->name)) return fail(c, n.name, sub, "use letters, digits, '-', '_' and '.' only");
        for (size_t j = 0; j + 1 < c->s->n_series; j++)
            if (!strcmp(c->s->series[j].name, se->name))
                return fail(c, n.name, sub, "\"%s\" names series[%zu] already", se->name, j);
        char buf[32] = "points";
        join(sub, sizeof sub, path, "scaling");
        if (n.scaling &&
            (st = get_choice(c, n.scaling, sub, "constant_gbs|constant_lbs|points", buf, sizeof buf)) != WS_OK)
            return st;
        if (!n.scaling && !n.points) return fail(c, item, sub, "missing (constant_gbs, constant_lbs, or give points)");
        se->scaling = !strcmp(buf, "constant_gbs")   ? WS_SCALING_CONSTANT_GBS
                      : !strcmp(buf, "constant_lbs") ? WS_SCALING_CONSTANT_LBS
                                                     : WS_SCALING_POINTS;
        snprintf(buf, sizeof buf, "constant");
        join(sub, sizeof sub, path, "dataset");
        if (n.dataset && (st = get_choice(c, n.dataset, sub, "constant|growing", buf, sizeof buf)) != WS_OK) return st;
        se->growing = !strcmp(buf, "growing");
        if ((st = parse_points(c, se, &n, path)) != WS_OK) return st;
    }
    return WS_OK;
}

/* ---- launcher, analysis, estimate ---- */

static ws_status env_key(ctx *c, const char *key, const char *path, yaml_node_t *v) {
    ws_study_launcher *l = &c->s->launcher;
    if (strlen(key) >= sizeof l->env[0].key) return fail(c, v, path, "name too long");
    if (grow((void **)&l->env, l->n_env, sizeof *l->env)) return wsi_error(c->err, WS_ENOMEM, "out of memory");
    ws_study_env *e = &l->env[l->n_env];
    snprintf(e->key, sizeof e->key, "%s", key);
    ws_status st = get_string(c, v, path, e->value, sizeof e->value);
    if (st == WS_OK) l->n_env++;
    return st;
}

static ws_status launcher_key(ctx *c, const char *key, const char *path, yaml_node_t *v) {
    ws_study_launcher *l = &c->s->launcher;
    if (!strcmp(key, "type")) return WS_OK; /* read first, by parse_launcher */
    if (!strcmp(key, "env")) {
        char known[1024] = "|";
        /* any variable name: accept every key of this mapping */
        if (v->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
                yaml_node_t *k = node_at(c, p->key);
                size_t len = strlen(known);
                if (is_scalar(k)) snprintf(known + len, sizeof known - len, "%s|", text(k));
            }
        return walk_mapping(c, v, path, known, env_key);
    }
    if (!strcmp(key, "mpirun")) return get_string(c, v, path, l->mpirun, sizeof l->mpirun);
    if (!strcmp(key, "mpirun_single")) return get_bool(c, v, path, &l->mpirun_single);
    if (!strcmp(key, "cpu_threads")) {
        if (is_scalar(v) && !strcmp(text(v), "auto")) return l->cpu_threads = 0, WS_OK;
        if (is_scalar(v) && !strcmp(text(v), "none")) return l->cpu_threads = -1, WS_OK;
        if (!is_scalar(v) || strspn(text(v), "0123456789") != strlen(text(v)))
            return want(c, v, path, "auto, none or a thread count");
        return get_int(c, v, path, 1, 4096, &l->cpu_threads);
    }
    if (!strcmp(key, "gpus_per_node")) return get_int(c, v, path, 1, 1024, &l->gpus_per_node);
    if (!strcmp(key, "cpus_per_task")) return get_int(c, v, path, 1, 4096, &l->cpus_per_task);
    if (!strcmp(key, "exclusive")) return get_bool(c, v, path, &l->exclusive);
    if (!strcmp(key, "time")) {
        ws_status st = get_string(c, v, path, l->time_limit, sizeof l->time_limit);
        if (st == WS_OK && strspn(l->time_limit, "0123456789:-") != strlen(l->time_limit))
            return want(c, v, path, "a Slurm time limit (MINUTES, HH:MM:SS or D-HH:MM:SS)");
        return st;
    }
    if (!strcmp(key, "partition")) return get_string(c, v, path, l->partition, sizeof l->partition);
    if (!strcmp(key, "account")) return get_string(c, v, path, l->account, sizeof l->account);
    if (!strcmp(key, "gpu_request")) return get_string(c, v, path, l->gpu_request, sizeof l->gpu_request);
    if (!strcmp(key, "srun")) return get_string(c, v, path, l->srun, sizeof l->srun);
    if (!strcmp(key, "poll_s")) return get_double(c, v, path, 0.01, 3600, &l->poll_s);
    if (!strcmp(key, "sbatch")) {
        if (v->type != YAML_SEQUENCE_NODE) return want(c, v, path, "a list of #SBATCH options");
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = node_at(c, *it);
            char ipath[160], line[512];
            join_index(ipath, sizeof ipath, path, (size_t)(it - v->data.sequence.items.start));
            ws_status st = get_string(c, e, ipath, line, sizeof line);
            if (st == WS_OK && strchr(line, '\n')) st = fail(c, e, ipath, "one option per item, without newlines");
            if (st == WS_OK) st = push_str(c, &l->sbatch_lines, &l->n_sbatch_lines, line);
            if (st != WS_OK) return st;
        }
        return WS_OK;
    }
    WS_ASSERT(!"launcher_key: known key not handled");
    return WS_EINVAL;
}

static ws_status parse_launcher(ctx *c, yaml_node_t *v) {
    ws_study_launcher *l = &c->s->launcher;
    char type[16] = "";
    yaml_node_t *t = v->type == YAML_MAPPING_NODE ? find_key(c, v, "type") : v;
    if (!t) return fail(c, v, "launcher.type", "missing (local or slurm)");
    ws_status st = get_choice(c, t, v == t ? "launcher" : "launcher.type", "local|slurm", type, sizeof type);
    if (st != WS_OK) return st;
    l->kind = !strcmp(type, "slurm") ? WS_LAUNCHER_SLURM : WS_LAUNCHER_LOCAL;
    if (v == t) return WS_OK;
    return walk_mapping(c, v, "launcher",
                        l->kind == WS_LAUNCHER_LOCAL
                            ? "|type|env|mpirun|mpirun_single|cpu_threads|"
                            : "|type|env|gpus_per_node|cpus_per_task|exclusive|time|partition|account|gpu_request|"
                              "srun|sbatch|poll_s|",
                        launcher_key);
}

static ws_status analysis_key(ctx *c, const char *key, const char *path, yaml_node_t *v) {
    ws_study *s = c->s;
    if (!strcmp(key, "metric"))
        return get_choice(c, v, path, WS_METRICS, s->metric, sizeof s->metric);
    if (!strcmp(key, "target"))
        return get_target(c, v, path, s->target_metric, sizeof s->target_metric, &s->target_value);
    if (!strcmp(key, "degradation_tolerance")) return get_double(c, v, path, 0, 1e6, &s->degradation_tolerance);
    WS_ASSERT(!"analysis_key: known key not handled");
    return WS_EINVAL;
}

static ws_status estimate_key(ctx *c, const char *key, const char *path, yaml_node_t *v) {
    (void)key;
    return get_double(c, v, path, 1e-9, 1e12, &c->s->estimate_samples_per_device_s);
}

static ws_status train_args_list(ctx *c, yaml_node_t *v) {
    if (v->type != YAML_SEQUENCE_NODE) return want(c, v, "train_args", "a list of `wattscale train` flags");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = node_at(c, *it);
        char path[64], arg[512];
        join_index(path, sizeof path, "train_args", (size_t)(it - v->data.sequence.items.start));
        ws_status st = get_string(c, e, path, arg, sizeof arg);
        if (st != WS_OK) return st;
        static const char *owned[] = {"--out",         "--resume", "--seed",          "--global-batch",
                                      "--local-batch", "--accum",  "--data-fraction", "--threads"};
        for (size_t k = 0; k < COUNT(owned); k++)
            if (!strcmp(arg, owned[k])) return fail(c, e, path, "%s is set by the study runner for each run", arg);
        if ((st = push_str(c, &c->s->train_args, &c->s->n_train_args, arg)) != WS_OK) return st;
    }
    return WS_OK;
}

/* ---- top level ---- */

static ws_status top_key(ctx *c, const char *key, const char *path, yaml_node_t *v) {
    ws_study *s = c->s;
    if (!strcmp(key, "study")) {
        ws_status st = get_string(c, v, path, s->name, sizeof s->name);
        if (st == WS_OK && !valid_name(s->name)) return fail(c, v, path, "use letters, digits, '-', '_' and '.' only");
        return st;
    }
    if (!strcmp(key, "description")) return is_scalar(v) ? WS_OK : want(c, v, path, "a string");
    if (!strcmp(key, "database")) return get_string(c, v, path, s->database, sizeof s->database);
    if (!strcmp(key, "runs_dir")) return get_string(c, v, path, s->runs_dir, sizeof s->runs_dir);
    if (!strcmp(key, "seed")) return get_long(c, v, path, 0, 0x7fffffffL - 100000, &s->seed);
    if (!strcmp(key, "repetitions")) return get_int(c, v, path, 1, 1000, &s->repetitions);
    if (!strcmp(key, "device") || !strcmp(key, "precision")) return train_value(c, key, v);
    if (!strcmp(key, "model")) return train_section(c, "model", v, NULL);
    if (!strcmp(key, "data")) return train_section(c, "data", v, "fraction|");
    if (!strcmp(key, "stopping")) return train_section(c, "stopping", v, NULL);
    if (!strcmp(key, "optimizer")) return train_section(c, "optimizer", v, NULL);
    if (!strcmp(key, "train")) return train_section(c, "train", v, NULL);
    if (!strcmp(key, "train_args")) return train_args_list(c, v);
    if (!strcmp(key, "series")) return parse_series(c, v);
    if (!strcmp(key, "launcher")) return parse_launcher(c, v);
    if (!strcmp(key, "analysis"))
        return walk_mapping(c, v, path, "|metric|target|degradation_tolerance|", analysis_key);
    if (!strcmp(key, "estimate")) return walk_mapping(c, v, path, "|samples_per_device_s|", estimate_key);
    WS_ASSERT(!"top_key: known key not handled");
    return WS_EINVAL;
}

#define TOP_KEYS                                                                                                       \
    "|study|description|database|runs_dir|model|data|device|precision|stopping|optimizer|train|train_args|seed|"       \
    "repetitions|series|launcher|analysis|estimate|"

static void set_defaults(ws_study *s) {
    s->data_fraction = 1;
    s->repetitions = 1;
    s->synthetic_count = 2560; /* wattscale train's default */
    snprintf(s->device, sizeof s->device, "cpu");
    snprintf(s->precision, sizeof s->precision, "fp32");
    s->degradation_tolerance = 0.01;
    s->estimate_samples_per_device_s = NAN;
    ws_study_launcher *l = &s->launcher;
    snprintf(l->mpirun, sizeof l->mpirun, "mpirun -np {ranks}");
    l->gpus_per_node = 4;
    snprintf(l->gpu_request, sizeof l->gpu_request, "--gpus-per-node={gpus_per_node}");
    snprintf(l->srun, sizeof l->srun, "srun");
    snprintf(l->time_limit, sizeof l->time_limit, "24:00:00");
    l->poll_s = 30;
}

static ws_status check_required(ctx *c, yaml_node_t *root) {
    ws_study *s = c->s;
    if (!s->name[0]) return fail(c, root, "study", "missing (the study's name)");
    if (!s->model[0])
        return fail(c, find_key(c, root, "model") ? find_key(c, root, "model") : root, "model.name", "missing");
    if (!s->data[0])
        return fail(c, find_key(c, root, "data") ? find_key(c, root, "data") : root, "data.spec", "missing");
    yaml_node_t *stop = find_key(c, root, "stopping");
    if (s->epochs && s->steps) return fail(c, stop, "stopping", "give epochs or steps, not both");
    if (!s->epochs && !s->steps) return fail(c, stop ? stop : root, "stopping", "missing (epochs: N or steps: N)");
    if (!s->n_series) return fail(c, root, "series", "missing (a list of series)");
    if (s->launcher.kind == WS_LAUNCHER_LOCAL) {
        if (!strstr(s->launcher.mpirun, "{ranks}"))
            return fail(c, find_key(c, find_key(c, root, "launcher"), "mpirun"), "launcher.mpirun",
                        "the template must contain {ranks}");
    }
    /* the metric by default: the forecast skill for FourCastNet, top-1 for the classifiers */
    if (!s->metric[0])
        snprintf(s->metric, sizeof s->metric, "%s", strcmp(s->model, "afno") ? "val_top1" : "val_rmse_norm");
    if (!s->database[0]) snprintf(s->database, sizeof s->database, "out/%s/study.db", s->name);
    if (!s->runs_dir[0]) snprintf(s->runs_dir, sizeof s->runs_dir, "out/%s/runs", s->name);
    return WS_OK;
}

static ws_status parse_text(ctx *c, const char *src) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return wsi_error(c->err, WS_ENOMEM, "%s: yaml_parser_initialize failed", c->file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)src, strlen(src));
    ws_status st = WS_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        const yaml_mark_t *m = &parser.problem_mark;
        if (parser.context)
            st = wsi_error(c->err, WS_EINVAL, "%s:%lu:%lu: YAML syntax error: %s (%s at line %lu)", c->file,
                           (unsigned long)m->line + 1, (unsigned long)m->column + 1,
                           parser.problem ? parser.problem : "unknown", parser.context,
                           (unsigned long)parser.context_mark.line + 1);
        else
            st = wsi_error(c->err, WS_EINVAL, "%s:%lu:%lu: YAML syntax error: %s", c->file, (unsigned long)m->line + 1,
                           (unsigned long)m->column + 1, parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        return st;
    }
    c->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        st = wsi_error(c->err, WS_EINVAL, "%s: empty study file (see docs/study-file.md for an example)", c->file);
    else
        st = walk_mapping(c, root, "", TOP_KEYS, top_key);
    if (st == WS_OK) st = check_required(c, root);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}

ws_status ws_study_load(ws_study *out, const char *path, ws_error *err) {
    memset(out, 0, sizeof *out);
    if (!path || strlen(path) >= sizeof out->path)
        return wsi_error(err, WS_EINVAL, "study file path missing or too long");
    ws_status st = ws_read_file(path, &out->text, NULL, err);
    if (st != WS_OK) return st;
    snprintf(out->path, sizeof out->path, "%s", path);
    set_defaults(out);
    ctx c = {path, NULL, out, err, NULL};
    st = parse_text(&c, out->text);
    if (st != WS_OK) ws_study_free(out);
    return st;
}

void ws_study_free(ws_study *s) {
    if (!s) return;
    free(s->text);
    for (size_t i = 0; i < s->n_train_args; i++)
        free(s->train_args[i]);
    free(s->train_args);
    for (size_t i = 0; i < s->n_series; i++)
        free(s->series[i].points);
    free(s->series);
    free(s->launcher.env);
    for (size_t i = 0; i < s->launcher.n_sbatch_lines; i++)
        free(s->launcher.sbatch_lines[i]);
    free(s->launcher.sbatch_lines);
    memset(s, 0, sizeof *s);
}

const char *ws_study_scaling_name(ws_scaling k) {
    return k == WS_SCALING_CONSTANT_GBS ? "constant_gbs" : k == WS_SCALING_CONSTANT_LBS ? "constant_lbs" : "points";
}
