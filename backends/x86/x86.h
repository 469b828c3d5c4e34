/* The x86 AVX-512 VNNI backend: packed-weight layout, kernel entry points, tunables.
 *
 * Only backend_x86.c and pack_x86.c (no ISA flags) include this to reach the ISA
 * files; everything declared here that lives in an *avx512vnni.c file must only be
 * called after qk_backend_x86.probe said yes.
 *
 * Packed weights (every matmul mode). W[N×K] is cut into panels of 16 columns (one
 * zmm lane per output column, N padded with zero columns) and K into groups of g
 * (the format's scale group: g = K for per-row scales, 32 for ggml blocks). A panel
 * is a run of groups; one group of one panel is
 *     codes   (g/4) × 64 B when 8-bit: chunk c holds k = 4c..4c+3 of the 16 columns,
 *             column j in bytes 4j..4j+3 (the vpdpbusd operand, "c4" in kernel names);
 *             (g/2) × 64 B when 16-bit (FP8 × FP8): pair c holds the BF16 of k = 2c, 2c+1,
 *             column j in bytes 4j..4j+3 (the vdpbf16ps operand, "c2");
 *             (g/8) × 64 B when 4-bit: byte 4j+t of vector v holds k = 8v+t in its low
 *             nibble and k = 8v+4+t in its high nibble, so a mask and a shift give two
 *             c4 chunks;
 *     scales  16 × f32, or 16 × f16 where the format's scale is an f16 (I4, ggml);
 *     extra   16 × f16 min (Q4_1) or 16 × u8 zero points (asymmetric I4), else nothing.
 * Groups are stored in K order, so a GEMV streams one panel front to back. Exception
 * (odd_shift): Q4_0 packs for Q8_0 activations store an odd group's scales before its codes,
 * so a pair of groups is [codes][scales][scales][codes] and all codes start on a cache line
 * (qk_x86_code_off / qk_x86_tail_off below); panels are then padded to whole lines.
 * Integer codes are the signed weight (I8, Q8_0), the raw nibble (I4, Q4_0, Q4_1: the
 * kernel subtracts 8 / the zero point in register), the NF4 code, the FP8 byte.
 * Exception (nib_x8): with integer activations, nibbles whose zero point is the constant 8
 * (symmetric I4, Q4_0) are stored as code ^ 8, which is code - 8 in 4-bit two's complement.
 * Masking a nibble into the high half of its byte (& 0xF0, after a 4-bit left shift for the
 * low nibble) then gives the signed byte 16·(code - 8) with no subtraction: 3 integer ops
 * per 64 code bytes instead of 5. The int32 sums (and comp) of those kernels are 16·isum,
 * exactly; the f32 sums are scaled back by 1/16 once per output, which is exact because
 * every term and partial sum is a power-of-two multiple of the unscaled one.
 * comp[panel][group][16] = -128·Σ_{k∈G} qw[n][k] (int32; ×16 when nib_x8), the compensation of the +128
 * that makes int8 activations unsigned for vpdpbusd, stored negated so that GEMM kernels
 * start each group's accumulator with a plain load; GEMV kernels recompute it from the
 * codes (it is not streamed). */
#ifndef QK_X86_H
#define QK_X86_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

#define QK_X86_NR 16 /* columns per panel: one zmm of int32 / f32 lanes */

typedef enum qk_x86_codes {
    QK_X86_INT8 = 0,   /* signed int8 weights (I8, Q8_0) */
    QK_X86_NIB = 1,    /* 4-bit unsigned nibbles minus a zero point (I4, Q4_0) or plain (Q4_1) */
    QK_X86_NF4 = 2,    /* 4-bit NF4 codebook index */
    QK_X86_FP8 = 3     /* OCP FP8 byte (E4M3 or E5M2), in either activation mode; FP8 × FP8
                          widens them to BF16 pairs in registers (fp8_decode_x86.h) */
} qk_x86_codes;

