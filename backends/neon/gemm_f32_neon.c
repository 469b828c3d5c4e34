/* Float-activation GEMM / GEMV (W4A32, W8A32, NF4, FP8 weights, and FP8×FP8 on decoded
 * activations): qk_gemm_f32_<w>_4x8c4__neon, plain armv8-a.
 *
 * Weights are dequantised on the fly from the same packed panels as the integer kernels:
 * per c4 vector one `tbl` transposes the 4 columns × 4 k bytes into k-major order, then
 *   integer formats: sxtl ×2, scvtf, (q − zero)·scale (+ min)
 *   NF4:  4 `tbl` lookups of the codebook's byte planes + 4 zip .16b + 4 zip .8h
 *   FP8:  ushll into binary16 bit patterns (E5M2 is the top byte of an f16; E4M3's
 *         magnitude shifted by 7 is the f16 of value·2^-8) and fcvtl, exact for every code,
 * and 16 `fmla v.4s, w.4s, x.s[t]` per c4 vector over a 4-row tile. */
#include "backends/neon/neon_tile.h"
#include "kernels/format_nf4.h"

static const uint8_t qk_c4_to_k_major[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

typedef struct qk_f_consts {
    uint8x16_t transpose;
    uint8x16_t nf4[4]; /* byte planes of the codebook */
} qk_f_consts;

static void qk_f_consts_init(qk_f_consts *c) {
    c->transpose = vld1q_u8(qk_c4_to_k_major);
    uint8_t planes[4][16];
    for (int i = 0; i < 16; i++) {
        uint32_t u;
        memcpy(&u, &qk_nf4_codebook[i], 4);
        for (int b = 0; b < 4; b++) planes[b][i] = (uint8_t)(u >> (8 * b));
    }
    for (int b = 0; b < 4; b++) c->nf4[b] = vld1q_u8(planes[b]);
}

/* 16 stored values in k-major order (t·4 + col) -> f[t] = the 4 columns' weights at k = t. */
static QK_ALWAYS_INLINE void qk_f_decode(const qk_neon_pack *h, const qk_f_consts *c, uint8x16_t tv, float32x4_t sc,
                                         float32x4_t z, float32x4_t f[4]) {
    switch (h->decode) {
    case QK_DEC_INT: {
        int8x16_t s = vreinterpretq_s8_u8(tv);
        int16x8_t lo = vmovl_s8(vget_low_s8(s)), hi = vmovl_high_s8(s);
        f[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
        f[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
        f[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
        f[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
        for (int t = 0; t < 4; t++) {
            if (h->has_zero) f[t] = vsubq_f32(f[t], z);
            f[t] = vmulq_f32(f[t], sc);
            if (h->has_min) f[t] = vaddq_f32(f[t], z);
        }
        return;
    }
    case QK_DEC_NF4: {
        uint8x16_t p0 = vqtbl1q_u8(c->nf4[0], tv), p1 = vqtbl1q_u8(c->nf4[1], tv);
        uint8x16_t p2 = vqtbl1q_u8(c->nf4[2], tv), p3 = vqtbl1q_u8(c->nf4[3], tv);
        uint16x8_t l0 = vreinterpretq_u16_u8(vzip1q_u8(p0, p1)), h0 = vreinterpretq_u16_u8(vzip1q_u8(p2, p3));
        uint16x8_t l1 = vreinterpretq_u16_u8(vzip2q_u8(p0, p1)), h1 = vreinterpretq_u16_u8(vzip2q_u8(p2, p3));
        f[0] = vmulq_f32(vreinterpretq_f32_u16(vzip1q_u16(l0, h0)), sc);
        f[1] = vmulq_f32(vreinterpretq_f32_u16(vzip2q_u16(l0, h0)), sc);
        f[2] = vmulq_f32(vreinterpretq_f32_u16(vzip1q_u16(l1, h1)), sc);
        f[3] = vmulq_f32(vreinterpretq_f32_u16(vzip2q_u16(l1, h1)), sc);
        return;
    }
    case QK_DEC_E5M2: {
        uint16x8_t lo = vshll_n_u8(vget_low_u8(tv), 8), hi = vshll_high_n_u8(tv, 8);
        f[0] = vmulq_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(lo))), sc);
        f[1] = vmulq_f32(vcvt_high_f32_f16(vreinterpretq_f16_u16(lo)), sc);
        f[2] = vmulq_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(hi))), sc);
        f[3] = vmulq_f32(vcvt_high_f32_f16(vreinterpretq_f16_u16(hi)), sc);
        return;
    }
    default: { /* QK_DEC_E4M3 */
        /* S.EEEE.MMM -> binary16 S.0EEEE.MMM0000000 is the value · 2^-8 for normals and
         * subnormals alike; the NaN code S.1111.111 becomes an f16 NaN. */
        uint8x16_t mag = vandq_u8(tv, vdupq_n_u8(0x7f)), sgn = vandq_u8(tv, vdupq_n_u8(0x80));
        uint8x16_t nan = vceqq_u8(mag, vdupq_n_u8(0x7f));
        uint16x8_t lo = vorrq_u16(vshll_n_u8(vget_low_u8(sgn), 8), vshll_n_u8(vget_low_u8(mag), 7));
        uint16x8_t hi = vorrq_u16(vshll_high_n_u8(sgn, 8), vshll_high_n_u8(mag, 7));
        lo = vbslq_u16(vreinterpretq_u16_s16(vmovl_s8(vreinterpret_s8_u8(vget_low_u8(nan)))),
                       vorrq_u16(vshll_n_u8(vget_low_u8(sgn), 8), vdupq_n_u16(0x7e00)), lo);
        hi = vbslq_u16(vreinterpretq_u16_s16(vmovl_high_s8(vreinterpretq_s8_u8(nan))),
                       vorrq_u16(vshll_high_n_u8(sgn, 8), vdupq_n_u16(0x7e00)), hi);
        float32x4_t s256 = vmulq_n_f32(sc, 256.0f);
        f[0] = vmulq_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(lo))), s256);
        f[1] = vmulq_f32(vcvt_high_f32_f16(vreinterpretq_f16_u16(lo)), s256);
        f[2] = vmulq_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(hi))), s256);
        f[3] = vmulq_f32(vcvt_high_f32_f16(vreinterpretq_f16_u16(hi)), s256);
        return;
    }
    }
}

