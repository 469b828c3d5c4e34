/* The scalar matmul family: kernel names (the one list of valid weight × activation
 * modes, docs/matmul.md's table), packing, and dispatch to the mode files
 * (matmul_float.c, matmul_i8.c, matmul_ggml.c, matmul_fp8.c, matmul_llm_int8.c). */
#include <stdlib.h>
#include <string.h>

#include "backends/scalar/matmul_scalar.h"
#include "kernels/qk_error.h"

static int qk_is_row_group(const qkern_quant_desc *d) {
    return d->group == QKERN_GROUP_ROW || d->group == QKERN_GROUP_DEFAULT; /* I8's default is ROW */
}

static const char *qk_name_float(const qkern_quant_desc *d) {
    int asym = (d->flags & QKERN_QUANT_ASYMMETRIC) != 0;
    switch (d->format) {
    case QKERN_I8: return "qk_gemm_f32_i8_1x1c1__scalar";
    case QKERN_I8_ASYM: return "qk_gemm_f32_i8_asym_1x1c1__scalar";
    case QKERN_I4: return asym ? "qk_gemm_f32_i4_asym_1x1c2__scalar" : "qk_gemm_f32_i4_1x1c2__scalar";
    case QKERN_Q4_0: return "qk_gemm_f32_q4_0_1x1c32__scalar";
    case QKERN_Q4_1: return "qk_gemm_f32_q4_1_1x1c32__scalar";
    case QKERN_Q8_0: return "qk_gemm_f32_q8_0_1x1c32__scalar";
    case QKERN_Q8_1: return "qk_gemm_f32_q8_1_1x1c32__scalar";
    case QKERN_NF4: return "qk_gemm_f32_nf4_1x1c2__scalar";
    case QKERN_FP8_E4M3: return "qk_gemm_f32_fp8_e4m3_1x1c1__scalar";
    case QKERN_FP8_E5M2: return "qk_gemm_f32_fp8_e5m2_1x1c1__scalar";
    default: return NULL;
    }
}

static const char *qk_name_fp8(const qkern_quant_desc *d, qkern_act_mode act) {
    int a5 = act == QKERN_ACT_FP8_E5M2;
    if (d->format == QKERN_FP8_E4M3)
        return a5 ? "qk_gemm_fp8_e5m2_fp8_e4m3_1x1c1__scalar" : "qk_gemm_fp8_e4m3_fp8_e4m3_1x1c1__scalar";
    if (d->format == QKERN_FP8_E5M2)
        return a5 ? "qk_gemm_fp8_e5m2_fp8_e5m2_1x1c1__scalar" : "qk_gemm_fp8_e4m3_fp8_e5m2_1x1c1__scalar";
    return NULL;
}

const char *qk_matmul_kernel_name__scalar(const qkern_quant_desc *d, qkern_act_mode act) {
    if (!d) return NULL;
    int asym = (d->flags & QKERN_QUANT_ASYMMETRIC) != 0;
    switch (act) {
    case QKERN_ACT_FLOAT: return qk_name_float(d);
    case QKERN_ACT_I8_DYNAMIC:
        if (d->format == QKERN_I8) return "qk_gemm_i8_i8_1x1c1__scalar";
        if (d->format == QKERN_I4) return asym ? "qk_gemm_i8_i4_asym_1x1c2__scalar" : "qk_gemm_i8_i4_1x1c2__scalar";
        return NULL;
    case QKERN_ACT_Q8_0:
        if (d->format == QKERN_Q4_0) return "qk_gemm_q8_0_q4_0_1x1c32__scalar";
        if (d->format == QKERN_Q8_0) return "qk_gemm_q8_0_q8_0_1x1c32__scalar";
        return NULL;
    case QKERN_ACT_Q8_1: return d->format == QKERN_Q4_1 ? "qk_gemm_q8_1_q4_1_1x1c32__scalar" : NULL;
    case QKERN_ACT_FP8_E4M3:
    case QKERN_ACT_FP8_E5M2: return qk_name_fp8(d, act);
    case QKERN_ACT_LLM_INT8:
        return d->format == QKERN_I8 && qk_is_row_group(d) ? "qk_gemm_llm_int8_i8_1x1c1__scalar" : NULL;
    }
    return NULL;
}

static void qk_mm_scalar_free(void *data, void *state) {
    (void)state;
    free(data);
}

static size_t qk_align64(size_t v) { return (v + 63u) & ~(size_t)63u; }

