/* data/swe_forcing.c - what drives the shallow-water model (data/swe.h): the equilibrium
 * jets and their seasons, the balanced surface they imply, the tracer's equilibrium, the
 * stochastic stirring, the seeded topography and the initial state.
 * defines: wsi_swe_jet_u, wsi_swe_init_state, wsi_swe_forcing_update (data/swe_internal.h).
 *
 * Random streams, all from ws_rng_seeded(seed) = root: topography TOPO_STREAM, initial
 * perturbation INIT_STREAM, stirring STIR_STREAM (one draw per coefficient per 6 h, so the
 * forcing does not depend on the time step). */
#include "data/swe_internal.h"

#include <math.h>

#define PI 3.14159265358979323846
#define DEG (PI / 180.0)
#define DAY_S 86400.0
#define TOPO_STREAM 0x746f706full  /* "topo" */
#define INIT_STREAM 0x696e6974ull  /* "init" */
#define STIR_STREAM 0x73746972ull  /* "stir" */
#define MOUNTAIN_MAX_LAT_DEG 70.0
#define SUBSTEPS 32                /* midpoint sub-intervals per half row for the balance integral */
#define NCOEF (2 * WSI_SWE_NOISE_M * WSI_SWE_NOISE_N) /* initial perturbation */

/* +1 at northern mid-winter (t = 0), -1 half a year later. */
static double north_winter(const ws_swe *s, double t) {
    return cos(2.0 * PI * t / (s->o.year_days * DAY_S));
}

double wsi_swe_jet_u(const ws_swe *s, double lat, double t) {
    const ws_swe_opts *o = &s->o;
    double w = north_winter(s, t), width = o->jet_width_deg * DEG;
    double un = o->jet_speed_m_s * (1.0 + o->season_amplitude * w);
    double us = o->jet_speed_m_s * (1.0 - o->season_amplitude * w);
    double latn = (o->jet_lat_deg - o->season_shift_deg * w) * DEG;  /* winter jet: equatorward */
    double lats = -(o->jet_lat_deg + o->season_shift_deg * w) * DEG;
    double xn = (lat - latn) / width, xs = (lat - lats) / width;
    return un * exp(-xn * xn) + us * exp(-xs * xs);
}

/* g d(eta)/d(lat) = -u (2 Omega a sin(lat) + u tan(lat)): gradient-wind balance of a zonal flow. */
static double balance_slope(const ws_swe *s, double lat, double t) {
    double u = wsi_swe_jet_u(s, lat, t);
    return -u * (2.0 * s->o.omega_rad_s * s->a * sin(lat) + u * tan(lat)) / s->g;
}

static double integrate(const ws_swe *s, double lat0, double lat1, double t) {
    double dl = (lat1 - lat0) / SUBSTEPS, sum = 0.0;
    for (int k = 0; k < SUBSTEPS; k++) sum += balance_slope(s, lat0 + (k + 0.5) * dl, t);
    return sum * dl; /* midpoints only: tan(lat) is never evaluated at a pole */
}

/* eta_zonal for time t: integrated from the south pole, shifted to the mean height. */
static void balanced_surface(ws_swe *s, double t) {
    int nj = s->nj;
    double eta = 0.0, mean = 0.0, total = 0.0;
    for (int j = 0; j < nj; j++) {
        eta += integrate(s, s->lat_v[j], s->lat_c[j], t);
        s->eta_zonal[j] = eta;
        eta += integrate(s, s->lat_c[j], s->lat_v[j + 1], t);
        mean += s->eta_zonal[j] * s->area[j];
        total += s->area[j];
    }
    for (int j = 0; j < nj; j++) s->eta_zonal[j] += s->o.mean_height_m - mean / total;
}

/* Smooth pattern from coefficients: sum over m, n of cos^m(lat) sin(n (lat + pi/2))
 * (a cos(m lon) + b sin(m lon)); cos^m keeps it smooth at the poles. ~unit rms. */