typedef struct qk_x86_packed {
    qkern_format format;
    qkern_act_mode act;
    qk_x86_codes codes;
    int bits;               /* 16 (FP8 × FP8: BF16 products of FP8 byte codes), 8 or 4 */
    int use_bf16;           /* FP8 × FP8 on vdpbf16ps (AVX512_BF16 present at pack time), else f32 FMA */
    int scale_f16;          /* scales stored as f16 */
    int zero_mode;          /* 0: none, 1: constant 8 (I4 sym, Q4_0), 2: per-group zero points (u8; I8_ASYM: int8) */
    int has_min;            /* Q4_1: 16 × f16 min after the scales */
    int nib_x8;             /* nibbles stored as code ^ 8, sums are 16·isum (see above) */
    int64_t n, k, g, groups, panels;
    size_t code_bytes;      /* codes of one panel-group */
    size_t group_bytes;     /* codes + scales + extra */
    size_t panel_bytes;
    size_t odd_shift;       /* odd groups store their tail (scales, mins, zero points) first and
                               their codes this many bytes in; 0: codes first (qk_x86_code_off) */
    uint8_t *w;             /* panels × panel_bytes, 64-byte aligned */
    int32_t *comp;          /* -128·Σqw: panels × groups × 16 (int8-activation modes), else NULL */
    float *bias;            /* panels × 16, zero padded (always present) */
    float row_scale;        /* FP8 per-tensor weight scale folded into scales, unused otherwise */
    float lut[16];          /* 4-bit codes: each code's value before the group scale (NF4 codebook,
                               code − 8, code; per-group zero points come off after it), the
                               float-mode tile's vpermps table */
    int fp8_nan;            /* the codes include a non-finite value: E4M3 NaN (S.1111.111), which
                               the f16 decode would read as 480 (float-mode GEMVs keep the
                               bitwise decode, FP8 × FP8 packs patch it), or E5M2 Inf / NaN,
                               which the float-mode tiles' shift decode would read as finite */
    uint8_t *fp8_sub;       /* FP8 × FP8: bit c % 8 of byte p·fp8_sub_stride + c / 8 is set when
                               panel p's c4 chunk c holds an FP8 subnormal (exponent 0, mantissa
                               ≠ 0). Those chunks widen through f32 (exact for them), the rest by
                               the word decode. Per chunk, not per pack: weights scaled to E4M3's
                               448 put a few codes in 10^4 under 2^-6 (the bench's: 0.04 %), in
                               every panel but only 2.4 % of the chunks. NULL otherwise. */
    size_t fp8_sub_stride;  /* bytes per panel in fp8_sub: ⌈(g / 4) / 8⌉ */
    const struct qk_x86_tune *tune;
    struct qk_x86_ubuf_pool *ubufs; /* nib_x8 / FP8 × FP8 GEMM unpack buffers (qk_x86_ubuf_take), else NULL */
    int amx;                /* qk_x86_amx_kind: the GEMM rows in whole 16-row blocks run on AMX */
} qk_x86_packed;

/* FP8 × FP8: whether chunk c (4 k) of panel p holds a subnormal code (fp8_sub) */
static inline int qk_x86_fp8_sub_at(const qk_x86_packed *P, int64_t p, int64_t c) {
    return (P->fp8_sub[(size_t)p * P->fp8_sub_stride + (size_t)(c / 8)] >> (c % 8)) & 1;
}
static inline void qk_x86_fp8_sub_set(qk_x86_packed *P, int64_t p, int64_t c) {
    P->fp8_sub[(size_t)p * P->fp8_sub_stride + (size_t)(c / 8)] |= (uint8_t)(1u << (c % 8));
}

