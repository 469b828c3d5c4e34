/* ggml block formats (Q8_0, Q8_1, Q4_0, Q4_1): quantise and dequantise with NEON, bytes
 * and floats identical to llama.cpp's *_ref rules (kernels/format_ggml.h):
 *   roundf (ties away)          -> fcvtas (vcvtaq_s32_f32)
 *   (int8_t)(v + 8.5f) / +0.5f  -> fcvtzs (vcvtq_s32_f32, truncation), then min 15
 *   Q4_0's "max": the first element of largest |x|, sign kept (strict > while scanning)
 *   Q4_1 dequantise: q·d + m as two roundings (no fused multiply-add, as the scalar C). */
#include <arm_neon.h>
#include <float.h>
#include <string.h>

#include "backends/neon/neon.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"

static float qk_amax32(const float *x) {
    float32x4_t m = vabsq_f32(vld1q_f32(x));
    for (int i = 4; i < 32; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxvq_f32(m);
}

/* 32 values · id rounded half away from zero into q; returns Σq. */
static int32_t qk_round32(const float *x, float id, int8_t *q) {
    int32x4_t sum = vdupq_n_s32(0);
    for (int i = 0; i < 32; i += 8) {
        int32x4_t a = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + i), id));
        int32x4_t b = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + i + 4), id));
        sum = vaddq_s32(sum, vaddq_s32(a, b));
        vst1_s8(q + i, vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b))));
    }
    return vaddvq_s32(sum);
}

void qk_neon_quantize_row_q8_0(const float *x, void *blocks, int64_t k) {
    qk_block_q8_0 *y = blocks;
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        const float d = qk_amax32(x) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = qk_f32_to_f16(d);
        qk_round32(x, id, y[b].qs);
    }
}

void qk_neon_quantize_row_q8_1(const float *x, void *blocks, int64_t k) {
    qk_block_q8_1 *y = blocks;
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        const float d = qk_amax32(x) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = qk_f32_to_f16(d);
        y[b].s = qk_f32_to_f16((float)qk_round32(x, id, y[b].qs) * d);
    }
}

/* 16 nibble codes from x·id + bias, truncated, capped at 15 (ggml's MIN(15, (int8_t)(…))). */
static uint8x16_t qk_q4_codes(const float *x, float id, float bias, float sub) {
    int32x4_t c[4];
    for (int i = 0; i < 4; i++) {
        float32x4_t v = vsubq_f32(vld1q_f32(x + 4 * i), vdupq_n_f32(sub));
        c[i] = vcvtq_s32_f32(vaddq_f32(vmulq_n_f32(v, id), vdupq_n_f32(bias)));
    }
    int16x8_t lo = vcombine_s16(vqmovn_s32(c[0]), vqmovn_s32(c[1])), hi = vcombine_s16(vqmovn_s32(c[2]), vqmovn_s32(c[3]));
    int8x16_t q = vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
    return vreinterpretq_u8_s8(vminq_s8(q, vdupq_n_s8(15)));
}

static void qk_quantize_row_q4_0(const float *x, qk_block_q4_0 *y, int64_t k) {
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        const float amax = qk_amax32(x);
        float max = 0.0f;
        for (int j = 0; j < 32; j++) /* the first element reaching amax, as the scalar scan keeps it */
            if ((x[j] < 0 ? -x[j] : x[j]) == amax) { max = x[j]; break; }
        const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = qk_f32_to_f16(d);
        uint8x16_t lo = qk_q4_codes(x, id, 8.5f, 0.0f), hi = qk_q4_codes(x + 16, id, 8.5f, 0.0f);
        vst1q_u8(y[b].qs, vorrq_u8(lo, vshlq_n_u8(hi, 4)));
    }
}

static void qk_quantize_row_q4_1(const float *x, qk_block_q4_1 *y, int64_t k) {
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        float32x4_t mn = vld1q_f32(x), mx = mn;
        for (int i = 4; i < 32; i += 4) {
            float32x4_t v = vld1q_f32(x + i);
            mn = vminq_f32(mn, v);
            mx = vmaxq_f32(mx, v);
        }
        const float min = vminvq_f32(mn), max = vmaxvq_f32(mx);
        const float d = (max - min) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = qk_f32_to_f16(d);
        y[b].m = qk_f32_to_f16(min);
        uint8x16_t lo = qk_q4_codes(x, id, 0.5f, min), hi = qk_q4_codes(x + 16, id, 0.5f, min);
        vst1q_u8(y[b].qs, vorrq_u8(lo, vshlq_n_u8(hi, 4)));
    }
}

