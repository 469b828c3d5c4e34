/* Internal to the scalar matmul family (matmul_*.c): the packed object and the per-mode
 * entry points that matmul_scalar.c dispatches to. docs/matmul.md is the arithmetic. */
#ifndef QK_MATMUL_SCALAR_H
#define QK_MATMUL_SCALAR_H

#include <stdint.h>
#include <string.h>

#include "backends/scalar/scalar.h"

/* Scalar "packing" is a private copy of W as the caller stored it (the caller may free
 * its buffers after pack); w points into this allocation. */
typedef struct qk_mm_scalar {
    qkern_qtensor w;
    qk_layout L;
} qk_mm_scalar;

static inline const qk_mm_scalar *qk_mm_scalar_of(const qk_packed *p) { return (const qk_mm_scalar *)p->data; }

/* Rows of X per W chunk in the float paths: a chunk is dequantised once per this many rows
 * (32 = the front end's row block, so a large-M call dequantises W once per block). */
#define QK_MM_SCALAR_ROWS 32
/* Elements of W dequantised at a time in the float paths (one stack buffer). */
#define QK_MM_SCALAR_CHUNK 64

typedef qkern_status (*qk_mm_compute_fn)(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                         int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy);
typedef qkern_status (*qk_mm_prepare_fn)(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                         void *scratch);

/* matmul_float.c: QKERN_ACT_FLOAT for every weight format. Also dequantises chunks of
 * W for the LLM.int8 outlier part. */
qkern_status qk_mm_compute_float__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                         int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy);

/* matmul_i8.c: QKERN_ACT_I8_DYNAMIC (I8, I4). Scratch: sx[m] (f32), then qx (m × k int8). */
size_t qk_mm_scratch_i8__scalar(const qk_packed *p, int64_t m);
qkern_status qk_mm_prepare_i8__scalar(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                      void *scratch);
qkern_status qk_mm_compute_i8__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                      int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy);
/* The I8 activation rule of docs/matmul.md on one row (mask: outlier columns → 0, or NULL). */
void qk_mm_quantize_act_i8__scalar(const float *x, const uint8_t *mask, int64_t k, float *sx, int8_t *qx);

/* matmul_ggml.c: QKERN_ACT_Q8_0 (Q4_0, Q8_0 weights), QKERN_ACT_Q8_1 (Q4_1). Scratch: m rows of k/32 blocks. */
size_t qk_mm_scratch_q8__scalar(const qk_packed *p, int64_t m);
qkern_status qk_mm_prepare_q8__scalar(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                      void *scratch);
qkern_status qk_mm_compute_q8__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                      int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy);

/* matmul_fp8.c: FP8 × FP8. Scratch: sx[m] (f32), then qx (m × k FP8 codes). */
size_t qk_mm_scratch_fp8__scalar(const qk_packed *p, int64_t m);
qkern_status qk_mm_prepare_fp8__scalar(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                       void *scratch);
qkern_status qk_mm_compute_fp8__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                       int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy);

/* matmul_llm_int8.c: LLM.int8 (I8 ROW weights). Scratch: the front end's outlier header
 * (kernels/backend.h), then sx[m] (f32), then qx (m × k int8). */
size_t qk_mm_scratch_llm_int8__scalar(const qk_packed *p, int64_t m);
qkern_status qk_mm_prepare_llm_int8__scalar(const qk_packed *p, const float *x, int64_t ldx, int64_t m0, int64_t m1,
                                            void *scratch);
qkern_status qk_mm_compute_llm_int8__scalar(const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                                            int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy);

/* Dequantises W[n][k0 .. k0+c) into out (c ≤ QK_MM_SCALAR_CHUNK, the chunk inside one
 * scale group / ggml block), through the format's own scalar dequantiser. */
void qk_mm_dequant_chunk__scalar(const qk_mm_scalar *s, int64_t n, int64_t k0, int64_t c, float *out);
/* The length of the chunk starting at k0: up to the end of its scale group, at most
 * QK_MM_SCALAR_CHUNK (32 for ggml blocks). */
int64_t qk_mm_chunk_len__scalar(const qk_mm_scalar *s, int64_t k0);

/* sizes: a + b·c with overflow → SIZE_MAX */
static inline size_t qk_mm_size_madd(size_t a, size_t b, size_t c) {
    if (c && b > (SIZE_MAX - a) / c) return SIZE_MAX;
    return a + b * c;
}

#endif
