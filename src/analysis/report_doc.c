/* analysis/report_doc.c - the HTML/Markdown document writer; contract in
 * analysis/report_doc.h. */
#include "analysis/report_doc.h"
#include "analysis/report_internal.h"

#include <stdarg.h>
#include <string.h>

static void esc_html(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n && s[i]; i++) {
        switch (s[i]) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(s[i], f);
        }
    }
}

void wsi_doc_text(wsi_doc *d, const char *s) {
    if (!d->html) {
        fputs(s, d->f);
        return;
    }
    /* `x` -> <code>x</code> */
    while (*s) {
        const char *open = strchr(s, '`'), *close = open ? strchr(open + 1, '`') : NULL;
        if (!close) {
            esc_html(d->f, s, strlen(s));
            return;
        }
        esc_html(d->f, s, (size_t)(open - s));
        fputs("<code>", d->f);
        esc_html(d->f, open + 1, (size_t)(close - open - 1));
        fputs("</code>", d->f);
        s = close + 1;
    }
}

void wsi_doc_h2(wsi_doc *d, const char *id, const char *title) {
    if (d->html) {
        fprintf(d->f, "<h2 id=\"%s\">", id);
        wsi_doc_text(d, title);
        fputs("</h2>\n", d->f);
    } else {
        fprintf(d->f, "\n## %s\n\n", title);
    }
}

void wsi_doc_h3(wsi_doc *d, const char *title) {
    fputs(d->html ? "<h3>" : "\n### ", d->f);
    wsi_doc_text(d, title);
    fputs(d->html ? "</h3>\n" : "\n\n", d->f);
}

static void para(wsi_doc *d, const char *html_open, const char *md_prefix, const char *fmt, va_list ap) {
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fputs(d->html ? html_open : md_prefix, d->f);
    wsi_doc_text(d, buf);
    fputs(d->html ? (html_open[1] == 'd' ? "</div>\n" : "</p>\n") : "\n\n", d->f);
}

void wsi_doc_p(wsi_doc *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    para(d, "<p>", "", fmt, ap);
    va_end(ap);
}

void wsi_doc_warn(wsi_doc *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    para(d, "<div class=\"warn\">", "> ", fmt, ap);
    va_end(ap);
}

void wsi_doc_list_begin(wsi_doc *d) { fputs(d->html ? "<ul>\n" : "", d->f); }

void wsi_doc_item(wsi_doc *d, const char *text) {
    fputs(d->html ? "<li>" : "- ", d->f);
    wsi_doc_text(d, text);
    fputs(d->html ? "</li>\n" : "\n", d->f);
}

void wsi_doc_list_end(wsi_doc *d) { fputs(d->html ? "</ul>\n" : "\n", d->f); }

void wsi_doc_table(wsi_doc *d, const char *const *cols, size_t n) {
    fputs(d->html ? "<table><thead>" : "", d->f);
    d->header = 1;
    for (size_t i = 0; i < n; i++)
        wsi_doc_cell(d, cols[i]);
    d->header = d->in_row = 0;
    if (d->html) {
        fputs("</tr></thead><tbody>\n", d->f);
        return;
    }
    fputs("\n|", d->f);
    for (size_t i = 0; i < n; i++)
        fputs(i ? " ---: |" : " --- |", d->f);
    fputs("\n", d->f);
}

void wsi_doc_cell(wsi_doc *d, const char *s) {
    if (!d->in_row) fputs(d->html ? "<tr>" : "|", d->f);
    d->in_row = 1;
    if (d->html) {
        fputs(d->header ? "<th>" : "<td>", d->f);
        wsi_doc_text(d, s);
        fputs(d->header ? "</th>" : "</td>", d->f);
        return;
    }
    fputc(' ', d->f);
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", d->f);
        else if (*s != '\n')
            fputc(*s, d->f);
    }
    fputs(" |", d->f);
}

void wsi_doc_cell_sum(wsi_doc *d, ws_summary s, int digits) {
    char b[64];
    wsi_fmt_summary(b, sizeof b, s, 1, digits);
    wsi_doc_cell(d, b);
}

void wsi_doc_cell_num(wsi_doc *d, double x, int digits) {
    char b[64];
    wsi_fmt_num(b, sizeof b, x, digits);
    wsi_doc_cell(d, b);
}

void wsi_doc_cell_int(wsi_doc *d, long x) {
    char b[32];
    snprintf(b, sizeof b, "%ld", x);
    wsi_doc_cell(d, b);
}

void wsi_doc_row_end(wsi_doc *d) {
    if (d->in_row) fputs(d->html ? "</tr>\n" : "\n", d->f);
    d->in_row = 0;
}

void wsi_doc_table_end(wsi_doc *d) {
    wsi_doc_row_end(d);
    fputs(d->html ? "</tbody></table>\n" : "\n", d->f);
}
