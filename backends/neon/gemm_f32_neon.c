/* Float-activation GEMM / GEMV (W4A32, W8A32, NF4, FP8 weights, and FP8×FP8 on decoded
 * activations): qk_gemm_f32_<w>_4x8c4__neon, plain armv8-a.
 *
 * Weights are dequantised on the fly from the same packed panels as the integer kernels:
 * per c4 vector one `tbl` transposes the 4 columns × 4 k bytes into k-major order, then
 *   integer formats: sxtl ×2, scvtf, (q − zero)·scale (+ min)
 *   NF4:  4 `tbl` lookups of the codebook's byte planes + 4 zip .16b + 4 zip .8h
 *   FP8:  qk_neon_fp8_decode16 (neon.h): E4M3 by `tbl` lookups of the f32's top two bytes,
 *         E5M2 by ushll into binary16 + fcvtl, exact for every code (NaN codes included);
 *         in FP8×FP8 the weights stay unscaled (scales after the sum),
 * and 16 `fmla v.4s, w.4s, x.s[t]` per c4 vector over a 4-row tile. Each c4 vector is
 * loaded (and its nibbles split) just before use, so only one is live at a time. */
#include "backends/neon/neon_tile.h"
#include "kernels/format_nf4.h"

static const uint8_t qk_c4_to_k_major[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

typedef struct qk_f_consts {
    uint8x16_t transpose;
    uint8x16_t nf4[4]; /* byte planes of the codebook */
    qk_neon_fp8_tbl fp8;
} qk_f_consts;

static void qk_f_consts_init(qk_f_consts *c, qkern_format f) {
    c->transpose = vld1q_u8(qk_c4_to_k_major);
    if (f == QKERN_FP8_E4M3 || f == QKERN_FP8_E5M2) qk_neon_fp8_tbl_init(&c->fp8, f);
    uint8_t planes[4][16];
    for (int i = 0; i < 16; i++) {
        uint32_t u;
        memcpy(&u, &qk_nf4_codebook[i], 4);
        for (int b = 0; b < 4; b++) planes[b][i] = (uint8_t)(u >> (8 * b));
    }
    for (int b = 0; b < 4; b++) c->nf4[b] = vld1q_u8(planes[b]);
}

/* 16 stored values in k-major order (t·4 + col) -> f[t] = the 4 columns' weights at k = t.
 * post: FP8×FP8, the scales are applied after the sum, so FP8 weights stay unscaled. */
static QK_ALWAYS_INLINE void qk_f_decode(const qk_neon_pack *h, qk_neon_decode dec, int post, const qk_f_consts *c,
                                         uint8x16_t tv, float32x4_t sc, float32x4_t z, float32x4_t f[4]) {
    switch (dec) {
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
    default: /* QK_DEC_E4M3, QK_DEC_E5M2 */
        qk_neon_fp8_decode16(&c->fp8, dec == QK_DEC_E5M2, tv, f);
        if (!post)
            for (int t = 0; t < 4; t++) f[t] = vmulq_f32(f[t], sc);
        return;
    }
}

/* The stored c4 vector v of a step: an int8 panel's bytes, or the low (part 1) / high
 * (part 2) nibbles of a 4-bit panel, loaded when needed so only one is live at a time. */
static QK_ALWAYS_INLINE uint8x16_t qk_f_load(const unsigned char *b, int v, int part, int s4) {
    uint8x16_t raw = vld1q_u8(b + 16 * v);
    if (part == 0) return raw;
    if (part == 1) return vreinterpretq_u8_s8(s4 ? qk_s4_lo(raw) : qk_u4_lo(raw));
    return vreinterpretq_u8_s8(s4 ? qk_s4_hi(raw) : qk_u4_hi(raw));
}

/* One 16-k step of mr rows × the column quad j: x[r] the rows' activations at the step. */
static QK_ALWAYS_INLINE void qk_f_step(const qk_neon_pack *h, qk_neon_decode dec, int post, const qk_f_consts *c,
                                       const unsigned char *b, int part, int s4, int j, const float *const *x, int mr,
                                       float32x4_t sc, float32x4_t z, float32x4_t facc[QK_NEON_MR]) {
    for (int cc = 0; cc < 4; cc++) {
        float32x4_t f[4];
        qk_f_decode(h, dec, post, c, vqtbl1q_u8(qk_f_load(b, 2 * cc + j, part, s4), c->transpose), sc, z, f);
        for (int r = 0; r < mr; r++) {
            const float32x4_t xv = vld1q_f32(x[r] + 4 * cc);
            facc[r] = vfmaq_laneq_f32(facc[r], f[0], xv, 0);
            facc[r] = vfmaq_laneq_f32(facc[r], f[1], xv, 1);
            facc[r] = vfmaq_laneq_f32(facc[r], f[2], xv, 2);
            facc[r] = vfmaq_laneq_f32(facc[r], f[3], xv, 3);
        }
    }
}

/* mr rows × the 4 columns 4j..4j+3 of the panel at pp: the tile is computed one column
 * quad at a time, so 4 accumulators, the 4 decoded weights and one activation vector
 * are all that is live (the activations are re-read from L1 for the second quad). */
static QK_ALWAYS_INLINE void qk_f_rows(const qk_neon_tile *t, qk_neon_decode dec, int post_scale, const qk_f_consts *cp,
                                       const unsigned char *pp, int64_t m, int mr, int64_t n0, int j) {
    const qk_neon_pack *h = t->h;
    /* FP8 packs are always int8 panels with one f32 scale: no other panel loop is emitted */
    const int fp8 = dec == QK_DEC_E4M3 || dec == QK_DEC_E5M2;
    /* a local copy: GCC otherwise reloads the lookup tables through cp for every c4 vector */
    const qk_f_consts cl = *cp, *c = &cl;
    const size_t gstride = post_scale || h->float_pad ? (size_t)h->gp : (size_t)h->g;
    const size_t psz = h->param_f16 ? 16 : 32;
    float32x4_t facc[QK_NEON_MR];
    for (int r = 0; r < QK_NEON_MR; r++) facc[r] = vdupq_n_f32(0.0f);
    float32x4_t post = vdupq_n_f32(1.0f);
    const float *x[QK_NEON_MR], *xs[QK_NEON_MR];
    for (int r = 0; r < mr; r++) x[r] = (const float *)(const void *)(t->act + (size_t)(m + r) * t->act_stride);
    for (int64_t G = 0; G < h->groups; G++) {
        const unsigned char *gb = pp + (size_t)G * h->group_bytes;
        const unsigned char *prm = gb + h->data_bytes_group;
        float32x4_t p2[2], sc, z = vdupq_n_f32(0.0f);
        qk_neon_params8(prm, !fp8 && h->param_f16, p2);
        sc = p2[j];
        if (!fp8 && (h->has_zero || h->has_min)) {
            qk_neon_params8(prm + psz, h->param_f16, p2);
            z = p2[j];
        }
        if (post_scale) { /* FP8×FP8: Σ f32(qx)·f32(qw) first, scales after (one group per row) */
            post = sc;
            sc = vdupq_n_f32(1.0f);
        }
        const unsigned char *b = gb;
        if (fp8 || h->panel == QK_PANEL_I8) {
            for (int64_t s = 0; s < h->gp; s += 16, b += 128) {
                for (int r = 0; r < mr; r++) xs[r] = x[r] + (size_t)G * gstride + s;
                qk_f_step(h, dec, post_scale, c, b, 0, 0, j, xs, mr, sc, z, facc);
            }
        } else {
            const int s4 = h->panel == QK_PANEL_S4;
            for (int64_t s = 0; s < h->gp; s += 32, b += 128) {
                for (int r = 0; r < mr; r++) xs[r] = x[r] + (size_t)G * gstride + s;
                qk_f_step(h, dec, post_scale, c, b, 1, s4, j, xs, mr, sc, z, facc);
                for (int r = 0; r < mr; r++) xs[r] += 16;
                qk_f_step(h, dec, post_scale, c, b, 2, s4, j, xs, mr, sc, z, facc);
            }
        }
    }
    const int64_t c0 = n0 + 4 * j, nv = t->n1 - c0 < 4 ? t->n1 - c0 : 4;
    if (nv <= 0) return;
    for (int r = 0; r < mr; r++) {
        if (post_scale) {
            const float sx = x[r][h->gp]; /* after the row's decoded activations */
            facc[r] = vmulq_f32(facc[r], vmulq_n_f32(post, sx));
        }
        float *yr = t->y + (m + r) * t->ldy + c0;
        if (nv == 4) {
            vst1q_f32(yr, t->bias ? vaddq_f32(facc[r], vld1q_f32(t->bias + c0)) : facc[r]);
        } else {
            float tmp[4];
            vst1q_f32(tmp, facc[r]);
            for (int64_t i = 0; i < nv; i++) yr[i] = tmp[i] + (t->bias ? t->bias[c0 + i] : 0.0f);
        }
    }
}

/* One instantiation per (decode, FP8×FP8 or not, row count): the decode and the row loop
 * are then straight-line code and the accumulators stay in registers. */
#define QK_F_ROWS_FN(dname, DEC, POST, n)                                                               \
    static void qk_f_rows_##dname##_##n(const qk_neon_tile *t, const qk_f_consts *c, const unsigned char *pp, \
                                        int64_t m, int64_t n0) {                                         \
        qk_f_rows(t, DEC, POST, c, pp, m, n, n0, 0);                                                    \
        qk_f_rows(t, DEC, POST, c, pp, m, n, n0, 1);                                                    \
    }
