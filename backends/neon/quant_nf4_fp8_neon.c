/* NF4 and FP8 quantise / dequantise with NEON, bytes identical to the scalar reference.
 *
 * NF4 (kernels/format_nf4.h): bitsandbytes' comparison tree with strict `v > t` over sorted
 * thresholds is the count of thresholds below v, so the code is 15 compares and subtracts
 * per 4 lanes (NaN: no compare is true, and the rule's code 7 is selected explicitly).
 * Dequantise: one `tbl` per byte plane of the codebook, zipped back into f32.
 *
 * FP8 (kernels/format_fp8.h): RNE on the exact f32, in integers as the rule states it:
 *   normal range:   code = (bits >> (23 − m)) − ((127 − bias) << m), + 1 if the dropped
 *                   bits are above half, or exactly half with an odd code (the carry moves
 *                   into the exponent by itself);
 *   subnormal range: |x|·2^(m − emin) is exact in f32 and fcvtns rounds it to the number of
 *                   minimum subnormals, ties to even, 8 (E4M3) / 4 (E5M2) being the first
 *                   normal code;
 *   then the overflow rule (saturate or NaN / Inf), NaN -> 0x7F, and the sign.
 * Dequantise: qk_neon_fp8_decode16 (neon.h: E4M3 by `tbl`, E5M2 by widening through
 * binary16), then one multiply by the scale, as scalar's f32(q)·s. */
#include <arm_neon.h>
#include <float.h>
#include <string.h>

#include "backends/neon/neon.h"
#include "kernels/format_fp8.h"
#include "kernels/format_internal.h"
#include "kernels/format_nf4.h"
#include "kernels/qk_error.h"

/* ---- NF4 ------------------------------------------------------------------------- */

static uint32x4_t qk_nf4_codes4(float32x4_t v) {
    uint32x4_t c = vdupq_n_u32(0);
    for (int i = 0; i < 15; i++) c = vsubq_u32(c, vcgtq_f32(v, vdupq_n_f32(qk_nf4_thresholds[i])));
    uint32x4_t nan = vmvnq_u32(vceqq_f32(v, v));
    return vbslq_u32(nan, vdupq_n_u32(QK_NF4_ZERO_CODE), c);
}

qkern_status qk_quant_nf4__neon(const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status st = qk_resolve_layout(&dst->desc, dst->rows, dst->cols, &L);
    if (st != QKERN_OK) return st;
    const int is_static = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) != 0;
    const int64_t g = L.group, nb = L.groups_per_row;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *x = src + (size_t)r * (size_t)L.cols + (size_t)(b * g);
            uint8_t *q = (uint8_t *)dst->data + (size_t)r * L.row_bytes + (size_t)(b * g / 2);
            unsigned char *sp = (unsigned char *)dst->scales + 4 * (size_t)(r * nb + b);
            float absmax;
            if (is_static) {
                memcpy(&absmax, sp, 4);
            } else {
                absmax = qk_neon_amax_finite(x, g);
                memcpy(sp, &absmax, 4);
            }
            const float inv = qk_nf4_inv_absmax(absmax);
            int64_t j = 0;
            for (; j + 16 <= g; j += 16) {
                uint32x4_t c[4];
                for (int i = 0; i < 4; i++) c[i] = qk_nf4_codes4(vmulq_n_f32(vld1q_f32(x + j + 4 * i), inv));
                uint8x16_t v = vcombine_u8(vmovn_u16(vcombine_u16(vmovn_u32(c[0]), vmovn_u32(c[1]))),
                                           vmovn_u16(vcombine_u16(vmovn_u32(c[2]), vmovn_u32(c[3]))));
                /* first element of each pair in the high nibble */
                uint8x8_t even = vmovn_u16(vreinterpretq_u16_u8(v)), odd = vshrn_n_u16(vreinterpretq_u16_u8(v), 8);
                vst1_u8(q + j / 2, vorr_u8(vshl_n_u8(even, 4), odd));
            }
            for (; j < g; j += 2)
                q[j / 2] = (uint8_t)(qk_nf4_encode(x[j] * inv) << 4 | qk_nf4_encode(x[j + 1] * inv));
        }
    }
    return QKERN_OK;
}

typedef struct qk_nf4_planes { uint8x16_t p[4]; } qk_nf4_planes;

