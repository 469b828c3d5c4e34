/* qkern-conform: the table of conformance rows and the runner that holds one backend
 * to the scalar reference (docs/conformance.md). */
#ifndef QK_CONFORM_H
#define QK_CONFORM_H

#include <stdint.h>

#include "conformance/conform_ref.h"
#include "kernels/backend.h"

/* Shape sets: expanded into concrete shapes by the runner (see conform_table.c). */
typedef enum qk_cf_shapes {
    QK_CF_SHAPES_QUANT, /* rows ∈ {1, 3, 7, 33} × K ∈ {unit, 4·unit} */
    QK_CF_SHAPES_MATMUL, /* M, N ∈ {1, 2, 3, 7, 16, 33} × K ∈ {unit, 4·unit} */
    QK_CF_SHAPES_QUANT_ODD_K, /* as QUANT with K ∈ {1, 45} (per-row element formats take any K) */
    QK_CF_SHAPES_MATMUL_ODD_K /* as MATMUL with K ∈ {1, 45} */
} qk_cf_shapes;

#define QK_CF_PAT(p) (1u << (p))
#define QK_CF_RANDOM_BYTES QK_CF_PATTERN_COUNT /* dequantise only: random codes */

/* One row of the table: an op on a format (and an activation mode for matmul), the shape
 * set it runs over and the data patterns (bitmask of QK_CF_PAT). */
typedef struct qk_cf_row {
    qk_op op;
    qkern_quant_desc d;
    qkern_act_mode act;
    qk_cf_shapes shapes;
    unsigned patterns;
} qk_cf_row;

extern const qk_cf_row qk_cf_table[];
extern const int qk_cf_table_len;

/* "quantize Q4_0 g32", "matmul I4 g128 asym × i8" */
void qk_cf_row_label(const qk_cf_row *r, char *buf, size_t n);

typedef enum qk_cf_verdict { QK_CF_PASS, QK_CF_FAIL, QK_CF_FALLBACK, QK_CF_SKIP } qk_cf_verdict;

typedef struct qk_cf_result {
    qk_cf_verdict v;
    int64_t cases, failed, native; /* native: cases the backend itself ran (not scalar fallback) */
    char first_failure[256];
} qk_cf_result;

typedef struct qk_cf_opts {
    int quick;
    int verbose;
    uint64_t seed;
} qk_cf_opts;

/* Runs one row on ctx (the backend under test; is_scalar when it is the scalar column)
 * against ref_ctx (scalar, one thread). */
void qk_cf_run_row(const qk_cf_row *r, qkern_context *ctx, const char *backend, qkern_context *ref_ctx,
                   const qk_cf_opts *o, qk_cf_result *res);
/* Shapes × patterns the row expands to. */
int64_t qk_cf_row_cases(const qk_cf_row *r, int quick);

#endif