static void add_pattern(const ws_swe *s, const double *coef, double amplitude, double *out) {
    int nj = s->nj, ni = s->ni;
    double norm = amplitude * sqrt(2.0 / (WSI_SWE_NOISE_M * WSI_SWE_NOISE_N));
    for (int m = 0; m < WSI_SWE_NOISE_M; m++)
        for (int n = 0; n < WSI_SWE_NOISE_N; n++) {
            const double *c = coef + 2 * (m * WSI_SWE_NOISE_N + n);
            const double *bl = s->noise_basis_lat + ((size_t)m * WSI_SWE_NOISE_N + n) * nj;
            for (int j = 0; j < nj; j++)
                for (int i = 0; i < ni; i++)
                    out[(size_t)j * ni + i] += norm * bl[j] * (c[0] * s->noise_cos[(size_t)m * ni + i] +
                                                                c[1] * s->noise_sin[(size_t)m * ni + i]);
        }
}

static void make_basis(ws_swe *s) {
    int nj = s->nj, ni = s->ni;
    for (int m = 0; m < WSI_SWE_NOISE_M; m++) {
        for (int i = 0; i < ni; i++) {
            s->noise_cos[(size_t)m * ni + i] = cos((m + 1) * s->lon_c[i]);
            s->noise_sin[(size_t)m * ni + i] = sin((m + 1) * s->lon_c[i]);
        }
        for (int n = 0; n < WSI_SWE_NOISE_N; n++)
            for (int j = 0; j < nj; j++)
                s->noise_basis_lat[((size_t)m * WSI_SWE_NOISE_N + n) * nj + j] =
                    pow(cos(s->lat_c[j]), m + 1) * sin((n + 1) * (s->lat_c[j] + PI / 2));
    }
}

static void make_topography(ws_swe *s) {
    int nj = s->nj, ni = s->ni;
    ws_rng root = ws_rng_seeded(s->o.seed);
    ws_rng r = ws_rng_split(&root, TOPO_STREAM);
    for (size_t k = 0; k < s->n_c; k++) s->b[k] = 0.0;
    for (int m = 0; m < s->o.mountains; m++) {
        double lon = 2.0 * PI * ws_rng_uniform(&r);
        double lat = asin((2.0 * ws_rng_uniform(&r) - 1.0) * sin(MOUNTAIN_MAX_LAT_DEG * DEG));
        double height = s->o.mountain_height_m * (0.5 + 0.5 * ws_rng_uniform(&r));
        double width = s->o.mountain_width_deg * DEG * (0.7 + 0.6 * ws_rng_uniform(&r));
        for (int j = 0; j < nj; j++)
            for (int i = 0; i < ni; i++) {
                double c = sin(s->lat_c[j]) * sin(lat) + cos(s->lat_c[j]) * cos(lat) * cos(s->lon_c[i] - lon);
                double d = acos(c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c) / width;
                s->b[(size_t)j * ni + i] += height * exp(-d * d);
            }
    }
}

static double theta_equilibrium(const ws_swe *s, double lat, double t) {
    const ws_swe_opts *o = &s->o;
    double c = cos(lat);
    return o->tracer_pole_k + (o->tracer_equator_k - o->tracer_pole_k) * c * c -
           o->tracer_season_k * north_winter(s, t) * sin(lat); /* the winter hemisphere is colder */
}

/* The stirring streamfunction at corners, then S = k x grad(psi) on the faces, which is
 * exactly non-divergent on the C-grid (the corner differences cancel in each cell). Two
 * meridional modes (a Gaussian band and its first derivative shape) per hemisphere and
 * wavenumber; the band moves equatorward in winter like the jet. */