static qk_nf4_planes qk_nf4_planes_init(void) {
    qk_nf4_planes t;
    uint8_t b[4][16];
    for (int i = 0; i < 16; i++) {
        uint32_t u;
        memcpy(&u, &qk_nf4_codebook[i], 4);
        for (int k = 0; k < 4; k++) b[k][i] = (uint8_t)(u >> (8 * k));
    }
    for (int k = 0; k < 4; k++) t.p[k] = vld1q_u8(b[k]);
    return t;
}

/* 16 codes (element order) -> codebook[code]·s into y[0..15]. */
static void qk_nf4_deq16(const qk_nf4_planes *t, uint8x16_t codes, float s, float *y) {
    uint8x16_t p0 = vqtbl1q_u8(t->p[0], codes), p1 = vqtbl1q_u8(t->p[1], codes);
    uint8x16_t p2 = vqtbl1q_u8(t->p[2], codes), p3 = vqtbl1q_u8(t->p[3], codes);
    uint16x8_t l0 = vreinterpretq_u16_u8(vzip1q_u8(p0, p1)), h0 = vreinterpretq_u16_u8(vzip1q_u8(p2, p3));
    uint16x8_t l1 = vreinterpretq_u16_u8(vzip2q_u8(p0, p1)), h1 = vreinterpretq_u16_u8(vzip2q_u8(p2, p3));
    vst1q_f32(y, vmulq_n_f32(vreinterpretq_f32_u16(vzip1q_u16(l0, h0)), s));
    vst1q_f32(y + 4, vmulq_n_f32(vreinterpretq_f32_u16(vzip2q_u16(l0, h0)), s));
    vst1q_f32(y + 8, vmulq_n_f32(vreinterpretq_f32_u16(vzip1q_u16(l1, h1)), s));
    vst1q_f32(y + 12, vmulq_n_f32(vreinterpretq_f32_u16(vzip2q_u16(l1, h1)), s));
}

qkern_status qk_dequant_nf4__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status st = qk_resolve_layout(&src->desc, src->rows, src->cols, &L);
    if (st != QKERN_OK) return st;
    const qk_nf4_planes t = qk_nf4_planes_init();
    const int64_t g = L.group, nb = L.groups_per_row;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *q = (const uint8_t *)src->data + (size_t)r * L.row_bytes + (size_t)(b * g / 2);
            float *y = dst + (size_t)r * (size_t)L.cols + (size_t)(b * g);
            float s;
            memcpy(&s, (const unsigned char *)src->scales + 4 * (size_t)(r * nb + b), 4);
            int64_t j = 0;
            for (; j + 32 <= g; j += 32) {
                uint8x16_t v = vld1q_u8(q + j / 2);
                uint8x16_t hi = vshrq_n_u8(v, 4), lo = vandq_u8(v, vdupq_n_u8(15));
                qk_nf4_deq16(&t, vzip1q_u8(hi, lo), s, y + j); /* high nibble first */
                qk_nf4_deq16(&t, vzip2q_u8(hi, lo), s, y + j + 16);
            }
            for (; j < g; j += 2) {
                y[j] = qk_nf4_codebook[q[j / 2] >> 4] * s;
                y[j + 1] = qk_nf4_codebook[q[j / 2] & 0xf] * s;
            }
        }
    }
    return QKERN_OK;
}

/* ---- FP8 ------------------------------------------------------------------------- */

typedef struct qk_fp8_rule {
    int mbits, bias;
    uint32_t max_code, overflow_code;
    float sub_scale;     /* 2^(mbits − emin): |x| in units of the minimum subnormal */
    uint32_t min_normal; /* f32 bits of 2^emin */
} qk_fp8_rule;

static qk_fp8_rule qk_fp8_rule_for(qkern_format f, int saturate) {
    qk_fp8_rule r;
    if (f == QKERN_FP8_E5M2) {
        r.mbits = 2; r.bias = 15; r.max_code = 0x7Bu; r.overflow_code = QK_FP8_E5M2_INF;
        r.sub_scale = 0x1p16f; r.min_normal = (uint32_t)(127 - 14) << 23;
    } else {
        r.mbits = 3; r.bias = 7; r.max_code = 0x7Eu; r.overflow_code = 0x7Fu;
        r.sub_scale = 0x1p9f; r.min_normal = (uint32_t)(127 - 6) << 23;
    }
    if (saturate) r.overflow_code = r.max_code;
    return r;
}

