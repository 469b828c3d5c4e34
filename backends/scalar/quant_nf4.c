/* NF4 reference quantiser and dequantiser, bitsandbytes' rule (kernels/format_nf4.h). */
#include <float.h>

#include "backends/scalar/scalar.h"
#include "kernels/format_nf4.h"

/* max |x| over the finite elements; bitsandbytes' fmaxf reduction for finite blocks. */
static float qk_nf4_absmax(const float *x, int64_t n) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float a = x[i] < 0.0f ? -x[i] : x[i];
        if (a <= FLT_MAX && a > amax) amax = a;
    }
    return amax;
}

qkern_status qk_quant_nf4__scalar(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                  int64_t r1) {
    const int static_scales = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) != 0;
    const int64_t g = L->group, nb = L->groups_per_row, cols = L->cols;
    float *scales = dst->scales;
    uint8_t *data = dst->data;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *x = src + r * cols + b * g;
            uint8_t *q = data + (r * cols + b * g) / 2;
            float *absmax = scales + r * nb + b;
            if (!static_scales) *absmax = qk_nf4_absmax(x, g);
            const float inv = qk_nf4_inv_absmax(*absmax);
            for (int64_t j = 0; j < g; j += 2)
                q[j / 2] = (uint8_t)(qk_nf4_encode(x[j] * inv) << 4 | qk_nf4_encode(x[j + 1] * inv));
        }
    }
    return QKERN_OK;
}

qkern_status qk_dequant_nf4__scalar(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0,
                                    int64_t r1) {
    const int64_t g = L->group, nb = L->groups_per_row, cols = L->cols;
    const float *scales = src->scales;
    const uint8_t *data = src->data;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t b = 0; b < nb; b++) {
            const float absmax = scales[r * nb + b];
            const uint8_t *q = data + (r * cols + b * g) / 2;
            float *y = dst + r * cols + b * g;
            for (int64_t j = 0; j < g; j += 2) {
                y[j] = qk_nf4_codebook[q[j / 2] >> 4] * absmax;
                y[j + 1] = qk_nf4_codebook[q[j / 2] & 0xf] * absmax;
            }
        }
    }
    return QKERN_OK;
}
