/* analysis/report_tables.c - the report's CSV tables (tables/NAME.csv); layout in
 * analysis/report.h, format in analysis/csv.h. Column names carry their units; a summary
 * over repetitions is two columns, NAME_mean and NAME_sd. */
#include "analysis/csv.h"
#include "analysis/report_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static ws_status open_table(ws_csv *c, const char *dir, const char *name, ws_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    return ws_csv_open(c, path, err);
}

static void put_summary(ws_csv *c, ws_summary s, double scale) {
    ws_csv_num(c, s.mean * scale);
    ws_csv_num(c, s.sd * scale);
}

static ws_status runs_table(const ws_analysis *a, const char *dir, ws_error *err) {
    const ws_runset *rs = a->rs;
    ws_csv c;
    ws_status st = open_table(&c, dir, "runs", err);
    if (st != WS_OK) return st;
    ws_csv_header(&c, "run_key,status,series,model,data,precision,device,device_kind,hardware,world,nodes,"
                      "global_batch,local_batch,accum,data_fraction,epochs_requested,steps_requested,time_s,"
                      "device_hours,energy_kwh,gpu_kwh,cpu_kwh,dram_kwh,sacct_kwh,samples,updates,"
                      "samples_per_device_hour,updates_per_device_hour,kwh_per_device_hour,gpu_power_w,"
                      "socket_power_w,val_loss,val_top1,val_top5,val_rmse_norm,val_acc,energy_not_measured_because");
    for (size_t i = 0; i < rs->n_runs; i++) {
        const ws_run *r = &rs->runs[i];
        char series[512] = "";
        size_t n = 0;
        for (size_t m = 0; m < rs->n_members && n < sizeof series; m++)
            if (rs->members[m].run == i)
                n += (size_t)snprintf(series + n, sizeof series - n, "%s%s", n ? ";" : "", rs->members[m].series);
        ws_csv_str(&c, r->run_key);
        ws_csv_str(&c, r->status);
        ws_csv_str(&c, series);
        ws_csv_str(&c, r->model);
        ws_csv_str(&c, r->data);
        ws_csv_str(&c, r->precision);
        ws_csv_str(&c, r->device);
        ws_csv_str(&c, r->device_kind);
        ws_csv_str(&c, r->hardware);
        ws_csv_int(&c, r->world);
        ws_csv_int(&c, r->nodes);
        ws_csv_int(&c, r->global_batch);
        ws_csv_int(&c, r->local_batch);
        ws_csv_int(&c, r->accum);
        ws_csv_num(&c, r->data_fraction);
        ws_csv_int(&c, r->epochs_requested);
        ws_csv_int(&c, r->steps_requested);
        ws_csv_num(&c, r->time_s);
        ws_csv_num(&c, r->device_hours);
        ws_csv_num(&c, r->energy_j / 3.6e6);
        ws_csv_num(&c, r->energy_gpu_j / 3.6e6);
        ws_csv_num(&c, r->energy_cpu_j / 3.6e6);
        ws_csv_num(&c, r->energy_dram_j / 3.6e6);
        ws_csv_num(&c, r->sacct_energy_j / 3.6e6);
        ws_csv_num(&c, r->samples);
        ws_csv_num(&c, r->updates);
        ws_csv_num(&c, r->samples_per_device_hour);
        ws_csv_num(&c, r->updates_per_device_hour);
        ws_csv_num(&c, r->kwh_per_device_hour);
        ws_csv_num(&c, ws_run_gpu_power_w(r));
        ws_csv_num(&c, ws_run_socket_power_w(r));
        ws_csv_num(&c, r->val_loss);
        ws_csv_num(&c, r->val_top1);
        ws_csv_num(&c, r->val_top5);
        ws_csv_num(&c, r->val_rmse_norm);
        ws_csv_num(&c, r->val_acc);
        ws_csv_str(&c, isfinite(r->energy_j) ? "" : r->missing);
        ws_csv_row(&c);
    }
    return ws_csv_close(&c, err);
}

