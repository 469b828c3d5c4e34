/* Integer GEMM on the AMX tile unit (AMX-INT8 tdpbusd) over the VNNI-packed panels.
 *
 * The x86 packing already is AMX's B layout: a panel's k4-chunks are 64-byte rows of
 * 16 columns × 4 k, so 16 consecutive chunks (1 KiB, stride 64) are one B tile, and the
 * activation scratch rows (u8 = q + 128, stride rb) are A tiles as they lie. tdpbusd is
 * u8 × s8 like vpdpbusd, so the int32 sums are the vpdpbusd kernels' sums exactly, and
 * the f32 fold after each group repeats their operations in their order: a row gives
 * the same bytes through either unit.
 *
 * One call: a panel pair (32 columns) × rows (a multiple of 16) × all of K. W8A8 and I4:
 * C 0-3 = rows 0-15 / 16-31 × panel 0 / 1, A 4-5 = the two row blocks, B 6-7 = the two
 * panels; a K step is kt k4-chunks (16, or g/4 when the group is 32). The C tiles are
 * stored after each group and folded into f32 sums with AVX-512 (the group scales
 * differ per group); per-row W8A8 has one group and folds once. Q4_0 × Q8_0 runs 16-row ×
 * one-panel units instead (qk_amx_q4_0_unit), and M = 8 of I4 its own GEMV
 * (qk_x86_amx_gemv8__amx). On this core the tile unit's work and the AVX-512 folds do not
 * overlap (docs/performance-x86.md), so the formats with a scale per 32 k gain least.
 *
 * Linux gives a process the tile data state only after arch_prctl(ARCH_REQ_XCOMP_PERM);
 * qk_x86_amx_usable asks once. The unit is measured in the bench's roofline
 * (roofline/amx_int8_peak). */
#define _GNU_SOURCE /* syscall */
#include <immintrin.h>
#include <pthread.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "backends/x86/x86.h"

typedef struct qk_amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} qk_amx_cfg;

static int qk_amx_perm;
static pthread_once_t qk_amx_once = PTHREAD_ONCE_INIT;

static void qk_amx_request(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    /* ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 */
    qk_amx_perm = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#endif
}

int qk_x86_amx_usable(void) {
    pthread_once(&qk_amx_once, qk_amx_request);
    return qk_amx_perm;
}

static void qk_amx_config(int kt) {
    _Alignas(64) qk_amx_cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 4; t++) c.rows[t] = 16, c.colsb[t] = 64;
    for (int t = 4; t < 6; t++) c.rows[t] = 16, c.colsb[t] = (uint16_t)(4 * kt);
    for (int t = 6; t < 8; t++) c.rows[t] = (uint8_t)kt, c.colsb[t] = 64;
    _tile_loadconfig(&c);
}

/* Where the B tile of panel p, group G, K step s starts (stride 64). */
static const uint8_t *qk_amx_b(const qk_x86_packed *P, const uint8_t *ub, int64_t p0, int p, int64_t G, int64_t s,
                               int kt) {
    if (P->amx == QK_X86_AMX_W8ROW) return P->w + (size_t)(p0 + p) * P->panel_bytes + (size_t)s * (size_t)kt * 64;
    return ub + ((size_t)p * (size_t)P->groups + (size_t)G) * (size_t)P->g * 16 + (size_t)s * (size_t)kt * 64;
}

/* The I4 f32 fold of one group's int32 sums ib[32][32] (rows × the pair's columns; the C
 * tiles started at the compensation, so ib is the vpdpbusd tiles' accumulator):
 * sum += f32(isum)·s_w, as qk_u_i8_6x2_asm. */
static void qk_amx_fold(const qk_x86_packed *P, const int32_t (*ib)[32], float (*sum)[32], int rows, int64_t p0,
                        int64_t G) {
    const uint8_t *sc = P->w + (size_t)p0 * P->panel_bytes + (size_t)G * P->group_bytes + P->code_bytes;
    const __m512 s0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
    const __m512 s1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + P->panel_bytes)));
    for (int r = 0; r < rows; r++) {
        _mm512_store_ps(&sum[r][0],
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(&ib[r][0])), s0, _mm512_load_ps(&sum[r][0])));
        _mm512_store_ps(&sum[r][16], _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(&ib[r][16])), s1,
                                                     _mm512_load_ps(&sum[r][16])));
    }
}

/* The output rows from the f32 sums (grouped kinds) or straight from the int32 sums
 * (per-row W8A8), each the last operations of the matching vpdpbusd tile. */
