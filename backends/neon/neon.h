/* The AArch64 NEON backend: packed-weight layout shared by every matmul kernel, and the
 * kernel entry points of each ISA level (plain armv8-a NEON, +dotprod, +i8mm).
 *
 * Packed weights (one layout for every ISA level, so a packed object never depends on
 * which kernel later runs it):
 *   N is split into panels of QK_NEON_NR = 8 columns (the last one zero-padded). Each
 *   panel holds, group after group along K, a data block and then the group's per-column
 *   parameters. A group of g elements is padded with zeros to gp (a multiple of 16, or of
 *   32 for 4-bit panels). Within a 16-k step, 8 vectors of 16 bytes: vector 2c+j holds
 *   columns 4j..4j+3 at k = 4c..4c+3, column-major in 4-byte chunks ("c4"):
 *       byte 4·col + t  =  w[panel·8 + 4j + col][group·g + step·16 + 4c + t]
 *   which is what `sdot v.4s, b.16b, a.4b[c]` consumes, and what two `zip1/zip2 .4s` turn
 *   into the 2×8 operands of `smmla`. 4-bit panels keep two 16-k steps in one set of 8
 *   vectors: step 2s in the low nibbles, step 2s+1 in the high nibbles, either as
 *   two's-complement nibbles (value −8..7: Q4_0 and symmetric I4) or unsigned (0..15:
 *   asymmetric I4, Q4_1, NF4 codes).
 *   Parameters: nparams arrays of 8 values (f16 when the source format stores f16, else
 *   f32): [0] the scale, [1] the zero point (I4 asym, I8_ASYM) or the min (Q4_1).
 *
 * Activations (integer modes) are quantised by prepare_act into scratch rows of
 *   [qx: groups × gp int8, zero-padded][per group: f32 scale, 32-bit aux]
 * aux is Σqx over the group (asymmetric I4) or s = f16(d·Σq) widened (Q8_1). */
#ifndef QK_NEON_H
#define QK_NEON_H

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

#define QK_NEON_NR 8
#define QK_NEON_MR 4

typedef enum qk_neon_isa { QK_NEON_PLAIN = 0, QK_NEON_DOTPROD = 1, QK_NEON_I8MM = 2 } qk_neon_isa;

/* How a panel's stored values are read. */
typedef enum qk_neon_panel { QK_PANEL_I8 = 0, QK_PANEL_S4 = 1, QK_PANEL_U4 = 2 } qk_neon_panel;

/* What a stored value means in the float (dequantising) kernels. */
typedef enum qk_neon_decode {
    QK_DEC_INT = 0,   /* w = (q − zero)·scale (+ min) */
    QK_DEC_NF4 = 1,   /* w = codebook[q]·scale */
    QK_DEC_E4M3 = 2,  /* w = f32(fp8 q)·scale (scale 1 in FP8×FP8: applied after the sum) */
    QK_DEC_E5M2 = 3
} qk_neon_decode;

typedef struct qk_neon_pack {
    qk_neon_isa isa;          /* the level chosen at pack time (HWCAP, after QKERN_DISABLE) */
    qk_neon_panel panel;
    qk_neon_decode decode;
    qkern_format format;
    qkern_act_mode act;
    int64_t n, k;
    int64_t g, gp, groups;    /* group length, padded length, groups per row */
    int nparams;              /* 1: scale; 2: scale + zero (or min) */
    int param_f16;            /* parameters stored as f16 (else f32) */
    int has_zero, has_min;
    size_t data_bytes_group;  /* bytes of one group's data block in a panel */
    size_t group_bytes;       /* data + parameters */
    size_t panel_bytes;
    int64_t panels;
    size_t act_row_bytes;     /* scratch bytes per activation row (integer / FP8 modes) */
    size_t act_q_bytes;       /* of which quantised values (the rest: per-group scale, aux) */
    size_t act_offset;        /* scratch bytes before row 0 (LLM.int8: the outlier mask header) */
    int float_pad;            /* float mode: x must be re-laid out with per-group padding */
    unsigned char *panels_data; /* 64-byte aligned, inside the same allocation */
} qk_neon_pack;

/* The tile every kernel computes: rows [m0, m1) × columns [n0, n1) of Y, n0 a multiple
 * of QK_NEON_NR; a reads activation rows through act (row stride act_stride). */
typedef struct qk_neon_tile {
    const qk_neon_pack *h;
    const float *bias;        /* N floats or NULL */
    const unsigned char *act; /* integer modes: scratch rows; float: f32 rows */
    size_t act_stride;        /* bytes */
    int64_t m0, m1, n0, n1;
    float *y;                 /* Y row 0 (absolute indexing, as x) */
    int64_t ldy;
} qk_neon_tile;

/* Integer-activation kernels (I8_DYNAMIC, Q8_0, Q8_1): same arithmetic, three ISAs. */
void qk_neon_gemm_int__plain(const qk_neon_tile *t);
void qk_neon_gemm_int__dotprod(const qk_neon_tile *t);
void qk_neon_gemm_int__i8mm(const qk_neon_tile *t);
/* Float-activation kernels (FLOAT, FP8×FP8 on decoded activations). */
void qk_neon_gemm_f32__neon(const qk_neon_tile *t);

extern const qk_matmul_ops qk_matmul_ops__neon;
const char *qk_neon_matmul_kernel_name(const qkern_quant_desc *desc, qkern_act_mode act, uint64_t cpu, char *buf,
                                       size_t size);

/* Quantise / dequantise (quant_*_neon.c): rows [r0, r1), bytes identical to scalar.
 * Return QKERN_UNSUPPORTED for a descriptor they do not handle. */