static ws_status series_table(const ws_analysis *a, const char *dir, ws_error *err) {
    ws_csv c;
    ws_status st = open_table(&c, dir, "series", err);
    if (st != WS_OK) return st;
    const char *m = a->rs->metric;
    char header[2048];
    snprintf(header, sizeof header,
             "series,scaling,growing_dataset,gpus,global_batch,local_batch,accum,data_fraction,device_kind,n_runs,"
             "time_s_mean,time_s_sd,device_hours_mean,device_hours_sd,energy_kwh_mean,energy_kwh_sd,gpu_kwh_mean,"
             "gpu_kwh_sd,cpu_kwh_mean,cpu_kwh_sd,dram_kwh_mean,dram_kwh_sd,sacct_kwh_mean,sacct_kwh_sd,%s_mean,%s_sd,"
             "speedup_mean,speedup_sd,parallel_efficiency_mean,parallel_efficiency_sd,energy_efficiency_mean,"
             "energy_efficiency_sd,gpu_power_w_mean,gpu_power_w_sd,socket_power_w_mean,socket_power_w_sd,"
             "samples_per_device_hour_mean,samples_per_device_hour_sd,updates_per_device_hour_mean,"
             "updates_per_device_hour_sd,kwh_per_device_hour_mean,kwh_per_device_hour_sd",
             m, m);
    ws_csv_header(&c, header);
    for (size_t p = 0; p < a->scaling.n_points; p++) {
        const ws_series_point *sp = &a->scaling.points[p];
        ws_csv_str(&c, sp->series);
        ws_csv_str(&c, sp->scaling);
        ws_csv_int(&c, sp->growing);
        ws_csv_int(&c, sp->gpus);
        ws_csv_int(&c, sp->global_batch);
        ws_csv_int(&c, sp->local_batch);
        ws_csv_int(&c, sp->accum);
        ws_csv_num(&c, sp->data_fraction);
        ws_csv_str(&c, sp->device_kind);
        ws_csv_int(&c, (long)sp->n_runs);
        ws_summary cols[] = {sp->time_s,
                             sp->device_hours,
                             sp->energy_kwh,
                             sp->gpu_kwh,
                             sp->cpu_kwh,
                             sp->dram_kwh,
                             sp->sacct_kwh,
                             sp->metric,
                             sp->speedup,
                             sp->parallel_efficiency,
                             sp->energy_efficiency,
                             sp->gpu_power_w,
                             sp->socket_power_w,
                             sp->samples_per_device_hour,
                             sp->updates_per_device_hour,
                             sp->kwh_per_device_hour};
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
            put_summary(&c, cols[k], 1);
        ws_csv_row(&c);
    }
    return ws_csv_close(&c, err);
}

static void put_fit(ws_csv *c, const ws_linfit *f) {
    ws_csv_int(c, f->valid);
    ws_csv_int(c, (long)f->n);
    ws_csv_num(c, f->slope);
    ws_csv_num(c, f->slope_lo);
    ws_csv_num(c, f->slope_hi);
    ws_csv_num(c, f->slope_se);
    ws_csv_num(c, f->intercept);
    ws_csv_num(c, f->intercept_lo);
    ws_csv_num(c, f->intercept_hi);
    ws_csv_num(c, f->intercept_se);
    ws_csv_num(c, f->r2);
}

static ws_status fits_table(const ws_analysis *a, const char *dir, ws_error *err) {
    ws_csv c;
    ws_status st = open_table(&c, dir, "energy_fits", err);
    if (st != WS_OK) return st;
    ws_csv_header(&c, "group,device_kind,valid,n_runs,slope_kwh_per_device_hour,slope_lo95,slope_hi95,slope_se,"
                      "intercept_kwh,intercept_lo95,intercept_hi95,intercept_se,r2");
    for (size_t i = 0; i < a->energy.n_fits; i++) {
        ws_csv_str(&c, a->energy.fits[i].group);
        ws_csv_str(&c, a->energy.fits[i].device_kind);
        put_fit(&c, &a->energy.fits[i].fit);
        ws_csv_row(&c);
    }
    if ((st = ws_csv_close(&c, err)) != WS_OK) return st;

    if ((st = open_table(&c, dir, "slope_regression", err)) != WS_OK) return st;
    ws_csv_header(&c, "model,term,valid,n_runs,coef,lo95,hi95,se,r2,note");
    const ws_multifit *mf = &a->energy.slope_on_both;
    static const char *terms[3] = {"intercept", "per_sample_per_device_hour", "per_update_per_device_hour"};
    for (int k = 0; k < 3; k++) {
        ws_csv_str(&c, "kwh_per_device_hour ~ samples_per_device_hour + updates_per_device_hour");
        ws_csv_str(&c, terms[k]);
        ws_csv_int(&c, mf->valid);
        ws_csv_int(&c, (long)mf->n);
        ws_csv_num(&c, mf->coef[k]);
        ws_csv_num(&c, mf->lo[k]);
        ws_csv_num(&c, mf->hi[k]);
        ws_csv_num(&c, mf->se[k]);
        ws_csv_num(&c, mf->r2);
        ws_csv_str(&c, mf->collinear ? "collinear: samples and updates per device-hour are proportional here"
                       : mf->valid   ? ""
                                     : "too few runs with energy");
        ws_csv_row(&c);
    }
    const ws_linfit *one[2] = {&a->energy.slope_on_samples, &a->energy.slope_on_updates};
    static const char *names[2] = {"kwh_per_device_hour ~ samples_per_device_hour",
                                   "kwh_per_device_hour ~ updates_per_device_hour"};
    for (int k = 0; k < 2; k++)
        for (int term = 0; term < 2; term++) {
            const ws_linfit *f = one[k];
            ws_csv_str(&c, names[k]);
            ws_csv_str(&c, term ? terms[1 + k] : "intercept");
            ws_csv_int(&c, f->valid);
            ws_csv_int(&c, (long)f->n);
            ws_csv_num(&c, term ? f->slope : f->intercept);
            ws_csv_num(&c, term ? f->slope_lo : f->intercept_lo);
            ws_csv_num(&c, term ? f->slope_hi : f->intercept_hi);
            ws_csv_num(&c, term ? f->slope_se : f->intercept_se);
            ws_csv_num(&c, f->r2);
            ws_csv_str(&c, f->valid ? "" : "too few runs with energy (or no spread)");
            ws_csv_row(&c);
        }
    return ws_csv_close(&c, err);
}

