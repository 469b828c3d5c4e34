/* ggml block formats (Q8_0, Q8_1, Q4_0, Q4_1): quantise and dequantise with NEON, bytes
 * and floats identical to llama.cpp's *_ref rules (kernels/format_ggml.h):
 *   roundf (ties away)          -> fcvtas (vcvtaq_s32_f32)
 *   NaN / Inf / huge -> int8    -> 0, in-range values wrap to their low byte (x86-64's cast)
 *   (int8_t)(v + 8.5f) / +0.5f  -> fcvtzs (vcvtq_s32_f32, truncation), then min 15
 *   Q4_0's "max": the first element of largest |x|, sign kept (strict > while scanning)
 *   Q4_1 dequantise: q·d + m as two roundings (no fused multiply-add, as the scalar C). */
#include <arm_neon.h>
#include <float.h>
#include <stddef.h>
#include <string.h>

#include "backends/neon/neon.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"

/* max |x| over the block's non-NaN elements (Inf included), as the scalar scan. */
static float qk_amax32(const float *x) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < 32; i += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxnmvq_f32(m);
}

/* C's truncated float -> int8 cast as x86-64 executes it (the scalar reference's rule):
 * the int32 conversion of v (already rounded as the rule wants), 0x80000000 for NaN, ±Inf
 * and |v| >= 2^31, then the low byte. cvt is the conversion of v with any rounding
 * (integral-valued v, or fcvtzs truncation). */
static int32x4_t qk_ggml_i32(float32x4_t v, int32x4_t cvt) {
    uint32x4_t ok = vcaltq_f32(v, vdupq_n_f32(2147483648.0f)); /* false for NaN */
    return vandq_s32(cvt, vreinterpretq_s32_u32(ok));
}

/* Low bytes of 16 int32 lanes (wrapping, as the cast keeps the low byte). */
static int8x16_t qk_low_bytes(const int32x4_t c[4]) {
    int16x8_t lo = vcombine_s16(vmovn_s32(c[0]), vmovn_s32(c[1])), hi = vcombine_s16(vmovn_s32(c[2]), vmovn_s32(c[3]));
    return vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
}

void qk_neon_q8_block(const float *x, int8_t *q, uint16_t *d16, float *d32, int32_t *sum) {
    const float d = qk_amax32(x) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    int16x8_t acc = vdupq_n_s16(0);
    for (int h = 0; h < 32; h += 16) {
        int32x4_t c[4];
        for (int i = 0; i < 4; i++) {
            float32x4_t v = vmulq_n_f32(vld1q_f32(x + h + 4 * i), id);
            /* roundf(v) is integral, so its conversion is fcvtas's (ties away) */
            c[i] = qk_ggml_i32(vrndaq_f32(v), vcvtaq_s32_f32(v));
        }
        int8x16_t b = qk_low_bytes(c);
        vst1q_s8(q + h, b);
        acc = vpadalq_s8(acc, b);
    }
    *d16 = qk_f32_to_f16(d);
    *d32 = d;
    *sum = vaddlvq_s16(acc);
}

void qk_neon_quantize_row_q8_0(const float *x, void *blocks, int64_t k) {
    unsigned char *y = blocks;
    for (int64_t b = 0; b < k / 32; b++, x += 32, y += sizeof(qk_block_q8_0)) {
        uint16_t d16;
        float d;
        int32_t sum;
        qk_neon_q8_block(x, (int8_t *)(y + offsetof(qk_block_q8_0, qs)), &d16, &d, &sum);
        memcpy(y + offsetof(qk_block_q8_0, d), &d16, 2);
    }
}

/* s = f16(Σq·d); a NaN product is stored as 0xFE00, as the scalar reference does. */
static uint16_t qk_q8_1_s(int32_t sum, float d) {
    const float s = (float)sum * d;
    return s != s ? (uint16_t)0xFE00u : qk_f32_to_f16(s);
}

void qk_neon_quantize_row_q8_1(const float *x, void *blocks, int64_t k) {
    unsigned char *y = blocks;
    for (int64_t b = 0; b < k / 32; b++, x += 32, y += sizeof(qk_block_q8_1)) {
        uint16_t d16, s16;
        float d;
        int32_t sum;
        qk_neon_q8_block(x, (int8_t *)(y + offsetof(qk_block_q8_1, qs)), &d16, &d, &sum);
        s16 = qk_q8_1_s(sum, d);
        memcpy(y + offsetof(qk_block_q8_1, d), &d16, 2);
        memcpy(y + offsetof(qk_block_q8_1, s), &s16, 2);
    }
}

/* 16 nibble codes min(15, int8((x − sub)·id + bias)) with the cast rule above; the
 * stored byte keeps the code's low bits, as the reference's uint8_t image does. */
