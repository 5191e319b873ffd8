/* cli/args.h - flag values for the CLI's commands, checked once.
 * defines: ws_cli_parse_int, ws_cli_parse_num. Implementation: cli/args.c. */
#ifndef WS_CLI_ARGS_H
#define WS_CLI_ARGS_H

/* "--flag VALUE" as a whole number >= min, or a finite number >= min: 0 fine, else the
 * problem printed (as prog) and 2, the exit status of bad flags. */
int ws_cli_parse_int(const char *prog, const char *flag, const char *v, long min, long *out);
int ws_cli_parse_num(const char *prog, const char *flag, const char *v, double min, double *out);

#endif
