/* study/store_perf.h - a stored study's runs as the performance model reads them.
 * defines: ws_store_load_perf. Implementation: study/store_perf.c. */
#ifndef WS_STUDY_STORE_PERF_H
#define WS_STUDY_STORE_PERF_H

#include "analysis/perf.h"
#include "study/store.h"

/* Every run of study, whatever its status, parsed from the record each keeps (the record is
 * the source of truth: fields the store has no column for, such as the steady state and the
 * phases, come from it). WS_EINVAL when the study is not in the store; WS_EFORMAT names a
 * run whose record cannot be read. The caller frees with ws_perf_set_free. */
ws_status ws_store_load_perf(ws_store *s, const char *study, ws_perf_set *out, ws_error *err);

#endif
