/* Integer-activation GEMM with SMMLA (armv8.6-a+i8mm): qk_gemm_<act>_<w>_4x8c8__i8mm.
 *
 * smmla multiplies a 2×8 int8 block of rows by a 2×8 block of columns into a 2×2 int32
 * block: 32 MACs per instruction, twice SDOT. It reads the same c4 packed panels as the
 * SDOT kernel: zip1/zip2 .4s of the vectors of chunks 2h and 2h+1 give the 8-k operands
 * of columns (4j, 4j+1) and (4j+2, 4j+3), and zip1/zip2 .2d of two rows' activations give
 * the row-pair operand. Per 16-k step a 4×8 tile issues 16 smmla (512 MACs) for 8 weight
 * zips + 4 activation zips; 8 int32 accumulators hold 2×2 blocks, turned back into
 * row-major column quads (zip .2d) once per group. Odd row counts pair the last row
 * with zeros. */
#include "backends/neon/neon_tile.h"

/* Stored c4 vector v of a step: int8 panel bytes, or the low (part 1) / high (part 2)
 * nibbles of a 4-bit panel; loaded where used so no 8-vector array stays live. */
static QK_ALWAYS_INLINE int32x4_t qk_mm_w(const unsigned char *b, int v, int part, int s4) {
    uint8x16_t raw = vld1q_u8(b + 16 * v);
    int8x16_t w = part == 0 ? vreinterpretq_s8_u8(raw)
                  : part == 1 ? (s4 ? qk_s4_lo(raw) : qk_u4_lo(raw))
                              : (s4 ? qk_s4_hi(raw) : qk_u4_hi(raw));
    return vreinterpretq_s32_s8(w);
}

/* One 16-k step: av the rows' activations (zero rows past mr). */
static QK_ALWAYS_INLINE void qk_mm_step(const unsigned char *b, int part, int s4, const int8x16_t *av, int mr,
                                        int32x4_t acc[2][4]) {
    int8x16_t bw[2][4]; /* [k half][column pair] */
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 2; j++) {
            int32x4_t p = qk_mm_w(b, 2 * (2 * h) + j, part, s4), q = qk_mm_w(b, 2 * (2 * h + 1) + j, part, s4);
            bw[h][2 * j] = vreinterpretq_s8_s32(vzip1q_s32(p, q));
            bw[h][2 * j + 1] = vreinterpretq_s8_s32(vzip2q_s32(p, q));
        }
    for (int pr = 0; pr < (mr + 1) / 2; pr++) {
        int64x2_t r0 = vreinterpretq_s64_s8(av[2 * pr]), r1 = vreinterpretq_s64_s8(av[2 * pr + 1]);
        int8x16_t ah0 = vreinterpretq_s8_s64(vzip1q_s64(r0, r1)), ah1 = vreinterpretq_s8_s64(vzip2q_s64(r0, r1));
        for (int q = 0; q < 4; q++) {
            acc[pr][q] = vmmlaq_s32(acc[pr][q], ah0, bw[0][q]);
            acc[pr][q] = vmmlaq_s32(acc[pr][q], ah1, bw[1][q]);
        }
    }
}

static QK_ALWAYS_INLINE void qk_mm_group(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,
                                         qk_neon_panel panel, int32x4_t out[QK_NEON_MR][2]) {
    int32x4_t acc[2][4];
    for (int pr = 0; pr < 2; pr++)
        for (int q = 0; q < 4; q++) acc[pr][q] = vdupq_n_s32(0);
    int8x16_t av[QK_NEON_MR];
    for (int r = mr; r < QK_NEON_MR; r++) av[r] = vdupq_n_s8(0);
    if (panel == QK_PANEL_I8) {
        for (int64_t s = 0; s < gp; s += 16, b += 128) {
            for (int r = 0; r < mr; r++) av[r] = vld1q_s8(a[r] + s);
            qk_mm_step(b, 0, 0, av, mr, acc);
        }
    } else {
        const int s4 = panel == QK_PANEL_S4;
        for (int64_t s = 0; s < gp; s += 32, b += 128) {
            for (int r = 0; r < mr; r++) av[r] = vld1q_s8(a[r] + s);
            qk_mm_step(b, 1, s4, av, mr, acc);
            for (int r = 0; r < mr; r++) av[r] = vld1q_s8(a[r] + s + 16);
            qk_mm_step(b, 2, s4, av, mr, acc);
        }
    }
    /* acc[pr][2j + e] = [r0·c, r0·c+1, r1·c, r1·c+1] for c = 4j + 2e. */
    for (int pr = 0; pr < (mr + 1) / 2; pr++)
        for (int j = 0; j < 2; j++) {
            int64x2_t lo = vreinterpretq_s64_s32(acc[pr][2 * j]), hi = vreinterpretq_s64_s32(acc[pr][2 * j + 1]);
            out[2 * pr][j] = vaddq_s32(out[2 * pr][j], vreinterpretq_s32_s64(vzip1q_s64(lo, hi)));
            if (2 * pr + 1 < mr)
                out[2 * pr + 1][j] = vaddq_s32(out[2 * pr + 1][j], vreinterpretq_s32_s64(vzip2q_s64(lo, hi)));
        }
}

#define QK_MM_MR(n)                                                                                      \
    static void qk_mm_group_##n(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,      \
                                qk_neon_panel panel, int32x4_t acc[QK_NEON_MR][2]) {                      \
        (void)mr;                                                                                        \
        qk_mm_group(b, a, n, gp, panel, acc);                                                            \
    }
QK_MM_MR(1)
QK_MM_MR(2)
QK_MM_MR(3)
QK_MM_MR(4)

void qk_neon_gemm_int__i8mm(const qk_neon_tile *t) {
    qk_neon_int_tile(t, qk_mm_group_1, qk_mm_group_2, qk_mm_group_3, qk_mm_group_4);
}