#define QK_F_ROWS_ALL(dname, DEC, POST)                                                \
    QK_F_ROWS_FN(dname, DEC, POST, 1) QK_F_ROWS_FN(dname, DEC, POST, 2) QK_F_ROWS_FN(dname, DEC, POST, 3) \
    QK_F_ROWS_FN(dname, DEC, POST, 4)
QK_F_ROWS_ALL(int, QK_DEC_INT, 0)
QK_F_ROWS_ALL(nf4, QK_DEC_NF4, 0)
QK_F_ROWS_ALL(e4m3, QK_DEC_E4M3, 0)
QK_F_ROWS_ALL(e5m2, QK_DEC_E5M2, 0)
QK_F_ROWS_ALL(fp8_e4m3, QK_DEC_E4M3, 1)
QK_F_ROWS_ALL(fp8_e5m2, QK_DEC_E5M2, 1)

typedef void (*qk_f_rows_fn)(const qk_neon_tile *, const qk_f_consts *, const unsigned char *, int64_t, int64_t);

void qk_neon_gemm_f32__neon(const qk_neon_tile *t) {
    static const qk_f_rows_fn table[6][4] = {
        {qk_f_rows_int_1, qk_f_rows_int_2, qk_f_rows_int_3, qk_f_rows_int_4},
        {qk_f_rows_nf4_1, qk_f_rows_nf4_2, qk_f_rows_nf4_3, qk_f_rows_nf4_4},
        {qk_f_rows_e4m3_1, qk_f_rows_e4m3_2, qk_f_rows_e4m3_3, qk_f_rows_e4m3_4},
        {qk_f_rows_e5m2_1, qk_f_rows_e5m2_2, qk_f_rows_e5m2_3, qk_f_rows_e5m2_4},
        {qk_f_rows_fp8_e4m3_1, qk_f_rows_fp8_e4m3_2, qk_f_rows_fp8_e4m3_3, qk_f_rows_fp8_e4m3_4},
        {qk_f_rows_fp8_e5m2_1, qk_f_rows_fp8_e5m2_2, qk_f_rows_fp8_e5m2_3, qk_f_rows_fp8_e5m2_4},
    };
    const qk_neon_pack *h = t->h;
    const int fp8_act = h->act == QKERN_ACT_FP8_E4M3 || h->act == QKERN_ACT_FP8_E5M2;
    /* FP8×FP8 has FP8 weights (the front end checks it): decode rows 2, 3 -> 4, 5 */
    const qk_f_rows_fn *rows = table[(int)h->decode + (fp8_act ? 2 : 0)];
    qk_f_consts c;
    qk_f_consts_init(&c, h->format);
    for (int64_t n0 = t->n0; n0 < t->n1; n0 += QK_NEON_NR) {
        const unsigned char *pp = qk_neon_panel_ptr(t->h, n0 / QK_NEON_NR);
        int64_t m = t->m0;
        for (; m + 4 <= t->m1; m += 4) rows[3](t, &c, pp, m, n0);
        if (t->m1 > m) rows[t->m1 - m - 1](t, &c, pp, m, n0);
    }
}
