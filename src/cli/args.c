/* cli/args.c - flag values; contract in cli/args.h. */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int ws_cli_parse_int(const char *prog, const char *flag, const char *v, long min, long *out) {
    char *end = NULL;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || errno || x < min) {
        fprintf(stderr, "%s: %s %s: want a whole number of at least %ld\n", prog, flag, v ? v : "(missing)", min);
        return 2;
    }
    *out = x;
    return 0;
}

int ws_cli_parse_num(const char *prog, const char *flag, const char *v, double min, double *out) {
    char *end = NULL;
    double x = v ? strtod(v, &end) : NAN;
    if (!v || end == v || *end || !isfinite(x) || x < min) {
        fprintf(stderr, "%s: %s %s: want a number of at least %g\n", prog, flag, v ? v : "(missing)", min);
        return 2;
    }
    *out = x;
    return 0;
}