static qkern_status qk_mm_pack__scalar(void *state, const qkern_qtensor *w, const qkern_matmul_options *o,
                                       qk_packed *p) {
    (void)state;
    (void)o;
    qk_layout L;
    qkern_status s = qk_resolve_layout(&w->desc, w->rows, w->cols, &L);
    if (s != QKERN_OK) return s;
    size_t off_data = qk_align64(sizeof(qk_mm_scalar));
    size_t off_scales = qk_align64(off_data + L.data_bytes);
    size_t off_zeros = qk_align64(off_scales + L.scales_bytes);
    size_t total = off_zeros + L.zeros_bytes;
    if (total < L.data_bytes) return qk_error(QKERN_INVALID_ARGUMENT, "scalar pack: packed size overflows size_t");
    unsigned char *block = malloc(total);
    if (!block) return qk_error(QKERN_OUT_OF_MEMORY, "scalar pack: no memory for %zu bytes of weights", total);
    qk_mm_scalar *ms = (qk_mm_scalar *)block;
    ms->L = L;
    ms->w = *w;
    ms->w.data = block + off_data;
    ms->w.data_bytes = L.data_bytes;
    memcpy(ms->w.data, w->data, L.data_bytes);
    ms->w.scales = L.scales_bytes ? block + off_scales : NULL;
    ms->w.scales_bytes = L.scales_bytes;
    if (L.scales_bytes) memcpy(ms->w.scales, w->scales, L.scales_bytes);
    ms->w.zeros = L.zeros_bytes ? block + off_zeros : NULL;
    ms->w.zeros_bytes = L.zeros_bytes;
    if (L.zeros_bytes) memcpy(ms->w.zeros, w->zeros, L.zeros_bytes);
    p->data = block;
    p->data_bytes = total;
    p->free_data = qk_mm_scalar_free;
    return QKERN_OK;
}

static size_t qk_mm_scratch__scalar(const qk_packed *p, int64_t m) {
    switch (p->act) {
    case QKERN_ACT_FLOAT: return 0;
    case QKERN_ACT_I8_DYNAMIC: return qk_mm_scratch_i8__scalar(p, m);
    case QKERN_ACT_Q8_0:
    case QKERN_ACT_Q8_1: return qk_mm_scratch_q8__scalar(p, m);
    case QKERN_ACT_FP8_E4M3:
    case QKERN_ACT_FP8_E5M2: return qk_mm_scratch_fp8__scalar(p, m);
    case QKERN_ACT_LLM_INT8: return qk_mm_scratch_llm_int8__scalar(p, m);
    }
    return SIZE_MAX;
}

static qkern_status qk_mm_prepare__scalar(void *state, const qk_packed *p, const float *x, int64_t ldx, int64_t m0,
                                          int64_t m1, void *scratch) {
    (void)state;
    switch (p->act) {
    case QKERN_ACT_FLOAT: return QKERN_OK;
    case QKERN_ACT_I8_DYNAMIC: return qk_mm_prepare_i8__scalar(p, x, ldx, m0, m1, scratch);
    case QKERN_ACT_Q8_0:
    case QKERN_ACT_Q8_1: return qk_mm_prepare_q8__scalar(p, x, ldx, m0, m1, scratch);
    case QKERN_ACT_FP8_E4M3:
    case QKERN_ACT_FP8_E5M2: return qk_mm_prepare_fp8__scalar(p, x, ldx, m0, m1, scratch);
    case QKERN_ACT_LLM_INT8: return qk_mm_prepare_llm_int8__scalar(p, x, ldx, m0, m1, scratch);
    }
    return qk_error(QKERN_UNSUPPORTED, "scalar matmul: act=%d", (int)p->act);
}

static qkern_status qk_mm_compute__scalar(void *state, const qk_packed *p, const float *x, int64_t ldx,
                                          const void *scratch, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                                          float *y, int64_t ldy) {
    (void)state;
    switch (p->act) {
    case QKERN_ACT_FLOAT: return qk_mm_compute_float__scalar(p, x, ldx, scratch, m0, m1, n0, n1, y, ldy);
    case QKERN_ACT_I8_DYNAMIC: return qk_mm_compute_i8__scalar(p, x, ldx, scratch, m0, m1, n0, n1, y, ldy);
    case QKERN_ACT_Q8_0:
    case QKERN_ACT_Q8_1: return qk_mm_compute_q8__scalar(p, x, ldx, scratch, m0, m1, n0, n1, y, ldy);
    case QKERN_ACT_FP8_E4M3:
    case QKERN_ACT_FP8_E5M2: return qk_mm_compute_fp8__scalar(p, x, ldx, scratch, m0, m1, n0, n1, y, ldy);
    case QKERN_ACT_LLM_INT8: return qk_mm_compute_llm_int8__scalar(p, x, ldx, scratch, m0, m1, n0, n1, y, ldy);
    }
    return qk_error(QKERN_UNSUPPORTED, "scalar matmul: act=%d", (int)p->act);
}

/* One output element at a time, so any split is valid: m_step = n_step = 1. */
const qk_matmul_ops qk_matmul_ops__scalar = {
    .pack = qk_mm_pack__scalar,
    .act_scratch_bytes = qk_mm_scratch__scalar,
    .prepare_act = qk_mm_prepare__scalar,
    .compute = qk_mm_compute__scalar,
    .m_step = 1,
    .n_step = 1,
};