static uint8x16_t qk_q4_codes(const float *x, float id, float bias, float sub) {
    int32x4_t c[4];
    for (int i = 0; i < 4; i++) {
        float32x4_t v = vsubq_f32(vld1q_f32(x + 4 * i), vdupq_n_f32(sub));
        v = vaddq_f32(vmulq_n_f32(v, id), vdupq_n_f32(bias));
        c[i] = qk_ggml_i32(v, vcvtq_s32_f32(v));
    }
    return vreinterpretq_u8_s8(vminq_s8(qk_low_bytes(c), vdupq_n_s8(15)));
}

static void qk_quantize_row_q4_0(const float *x, unsigned char *y, int64_t k) {
    for (int64_t b = 0; b < k / 32; b++, x += 32, y += sizeof(qk_block_q4_0)) {
        const float amax = qk_amax32(x);
        float max = 0.0f;
        if (amax > 0.0f)
            for (int j = 0; j < 32; j++) /* the first element reaching amax, as the scalar scan keeps it */
                if ((x[j] < 0 ? -x[j] : x[j]) == amax) { max = x[j]; break; }
        const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t d16 = qk_f32_to_f16(d);
        memcpy(y + offsetof(qk_block_q4_0, d), &d16, 2);
        uint8x16_t lo = qk_q4_codes(x, id, 8.5f, 0.0f), hi = qk_q4_codes(x + 16, id, 8.5f, 0.0f);
        vst1q_u8(y + offsetof(qk_block_q4_0, qs), vorrq_u8(lo, vshlq_n_u8(hi, 4)));
    }
}

static void qk_quantize_row_q4_1(const float *x, unsigned char *y, int64_t k) {
    for (int64_t b = 0; b < k / 32; b++, x += 32, y += sizeof(qk_block_q4_1)) {
        /* NaN never wins (minnm / maxnm), the scan's FLT_MAX / -FLT_MAX start values stay. */
        float32x4_t mn = vdupq_n_f32(FLT_MAX), mx = vdupq_n_f32(-FLT_MAX);
        for (int i = 0; i < 32; i += 4) {
            float32x4_t v = vld1q_f32(x + i);
            mn = vminnmq_f32(mn, v);
            mx = vmaxnmq_f32(mx, v);
        }
        const float min = vminnmvq_f32(mn), max = vmaxnmvq_f32(mx);
        const float d = (max - min) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t d16 = qk_f32_to_f16(d), m16 = qk_f32_to_f16(min);
        memcpy(y + offsetof(qk_block_q4_1, d), &d16, 2);
        memcpy(y + offsetof(qk_block_q4_1, m), &m16, 2);
        uint8x16_t lo = qk_q4_codes(x, id, 0.5f, min), hi = qk_q4_codes(x + 16, id, 0.5f, min);
        vst1q_u8(y + offsetof(qk_block_q4_1, qs), vorrq_u8(lo, vshlq_n_u8(hi, 4)));
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
        case QKERN_Q4_0: qk_quantize_row_q4_0(x, (unsigned char *)row, L.cols); break;
        case QKERN_Q4_1: qk_quantize_row_q4_1(x, (unsigned char *)row, L.cols); break;
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

static float qk_f16_at(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2); /* rows need not be 2-byte aligned */
    return qk_f16_to_f32(h);
}

qkern_status qk_dequant_ggml__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status s = qk_resolve_layout(&src->desc, src->rows, src->cols, &L);
    if (s != QKERN_OK) return s;
    const int64_t nb = L.cols / 32;
    const size_t bb = qk_format_info(L.format)->block_bytes;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *x = (const unsigned char *)src->data + (size_t)r * L.row_bytes;
        float *y = dst + (size_t)r * (size_t)L.cols;
        for (int64_t b = 0; b < nb; b++, y += 32, x += bb) {
            switch (L.format) {
            case QKERN_Q8_0:
            case QKERN_Q8_1: {
                const size_t qs = L.format == QKERN_Q8_0 ? offsetof(qk_block_q8_0, qs) : offsetof(qk_block_q8_1, qs);
                const float d = qk_f16_at(x); /* d first in both */
                qk_store16(y, vld1q_s8((const int8_t *)(x + qs)), d);
                qk_store16(y + 16, vld1q_s8((const int8_t *)(x + qs + 16)), d);
                break;
            }
            case QKERN_Q4_0: {
                const float d = qk_f16_at(x + offsetof(qk_block_q4_0, d));
                const uint8x16_t q = vld1q_u8(x + offsetof(qk_block_q4_0, qs));
                const int8x16_t eight = vdupq_n_s8(8);
                qk_store16(y, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(15))), eight), d);
                qk_store16(y + 16, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight), d);
                break;
            }
            case QKERN_Q4_1: {
                const float d = qk_f16_at(x + offsetof(qk_block_q4_1, d)), m = qk_f16_at(x + offsetof(qk_block_q4_1, m));
                const uint8x16_t q = vld1q_u8(x + offsetof(qk_block_q4_1, qs));
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
