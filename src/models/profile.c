/* models/profile.c - per-node timing of a model's forward and backward (contract:
 * models/profile.h). A linear table: a ResNet-50 has a few dozen distinct (kind, shape)
 * rows. */
#include "models/profile.h"
#include "core/timeutil.h"
#include "ops/mem.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char kind[24], shape[48];
    long calls;
    double total_s;
} row;

struct ws_profile {
    row *rows;
    size_t n, cap;
    double t0;
};

ws_profile *ws_profile_open_from_env(void) {
    const char *v = getenv("WATTSCALE_PROFILE");
    if (!v || *v != '1') return NULL;
    return calloc(1, sizeof(ws_profile));
}

void ws_profile_begin(ws_profile *p, const ws_exec *ex) {
    if (!p) return;
    ws_exec_sync(ex, NULL);
    p->t0 = ws_now_s();
}

void ws_profile_end(ws_profile *p, const ws_exec *ex, const char *kind, const char *shape) {
    if (!p) return;
    ws_exec_sync(ex, NULL);
    double dt = ws_now_s() - p->t0;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->rows[i].kind, kind) && !strcmp(p->rows[i].shape, shape)) {
            p->rows[i].calls++;
            p->rows[i].total_s += dt;
            return;
        }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        row *r = realloc(p->rows, cap * sizeof *r);
        if (!r) return;
        p->rows = r;
        p->cap = cap;
    }
    row *r = &p->rows[p->n++];
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    snprintf(r->shape, sizeof r->shape, "%s", shape);
    r->calls = 1;
    r->total_s = dt;
}

static int by_total(const void *a, const void *b) {
    double x = ((const row *)a)->total_s, y = ((const row *)b)->total_s;
    return x < y ? 1 : x > y ? -1 : 0;
}

void ws_profile_report(const ws_profile *p, const char *name, FILE *f) {
    if (!p || !p->n) return;
    row *s = malloc(p->n * sizeof *s);
    if (!s) return;
    memcpy(s, p->rows, p->n * sizeof *s);
    qsort(s, p->n, sizeof *s, by_total);
    /* per kind first (rows of one kind summed over their shapes), then the rows */
    double total = 0;
    for (size_t i = 0; i < p->n; i++) total += s[i].total_s;
    fprintf(f, "profile of %s (WATTSCALE_PROFILE=1; one sync per node, so proportions only): %.3f s in %zu rows\n",
            name, total, p->n);
    for (size_t i = 0; i < p->n; i++) {
        int first = 1;
        for (size_t j = 0; j < i && first; j++) first = strcmp(s[j].kind, s[i].kind) != 0;
        if (!first) continue;
        double sum = 0;
        for (size_t j = i; j < p->n; j++)
            if (!strcmp(s[j].kind, s[i].kind)) sum += s[j].total_s;
        fprintf(f, "  %-16s %8.3f s  %5.1f%%\n", s[i].kind, sum, 100 * sum / total);
    }
    for (size_t i = 0; i < p->n && i < 40; i++)
        fprintf(f, "  %-16s %-40s %6ld calls %8.3f s %5.1f%%  %.3f ms/call\n", s[i].kind, s[i].shape, s[i].calls,
                s[i].total_s, 100 * s[i].total_s / total, 1e3 * s[i].total_s / s[i].calls);
    free(s);
}

void ws_profile_close(ws_profile *p) {
    if (!p) return;
    free(p->rows);
    free(p);
}
