/* Float-activation GEMM / GEMV (QKERN_ACT_FLOAT, and the FP8 x FP8 modes): Y = X*W^T + bias with
 * f32 X and any weight format, dequantised on the fly in registers, f32 accumulation.
 *
 * Every weight format has its own kernel in this one program (qk_gemm_f32_<fmt>), so one
 * compile per tile serves them all. A work-item owns a QK_MR x QK_NR tile and walks K in
 * 32-element chunks; each chunk of a weight row is decoded into two float16 halves holding
 * the format's integer-like value (q - zero, nibble - 8, the NF4 codebook entry, the FP8
 * value), the two halves are multiplied with the X chunk lane-wise, and the 16 lane sums
 * are scaled by the group's scale into 16 lane accumulators (no horizontal fold per
 * group: the float combination order is free within the conformance bound,
 * docs/matmul.md). Q4_1's deq = nibble*d + m adds m * (sum of the X chunk) per chunk.
 * No local memory and no barriers (TOOLCHAIN.md section 4: on CPU devices they turn into
 * slow work-item loops).
 *
 * Layouts (packed by matmul_opencl.c; K padded to Kp, a multiple of 32, with codes that
 * decode to 0; X rows padded with zeros by the host side when K is not a multiple of 32):
 *   8-bit formats (I8, I8_ASYM, Q8_0, Q8_1, FP8): per 32-chunk 32 bytes
 *   4-bit formats (I4, Q4_0, Q4_1, NF4): per 32-chunk 16 bytes, element j in the low
 *     nibble of byte j and element j+16 in the high nibble (ggml's order; I4 and NF4 are
 *     reordered at pack)
 *   the chunks of 8 consecutive rows interleaved (common.cl: qk_wchunk), so a work-item's
 *   rows are one sequential stream
 *   sw   per (n, group) f32 scale (FP8: per row; a per-tensor scale is replicated)
 *   aux  per (n, group) f32: the zero point (I8_ASYM, I4 asym) or m (Q4_1); else unused
 *   xs   NULL, or a per-row scale of X (FP8 x FP8: the activation rows hold FP8 values
 *        decoded to f32 and y = bias + sx*(sw*sum)) */

#ifndef QK_MR
#define QK_MR 4
#endif
#ifndef QK_NR
#define QK_NR 4
#endif

/* ---- weight chunk decoders: (row pointer, chunk, zero) -> wa (elements 0..15), wb (16..31) ---- */

#define QK_DEC_I8(wrow, c, z, wa, wb)                                                           \
    {                                                                                           \
        __global const char *p_ = (__global const char *)(wrow) + (c)*256;                       \
        wa = convert_float16(vload16(0, p_));                                                   \
        wb = convert_float16(vload16(1, p_));                                                   \
    }
/* q - z exactly: both are integers below 2^8 in magnitude */
#define QK_DEC_I8Z(wrow, c, z, wa, wb)                                                          \
    {                                                                                           \
        __global const char *p_ = (__global const char *)(wrow) + (c)*256;                       \
        wa = convert_float16(vload16(0, p_)) - (z);                                             \
        wb = convert_float16(vload16(1, p_)) - (z);                                             \
    }
#define QK_DEC_NIB(wrow, c, z, wa, wb)                                                          \
    {                                                                                           \
        uchar16 b_ = vload16(0, (wrow) + (c)*128);                                               \
        wa = convert_float16(b_ & (uchar16)(15)) - (z);                                         \
        wb = convert_float16(b_ >> (uchar16)(4)) - (z);                                         \
    }

/* bitsandbytes' NF4 codebook (kernels/format_nf4.h) looked up lane-wise by a select tree
 * on the code's bits (a vector select takes each lane's MSB): 15 blends per 16 codes. A
 * variable-mask shuffle() of the codebook is scalarised by PoCL (measured 6x slower). */
#define QK_NF4_C(i) ((float16)(qk_nf4_cb[i]))
__constant float qk_nf4_cb[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};
static inline float16 qk_nf4_lut(uint16 q) {
    const int16 b0 = as_int16(q << (uint16)(31)), b1 = as_int16(q << (uint16)(30));
    const int16 b2 = as_int16(q << (uint16)(29)), b3 = as_int16(q << (uint16)(28));
    float16 a0 = select(QK_NF4_C(0), QK_NF4_C(1), b0), a1 = select(QK_NF4_C(2), QK_NF4_C(3), b0);
    float16 a2 = select(QK_NF4_C(4), QK_NF4_C(5), b0), a3 = select(QK_NF4_C(6), QK_NF4_C(7), b0);
    float16 a4 = select(QK_NF4_C(8), QK_NF4_C(9), b0), a5 = select(QK_NF4_C(10), QK_NF4_C(11), b0);
    float16 a6 = select(QK_NF4_C(12), QK_NF4_C(13), b0), a7 = select(QK_NF4_C(14), QK_NF4_C(15), b0);
    float16 c0 = select(a0, a1, b1), c1 = select(a2, a3, b1), c2 = select(a4, a5, b1), c3 = select(a6, a7, b1);
    float16 d0 = select(c0, c1, b2), d1 = select(c2, c3, b2);
    return select(d0, d1, b3);
}
#define QK_DEC_NF4(wrow, c, z, wa, wb)                                                          \
    {                                                                                           \
        uchar16 b_ = vload16(0, (wrow) + (c)*128);                                              \
        wa = qk_nf4_lut(convert_uint16(b_ & (uchar16)(15)));                                    \
        wb = qk_nf4_lut(convert_uint16(b_ >> (uchar16)(4)));                                    \
    }

