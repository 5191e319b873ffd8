/* data/swe.h - a forced-dissipative shallow-water model on the sphere: the project's
 * weather-like data (FourCastNet's ERA5 cannot be fetched here). Implementation:
 * data/swe.c (grid, operators, time stepping, diagnostics) and data/swe_forcing.c
 * (equilibrium jets, seasons, topography, stochastic forcing). Long form: docs/weather-data.md.
 * defines: ws_swe_opts, ws_swe_opts_default, ws_swe (opaque), ws_swe_open, ws_swe_step,
 *          ws_swe_advance_s, ws_swe_state, ws_swe_geometry, ws_swe_diagnose, ws_swe_fields,
 *          ws_swe_channel_name, ws_swe_channel_units, ws_swe_params, ws_swe_param_set,
 *          ws_swe_param_get, ws_swe_close, WS_SWE_CHANNELS.
 *
 * Equations (vector-invariant form; h fluid depth, b topography, v = (u, v) velocity,
 * zeta relative vorticity, f = 2 Omega sin(lat), K = |v|^2/2, theta a passive tracer):
 *   dh/dt          = -div(h v)                                + (eta_eq - (h+b)) / tau_h
 *   dv/dt          = -(f + zeta) k x v - grad(g (h+b) + K)    + S - v / tau_drag - nu4 D4(v)
 *   d(h theta)/dt  = -div(h theta v)                          + h (theta_eq - theta) / tau_theta
 * plus nu4 hyperdiffusion (del^4) of h and h*theta in flux form. The forcing relaxes the
 * free surface eta = h+b towards eta_eq, the surface of a balanced zonal flow of two
 * mid-latitude jets that follows a 365-day seasonal cycle; S = k x grad(psi_s) is a
 * non-divergent stochastic stirring (red noise with a few days' memory, zonal wavenumbers
 * 6-9, in a mid-latitude band of each hemisphere that follows the seasons), the standard
 * way to give a barotropic model transient eddies (Vallis et al. 2004, JAS 61): the eddies
 * it makes break, mix and feed the jets, and the flow over the seeded mountains adds
 * stationary waves. Without forcing and dissipation (opts.forcing = 0,
 * opts.dissipation = 0) these are the ideal shallow-water equations, whose mass, energy and
 * potential enstrophy are conserved.
 *
 * Discretisation: regular latitude-longitude Arakawa C-grid, nlat x nlon cells; h and
 * h*theta at cell centres (lat_j = -90 + (j+0.5)*180/nlat degrees, south to north; lon_i =
 * i*360/nlon), u on west faces (lon_i - dlon/2), v on south faces (lat_j - dlat/2, j =
 * 0..nlat; rows 0 and nlat are the poles, where v = 0), vorticity on corners. Continuity and
 * tracer are in flux form over cell areas, so total mass and tracer mass are conserved to
 * rounding. The vorticity flux is Sadourny's (1975) energy-conserving form and the kinetic
 * energy is the area-weighted average over faces, so the spatial scheme conserves total
 * energy exactly (without filtering); potential enstrophy is not conserved exactly by
 * this form. D4 = M(M(v)) with M(v) = grad(div v) - k x grad(zeta) + 2v/a^2 (the vector
 * Laplacian plus 2/a^2, which leaves solid-body rotation undamped); nu4 = dlat_m^4 / (16
 * hyperdiff_s): the 2-grid-length wave decays in hyperdiff_s.
 * Time stepping: third-order strong-stability-preserving Runge-Kutta (Shu-Osher).
 * Polar filter (FFTW): poleward of filter_lat_deg, the tendencies of every prognostic row are
 * Fourier filtered along the latitude circle, keeping zonal wavenumber k only where
 * sin(k dlon/2) <= cos(lat)/cos(filter_lat), so that no retained wave is shorter than the
 * grid length at filter_lat: the time step is then limited by the grid at filter_lat, not
 * by the converging meridians. Wavenumber 0 is never touched, so the filter keeps the mass.
 * CFL handling: the time step is the largest dt <= cfl / ((c + U) sqrt(1/dx^2 + 1/dy^2))
 * (c = sqrt(g (mean_height + 1000 m)), U = 2 jet_speed + 30 m/s, dx the zonal grid
 * length at filter_lat, dy the meridional one) that divides the 6-hour output interval into
 * whole steps, unless opts.dt_s fixes it; ws_swe_step checks the fields after every call
 * and fails (WS_EINVAL, naming the Courant number and the fix) when the flow went
 * non-finite, h <= 0 or the actual Courant number passed 1.
 *
 * Determinism: the state after n steps is a function of the options (seed included)
 * alone: fixed summation orders, FFTW plans made with FFTW_ESTIMATE (no timing). The row
 * loops can be split across OpenMP threads (opts.threads; automatically from 128x256 cells
 * up, where a loop has enough work to pay for the threads); each loop writes disjoint rows
 * and none reduces, so the result does not depend on the number of threads. Bitwise equality holds on one machine and build; another CPU may pick other
 * FFTW codelets and round differently in the last bits.
 *
 * Thread-safety: one model per thread; ws_swe_open and ws_swe_close call FFTW's planner,
 * which is not thread-safe, so do not open or close models in several threads at once. */