static ws_status accuracy_table(const ws_analysis *a, const char *dir, ws_error *err) {
    ws_csv c;
    ws_status st = open_table(&c, dir, "accuracy_vs_gbs", err);
    if (st != WS_OK) return st;
    char header[256];
    snprintf(header, sizeof header, "task,global_batch,n_runs,%s_mean,%s_sd,degrades_beyond_gbs,tolerance",
             a->accuracy.metric, a->accuracy.metric);
    ws_csv_header(&c, header);
    for (size_t i = 0; i < a->accuracy.n_curves; i++) {
        const ws_accuracy_curve *cv = &a->accuracy.curves[i];
        for (size_t p = 0; p < cv->n_points; p++) {
            ws_csv_str(&c, cv->task);
            ws_csv_int(&c, cv->points[p].global_batch);
            ws_csv_int(&c, (long)cv->points[p].metric.n);
            put_summary(&c, cv->points[p].metric, 1);
            if (cv->degrades_beyond_gbs)
                ws_csv_int(&c, cv->degrades_beyond_gbs);
            else
                ws_csv_num(&c, NAN);
            ws_csv_num(&c, a->accuracy.tolerance);
            ws_csv_row(&c);
        }
    }
    return ws_csv_close(&c, err);
}

static ws_status pareto_table(const ws_analysis *a, const char *dir, ws_error *err) {
    ws_csv c;
    ws_status st = open_table(&c, dir, "pareto", err);
    if (st != WS_OK) return st;
    char header[256];
    snprintf(header, sizeof header,
             "task,gpus,global_batch,local_batch,accum,data_fraction,n_runs,time_s,energy_kwh,device_hours,%s,on_front",
             a->rs->metric);
    ws_csv_header(&c, header);
    for (size_t i = 0; i < a->pareto.n_points; i++) {
        const ws_pareto_point *p = &a->pareto.points[i];
        ws_csv_str(&c, p->task);
        ws_csv_int(&c, p->gpus);
        ws_csv_int(&c, p->global_batch);
        ws_csv_int(&c, p->local_batch);
        ws_csv_int(&c, p->accum);
        ws_csv_num(&c, p->data_fraction);
        ws_csv_int(&c, (long)p->n_runs);
        ws_csv_num(&c, p->time_s);
        ws_csv_num(&c, p->energy_kwh);
        ws_csv_num(&c, p->device_hours);
        ws_csv_num(&c, p->metric);
        ws_csv_int(&c, p->on_front);
        ws_csv_row(&c);
    }
    return ws_csv_close(&c, err);
}

static ws_status target_table(const ws_analysis *a, const char *dir, ws_error *err) {
    ws_csv c;
    ws_status st = open_table(&c, dir, "energy_to_target", err);
    if (st != WS_OK) return st;
    ws_csv_header(&c, "task,gpus,global_batch,local_batch,accum,data_fraction,metric,target,n_runs,n_reached,"
                      "epochs_mean,epochs_sd,time_s_mean,time_s_sd,device_hours_mean,device_hours_sd,energy_kwh_mean,"
                      "energy_kwh_sd");
    for (size_t i = 0; i < a->target.n_rows; i++) {
        const ws_target_row *r = &a->target.rows[i];
        ws_csv_str(&c, r->task);
        ws_csv_int(&c, r->gpus);
        ws_csv_int(&c, r->global_batch);
        ws_csv_int(&c, r->local_batch);
        ws_csv_int(&c, r->accum);
        ws_csv_num(&c, r->data_fraction);
        ws_csv_str(&c, a->target.metric);
        ws_csv_num(&c, a->target.value);
        ws_csv_int(&c, (long)r->n_runs);
        ws_csv_int(&c, (long)r->n_reached);
        put_summary(&c, r->epochs, 1);
        put_summary(&c, r->time_s, 1);
        put_summary(&c, r->device_hours, 1);
        put_summary(&c, r->energy_kwh, 1);
        ws_csv_row(&c);
    }
    return ws_csv_close(&c, err);
}

ws_status wsi_report_tables(const ws_analysis *a, const char *dir, ws_error *err) {
    ws_status st = runs_table(a, dir, err);
    if (st == WS_OK) st = series_table(a, dir, err);
    if (st == WS_OK) st = fits_table(a, dir, err);
    if (st == WS_OK) st = accuracy_table(a, dir, err);
    if (st == WS_OK) st = pareto_table(a, dir, err);
    if (st == WS_OK) st = target_table(a, dir, err);
    return st;
}