/* FP8 -> f32 exactly (kernels/format_fp8.h). The magnitude bits shifted into an f32's
 * exponent/mantissa field give the value times 2^-120 (E4M3) or 2^-112 (E5M2) for normal
 * and subnormal codes alike (an FP8 subnormal lands on an f32 subnormal); one multiply by
 * the power of two restores it exactly. NaN (and E5M2 Inf) codes are patched in. */
static inline float16 qk_e4m3_f16v(uchar16 b) {
    uint16 u = convert_uint16(b);
    uint16 mag = (u & (uint16)(0x7f)) << (uint16)(20);
    float16 v = as_float16(mag) * (float16)(0x1p120f);
    v = as_float16(as_uint16(v) | ((u & (uint16)(0x80)) << (uint16)(24)));
    int16 nan = ((u & (uint16)(0x7f)) == (uint16)(0x7f));
    return select(v, as_float16(((u & (uint16)(0x80)) << (uint16)(24)) | (uint16)(0x7fc00000)), nan);
}
static inline float16 qk_e5m2_f16v(uchar16 b) {
    uint16 u = convert_uint16(b);
    uint16 mag = (u & (uint16)(0x7f)) << (uint16)(21);
    float16 v = as_float16(mag) * (float16)(0x1p112f);
    uint16 sign = (u & (uint16)(0x80)) << (uint16)(24);
    v = as_float16(as_uint16(v) | sign);
    uint16 special = select((uint16)(0x7fc00000), (uint16)(0x7f800000), (u & (uint16)(3)) == (uint16)(0));
    int16 sp = ((u & (uint16)(0x7c)) == (uint16)(0x7c));
    return select(v, as_float16(sign | special), sp);
}
#define QK_DEC_E4M3(wrow, c, z, wa, wb)                                                         \
    {                                                                                           \
        __global const uchar *p_ = (wrow) + (c)*256;                                             \
        wa = qk_e4m3_f16v(vload16(0, p_));                                                      \
        wb = qk_e4m3_f16v(vload16(1, p_));                                                      \
    }
#define QK_DEC_E5M2(wrow, c, z, wa, wb)                                                         \
    {                                                                                           \
        __global const uchar *p_ = (wrow) + (c)*256;                                             \
        wa = qk_e5m2_f16v(vload16(0, p_));                                                      \
        wb = qk_e5m2_f16v(vload16(1, p_));                                                      \
    }

/* ---- the kernel template ---------------------------------------------------------------------
 * NAME, DEC: the decoder, CB: bytes per 32-chunk, ZERO: the per-group zero is aux[] (1) or the
 * constant ZC (0), MIN: Q4_1's per-block m term (aux[] is m, the zero is 0). */
