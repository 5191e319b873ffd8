/* tests/study/synth_record.h - synthetic run records ("wattscale.run/1") with figures the
 * test chooses, for the store, the analysis and the report tests.
 * defines: ws_synth_run, ws_synth_run_default, ws_synth_record_json, ws_synth_write_run. */
#ifndef WS_TEST_SYNTH_RECORD_H
#define WS_TEST_SYNTH_RECORD_H

#define WS_SYNTH_MAX_EPOCHS 16

typedef struct {
    const char *status; /* completed */
    const char *model, *data, *precision, *device, *gpu_name, *cpu_name;
    int world, nodes, global_batch, local_batch, accum;
    double data_fraction;
    int epochs; /* rows; each takes time_s / epochs */
    double time_s;
    double energy_j;                   /* NAN: not measured (a missing[] entry says why) */
    double gpu_share;                  /* of energy_j in the GPU domain; the rest is CPU */
    int gpus_metered, sockets_metered; /* devices listed (node 0) */
    double samples, updates;
    double val_top1[WS_SYNTH_MAX_EPOCHS]; /* per epoch; NAN: not evaluated */
} ws_synth_run;

ws_synth_run ws_synth_run_default(void);
/* The record's text (malloc'd; the caller frees). */
char *ws_synth_record_json(const ws_synth_run *r);
/* Writes dir/run.json (dir created). */
void ws_synth_write_run(const char *dir, const ws_synth_run *r);

#endif
