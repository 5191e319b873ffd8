/* core/status.c - the one table of status names and messages (wattscale/status.h). */
#include "wattscale/status.h"

static const struct {
    ws_status code;
    const char *name, *message;
} table[] = {
    {WS_OK, "WS_OK", "success"},
    {WS_EINVAL, "WS_EINVAL", "invalid argument"},
    {WS_ENOMEM, "WS_ENOMEM", "out of memory"},
    {WS_EIO, "WS_EIO", "input/output error"},
    {WS_ENOSENSOR, "WS_ENOSENSOR", "no sensor"},
    {WS_EPERM, "WS_EPERM", "permission denied"},
    {WS_ESENSOR, "WS_ESENSOR", "sensor error"},
    {WS_ENOTSUP, "WS_ENOTSUP", "not supported"},
    {WS_ESTATE, "WS_ESTATE", "wrong state"},
    {WS_ECHILD, "WS_ECHILD", "child process error"},
    {WS_EFORMAT, "WS_EFORMAT", "malformed data"},
    {WS_ELIBRARY, "WS_ELIBRARY", "library error"},
};

const char *ws_status_name(ws_status s) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == s) return table[i].name;
    return "WS_UNKNOWN";
}

const char *ws_status_message(ws_status s) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == s) return table[i].message;
    return "unknown status";
}
