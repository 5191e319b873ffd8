/* core/version.c - ws_version and ws_build_features: what this build was made with. */
#include "wattscale/wattscale.h"
#include "ws_config.h"

#include <stdio.h>

const char *ws_version(void) { return WS_VERSION_STRING; }

#define YN(x) ((x) ? "yes" : "no ")

const char *ws_build_features(void) {
    static char buf[1024];
    if (buf[0]) return buf;
    const char *cuda = WS_HAVE_CUDA ? WS_CUDA_VERSION_STRING : "";
    snprintf(buf, sizeof buf,
             "cuda    %s %s\n"
             "cudnn   %s\n"
             "nccl    %s\n"
             "mpi     %s\n"
             "openmp  %s\n"
             "blas    %s\n"
             "sqlite  %s\n"
             "hdf5    %s\n"
             "fftw    %s\n"
             "netcdf  %s\n"
             "yaml    %s\n"
             "gsl     %s\n"
             "nvml    dlopen at run time (libnvidia-ml.so.1 or $WATTSCALE_NVML_LIBRARY)\n"
             "nvjpeg  %s\n"
             "rapl    powercap sysfs, perf_event PMU (at run time)\n"
             "gnuplot report figures, found on PATH or $WATTSCALE_GNUPLOT at run time\n"
             "compiler %s, build %s%s%s",
             YN(WS_HAVE_CUDA), cuda, YN(WS_HAVE_CUDNN), YN(WS_HAVE_NCCL), YN(WS_HAVE_MPI),
             YN(WS_HAVE_OPENMP), YN(WS_HAVE_BLAS), YN(WS_HAVE_SQLITE), YN(WS_HAVE_HDF5), YN(WS_HAVE_FFTW), YN(WS_HAVE_NETCDF), YN(WS_HAVE_YAML), YN(WS_HAVE_GSL),
             WS_HAVE_CUDA ? "dlopen at run time (libnvjpeg.so.13/.12/.11 or $WATTSCALE_NVJPEG_LIBRARY)"
                          : "no  (GPU JPEG decoding needs a CUDA build)",
             WS_C_COMPILER, WS_BUILD_TYPE,
             WS_SANITIZE[0] ? ", sanitize " : "", WS_SANITIZE);
    return buf;
}