#ifndef WS_DATA_SWE_H
#define WS_DATA_SWE_H

#include <stddef.h>
#include <stdint.h>

#include "wattscale/status.h"

/* Output channels of ws_swe_fields, in order: names follow ERA5's short names. */
enum { WS_SWE_Z = 0, WS_SWE_U, WS_SWE_V, WS_SWE_VO, WS_SWE_D, WS_SWE_T, WS_SWE_CHANNELS };

typedef struct {
    int nlat, nlon;            /* cells: rows (latitudes) x columns (longitudes); nlat >= 4,
                                  nlon >= 8 and even */
    uint64_t seed;             /* topography, initial perturbation, stochastic forcing */
    /* planet */
    double radius_m, omega_rad_s, gravity_m_s2;
    double mean_height_m;      /* global mean of the free surface eta = h + b */
    /* equilibrium jets (one per hemisphere, Gaussian in latitude) and their seasons */
    double jet_speed_m_s, jet_lat_deg, jet_width_deg;
    double season_amplitude;   /* winter jet speed x (1 + a), summer x (1 - a) */
    double season_shift_deg;   /* winter jet that much equatorward, summer poleward */
    double year_days;          /* length of the seasonal cycle; day 0 = northern mid-winter */
    /* topography: Gaussian mountains at seeded places */
    int mountains;
    double mountain_height_m, mountain_width_deg;
    /* stochastic stirring: momentum forcing of about stir_m_s_day m/s per day in a band
       centred on stir_lat_deg (moving with the seasons), stir_width_deg wide */
    double stir_m_s_day, stir_days, stir_lat_deg, stir_width_deg;
    /* forcing and dissipation */
    int forcing;               /* 0: no relaxation, drag or stirring (ideal flow, for tests) */
    int dissipation;           /* 0: no hyperdiffusion */
    double relax_days, drag_days, tracer_relax_days, hyperdiff_s;
    double tracer_equator_k, tracer_pole_k, tracer_season_k;
    /* numerics */
    double dt_s;               /* 0: from cfl (see top); else fixed */
    double cfl;                /* target Courant number for the automatic step */
    double filter_lat_deg;     /* polar filter poleward of this latitude */
    double perturb_height_m;   /* amplitude of the seeded initial perturbation of eta */
    int threads;               /* OpenMP threads for the row loops: 0 automatic (all of
                                  OpenMP's threads from 128x256 cells up, else 1), N: N;
                                  the results do not depend on it (see Determinism) */
} ws_swe_opts;

/* 32x64 cells, seed 0, Earth (a 6.371e6 m, Omega 7.292e-5 /s, g 9.80616 m/s^2), mean
 * height 5000 m, jets of 40 m/s at 45 degrees, 10 degrees wide, season amplitude 0.3 and
 * shift 6 degrees, year 365 days, 6 mountains of 1500 m and 12 degrees, stirring 12 m/s
 * per day with 2 days' memory at 40 degrees, 12 degrees wide, forcing and dissipation on
 * (surface relaxation 3 d, drag 30 d, tracer 10 d, hyperdiffusion 6 h), tracer 300 K at the
 * equator, 240 K at the poles, 10 K seasonal, automatic dt at cfl 0.6, polar filter from
 * 45 degrees, initial perturbation 20 m, threads automatic. */
ws_swe_opts ws_swe_opts_default(void);

typedef struct ws_swe ws_swe; /* opaque: fields live in data/swe.c */

