/* Activation quantisers, shared by the quantize op (same kernels, same bytes) and the
 * matmul front half. One work-item per (row, group) or (row, 32-block).
 *
 *   qk_quant_i8:    I8, per group of GL elements (GL = K for a row scale), the rule and
 *                   special values of kernels/format_int.h
 *   qk_q8_0_*:      ggml quantize_row_q8_0_ref: d = amax/127, id = d ? 1/d : 0, q = roundf(x*id)
 *   qk_q8_1_*:      ggml quantize_row_q8_1_ref: as Q8_0, plus s = f16(d * sum(q))
 * "_blocks" writes ggml block bytes (the quantize op); "_split" writes qs to a row-major
 * int8 matrix and the f16-rounded d (and s) as floats (what the GEMM kernels read). */

/* The GEMM reads the quantised activations as integer values held in f32 (gemm_int.cl). */
#ifdef QK_XFLOAT
typedef float qk_q_t;
#else
typedef char qk_q_t;
#endif

/* kernels/format_int.h: amax over the finite elements; inv = 1/s only when finite and
 * non-zero; a NaN product gives code 0; clamp, then round to nearest even. */
static inline float qk_i8_amax(__global const float *x, int n) {
    float amax = 0.0f;
    for (int k = 0; k < n; k++) {
        float a = fabs(x[k]);
        if (a <= FLT_MAX && a > amax) amax = a;
    }
    return amax;
}

static inline float qk_int_inv(float s) {
    float inv = qk_div(1.0f, s);
    return (inv != 0.0f && inv - inv == 0.0f) ? inv : 0.0f;
}

static inline qk_q_t qk_i8_round(float v) {
    if (isnan(v)) v = 0.0f;
    return (qk_q_t)rint(clamp(v, -127.0f, 127.0f));
}

/* gid0 = group within the row, gid1 = row. static_scales: read scales[] instead of computing them. */
__kernel void qk_quant_i8(__global const float *x, int x_off, int ldx, int gl, int groups,
                          __global qk_q_t *q, int ldq, __global float *scales, int static_scales) {
    int g = get_global_id(0), r = get_global_id(1);
    if (g >= groups) return;
    __global const float *xr = x + x_off + (long)r * ldx + (long)g * gl;
    __global qk_q_t *qr = q + (long)r * ldq + (long)g * gl;
    float s, inv;
    if (static_scales) {
        s = scales[(long)r * groups + g];
        inv = qk_int_inv(s);
    } else {
        s = qk_div(qk_i8_amax(xr, gl), 127.0f);
        inv = qk_int_inv(s);
        if (inv == 0.0f) s = 0.0f;
        scales[(long)r * groups + g] = s;
    }
    for (int k = 0; k < gl; k++) qr[k] = qk_i8_round(xr[k] * inv);
}

/* C's (int8_t) cast of a float as x86-64 executes it: NaN, Inf and out-of-range give 0. */
static inline char qk_ggml_to_i8(float v) {
    return (v >= -2147483648.0f && v < 2147483648.0f) ? (char)convert_int(v) : (char)0;
}

static inline float qk_q8_block(__global const float *xb, char *qs, int *sum) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = fabs(xb[j]);
        if (a > amax) amax = a; /* NaN never enters the statistics (backends/scalar/quant_ggml.c) */
    }
    float d = qk_div(amax, 127.0f);
    float id = d != 0.0f ? qk_div(1.0f, d) : 0.0f;
    int s = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = qk_ggml_to_i8(round(xb[j] * id));
        s += qs[j];
    }
    *sum = s;
    return d;
}

/* gid0 = block within the row, gid1 = row; blocks are written at out + row*row_bytes. */
__kernel void qk_q8_0_blocks(__global const float *x, int x_off, int ldx, int nb, __global uchar *out, int row_bytes) {
    int b = get_global_id(0), r = get_global_id(1);
    if (b >= nb) return;
    char qs[32];
    int sum;
    float d = qk_q8_block(x + x_off + (long)r * ldx + b * 32, qs, &sum);
    __global uchar *o = out + (long)r * row_bytes + b * 34;
    qk_f16_store(o, d);
    for (int j = 0; j < 32; j++) o[2 + j] = (uchar)qs[j];
}

