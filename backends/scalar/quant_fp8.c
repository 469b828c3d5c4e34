/* FP8 E4M3 / E5M2 reference quantiser and dequantiser (rules in kernels/format_fp8.h). */
#include "backends/scalar/scalar.h"
#include "kernels/format_fp8.h"

/* The format is a template parameter in effect: each call site passes a constant, so the
 * compiler specialises the element loop instead of branching per element. */
static inline void qk_fp8_quant_row(const float *restrict x, uint8_t *restrict q, size_t n, float inv, int e5m2,
                                    int saturate) {
    if (e5m2)
        for (size_t i = 0; i < n; i++) q[i] = qk_f32_to_e5m2(x[i] * inv, saturate);
    else
        for (size_t i = 0; i < n; i++) q[i] = qk_f32_to_e4m3(x[i] * inv, saturate);
}

qkern_status qk_quant_fp8__scalar(const float *src, const qkern_qtensor *dst, const qk_layout *L, int64_t r0,
                                  int64_t r1) {
    const int e5m2 = L->format == QKERN_FP8_E5M2;
    const int saturate = !(dst->desc.flags & QKERN_QUANT_FP8_NO_SATURATE);
    const int static_scales = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) != 0;
    const float fmax = qk_fp8_max(L->format);
    const size_t cols = (size_t)L->cols;
    float *scales = dst->scales;
    uint8_t *data = dst->data;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * cols;
        float scale;
        /* Per tensor, the front end has already put the scale in place (see backend.h). */
        if (L->group == 0) scale = scales[0];
        else if (static_scales) scale = scales[r];
        else scales[r] = scale = qk_fp8_scale_for_amax(qk_fp8_amax_finite(x, cols), fmax);
        const float inv = 1.0f / scale;
        if (e5m2) qk_fp8_quant_row(x, data + (size_t)r * cols, cols, inv, 1, saturate);
        else qk_fp8_quant_row(x, data + (size_t)r * cols, cols, inv, 0, saturate);
    }
    return QKERN_OK;
}

qkern_status qk_dequant_fp8__scalar(const qkern_qtensor *src, const qk_layout *L, float *dst, int64_t r0,
                                    int64_t r1) {
    float table[256];
    qk_fp8_decode_table(L->format, table);
    const size_t cols = (size_t)L->cols;
    const float *scales = src->scales;
    const uint8_t *data = src->data;
    for (int64_t r = r0; r < r1; r++) {
        const float scale = L->group == 0 ? scales[0] : scales[r];
        const uint8_t *q = data + (size_t)r * cols;
        float *y = dst + (size_t)r * cols;
        for (size_t i = 0; i < cols; i++) y[i] = table[q[i]] * scale;
    }
    return QKERN_OK;
}
