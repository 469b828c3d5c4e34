/* I8, I8_ASYM and I4 quantise / dequantise with NEON, bytes identical to the scalar
 * reference (kernels/format_int.h): the per-group parameters come from the same inline
 * helpers; per element v = x·inv, then fcvtns (round to nearest even; NaN -> 0, ±Inf
 * saturates), then the integer clamp. Clamping after rounding equals the rule's clamp
 * before rounding because every bound is an integer. */
#include <arm_neon.h>
#include <float.h>
#include <string.h>

#include "backends/neon/neon.h"
#include "kernels/format_half.h"
#include "kernels/format_int.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"

float qk_neon_amax_finite(const float *x, int64_t n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    const float32x4_t big = vdupq_n_f32(FLT_MAX);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t a = vabsq_f32(vld1q_f32(x + i));
        m = vmaxq_f32(m, vreinterpretq_f32_u32(vandq_u32(vcleq_f32(a, big), vreinterpretq_u32_f32(a))));
    }
    float a = vmaxvq_f32(m);
    for (; i < n; i++) {
        float v = x[i] < 0 ? -x[i] : x[i];
        if (v <= FLT_MAX && v > a) a = v;
    }
    return a;
}

/* min(min x, 0) and max(max x, 0) over the finite elements. */
static void qk_neon_range(const float *x, int64_t n, float *lo, float *hi) {
    float32x4_t l = vdupq_n_f32(0.0f), h = vdupq_n_f32(0.0f);
    const float32x4_t big = vdupq_n_f32(FLT_MAX);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        uint32x4_t fin = vcleq_f32(vabsq_f32(v), big);
        float32x4_t vf = vreinterpretq_f32_u32(vandq_u32(fin, vreinterpretq_u32_f32(v))); /* non-finite -> 0 */
        l = vminq_f32(l, vf);
        h = vmaxq_f32(h, vf);
    }
    float a = vminvq_f32(l), b = vmaxvq_f32(h);
    for (; i < n; i++) {
        const float v = x[i];
        if (v < a && v >= -FLT_MAX) a = v;
        if (v > b && v <= FLT_MAX) b = v;
    }
    *lo = a;
    *hi = b;
}

/* RNE(x·inv) + off, clamped to [lo, hi], for 4 elements, with the pre-offset clamp to
 * [-pre, pre] of the rule (it only matters for ±Inf and huge values). */
static int32x4_t qk_codes4(const float *x, float inv, int32_t pre, int32_t off, int32_t lo, int32_t hi) {
    int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), inv));
    c = vminq_s32(vmaxq_s32(c, vdupq_n_s32(-pre)), vdupq_n_s32(pre));
    c = vaddq_s32(c, vdupq_n_s32(off));
    return vminq_s32(vmaxq_s32(c, vdupq_n_s32(lo)), vdupq_n_s32(hi));
}

static int8x16_t qk_codes16(const float *x, float inv, int32_t pre, int32_t off, int32_t lo, int32_t hi) {
    int32x4_t a = qk_codes4(x, inv, pre, off, lo, hi), b = qk_codes4(x + 4, inv, pre, off, lo, hi);
    int32x4_t c = qk_codes4(x + 8, inv, pre, off, lo, hi), d = qk_codes4(x + 12, inv, pre, off, lo, hi);
    return vcombine_s8(vmovn_s16(vcombine_s16(vmovn_s32(a), vmovn_s32(b))),
                       vmovn_s16(vcombine_s16(vmovn_s32(c), vmovn_s32(d))));
}

static int32_t qk_code1(float x, float inv, int32_t pre, int32_t off, int32_t lo, int32_t hi) {
    int32_t c = vcvtns_s32_f32(x * inv);
    c = c < -pre ? -pre : c > pre ? pre : c;
    c += off;
    return c < lo ? lo : c > hi ? hi : c;
}

