/* data/swe.c - the shallow-water model's dynamics on the latitude-longitude C-grid:
 * geometry, tendencies (flux-form continuity and tracer, Sadourny's energy-conserving
 * vorticity flux, Bernoulli gradient, hyperdiffusion), the FFTW polar filter, SSP-RK3
 * stepping, diagnostics and output fields. Equations, grid and conventions: data/swe.h;
 * forcing, topography and the initial state: data/swe_forcing.c. */
#include "data/swe_internal.h"
#include "core/error.h"
#include "ws_config.h"

#include <fftw3.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846
#define DEG (PI / 180.0)
#define DAY_S 86400.0
#define RK3_STABLE_COURANT 1.0 /* the state check's bound on the actual Courant number */
#define PARALLEL_CELLS 32768   /* automatic threads from 128x256 up: smaller loops lose more to
                                  the fork and barrier than they gain. (On an oversubscribed
                                  machine OpenMP's default active waiting made 2 threads 10-14x
                                  slower than 1 at 64x128 and 128x256; OMP_WAIT_POLICY=passive
                                  brought them level.) */

/* Row loops run in parallel on large grids. Every parallel loop writes disjoint rows and
 * reduces nothing, so the result is bitwise the same for any number of threads. */
#if WS_HAVE_OPENMP
#include <omp.h>
#define PAR_FOR _Pragma("omp parallel for schedule(static) num_threads(s->threads) if (s->parallel)")
static int thread_id(void) { return omp_get_thread_num(); }
static int max_threads(void) { return omp_get_max_threads(); }
#else
#define PAR_FOR
static int thread_id(void) { return 0; }
static int max_threads(void) { return 1; }
#endif

ws_swe_opts ws_swe_opts_default(void) {
    return (ws_swe_opts){
        .nlat = 32, .nlon = 64, .seed = 0,
        .radius_m = 6.371e6, .omega_rad_s = 7.292e-5, .gravity_m_s2 = 9.80616,
        .mean_height_m = 5000.0,
        .jet_speed_m_s = 40.0, .jet_lat_deg = 45.0, .jet_width_deg = 10.0,
        .season_amplitude = 0.3, .season_shift_deg = 6.0, .year_days = 365.0,
        .mountains = 6, .mountain_height_m = 1500.0, .mountain_width_deg = 12.0,
        .stir_m_s_day = 12.0, .stir_days = 2.0, .stir_lat_deg = 40.0, .stir_width_deg = 12.0,
        .forcing = 1, .dissipation = 1,
        .relax_days = 3.0, .drag_days = 30.0, .tracer_relax_days = 10.0, .hyperdiff_s = 6.0 * 3600.0,
        .tracer_equator_k = 300.0, .tracer_pole_k = 240.0, .tracer_season_k = 10.0,
        .dt_s = 0.0, .cfl = 0.6, .filter_lat_deg = 45.0, .perturb_height_m = 20.0, .threads = 0,
    };
}

/* ---- indexing: periodic in longitude ---- */
#define IDX(j, i) ((size_t)(j) * (size_t)ni + (size_t)(i))
static inline int west(int i, int ni) { return i == 0 ? ni - 1 : i - 1; }
static inline int east(int i, int ni) { return i == ni - 1 ? 0 : i + 1; }

static ws_status check_opts(const ws_swe_opts *o, ws_error *err) {
    if (o->nlat < 4 || o->nlon < 8 || o->nlon % 2)
        return wsi_error(err, WS_EINVAL, "ws_swe_open: grid %dx%d: need nlat >= 4 and an even nlon >= 8 "
                         "(e.g. 32x64)", o->nlat, o->nlon);
    if ((size_t)o->nlat * (size_t)o->nlon > ((size_t)1 << 28))
        return wsi_error(err, WS_EINVAL, "ws_swe_open: grid %dx%d is too large (over 2^28 cells)", o->nlat, o->nlon);
    struct { const char *name; double v; } pos[] = {
        {"radius_m", o->radius_m}, {"gravity_m_s2", o->gravity_m_s2}, {"mean_height_m", o->mean_height_m},
        {"jet_width_deg", o->jet_width_deg}, {"year_days", o->year_days}, {"stir_days", o->stir_days},
        {"stir_width_deg", o->stir_width_deg},
        {"relax_days", o->relax_days}, {"drag_days", o->drag_days}, {"tracer_relax_days", o->tracer_relax_days},
        {"hyperdiff_s", o->hyperdiff_s}, {"cfl", o->cfl}, {"mountain_width_deg", o->mountain_width_deg},
    };
    for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++)
        if (!(pos[k].v > 0.0 && isfinite(pos[k].v)))
            return wsi_error(err, WS_EINVAL, "ws_swe_open: %s = %g must be positive and finite", pos[k].name,
                             pos[k].v);
    if (!(o->filter_lat_deg > 0.0 && o->filter_lat_deg < 90.0))
        return wsi_error(err, WS_EINVAL, "ws_swe_open: filter_lat_deg = %g must be in (0, 90)", o->filter_lat_deg);
    if (!(o->dt_s >= 0.0 && isfinite(o->dt_s)))
        return wsi_error(err, WS_EINVAL, "ws_swe_open: dt_s = %g: 0 (automatic) or a positive step", o->dt_s);
    if (o->threads < 0 || o->threads > 4096)
        return wsi_error(err, WS_EINVAL, "ws_swe_open: threads = %d: 0 (automatic) or a thread count", o->threads);
    if (o->mountains < 0 || o->mountains > 1000)
        return wsi_error(err, WS_EINVAL, "ws_swe_open: mountains = %d must be in [0, 1000]", o->mountains);
    double any[] = {o->omega_rad_s, o->jet_speed_m_s, o->jet_lat_deg, o->season_amplitude, o->season_shift_deg,
                    o->mountain_height_m, o->stir_m_s_day, o->stir_lat_deg, o->tracer_equator_k, o->tracer_pole_k,
                    o->tracer_season_k, o->perturb_height_m};
    for (size_t k = 0; k < sizeof any / sizeof any[0]; k++)
        if (!isfinite(any[k])) return wsi_error(err, WS_EINVAL, "ws_swe_open: a parameter is not finite");
    if (o->mountain_height_m >= 0.8 * o->mean_height_m)
        return wsi_error(err, WS_EINVAL, "ws_swe_open: mountain_height_m %g is not well below mean_height_m %g; "
                         "the fluid would run dry over the mountains", o->mountain_height_m, o->mean_height_m);
    return WS_OK;
}

