/* src/ops/loss_cpu.c - reference softmax cross-entropy with label smoothing, and top-k accuracy.
 * defines: ws_softmax_xent_forward_cpu, ws_softmax_xent_backward_cpu, ws_topk_correct
 * twin: src/ops/loss_cuda.cu; contract: src/ops/loss.h
 * Shapes: logits, probs, dlogits [N,K] row-major fp32; labels [N] int32.
 * Per row, in double: lse = max + log(sum_k exp(z_k - max)), so no exp overflows however
 * large the logits (1e4 and beyond); loss_i = (1-eps) (lse - z_y) + eps (lse - mean_k z_k),
 * the contract's -sum_k q_k log softmax_k written as two non-negative terms, so nothing
 * cancels; the mean over rows is summed in double. NaN logits give a NaN loss. */
#include "ops/loss.h"
#include "core/error.h"

#include <math.h>

void ws_softmax_xent_forward_cpu(int n, int k, double *loss, float *probs, const float *logits,
                                 const int32_t *labels, float smoothing) {
    double total = 0.0, eps = smoothing;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float *pr = probs + (size_t)i * k;
        WS_ASSERT(labels[i] >= 0 && labels[i] < k);
        float zmax = z[0];
        for (int j = 1; j < k; j++)
            if (z[j] > zmax) zmax = z[j];
        double sum = 0.0, zsum = 0.0;
        for (int j = 0; j < k; j++) {
            sum += exp((double)z[j] - zmax);
            zsum += z[j];
        }
        double lse = zmax + log(sum);
        for (int j = 0; j < k; j++) pr[j] = (float)exp((double)z[j] - lse);
        total += (1.0 - eps) * (lse - z[labels[i]]) + eps * (lse - zsum / k);
    }
    *loss = total / n;
}

void ws_softmax_xent_backward_cpu(int n, int k, float *dlogits, const float *probs, const int32_t *labels,
                                  float smoothing, float scale) {
    double off = (double)smoothing / k, on = 1.0 - smoothing + off;
    for (int i = 0; i < n; i++) {
        const float *pr = probs + (size_t)i * k;
        float *dz = dlogits + (size_t)i * k;
        WS_ASSERT(labels[i] >= 0 && labels[i] < k);
        for (int j = 0; j < k; j++) dz[j] = (float)(scale * (pr[j] - (j == labels[i] ? on : off)));
    }
}

/* A logit ranks ahead of the label's if it is larger, or equal with a smaller index (the
 * first of a tie wins, as a stable descending sort); NaN ranks ahead of everything, as in
 * torch.topk, so a NaN row is never counted correct. Labels out of [0,K) never count. */
int ws_topk_correct(int n, int k, const float *logits, const int32_t *labels, int topk) {
    int correct = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int y = labels[i];
        if (y < 0 || y >= k || isnan(z[y])) continue;
        int ahead = 0;
        for (int j = 0; j < k && ahead < topk; j++)
            if (isnan(z[j]) || z[j] > z[y] || (z[j] == z[y] && j < y)) ahead++;
        if (ahead < topk) correct++;
    }
    return correct;
}
