/* Integer-activation GEMM / GEMV: Y[MxN] = X*W^T with int8 activations and 8- or 4-bit weights,
 * int32 sums per weight group / block exactly as docs/matmul.md, then f32 scaling.
 *
 * Register-blocked, no local memory (on CPU devices barriers turn into work-item loops
 * that vectorise poorly; TOOLCHAIN.md section 4): a work-item owns QK_MR rows x QK_NR columns
 * and walks K in 32-element chunks. Without an integer dot product (PoCL's LLVM turns
 * int8 vector products into vpmulld + shuffles, no pmaddwd) the fastest exact form on a
 * CPU device is f32 FMA over integer values: activations arrive as small integers
 * stored in f32, weights are widened per chunk, and every partial sum is an integer of
 * magnitude < 2^24 (|q_x*q_w| <= 127*128, at most 1024 products before the lanes are
 * folded into an int32), so the f32 sums are exact and the int32 group sums identical.
 *
 * Build options (the autotuner's space): QK_MR, QK_NR (tile), QK_WBITS 8 | 4,
 * QK_XBLOCK 1 if the activation scale is per 32-block (Q8_0 / Q8_1) else per row,
 * QK_WZERO 0: no zero point, 1: 4-bit weights with a u8 zero per group (else offset QK_WOFF),
 * QK_Q41: Q4_1 x Q8_1 (unsigned nibbles, + m_w*s_x per block),
 * QK_LANES 1 when every group is one 32-block (lane-wise scaling, see below).
 *
 * Layouts (packed once by matmul_opencl.c; K a multiple of 32, N padded to QK_NR,
 * X rows padded to QK_MR):
 *   qx  M x K small integers held in f32, row stride ldq elements;  sx: per row, or per (row, 32-block)
 *   wq  per 32-chunk 32 bytes (8-bit) or 16 bytes (4-bit: element j in the low nibble of
 *       byte j and element j+16 in the high nibble, ggml's order; I4 is reordered at pack),
 *       the chunks of 8 consecutive rows interleaved (common.cl: qk_wchunk)
 *   sw  per (n, group) f32;  wz per (n, group) u8;  mw (Q4_1) per (n, block) f32;  sxs (Q8_1) per (m, block) */

#ifndef QK_MR
#define QK_MR 4
#endif
#ifndef QK_NR
#define QK_NR 4
#endif
#ifndef QK_WBITS
#define QK_WBITS 8
#endif
#ifndef QK_XBLOCK
#define QK_XBLOCK 0
#endif
#ifndef QK_WZERO
#define QK_WZERO 0
#endif
#ifndef QK_WOFF
#define QK_WOFF 8
#endif
#ifndef QK_Q41
#define QK_Q41 0
#endif
#ifndef QK_LANES
#define QK_LANES 0
#endif

/* Lane-wise f32 accumulation is folded into the int32 sum every QK_FOLD chunks (1024 elements). */
#define QK_FOLD 32

static inline int qk_fold(float16 v) {
    float8 c = v.lo + v.hi;
    float4 a = c.lo + c.hi;
    float2 b = a.lo + a.hi;
    return convert_int(b.x + b.y);
}