/* Polar filter set-up: wavenumber k is kept where sin(k dlam/2) <= cos(lat)/cos(lat0). */
static int keep_count(double lat, double lat0, int ni, double dlam) {
    int kmax = ni / 2;
    double ratio = cos(lat) / cos(lat0);
    if (fabs(lat) <= lat0 || ratio >= 1.0) return kmax + 1;
    int k = 0;
    while (k <= kmax && sin(k * dlam / 2.0) <= ratio) k++;
    return k < 1 ? 1 : k; /* wavenumber 0 always */
}

static ws_status alloc_all(ws_swe *s, ws_error *err) {
    int nj = s->nj, ni = s->ni;
    s->n_c = (size_t)nj * ni;
    s->n_v = (size_t)(nj + 1) * ni;
    s->n_state = 3 * s->n_c + s->n_v;
    double **c_arrays[] = {&s->b, &s->F, &s->phi, &s->theta, &s->del, &s->lu, &s->lu2, &s->ls, &s->ls2,
                           &s->eta_eq, &s->stir_u};
    double **v_arrays[] = {&s->G, &s->zeta, &s->q, &s->hz, &s->lv, &s->lv2, &s->stir_v, &s->stir_psi};
    int fail = 0;
    for (size_t k = 0; k < sizeof c_arrays / sizeof c_arrays[0]; k++)
        fail |= !(*c_arrays[k] = calloc(s->n_c, sizeof(double)));
    for (size_t k = 0; k < sizeof v_arrays / sizeof v_arrays[0]; k++)
        fail |= !(*v_arrays[k] = calloc(s->n_v, sizeof(double)));
    fail |= !(s->y = calloc(s->n_state, sizeof(double)));
    fail |= !(s->y0 = calloc(s->n_state, sizeof(double)));
    fail |= !(s->dy_dt = calloc(s->n_state, sizeof(double)));
    double **j_arrays[] = {&s->lat_c, &s->dxc, &s->area, &s->eta_zonal, &s->theta_eq};
    for (size_t k = 0; k < sizeof j_arrays / sizeof j_arrays[0]; k++)
        fail |= !(*j_arrays[k] = calloc((size_t)nj, sizeof(double)));
    double **jv_arrays[] = {&s->lat_v, &s->dxv, &s->area_z, &s->f_z};
    for (size_t k = 0; k < sizeof jv_arrays / sizeof jv_arrays[0]; k++)
        fail |= !(*jv_arrays[k] = calloc((size_t)nj + 1, sizeof(double)));
    fail |= !(s->lon_c = calloc((size_t)ni, sizeof(double)));
    fail |= !(s->lon_u = calloc((size_t)ni, sizeof(double)));
    fail |= !(s->keep_c = calloc((size_t)nj, sizeof(int)));
    fail |= !(s->keep_v = calloc((size_t)nj + 1, sizeof(int)));
    fail |= !(s->noise_basis_lat = calloc((size_t)WSI_SWE_NOISE_M * WSI_SWE_NOISE_N * nj, sizeof(double)));
    fail |= !(s->noise_cos = calloc((size_t)WSI_SWE_NOISE_M * ni, sizeof(double)));
    fail |= !(s->noise_sin = calloc((size_t)WSI_SWE_NOISE_M * ni, sizeof(double)));
    s->threads = s->o.threads > 0 ? s->o.threads : (size_t)nj * ni >= PARALLEL_CELLS ? max_threads() : 1;
    fail |= !(s->fft_row = calloc((size_t)s->threads, sizeof *s->fft_row));
    fail |= !(s->fft_spec = calloc((size_t)s->threads, sizeof *s->fft_spec));
    for (int t = 0; !fail && t < s->threads; t++) {
        fail |= !(s->fft_row[t] = fftw_malloc((size_t)ni * sizeof(double)));
        fail |= !(s->fft_spec[t] = fftw_malloc((size_t)(ni / 2 + 1) * sizeof(fftw_complex)));
    }
    s->parallel = s->threads > 1;
    if (fail) return wsi_error(err, WS_ENOMEM, "ws_swe_open: out of memory for a %dx%d grid", nj, ni);
    s->h = s->y;
    s->u = s->y + s->n_c;
    s->v = s->y + 2 * s->n_c;
    s->th = s->y + 2 * s->n_c + s->n_v;
    return WS_OK;
}