static uint32x4_t qk_fp8_encode4(float32x4_t x, const qk_fp8_rule *r) {
    const uint32x4_t u = vreinterpretq_u32_f32(x);
    const uint32x4_t sign = vandq_u32(vshrq_n_u32(u, 24), vdupq_n_u32(0x80));
    const uint32x4_t a = vandq_u32(u, vdupq_n_u32(0x7fffffffu));
    const int sh = 23 - r->mbits;
    const int32x4_t nsh = vdupq_n_s32(-sh);
    /* normal range */
    uint32x4_t code = vsubq_u32(vshlq_u32(a, nsh), vdupq_n_u32((uint32_t)(127 - r->bias) << r->mbits));
    const uint32x4_t mask = vdupq_n_u32((1u << sh) - 1u), half = vdupq_n_u32(1u << (sh - 1));
    const uint32x4_t rem = vandq_u32(a, mask);
    uint32x4_t up = vorrq_u32(vcgtq_u32(rem, half),
                              vandq_u32(vceqq_u32(rem, half), vtstq_u32(code, vdupq_n_u32(1))));
    code = vsubq_u32(code, up); /* up is all-ones (−1) where rounding up */
    /* subnormal range: exact scaling, then round to nearest even */
    const float32x4_t ax = vreinterpretq_f32_u32(a);
    const uint32x4_t sub = vreinterpretq_u32_s32(vcvtnq_s32_f32(vmulq_n_f32(ax, r->sub_scale)));
    code = vbslq_u32(vcltq_u32(a, vdupq_n_u32(r->min_normal)), sub, code);
    /* overflow (±Inf lands here: its exponent field makes the code huge) */
    code = vbslq_u32(vcgtq_u32(code, vdupq_n_u32(r->max_code)), vdupq_n_u32(r->overflow_code), code);
    code = vorrq_u32(code, sign);
    /* NaN: 0x7F, sign dropped */
    const uint32x4_t nan = vcgtq_u32(a, vdupq_n_u32(0x7f800000u));
    return vbslq_u32(nan, vdupq_n_u32(0x7Fu), code);
}

static inline uint8x16_t qk_fp8_narrow16(const uint32x4_t c[4]) {
    return vcombine_u8(vmovn_u16(vcombine_u16(vmovn_u32(c[0]), vmovn_u32(c[1]))),
                       vmovn_u16(vcombine_u16(vmovn_u32(c[2]), vmovn_u32(c[3]))));
}

qkern_status qk_quant_fp8__neon(const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status st = qk_resolve_layout(&dst->desc, dst->rows, dst->cols, &L);
    if (st != QKERN_OK) return st;
    const int saturate = !(dst->desc.flags & QKERN_QUANT_FP8_NO_SATURATE);
    const int is_static = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) != 0;
    const qk_fp8_rule rule = qk_fp8_rule_for(L.format, saturate);
    const float fmax = qk_fp8_max(L.format);
    const int64_t cols = L.cols;
    unsigned char *scales = dst->scales;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = src + (size_t)r * (size_t)cols;
        uint8_t *q = (uint8_t *)dst->data + (size_t)r * (size_t)cols;
        float scale;
        if (L.group == 0) {
            memcpy(&scale, scales, 4); /* per tensor: the front end put it there */
        } else if (is_static) {
            memcpy(&scale, scales + 4 * (size_t)r, 4);
        } else {
            scale = qk_fp8_scale_for_amax(qk_neon_amax_finite(x, cols), fmax);
            memcpy(scales + 4 * (size_t)r, &scale, 4);
        }
        const float inv = 1.0f / scale;
        int64_t j = 0;
        for (; j + 16 <= cols; j += 16) {
            uint32x4_t c[4];
            for (int i = 0; i < 4; i++) c[i] = qk_fp8_encode4(vmulq_n_f32(vld1q_f32(x + j + 4 * i), inv), &rule);
            vst1q_u8(q + j, qk_fp8_narrow16(c));
        }
        for (; j < cols; j++) q[j] = qk_f32_to_fp8(x[j] * inv, L.format, saturate);
    }
    return QKERN_OK;
}

static uint32_t qk_fp8_code_bits(uint8_t c, qkern_format f) {
    const float v = qk_fp8_to_f32(c, f);
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}

