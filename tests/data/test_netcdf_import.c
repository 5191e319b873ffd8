/* tests/data/test_netcdf_import.c - NetCDF fields into FourCastNet's layout
 * (data/netcdf_import.c) on a file written here with netCDF-C: a 3-D float variable and a
 * packed 4-D short one (scale_factor, add_offset, _FillValue) become channels; rows are
 * flipped to north first; dt from "days since"; contiguous splits; gaps filled with the
 * plane mean; errors name the variable and list the file's variables. */
#include <netcdf.h>

#include "ws_test.h"
#include "data/fields.h"
#include "data/netcdf_import.h"

#define T 10
#define NY 4
#define NX 5
#define NL 2

static double a_val(int t, int j, int i) { return 100.0 * t + 10.0 * j + i; }

static void nc_ok(int rc) {
    if (rc != NC_NOERR) fail_msg("netCDF: %s", nc_strerror(rc));
}

static void write_nc(const char *path) {
    int nc, dt, dl, dy, dx, vt, vy, vx, va, vb;
    nc_ok(nc_create(path, NC_CLOBBER, &nc));
    nc_ok(nc_def_dim(nc, "time", T, &dt));
    nc_ok(nc_def_dim(nc, "lev", NL, &dl));
    nc_ok(nc_def_dim(nc, "lat", NY, &dy));
    nc_ok(nc_def_dim(nc, "lon", NX, &dx));
    nc_ok(nc_def_var(nc, "time", NC_DOUBLE, 1, &dt, &vt));
    nc_ok(nc_put_att_text(nc, vt, "units", strlen("days since 2000-01-01"), "days since 2000-01-01"));
    nc_ok(nc_def_var(nc, "lat", NC_DOUBLE, 1, &dy, &vy));
    nc_ok(nc_def_var(nc, "lon", NC_DOUBLE, 1, &dx, &vx));
    int d3[3] = {dt, dy, dx}, d4[4] = {dt, dl, dy, dx};
    nc_ok(nc_def_var(nc, "A", NC_FLOAT, 3, d3, &va));
    nc_ok(nc_put_att_text(nc, va, "units", 1, "K"));
    nc_ok(nc_def_var(nc, "B", NC_SHORT, 4, d4, &vb));
    double scale = 0.5, offset = 1000.0;
    short fill = -32767;
    nc_ok(nc_put_att_double(nc, vb, "scale_factor", NC_DOUBLE, 1, &scale));
    nc_ok(nc_put_att_double(nc, vb, "add_offset", NC_DOUBLE, 1, &offset));
    nc_ok(nc_put_att_short(nc, vb, "_FillValue", NC_SHORT, 1, &fill));
    nc_ok(nc_enddef(nc));
    double times[T], lat[NY] = {-60, -20, 20, 60}, lon[NX] = {0, 72, 144, 216, 288};
    for (int t = 0; t < T; t++) times[t] = 0.25 * t; /* 6-hourly */
    nc_ok(nc_put_var_double(nc, vt, times));
    nc_ok(nc_put_var_double(nc, vy, lat));
    nc_ok(nc_put_var_double(nc, vx, lon));
    float a[T][NY][NX];
    short b[T][NL][NY][NX];
    for (int t = 0; t < T; t++)
        for (int j = 0; j < NY; j++)
            for (int i = 0; i < NX; i++) {
                a[t][j][i] = (float)a_val(t, j, i);
                for (int l = 0; l < NL; l++) b[t][l][j][i] = (short)(2 * (t + 10 * l) + j); /* 1000 + t + 10 l + j/2 */
            }
    b[4][1][0][0] = fill; /* one gap on level 1 */
    nc_ok(nc_put_var_float(nc, va, &a[0][0][0]));
    nc_ok(nc_put_var_short(nc, vb, &b[0][0][0][0]));
    nc_ok(nc_close(nc));
}

static void test_import_and_read(void **state) {
    (void)state;
    const char *root = ws_test_tmpdir("netcdf");
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/x.nc", root);
    snprintf(out, sizeof out, "%s/ds", root);
    write_nc(in);
    ws_netcdf_import_opts o = ws_netcdf_import_opts_default();
    o.in_path = in;
    o.out_dir = out;
    o.vars[0] = "A";
    o.vars[1] = "B";
    o.n_vars = 2;
    o.level = 1;
    o.split[0] = 0.6; /* 6 + 2 + 2 times: a 2-time part is refused */
    o.split[1] = 0.2;
    o.split[2] = 0.2;
    ws_error err = {0};
    ws_netcdf_import_report r;
    assert_int_equal(ws_netcdf_import(&o, &r, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "at least 3"));
    o.split[0] = 0.7; /* 7 + 3 + 0 */
    o.split[1] = 0.3;
    o.split[2] = 0.0;
    WS_TEST_OK(ws_netcdf_import(&o, &r, &err));
    assert_true(r.times[0] == 7 && r.times[1] == 3 && r.times[2] == 0 && r.c == 2 && r.h == NY && r.w == NX);
    WS_TEST_NEAR(r.dt_hours, 6.0, 1e-12, 0);
    assert_int_equal(r.filled, 1);

    ws_fields *f;
    WS_TEST_OK(ws_fields_open(&f, out, WS_FIELDS_TRAIN, NULL, &err));
    const ws_fields_info *info = ws_fields_info_get(f);
    assert_int_equal(info->count, 6);
    assert_string_equal(info->channel_names[0], "A");
    assert_string_equal(info->source, "netcdf");
    assert_true(info->lat_deg[0] == 60 && info->lat_deg[3] == -60); /* flipped: north first */
    float x[2 * NY * NX];
    for (int64_t idx = 0; idx < 6; idx++) {
        WS_TEST_OK(ws_fields_load(f, &idx, 1, 0, x, NULL, &err));
        for (int j = 0; j < NY; j++)
            for (int i = 0; i < NX; i++) {
                int fj = NY - 1 - j; /* the file's row */
                double a = x[j * NX + i] * info->std[0] + info->mean[0];
                double b = x[NY * NX + j * NX + i] * info->std[1] + info->mean[1];
                WS_TEST_NEAR(a, a_val((int)idx, fj, i), 1e-5, 1e-3);
                if (idx == 4 && fj == 0 && i == 0) /* the gap: the mean of the plane's 19 others */
                    WS_TEST_NEAR(b, 1014.0 + 15.0 / 19.0, 1e-5, 1e-3);
                else
                    WS_TEST_NEAR(b, 1000.0 + idx + 10.0 + fj / 2.0, 1e-5, 1e-3);
            }
    }
    ws_fields_close(f);
    ws_test_rmtree(out);

    /* errors: an unknown variable lists the file's; a 4-D variable without a level */
    o.vars[1] = "C";
    assert_int_equal(ws_netcdf_import(&o, &r, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "no variable C"));
    assert_non_null(strstr(err.msg, "A, B"));
    o.vars[1] = "B";
    o.level = -1;
    assert_int_equal(ws_netcdf_import(&o, &r, &err), WS_EINVAL);
    assert_non_null(strstr(err.msg, "--level"));
    o.in_path = "/nonexistent.nc";
    assert_int_equal(ws_netcdf_import(&o, &r, &err), WS_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent.nc"));
    ws_test_rmtree(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_import_and_read)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