static void make_geometry(ws_swe *s) {
    int nj = s->nj, ni = s->ni;
    double a = s->a;
    s->dlam = 2.0 * PI / ni;
    s->dphi = PI / nj;
    s->dy = a * s->dphi;
    for (int j = 0; j <= nj; j++) s->lat_v[j] = -PI / 2 + j * s->dphi;
    for (int j = 0; j < nj; j++) {
        s->lat_c[j] = -PI / 2 + (j + 0.5) * s->dphi;
        s->dxc[j] = a * cos(s->lat_c[j]) * s->dlam;
        s->area[j] = a * a * s->dlam * (sin(s->lat_v[j + 1]) - sin(s->lat_v[j]));
    }
    for (int j = 0; j <= nj; j++) {
        /* exactly 0 at the poles, so no flux crosses them */
        s->dxv[j] = (j == 0 || j == nj) ? 0.0 : a * cos(s->lat_v[j]) * s->dlam;
        s->f_z[j] = 2.0 * s->o.omega_rad_s * sin(s->lat_v[j]);
    }
    s->f_z[0] = -2.0 * s->o.omega_rad_s;
    s->f_z[nj] = 2.0 * s->o.omega_rad_s;
    /* dual cells: between centre rows j-1 and j; the poles' caps are shared by ni corners */
    for (int j = 1; j < nj; j++) s->area_z[j] = a * a * s->dlam * (sin(s->lat_c[j]) - sin(s->lat_c[j - 1]));
    s->area_z[0] = 2.0 * PI * a * a * (1.0 + sin(s->lat_c[0])) / ni;
    s->area_z[nj] = 2.0 * PI * a * a * (1.0 - sin(s->lat_c[nj - 1])) / ni;
    for (int i = 0; i < ni; i++) {
        s->lon_c[i] = i * s->dlam;
        s->lon_u[i] = (i - 0.5) * s->dlam;
    }
    double lat0 = s->o.filter_lat_deg * DEG;
    for (int j = 0; j < nj; j++) s->keep_c[j] = keep_count(s->lat_c[j], lat0, ni, s->dlam);
    for (int j = 0; j <= nj; j++) s->keep_v[j] = keep_count(s->lat_v[j], lat0, ni, s->dlam);
    s->dx_filter = a * cos(lat0) * s->dlam;
    /* the 2-grid-length meridional wave, eigenvalue (4/dy^2)^2 of del^4, decays in hyperdiff_s */
    s->nu4 = s->o.dissipation ? pow(s->dy, 4) / (16.0 * s->o.hyperdiff_s) : 0.0;
}

/* 1/sqrt(1/dx^2 + 1/dy^2) at latitude row j, with the filter's effective zonal length. */
static double cell_scale(const ws_swe *s, int j) {
    double dx = s->dxc[j] > s->dx_filter ? s->dxc[j] : s->dx_filter;
    return 1.0 / sqrt(1.0 / (dx * dx) + 1.0 / (s->dy * s->dy));
}

static void choose_dt(ws_swe *s) {
    if (s->o.dt_s > 0.0) {
        s->dt = s->o.dt_s;
        return;
    }
    double c = sqrt(s->g * (s->o.mean_height_m + 1000.0)) + 2.0 * fabs(s->o.jet_speed_m_s) + 30.0;
    double scale = INFINITY;
    for (int j = 0; j < s->nj; j++)
        if (cell_scale(s, j) < scale) scale = cell_scale(s, j);
    double dt_max = s->o.cfl * scale / c;
    double steps = ceil(WSI_SWE_OUTPUT_S / dt_max);
    s->dt = WSI_SWE_OUTPUT_S / steps;
}

ws_status ws_swe_open(ws_swe **out, const ws_swe_opts *o, ws_error *err) {
    *out = NULL;
    ws_swe_opts def = ws_swe_opts_default();
    if (!o) o = &def;
    ws_status st = check_opts(o, err);
    if (st != WS_OK) return st;
    ws_swe *s = calloc(1, sizeof *s);
    if (!s) return wsi_error(err, WS_ENOMEM, "ws_swe_open: out of memory");
    s->o = *o;
    s->nj = o->nlat;
    s->ni = o->nlon;
    s->a = o->radius_m;
    s->g = o->gravity_m_s2;
    if ((st = alloc_all(s, err)) != WS_OK) {
        ws_swe_close(s);
        return st;
    }
    s->plan_r2c = fftw_plan_dft_r2c_1d(s->ni, s->fft_row[0], s->fft_spec[0], FFTW_ESTIMATE);
    s->plan_c2r = fftw_plan_dft_c2r_1d(s->ni, s->fft_spec[0], s->fft_row[0], FFTW_ESTIMATE);
    if (!s->plan_r2c || !s->plan_c2r) {
        ws_swe_close(s);
        return wsi_error(err, WS_ELIBRARY, "ws_swe_open: FFTW could not plan a %d-point transform", o->nlon);
    }
    make_geometry(s);
    choose_dt(s);
    wsi_swe_init_state(s);
    wsi_swe_forcing_update(s, 0.0, 0);
    s->next_forcing_s = WSI_SWE_OUTPUT_S;
    *out = s;
    return WS_OK;
}