/* n codes as int8 (n any). */
static void qk_codes_i8(const float *x, int64_t n, int8_t *q, float inv, int32_t pre, int32_t off, int32_t lo,
                        int32_t hi) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) vst1q_s8(q + i, qk_codes16(x + i, inv, pre, off, lo, hi));
    for (; i < n; i++) q[i] = (int8_t)qk_code1(x[i], inv, pre, off, lo, hi);
}

/* n (even) codes in [0, 15] packed two per byte, element 2i in the low nibble. */
static void qk_codes_i4(const float *x, int64_t n, uint8_t *q, float inv, int32_t pre, int32_t off) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint8x16_t a = vreinterpretq_u8_s8(qk_codes16(x + i, inv, pre, off, 0, 15));
        uint8x16_t b = vreinterpretq_u8_s8(qk_codes16(x + i + 16, inv, pre, off, 0, 15));
        vst1q_u8(q + i / 2, vorrq_u8(vuzp1q_u8(a, b), vshlq_n_u8(vuzp2q_u8(a, b), 4)));
    }
    for (; i < n; i += 2)
        q[i / 2] = (uint8_t)(qk_code1(x[i], inv, pre, off, 0, 15) | qk_code1(x[i + 1], inv, pre, off, 0, 15) << 4);
}

static float qk_ldf(const void *p, size_t i) { float v; memcpy(&v, (const unsigned char *)p + 4 * i, 4); return v; }
static int32_t qk_ldi(const void *p, size_t i) { int32_t v; memcpy(&v, (const unsigned char *)p + 4 * i, 4); return v; }
static uint16_t qk_ldh(const void *p, size_t i) { uint16_t v; memcpy(&v, (const unsigned char *)p + 2 * i, 2); return v; }

qkern_status qk_quant_int__neon(const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status st = qk_resolve_layout(&dst->desc, dst->rows, dst->cols, &L);
    if (st != QKERN_OK) return st;
    const int is_static = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) || L.group == 0;
    const int asym = (dst->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const int64_t g = L.group ? L.group : L.cols, nb = L.group ? L.groups_per_row : 1;
    for (int64_t r = r0; r < r1; r++) {
        unsigned char *row = (unsigned char *)dst->data + (size_t)r * L.row_bytes;
        for (int64_t b = 0; b < nb; b++) {
            const float *x = src + (size_t)r * (size_t)L.cols + (size_t)(b * g);
            const size_t slot = L.group ? (size_t)(r * nb + b) : 0;
            float s, inv;
            switch (L.format) {
            case QKERN_I8:
                if (is_static) {
                    s = qk_ldf(dst->scales, slot);
                    inv = qk_int_inv(s);
                } else {
                    qk_i8_params(qk_neon_amax_finite(x, g), &s, &inv);
                    memcpy((unsigned char *)dst->scales + 4 * slot, &s, 4);
                }
                qk_codes_i8(x, g, (int8_t *)row + b * g, inv, 127, 0, -127, 127);
                break;
            case QKERN_I8_ASYM: {
                int32_t z;
                if (is_static) {
                    s = qk_ldf(dst->scales, slot);
                    inv = qk_int_inv(s);
                    z = qk_i8_asym_zero(qk_ldi(dst->zeros, slot));
                } else {
                    float lo, hi;
                    qk_neon_range(x, g, &lo, &hi);
                    qk_i8_asym_params(lo, hi, &s, &inv, &z);
                    memcpy((unsigned char *)dst->scales + 4 * slot, &s, 4);
                    memcpy((unsigned char *)dst->zeros + 4 * slot, &z, 4);
                }
                qk_codes_i8(x, g, (int8_t *)row + b * g, inv, 256, z, -128, 127);
                break;
            }
            case QKERN_I4: {
                uint16_t h;
                uint8_t zero = QK_I4_SYM_OFFSET;
                if (is_static) {
                    h = qk_ldh(dst->scales, slot);
                    if (asym) zero = qk_i4_zero(((const uint8_t *)dst->zeros)[slot]);
                } else {
                    float lo = 0.0f, hi = 0.0f;
                    if (asym) qk_neon_range(x, g, &lo, &hi);
                    h = asym ? qk_i4_asym_scale(lo, hi) : qk_i4_sym_scale(qk_neon_amax_finite(x, g));
                    memcpy((unsigned char *)dst->scales + 2 * slot, &h, 2);
                    if (asym) {
                        zero = qk_i4_asym_zero_for(lo, qk_int_inv(qk_f16_to_f32(h)));
                        ((uint8_t *)dst->zeros)[slot] = zero;
                    }
                }
                inv = qk_int_inv(qk_f16_to_f32(h));
                /* sym: clamp(RNE, -8, 7) + 8 = clamp(RNE + 8, 0, 15); asym: clamp(±32) then + zero */
                qk_codes_i4(x, g, row + b * g / 2, inv, asym ? 32 : 8, zero);
                break;
            }
            default: return qk_error(QKERN_UNSUPPORTED, "neon quantize: %s is not I8 / I8_ASYM / I4", qk_format_name(L.format));
            }
        }
    }
    return QKERN_OK;
}

