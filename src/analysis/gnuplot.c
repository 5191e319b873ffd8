/* analysis/gnuplot.c - figure scripts, data and drawing; contract in analysis/gnuplot.h. */
#include "analysis/gnuplot.h"
#include "core/error.h"
#include "core/proc.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* a gnuplot string literal in single quotes ('' is a quote inside) */
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        if (*s != '\n') fputc(*s, f);
    }
    fputc('\'', f);
}

ws_status ws_gnuplot_open(ws_gnuplot_fig *f, const char *dir, const char *name, const char *title, const char *xlabel,
                          const char *ylabel, const char *setup, ws_error *err) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    snprintf(f->name, sizeof f->name, "%s", name);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.dat", dir, name);
    if (!(f->dat = fopen(path, "w"))) return wsi_error(err, WS_EIO, "write %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s.gp", dir, name);
    if (!(f->gp = fopen(path, "w"))) {
        fclose(f->dat);
        return wsi_error(err, WS_EIO, "write %s: %s", path, strerror(errno));
    }
    if (!(f->plot_f = open_memstream(&f->plot, &f->plot_len))) {
        fclose(f->dat);
        fclose(f->gp);
        return wsi_error(err, WS_ENOMEM, "figure %s: out of memory", name);
    }
    fprintf(f->dat, "# %s: data of %s.gp (written by wattscale report)\n", name, name);
    FILE *g = f->gp;
    fprintf(g, "# %s.gp - a wattscale report figure: %s\n", name, title);
    fprintf(g, "# Data: %s.dat, blocks separated by two blank lines (index 0, 1, ...).\n", name);
    fprintf(g, "# Restyle freely, then in this folder: gnuplot -e 'fmt=\"svg\"' %s.gp   (or fmt=\"png\")\n", name);
    fprintf(g, "if (!exists(\"fmt\")) fmt = \"svg\"\n");
    fprintf(g,
            "if (fmt eq \"png\") {\n"
            "    if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
            "        set terminal pngcairo size 960,600 font \"sans,11\" noenhanced\n"
            "    } else {\n"
            "        set terminal png size 960,600 noenhanced\n"
            "    }\n"
            "    set output \"%s.png\"\n"
            "} else {\n"
            "    set terminal svg size 720,450 font \"sans,12\" noenhanced background rgb \"white\"\n"
            "    set output \"%s.svg\"\n"
            "}\n",
            name, name);
    fprintf(g, "set title ");
    put_quoted(g, title);
    fprintf(g, "\nset xlabel ");
    put_quoted(g, xlabel);
    fprintf(g, "\nset ylabel ");
    put_quoted(g, ylabel);
    fprintf(
        g,
        "\nset grid\nset key at screen 0.5, screen 0.01 center bottom horizontal box\nset bmargin 5\nset border lw 1\n"
        "set offsets graph 0.04, graph 0.04, graph 0.06, graph 0.06  # keep points off the border\n");
    if (setup && setup[0]) fprintf(g, "%s\n", setup);
    return WS_OK;
}

int ws_gnuplot_block(ws_gnuplot_fig *f, const char *label, const char *columns) {
    if (f->blocks) fprintf(f->dat, "\n\n");
    fprintf(f->dat, "# block %d: %s\n# %s\n", f->blocks, label, columns);
    return f->blocks++;
}

void ws_gnuplot_num(ws_gnuplot_fig *f, double x, int last) {
    if (isfinite(x))
        fprintf(f->dat, "%.10g", x);
    else
        fputs("NaN", f->dat);
    fputc(last ? '\n' : ' ', f->dat);
}

void ws_gnuplot_plot(ws_gnuplot_fig *f, const char *fmt, ...) {
    if (ftell(f->plot_f) > 0) fputs(", \\\n     ", f->plot_f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f->plot_f, fmt, ap);
    va_end(ap);
}

ws_status ws_gnuplot_close(ws_gnuplot_fig *f, ws_error *err) {
    fclose(f->plot_f);
    f->plot_f = NULL;
    fprintf(f->gp, "plot %s\n", f->plot && f->plot[0] ? f->plot : "NaN notitle");
    fprintf(f->gp, "set output\n");
    free(f->plot);
    f->plot = NULL;
    int bad = ferror(f->dat) | ferror(f->gp);
    bad |= fclose(f->dat) != 0;
    bad |= fclose(f->gp) != 0;
    f->dat = f->gp = NULL;
    if (bad) return wsi_error(err, WS_EIO, "write figure %s/%s: %s", f->dir, f->name, strerror(errno));
    return WS_OK;
}

void ws_gnuplot_discard(ws_gnuplot_fig *f) {
    if (f->plot_f) fclose(f->plot_f);
    free(f->plot);
    if (f->dat) fclose(f->dat);
    if (f->gp) fclose(f->gp);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.dat", f->dir, f->name);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.gp", f->dir, f->name);
    unlink(path);
    memset(f, 0, sizeof *f);
}

const char *ws_gnuplot_find(void) {
    const char *env = getenv("WATTSCALE_GNUPLOT");
    if (env && env[0]) return ws_proc_on_path(env) ? env : NULL;
    return ws_proc_on_path("gnuplot") ? "gnuplot" : NULL;
}

ws_status ws_gnuplot_draw(const char *gnuplot, const char *dir, const char *name, const char *fmt, ws_error *err) {
    char setup[2400], script[128], out_path[1200];
    /* cd first, so the script finds NAME.dat and writes NAME.fmt beside itself; the folder
     * as a gnuplot string literal ('' is a quote) */
    size_t n = (size_t)snprintf(setup, sizeof setup, "cd '");
    for (const char *p = dir; *p && n + 4 < sizeof setup; p++) {
        if (*p == '\'') setup[n++] = '\'';
        setup[n++] = *p;
    }
    snprintf(setup + n, sizeof setup - n, "'; fmt='%s'", fmt);
    snprintf(script, sizeof script, "%s.gp", name);
    snprintf(out_path, sizeof out_path, "%s/%s.%s", dir, name, fmt);
    unlink(out_path);
    char *argv[] = {(char *)gnuplot, "-e", setup, script, NULL};
    char out[512], errout[2048];
    int code = 0;
    ws_status st = ws_proc_capture(argv, out, sizeof out, errout, sizeof errout, &code, err);
    if (st != WS_OK) return st;
    struct stat sb;
    if (code != 0 || stat(out_path, &sb) != 0 || sb.st_size == 0) {
        for (char *p = errout; *p; p++)
            if (*p == '\n') *p = ' ';
        return wsi_error(err, WS_ECHILD, "gnuplot %s (fmt %s): exit %d: %.400s", script, fmt, code,
                         errout[0] ? errout : "no output file");
    }
    return WS_OK;
}
