/* data/swe_internal.h - the shallow-water model's state, shared by data/swe.c (dynamics)
 * and data/swe_forcing.c (forcing, topography, initial state). Not an interface: the
 * contract is data/swe.h. Index conventions there: row j south to north, column i. */
#ifndef WS_DATA_SWE_INTERNAL_H
#define WS_DATA_SWE_INTERNAL_H

#include "core/rng.h"
#include "data/swe.h"

#define WSI_SWE_OUTPUT_S 21600.0 /* 6 h: forcing updates and output happen on this grid */
#define WSI_SWE_NOISE_M 5        /* zonal wavenumbers 1..M of the initial perturbation */
#define WSI_SWE_NOISE_N 4        /* meridional modes 1..N */
#define WSI_SWE_STIR_M0 6        /* the stirring's zonal wavenumbers: M0 .. M0+STIR_M-1 */
#define WSI_SWE_STIR_M 4
#define WSI_SWE_STIR_COEF (2 * 2 * WSI_SWE_STIR_M * 2) /* hemispheres x modes x m x (cos, sin) */

struct ws_swe {
    ws_swe_opts o;
    int nj, ni;               /* nlat, nlon */
    double a, g, dlam, dphi, dy;
    /* geometry: centres [nj], faces [nj+1] (poles included), longitudes [ni] */
    double *lat_c, *lat_v, *lon_c, *lon_u;
    double *dxc;              /* [nj] zonal length of a cell at its centre latitude */
    double *dxv;              /* [nj+1] zonal length of a south face (0 at the poles) */
    double *area;             /* [nj] cell areas */
    double *area_z;           /* [nj+1] area of one corner's dual cell (poles: cap / ni) */
    double *f_z;              /* [nj+1] Coriolis parameter at corner latitudes */
    double dx_filter;         /* zonal grid length at filter_lat: the shortest retained wave */
    double nu4;               /* hyperdiffusion, m^4/s */
    double dt, time_s;
    double next_forcing_s;    /* time of the next forcing update (multiples of 6 h) */

    /* state y = [h | u | v | th], th = h*theta; n_state doubles; views into it */
    size_t n_c, n_v, n_state; /* nj*ni, (nj+1)*ni */
    double *y, *y0, *dy_dt;
    double *h, *u, *v, *th;   /* into y */
    double *b;                /* [nj][ni] topography */

    /* scratch for the tendencies (sizes: c = n_c, v = n_v, z = corners (nj+1)*ni) */
    double *F, *G;            /* mass fluxes through west (c) and south (v) faces, m^3/s */
    double *zeta, *q, *hz;    /* corners */
    double *phi, *theta, *del;/* centres: Bernoulli function, tracer, divergence */
    double *lu, *lv, *lu2, *lv2, *ls, *ls2; /* Laplacians (u: c, v: v, scalars: c) */

    /* forcing */
    double *eta_eq;           /* [nj][ni] equilibrium surface (zonal jets) */
    double *stir_u, *stir_v;  /* [nj][ni], [nj+1][ni] stirring acceleration, m/s^2 */
    double *stir_psi;         /* [nj+1][ni] its streamfunction at corners */
    double *eta_zonal;        /* [nj] its zonal part */
    double *theta_eq;         /* [nj] */
    double *noise_basis_lat;  /* [M][N][nj] cos^m(lat) sin(n (lat + pi/2)) */
    double *noise_cos, *noise_sin; /* [M][ni] cos(m lon), sin(m lon) */
    double stir_coef[WSI_SWE_STIR_COEF];
    ws_rng stir_rng;

    /* polar filter (FFTW): retained wavenumbers per centre row and per face row */
    int *keep_c, *keep_v;     /* [nj], [nj+1]; ni/2+1 where no filtering */
    void *plan_r2c, *plan_c2r;/* fftw_plan */
    int threads;              /* OpenMP threads (1 without OpenMP); one FFT buffer pair each */
    int parallel;             /* grid large enough to split rows across threads */
    double **fft_row;         /* [threads] fftw_malloc'd [ni] */
    void **fft_spec;          /* [threads] fftw_complex [ni/2+1] */
};

/* data/swe_forcing.c */
/* Zonal wind of the equilibrium jets at latitude `lat` (radians) and time t. */
double wsi_swe_jet_u(const struct ws_swe *s, double lat, double t);
/* Topography (b), the initial state (h, u, v, th) and the first noise coefficients. */
void wsi_swe_init_state(struct ws_swe *s);
/* Recomputes eta_eq, theta_eq and the stirring for time t, first advancing the stirring's
 * red noise one 6-h step when advance_noise is set. */
void wsi_swe_forcing_update(struct ws_swe *s, double t, int advance_noise);

#endif