/* Group G of a panel: where its codes and its tail (scales, then mins or zero points)
 * start. A Q4_0 32-block of a panel is 256 code bytes + 32 scale bytes, so every other
 * block would start mid-line and each of its four 64-byte code loads span two lines. Q4_0
 * packs for Q8_0 activations (odd_shift = 32; not the AMX kinds) store an odd block's
 * scales first: a pair of blocks is [codes][scales][scales][codes] and all codes start on
 * a line. A bare stream of 288-byte blocks ran 4-7 % under the same bytes read in whole
 * lines (Zen 4); the Q4_0 M = 1 GEMV gained 1-3 % (docs/performance-x86.md). Paired, Q8_0
 * packs measured 4 % slower in the GEMM and I4 g = 128 1 % slower at M = 1, so they keep
 * codes first. */
static inline size_t qk_x86_code_off(const qk_x86_packed *P, int64_t G) {
    return (size_t)G * P->group_bytes + ((G & 1) ? P->odd_shift : 0);
}
static inline size_t qk_x86_tail_off(const qk_x86_packed *P, int64_t G) {
    return (size_t)G * P->group_bytes + ((G & 1) && P->odd_shift ? 0 : P->code_bytes);
}

/* Which GEMMs run on the AMX tile unit (gemm_int8__amx.c) when the CPU has AMX-INT8, the
 * OS grants the tile state and QKERN_DISABLE does not mask amx_int8. The K step is 16
 * k4-chunks (or the whole group when g = 32), so per-row W8A8 needs K % 64 == 0 and I4
 * g == 32 or g % 64 == 0; anything else stays on the vpdpbusd tiles. */
const char *qk_x86_amx_kernel_name(int kind); /* NULL for QK_X86_AMX_NONE */
/* The kind that weights of format f (flags) in groups of g elements (0: not known yet, a
 * per-row layout before K is seen), single_group when one group spans K, get under
 * activation mode act on this machine; QK_X86_AMX_NONE where AMX is absent, refused by the
 * OS or masked. Packing and the kernel names both ask it. */
int qk_x86_amx_kind_of(qkern_format f, uint32_t flags, int64_t g, int single_group, qkern_act_mode act);
typedef enum qk_x86_amx_kind {
    QK_X86_AMX_NONE = 0,
    QK_X86_AMX_W8ROW = 1, /* I8 per-row × I8 dynamic / LLM.int8: B straight from the panels */
    QK_X86_AMX_I4 = 2,    /* symmetric I4 × I8 dynamic: B from the unpacked pair */
    QK_X86_AMX_Q4_0 = 3   /* Q4_0 × Q8_0: B from the unpacked pair, one 32-block per K step */
} qk_x86_amx_kind;
/* Q4_0 × Q8_0 gains least: its scales change every 32 k, so every 16×16×32 tile product is
 * stored and folded (cvt, d_w·d_x, fma per row); measured 499-523 against 451-471 GOPS for
 * the vpdpbusd tile (512x4096x4096, compute() alone, alternating). A first version that
 * folded 32 rows × 2 panels with the f32 sums in memory was no faster than vpdpbusd. */
/* M = 8 (exactly 8 rows) over columns n0..n1 for the I4 kind with g ≤ 256; 0 if it did
 * not run (another kind or a larger group: the caller runs the vpdpbusd GEMV tile). */
int qk_x86_amx_gemv8__amx(const qk_x86_packed *P, const uint8_t *act, size_t rb, size_t qbytes, int64_t n0,
                          int64_t n1, float *y, int64_t ldy);
/* One nib_x8 panel-group (g/8 vectors of 64 bytes at src) as int8 bytes 16·(code − 8) in
 * c4 chunks at dst (g·16 bytes): the unpacked layout of the I4 / Q4_0 GEMMs. */
void qk_x86_unpack_group__avx512vnni(const uint8_t *src, int64_t g, uint8_t *dst);
/* 1 once the process holds the AMX tile-data permission (asked on the first call). */
int qk_x86_amx_usable(void);
/* rows (a multiple of 16) × the panel pair at p0 over all of K; ub = the pair unpacked by
 * qk_x86_unpack_pair for the grouped kinds, unused for W8ROW. */
