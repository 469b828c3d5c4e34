/* Internal: the table every backend registers, and the objects the front end hands it.
 *
 * A backend is data: a probe, optional per-context state, and one entry per op.
 * An entry returns QKERN_UNSUPPORTED for a format / mode it lacks; the front end
 * then falls back to scalar and records that choice (qkern_context_describe). */
#ifndef QK_BACKEND_H
#define QK_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "qkern/format.h"
#include "qkern/matmul.h"

typedef enum qk_op { QK_OP_QUANTIZE = 0, QK_OP_DEQUANTIZE = 1, QK_OP_MATMUL = 2, QK_OP_COUNT } qk_op;

/* A packed weight matrix (the public qkern_packed_weights). The backend owns `data`. */
struct qkern_packed_weights {
    const struct qk_backend *backend;
    void *backend_state;          /* the state of the backend that packed it */
    qkern_quant_desc desc;        /* format, group, flags of W */
    qkern_act_mode act;
    int64_t n, k;
    float outlier_threshold;      /* LLM_INT8 */
    float *bias;                  /* N floats or NULL (owned) */
    void *data;                   /* backend layout */
    size_t data_bytes;
    void (*free_data)(void *data, void *backend_state);
    char kernel[112];             /* the kernel name that runs, for info / describe */
};
typedef struct qkern_packed_weights qk_packed;

/* The matmul entries of a backend. The front end:
 *   1. calls act_scratch_bytes(p, m) and allocates that much scratch,
 *   2. calls prepare_act over row ranges [m0, m1) (in parallel for CPU backends) to
 *      quantise activations into scratch (a no-op for QKERN_ACT_FLOAT if it wishes),
 *   3. calls compute over tiles [m0, m1) × [n0, n1) (in parallel), n0 a multiple of n_step.
 *      m0 is a multiple of m_step. How the range is split never depends on the thread count.
 *      act_scratch_bytes returns SIZE_MAX if the size overflows.
 * A threaded == 0 backend (OpenCL) gets each call once over the whole range. */
typedef struct qk_matmul_ops {
    qkern_status (*pack)(void *state, const qkern_qtensor *w, const qkern_matmul_options *opts, qk_packed *p);
    size_t (*act_scratch_bytes)(const qk_packed *p, int64_t m);
    qkern_status (*prepare_act)(void *state, const qk_packed *p, const float *x, int64_t ldx,
                                int64_t m0, int64_t m1, void *scratch);
    qkern_status (*compute)(void *state, const qk_packed *p, const float *x, int64_t ldx, const void *scratch,
                            int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y, int64_t ldy);
    int64_t m_step, n_step;       /* the tile geometry work is split along */
} qk_matmul_ops;

/* QKERN_ACT_LLM_INT8: which activation columns are outliers is decided over the whole
 * M×K call, before any row is quantised, so every backend (and every thread) sees one
 * mask. The front end writes this header at the start of scratch before prepare_act;
 * a backend's act_scratch_bytes must include qk_llm_int8_header_bytes(k) and put its
 * own data after it. mask[k] = 1: column k is an outlier (|x[m][k]| > threshold for some m);
 * the outlier columns are also listed in ascending order (n_outliers of them), so that a
 * kernel visits only those: a scan of the mask per tile costs K per tile, more than the
 * int8 work of a GEMV. */
typedef struct qk_llm_int8_header {
    int64_t k;
    int64_t n_outliers;
    /* uint8_t mask[k], padded to 8 bytes, then int64_t list[n_outliers ≤ k] follow */
} qk_llm_int8_header;
static inline size_t qk_llm_int8_list_offset(int64_t k) {
    return sizeof(qk_llm_int8_header) + (((size_t)k + 7u) & ~(size_t)7u);
}
static inline size_t qk_llm_int8_header_bytes(int64_t k) {
    return (qk_llm_int8_list_offset(k) + (size_t)k * sizeof(int64_t) + 63u) & ~(size_t)63u;
}
static inline const uint8_t *qk_llm_int8_mask(const void *scratch) {
    return (const uint8_t *)scratch + sizeof(qk_llm_int8_header);
}
static inline const int64_t *qk_llm_int8_list(const void *scratch, int64_t k) {
    return (const int64_t *)(const void *)((const uint8_t *)scratch + qk_llm_int8_list_offset(k));
}

typedef struct qk_backend {
    const char *name;   /* "scalar", "x86", "neon", "opencl" */
    /* 1 if the backend can run on this machine given cpu (features after QKERN_DISABLE); else 0 and why. */
    int (*probe)(uint64_t cpu, char *why, size_t why_size);
    /* Optional per-context state (OpenCL device, queue, program cache). NULL = none needed. */
    qkern_status (*open)(uint64_t cpu, void **state, char *why, size_t why_size);
    void (*close)(void *state);
    /* Name of the kernel for op × desc (× act for matmul), or NULL if the backend lacks it. */
    const char *(*kernel_name)(void *state, qk_op op, const qkern_quant_desc *desc, qkern_act_mode act);
    int threaded;       /* 1: the front end splits work over the CPU pool */

    /* Rows [r0, r1) of src (dst->rows × dst->cols f32, row-major). Scales with granularity
     * QKERN_GROUP_TENSOR are already in dst (the front end sets QKERN_QUANT_STATIC_SCALES). */
    qkern_status (*quantize)(void *state, const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1);
    /* Rows [r0, r1) of src into dst (row-major f32, src->cols per row, dst points at row 0). */
    qkern_status (*dequantize)(void *state, const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1);
    /* Optional, for QKERN_GROUP_TENSOR scales (I8_ASYM, FP8): n elements of src reduced to
     * the values qk_tensor_reduce__scalar gives (min / max, exact in any order). The front
     * end calls it on chunks over the pool when this backend quantises; NULL: scalar's. */
    void (*tensor_reduce)(qkern_format f, const float *src, size_t n, float *lo, float *hi);
    const qk_matmul_ops *matmul; /* NULL if the backend has no matmul */
} qk_backend;

/* Registered backends, in order of preference for "best" (scalar last). */
extern const qk_backend qk_backend_scalar;
#if defined(QKERN_HAVE_X86)
extern const qk_backend qk_backend_x86;
#endif
#if defined(QKERN_HAVE_NEON)
extern const qk_backend qk_backend_neon;
#endif
#if defined(QKERN_HAVE_OPENCL)
extern const qk_backend qk_backend_opencl;
#endif

#endif
