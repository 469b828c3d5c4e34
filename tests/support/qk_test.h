/* Shared test helpers: seeded data, sentinel-guarded buffers, backend reporting. */
#ifndef QK_TEST_H
#define QK_TEST_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "qkern/qkern.h"

/* xorshift64*: deterministic across platforms. */
typedef struct qk_rng { uint64_t s; } qk_rng;
void qk_rng_seed(qk_rng *r, uint64_t seed);
uint64_t qk_rng_u64(qk_rng *r);
float qk_rng_uniform(qk_rng *r, float lo, float hi);
float qk_rng_normal(qk_rng *r);

/* Data patterns for round-trip / conformance tables. */
typedef enum qk_pattern {
    QK_PAT_UNIFORM,        /* U(-1, 1) */
    QK_PAT_GAUSS_OUTLIERS, /* N(0,1) with 1 in 64 elements ×20 */
    QK_PAT_CONSTANT,       /* all 0.75 */
    QK_PAT_ZERO,           /* all 0 */
    QK_PAT_COUNT
} qk_pattern;
const char *qk_pattern_name(qk_pattern p);
void qk_fill(float *x, size_t n, qk_pattern p, uint64_t seed);

/* A buffer of `size` bytes with QK_GUARD sentinel bytes before and after it.
 * qk_guard_ok() checks the sentinels are untouched. */
#define QK_GUARD 64
#define QK_SENTINEL 0xA5
typedef struct qk_guarded { unsigned char *base; void *p; size_t size; } qk_guarded;
qk_guarded qk_guarded_alloc(size_t size);
int qk_guard_ok(const qk_guarded *g);
/* 1 if every byte of the payload is still the fill byte (nothing was written). */
int qk_guarded_untouched(const qk_guarded *g);
void qk_guarded_free(qk_guarded *g);

/* Allocates data / scales / zeros for desc × rows × cols, guarded. */
typedef struct qk_qbuf { qkern_qtensor t; qk_guarded data, scales, zeros; } qk_qbuf;
int qk_qbuf_alloc(qk_qbuf *b, qkern_quant_desc desc, int64_t rows, int64_t cols);
int qk_qbuf_guards_ok(const qk_qbuf *b);
void qk_qbuf_free(qk_qbuf *b);

/* A context on the default backend; fails the test on error. QKERN_EXPECT_BACKEND (if set)
 * must match the backend chosen (so a fallback run cannot silently pick another). */
qkern_context *qk_test_context(int threads);

/* Runs the suite (CK_ENV / CK_RUN_CASE respected), printing first which backends this
 * machine exercises and which it skips and why. Returns the process exit code. */
int qk_test_run(Suite *s);

#endif