static void qk_amx_store(const qk_x86_packed *P, const int32_t (*ib)[32], const float (*sum)[32], int rows,
                         const uint8_t *act, size_t rb, size_t qbytes, int64_t p0, float *y, int64_t ldy,
                         __mmask16 last_mask) {
    for (int p = 0; p < 2; p++) {
        const __m512 b = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
        __m512 sw = _mm512_setzero_ps();
        if (P->amx == QK_X86_AMX_W8ROW) sw = _mm512_loadu_ps(P->w + (size_t)(p0 + p) * P->panel_bytes + P->code_bytes);
        for (int r = 0; r < rows; r++) {
            float xs;
            memcpy(&xs, act + (size_t)r * rb + qbytes, 4);
            __m512 o;
            if (P->amx == QK_X86_AMX_W8ROW) /* as qk_w8row_8x2_block */
                o = _mm512_fmadd_ps(
                    _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(&ib[r][16 * p])), sw),
                    _mm512_set1_ps(xs), b);
            else /* I4, as qk_u_i8_6x2_asm: nib_x8 sums are 16·isum */
                o = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_load_ps(&sum[r][16 * p]), _mm512_set1_ps(0.0625f)),
                                    _mm512_set1_ps(xs), b);
            float *yr = y + r * ldy + p * QK_X86_NR;
            if (p == 1) _mm512_mask_storeu_ps(yr, last_mask, o);
            else _mm512_storeu_ps(yr, o);
        }
    }
}

/* C tiles of row half h (0: tiles 0-1 with A tile 4, 1: tiles 2-3 with A tile 5) start
 * group G at the compensation row, repeated down the tile (stride 0), as the vpdpbusd
 * tiles start their accumulators. Tile numbers must be constants, hence the macros. */
#define QK_AMX_START(C0, C1, P, G)                                                                   \
    do {                                                                                           \
        const int32_t *c_ = (P)->comp + ((size_t)p0 * (size_t)(P)->groups + (size_t)(G)) * QK_X86_NR; \
        _tile_loadd(C0, c_, 0);                                                                    \
        _tile_loadd(C1, c_ + (size_t)(P)->groups * QK_X86_NR, 0);                                  \
    } while (0)
#define QK_AMX_STEP(C0, C1, A, a)                                                                    \
    do {                                                                                           \
        _tile_loadd(A, a, (long)rb);                                                               \
        _tile_dpbusd(C0, A, 6);                                                                    \
        _tile_dpbusd(C1, A, 7);                                                                    \
    } while (0)

/* 32 rows (two = 1) or 16 rows (two = 0) of one panel pair over all of K, software
 * pipelined by row half: the tdpbusd of the next K step of one half are issued before the
 * other half's group fold, so the tile unit runs while the vector ports fold (a fold of
 * 32 rows at once filled the reorder window and left the tile unit idle). */
static void qk_amx_block(const qk_x86_packed *P, const uint8_t *ub, const uint8_t *act, size_t rb, size_t qbytes,
                         int64_t p0, float *y, int64_t ldy, __mmask16 last_mask, int kt, int two) {
    /* ib[parity]: a group's int32 sums are folded one group later, once the tile stores
     * have reached the cache (a load right after tilestored waits for it to retire) */
    _Alignas(64) int32_t ib[2][32][32];
    _Alignas(64) float sum[32][32];
    const int rows = two ? 32 : 16;
    const int64_t per = P->g / 4 / kt, steps = P->groups * per;
    const size_t rb16 = 16 * rb;
    const int grouped = P->amx != QK_X86_AMX_W8ROW;
    if (grouped) memset(sum, 0, sizeof sum);
    _tile_loadd(6, qk_amx_b(P, ub, p0, 0, 0, 0, kt), 64);
    _tile_loadd(7, qk_amx_b(P, ub, p0, 1, 0, 0, kt), 64);
    QK_AMX_START(0, 1, P, 0);
    QK_AMX_STEP(0, 1, 4, act);
    if (two) {
        QK_AMX_START(2, 3, P, 0);
        QK_AMX_STEP(2, 3, 5, act + rb16);
    }
    for (int64_t st = 0; st < steps; st++) {
        const int64_t G = st / per, nx = st + 1, nG = nx / per, ns = nx % per;
        const int end = nG != G || nx == steps; /* step st closes group G */
        const uint8_t *an = act + (size_t)nx * 4 * (size_t)kt;
        int32_t(*cur)[32] = ib[G & 1];
        const int32_t(*prev)[32] = (const int32_t(*)[32])ib[(G & 1) ^ 1];
        if (end) {
            _tile_stored(0, &cur[0][0], 128);
            _tile_stored(1, &cur[0][16], 128);
            if (grouped && G > 0) qk_amx_fold(P, prev, sum, 16, p0, G - 1);
        }
        if (nx < steps) {
            _tile_loadd(6, qk_amx_b(P, ub, p0, 0, nG, ns, kt), 64);
            _tile_loadd(7, qk_amx_b(P, ub, p0, 1, nG, ns, kt), 64);
            if (end) QK_AMX_START(0, 1, P, nG);
            QK_AMX_STEP(0, 1, 4, an);
        }
        if (two) {
            if (end) {
                _tile_stored(2, &cur[16][0], 128);
                _tile_stored(3, &cur[16][16], 128);
                if (grouped && G > 0) qk_amx_fold(P, prev + 16, sum + 16, 16, p0, G - 1);
            }
            if (nx < steps) {
                if (end) QK_AMX_START(2, 3, P, nG);
                QK_AMX_STEP(2, 3, 5, an + rb16);
            }
        }
    }
    const int64_t lg = P->groups - 1;
    const int32_t(*last)[32] = (const int32_t(*)[32])ib[lg & 1];
    if (grouped) qk_amx_fold(P, last, sum, rows, p0, lg);
    qk_amx_store(P, last, (const float(*)[32])sum, rows, act, rb, qbytes, p0, y, ldy, last_mask);
}

