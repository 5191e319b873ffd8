/* core/proc.h - child processes: training runs, mpirun, sbatch, sacct (the study runner), gnuplot (the report).
 * defines: ws_proc_opts, ws_proc_run (start, wait, exit status), ws_proc_capture (run and
 * collect its output), ws_proc_split (a command template into words).
 * Implementation: core/proc.c. POSIX fork/exec; no shell is involved, so arguments are
 * never re-parsed. */
#ifndef WS_CORE_PROC_H
#define WS_CORE_PROC_H

#include <stddef.h>
#include "wattscale/status.h"

typedef struct {
    char *const *argv;      /* argv[0] looked up in PATH; NULL-terminated */
    const char *const *env; /* "KEY=VALUE" set in the child (NULL-terminated; NULL: none) */
    const char *log_path;   /* stdout and stderr appended here; NULL: inherited */
    int keep_fd;            /* a descriptor left open across exec (the runner's lock); -1: none */
    int die_with_parent;    /* the child gets SIGTERM when the runner dies (even by SIGKILL) */
} ws_proc_opts;

/* Runs the command and waits. *exit_code: its status, 128+N when signal N ended it, 127
 * when argv[0] could not be executed (then also WS_ECHILD naming it). */
ws_status ws_proc_run(const ws_proc_opts *o, int *exit_code, ws_error *err);

/* Runs argv (stdin /dev/null), collecting stdout into out and stderr into errout (each
 * NUL-terminated, truncated to its size; errout may be NULL). Returns WS_ECHILD when it
 * cannot be started or is not found (exit 127); otherwise WS_OK with *exit_code. */
ws_status ws_proc_capture(char *const *argv, char *out, size_t size, char *errout, size_t err_size, int *exit_code,
                          ws_error *err);

/* Splits a template at blanks into *words (malloc'd, NULL-terminated, free with
 * ws_proc_words_free), replacing "{NAME}" inside each word by the value of NAME in vars
 * ("NAME=VALUE" strings, NULL-terminated). An unknown {NAME} is WS_EINVAL naming it. */
ws_status ws_proc_split(const char *tmpl, const char *const *vars, char ***words, size_t *n, ws_error *err);
void ws_proc_words_free(char **words);

/* Is there an executable `name` on PATH (or is name an executable path)? */
int ws_proc_on_path(const char *name);

#endif
