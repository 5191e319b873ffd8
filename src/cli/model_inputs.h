/* cli/model_inputs.h - what `wattscale predict`, `advise` and `report` read for the
 * performance model: a study's runs from its database and the all-reduce model's parameters.
 * defines: ws_cli_model_args, ws_cli_model_args_default, ws_cli_model_flag,
 * ws_cli_network, ws_cli_model_inputs, ws_cli_model_load, ws_cli_model_free. Implementation:
 * cli/model_inputs.c (built with SQLite and GSL). */
#ifndef WS_CLI_MODEL_INPUTS_H
#define WS_CLI_MODEL_INPUTS_H

#include "analysis/allreduce.h"
#include "analysis/perf.h"
#include "analysis/runset.h"
#include "cli/args.h"

typedef struct {
    const char *db, *study;
    const char *network[4]; /* --network FILE: fitted all-reduce models, applied in order */
    int n_network;
    double inter_gbit_s;   /* --inter-node-gbps: the assumed inter-node bandwidth per node */
    int inter_given;       /* given on the command line: it overrides --network files */
    double intra_bus_gb_s; /* --intra-node-bus-gb-s: an assumed intra-node bus bandwidth; NAN */
} ws_cli_model_args;

ws_cli_model_args ws_cli_model_args_default(void);

/* Consumes argv[*i] (and its value) when it is --study, --network, --inter-node-gbps or
 * --intra-node-bus-gb-s:
 * 1 consumed, 0 not one of them, -1 a bad value (printed, as prog). */
int ws_cli_model_flag(const char *prog, ws_cli_model_args *m, int argc, char **argv, int *i);

typedef struct {
    char study[64];
    ws_runset rs;
    ws_perf_set perf;
    ws_network net;
} ws_cli_model_inputs;

/* The network model: the defaults, the --network files in order, then the bandwidths given
 * on the command line (assumptions, labelled so). 0, or 1 with the error printed. */
int ws_cli_network(const char *prog, const ws_cli_model_args *m, ws_network *net);

/* Opens the database, picks the study (the only one, or --study), loads its runs both ways
 * and the network model (ws_cli_network). Errors are printed as prog; returns the exit status (0 loaded,
 * 1 failed, 2 a choice to make). */
int ws_cli_model_load(const char *prog, const ws_cli_model_args *m, ws_cli_model_inputs *in);
void ws_cli_model_free(ws_cli_model_inputs *in);

#endif