qkern_status qk_quant_ggml__neon(const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1);
qkern_status qk_dequant_ggml__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1);

qkern_status qk_quant_int__neon(const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1);
qkern_status qk_dequant_int__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1);
qkern_status qk_quant_nf4__neon(const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1);
qkern_status qk_dequant_nf4__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1);
qkern_status qk_quant_fp8__neon(const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1);
qkern_status qk_dequant_fp8__neon(const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1);
/* max |x| over the finite elements (NaN, ±Inf ignored), 0 if none: the I8 / NF4 / FP8 rule. */
float qk_neon_amax_finite(const float *x, int64_t n);

/* Row quantisers shared by quantize and the matmul activation path. */
void qk_neon_quantize_row_q8_0(const float *x, void *blocks, int64_t k);
void qk_neon_quantize_row_q8_1(const float *x, void *blocks, int64_t k);
/* One ggml Q8 block: codes, f16 d, the unrounded f32 d and Σ codes. */
void qk_neon_q8_block(const float *x, int8_t *q, uint16_t *d16, float *d32, int32_t *sum);

/* FP8 -> f32, bit-exact to kernels/format_fp8.h for all 256 codes (NaN codes give
 * sign | 0x7FC00000, E5M2 Inf gives ±Inf), 16 codes at a time.
 *
 * E4M3 by `tbl`. Every FP8 value is an f32 whose low 16 bits are zero, so only its top two
 * bytes b3:b2 are made, then zipped over a zero half:
 *   b3 = top[code >> 4]   the sign and E>>1 select the f32 top byte (f32 exponent = E + 120,
 *                         even offset, so E's low bit never reaches byte 3);
 *   b2 = code << 4        E's low bit and the mantissa already are byte 2's bits;
 * right for every normal code. The others (zero, subnormals, the NaN S.1111.111) sit at the
 * two ends of the magnitude range, so (code + 1) & 0x7F brings all of them, either sign,
 * into one 16-entry range where fix3 / fix2 hold true ^ normal-path byte (0 for the
 * normal codes that land there too), XORed in: no compare, no select, sign kept.
 * 15 instructions (USHR, SHL, ADD, AND, 3 TBL, 2 EOR, 6 ZIP), no FCVTL (2 µops on N1's V0
 * alone); 6 constant registers.
 *
 * E5M2 by shift: the code is the top byte of a binary16, so USHLL #8 + FCVTL, after the NaN
 * codes S.11111.{01,11} are made S.11111.10 (FCVTL would quiet 01 and keep the payload of
 * both: 0x7FE00000, not scalar's 0x7FC00000). 10 instructions; a `tbl` form like E4M3's
 * needs 15 and more µops on both cores (docs/performance-neon.md). */
typedef struct qk_neon_fp8_tbl {
    uint8x16_t top, fix3, fix2; /* E4M3 only */
} qk_neon_fp8_tbl;

/* f is QKERN_FP8_E4M3 or QKERN_FP8_E5M2; the tables are derived from format_fp8.h's decoder. */
void qk_neon_fp8_tbl_init(qk_neon_fp8_tbl *t, qkern_format f);

#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void qk_neon_fp8_decode16(const qk_neon_fp8_tbl *t, int e5m2, uint8x16_t v, float32x4_t out[4]) {
    if (e5m2) {
        const uint8x16_t nan = vcgtq_u8(vandq_u8(v, vdupq_n_u8(0x7f)), vdupq_n_u8(0x7c));
        v = vbslq_u8(vandq_u8(nan, vdupq_n_u8(0x7f)), vdupq_n_u8(0x7e), v);
        const uint16x8_t lo = vshll_n_u8(vget_low_u8(v), 8), hi = vshll_high_n_u8(v, 8);
        out[0] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(lo)));
        out[1] = vcvt_high_f32_f16(vreinterpretq_f16_u16(lo));
        out[2] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(hi)));
        out[3] = vcvt_high_f32_f16(vreinterpretq_f16_u16(hi));
        return;
    }
    const uint8x16_t idx = vandq_u8(vaddq_u8(v, vdupq_n_u8(1)), vdupq_n_u8(0x7f));
    const uint8x16_t b3 = veorq_u8(vqtbl1q_u8(t->top, vshrq_n_u8(v, 4)), vqtbl1q_u8(t->fix3, idx));
    const uint8x16_t b2 = veorq_u8(vshlq_n_u8(v, 4), vqtbl1q_u8(t->fix2, idx));
    const uint16x8_t lo = vreinterpretq_u16_u8(vzip1q_u8(b2, b3)), hi = vreinterpretq_u16_u8(vzip2q_u8(b2, b3));
    const uint16x8_t z = vdupq_n_u16(0);
    out[0] = vreinterpretq_f32_u16(vzip1q_u16(z, lo));
    out[1] = vreinterpretq_f32_u16(vzip2q_u16(z, lo));
    out[2] = vreinterpretq_f32_u16(vzip1q_u16(z, hi));
    out[3] = vreinterpretq_f32_u16(vzip2q_u16(z, hi));
}

/* FP8×FP8 activation rows: dst[i] = f32(fp8(x[i]·inv)) (saturating, the scalar rule), i < k. */
void qk_neon_fp8_round_row(const float *x, int64_t k, float inv, qkern_format f, float *dst);

/* Helpers for pointer arithmetic on the packed layout. */
static inline const unsigned char *qk_neon_panel_ptr(const qk_neon_pack *h, int64_t panel) {
    return h->panels_data + (size_t)panel * h->panel_bytes;
}

#endif
