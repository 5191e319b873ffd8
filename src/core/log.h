/* core/log.h - leveled logging to stderr: "[r<rank> <elapsed>s] LEVEL message".
 * defines: ws_log, ws_log_set_level, ws_log_set_rank. stdout stays for machine output.
 * Level from WATTSCALE_LOG=error|warn|info|debug (default info). */
#ifndef WS_CORE_LOG_H
#define WS_CORE_LOG_H

typedef enum { WS_LOG_ERROR = 0, WS_LOG_WARN = 1, WS_LOG_INFO = 2, WS_LOG_DEBUG = 3 } ws_log_level;

void ws_log(ws_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ws_log_set_level(ws_log_level level);
ws_log_level ws_log_get_level(void);
void ws_log_set_rank(int rank); /* -1 (default): no rank prefix */

#endif
