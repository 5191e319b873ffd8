/* cli/model_inputs.c - a study's runs and the network model for the prediction commands;
 * contract in cli/model_inputs.h. */
#include "cli/model_inputs.h"
#include "study/store.h"
#include "study/store_perf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ws_cli_model_args ws_cli_model_args_default(void) {
    ws_cli_model_args m;
    memset(&m, 0, sizeof m);
    m.inter_gbit_s = 200; /* InfiniBand HDR, one port per node */
    m.intra_bus_gb_s = NAN;
    return m;
}

int ws_cli_model_flag(const char *prog, ws_cli_model_args *m, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--study")) {
        if (!v) return fprintf(stderr, "%s: --study needs a name\n", prog), -1;
        m->study = v;
    } else if (!strcmp(a, "--network")) {
        if (!v) return fprintf(stderr, "%s: --network needs a file (from `wattscale calibrate allreduce`)\n", prog), -1;
        if (m->n_network == 4) return fprintf(stderr, "%s: at most 4 --network files\n", prog), -1;
        m->network[m->n_network++] = v;
    } else if (!strcmp(a, "--inter-node-gbps")) {
        if (ws_cli_parse_num(prog, a, v, 1e-3, &m->inter_gbit_s)) return -1;
        m->inter_given = 1;
    } else if (!strcmp(a, "--intra-node-bus-gb-s")) {
        if (ws_cli_parse_num(prog, a, v, 1e-3, &m->intra_bus_gb_s)) return -1;
    } else {
        return 0;
    }
    ++*i;
    return 1;
}

int ws_cli_network(const char *prog, const ws_cli_model_args *m, ws_network *net) {
    *net = ws_network_default(m->inter_gbit_s);
    ws_network given = *net;
    ws_error err = {0};
    for (int k = 0; k < m->n_network; k++)
        if (ws_network_load(m->network[k], net, &err) != WS_OK) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            return 1;
        }
    if (m->inter_given) net->inter = given.inter;
    if (isfinite(m->intra_bus_gb_s)) {
        net->intra.beta_s_per_byte = 1 / (m->intra_bus_gb_s * 1e9);
        net->intra.beta_se_s_per_byte = NAN;
        net->intra.measured = 0;
        snprintf(net->intra.source, sizeof net->intra.source,
                 "assumed: bus bandwidth %g GB/s as given (--intra-node-bus-gb-s), not measured; latencies %.3g us per "
                 "call and %.3g us per step",
                 m->intra_bus_gb_s, net->intra.call_s * 1e6, net->intra.alpha_s * 1e6);
    }
    return 0;
}

int ws_cli_model_load(const char *prog, const ws_cli_model_args *m, ws_cli_model_inputs *in) {
    memset(in, 0, sizeof *in);
    if (ws_cli_network(prog, m, &in->net)) return 1;
    ws_error err = {0};
    if (access(m->db, R_OK) != 0) {
        fprintf(stderr, "%s: no database at %s (made by `wattscale study run FILE` or `study ingest DIR --db %s`)\n",
                prog, m->db, m->db);
        return 1;
    }
    ws_store *s = NULL;
    if (ws_store_open(&s, m->db, &err) != WS_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 1;
    }
    int rc = 0;
    if (m->study) {
        snprintf(in->study, sizeof in->study, "%s", m->study);
    } else {
        char names[64][64];
        size_t n = 0;
        if (ws_store_study_names(s, names, 64, &n, &err) != WS_OK || n == 0) {
            fprintf(stderr, "%s: %s\n", prog, n == 0 && !err.msg[0] ? "the database holds no study" : err.msg);
            rc = 1;
        } else if (n > 1) {
            fprintf(stderr, "%s: %s holds %zu studies; pick one with --study:", prog, m->db, n);
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %s", names[i]);
            fprintf(stderr, "\n");
            rc = 2;
        } else {
            snprintf(in->study, sizeof in->study, "%s", names[0]);
        }
    }
    if (!rc && (ws_store_load_runset(s, in->study, &in->rs, &err) != WS_OK ||
                ws_store_load_perf(s, in->study, &in->perf, &err) != WS_OK)) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        rc = err.code == WS_EINVAL ? 2 : 1;
    }
    ws_store_close(s);
    if (rc) ws_cli_model_free(in);
    return rc;
}

void ws_cli_model_free(ws_cli_model_inputs *in) {
    ws_runset_free(&in->rs);
    ws_perf_set_free(&in->perf);
}
