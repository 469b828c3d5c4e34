/* Integer-activation GEMM / GEMV for Arm CPUs without the dot-product extension
 * (Cortex-A53/A57/A72): qk_gemm_<act>_<w>_4x8c4__neon and qk_gemv_<act>_<w>_1x8c4__neon.
 *
 * Same packed layout and tile as the SDOT kernel; each SDOT becomes
 *   dup (the 4 activation bytes of chunk c) · smull + smull2 (16 int16 products) ·
 *   addp .8h (pairs) · sadalp (quads into the int32 column lanes).
 * The int16 pair sums cannot overflow: activations are quantised to [−127, 127], so a
 * pair is at most 2·127·128 = 32512 < 32767 for any int8 weight. */
#include "backends/neon/neon_tile.h"

#define QK_ROWS(j, w, av, c)                                                                           \
    do {                                                                                               \
        const int8x16_t w_ = (w);                                                                      \
        for (int r_ = 0; r_ < mr; r_++) {                                                              \
            int8x16_t a4_ = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8((av)[r_]), c));  \
            int16x8_t pl_ = vmull_s8(vget_low_s8(w_), vget_low_s8(a4_));                               \
            int16x8_t ph_ = vmull_high_s8(w_, a4_);                                                    \
            acc[r_][j] = vpadalq_s16(acc[r_][j], vpaddq_s16(pl_, ph_));                                \
        }                                                                                              \
    } while (0)

#include "backends/neon/gemm_int_group.h"

void qk_neon_gemm_int__plain(const qk_neon_tile *t) {
    qk_neon_int_tile(t, qk_int_group_1, qk_int_group_2, qk_int_group_3, qk_int_group_4);
}
