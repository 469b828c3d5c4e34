/* The scalar backend's table: always available, implements every op and format. */
#include "backends/scalar/scalar.h"
#include "kernels/qk_error.h"

static int qk_scalar_probe(uint64_t cpu, char *why, size_t n) {
    (void)cpu; (void)why; (void)n;
    return 1;
}

static const char *qk_scalar_kernel_name(void *state, qk_op op, const qkern_quant_desc *d, qkern_act_mode act) {
    (void)state;
    switch (op) {
    case QK_OP_QUANTIZE:
        switch (d->format) {
        case QKERN_I8: return "qk_quant_i8__scalar";
        case QKERN_I8_ASYM: return "qk_quant_i8_asym__scalar";
        case QKERN_I4: return "qk_quant_i4__scalar";
        case QKERN_Q8_0: return "qk_quant_q8_0__scalar";
        case QKERN_Q4_0: return "qk_quant_q4_0__scalar";
        case QKERN_Q4_1: return "qk_quant_q4_1__scalar";
        case QKERN_Q8_1: return "qk_quant_q8_1__scalar";
        case QKERN_NF4: return "qk_quant_nf4__scalar";
        case QKERN_FP8_E4M3: return "qk_quant_fp8_e4m3__scalar";
        case QKERN_FP8_E5M2: return "qk_quant_fp8_e5m2__scalar";
        default: return NULL;
        }
    case QK_OP_DEQUANTIZE:
        switch (d->format) {
        case QKERN_I8: return "qk_dequant_i8__scalar";
        case QKERN_I8_ASYM: return "qk_dequant_i8_asym__scalar";
        case QKERN_I4: return "qk_dequant_i4__scalar";
        case QKERN_Q8_0: return "qk_dequant_q8_0__scalar";
        case QKERN_Q4_0: return "qk_dequant_q4_0__scalar";
        case QKERN_Q4_1: return "qk_dequant_q4_1__scalar";
        case QKERN_Q8_1: return "qk_dequant_q8_1__scalar";
        case QKERN_NF4: return "qk_dequant_nf4__scalar";
        case QKERN_FP8_E4M3: return "qk_dequant_fp8_e4m3__scalar";
        case QKERN_FP8_E5M2: return "qk_dequant_fp8_e5m2__scalar";
        default: return NULL;
        }
    case QK_OP_MATMUL: return qk_matmul_kernel_name__scalar(d, act);
    default: return NULL;
    }
}

qkern_status qk_quantize__scalar(void *state, const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    (void)state;
    qk_layout L;
    qkern_status s = qk_resolve_layout(&dst->desc, dst->rows, dst->cols, &L);
    if (s != QKERN_OK) return s;
    switch (dst->desc.format) {
    case QKERN_Q8_0: case QKERN_Q4_0: case QKERN_Q4_1: case QKERN_Q8_1:
        return qk_quant_ggml__scalar(src, dst, &L, r0, r1);
    case QKERN_I8: case QKERN_I8_ASYM: case QKERN_I4:
        return qk_quant_int__scalar(src, dst, &L, r0, r1);
    case QKERN_NF4: return qk_quant_nf4__scalar(src, dst, &L, r0, r1);
    case QKERN_FP8_E4M3: case QKERN_FP8_E5M2: return qk_quant_fp8__scalar(src, dst, &L, r0, r1);
    default: return qk_error(QKERN_UNSUPPORTED, "scalar quantize: format %d", (int)dst->desc.format);
    }
}

qkern_status qk_dequantize__scalar(void *state, const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    (void)state;
    qk_layout L;
    qkern_status s = qk_resolve_layout(&src->desc, src->rows, src->cols, &L);
    if (s != QKERN_OK) return s;
    switch (src->desc.format) {
    case QKERN_Q8_0: case QKERN_Q4_0: case QKERN_Q4_1: case QKERN_Q8_1:
        return qk_dequant_ggml__scalar(src, &L, dst, r0, r1);
    case QKERN_I8: case QKERN_I8_ASYM: case QKERN_I4:
        return qk_dequant_int__scalar(src, &L, dst, r0, r1);
    case QKERN_NF4: return qk_dequant_nf4__scalar(src, &L, dst, r0, r1);
    case QKERN_FP8_E4M3: case QKERN_FP8_E5M2: return qk_dequant_fp8__scalar(src, &L, dst, r0, r1);
    default: return qk_error(QKERN_UNSUPPORTED, "scalar dequantize: format %d", (int)src->desc.format);
    }
}

const qk_backend qk_backend_scalar = {
    .name = "scalar",
    .probe = qk_scalar_probe,
    .open = NULL,
    .close = NULL,
    .kernel_name = qk_scalar_kernel_name,
    .threaded = 1,
    .quantize = qk_quantize__scalar,
    .dequantize = qk_dequantize__scalar,
    .matmul = &qk_matmul_ops__scalar,
};