void qk_neon_fp8_tbl_init(qk_neon_fp8_tbl *t, qkern_format f) {
    memset(t, 0, sizeof *t);
    if (f != QKERN_FP8_E4M3) return; /* E5M2 decodes by shift */
    uint8_t top[16], fix3[16], fix2[16];
    for (int i = 0; i < 16; i++) /* E = 2j+1, M = 0: a normal code with these top bits */
        top[i] = (uint8_t)(qk_fp8_code_bits((uint8_t)(i << 4 | 8), f) >> 24);
    for (int i = 0; i < 16; i++) {
        const uint8_t mag = (uint8_t)((i - 1) & 0x7f);
        const uint32_t u = qk_fp8_code_bits(mag, f);
        fix3[i] = (uint8_t)((u >> 24) ^ top[mag >> 4]);
        fix2[i] = (uint8_t)((u >> 16) ^ (uint32_t)(uint8_t)(mag << 4));
    }
    t->top = vld1q_u8(top);
    t->fix3 = vld1q_u8(fix3);
    t->fix2 = vld1q_u8(fix2);
}

/* e5m2 is a constant at every call, so each loop gets its own decoder. */
static inline void qk_fp8_deq_row(const qk_neon_fp8_tbl *t, int e5m2, const uint8_t *q, int64_t cols, float s,
                                  float *y) {
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
        float32x4_t f[4];
        qk_neon_fp8_decode16(t, e5m2, vld1q_u8(q + j), f);
        for (int i = 0; i < 4; i++) vst1q_f32(y + j + 4 * i, vmulq_n_f32(f[i], s));
    }
    const qkern_format fmt = e5m2 ? QKERN_FP8_E5M2 : QKERN_FP8_E4M3;
    for (; j < cols; j++) y[j] = qk_fp8_to_f32(q[j], fmt) * s;
}

static inline void qk_fp8_round_row(const qk_neon_fp8_tbl *t, const qk_fp8_rule *rule, int e5m2, const float *x,
                                    int64_t k, float inv, float *dst) {
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        uint32x4_t c[4];
        for (int j = 0; j < 4; j++) c[j] = qk_fp8_encode4(vmulq_n_f32(vld1q_f32(x + i + 4 * j), inv), rule);
        float32x4_t f[4];
        qk_neon_fp8_decode16(t, e5m2, qk_fp8_narrow16(c), f);
        for (int j = 0; j < 4; j++) vst1q_f32(dst + i + 4 * j, f[j]);
    }
    const qkern_format fmt = e5m2 ? QKERN_FP8_E5M2 : QKERN_FP8_E4M3;
    for (; i < k; i++) dst[i] = qk_fp8_to_f32(qk_f32_to_fp8(x[i] * inv, fmt, 1), fmt);
}

void qk_neon_fp8_round_row(const float *x, int64_t k, float inv, qkern_format f, float *dst) {
    qk_neon_fp8_tbl t;
    qk_neon_fp8_tbl_init(&t, f);
    const qk_fp8_rule rule = qk_fp8_rule_for(f, 1);
    if (f == QKERN_FP8_E5M2) qk_fp8_round_row(&t, &rule, 1, x, k, inv, dst);
    else qk_fp8_round_row(&t, &rule, 0, x, k, inv, dst);
}

qkern_status qk_dequant_fp8__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    qk_layout L;
    qkern_status st = qk_resolve_layout(&src->desc, src->rows, src->cols, &L);
    if (st != QKERN_OK) return st;
    const int e5m2 = L.format == QKERN_FP8_E5M2;
    const int64_t cols = L.cols;
    qk_neon_fp8_tbl t;
    qk_neon_fp8_tbl_init(&t, L.format);
    for (int64_t r = r0; r < r1; r++) {
        float s;
        memcpy(&s, (const unsigned char *)src->scales + (L.group == 0 ? 0 : 4 * (size_t)r), 4);
        const uint8_t *q = (const uint8_t *)src->data + (size_t)r * (size_t)cols;
        float *y = dst + (size_t)r * (size_t)cols;
        if (e5m2) qk_fp8_deq_row(&t, 1, q, cols, s, y);
        else qk_fp8_deq_row(&t, 0, q, cols, s, y);
    }
    return QKERN_OK;
}