void ws_swe_close(ws_swe *s) {
    if (!s) return;
    if (s->plan_r2c) fftw_destroy_plan(s->plan_r2c);
    if (s->plan_c2r) fftw_destroy_plan(s->plan_c2r);
    for (int t = 0; t < s->threads; t++) {
        if (s->fft_row) fftw_free(s->fft_row[t]);
        if (s->fft_spec) fftw_free(s->fft_spec[t]);
    }
    free(s->fft_row);
    free(s->fft_spec);
    double *arrays[] = {s->b, s->F, s->phi, s->theta, s->del, s->lu, s->lu2, s->ls, s->ls2, s->eta_eq, s->stir_u, s->stir_v, s->stir_psi, s->G,
                        s->zeta, s->q, s->hz, s->lv, s->lv2, s->y, s->y0, s->dy_dt, s->lat_c, s->dxc, s->area,
                        s->eta_zonal, s->theta_eq, s->lat_v, s->dxv, s->area_z, s->f_z, s->lon_c, s->lon_u,
                        s->noise_basis_lat, s->noise_cos, s->noise_sin};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) free(arrays[k]);
    free(s->keep_c);
    free(s->keep_v);
    free(s);
}

/* ---- discrete operators (shared by the tendencies, the dissipation and the output) ---- */

/* Relative vorticity at corners [nj+1][ni] from the circulation around each dual cell;
 * the pole rows hold the cap's value in every column. */
static void vorticity(const ws_swe *s, const double *u, const double *v, double *zeta) {
    int nj = s->nj, ni = s->ni;
    double dy = s->dy;
    PAR_FOR
    for (int j = 1; j < nj; j++)
        for (int i = 0; i < ni; i++) {
            double circ = u[IDX(j - 1, i)] * s->dxc[j - 1] + v[IDX(j, i)] * dy - u[IDX(j, i)] * s->dxc[j] -
                          v[IDX(j, west(i, ni))] * dy;
            zeta[IDX(j, i)] = circ / s->area_z[j];
        }
    /* caps: the boundary of the south cap runs westward (region on the left), the north's eastward */
    double cs = 0.0, cn = 0.0;
    for (int i = 0; i < ni; i++) {
        cs -= u[IDX(0, i)] * s->dxc[0];
        cn += u[IDX(nj - 1, i)] * s->dxc[nj - 1];
    }
    for (int i = 0; i < ni; i++) {
        zeta[IDX(0, i)] = cs / (s->area_z[0] * ni);
        zeta[IDX(nj, i)] = cn / (s->area_z[nj] * ni);
    }
}

/* Depth at corners [nj+1][ni]: the area-weighted mean of the 4 cells around a corner; at
 * the poles the mean of the nearest row. Only the potential vorticity uses it. */
static void corner_depth(const ws_swe *s, const double *h, double *hz) {
    int nj = s->nj, ni = s->ni;
    PAR_FOR
    for (int j = 1; j < nj; j++) {
        double ws_ = s->area[j - 1], wn = s->area[j], norm = 1.0 / (2.0 * (ws_ + wn));
        for (int i = 0; i < ni; i++) {
            int iw = west(i, ni);
            hz[IDX(j, i)] = (ws_ * (h[IDX(j - 1, iw)] + h[IDX(j - 1, i)]) + wn * (h[IDX(j, iw)] + h[IDX(j, i)])) * norm;
        }
    }
    double hs = 0.0, hn = 0.0;
    for (int i = 0; i < ni; i++) {
        hs += h[IDX(0, i)];
        hn += h[IDX(nj - 1, i)];
    }
    for (int i = 0; i < ni; i++) {
        hz[IDX(0, i)] = hs / ni;
        hz[IDX(nj, i)] = hn / ni;
    }
}

/* Divergence of a velocity field at centres [nj][ni]. */
static void divergence(const ws_swe *s, const double *u, const double *v, double *del) {
    int nj = s->nj, ni = s->ni;
    PAR_FOR
    for (int j = 0; j < nj; j++)
        for (int i = 0; i < ni; i++)
            del[IDX(j, i)] = ((u[IDX(j, east(i, ni))] - u[IDX(j, i)]) * s->dy + v[IDX(j + 1, i)] * s->dxv[j + 1] -
                              v[IDX(j, i)] * s->dxv[j]) / s->area[j];
}

/* M(v) = grad(div v) - k x grad(zeta) + 2 v / a^2 on the C-grid (see data/swe.h); pole rows
 * of mv stay 0. Uses s->del and s->zeta as scratch. */
