/* models/profile.h - where a model's step time goes, node by node (WATTSCALE_PROFILE=1).
 * defines: ws_profile (opaque), ws_profile_open_from_env, ws_profile_begin, ws_profile_end,
 *          ws_profile_report, ws_profile_close. Implementation: models/profile.c.
 * Each node's work is bracketed by a synchronisation of the exec (ws_exec_sync) and timed
 * on the host clock, then summed by (kind, shape): a GPU profile without Nsight (which the
 * GPU machine lacks), at the cost of one sync per node (~10 us each), so figures are a
 * little high and only the profile's proportions are meaningful, not its step time. */
#ifndef WS_MODELS_PROFILE_H
#define WS_MODELS_PROFILE_H

#include <stdio.h>
#include "ops/ops.h"

typedef struct ws_profile ws_profile;

/* NULL unless WATTSCALE_PROFILE=1 (then every call below is cheap to skip on NULL). */
ws_profile *ws_profile_open_from_env(void);
void ws_profile_begin(ws_profile *p, const ws_exec *ex);
void ws_profile_end(ws_profile *p, const ws_exec *ex, const char *kind, const char *shape);
/* The table, largest total first, on f; name heads it. */
void ws_profile_report(const ws_profile *p, const char *name, FILE *f);
void ws_profile_close(ws_profile *p);

#endif