#define QK_F_FMA(r, j, f, xv)                                                  \
    do {                                                                       \
        facc[r][j] = vfmaq_laneq_f32(facc[r][j], (f)[0], (xv), 0);             \
        facc[r][j] = vfmaq_laneq_f32(facc[r][j], (f)[1], (xv), 1);             \
        facc[r][j] = vfmaq_laneq_f32(facc[r][j], (f)[2], (xv), 2);             \
        facc[r][j] = vfmaq_laneq_f32(facc[r][j], (f)[3], (xv), 3);             \
    } while (0)

/* One 16-k step: w[2c+j] the stored c4 vectors, x[r] the rows' activations at the step. */
static QK_ALWAYS_INLINE void qk_f_step(const qk_neon_pack *h, const qk_f_consts *c, const uint8x16_t w[8],
                                       const float *const *x, int mr, const float32x4_t sc[2], const float32x4_t z[2],
                                       float32x4_t facc[QK_NEON_MR][2]) {
    for (int cc = 0; cc < 4; cc++) {
        float32x4_t xv[QK_NEON_MR];
        for (int r = 0; r < mr; r++) xv[r] = vld1q_f32(x[r] + 4 * cc);
        for (int j = 0; j < 2; j++) {
            float32x4_t f[4];
            qk_f_decode(h, c, vqtbl1q_u8(w[2 * cc + j], c->transpose), sc[j], z[j], f);
            for (int r = 0; r < mr; r++) QK_F_FMA(r, j, f, xv[r]);
        }
    }
}