static void vector_laplacian(ws_swe *s, const double *u, const double *v, double *mu, double *mv) {
    int nj = s->nj, ni = s->ni;
    double dy = s->dy, c2 = 2.0 / (s->a * s->a);
    divergence(s, u, v, s->del);
    vorticity(s, u, v, s->zeta);
    PAR_FOR
    for (int j = 0; j < nj; j++)
        for (int i = 0; i < ni; i++)
            mu[IDX(j, i)] = (s->del[IDX(j, i)] - s->del[IDX(j, west(i, ni))]) / s->dxc[j] -
                            (s->zeta[IDX(j + 1, i)] - s->zeta[IDX(j, i)]) / dy + c2 * u[IDX(j, i)];
    for (int i = 0; i < ni; i++) mv[IDX(0, i)] = mv[IDX(nj, i)] = 0.0;
    PAR_FOR
    for (int j = 1; j < nj; j++)
        for (int i = 0; i < ni; i++)
            mv[IDX(j, i)] = (s->del[IDX(j, i)] - s->del[IDX(j - 1, i)]) / dy +
                            (s->zeta[IDX(j, east(i, ni))] - s->zeta[IDX(j, i)]) / s->dxv[j] + c2 * v[IDX(j, i)];
}

/* Laplacian of a centre field in flux form (so its global integral is exactly 0). */
static void scalar_laplacian(const ws_swe *s, const double *f, double *out) {
    int nj = s->nj, ni = s->ni;
    double dy = s->dy;
    PAR_FOR
    for (int j = 0; j < nj; j++)
        for (int i = 0; i < ni; i++) {
            double c = f[IDX(j, i)];
            double fx = (f[IDX(j, east(i, ni))] - c) - (c - f[IDX(j, west(i, ni))]);
            double acc = fx / s->dxc[j] * dy;
            if (j + 1 < nj) acc += (f[IDX(j + 1, i)] - c) / dy * s->dxv[j + 1];
            if (j > 0) acc -= (c - f[IDX(j - 1, i)]) / dy * s->dxv[j];
            out[IDX(j, i)] = acc / s->area[j];
        }
}

/* Sharp zonal Fourier filter of one row of ni values, keeping wavenumbers < keep, with the
 * calling thread's buffers (FFTW's new-array execute is thread-safe; planning is not). */
static void filter_row(ws_swe *s, double *row, int keep) {
    int ni = s->ni, t = thread_id();
    if (keep > ni / 2) return;
    double *buf = s->fft_row[t];
    fftw_complex *spec = s->fft_spec[t];
    memcpy(buf, row, (size_t)ni * sizeof *row);
    fftw_execute_dft_r2c(s->plan_r2c, buf, spec);
    for (int k = keep; k <= ni / 2; k++) spec[k][0] = spec[k][1] = 0.0;
    fftw_execute_dft_c2r(s->plan_c2r, spec, buf);
    for (int i = 0; i < ni; i++) row[i] = buf[i] / ni;
}

/* ---- tendencies ---- */