/* 16 int8 codes minus z, times s. */
static void qk_deq16(float *y, int8x16_t q, int32_t z, float s) {
    int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    int32x4_t zz = vdupq_n_s32(z);
    int32x4_t v[4] = {vmovl_s16(vget_low_s16(lo)), vmovl_high_s16(lo), vmovl_s16(vget_low_s16(hi)), vmovl_high_s16(hi)};
    for (int i = 0; i < 4; i++) vst1q_f32(y + 4 * i, vmulq_n_f32(vcvtq_f32_s32(vsubq_s32(v[i], zz)), s));
}

qkern_status qk_dequant_int__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status st = qk_resolve_layout(&src->desc, src->rows, src->cols, &L);
    if (st != QKERN_OK) return st;
    const int asym = (src->desc.flags & QKERN_QUANT_ASYMMETRIC) != 0;
    const int64_t g = L.group ? L.group : L.cols, nb = L.group ? L.groups_per_row : 1;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *row = (const unsigned char *)src->data + (size_t)r * L.row_bytes;
        for (int64_t b = 0; b < nb; b++) {
            float *y = dst + (size_t)r * (size_t)L.cols + (size_t)(b * g);
            const size_t slot = L.group ? (size_t)(r * nb + b) : 0;
            int64_t j = 0;
            if (L.format == QKERN_I8 || L.format == QKERN_I8_ASYM) {
                const int8_t *q = (const int8_t *)row + b * g;
                const float s = qk_ldf(src->scales, slot);
                const int32_t z = L.format == QKERN_I8_ASYM ? qk_i8_asym_zero(qk_ldi(src->zeros, slot)) : 0;
                for (; j + 16 <= g; j += 16) qk_deq16(y + j, vld1q_s8(q + j), z, s);
                for (; j < g; j++) y[j] = (float)(q[j] - z) * s;
            } else if (L.format == QKERN_I4) {
                const uint8_t *q = row + b * g / 2;
                const float s = qk_f16_to_f32(qk_ldh(src->scales, slot));
                const int32_t z = asym ? qk_i4_zero(((const uint8_t *)src->zeros)[slot]) : QK_I4_SYM_OFFSET;
                for (; j + 32 <= g; j += 32) {
                    uint8x16_t v = vld1q_u8(q + j / 2);
                    uint8x16_t lo = vandq_u8(v, vdupq_n_u8(15)), hi = vshrq_n_u8(v, 4);
                    qk_deq16(y + j, vreinterpretq_s8_u8(vzip1q_u8(lo, hi)), z, s);
                    qk_deq16(y + j + 16, vreinterpretq_s8_u8(vzip2q_u8(lo, hi)), z, s);
                }
                for (; j < g; j += 2) {
                    y[j] = (float)((q[j / 2] & 0x0f) - z) * s;
                    y[j + 1] = (float)((q[j / 2] >> 4) - z) * s;
                }
            } else {
                return qk_error(QKERN_UNSUPPORTED, "neon dequantize: %s is not I8 / I8_ASYM / I4", qk_format_name(L.format));
            }
        }
    }
    return QKERN_OK;
}