__kernel void qk_q8_1_blocks(__global const float *x, int x_off, int ldx, int nb, __global uchar *out, int row_bytes) {
    int b = get_global_id(0), r = get_global_id(1);
    if (b >= nb) return;
    char qs[32];
    int sum;
    float d = qk_q8_block(x + x_off + (long)r * ldx + b * 32, qs, &sum);
    __global uchar *o = out + (long)r * row_bytes + b * 36;
    qk_f16_store(o, d);
    float sd = (float)sum * d;
    if (isnan(sd)) { o[2] = 0x00; o[3] = 0xfe; } /* the reference's -qNaN as f16 */
    else qk_f16_store(o + 2, sd);
    for (int j = 0; j < 32; j++) o[4 + j] = (uchar)qs[j];
}

/* Split layout for the GEMM: qx row stride ldq elements, dx / sx (Q8_1) nb floats per row. */
__kernel void qk_q8_split(__global const float *x, int x_off, int ldx, int nb, __global qk_q_t *qx, int ldq,
                          __global float *dx, __global float *sx) {
    int b = get_global_id(0), r = get_global_id(1);
    if (b >= nb) return;
    char qs[32];
    int sum;
    float d = qk_q8_block(x + x_off + (long)r * ldx + b * 32, qs, &sum);
    __global qk_q_t *o = qx + (long)r * ldq + b * 32;
    for (int j = 0; j < 32; j++) o[j] = qs[j];
    dx[(long)r * nb + b] = qk_f16_round(d);
#ifdef QK_Q8_1
    sx[(long)r * nb + b] = qk_f16_round((float)sum * d);
#endif
}

/* I8 row rule for the matmul (I8_DYNAMIC, and LLM.int8() with mask != NULL: amax over the
 * inlier columns only, outlier columns get 0), one work-item per row; the row is written
 * with stride ldq >= K and the padding [K, ldq) zeroed so the GEMM may read whole chunks. */
__kernel void qk_quant_i8_row(__global const float *x, int x_off, int ldx, int M, int K, __global const uchar *mask,
                              __global qk_q_t *q, int ldq, __global float *sx) {
    int r = get_global_id(0);
    if (r >= M) return;
    __global const float *xr = x + x_off + (long)r * ldx;
    __global qk_q_t *qr = q + (long)r * ldq;
    float amax = 0.0f;
    for (int k = 0; k < K; k++) {
        float a = fabs(xr[k]);
        if ((!mask || !mask[k]) && a <= FLT_MAX && a > amax) amax = a;
    }
    float s = qk_div(amax, 127.0f), inv = qk_int_inv(s);
    if (inv == 0.0f) s = 0.0f;
    sx[r] = s;
    for (int k = 0; k < K; k++) qr[k] = (mask && mask[k]) ? (qk_q_t)0 : qk_i8_round(xr[k] * inv);
    for (int k = K; k < ldq; k++) qr[k] = (qk_q_t)0;
}

/* LLM.int8() outlier columns of a device-resident X (the cl_mem entry point): gid0 = column. */
__kernel void qk_llm_mask(__global const float *x, int x_off, int ldx, int M, int K, float thr,
                          __global uchar *mask) {
    int k = get_global_id(0);
    if (k >= K) return;
    uchar o = 0;
    for (int r = 0; r < M; r++) o |= fabs(x[x_off + (long)r * ldx + k]) > thr;
    mask[k] = o;
}

/* FP8 scale of a row (quantize op: the scale of a ROW tensor; FP8 x FP8 matmul: sx of an
 * activation row): gid0 = row. */
__kernel void qk_fp8_row_scale(__global const float *x, int x_off, int ldx, int rows, int cols, float fmax,
                               __global float *scales) {
    int r = get_global_id(0);
    if (r >= rows) return;
    scales[r] = qk_fp8_scale(qk_i8_amax(x + x_off + (long)r * ldx, cols), fmax);
}

/* FP8 x FP8 activations: fp8(x * (1/sx)) saturating, stored decoded (exact) as f32 with row
 * stride ldq and zero padding, what gemm_float.cl's FP8 kernels read. gid0 = element. */
__kernel void qk_fp8_act(__global const float *x, int x_off, int ldx, int K, __global const float *sx, int e5m2,
                         __global float *q, int ldq) {
    int k = get_global_id(0), r = get_global_id(1);
    if (k >= ldq) return;
    float v = 0.0f;
    if (k < K) {
        float xv = x[x_off + (long)r * ldx + k] * qk_div(1.0f, sx[r]);
        v = e5m2 ? qk_e5m2_to_f32(qk_f32_to_e5m2(xv, 1)) : qk_e4m3_to_f32(qk_f32_to_e4m3(xv, 1));
    }
    q[(long)r * ldq + k] = v;
}