static void tendencies(ws_swe *s, const double *y, double *dydt) {
    int nj = s->nj, ni = s->ni;
    double dy = s->dy, g = s->g;
    const double *h = y, *u = y + s->n_c, *v = y + 2 * s->n_c, *th = y + 2 * s->n_c + s->n_v;
    double *dh = dydt, *du = dydt + s->n_c, *dv = dydt + 2 * s->n_c, *dth = dydt + 2 * s->n_c + s->n_v;
    double *F = s->F, *G = s->G, *theta = s->theta;

    /* mass fluxes through the faces and the tracer per unit mass */
    PAR_FOR
    for (int j = 0; j < nj; j++)
        for (int i = 0; i < ni; i++) {
            F[IDX(j, i)] = 0.5 * (h[IDX(j, west(i, ni))] + h[IDX(j, i)]) * u[IDX(j, i)] * dy;
            theta[IDX(j, i)] = th[IDX(j, i)] / h[IDX(j, i)];
        }
    for (int i = 0; i < ni; i++) G[IDX(0, i)] = G[IDX(nj, i)] = 0.0;
    PAR_FOR
    for (int j = 1; j < nj; j++)
        for (int i = 0; i < ni; i++)
            G[IDX(j, i)] = 0.5 * (h[IDX(j - 1, i)] + h[IDX(j, i)]) * v[IDX(j, i)] * s->dxv[j];

    /* continuity and tracer in flux form (centred face values of theta) */
    PAR_FOR
    for (int j = 0; j < nj; j++)
        for (int i = 0; i < ni; i++) {
            int ie = east(i, ni), iw = west(i, ni);
            double fw = F[IDX(j, i)], fe = F[IDX(j, ie)], gs = G[IDX(j, i)], gn = G[IDX(j + 1, i)];
            dh[IDX(j, i)] = -(fe - fw + gn - gs) / s->area[j];
            double tc = theta[IDX(j, i)];
            double tw = 0.5 * (theta[IDX(j, iw)] + tc), te = 0.5 * (theta[IDX(j, ie)] + tc);
            double ts = j > 0 ? 0.5 * (theta[IDX(j - 1, i)] + tc) : 0.0;
            double tn = j + 1 < nj ? 0.5 * (theta[IDX(j + 1, i)] + tc) : 0.0;
            dth[IDX(j, i)] = -(fe * te - fw * tw + gn * tn - gs * ts) / s->area[j];
        }

    /* potential vorticity at corners; h there is the area-weighted mean of the 4 cells */
    vorticity(s, u, v, s->zeta);
    corner_depth(s, h, s->hz);
    PAR_FOR
    for (size_t k = 0; k < s->n_v; k++) s->q[k] = (s->f_z[k / (size_t)ni] + s->zeta[k]) / s->hz[k];

    /* Bernoulli function: g (h+b) + K, K the area-weighted mean of the faces' u^2/2, v^2/2 */
    PAR_FOR
    for (int j = 0; j < nj; j++) {
        double au = s->dxc[j] * dy, avs = s->dxv[j] * dy, avn = s->dxv[j + 1] * dy;
        for (int i = 0; i < ni; i++) {
            double uw = u[IDX(j, i)], ue = u[IDX(j, east(i, ni))], vs = v[IDX(j, i)], vn = v[IDX(j + 1, i)];
            double k = (au * (uw * uw + ue * ue) + avs * vs * vs + avn * vn * vn) / (4.0 * s->area[j]);
            s->phi[IDX(j, i)] = g * (h[IDX(j, i)] + s->b[IDX(j, i)]) + k;
        }
    }

    /* momentum: Sadourny's energy-conserving vorticity flux, minus the Bernoulli gradient */
    PAR_FOR
    for (int j = 0; j < nj; j++)
        for (int i = 0; i < ni; i++) {
            int iw = west(i, ni);
            double gbar_s = 0.5 * (G[IDX(j, iw)] + G[IDX(j, i)]);
            double gbar_n = 0.5 * (G[IDX(j + 1, iw)] + G[IDX(j + 1, i)]);
            du[IDX(j, i)] = (s->q[IDX(j, i)] * gbar_s + s->q[IDX(j + 1, i)] * gbar_n) / (2.0 * s->dxc[j]) -
                            (s->phi[IDX(j, i)] - s->phi[IDX(j, iw)]) / s->dxc[j];
        }
    for (int i = 0; i < ni; i++) dv[IDX(0, i)] = dv[IDX(nj, i)] = 0.0;
    PAR_FOR
    for (int j = 1; j < nj; j++)
        for (int i = 0; i < ni; i++) {
            int ie = east(i, ni);
            double fbar_w = 0.5 * (F[IDX(j - 1, i)] + F[IDX(j, i)]);
            double fbar_e = 0.5 * (F[IDX(j - 1, ie)] + F[IDX(j, ie)]);
            dv[IDX(j, i)] = -(s->q[IDX(j, i)] * fbar_w + s->q[IDX(j, ie)] * fbar_e) / (2.0 * dy) -
                            (s->phi[IDX(j, i)] - s->phi[IDX(j - 1, i)]) / dy;
        }

    /* hyperdiffusion: -nu4 M(M(v)) for momentum, -nu4 del^4 for h and h*theta (flux form) */
    if (s->nu4 > 0.0) {
        double nu = s->nu4;
        vector_laplacian(s, u, v, s->lu, s->lv);
        vector_laplacian(s, s->lu, s->lv, s->lu2, s->lv2);
        for (size_t k = 0; k < s->n_c; k++) du[k] -= nu * s->lu2[k];
        for (size_t k = 0; k < s->n_v; k++) dv[k] -= nu * s->lv2[k];
        scalar_laplacian(s, h, s->ls);
        scalar_laplacian(s, s->ls, s->ls2);
        for (size_t k = 0; k < s->n_c; k++) dh[k] -= nu * s->ls2[k];
        scalar_laplacian(s, th, s->ls);
        scalar_laplacian(s, s->ls, s->ls2);
        for (size_t k = 0; k < s->n_c; k++) dth[k] -= nu * s->ls2[k];
    }

    /* forcing: relaxation of the surface and the tracer, stirring, Rayleigh drag */
    if (s->o.forcing) {
        double rh = 1.0 / (s->o.relax_days * DAY_S), rd = 1.0 / (s->o.drag_days * DAY_S);
        double rt = 1.0 / (s->o.tracer_relax_days * DAY_S);
        PAR_FOR
        for (int j = 0; j < nj; j++)
            for (int i = 0; i < ni; i++) {
                size_t k = IDX(j, i);
                dh[k] += (s->eta_eq[k] - (h[k] + s->b[k])) * rh;
                dth[k] += h[k] * (s->theta_eq[j] - theta[k]) * rt;
                du[k] += s->stir_u[k] - u[k] * rd;
            }
        for (size_t k = 0; k < s->n_v; k++) dv[k] += s->stir_v[k] - v[k] * rd;
    }

    /* polar filter of every prognostic tendency row */
    PAR_FOR
    for (int j = 0; j < nj; j++) {
        int keep = s->keep_c[j];
        if (keep > ni / 2) continue;
        filter_row(s, dh + IDX(j, 0), keep);
        filter_row(s, du + IDX(j, 0), keep);
        filter_row(s, dth + IDX(j, 0), keep);
    }
    PAR_FOR
    for (int j = 1; j < nj; j++)
        if (s->keep_v[j] <= ni / 2) filter_row(s, dv + IDX(j, 0), s->keep_v[j]);
}

/* One SSP-RK3 (Shu-Osher) step of y. */
static void rk3_step(ws_swe *s) {
    size_t n = s->n_state;
    double dt = s->dt, *y = s->y, *y0 = s->y0, *k = s->dy_dt;
    memcpy(y0, y, n * sizeof *y);
    tendencies(s, y, k);
    PAR_FOR
    for (size_t p = 0; p < n; p++) y[p] = y0[p] + dt * k[p];
    tendencies(s, y, k);
    PAR_FOR
    for (size_t p = 0; p < n; p++) y[p] = 0.75 * y0[p] + 0.25 * (y[p] + dt * k[p]);
    tendencies(s, y, k);
    PAR_FOR
    for (size_t p = 0; p < n; p++) y[p] = y0[p] / 3.0 + 2.0 / 3.0 * (y[p] + dt * k[p]);
    s->time_s += dt;
}