/* Q4_0 × Q8_0: the scales change every 32 k, so each block's C tile is stored and folded.
 * One unit is 16 rows × one panel with its 16 f32 sums in registers for all of K (a fold
 * of 3 vector µops per row and block: cvt, d_w·d_x, fma); four blocks go to the tile unit
 * at a time (C 0-3, A and B tiles alternating 4/5 and 6/7) and are folded while the next
 * four run. The sums see the blocks in K order, as qk_q8_q4_6x2_asm's. */
static void qk_amx_q4_0_unit(const qk_x86_packed *P, const uint8_t *ub, const uint8_t *act, size_t rb,
                             size_t qbytes, int64_t p0, int p, float *y, int64_t ldy, __mmask16 mask) {
    _Alignas(64) int32_t ib[2][4][16][16];
    const int64_t nb = P->groups;
    const uint8_t *bsrc = ub + (size_t)p * (size_t)nb * 512;
    const int32_t *comp = P->comp + (size_t)(p0 + p) * (size_t)nb * QK_X86_NR;
    const uint8_t *sc = P->w + (size_t)(p0 + p) * P->panel_bytes + P->code_bytes;
    __m512 s[16];
    for (int r = 0; r < 16; r++) s[r] = _mm512_setzero_ps();
#define QK_Q40_TILE(C, A, B, G)                                                                      \
    do {                                                                                           \
        _tile_loadd(C, comp + (size_t)(G) * QK_X86_NR, 0);                                         \
        _tile_loadd(A, act + (size_t)(G) * 32, (long)rb);                                          \
        _tile_loadd(B, bsrc + (size_t)(G) * 512, 64);                                              \
        _tile_dpbusd(C, A, B);                                                                     \
    } while (0)
    const int64_t quads = (nb + 3) / 4;
    for (int64_t q = 0; q <= quads; q++) {
        if (q < quads) {
            const int64_t G = 4 * q, n = nb - G < 4 ? nb - G : 4;
            int32_t(*out)[16][16] = ib[q & 1];
            QK_Q40_TILE(0, 4, 6, G);
            if (n > 1) QK_Q40_TILE(1, 5, 7, G + 1);
            if (n > 2) QK_Q40_TILE(2, 4, 6, G + 2);
            if (n > 3) QK_Q40_TILE(3, 5, 7, G + 3);
            _tile_stored(0, out[0], 64);
            if (n > 1) _tile_stored(1, out[1], 64);
            if (n > 2) _tile_stored(2, out[2], 64);
            if (n > 3) _tile_stored(3, out[3], 64);
        }
        if (q > 0) { /* fold the previous four blocks, whose stores have had a quad to land */
            const int64_t G0 = 4 * (q - 1), n = nb - G0 < 4 ? nb - G0 : 4;
            const int32_t(*in)[16][16] = (const int32_t(*)[16][16])ib[(q - 1) & 1];
            for (int64_t b = 0; b < n; b++) {
                const int64_t G = G0 + b;
                const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + (size_t)G * P->group_bytes)));
                const uint8_t *dx = act + qbytes + 4 * (size_t)G;
                for (int r = 0; r < 16; r++, dx += rb) { /* a running pointer: r·rb in 16 registers spilled */
                    const __m512 t = _mm512_mul_ps(dw, _mm512_set1_ps(*(const float *)dx));
                    s[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(in[b][r])), t, s[r]);
                }
            }
        }
    }
