/* core/json.c - shared JSON helpers; contract in core/json.h. */
#include "core/json.h"
#include "core/error.h"
#include "core/fileutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cJSON *ws_json_num_or_null(int valid, double x) {
    return valid && isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

ws_status ws_json_write_file(const char *path, const cJSON *root, ws_error *err) {
    char *text = cJSON_Print(root);
    if (!text) return wsi_error(err, WS_ENOMEM, "write %s: out of memory", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the terminator: the file ends with a newline */
    ws_status st = ws_write_file_atomic(path, text, len + 1, err);
    free(text);
    return st;
}