void qk_x86_amx_pair__amx(const qk_x86_packed *P, const uint8_t *ub, const uint8_t *act, size_t rb, size_t qbytes,
                          int64_t rows, int64_t p0, float *y, int64_t ldy, uint16_t last_mask);

/* Buffers for the nib_x8 GEMM's unpacked panel pair (2 panels × K × 16 bytes), kept with the
 * packed weights and lent to one compute call at a time. The first version allocated 128 KiB
 * or more per call: a fresh mmap, 32+ page faults and a munmap per task, and it measured no
 * faster than unpacking inside every tile. A call that finds every slot busy allocates its
 * own. */
#define QK_X86_UB_SLOTS 16
typedef struct qk_x86_ubuf_pool {
    atomic_flag used[QK_X86_UB_SLOTS];
    uint8_t *buf[QK_X86_UB_SLOTS];
    size_t bytes;
} qk_x86_ubuf_pool;
/* A buffer of pool->bytes (64-byte aligned) and its slot (-1: owned by the caller, free it
 * with qk_x86_ubuf_give too); NULL if out of memory. */
uint8_t *qk_x86_ubuf_take(qk_x86_ubuf_pool *pool, int *slot);
void qk_x86_ubuf_give(qk_x86_ubuf_pool *pool, uint8_t *buf, int slot);

/* Tunable parameters of one kernel family, as data for the autotuner. */
typedef struct qk_x86_tune {
    const char *family;     /* "i8_i8", "q8_0_q4_0", … */
    int mr;                 /* rows per GEMM micro-kernel call */
    int nr_panels;          /* 16-column panels per micro-kernel call (NR = 16·nr_panels) */
    int gemv_max_m;         /* M at or below which the GEMV kernel (comp recomputed) runs */
    int64_t n_block;        /* columns per cache block inside one compute call */
    int64_t m_block;        /* rows per cache block inside one compute call */
    int prefetch;           /* bytes ahead the GEMV prefetches in each panel stream (0 = none) */
    int64_t gemv8_kb;       /* M = 8 on nib_x8 codes: the 8x16 asm GEMV tile, K sliced by this (0 = off) */
    int gemv8_prefetch;     /* M = 8: the nib_x8 asm tile prefetches this many bytes ahead in its panel
                               stream (0 = none); i8_i8: nonzero = the one-tile 8x32 block fetches
                               the next panel pair into L2, as blocks of several tiles always do;
                               fp8_fp8: nonzero = so does a single row tile (M ≤ mr) */
    int gemv_panels;        /* panels (streams) the M ≤ 4 GEMV tiles read at once: 1 or 2 */
    int unpack_once;        /* nib_x8 GEMM: unpack each panel pair once per compute call (1) or per tile (0) */
    const char *why;        /* how the default was chosen */
} qk_x86_tune;

/* Activation scratch row for the integer modes: K unsigned bytes (qx + 128), padded to 64,
 * then f32 scales: 1 (I8_DYNAMIC, LLM_INT8), K/32 d (Q8_0), K/32 d + K/32 s (Q8_1),
 * padded to 64. nib_x8 weights with I8_DYNAMIC or Q8_0 activations (qk_x86_act_signed)
 * add, at qk_x86_act_signed_off: the K bytes again as signed qx, padded to 64, then per
 * group an 8-byte record {int32 −128·Σ qx, f32 d (Q8_0; 0 for I8_DYNAMIC)}, padded to 64.
 * The nib_x8 GEMV tiles (M ≤ 4 and M = 8) multiply unsigned 16·code by signed qx and need
 * no weight compensation: 16·Σ(code − 8)·qx = Σ 16·code·qx − 128·Σ qx. d is repeated in
 * the records so that the M = 8 asm tile reaches a row's correction and scale through one
 * register. prepare_act does not know M, so the signed part is written for GEMMs too, where
 * only the GEMV tiles would read it: a few vector ops per 64 activation bytes, well under
 * 1 % of a GEMM by count (not timed apart), and twice the activation scratch.
 * FP8 modes: K BF16 values of the FP8 activations, padded to 64 bytes, then sx.
 * Float mode: K f32, zero padded to the packed K. LLM_INT8: the front end's outlier header
 * comes first (qk_llm_int8_header_bytes), rows after it. */
