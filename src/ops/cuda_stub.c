/* ops/cuda_stub.c - ops/cuda_ctx.h for builds without CUDA: no GPU, every call that would
 * need one says so (WS_ENOTSUP with the way out), so callers need no #if.
 * defines: everything in ops/cuda_ctx.h. Built instead of ops/cuda_ctx.cu. */
#include "ops/cuda_ctx.h"
#include "core/error.h"

int ws_cuda_device_count(void) { return 0; }

ws_status ws_cuda_ctx_open(ws_cuda_ctx **out, int device, ws_dtype precision, int deterministic, ws_error *err) {
    (void)device, (void)precision, (void)deterministic;
    *out = NULL;
    return wsi_error(err, WS_ENOTSUP,
                     "--device cuda: this build has no CUDA backend (configure with the CUDA toolkit, "
                     "-DWS_WITH_CUDA=ON); use --device cpu");
}
void ws_cuda_ctx_close(ws_cuda_ctx *c) { (void)c; }
ws_status ws_cuda_ctx_reserve(ws_cuda_ctx *c, size_t bytes, ws_error *err) {
    (void)c, (void)bytes;
    return wsi_error(err, WS_ENOTSUP, "no CUDA backend in this build");
}
size_t ws_cuda_ctx_workspace_bytes(const ws_cuda_ctx *c) { return (void)c, 0; }
ws_exec ws_cuda_exec(ws_cuda_ctx *c) {
    ws_exec e = {WS_DEVICE_CUDA, WS_FP32, 0, c, WS_NHWC};
    return e;
}
const char *ws_cuda_device_name(const ws_cuda_ctx *c) { return (void)c, ""; }
const char *ws_cuda_device_uuid(const ws_cuda_ctx *c) { return (void)c, ""; }
int ws_cuda_device_index(const ws_cuda_ctx *c) { return (void)c, -1; }
size_t ws_cuda_total_bytes(const ws_cuda_ctx *c) { return (void)c, 0; }
const char *ws_cuda_versions(const ws_cuda_ctx *c) { return (void)c, ""; }
size_t ws_cuda_peak_bytes(const ws_cuda_ctx *c) { return (void)c, 0; }
ws_cuda_conv_planning ws_cuda_conv_planning_get(const ws_cuda_ctx *c) {
    (void)c;
    ws_cuda_conv_planning none = {0, 0, 0, 0.0, ""};
    return none;
}
size_t ws_cuda_current_bytes(const ws_cuda_ctx *c) { return (void)c, 0; }
void *ws_cuda_stream(const ws_cuda_ctx *c) { return (void)c, NULL; }
void *ws_cuda_copy_stream(const ws_cuda_ctx *c) { return (void)c, NULL; }
ws_status ws_cuda_sync(ws_cuda_ctx *c, ws_error *err) {
    (void)c;
    return wsi_error(err, WS_ENOTSUP, "no CUDA backend in this build");
}
ws_status ws_cuda_graph_begin(ws_cuda_ctx *c, ws_error *err) { return ws_cuda_sync(c, err); }
ws_status ws_cuda_graph_end(ws_cuda_ctx *c, ws_cuda_graph **out, ws_error *err) {
    *out = NULL;
    return ws_cuda_sync(c, err);
}
ws_status ws_cuda_graph_launch(ws_cuda_ctx *c, ws_cuda_graph *g, ws_error *err) {
    (void)g;
    return ws_cuda_sync(c, err);
}
void ws_cuda_graph_free(ws_cuda_graph *g) { (void)g; }
int ws_cuda_capturing(const ws_cuda_ctx *c) { return (void)c, 0; }
void ws_cuda_profiler_start(ws_cuda_ctx *c) { (void)c; }
void ws_cuda_profiler_stop(ws_cuda_ctx *c) { (void)c; }
ws_status ws_cuda_event_create(ws_cuda_event **out, ws_error *err) {
    *out = NULL;
    return ws_cuda_sync(NULL, err);
}
void ws_cuda_event_free(ws_cuda_event *e) { (void)e; }
void ws_cuda_event_record(ws_cuda_ctx *c, ws_cuda_event *e) { (void)c, (void)e; }
void ws_cuda_event_record_copy(ws_cuda_ctx *c, ws_cuda_event *e) { (void)c, (void)e; }
void ws_cuda_wait_event(ws_cuda_ctx *c, ws_cuda_event *e) { (void)c, (void)e; }
void ws_cuda_copy_wait_event(ws_cuda_ctx *c, ws_cuda_event *e) { (void)c, (void)e; }
int ws_cuda_event_done(ws_cuda_event *e) { return (void)e, 1; }
void ws_cuda_event_sync(ws_cuda_event *e) { (void)e; }
double ws_cuda_event_elapsed_s(ws_cuda_event *from, ws_cuda_event *to) { return (void)from, (void)to, 0.0; }
