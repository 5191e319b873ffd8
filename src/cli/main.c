/* cli/main.c - the `wattscale` program: dispatches to a subcommand (cli/commands.h).
 * The CLI is thin: every capability lives in libwattscale. */
#include "cli/commands.h"
#include "ops/gemm.h"
#include "wattscale/wattscale.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: wattscale COMMAND [ARGS...]\n"
            "\n"
            "commands:\n"
            "  measure [OPTIONS] -- COMMAND [ARGS...]   run COMMAND and measure the energy of this machine's\n"
            "                                           GPUs (NVML), CPU packages and DRAM (RAPL) meanwhile\n"
            "  train [FLAGS]                            train a model (ResNet) measuring time, accuracy and\n"
            "                                           energy; writes a run record (see train --help)\n"
            "  study plan FILE                          a study's runs (YAML file) and their estimated device-hours\n"
            "  study run FILE                           run what is missing (local or Slurm); resumes after a kill\n"
            "  study status FILE                        what is done, queued, interrupted, failed, missing\n"
            "  study ingest DIR... [--db F] [--study S] store run records in a study's SQLite database\n"
            "  data swe|netcdf|check ...                generate weather-like fields or convert NetCDF ones into\n"
            "                                           FourCastNet's HDF5 layout, or check a dataset\n"
            "  report DB [--out DIR]                    the analysis as HTML (figures embedded), Markdown, CSV\n"
            "  predict DB --gpus N --lbs N --epochs E   time, GPU-hours and energy of a configuration not yet run\n"
            "                                           (a model calibrated on the study's runs); --loo validates it\n"
            "  advise DB --target M=V --max-gpus N      the configuration with the least energy under a deadline\n"
            "  calibrate allreduce TIMINGS.json         fit the all-reduce model to timings measured on GPUs\n"
            "  --version                                version and the optional parts of this build\n"
            "  --help                                   this text; `wattscale COMMAND --help` for one command\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version")) {
        printf("wattscale %s\n%s\nsgemm   %s\n", ws_version(), ws_build_features(), ws_gemm_cpu_library());
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "measure")) return ws_cmd_measure(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return ws_cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "study")) return ws_cmd_study(argc - 1, argv + 1);
    if (!strcmp(cmd, "data")) return ws_cmd_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "report")) return ws_cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "predict")) return ws_cmd_predict(argc - 1, argv + 1);
    if (!strcmp(cmd, "advise")) return ws_cmd_advise(argc - 1, argv + 1);
    if (!strcmp(cmd, "calibrate")) return ws_cmd_calibrate(argc - 1, argv + 1);
    fprintf(stderr, "wattscale: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
