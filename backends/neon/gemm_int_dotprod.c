/* Integer-activation GEMM / GEMV with SDOT (armv8.2-a+dotprod):
 * qk_gemm_<act>_<w>_4x8c4__dotprod and its 1-row form qk_gemv_<act>_<w>_1x8c4__dotprod.
 *
 * Per 16-k step a 4×8 tile loads 8 weight vectors (128 bytes: 8 columns × 16 k) and one
 * 16-byte activation vector per row, then issues 4 rows × 4 k-chunks × 2 column quads =
 * 32 `sdot v.4s, w.16b, a.4b[c]` (16 MACs each). Registers: 8 int32 group accumulators,
 * 8 f32 tile accumulators, 4 activation vectors, weight vectors streamed through 2–4. */
#include "backends/neon/neon_tile.h"

/* One column-quad vector against lane c of each row's activations. */
#define QK_DP_ROWS(j, w, av, c)                                                   \
    do {                                                                          \
        for (int r_ = 0; r_ < mr; r_++) acc[r_][j] = vdotq_laneq_s32(acc[r_][j], (w), (av)[r_], c); \
    } while (0)

static QK_ALWAYS_INLINE void qk_dp_step_i8(const int8_t *b, const int8x16_t *av, int mr,
                                           int32x4_t acc[QK_NEON_MR][2]) {
    QK_DP_ROWS(0, vld1q_s8(b + 0), av, 0);
    QK_DP_ROWS(1, vld1q_s8(b + 16), av, 0);
    QK_DP_ROWS(0, vld1q_s8(b + 32), av, 1);
    QK_DP_ROWS(1, vld1q_s8(b + 48), av, 1);
    QK_DP_ROWS(0, vld1q_s8(b + 64), av, 2);
    QK_DP_ROWS(1, vld1q_s8(b + 80), av, 2);
    QK_DP_ROWS(0, vld1q_s8(b + 96), av, 3);
    QK_DP_ROWS(1, vld1q_s8(b + 112), av, 3);
}

/* 32 k of a 4-bit panel: each raw vector gives the step-0 vector (low nibbles) and the
 * step-1 vector (high nibbles) at the same position. */
#define QK_DP_W4(v, c, j)                                                         \
    do {                                                                          \
        uint8x16_t raw_ = vld1q_u8(b + 16 * (v));                                 \
        int8x16_t lo_ = s4 ? qk_s4_lo(raw_) : qk_u4_lo(raw_);                     \
        int8x16_t hi_ = s4 ? qk_s4_hi(raw_) : qk_u4_hi(raw_);                     \
        QK_DP_ROWS(j, lo_, a0, c);                                                \
        QK_DP_ROWS(j, hi_, a1, c);                                                \
    } while (0)

static QK_ALWAYS_INLINE void qk_dp_group(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,
                                         qk_neon_panel panel, int32x4_t acc[QK_NEON_MR][2]) {
    if (panel == QK_PANEL_I8) {
        for (int64_t s = 0; s < gp; s += 16, b += 128) {
            int8x16_t av[QK_NEON_MR];
            for (int r = 0; r < mr; r++) av[r] = vld1q_s8(a[r] + s);
            qk_dp_step_i8((const int8_t *)b, av, mr, acc);
        }
        return;
    }
    const int s4 = panel == QK_PANEL_S4;
    for (int64_t s = 0; s < gp; s += 32, b += 128) {
        int8x16_t a0[QK_NEON_MR], a1[QK_NEON_MR];
        for (int r = 0; r < mr; r++) {
            a0[r] = vld1q_s8(a[r] + s);
            a1[r] = vld1q_s8(a[r] + s + 16);
        }
        QK_DP_W4(0, 0, 0);
        QK_DP_W4(1, 0, 1);
        QK_DP_W4(2, 1, 0);
        QK_DP_W4(3, 1, 1);
        QK_DP_W4(4, 2, 0);
        QK_DP_W4(5, 2, 1);
        QK_DP_W4(6, 3, 0);
        QK_DP_W4(7, 3, 1);
    }
}

#define QK_DP_MR(n)                                                                                      \
    static void qk_dp_group_##n(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,      \
                                qk_neon_panel panel, int32x4_t acc[QK_NEON_MR][2]) {                      \
        (void)mr;                                                                                        \
        qk_dp_group(b, a, n, gp, panel, acc);                                                            \
    }
QK_DP_MR(1)
QK_DP_MR(2)
QK_DP_MR(3)
QK_DP_MR(4)

void qk_neon_gemm_int__dotprod(const qk_neon_tile *t) {
    qk_neon_int_tile(t, qk_dp_group_1, qk_dp_group_2, qk_dp_group_3, qk_dp_group_4);
}