static void make_stirring(ws_swe *s, double t) {
    int nj = s->nj, ni = s->ni;
    const ws_swe_opts *o = &s->o;
    double width = o->stir_width_deg * DEG, w = north_winter(s, t);
    double psi_amp = o->stir_m_s_day / DAY_S * s->a * width / sqrt(2.0 * WSI_SWE_STIR_M);
    for (int j = 0; j <= nj; j++)
        for (int i = 0; i < ni; i++) {
            double psi = 0.0;
            if (j > 0 && j < nj) /* the poles stay 0: single-valued there */
                for (int hem = 0; hem < 2; hem++) {
                    double sign = hem ? -1.0 : 1.0, winter = hem ? -w : w;
                    double x = (s->lat_v[j] - sign * (o->stir_lat_deg - o->season_shift_deg * winter) * DEG) / width;
                    double env[2] = {exp(-x * x), x * exp(-x * x)};
                    for (int mode = 0; mode < 2; mode++)
                        for (int m = 0; m < WSI_SWE_STIR_M; m++) {
                            const double *c = s->stir_coef + 2 * ((hem * 2 + mode) * WSI_SWE_STIR_M + m);
                            double phase = (WSI_SWE_STIR_M0 + m) * s->lon_u[i];
                            psi += env[mode] * (c[0] * cos(phase) + c[1] * sin(phase));
                        }
                }
            s->stir_psi[(size_t)j * ni + i] = psi_amp * psi;
        }
    const double *p = s->stir_psi;
    for (int j = 0; j < nj; j++)
        for (int i = 0; i < ni; i++)
            s->stir_u[(size_t)j * ni + i] = -(p[(size_t)(j + 1) * ni + i] - p[(size_t)j * ni + i]) / s->dy;
    for (int j = 1; j < nj; j++)
        for (int i = 0; i < ni; i++) {
            int ie = i == ni - 1 ? 0 : i + 1;
            s->stir_v[(size_t)j * ni + i] = (p[(size_t)j * ni + ie] - p[(size_t)j * ni + i]) / s->dxv[j];
        }
}

void wsi_swe_forcing_update(ws_swe *s, double t, int advance_noise) {
    int nj = s->nj, ni = s->ni;
    if (advance_noise) {
        double rho = exp(-WSI_SWE_OUTPUT_S / (s->o.stir_days * DAY_S)), kick = sqrt(1.0 - rho * rho);
        for (int k = 0; k < WSI_SWE_STIR_COEF; k++)
            s->stir_coef[k] = rho * s->stir_coef[k] + kick * ws_rng_normal(&s->stir_rng);
    }
    balanced_surface(s, t);
    for (int j = 0; j < nj; j++) {
        s->theta_eq[j] = theta_equilibrium(s, s->lat_c[j], t);
        for (int i = 0; i < ni; i++) s->eta_eq[(size_t)j * ni + i] = s->eta_zonal[j];
    }
    if (s->o.forcing && s->o.stir_m_s_day != 0.0) make_stirring(s, t);
}

void wsi_swe_init_state(ws_swe *s) {
    int nj = s->nj, ni = s->ni;
    make_basis(s);
    make_topography(s);
    ws_rng root = ws_rng_seeded(s->o.seed);
    s->stir_rng = ws_rng_split(&root, STIR_STREAM);
    for (int k = 0; k < WSI_SWE_STIR_COEF; k++) s->stir_coef[k] = ws_rng_normal(&s->stir_rng); /* stationary */
    balanced_surface(s, 0.0);

    double pert_coef[NCOEF];
    ws_rng init = ws_rng_split(&root, INIT_STREAM);
    for (int k = 0; k < NCOEF; k++) pert_coef[k] = ws_rng_normal(&init);
    for (int j = 0; j < nj; j++)
        for (int i = 0; i < ni; i++) s->h[(size_t)j * ni + i] = s->eta_zonal[j];
    add_pattern(s, pert_coef, s->o.perturb_height_m, s->h);
    double floor_m = 0.05 * s->o.mean_height_m; /* only extreme options get here */
    for (int j = 0; j < nj; j++) {
        double u = wsi_swe_jet_u(s, s->lat_c[j], 0.0), theta = theta_equilibrium(s, s->lat_c[j], 0.0);
        for (int i = 0; i < ni; i++) {
            size_t k = (size_t)j * ni + i;
            s->h[k] -= s->b[k];
            if (s->h[k] < floor_m) s->h[k] = floor_m;
            s->u[k] = u;
            s->th[k] = s->h[k] * theta;
        }
    }
    for (size_t k = 0; k < s->n_v; k++) s->v[k] = 0.0;
}
