/* analysis/report_doc.h - a document written as HTML or Markdown with one set of calls, so
 * that the report's sections (analysis/report_sections.c) are written once for both files.
 * defines: wsi_doc, wsi_doc_text, wsi_doc_h2, wsi_doc_h3, wsi_doc_p, wsi_doc_warn,
 * wsi_doc_list_begin/item/end, wsi_doc_table, wsi_doc_cell(_sum, _num, _int),
 * wsi_doc_row_end, wsi_doc_table_end. Implementation: analysis/report_doc.c.
 * Text is plain: the writer escapes it; `backticks` become <code> in HTML. */
#ifndef WS_ANALYSIS_REPORT_DOC_H
#define WS_ANALYSIS_REPORT_DOC_H

#include <stdio.h>
#include "analysis/stats.h"

typedef struct {
    FILE *f;
    int html;   /* 1 HTML, 0 Markdown */
    int in_row; /* a table row has cells written */
    int header; /* writing a table's header row */
} wsi_doc;

void wsi_doc_text(wsi_doc *d, const char *s); /* escaped inline text */
void wsi_doc_h2(wsi_doc *d, const char *id, const char *title);
void wsi_doc_h3(wsi_doc *d, const char *title);
void wsi_doc_p(wsi_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wsi_doc_warn(wsi_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wsi_doc_list_begin(wsi_doc *d);
void wsi_doc_item(wsi_doc *d, const char *text);
void wsi_doc_list_end(wsi_doc *d);
void wsi_doc_table(wsi_doc *d, const char *const *cols, size_t n);
void wsi_doc_cell(wsi_doc *d, const char *s);
void wsi_doc_cell_sum(wsi_doc *d, ws_summary s, int digits); /* "m +- sd", "-" when none */
void wsi_doc_cell_num(wsi_doc *d, double x, int digits);     /* "-" when not finite */
void wsi_doc_cell_int(wsi_doc *d, long x);
void wsi_doc_row_end(wsi_doc *d);
void wsi_doc_table_end(wsi_doc *d);

#define WSI_DOC_TABLE(d, ...)                                                                                          \
    do {                                                                                                               \
        const char *const cols_[] = {__VA_ARGS__};                                                                     \
        wsi_doc_table(d, cols_, sizeof cols_ / sizeof cols_[0]);                                                       \
    } while (0)

#endif