size_t qk_x86_act_row_bytes(const qk_x86_packed *P);
#if defined(__AVX512F__) /* the kernel files, built with the AVX-512 flags */
#include <immintrin.h>
/* A panel-group's 16 scales (or Q4_1 mins) as f32: stored as f16 (I4, ggml) or f32 */
static inline __attribute__((always_inline)) __m512 qk_x86_scales16(const uint8_t *p, int f16) {
    return f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)) : _mm512_loadu_ps(p);
}
#endif
/* Float mode with mins (Q4_1): where a row's per-group Σx starts, in floats from the row. */
static inline int64_t qk_x86_f32_gsum_off(const qk_x86_packed *P) { return (P->groups * P->g + 15) / 16 * 16; }
int qk_x86_act_signed(const qk_x86_packed *P);
size_t qk_x86_act_signed_off(const qk_x86_packed *P);

/* ISA entry points (gemm_int8__avx512vnni.c, gemm_f32__avx512vnni.c). */
void qk_x86_prepare_act__avx512vnni(const qk_x86_packed *P, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                    uint8_t *scratch);
void qk_x86_compute_int8__avx512vnni(const qk_x86_packed *P, const uint8_t *scratch, int64_t m0, int64_t m1,
                                     int64_t n0, int64_t n1, float *y, int64_t ldy);
/* LLM.int8: adds Σ_{k outlier} x[m][k]·deq(W)[n][k] to y (the int8 part already stored);
 * list: the n_out outlier columns, ascending (the front end's header). */
void qk_x86_llm_outliers__avx512vnni(const qk_x86_packed *P, const float *x, int64_t ldx, const int64_t *list,
                                     int64_t n_out, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y,
                                     int64_t ldy);
/* LLM.int8 activation rows: I8 rule with amax over inlier columns, outliers quantised to 0. */
void qk_x86_prepare_llm__avx512vnni(const qk_x86_packed *P, const float *x, int64_t ldx, const uint8_t *mask,
                                    int64_t m0, int64_t m1, uint8_t *rows);
/* FP8 × FP8 (gemm_fp8__avx512bf16.c: vdpbf16ps; gemm_f32__avx512vnni.c: the f32 FMA fallback). */
void qk_x86_compute_fp8__avx512bf16(const qk_x86_packed *P, const uint8_t *scratch, int64_t m0, int64_t m1,
                                    int64_t n0, int64_t n1, float *y, int64_t ldy);
void qk_x86_compute_fp8_f32__avx512vnni(const qk_x86_packed *P, const uint8_t *scratch, int64_t m0, int64_t m1,
                                        int64_t n0, int64_t n1, float *y, int64_t ldy);
void qk_x86_compute_f32__avx512vnni(const qk_x86_packed *P, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                    int64_t n0, int64_t n1, float *y, int64_t ldy);

/* Packing (pack_x86.c, plain C). */
qkern_status qk_x86_pack(const qkern_qtensor *w, const qkern_matmul_options *opts, qk_x86_packed **out);
void qk_x86_packed_free(qk_x86_packed *P);
/* 1 if this backend has a matmul kernel for desc × act. */
int qk_x86_matmul_supported(const qkern_quant_desc *desc, qkern_act_mode act, int64_t k);
const char *qk_x86_matmul_kernel_name(const qkern_quant_desc *desc, qkern_act_mode act);

extern const qk_x86_tune qk_x86_tunes[];
const qk_x86_tune *qk_x86_tune_for(qkern_format f, qkern_act_mode act); /* per CPU kind */
int qk_x86_cpu_is_amd_zen(void);

#endif
