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

/* FP8 -> f32 by `tbl`, bit-exact to kernels/format_fp8.h for all 256 codes (NaN codes give
 * sign | 0x7FC00000, E5M2 Inf gives ±Inf). Every FP8 value is an f32 whose low 16 bits are
 * zero, so only its top two bytes b3:b2 are looked up, then zipped over a zero half:
 *   b3 = top[code >> (m+1)]   the sign and the exponent's high bits select the f32 top byte
 *                             (f32 exponent = E + 127 − bias, and 127 − bias is even, so
 *                             E>>1 fixes byte 3 for both values of E's low bit);
 *   b2 = code << (7 − m)      E's low bit and the mantissa are already byte 2's bits;
 * which is right for every normal code. The few others (zero and subnormals, E4M3's NaN,
 * E5M2's Inf / NaN) sit at the two ends of the magnitude range, so (code + off) & 0x7F,
 * off = their count at the top (1 / 4), brings all of them, whatever the sign, into one
 * 16-entry table: fix3 / fix2 hold true ^ normal-path byte (0 for the normal codes that
 * also land there), XORed in. No FCVTL (2 µops on N1's V0 alone), no compare / select.
 * Per 16 codes: 2 shifts, 1 add, 1 and, 3 `tbl` (1 reg; E5M2's top: 2 regs), 2 eor,
 * 6 zip = 15 instructions; 6 constant registers (7 for E5M2). */
typedef struct qk_neon_fp8_tbl {
    uint8x16x2_t top;   /* E4M3: 16 entries (val[1] unused), E5M2: 32 */
    uint8x16_t fix3, fix2;
} qk_neon_fp8_tbl;

/* f is QKERN_FP8_E4M3 or QKERN_FP8_E5M2; the tables are derived from format_fp8.h's decoder. */
void qk_neon_fp8_tbl_init(qk_neon_fp8_tbl *t, qkern_format f);

#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void qk_neon_fp8_decode16(const qk_neon_fp8_tbl *t, int e5m2, uint8x16_t v, float32x4_t out[4]) {
    uint8x16_t b3, b2, idx;
    if (e5m2) {
        b3 = vqtbl2q_u8(t->top, vshrq_n_u8(v, 3));
        b2 = vshlq_n_u8(v, 5);
        idx = vandq_u8(vaddq_u8(v, vdupq_n_u8(4)), vdupq_n_u8(0x7f));
    } else {
        b3 = vqtbl1q_u8(t->top.val[0], vshrq_n_u8(v, 4));
        b2 = vshlq_n_u8(v, 4);
        idx = vandq_u8(vaddq_u8(v, vdupq_n_u8(1)), vdupq_n_u8(0x7f));
    }
    b3 = veorq_u8(b3, vqtbl1q_u8(t->fix3, idx));
    b2 = veorq_u8(b2, vqtbl1q_u8(t->fix2, idx));
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