static QK_ALWAYS_INLINE void qk_f_rows(const qk_neon_tile *t, const qk_f_consts *c, const unsigned char *pp,
                                       int64_t m, int mr, int64_t n0) {
    const qk_neon_pack *h = t->h;
    const int post_scale = h->act == QKERN_ACT_FP8_E4M3 || h->act == QKERN_ACT_FP8_E5M2;
    const size_t gstride = post_scale || h->float_pad ? (size_t)h->gp : (size_t)h->g;
    float32x4_t facc[QK_NEON_MR][2];
    for (int r = 0; r < QK_NEON_MR; r++) facc[r][0] = facc[r][1] = vdupq_n_f32(0.0f);
    float32x4_t sc[2], z[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    float32x4_t post[2] = {vdupq_n_f32(1.0f), vdupq_n_f32(1.0f)};
    for (int64_t G = 0; G < h->groups; G++) {
        const unsigned char *gb = pp + (size_t)G * h->group_bytes;
        const unsigned char *prm = gb + h->data_bytes_group;
        qk_neon_params8(prm, h->param_f16, sc);
        if (h->has_zero || h->has_min) qk_neon_params8(prm + (h->param_f16 ? 16 : 32), h->param_f16, z);
        if (post_scale) { /* FP8×FP8: Σ f32(qx)·f32(qw) first, scales after (one group per row) */
            post[0] = sc[0];
            post[1] = sc[1];
            sc[0] = sc[1] = vdupq_n_f32(1.0f);
        }
        const float *x[QK_NEON_MR];
        for (int r = 0; r < mr; r++)
            x[r] = (const float *)(const void *)(t->act + (size_t)(m + r) * t->act_stride) + (size_t)G * gstride;
        const unsigned char *b = gb;
        uint8x16_t w[8];
        if (h->panel == QK_PANEL_I8) {
            for (int64_t s = 0; s < h->gp; s += 16, b += 128) {
                for (int v = 0; v < 8; v++) w[v] = vld1q_u8(b + 16 * v);
                const float *xs[QK_NEON_MR];
                for (int r = 0; r < mr; r++) xs[r] = x[r] + s;
                qk_f_step(h, c, w, xs, mr, sc, z, facc);
            }
        } else {
            const int s4 = h->panel == QK_PANEL_S4;
            for (int64_t s = 0; s < h->gp; s += 32, b += 128) {
                uint8x16_t raw[8];
                const float *xs[QK_NEON_MR];
                for (int v = 0; v < 8; v++) raw[v] = vld1q_u8(b + 16 * v);
                for (int v = 0; v < 8; v++) w[v] = vreinterpretq_u8_s8(s4 ? qk_s4_lo(raw[v]) : qk_u4_lo(raw[v]));
                for (int r = 0; r < mr; r++) xs[r] = x[r] + s;
                qk_f_step(h, c, w, xs, mr, sc, z, facc);
                for (int v = 0; v < 8; v++) w[v] = vreinterpretq_u8_s8(s4 ? qk_s4_hi(raw[v]) : qk_u4_hi(raw[v]));
                for (int r = 0; r < mr; r++) xs[r] = x[r] + s + 16;
                qk_f_step(h, c, w, xs, mr, sc, z, facc);
            }
        }
    }
    int64_t nv = t->n1 - n0 < 8 ? t->n1 - n0 : 8;
    for (int r = 0; r < mr; r++) {
        if (post_scale) {
            /* sx sits after the row's decoded activations. */
            const float *row = (const float *)(const void *)(t->act + (size_t)(m + r) * t->act_stride);
            float sx = row[h->gp];
            facc[r][0] = vmulq_f32(facc[r][0], vmulq_n_f32(post[0], sx));
            facc[r][1] = vmulq_f32(facc[r][1], vmulq_n_f32(post[1], sx));
        }
        qk_neon_store8(t->y + (m + r) * t->ldy + n0, t->bias, n0, nv, facc[r][0], facc[r][1]);
    }
}

void qk_neon_gemm_f32__neon(const qk_neon_tile *t) {
    qk_f_consts c;
    qk_f_consts_init(&c);
    for (int64_t n0 = t->n0; n0 < t->n1; n0 += QK_NEON_NR) {
        const unsigned char *pp = qk_neon_panel_ptr(t->h, n0 / QK_NEON_NR);
        int64_t m = t->m0;
        for (; m + 4 <= t->m1; m += 4) qk_f_rows(t, &c, pp, m, 4, n0);
        switch (t->m1 - m) {
        case 3: qk_f_rows(t, &c, pp, m, 3, n0); break;
        case 2: qk_f_rows(t, &c, pp, m, 2, n0); break;
        case 1: qk_f_rows(t, &c, pp, m, 1, n0); break;
        default: break;
        }
    }
}
