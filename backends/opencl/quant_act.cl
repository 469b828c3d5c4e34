/* Activation quantisers, shared by the quantize op (same kernels, same bytes) and the
 * matmul front half. One work-item per (row, group) or (row, 32-block).
 *
 *   qk_quant_i8:    I8, per group of GL elements (GL = K for a row scale):
 *                   s = amax/127, inv = s ? 1/s : 0, q = clamp(RNE(x*inv), -127, 127)
 *   qk_q8_0_*:      ggml quantize_row_q8_0_ref: d = amax/127, id = d ? 1/d : 0, q = roundf(x*id)
 *   qk_q8_1_*:      ggml quantize_row_q8_1_ref: as Q8_0, plus s = f16(d * sum(q))
 * "_blocks" writes ggml block bytes (the quantize op); "_split" writes qs to a row-major
 * int8 matrix and the f16-rounded d (and s) as floats (what the GEMM kernels read). */

static inline float qk_i8_amax(__global const float *x, int n) {
    float amax = 0.0f;
    for (int k = 0; k < n; k++) {
        float a = fabs(x[k]);
        amax = a > amax ? a : amax;
    }
    return amax;
}

static inline char qk_i8_round(float v) { return (char)clamp(convert_int_sat_rte(v), -127, 127); }

/* gid0 = group within the row, gid1 = row. static_scales: read scales[] instead of computing them. */
__kernel void qk_quant_i8(__global const float *x, int x_off, int ldx, int gl, int groups,
                          __global char *q, int ldq, __global float *scales, int static_scales) {
    int g = get_global_id(0), r = get_global_id(1);
    if (g >= groups) return;
    __global const float *xr = x + x_off + (long)r * ldx + (long)g * gl;
    __global char *qr = q + (long)r * ldq + (long)g * gl;
    float s;
    if (static_scales) {
        s = scales[(long)r * groups + g];
    } else {
        s = qk_div(qk_i8_amax(xr, gl), 127.0f);
        scales[(long)r * groups + g] = s;
    }
    float inv = s != 0.0f ? qk_div(1.0f, s) : 0.0f;
    for (int k = 0; k < gl; k++) qr[k] = qk_i8_round(xr[k] * inv);
}

static inline float qk_q8_block(__global const float *xb, char *qs, int *sum) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = qk_ggml_max(amax, fabs(xb[j]));
    float d = qk_div(amax, 127.0f);
    float id = d != 0.0f ? qk_div(1.0f, d) : 0.0f;
    int s = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = (char)convert_int_sat(round(xb[j] * id));
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
    qk_f16_store(o + 2, (float)sum * d);
    for (int j = 0; j < 32; j++) o[4 + j] = (uchar)qs[j];
}

/* Split layout for the GEMM: qx row stride ldq bytes, dx / sx (Q8_1) nb floats per row. */
__kernel void qk_q8_split(__global const float *x, int x_off, int ldx, int nb, __global char *qx, int ldq,
                          __global float *dx, __global float *sx) {
    int b = get_global_id(0), r = get_global_id(1);
    if (b >= nb) return;
    char qs[32];
    int sum;
    float d = qk_q8_block(x + x_off + (long)r * ldx + b * 32, qs, &sum);
    __global char *o = qx + (long)r * ldq + b * 32;
    for (int j = 0; j < 32; j++) o[j] = qs[j];
    dx[(long)r * nb + b] = qk_f16_round(d);
#ifdef QK_Q8_1
    sx[(long)r * nb + b] = qk_f16_round((float)sum * d);
#endif
}
