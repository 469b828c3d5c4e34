/* The NEON backend's table. Available on every AArch64 CPU (Advanced SIMD is mandatory);
 * the dot-product (SDOT) and matrix-multiply (SMMLA) kernels are chosen per HWCAP /
 * HWCAP2 as qkern_cpu_features() reports them (after QKERN_DISABLE), and the chosen
 * kernel of every op shows in qkern_context_describe. No per-context state: the choice
 * is recorded in each packed object, so it never changes under a running matmul. */
#include <stdio.h>

#include "backends/neon/neon.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"
#include "qkern/context.h"

static int qk_neon_probe(uint64_t cpu, char *why, size_t n) {
    if (cpu & QKERN_CPU_NEON) return 1;
    snprintf(why, n, "NEON masked by QKERN_DISABLE");
    return 0;
}

static const char *qk_neon_quant_name(qk_op op, qkern_format f) {
    const int q = op == QK_OP_QUANTIZE;
    switch (f) {
    case QKERN_I8: return q ? "qk_quant_i8__neon" : "qk_dequant_i8__neon";
    case QKERN_I8_ASYM: return q ? "qk_quant_i8_asym__neon" : "qk_dequant_i8_asym__neon";
    case QKERN_I4: return q ? "qk_quant_i4__neon" : "qk_dequant_i4__neon";
    case QKERN_Q8_0: return q ? "qk_quant_q8_0__neon" : "qk_dequant_q8_0__neon";
    case QKERN_Q8_1: return q ? "qk_quant_q8_1__neon" : "qk_dequant_q8_1__neon";
    case QKERN_Q4_0: return q ? "qk_quant_q4_0__neon" : "qk_dequant_q4_0__neon";
    case QKERN_Q4_1: return q ? "qk_quant_q4_1__neon" : "qk_dequant_q4_1__neon";
    case QKERN_NF4: return q ? "qk_quant_nf4__neon" : "qk_dequant_nf4__neon";
    case QKERN_FP8_E4M3: return q ? "qk_quant_fp8_e4m3__neon" : "qk_dequant_fp8_e4m3__neon";
    case QKERN_FP8_E5M2: return q ? "qk_quant_fp8_e5m2__neon" : "qk_dequant_fp8_e5m2__neon";
    default: return NULL;
    }
}

static const char *qk_neon_kernel_name(void *state, qk_op op, const qkern_quant_desc *d, qkern_act_mode act) {
    (void)state;
    if (!d) return NULL;
    switch (op) {
    case QK_OP_QUANTIZE:
    case QK_OP_DEQUANTIZE: return qk_neon_quant_name(op, d->format);
    case QK_OP_MATMUL: return qk_neon_matmul_kernel_name(d, act, qkern_cpu_features(), NULL, 0);
    default: return NULL;
    }
}

static qkern_status qk_quantize__neon(void *state, const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    (void)state;
    switch (dst->desc.format) {
    case QKERN_Q8_0: case QKERN_Q8_1: case QKERN_Q4_0: case QKERN_Q4_1:
        return qk_quant_ggml__neon(src, dst, r0, r1);
    case QKERN_I8: case QKERN_I8_ASYM: case QKERN_I4: return qk_quant_int__neon(src, dst, r0, r1);
    case QKERN_NF4: return qk_quant_nf4__neon(src, dst, r0, r1);
    case QKERN_FP8_E4M3: case QKERN_FP8_E5M2: return qk_quant_fp8__neon(src, dst, r0, r1);
    default:
        return qk_error(QKERN_UNSUPPORTED, "neon quantize: %s is not implemented", qk_format_name(dst->desc.format));
    }
}

static qkern_status qk_dequantize__neon(void *state, const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    (void)state;
    switch (src->desc.format) {
    case QKERN_Q8_0: case QKERN_Q8_1: case QKERN_Q4_0: case QKERN_Q4_1:
        return qk_dequant_ggml__neon(src, dst, r0, r1);
    case QKERN_I8: case QKERN_I8_ASYM: case QKERN_I4: return qk_dequant_int__neon(src, dst, r0, r1);
    case QKERN_NF4: return qk_dequant_nf4__neon(src, dst, r0, r1);
    case QKERN_FP8_E4M3: case QKERN_FP8_E5M2: return qk_dequant_fp8__neon(src, dst, r0, r1);
    default:
        return qk_error(QKERN_UNSUPPORTED, "neon dequantize: %s is not implemented", qk_format_name(src->desc.format));
    }
}

const qk_backend qk_backend_neon = {
    .name = "neon",
    .probe = qk_neon_probe,
    .open = NULL,
    .close = NULL,
    .kernel_name = qk_neon_kernel_name,
    .threaded = 1,
    .quantize = qk_quantize__neon,
    .dequantize = qk_dequantize__neon,
    .matmul = &qk_matmul_ops__neon,
};
