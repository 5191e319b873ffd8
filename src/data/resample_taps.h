/* data/resample_taps.h - the filter taps of antialiased bilinear resampling, one axis at a
 * time, shared by the CPU resampler (data/transform.c) and its GPU twin
 * (data/jpeg_nvjpeg.cu), so both weigh the same source pixels with the same weights.
 * defines: WSI_HD, wsi_axis_geom, wsi_axis_geometry, wsi_axis_window, wsi_axis_weight.
 *
 * The filter is PIL's BILINEAR (what torchvision's Resize/RandomResizedCrop use, on PIL
 * images and with antialias=True on tensors): a triangle of support 1, widened by the
 * downscale factor when shrinking, so every source pixel contributes (no aliasing).
 * PIL's precompute_coeffs, on absolute source coordinates:
 *   scale = box_len / out_size;  fs = max(scale, 1);  support = fs
 *   output k: center = box0 + (k + 0.5) * scale
 *             sources [(int)(center - support + 0.5), (int)(center + support + 0.5)),
 *             clipped to [lo, hi)
 *             weight(x) = triangle((x - center + 0.5) / fs), then normalised to sum 1.
 * lo/hi clip to the crop box for RandomResizedCrop (torchvision crops, then resizes) and
 * to the image for Resize. Arithmetic in double, as PIL. */
#ifndef WS_DATA_RESAMPLE_TAPS_H
#define WS_DATA_RESAMPLE_TAPS_H

#ifdef __CUDACC__
#define WSI_HD __host__ __device__
#else
#define WSI_HD
#endif

typedef struct {
    double box0, scale, filterscale, support;
    int lo, hi; /* sources allowed: [lo, hi) */
} wsi_axis_geom;

static inline WSI_HD wsi_axis_geom wsi_axis_geometry(double box0, double box_len, int out_size, int lo, int hi) {
    wsi_axis_geom g;
    g.box0 = box0;
    g.scale = box_len / (double)out_size;
    g.filterscale = g.scale < 1.0 ? 1.0 : g.scale;
    g.support = 1.0 * g.filterscale; /* the triangle's support is 1 */
    g.lo = lo;
    g.hi = hi;
    return g;
}

/* Sources [*first, *end) of output k (absolute, in [0, out_size)), and its center. */
static inline WSI_HD void wsi_axis_window(const wsi_axis_geom *g, int k, int *first, int *end, double *center) {
    double c = g->box0 + ((double)k + 0.5) * g->scale;
    int a = (int)(c - g->support + 0.5), b = (int)(c + g->support + 0.5);
    *first = a < g->lo ? g->lo : a;
    *end = b > g->hi ? g->hi : b;
    if (*end < *first) *end = *first;
    *center = c;
}

/* Unnormalised weight of source x for an output centred at `center`. */
static inline WSI_HD double wsi_axis_weight(const wsi_axis_geom *g, int x, double center) {
    double t = ((double)x - center + 0.5) / g->filterscale;
    if (t < 0) t = -t;
    return t < 1.0 ? 1.0 - t : 0.0;
}

#endif