#define QK_GEMM_F32(NAME, DEC, CB, ZERO, ZC, MIN)                                                          \
    __kernel void NAME(__global const float *x, int x_off, int ldx, __global const float *xs,              \
                       __global const uchar *wq, __global const float *sw, __global const float *aux,      \
                       __global const float *bias, __global float *y, int y_off, int ldy, int M, int N,    \
                       int K32, int CPG) {                                                                  \
        const int n0 = get_global_id(0) * QK_NR, m0 = get_global_id(1) * QK_MR;                           \
        if (n0 >= N || m0 >= M) return;                                                                    \
        const int G = K32 / CPG;                                                                            \
        float16 yv[QK_MR][QK_NR];                                                                           \
        _Pragma("unroll") for (int i = 0; i < QK_MR; i++)                                                   \
            _Pragma("unroll") for (int j = 0; j < QK_NR; j++) yv[i][j] = (float16)(0.0f);                   \
        __global const float *xr[QK_MR];                                                                    \
        _Pragma("unroll") for (int i = 0; i < QK_MR; i++)                                                   \
            xr[i] = x + x_off + (long)min(m0 + i, M - 1) * ldx;                                             \
        __global const uchar *wr[QK_NR];                                                                    \
        _Pragma("unroll") for (int j = 0; j < QK_NR; j++) wr[j] = wq + qk_wchunk(n0 + j, 0, K32, CB);   \
        for (int g = 0; g < G; g++) {                                                                       \
            float s[QK_NR];                                                                                 \
            float16 z[QK_NR];                                                                               \
            float mm[QK_NR];                                                                                \
            _Pragma("unroll") for (int j = 0; j < QK_NR; j++) {                                             \
                s[j] = sw[(long)(n0 + j) * G + g];                                                          \
                z[j] = (float16)(ZERO ? aux[(long)(n0 + j) * G + g] : (ZC));                                \
                mm[j] = MIN ? aux[(long)(n0 + j) * G + g] : 0.0f;                                           \
            }                                                                                               \
            for (int c = g * CPG; c < (g + 1) * CPG; c++) {                                                 \
                float16 xa[QK_MR], xb[QK_MR];                                                               \
                _Pragma("unroll") for (int i = 0; i < QK_MR; i++) {                                         \
                    xa[i] = vload16(0, xr[i] + c * 32);                                                     \
                    xb[i] = vload16(1, xr[i] + c * 32);                                                     \
                }                                                                                           \
                _Pragma("unroll") for (int j = 0; j < QK_NR; j++) {                                         \
                    float16 wa, wb;                                                                         \
                    DEC(wr[j], c, z[j], wa, wb)                                                             \
                    _Pragma("unroll") for (int i = 0; i < QK_MR; i++) {                                     \
                        float16 t = fma(xb[i], wb, xa[i] * wa);                                             \
                        yv[i][j] = fma((float16)(s[j]), t, yv[i][j]);                                       \
                        if (MIN) yv[i][j] = fma((float16)(mm[j]), xa[i] + xb[i], yv[i][j]);                 \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
        _Pragma("unroll") for (int i = 0; i < QK_MR; i++) {                                                 \
            if (m0 + i >= M) break;                                                                         \
            const float sx = xs ? xs[m0 + i] : 1.0f;                                                        \
            _Pragma("unroll") for (int j = 0; j < QK_NR; j++) {                                             \
                if (n0 + j >= N) break;                                                                     \
                float8 c8 = yv[i][j].lo + yv[i][j].hi;                                                      \
                float4 c4 = c8.lo + c8.hi;                                                                  \
                float2 c2 = c4.lo + c4.hi;                                                                  \
                float acc = c2.x + c2.y;                                                                    \
                if (xs) acc *= sx;                                                                          \
                y[y_off + (long)(m0 + i) * ldy + n0 + j] = bias ? acc + bias[n0 + j] : acc;                 \
            }                                                                                               \
        }                                                                                                   \
    }

QK_GEMM_F32(qk_gemm_f32_i8, QK_DEC_I8, 32, 0, 0.0f, 0)
QK_GEMM_F32(qk_gemm_f32_i8z, QK_DEC_I8Z, 32, 1, 0.0f, 0)
QK_GEMM_F32(qk_gemm_f32_nib8, QK_DEC_NIB, 16, 0, 8.0f, 0)
QK_GEMM_F32(qk_gemm_f32_nibz, QK_DEC_NIB, 16, 1, 0.0f, 0)
QK_GEMM_F32(qk_gemm_f32_q4_1, QK_DEC_NIB, 16, 0, 0.0f, 1)
QK_GEMM_F32(qk_gemm_f32_nf4, QK_DEC_NF4, 16, 0, 0.0f, 0)
QK_GEMM_F32(qk_gemm_f32_e4m3, QK_DEC_E4M3, 32, 0, 0.0f, 0)
QK_GEMM_F32(qk_gemm_f32_e5m2, QK_DEC_E5M2, 32, 0, 0.0f, 0)

/* X rows copied into a zero-padded buffer of row stride ldo (K not a multiple of 32). */
__kernel void qk_pad_rows(__global const float *x, int x_off, int ldx, int K, __global float *out, int ldo) {
    int k = get_global_id(0), r = get_global_id(1);
    if (k >= ldo) return;
    out[(long)r * ldo + k] = k < K ? x[x_off + (long)r * ldx + k] : 0.0f;
}

/* LLM.int8() outlier part, added to y after the int8 GEMM: gid0 = n, gid1 = m;
 * y += sum over the outlier columns idx[] of x * (qw * sw) in K order (docs/matmul.md). */
__kernel void qk_llm_outliers(__global const float *x, int x_off, int ldx, __global const int *idx, int n_out,
                              __global const char *wq, int K32, __global const float *sw, __global float *y,
                              int y_off, int ldy, int M, int N) {
    int n = get_global_id(0), m = get_global_id(1);
    if (n >= N || m >= M) return;
    const float s = sw[n];
    float out = 0.0f;
    for (int t = 0; t < n_out; t++) {
        int k = idx[t];
        out += x[x_off + (long)m * ldx + k] * ((float)wq[qk_wchunk(n, k / 32, K32, 32) + k % 32] * s);
    }
    y[y_off + (long)m * ldy + n] += out;
}