ws_status ws_swe_step(ws_swe *s, long steps, ws_error *err) {
    for (long n = 0; n < steps; n++) {
        rk3_step(s);
        /* the forcing changes on the 6-h grid only, so it does not depend on dt */
        while (s->time_s >= s->next_forcing_s - 1e-6 * s->dt) {
            wsi_swe_forcing_update(s, s->next_forcing_s, 1);
            s->next_forcing_s += WSI_SWE_OUTPUT_S;
        }
    }
    ws_swe_diag d;
    ws_swe_diagnose(s, &d);
    if (!isfinite(d.energy_m5_s2) || !isfinite(d.mass_m3) || !isfinite(d.tracer_m3k) || !(d.min_depth_m > 0.0) ||
        !(d.courant <= RK3_STABLE_COURANT))
        return wsi_error(err, WS_EINVAL, "ws_swe_step: the flow became unstable at day %.2f (Courant number %.3g, "
                         "least depth %.4g m, fastest wind %.4g m/s) with dt %.1f s on a %dx%d grid; lower cfl "
                         "(--cfl), raise the dissipation (shorter hyperdiff_s) or weaken the jets",
                         s->time_s / DAY_S, d.courant, d.min_depth_m, d.max_speed_m_s, s->dt, s->nj, s->ni);
    return WS_OK;
}

ws_status ws_swe_advance_s(ws_swe *s, double seconds, ws_error *err) {
    double n = seconds / s->dt;
    double steps = floor(n + 0.5);
    if (!(fabs(n - steps) <= 1e-9 * (steps > 1 ? steps : 1)) || steps < 0)
        return wsi_error(err, WS_EINVAL, "ws_swe_advance_s: %.6g s is not a whole number of %.6g-s steps",
                         seconds, s->dt);
    return ws_swe_step(s, (long)steps, err);
}

double ws_swe_dt_s(const ws_swe *s) { return s->dt; }
double ws_swe_time_s(const ws_swe *s) { return s->time_s; }

ws_swe_state_view ws_swe_state(ws_swe *s) {
    return (ws_swe_state_view){.h = s->h, .u = s->u, .v = s->v, .tracer_mass = s->th, .topo = s->b};
}

ws_swe_geometry_view ws_swe_geometry(const ws_swe *s) {
    return (ws_swe_geometry_view){.nlat = s->nj, .nlon = s->ni, .lat_c = s->lat_c, .lat_v = s->lat_v,
                                  .lon_c = s->lon_c, .lon_u = s->lon_u, .area = s->area};
}

/* ---- diagnostics and output ---- */

void ws_swe_diagnose(ws_swe *s, ws_swe_diag *d) {
    int nj = s->nj, ni = s->ni;
    double dy = s->dy, g = s->g;
    const double *h = s->h, *u = s->u, *v = s->v;
    double mass = 0, tracer = 0, ke = 0, pe = 0, ens = 0, vmax = 0, hmin = INFINITY, cmax = 0;
    vorticity(s, u, v, s->zeta);
    for (int j = 0; j < nj; j++) {
        double rm = 0, rt = 0, rk = 0, rp = 0; /* per-row partial sums: less rounding on big grids */
        for (int i = 0; i < ni; i++) {
            size_t k = IDX(j, i);
            rm += h[k];
            rt += s->th[k];
            rp += g * (0.5 * h[k] * h[k] + h[k] * s->b[k]);
            rk += 0.5 * (h[IDX(j, west(i, ni))] + h[k]) * u[k] * u[k] * 0.5;
            double uc = 0.5 * (u[k] + u[IDX(j, east(i, ni))]), vc = 0.5 * (v[k] + v[IDX(j + 1, i)]);
            double sp = sqrt(uc * uc + vc * vc);
            if (!(sp <= vmax)) vmax = sp; /* NaN shows in the energy, which the step checks */
            if (!(h[k] >= hmin)) hmin = h[k];
            double c = (sqrt(g * fabs(h[k])) + sp) * s->dt / cell_scale(s, j);
            if (!(c <= cmax)) cmax = c;
        }
        mass += rm * s->area[j];
        tracer += rt * s->area[j];
        pe += rp * s->area[j];
        ke += rk * s->dxc[j] * dy;
    }
    for (int j = 1; j < nj; j++) {
        double rk = 0;
        for (int i = 0; i < ni; i++) {
            size_t k = IDX(j, i);
            rk += 0.5 * (h[IDX(j - 1, i)] + h[IDX(j, i)]) * v[k] * v[k] * 0.5;
        }
        ke += rk * s->dxv[j] * dy;
    }
    corner_depth(s, h, s->hz);
    for (int j = 0; j <= nj; j++) {
        double re = 0;
        for (int i = 0; i < ni; i++) {
            double hz = s->hz[IDX(j, i)], q = (s->f_z[j] + s->zeta[IDX(j, i)]) / hz;
            re += 0.5 * hz * q * q;
        }
        ens += re * s->area_z[j];
    }
    *d = (ws_swe_diag){.mass_m3 = mass, .tracer_m3k = tracer, .energy_m5_s2 = ke + pe, .enstrophy_m_s2 = ens,
                       .max_speed_m_s = vmax, .min_depth_m = hmin, .courant = cmax};
}

