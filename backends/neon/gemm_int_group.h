/* The k-loop of the integer 4x8 tile, shared by the SDOT kernel (gemm_int_dotprod.c)
 * and the plain-NEON kernel (gemm_int_neon.c): a template, instantiated once per ISA by
 * each includer (each is compiled with its own -march). Define before including:
 *   QK_ROWS(j, w, av, c)  one column-quad weight vector w against lane c (4 bytes) of every
 *                         row's activations av[r], accumulated into acc[r][j] (int32x4).
 * Provides qk_int_group_1 … qk_int_group_4 (the group loop specialised per row count) for
 * qk_neon_int_tile. */
#ifndef QK_ROWS
#error "define QK_ROWS before including gemm_int_group.h"
#endif

static QK_ALWAYS_INLINE void qk_int_step_i8(const int8_t *b, const int8x16_t *av, int mr,
                                           int32x4_t acc[QK_NEON_MR][2]) {
    QK_ROWS(0, vld1q_s8(b + 0), av, 0);
    QK_ROWS(1, vld1q_s8(b + 16), av, 0);
    QK_ROWS(0, vld1q_s8(b + 32), av, 1);
    QK_ROWS(1, vld1q_s8(b + 48), av, 1);
    QK_ROWS(0, vld1q_s8(b + 64), av, 2);
    QK_ROWS(1, vld1q_s8(b + 80), av, 2);
    QK_ROWS(0, vld1q_s8(b + 96), av, 3);
    QK_ROWS(1, vld1q_s8(b + 112), av, 3);
}

/* 32 k of a 4-bit panel: each raw vector gives the step-0 vector (low nibbles) and the
 * step-1 vector (high nibbles) at the same position. */
#define QK_INT_W4(v, c, j)                                                         \
    do {                                                                          \
        uint8x16_t raw_ = vld1q_u8(b + 16 * (v));                                 \
        int8x16_t lo_ = s4 ? qk_s4_lo(raw_) : qk_u4_lo(raw_);                     \
        int8x16_t hi_ = s4 ? qk_s4_hi(raw_) : qk_u4_hi(raw_);                     \
        QK_ROWS(j, lo_, a0, c);                                                \
        QK_ROWS(j, hi_, a1, c);                                                \
    } while (0)

static QK_ALWAYS_INLINE void qk_int_group(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,
                                         qk_neon_panel panel, int32x4_t acc[QK_NEON_MR][2]) {
    if (panel == QK_PANEL_I8) {
        for (int64_t s = 0; s < gp; s += 16, b += 128) {
            int8x16_t av[QK_NEON_MR];
            for (int r = 0; r < mr; r++) av[r] = vld1q_s8(a[r] + s);
            qk_int_step_i8((const int8_t *)b, av, mr, acc);
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
        QK_INT_W4(0, 0, 0);
        QK_INT_W4(1, 0, 1);
        QK_INT_W4(2, 1, 0);
        QK_INT_W4(3, 1, 1);
        QK_INT_W4(4, 2, 0);
        QK_INT_W4(5, 2, 1);
        QK_INT_W4(6, 3, 0);
        QK_INT_W4(7, 3, 1);
    }
}

#define QK_INT_MR(n)                                                                                      \
    static void qk_int_group_##n(const unsigned char *b, const int8_t *const *a, int mr, int64_t gp,      \
                                qk_neon_panel panel, int32x4_t acc[QK_NEON_MR][2]) {                      \
        (void)mr;                                                                                        \
        qk_int_group(b, a, n, gp, panel, acc);                                                            \
    }
QK_INT_MR(1)
QK_INT_MR(2)
QK_INT_MR(3)
QK_INT_MR(4)

