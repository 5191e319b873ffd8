/* core/json.h - the JSON helpers every report shares (cJSON underneath).
 * defines: ws_json_num_or_null (a measured number, or null: never 0 for "not measured"),
 * ws_json_write_file (pretty-printed, newline-terminated, atomic). */
#ifndef WS_CORE_JSON_H
#define WS_CORE_JSON_H

#include <cjson/cJSON.h>
#include "wattscale/status.h"

cJSON *ws_json_num_or_null(int valid, double x);
/* Writes root to path through a temp file and rename; root stays the caller's. */
ws_status ws_json_write_file(const char *path, const cJSON *root, ws_error *err);

#endif
