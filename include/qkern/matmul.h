/* qkern — matmul Y[M×N] = X[M×K] · Wᵀ (+ bias), W[N×K] quantised along K.
 *
 * Weights are packed once into an opaque, backend-specific object, then used for
 * any number of matmuls (decode GEMV at M = 1 and prefill GEMM at large M alike). */
#ifndef QKERN_MATMUL_H
#define QKERN_MATMUL_H

#include "qkern/context.h"
#include "qkern/format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qkern_act_mode {
    QKERN_ACT_FLOAT = 0,      /* f32 activations; weights dequantised on the fly (W4A32, W8A32, FP8 weights) */
    QKERN_ACT_I8_DYNAMIC = 1, /* activations quantised to int8 per row at run time (W8A8, W4A8) */
    QKERN_ACT_Q8_0 = 2,       /* activations quantised to Q8_0 blocks (ggml's pair for Q4_0, Q8_0) */
    QKERN_ACT_Q8_1 = 3,       /* activations quantised to Q8_1 blocks (ggml's pair for Q4_1) */
    QKERN_ACT_FP8_E4M3 = 4,   /* FP8 × FP8: activations quantised to FP8 with a per-row scale */
    QKERN_ACT_FP8_E5M2 = 5,
    QKERN_ACT_LLM_INT8 = 6    /* LLM.int8(): outlier activation columns in float, the rest int8 */
} qkern_act_mode;

typedef struct qkern_matmul_options {
    qkern_act_mode act;
    const float *bias;        /* N floats, or NULL; copied at pack time */
    float outlier_threshold;  /* LLM_INT8: |x| above this makes a column an outlier; 0 → 6.0 */
} qkern_matmul_options;

typedef struct qkern_packed_weights qkern_packed_weights;

QKERN_API void qkern_matmul_options_init(qkern_matmul_options *opts);

/* Packs w (N = w->rows, K = w->cols) for the given activation mode on the context's
 * backend for matmul (falling back to scalar where that backend lacks the pair). */
QKERN_API qkern_status qkern_pack_weights(qkern_context *ctx, const qkern_qtensor *w,
                                          const qkern_matmul_options *opts, qkern_packed_weights **out);
/* Destroy every packed object before the context that packed it (a device backend frees
 * its buffers through the context's device state). NULL is a no-op. */
QKERN_API void qkern_packed_weights_destroy(qkern_packed_weights *w);

/* N, K, the backend that packed it and the kernel name that will run
 * (e.g. "qk_gemm_i8_q4_0_4x16c4__avx512vnni"). Any out-pointer may be NULL. */
QKERN_API qkern_status qkern_packed_weights_info(const qkern_packed_weights *w, int64_t *n, int64_t *k,
                                                 const char **backend, const char **kernel);

/* Y = X·Wᵀ + bias. x: M rows of K floats, row stride ldx ≥ K; y: M rows of N floats, stride ldy ≥ N. */
QKERN_API qkern_status qkern_matmul(qkern_context *ctx, const qkern_packed_weights *w, int64_t m,
                                    const float *x, int64_t ldx, float *y, int64_t ldy);

#ifdef __cplusplus
}
#endif
#endif