__kernel void qk_gemm_int(__global const float *qx, int ldq, __global const float *sx, __global const float *sxs,
                          __global const uchar *wq, __global const float *sw, __global const uchar *wz,
                          __global const float *mw, __global const float *bias, __global float *y, int y_off,
                          int ldy, int M, int N, int K32, int CPG) {
    const int n0 = get_global_id(0) * QK_NR, m0 = get_global_id(1) * QK_MR;
    if (n0 >= N || m0 >= M) return;
    const int G = K32 / CPG;
#if QK_WBITS == 8
    const int cb = 32;
#else
    const int cb = 16;
#endif
    float yacc[QK_MR][QK_NR];
#pragma unroll
    for (int i = 0; i < QK_MR; i++)
#pragma unroll
        for (int j = 0; j < QK_NR; j++) yacc[i][j] = 0.0f;

#if QK_LANES
    /* One group per 32-block (Q8_0 / Q8_1 activations, I4 with g = 32): the block's lane
     * sums are exact integers in f32 and are scaled lane-wise, so no horizontal fold runs
     * per block; the 16 lanes are added once at the end (f32 order is free, docs/matmul.md). */
    float16 yv[QK_MR][QK_NR];
#pragma unroll
    for (int i = 0; i < QK_MR; i++)
#pragma unroll
        for (int j = 0; j < QK_NR; j++) yv[i][j] = (float16)(0.0f);
    for (int c = 0; c < K32; c++) {
        float16 xa[QK_MR], xb[QK_MR];
        float xs[QK_MR];
#pragma unroll
        for (int i = 0; i < QK_MR; i++) {
            __global const float *xp = qx + (long)(m0 + i) * ldq + c * 32;
            xa[i] = vload16(0, xp);
            xb[i] = vload16(1, xp);
#if QK_XBLOCK
            xs[i] = sx[(long)(m0 + i) * K32 + c];
#else
            xs[i] = sx[m0 + i];
#endif
        }
#pragma unroll
        for (int j = 0; j < QK_NR; j++) {
#if QK_WBITS == 8
            __global const char *wp = (__global const char *)wq + qk_wchunk(n0 + j, c, K32, cb);
            float16 wa = convert_float16(vload16(0, wp)), wb = convert_float16(vload16(1, wp));
#else
#if QK_WZERO
            char16 off = (char16)((char)wz[(long)(n0 + j) * G + c]);
#elif QK_Q41
            char16 off = (char16)(0);
#else
            char16 off = (char16)(QK_WOFF);
#endif
            uchar16 b = vload16(0, wq + qk_wchunk(n0 + j, c, K32, cb));
            float16 wa = convert_float16(as_char16(b & (uchar16)(15)) - off);
            float16 wb = convert_float16(as_char16(b >> (uchar16)(4)) - off);
#endif
            const float ws = sw[(long)(n0 + j) * G + c];
#pragma unroll
            for (int i = 0; i < QK_MR; i++) {
                float16 t = fma(xb[i], wb, xa[i] * wa);
                yv[i][j] = fma((float16)(xs[i] * ws), t, yv[i][j]);
#if QK_Q41
                yacc[i][j] += mw[(long)(n0 + j) * G + c] * sxs[(long)(m0 + i) * K32 + c];
#endif
            }
        }
    }
#pragma unroll
    for (int i = 0; i < QK_MR; i++)
#pragma unroll
        for (int j = 0; j < QK_NR; j++) {
            float8 c8 = yv[i][j].lo + yv[i][j].hi;
            float4 c4 = c8.lo + c8.hi;
            float2 c2 = c4.lo + c4.hi;
            yacc[i][j] += c2.x + c2.y;
        }
#else
    for (int g = 0; g < G; g++) {
        int isum[QK_MR][QK_NR];
#pragma unroll
        for (int i = 0; i < QK_MR; i++)
#pragma unroll
            for (int j = 0; j < QK_NR; j++) isum[i][j] = 0;
#if QK_WBITS == 4
        char16 off[QK_NR];
#pragma unroll
        for (int j = 0; j < QK_NR; j++) {
#if QK_WZERO
            off[j] = (char16)((char)wz[(long)(n0 + j) * G + g]);
#elif QK_Q41
            off[j] = (char16)(0);
#else
            off[j] = (char16)(QK_WOFF);
#endif
        }
#endif
        for (int c0 = g * CPG; c0 < (g + 1) * CPG; c0 += QK_FOLD) {
            const int c1 = min(c0 + QK_FOLD, (g + 1) * CPG);
            float16 acc[QK_MR][QK_NR];
#pragma unroll
            for (int i = 0; i < QK_MR; i++)
#pragma unroll
                for (int j = 0; j < QK_NR; j++) acc[i][j] = (float16)(0.0f);
            for (int c = c0; c < c1; c++) {
                float16 xa[QK_MR], xb[QK_MR];
#pragma unroll
                for (int i = 0; i < QK_MR; i++) {
                    __global const float *xp = qx + (long)(m0 + i) * ldq + c * 32;
                    xa[i] = vload16(0, xp);
                    xb[i] = vload16(1, xp);
                }
#pragma unroll
                for (int j = 0; j < QK_NR; j++) {
#if QK_WBITS == 8
                    __global const char *wp = (__global const char *)wq + qk_wchunk(n0 + j, c, K32, cb);
                    float16 wa = convert_float16(vload16(0, wp)), wb = convert_float16(vload16(1, wp));
#else
                    uchar16 b = vload16(0, wq + qk_wchunk(n0 + j, c, K32, cb));
                    float16 wa = convert_float16(as_char16(b & (uchar16)(15)) - off[j]);
                    float16 wb = convert_float16(as_char16(b >> (uchar16)(4)) - off[j]);
#endif
#pragma unroll
                    for (int i = 0; i < QK_MR; i++) acc[i][j] = fma(xa[i], wa, fma(xb[i], wb, acc[i][j]));
                }
            }
#pragma unroll
            for (int i = 0; i < QK_MR; i++)
#pragma unroll
                for (int j = 0; j < QK_NR; j++) isum[i][j] += qk_fold(acc[i][j]);
        }
#pragma unroll
        for (int i = 0; i < QK_MR; i++) {
#if QK_XBLOCK
            float xs = sx[(long)(m0 + i) * K32 + g];
#else
            float xs = sx[m0 + i];
#endif
#pragma unroll
            for (int j = 0; j < QK_NR; j++) {
                float s = xs * sw[(long)(n0 + j) * G + g];
                yacc[i][j] += s * (float)isum[i][j];
#if QK_Q41
                yacc[i][j] += mw[(long)(n0 + j) * G + g] * sxs[(long)(m0 + i) * K32 + g];
#endif
            }
        }
    }
#endif
#pragma unroll
    for (int i = 0; i < QK_MR; i++) {
        if (m0 + i >= M) break;
#pragma unroll
        for (int j = 0; j < QK_NR; j++) {
            if (n0 + j >= N) break;
            float b = bias ? bias[n0 + j] : 0.0f;
            y[y_off + (long)(m0 + i) * ldy + n0 + j] = b + yacc[i][j];
        }
    }
}
