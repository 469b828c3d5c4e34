/* The float64 reference of every matmul mode (docs/matmul.md), seeded data patterns and
 * sentinel-guarded buffers: shared by the conformance CLI (qkern-conform) and
 * tests/test_matmul.c. No Check dependency, so the installed CLI does not need it. */
#ifndef QK_CONFORM_REF_H
#define QK_CONFORM_REF_H

#include <stddef.h>
#include <stdint.h>

#include "qkern/qkern.h"

/* ---- data ----------------------------------------------------------------------- */

typedef enum qk_cf_pattern {
    QK_CF_UNIFORM,    /* U(-1, 1) */
    QK_CF_OUTLIERS,   /* N(0,1), 1 in 32 elements ×20 (LLM.int8 outlier columns at threshold 6) */
    QK_CF_ZERO_ROWS,  /* U(-1, 1) with every third row all zero */
    QK_CF_CONSTANT,   /* all 0.75 */
    QK_CF_SPECIAL,    /* U(-1, 1) with NaN, ±Inf, ±huge, denormals and ±0 sprinkled in */
    QK_CF_PATTERN_COUNT
} qk_cf_pattern;

const char *qk_cf_pattern_name(qk_cf_pattern p);
/* rows × cols (row stride ld ≥ cols; the padding gets NaN so a kernel reading it shows). */
void qk_cf_fill(float *x, int64_t rows, int64_t cols, int64_t ld, qk_cf_pattern p, uint64_t seed);

/* ---- guarded buffers -------------------------------------------------------------- */

#define QK_CF_GUARD 64
#define QK_CF_SENTINEL 0xA5

typedef struct qk_cf_buf { unsigned char *base; void *p; size_t size; } qk_cf_buf;
/* size payload bytes between two QK_CF_GUARD sentinel zones; payload pre-filled with the
 * sentinel too. 0 on allocation failure. */
int qk_cf_buf_alloc(qk_cf_buf *b, size_t size);
int qk_cf_buf_guards_ok(const qk_cf_buf *b);
void qk_cf_buf_free(qk_cf_buf *b);

/* A quantised tensor whose data / scales / zeros are guarded buffers. */
typedef struct qk_cf_qt { qkern_qtensor t; qk_cf_buf data, scales, zeros; } qk_cf_qt;
int qk_cf_qt_alloc(qk_cf_qt *q, qkern_quant_desc desc, int64_t rows, int64_t cols);
int qk_cf_qt_guards_ok(const qk_cf_qt *q);
void qk_cf_qt_free(qk_cf_qt *q);

/* ---- reference -------------------------------------------------------------------- */

/* y[m][n] = docs/matmul.md's arithmetic in float64 on the dequantised operands: W through
 * qkern_dequantize, activations quantised by the mode's rule through qkern_quantize (I8
 * ROW, Q8_0, Q8_1, FP8 with the static per-row scale) and then read back exactly; the
 * Q4_1 × Q8_1 min term uses the stored s = f16(d·Σq) as ggml does. mag[m][n] =
 * Σ_k |x_k·w_k| (+ |bias| + |min terms|), the scale of the float bound. ctx should be a
 * scalar context. */
typedef struct qk_cf_ref {
    int64_t m, n;
    double *y, *mag;
    int64_t n_outliers; /* LLM_INT8: outlier columns found */
} qk_cf_ref;

qkern_status qk_cf_reference(qkern_context *ctx, const qkern_qtensor *w, qkern_act_mode act, float threshold,
                             const float *bias, int64_t m, const float *x, int64_t ldx, qk_cf_ref *out);
void qk_cf_ref_free(qk_cf_ref *r);

/* The bound every matmul output is held to: |y − ref| ≤ 1e-5·mag + 1e-6. */
#define QK_CF_REL 1e-5
#define QK_CF_ABS 1e-6
/* Elements of y (ldy) outside the bound of ref (or NaN where ref is finite); *worst gets
 * the largest |y − ref| / bound and *at its index m·n + n. */
int64_t qk_cf_check_bound(const qk_cf_ref *ref, const float *y, int64_t ldy, double *worst, int64_t *at);
/* Same bound between two float outputs, with mag from ref. */
int64_t qk_cf_check_pair(const qk_cf_ref *ref, const float *y, const float *y0, int64_t ldy, double *worst,
                         int64_t *at);

#endif