#undef QK_Q40_TILE
    const __m512 bias = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
    for (int r = 0; r < 16; r++) {
        const __m512 o = _mm512_fmadd_ps(s[r], _mm512_set1_ps(0.0625f), bias); /* nib_x8: 16·isum */
        if (p == 1) _mm512_mask_storeu_ps(y + r * ldy + p * QK_X86_NR, mask, o);
        else _mm512_storeu_ps(y + r * ldy + p * QK_X86_NR, o);
    }
}

/* M = 8 for I4 (a GEMV over 8 rows): the vpdpbusd GEMV tile needs 21 vector µops per 64
 * weight bytes, about the DRAM rate, so it streamed at 60-70 % of the read bandwidth. Here each group of a panel pair is unpacked into an L1 buffer (3 µops per 64
 * bytes) and multiplied on the tile unit with an 8-row A tile; the group's C tiles (started
 * at the compensation) are folded one group later into 16 f32 sums in registers. Same
 * int32 sums and the same f32 operations in the same order as qk_nib8_gemv8. */
#define QK_AMX_G8_MAXG 256
/* Bytes ahead in each panel stream, prefetched a group before it is unpacked: 0 / 512 /
 * 1024 / 2048 / 4096 / 8192 / 16384 measured 10.8 / 11.3 / 12.0-12.2 / 12.0 / 11.8 / 11.0 /
 * 10.5 GB/s (I4 g128, 1 thread, 1 GiB rotated; 2 threads 16.9 / 17.5 / 21.7-22.5 / 21.9 /
 * 19.3 / 20.2 / 15.7). */
#define QK_AMX_G8_PREFETCH 1024
/* s[r] += f32(isum[r])·s_w for the 8 rows of one panel's group, as qk_nib8_gemv8 (I4) */
static void qk_amx_g8_fold(const int32_t (*ib)[16], const uint8_t *sc, __m512 *s) {
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
    for (int r = 0; r < 8; r++) s[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(ib[r])), dw, s[r]);
}

/* Panels p0 (and p0 + 1 when two) × 8 rows. */
static void qk_amx_g8_panels(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t p0,
                             int two, float *y, int64_t ldy, int64_t ncols) {
    /* ub[parity][panel]: group G + 1 is unpacked while the tile unit reads group G (a tile
     * load right after the vector stores that wrote its bytes waits for them to retire) */
    _Alignas(64) uint8_t ub[2][2][QK_AMX_G8_MAXG * 16];
    _Alignas(64) int32_t ib[2][2][8][16]; /* [group parity][panel][row] */
    const int64_t g = P->g, groups = P->groups, kt = g / 4 < 16 ? g / 4 : 16, steps = g / 4 / kt;
    const size_t pb = P->panel_bytes, gb = P->group_bytes;
    const uint8_t *w0 = P->w + (size_t)p0 * pb, *w1 = w0 + pb;
    const int32_t *c0 = P->comp + (size_t)p0 * (size_t)groups * QK_X86_NR, *c1 = c0 + (size_t)groups * QK_X86_NR;
    const int64_t pf = QK_AMX_G8_PREFETCH;
    __m512 s0[8], s1[8];
    for (int r = 0; r < 8; r++) s0[r] = s1[r] = _mm512_setzero_ps();
    qk_x86_unpack_group__avx512vnni(w0, g, ub[0][0]);
    if (two) qk_x86_unpack_group__avx512vnni(w1, g, ub[0][1]);
    for (int64_t G = 0; G <= groups; G++) {
        if (G < groups) {
            const uint8_t *u0 = ub[G & 1][0], *u1 = ub[G & 1][1];
            _tile_loadd(0, c0 + (size_t)G * QK_X86_NR, 0);
            if (two) _tile_loadd(1, c1 + (size_t)G * QK_X86_NR, 0);
            for (int64_t st = 0; st < steps; st++) {
                _tile_loadd(4, act + (size_t)G * (size_t)g + (size_t)st * 4 * (size_t)kt, (long)rb);
                _tile_loadd(6, u0 + (size_t)st * (size_t)kt * 64, 64);
                _tile_dpbusd(0, 4, 6);
                if (two) {
                    _tile_loadd(7, u1 + (size_t)st * (size_t)kt * 64, 64);
                    _tile_dpbusd(1, 4, 7);
                }
            }
            _tile_stored(0, ib[G & 1][0], 64);
            if (two) _tile_stored(1, ib[G & 1][1], 64);
            if (G + 1 < groups) {
                const uint8_t *a = w0 + (size_t)(G + 1) * gb, *b = w1 + (size_t)(G + 1) * gb;
                for (size_t o = 0; o < gb; o += 64) {
                    _mm_prefetch((const char *)a + pf + o, _MM_HINT_T0);
                    if (two) _mm_prefetch((const char *)b + pf + o, _MM_HINT_T0);
                }
                qk_x86_unpack_group__avx512vnni(a, g, ub[(G + 1) & 1][0]);
                if (two) qk_x86_unpack_group__avx512vnni(b, g, ub[(G + 1) & 1][1]);
            }
        }
        if (G > 0) { /* the previous group: its tile stores have landed */
            const int64_t F = G - 1;
            qk_amx_g8_fold((const int32_t(*)[16])ib[F & 1][0], w0 + (size_t)F * gb + P->code_bytes, s0);
            if (two) qk_amx_g8_fold((const int32_t(*)[16])ib[F & 1][1], w1 + (size_t)F * gb + P->code_bytes, s1);
        }
    }
    const __m512 r16 = _mm512_set1_ps(0.0625f);
    for (int p = 0; p < 1 + two; p++) {
        const int64_t cols = ncols - p * QK_X86_NR;
        const __mmask16 lm = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
        const __m512 b = _mm512_load_ps(P->bias + (p0 + p) * QK_X86_NR);
        for (int m = 0; m < 8; m++) { /* as qk_nib8_gemv8 for I4: nib_x8 sums are 16·isum */
            __m512 f = _mm512_mul_ps(p ? s1[m] : s0[m], r16);
            f = _mm512_fmadd_ps(f, _mm512_set1_ps(((const float *)(act + (size_t)m * rb + qbytes))[0]), b);
            _mm512_mask_storeu_ps(y + m * ldy + p * QK_X86_NR, lm, f);
        }
    }
}

