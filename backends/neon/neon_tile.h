/* The part of the integer-activation GEMM that is the same at every ISA level: walking
 * panels, rows in groups of up to 4, groups along K, and the per-group epilogue that turns
 * exact int32 group sums into f32. Each ISA file supplies only the group dot product
 * (sdot, smmla or smull/sadalp). Everything here is static inline and uses base armv8-a
 * NEON only, so each ISA-flagged translation unit gets its own private copy. */
#ifndef QK_NEON_TILE_H
#define QK_NEON_TILE_H

#include <arm_neon.h>
#include <string.h>

#include "backends/neon/neon.h"

#if defined(__GNUC__)
#define QK_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define QK_ALWAYS_INLINE inline
#endif

/* Nibble decoders of the 4-bit panels (low nibbles: step 2s, high: step 2s+1). */
static QK_ALWAYS_INLINE int8x16_t qk_s4_lo(uint8x16_t v) { return vshrq_n_s8(vshlq_n_s8(vreinterpretq_s8_u8(v), 4), 4); }
static QK_ALWAYS_INLINE int8x16_t qk_s4_hi(uint8x16_t v) { return vshrq_n_s8(vreinterpretq_s8_u8(v), 4); }
static QK_ALWAYS_INLINE int8x16_t qk_u4_lo(uint8x16_t v) { return vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))); }
static QK_ALWAYS_INLINE int8x16_t qk_u4_hi(uint8x16_t v) { return vreinterpretq_s8_u8(vshrq_n_u8(v, 4)); }

/* Eight per-column parameters (f16 or f32) as two f32x4. */
static QK_ALWAYS_INLINE void qk_neon_params8(const unsigned char *p, int f16, float32x4_t out[2]) {
    if (f16) {
        uint16x8_t h = vld1q_u16((const uint16_t *)(const void *)p);
        out[0] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
        out[1] = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
    } else {
        out[0] = vld1q_f32((const float *)(const void *)p);
        out[1] = vld1q_f32((const float *)(const void *)p + 4);
    }
}

/* Activation scratch row: per-group (scale, aux) after the quantised values. */
static QK_ALWAYS_INLINE const float *qk_neon_act_params(const qk_neon_pack *h, const unsigned char *row) {
    return (const float *)(const void *)(row + h->act_q_bytes);
}

/* Writes cols [0, nv) of a row tile: y = bias + acc. */
static QK_ALWAYS_INLINE void qk_neon_store8(float *y, const float *bias, int64_t n0, int64_t nv, float32x4_t a0,
                                            float32x4_t a1) {
    if (nv >= 8) {
        if (bias) {
            a0 = vaddq_f32(a0, vld1q_f32(bias + n0));
            a1 = vaddq_f32(a1, vld1q_f32(bias + n0 + 4));
        }
        vst1q_f32(y, a0);
        vst1q_f32(y + 4, a1);
        return;
    }
    float tmp[8];
    vst1q_f32(tmp, a0);
    vst1q_f32(tmp + 4, a1);
    for (int64_t i = 0; i < nv; i++) y[i] = tmp[i] + (bias ? bias[n0 + i] : 0.0f);
}

/* The group dot product an ISA supplies: acc[r][j] += Σ_{k in group} a[r][k]·w[col 4j..4j+3][k]
 * for r < mr, over gp (padded) elements; b points at the group's data block. */
typedef void (*qk_neon_group_dot_fn)(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,
                                     qk_neon_panel panel, int32x4_t acc[QK_NEON_MR][2]);

static QK_ALWAYS_INLINE void qk_neon_int_rows(const qk_neon_tile *t, const unsigned char *pp, int64_t m, int mr,
                                              int64_t n0, qk_neon_group_dot_fn dot) {
    const qk_neon_pack *h = t->h;
    const unsigned char *row[QK_NEON_MR];
    const int8_t *a[QK_NEON_MR];
    float32x4_t facc[QK_NEON_MR][2];
    for (int r = 0; r < QK_NEON_MR; r++) {
        row[r] = t->act + (size_t)(m + (r < mr ? r : 0)) * t->act_stride;
        facc[r][0] = facc[r][1] = vdupq_n_f32(0.0f);
    }
    for (int64_t G = 0; G < h->groups; G++) {
        const unsigned char *gb = pp + (size_t)G * h->group_bytes;
        int32x4_t iacc[QK_NEON_MR][2];
        for (int r = 0; r < QK_NEON_MR; r++) {
            iacc[r][0] = iacc[r][1] = vdupq_n_s32(0);
            a[r] = (const int8_t *)(row[r] + (size_t)G * (size_t)h->gp);
        }
        dot(gb, a, mr, h->gp, h->panel, iacc);
        const unsigned char *prm = gb + h->data_bytes_group;
        const size_t psz = h->param_f16 ? 16 : 32;
        float32x4_t sc[2], z[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
        qk_neon_params8(prm, h->param_f16, sc);
        if (h->has_zero || h->has_min) qk_neon_params8(prm + psz, h->param_f16, z);
        for (int r = 0; r < mr; r++) {
            const float *ap = qk_neon_act_params(h, row[r]) + 2 * G;
            if (h->has_zero) {
                /* Σ qx·(q − z) = Σ qx·q − z·Σ qx, exactly, in int32. */
                int32_t xsum;
                memcpy(&xsum, ap + 1, 4);
                int32x4_t xs = vdupq_n_s32(xsum);
                iacc[r][0] = vmlsq_s32(iacc[r][0], vcvtq_s32_f32(z[0]), xs);
                iacc[r][1] = vmlsq_s32(iacc[r][1], vcvtq_s32_f32(z[1]), xs);
            }
            facc[r][0] = vfmaq_f32(facc[r][0], vcvtq_f32_s32(iacc[r][0]), vmulq_n_f32(sc[0], ap[0]));
            facc[r][1] = vfmaq_f32(facc[r][1], vcvtq_f32_s32(iacc[r][1]), vmulq_n_f32(sc[1], ap[0]));
            if (h->has_min) { /* Q4_1 × Q8_1: + m_w · s_x */
                facc[r][0] = vfmaq_n_f32(facc[r][0], z[0], ap[1]);
                facc[r][1] = vfmaq_n_f32(facc[r][1], z[1], ap[1]);
            }
        }
    }
    int64_t nv = t->n1 - n0 < 8 ? t->n1 - n0 : 8;
    for (int r = 0; r < mr; r++)
        qk_neon_store8(t->y + (m + r) * t->ldy + n0, t->bias, n0, nv, facc[r][0], facc[r][1]);
}

/* The whole tile. Rows go in fours, then the remainder with its own constant row count so
 * the compiler drops the unused accumulators. */
static QK_ALWAYS_INLINE void qk_neon_int_tile(const qk_neon_tile *t, qk_neon_group_dot_fn d1, qk_neon_group_dot_fn d2,
                                              qk_neon_group_dot_fn d3, qk_neon_group_dot_fn d4) {
    for (int64_t n0 = t->n0; n0 < t->n1; n0 += QK_NEON_NR) {
        const unsigned char *pp = qk_neon_panel_ptr(t->h, n0 / QK_NEON_NR);
        int64_t m = t->m0;
        for (; m + 4 <= t->m1; m += 4) qk_neon_int_rows(t, pp, m, 4, n0, d4);
        switch (t->m1 - m) {
        case 3: qk_neon_int_rows(t, pp, m, 3, n0, d3); break;
        case 2: qk_neon_int_rows(t, pp, m, 2, n0, d2); break;
        case 1: qk_neon_int_rows(t, pp, m, 1, n0, d1); break;
        default: break;
        }
    }
}

#endif
