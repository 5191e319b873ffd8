/* analysis/csv.c - the CSV writer; contract in analysis/csv.h. */
#include "analysis/csv.h"
#include "core/error.h"

#include <errno.h>
#include <math.h>
#include <string.h>

ws_status ws_csv_open(ws_csv *c, const char *path, ws_error *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    if (!(c->f = fopen(path, "w"))) return wsi_error(err, WS_EIO, "write %s: %s", path, strerror(errno));
    return WS_OK;
}

ws_status ws_csv_close(ws_csv *c, ws_error *err) {
    if (!c->f) return WS_OK;
    int bad = ferror(c->f);
    bad |= fclose(c->f) != 0;
    c->f = NULL;
    return bad ? wsi_error(err, WS_EIO, "write %s: %s", c->path, strerror(errno)) : WS_OK;
}

static void sep(ws_csv *c) {
    if (c->fields++) fputc(',', c->f);
}

void ws_csv_header(ws_csv *c, const char *names) {
    fputs(names, c->f);
    fputc('\n', c->f);
}

void ws_csv_str(ws_csv *c, const char *s) {
    sep(c);
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, c->f);
        return;
    }
    fputc('"', c->f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', c->f);
        fputc(*s, c->f);
    }
    fputc('"', c->f);
}

void ws_csv_num(ws_csv *c, double x) {
    sep(c);
    if (isfinite(x)) fprintf(c->f, "%.10g", x);
}

void ws_csv_int(ws_csv *c, long x) {
    sep(c);
    fprintf(c->f, "%ld", x);
}

void ws_csv_row(ws_csv *c) {
    fputc('\n', c->f);
    c->fields = 0;
}
