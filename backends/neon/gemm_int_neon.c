/* Integer-activation GEMM / GEMV for Arm CPUs without the dot-product extension
 * (Cortex-A53/A57/A72): qk_gemm_<act>_<w>_4x8c4__neon and qk_gemv_<act>_<w>_1x8c4__neon.
 *
 * Same packed layout and tile as the SDOT kernel; each SDOT becomes
 *   dup (the 4 activation bytes of chunk c) · smull + smull2 (16 int16 products) ·
 *   addp .8h (pairs) · sadalp (quads into the int32 column lanes).
 * The int16 pair sums cannot overflow: activations are quantised to [−127, 127], so a
 * pair is at most 2·127·128 = 32512 < 32767 for any int8 weight. */
#include "backends/neon/neon_tile.h"

#define QK_PL_ROWS(j, w, av, c)                                                                   \
    do {                                                                                          \
        for (int r_ = 0; r_ < mr; r_++) {                                                         \
            int8x16_t a4_ = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8((av)[r_]), c)); \
            int16x8_t pl_ = vmull_s8(vget_low_s8(w), vget_low_s8(a4_));                           \
            int16x8_t ph_ = vmull_high_s8((w), a4_);                                              \
            acc[r_][j] = vpadalq_s16(acc[r_][j], vpaddq_s16(pl_, ph_));                           \
        }                                                                                         \
    } while (0)

static QK_ALWAYS_INLINE void qk_pl_step_i8(const int8_t *b, const int8x16_t *av, int mr,
                                           int32x4_t acc[QK_NEON_MR][2]) {
    int8x16_t w;
    w = vld1q_s8(b + 0);   QK_PL_ROWS(0, w, av, 0);
    w = vld1q_s8(b + 16);  QK_PL_ROWS(1, w, av, 0);
    w = vld1q_s8(b + 32);  QK_PL_ROWS(0, w, av, 1);
    w = vld1q_s8(b + 48);  QK_PL_ROWS(1, w, av, 1);
    w = vld1q_s8(b + 64);  QK_PL_ROWS(0, w, av, 2);
    w = vld1q_s8(b + 80);  QK_PL_ROWS(1, w, av, 2);
    w = vld1q_s8(b + 96);  QK_PL_ROWS(0, w, av, 3);
    w = vld1q_s8(b + 112); QK_PL_ROWS(1, w, av, 3);
}

#define QK_PL_W4(v, c, j)                                                         \
    do {                                                                          \
        uint8x16_t raw_ = vld1q_u8(b + 16 * (v));                                 \
        int8x16_t lo_ = s4 ? qk_s4_lo(raw_) : qk_u4_lo(raw_);                     \
        int8x16_t hi_ = s4 ? qk_s4_hi(raw_) : qk_u4_hi(raw_);                     \
        QK_PL_ROWS(j, lo_, a0, c);                                                \
        QK_PL_ROWS(j, hi_, a1, c);                                                \
    } while (0)

static QK_ALWAYS_INLINE void qk_pl_group(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,
                                         qk_neon_panel panel, int32x4_t acc[QK_NEON_MR][2]) {
    if (panel == QK_PANEL_I8) {
        for (int64_t s = 0; s < gp; s += 16, b += 128) {
            int8x16_t av[QK_NEON_MR];
            for (int r = 0; r < mr; r++) av[r] = vld1q_s8(a[r] + s);
            qk_pl_step_i8((const int8_t *)b, av, mr, acc);
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
        QK_PL_W4(0, 0, 0);
        QK_PL_W4(1, 0, 1);
        QK_PL_W4(2, 1, 0);
        QK_PL_W4(3, 1, 1);
        QK_PL_W4(4, 2, 0);
        QK_PL_W4(5, 2, 1);
        QK_PL_W4(6, 3, 0);
        QK_PL_W4(7, 3, 1);
    }
}

#define QK_PL_MR(n)                                                                                      \
    static void qk_pl_group_##n(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,      \
                                qk_neon_panel panel, int32x4_t acc[QK_NEON_MR][2]) {                      \
        (void)mr;                                                                                        \
        qk_pl_group(b, a, n, gp, panel, acc);                                                            \
    }
QK_PL_MR(1)
QK_PL_MR(2)
QK_PL_MR(3)
QK_PL_MR(4)

void qk_neon_gemm_int__plain(const qk_neon_tile *t) {
    qk_neon_int_tile(t, qk_pl_group_1, qk_pl_group_2, qk_pl_group_3, qk_pl_group_4);
}