void ws_swe_fields(ws_swe *s, float *out) {
    int nj = s->nj, ni = s->ni;
    size_t plane = s->n_c;
    vorticity(s, s->u, s->v, s->zeta);
    divergence(s, s->u, s->v, s->del);
    for (int j = 0; j < nj; j++) {
        size_t r = (size_t)(nj - 1 - j) * ni; /* north first */
        for (int i = 0; i < ni; i++) {
            size_t k = IDX(j, i);
            int ie = east(i, ni);
            out[WS_SWE_Z * plane + r + i] = (float)(s->g * (s->h[k] + s->b[k]));
            out[WS_SWE_U * plane + r + i] = (float)(0.5 * (s->u[k] + s->u[IDX(j, ie)]));
            out[WS_SWE_V * plane + r + i] = (float)(0.5 * (s->v[k] + s->v[IDX(j + 1, i)]));
            /* the cell's corners: (j, i) south-west, (j, i+1) south-east, j+1 the northern two */
            out[WS_SWE_VO * plane + r + i] = (float)(0.25 * (s->zeta[IDX(j, i)] + s->zeta[IDX(j, ie)] +
                                                              s->zeta[IDX(j + 1, i)] + s->zeta[IDX(j + 1, ie)]));
            out[WS_SWE_D * plane + r + i] = (float)s->del[k];
            out[WS_SWE_T * plane + r + i] = (float)(s->th[k] / s->h[k]);
        }
    }
}

static const char *const channel_names[WS_SWE_CHANNELS] = {"z", "u", "v", "vo", "d", "t"};
static const char *const channel_units[WS_SWE_CHANNELS] = {"m**2 s**-2", "m s**-1", "m s**-1", "s**-1", "s**-1",
                                                           "K"};

const char *ws_swe_channel_name(int c) { return c >= 0 && c < WS_SWE_CHANNELS ? channel_names[c] : NULL; }
const char *ws_swe_channel_units(int c) { return c >= 0 && c < WS_SWE_CHANNELS ? channel_units[c] : NULL; }

#define PD(f) {#f, offsetof(ws_swe_opts, f), 'd'}
#define PI_(f) {#f, offsetof(ws_swe_opts, f), 'i'}
static const ws_swe_param params[] = {
    PI_(nlat), PI_(nlon), {"seed", offsetof(ws_swe_opts, seed), 'u'}, PD(radius_m), PD(omega_rad_s),
    PD(gravity_m_s2), PD(mean_height_m), PD(jet_speed_m_s), PD(jet_lat_deg), PD(jet_width_deg),
    PD(season_amplitude), PD(season_shift_deg), PD(year_days), PI_(mountains), PD(mountain_height_m),
    PD(mountain_width_deg), PD(stir_m_s_day), PD(stir_days), PD(stir_lat_deg), PD(stir_width_deg), PI_(forcing),
    PI_(dissipation), PD(relax_days), PD(drag_days), PD(tracer_relax_days), PD(hyperdiff_s), PD(tracer_equator_k),
    PD(tracer_pole_k), PD(tracer_season_k), PD(dt_s), PD(cfl), PD(filter_lat_deg), PD(perturb_height_m),
};

const ws_swe_param *ws_swe_params(size_t *n) {
    *n = sizeof params / sizeof params[0];
    return params;
}

double ws_swe_param_get(const ws_swe_opts *o, const ws_swe_param *p) {
    const char *base = (const char *)o + p->offset;
    if (p->kind == 'd') return *(const double *)(const void *)base;
    if (p->kind == 'i') return *(const int *)(const void *)base;
    return (double)*(const uint64_t *)(const void *)base;
}

ws_status ws_swe_param_set(ws_swe_opts *o, const char *name, const char *value, ws_error *err) {
    for (size_t k = 0; k < sizeof params / sizeof params[0]; k++) {
        if (strcmp(params[k].name, name)) continue;
        char *end;
        char *base = (char *)o + params[k].offset;
        if (params[k].kind == 'd') {
            double v = strtod(value, &end);
            if (end != value && !*end) {
                *(double *)(void *)base = v;
                return WS_OK;
            }
        } else {
            long long v = strtoll(value, &end, 10);
            if (end != value && !*end && v >= 0) {
                if (params[k].kind == 'i') *(int *)(void *)base = (int)v;
                else *(uint64_t *)(void *)base = (uint64_t)v;
                return WS_OK;
            }
        }
        return wsi_error(err, WS_EINVAL, "swe parameter %s: '%s' is not a%s number", name, value,
                         params[k].kind == 'd' ? "" : " whole non-negative");
    }
    char names[1024] = "";
    size_t len = 0;
    for (size_t k = 0; k < sizeof params / sizeof params[0] && len < sizeof names; k++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", k ? " " : "", params[k].name);
    return wsi_error(err, WS_EINVAL, "unknown swe parameter '%s'; known: %s", name, names);
}