/* Makes the grid, the topography and the initial state: the balanced equilibrium flow of
 * time 0 (zonal jets, surface from gradient-wind balance), eta perturbed by seeded smooth
 * bumps (perturb_height_m), tracer at its equilibrium.
 * Errors: WS_EINVAL (grid too small or nlon odd, a parameter out of range: the message
 * names it), WS_ENOMEM. On error *out is NULL. */
ws_status ws_swe_open(ws_swe **out, const ws_swe_opts *o, ws_error *err);

/* Advances `steps` time steps, then checks the state (see CFL handling above). */
ws_status ws_swe_step(ws_swe *s, long steps, ws_error *err);
/* Advances `seconds`, which must be a whole number of steps (WS_EINVAL otherwise). */
ws_status ws_swe_advance_s(ws_swe *s, double seconds, ws_error *err);

double ws_swe_dt_s(const ws_swe *s);   /* cannot fail */
double ws_swe_time_s(const ws_swe *s); /* model time since open */

/* The prognostic state, writable (tests set Williamson's cases through it); the model
 * owns the arrays. Shapes (row-major, row j south to north, column i west to east):
 * h, tracer_mass (h*theta), topo [nlat][nlon]; u [nlat][nlon] (u[j][i] on the west face
 * of cell (j,i)); v [nlat+1][nlon] (v[j][i] on the south face; rows 0 and nlat must stay 0). */
typedef struct {
    double *h, *u, *v, *tracer_mass, *topo;
} ws_swe_state_view;
ws_swe_state_view ws_swe_state(ws_swe *s);

/* Grid coordinates in radians, owned by the model: lat_c [nlat] centres, lat_v [nlat+1]
 * faces (poles included), lon_c [nlon] centres, lon_u [nlon] west faces; area [nlat] m^2. */
typedef struct {
    int nlat, nlon;
    const double *lat_c, *lat_v, *lon_c, *lon_u, *area;
} ws_swe_geometry_view;
ws_swe_geometry_view ws_swe_geometry(const ws_swe *s);

/* Global integrals (per unit density) and extremes of the current state. */
typedef struct {
    double mass_m3;          /* sum of h * area */
    double tracer_m3k;       /* sum of h*theta * area */
    double energy_m5_s2;     /* kinetic (sum over faces of h u^2/2 * face area) + potential
                                (sum of g (h^2/2 + h b) * area): the conserved discrete energy */
    double enstrophy_m_s2;   /* potential enstrophy: sum over corners of h q^2 / 2 * area,
                                q = (f + zeta) / h */
    double max_speed_m_s, min_depth_m;
    double courant;          /* (sqrt(g h) + |v|) dt sqrt(1/dx^2 + 1/dy^2), the largest */
} ws_swe_diag;
void ws_swe_diagnose(ws_swe *s, ws_swe_diag *d); /* uses the model's scratch space */

/* Writes the output fields, float32 [WS_SWE_CHANNELS][nlat][nlon], rows NORTH to south (as
 * ERA5 and FourCastNet store them) and columns from longitude 0 eastwards, all at cell
 * centres: z = g (h+b) (m^2/s^2), u and v (m/s, face values averaged), vo (1/s, corners
 * averaged), d (1/s, divergence), t (K, theta = tracer_mass / h). */
void ws_swe_fields(ws_swe *s, float *out); /* uses the model's scratch space */

/* The options by name, for recording them (the generator writes each as a file attribute)
 * and for setting them from the command line: n entries, each the field's name in
 * ws_swe_opts and its byte offset; kind 'd' double, 'i' int, 'u' uint64_t. */
typedef struct {
    const char *name;
    size_t offset;
    char kind;
} ws_swe_param;
const ws_swe_param *ws_swe_params(size_t *n);
/* Sets option `name` from text (WS_EINVAL: unknown name, not a number). */
ws_status ws_swe_param_set(ws_swe_opts *o, const char *name, const char *value, ws_error *err);
double ws_swe_param_get(const ws_swe_opts *o, const ws_swe_param *p);

const char *ws_swe_channel_name(int c);  /* "z", "u", "v", "vo", "d", "t"; NULL outside */
const char *ws_swe_channel_units(int c); /* "m**2 s**-2", "m s**-1", ... (ERA5's spelling) */

void ws_swe_close(ws_swe *s); /* NULL is a no-op */

#endif
