/* Integer-activation GEMM / GEMV with SDOT (armv8.2-a+dotprod):
 * qk_gemm_<act>_<w>_4x8c4__dotprod and its 1-row form qk_gemv_<act>_<w>_1x8c4__dotprod.
 *
 * Per 16-k step a 4×8 tile loads 8 weight vectors (128 bytes: 8 columns × 16 k) and one
 * 16-byte activation vector per row, then issues 4 rows × 4 k-chunks × 2 column quads =
 * 32 `sdot v.4s, w.16b, a.4b[c]` (16 MACs each). Registers: 8 int32 group accumulators,
 * 8 f32 tile accumulators, 4 activation vectors, weight vectors streamed through 2–4. */
#include "backends/neon/neon_tile.h"

/* One column-quad vector against lane c of each row's activations. */
#define QK_ROWS(j, w, av, c)                                                   \
    do {                                                                          \
        for (int r_ = 0; r_ < mr; r_++) acc[r_][j] = vdotq_laneq_s32(acc[r_][j], (w), (av)[r_], c); \
    } while (0)

#include "backends/neon/gemm_int_group.h"

void qk_neon_gemm_int__dotprod(const qk_neon_tile *t) {
    qk_neon_int_tile(t, qk_int_group_1, qk_int_group_2, qk_int_group_3, qk_int_group_4);
}