int qk_x86_amx_gemv8__amx(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t n0,
                          int64_t n1, float *y, int64_t ldy) {
    /* Not Q4_0: with 288-byte groups the per-group tile work is too small (9.0-9.7 against
     * 9.9-10.1 GB/s for the vpdpbusd tile) */
    if (P->amx != QK_X86_AMX_I4 || P->g > QK_AMX_G8_MAXG) return 0;
    const int kt = P->g / 4 < 16 ? (int)(P->g / 4) : 16;
    _Alignas(64) qk_amx_cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    c.rows[0] = c.rows[1] = 8, c.colsb[0] = c.colsb[1] = 64;
    c.rows[4] = 8, c.colsb[4] = (uint16_t)(4 * kt);
    c.rows[6] = c.rows[7] = (uint8_t)kt, c.colsb[6] = c.colsb[7] = 64;
    _tile_loadconfig(&c);
    for (int64_t n = n0; n < n1; n += 2 * QK_X86_NR) {
        const int two = n1 - n > QK_X86_NR;
        qk_amx_g8_panels(P, act, rb, qbytes, n / QK_X86_NR, two, y + (n - n0), ldy, n1 - n);
    }
    _tile_release();
    return 1;
}

void qk_x86_amx_pair__amx(const qk_x86_packed *P, const uint8_t *ub, const uint8_t *act, size_t rb, size_t qbytes,
                          int64_t rows, int64_t p0, float *y, int64_t ldy, uint16_t last_mask) {
    const int kt = P->g / 4 < 16 ? (int)(P->g / 4) : 16;
    qk_amx_config(kt);
    int64_t r = 0;
    if (P->amx == QK_X86_AMX_Q4_0) {
        for (; rows - r >= 16; r += 16)
            for (int p = 0; p < 2; p++)
                qk_amx_q4_0_unit(P, ub, act + (size_t)r * rb, rb, qbytes, p0, p, y + r * ldy, ldy, last_mask);
        _tile_release();
        return;
    }
    for (; rows - r >= 32; r += 32)
        qk_amx_block(P, ub, act + (size_t)r * rb, rb, qbytes, p0, y + r * ldy, ldy, last_mask, kt, 1);
    if (rows - r >= 16) qk_amx_block(P, ub, act + (size_t)r * rb, rb, qbytes, p0, y + r * ldy, ldy, last_mask, kt, 0);
    _tile_release();
}
