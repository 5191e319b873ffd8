/* analysis/report_html.c - report.html: one self-contained file (figures embedded as
 * base64 SVG images, no external resources), so it can be opened anywhere or mailed.
 * defines: wsi_report_html (analysis/report_internal.h). The sections after the figures
 * are analysis/report_sections.c's. A small script counts the figures the browser could
 * decode and shows it at the bottom (and in body[data-figures-loaded]), which is what the
 * headless-Chromium check of the tests reads. */
#include "analysis/report_internal.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/timeutil.h"
#include "wattscale/wattscale.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void base64(FILE *f, const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(tab[v >> 18 & 63], f);
        fputc(tab[v >> 12 & 63], f);
        fputc(i + 1 < n ? tab[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? tab[v & 63] : '=', f);
    }
}

static const char css[] =
    "body{font-family:system-ui,sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;color:#222}"
    "h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ccc;padding:.2em .45em;"
    "text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
    ".warn{background:#fff4e0;border-left:4px solid #e69500;padding:.6em 1em;margin:.8em 0}"
    ".meta{color:#555}.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:1.2em}"
    "figure{margin:0}figure h3{font-size:1em;margin:.2em 0}figure img{width:100%;border:1px solid #ddd}"
    "figcaption{font-size:.85em;color:#444}code{background:#f4f4f4;padding:0 .2em}";

static void figures(wsi_doc *d, const ws_figure_set *figs, const char *figdir) {
    FILE *f = d->f;
    wsi_doc_h2(d, "figures", "Figures");
    if (figs->note[0]) wsi_doc_warn(d, "%s", figs->note);
    fputs("<div class=\"figs\">\n", f);
    for (size_t i = 0; i < figs->n; i++) {
        const ws_figure *fg = &figs->figs[i];
        fprintf(f, "<figure id=\"fig-%s\">", fg->name);
        wsi_doc_h3(d, fg->title);
        char path[1200], *svg = NULL;
        size_t size = 0;
        snprintf(path, sizeof path, "%s/%s.svg", figdir, fg->name);
        if (fg->drawn && ws_read_file(path, &svg, &size, NULL) == WS_OK) {
            fputs("<img alt=\"", f);
            wsi_doc_text(d, fg->title);
            fputs("\" src=\"data:image/svg+xml;base64,", f);
            base64(f, (const unsigned char *)svg, size);
            fputs("\">\n", f);
        }
        free(svg);
        fputs("<figcaption>", f);
        wsi_doc_text(d, fg->caption);
        char files[512];
        snprintf(files, sizeof files,
                 " Files: `figures/%s.svg`, `.png`, script `figures/%s.gp`, data `figures/%s.dat`.", fg->name, fg->name,
                 fg->name);
        wsi_doc_text(d, files);
        fputs("</figcaption></figure>\n", f);
    }
    fputs("</div>\n", f);
    if (figs->skipped[0]) wsi_doc_p(d, "Not drawn: %s.", figs->skipped);
}

ws_status wsi_report_html(const ws_analysis *a, const wsi_findings *fi, const ws_figure_set *figs, const char *figdir,
                          const char *path, ws_error *err) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return wsi_error(err, WS_ENOMEM, "write %s: out of memory", path);
    wsi_doc d = {f, 1, 0, 0};
    char now[32];
    ws_wall_time_iso(now, sizeof now);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>wattscale report: ", f);
    wsi_doc_text(&d, a->rs->study);
    fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>wattscale report: ", css);
    wsi_doc_text(&d, a->rs->study);
    fputs("</h1>\n<p class=\"meta\">", f);
    char meta[512];
    snprintf(meta, sizeof meta,
             "%zu runs stored; made %s by wattscale %s. Tables: `tables/*.csv`; figures with their gnuplot scripts and "
             "data: `figures/`.",
             a->rs->n_runs, now, ws_version());
    wsi_doc_text(&d, meta);
    fputs("</p>\n", f);
    if (!a->any_energy) {
        fputs("<div class=\"warn\"><b>Energy was not measured</b>: ", f);
        char line[256];
        snprintf(line, sizeof line,
                 "no sensor for %s on this hardware. Time-based results are shown; energy columns are empty (-).",
                 a->missing_domains[0] ? a->missing_domains : "any domain");
        wsi_doc_text(&d, line);
        fputs("\n<details><summary>what the meters said</summary>", f);
        wsi_doc_text(&d, a->missing[0] ? a->missing : "no reason recorded");
        fputs("</details></div>\n", f);
    }
    wsi_report_findings(&d, fi);
    figures(&d, figs, figdir);
    wsi_report_sections(&d, a);
    fputs("<p class=\"meta\" id=\"figure-check\">figures: not checked (scripts disabled)</p>\n"
          "<script>window.addEventListener('load',function(){var im=document.querySelectorAll('figure img'),ok=0;"
          "im.forEach(function(i){if(i.complete&&i.naturalWidth>0)ok++;});"
          "document.body.setAttribute('data-figures-loaded',ok+'/'+im.length);"
          "document.getElementById('figure-check').textContent=ok+' of '+im.length+' figures shown';});</script>\n"
          "</body></html>\n",
          f);
    return wsi_report_finish(f, &text, &size, path, err);
}