qkern_status qk_quant_ggml__neon(const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status s = qk_resolve_layout(&dst->desc, dst->rows, dst->cols, &L);
    if (s != QKERN_OK) return s;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * (size_t)L.cols;
        void *row = (unsigned char *)dst->data + (size_t)r * L.row_bytes;
        switch (dst->desc.format) {
        case QKERN_Q8_0: qk_neon_quantize_row_q8_0(x, row, L.cols); break;
        case QKERN_Q8_1: qk_neon_quantize_row_q8_1(x, row, L.cols); break;
        case QKERN_Q4_0: qk_quantize_row_q4_0(x, row, L.cols); break;
        case QKERN_Q4_1: qk_quantize_row_q4_1(x, row, L.cols); break;
        default: return qk_error(QKERN_UNSUPPORTED, "neon quantize: %s is not a ggml format", qk_format_name(L.format));
        }
    }
    return QKERN_OK;
}

/* 16 int8 values · d into y[0..15]. */
static void qk_store16(float *y, int8x16_t q, float d) {
    int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    vst1q_f32(y, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(y + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
    vst1q_f32(y + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(y + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
}

/* 16 codes · d + m (two roundings). */
static void qk_store16_affine(float *y, uint8x16_t q, float d, float m) {
    uint16x8_t lo = vmovl_u8(vget_low_u8(q)), hi = vmovl_high_u8(q);
    uint32x4_t v[4] = {vmovl_u16(vget_low_u16(lo)), vmovl_high_u16(lo), vmovl_u16(vget_low_u16(hi)), vmovl_high_u16(hi)};
    for (int i = 0; i < 4; i++) vst1q_f32(y + 4 * i, vaddq_f32(vmulq_n_f32(vcvtq_f32_u32(v[i]), d), vdupq_n_f32(m)));
}

qkern_status qk_dequant_ggml__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status s = qk_resolve_layout(&src->desc, src->rows, src->cols, &L);
    if (s != QKERN_OK) return s;
    const int64_t nb = L.cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *row = (const unsigned char *)src->data + (size_t)r * L.row_bytes;
        float *y = dst + (size_t)r * (size_t)L.cols;
        for (int64_t b = 0; b < nb; b++, y += 32) {
            switch (src->desc.format) {
            case QKERN_Q8_0: {
                const qk_block_q8_0 *x = (const qk_block_q8_0 *)(const void *)row + b;
                float d = qk_f16_to_f32(x->d);
                qk_store16(y, vld1q_s8(x->qs), d);
                qk_store16(y + 16, vld1q_s8(x->qs + 16), d);
                break;
            }
            case QKERN_Q8_1: {
                const qk_block_q8_1 *x = (const qk_block_q8_1 *)(const void *)row + b;
                float d = qk_f16_to_f32(x->d);
                qk_store16(y, vld1q_s8(x->qs), d);
                qk_store16(y + 16, vld1q_s8(x->qs + 16), d);
                break;
            }
            case QKERN_Q4_0: {
                const qk_block_q4_0 *x = (const qk_block_q4_0 *)(const void *)row + b;
                float d = qk_f16_to_f32(x->d);
                uint8x16_t q = vld1q_u8(x->qs);
                int8x16_t eight = vdupq_n_s8(8);
                qk_store16(y, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(15))), eight), d);
                qk_store16(y + 16, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight), d);
                break;
            }
            case QKERN_Q4_1: {
                const qk_block_q4_1 *x = (const qk_block_q4_1 *)(const void *)row + b;
                float d = qk_f16_to_f32(x->d), m = qk_f16_to_f32(x->m);
                uint8x16_t q = vld1q_u8(x->qs);
                qk_store16_affine(y, vandq_u8(q, vdupq_n_u8(15)), d, m);
                qk_store16_affine(y + 16, vshrq_n_u8(q, 4), d, m);
                break;
            }
            default: return qk_error(QKERN_UNSUPPORTED, "neon dequantize: %s is not a ggml format", qk_format_name(L.format));
            }
        }
    }
    return QKERN_OK;
}
