/* analysis/report_internal.h - what the report's writers share (report.c, report_tables.c,
 * report_html.c, report_md.c, report_predict.c): the findings, number formats and the writers themselves.
 * defines: wsi_findings, wsi_findings_make, wsi_fmt_summary, wsi_fmt_num, wsi_report_findings,
 * wsi_report_sections, wsi_report_tables, wsi_report_predictions, wsi_report_html, wsi_report_md. Not for use
 * outside src/analysis/report*.c. */
#ifndef WS_ANALYSIS_REPORT_INTERNAL_H
#define WS_ANALYSIS_REPORT_INTERNAL_H

#include "analysis/analysis.h"
#include "analysis/figures.h"
#include "analysis/report.h"
#include "analysis/report_doc.h"
#include "analysis/stats.h"

#define WSI_MAX_FINDINGS 24

/* The report's key findings as sentences (plain text), in order. */
typedef struct {
    char text[WSI_MAX_FINDINGS][640];
    size_t n;
} wsi_findings;

void wsi_findings_make(const ws_analysis *a, wsi_findings *out);

/* "12.3 +- 0.4" (x scale, %.*g), "12.3" for one value, "-" for none */
void wsi_fmt_summary(char *out, size_t size, ws_summary s, double scale, int digits);
void wsi_fmt_num(char *out, size_t size, double x, int digits); /* "-" when not finite */

/* report_sections.c: the findings list, and every section after the figures */
void wsi_report_findings(wsi_doc *d, const wsi_findings *f);
void wsi_report_sections(wsi_doc *d, const ws_analysis *a);

/* Closes the memstream f (opened with open_memstream(text, size)) and writes it to path
 * atomically; frees *text. */
ws_status wsi_report_finish(FILE *f, char **text, size_t *size, const char *path, ws_error *err);

ws_status wsi_report_tables(const ws_analysis *a, const char *dir, ws_error *err);
/* report_predict.c: predicted curves (figures appended to figs and drawn when draw),
 * tables/predictions.csv and findings; rp NULL does nothing */
ws_status wsi_report_predictions(const ws_analysis *a, const ws_report_predict *rp, const char *figdir,
                                 const char *tabdir, int draw, ws_figure_set *figs, wsi_findings *f, ws_error *err);
ws_status wsi_report_html(const ws_analysis *a, const wsi_findings *f, const ws_figure_set *figs, const char *figdir,
                          const char *path, ws_error *err);
ws_status wsi_report_md(const ws_analysis *a, const wsi_findings *f, const ws_figure_set *figs, const char *path,
                        ws_error *err);

#endif
