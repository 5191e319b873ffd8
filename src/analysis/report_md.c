/* analysis/report_md.c - report.md: the findings, the figures (the PNGs beside it) and the
 * tables in Markdown, for a repository or a wiki. defines: wsi_report_md
 * (analysis/report_internal.h); the sections are analysis/report_sections.c's. */
#include "analysis/report_internal.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/timeutil.h"
#include "wattscale/wattscale.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ws_status wsi_report_md(const ws_analysis *a, const wsi_findings *fi, const ws_figure_set *figs, const char *path,
                        ws_error *err) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return wsi_error(err, WS_ENOMEM, "write %s: out of memory", path);
    wsi_doc d = {f, 0, 0, 0};
    char now[32];
    ws_wall_time_iso(now, sizeof now);
    fprintf(f,
            "# wattscale report: %s\n\n%zu runs stored; made %s by wattscale %s. The same, with the figures "
            "embedded, is `report.html`; every table is in `tables/*.csv`.\n\n",
            a->rs->study, a->rs->n_runs, now, ws_version());
    if (!a->any_energy)
        wsi_doc_warn(&d,
                     "**Energy was not measured**: no sensor for %s on this hardware (the meters' reasons: "
                     "`tables/runs.csv`, column `energy_not_measured_because`). Time-based results are shown; "
                     "energy columns are empty (-).",
                     a->missing_domains[0] ? a->missing_domains : "any domain");
    wsi_report_findings(&d, fi);
    wsi_doc_h2(&d, "figures", "Figures");
    if (figs->note[0]) wsi_doc_warn(&d, "%s", figs->note);
    for (size_t i = 0; i < figs->n; i++) {
        const ws_figure *g = &figs->figs[i];
        if (g->drawn) fprintf(f, "![%s](figures/%s.png)\n\n", g->title, g->name);
        fprintf(f, "*%s.* %s (script `figures/%s.gp`, data `figures/%s.dat`)\n\n", g->title, g->caption, g->name,
                g->name);
    }
    if (figs->skipped[0]) wsi_doc_p(&d, "Not drawn: %s.", figs->skipped);
    wsi_report_sections(&d, a);
    return wsi_report_finish(f, &text, &size, path, err);
}
