/* Per-tensor quantisation parameters (QKERN_GROUP_TENSOR): the one reduction over the
 * whole tensor that must finish before any row kernel runs. Split in two so the front end
 * can reduce chunks in parallel (min / max: any split gives the same lo, hi) and then
 * derive the parameters once. The rules are the formats'
 * own (kernels/format_int.h for I8_ASYM, kernels/format_fp8.h for FP8), so a per-tensor
 * scale is exactly the per-row rule applied to all elements at once. */
#include "backends/scalar/scalar.h"
#include "kernels/format_fp8.h"
#include "kernels/format_int.h"
#include "kernels/qk_error.h"

void qk_tensor_reduce__scalar(qkern_format f, const float *src, size_t n, float *lo, float *hi) {
    if (f == QKERN_I8_ASYM) {
        qk_int_range(src, (int64_t)n, lo, hi);
    } else {
        *lo = 0.0f;
        *hi = qk_fp8_amax_finite(src, n);
    }
}

qkern_status qk_tensor_params_reduced__scalar(const qkern_quant_desc *desc, float lo, float hi, float *scale,
                                              int32_t *zero) {
    switch (desc->format) {
    case QKERN_I8_ASYM: {
        float inv;
        int32_t z;
        qk_i8_asym_params(lo, hi, scale, &inv, &z);
        if (zero) *zero = z;
        return QKERN_OK;
    }
    case QKERN_FP8_E4M3:
    case QKERN_FP8_E5M2:
        *scale = qk_fp8_scale_for_amax(hi, qk_fp8_max(desc->format));
        if (zero) *zero = 0;
        return QKERN_OK;
    default:
        return qk_error(QKERN_UNSUPPORTED, "format %s has no per-tensor scale (QKERN_GROUP_TENSOR)",
                        qk_format_name(desc->format));
    }
}

qkern_status qk_tensor_params__scalar(const qkern_quant_desc *desc, const float *src, size_t n, float *scale,
                                      int32_t *zero) {
    if (!desc || !src || !scale || n == 0 || n > (size_t)INT64_MAX)
        return qk_error(QKERN_INVALID_ARGUMENT, "per-tensor parameters: bad arguments (n=%zu)", n);
    float lo, hi;
    qk_tensor_reduce__scalar(desc->format, src, n, &lo, &hi);
    return qk_tensor_params_reduced__scalar(desc, lo, hi, scale, zero);
}
