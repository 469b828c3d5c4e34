#include "support/qk_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qk_rng_seed(qk_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull; if (!r->s) r->s = 1; }

uint64_t qk_rng_u64(qk_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

float qk_rng_uniform(qk_rng *r, float lo, float hi) {
    double u = (double)(qk_rng_u64(r) >> 11) * 0x1p-53;
    return (float)(lo + (hi - lo) * u);
}

float qk_rng_normal(qk_rng *r) {
    double u1 = ((double)(qk_rng_u64(r) >> 11) + 1.0) * 0x1p-53;
    double u2 = (double)(qk_rng_u64(r) >> 11) * 0x1p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

const char *qk_pattern_name(qk_pattern p) {
    static const char *const n[] = {"uniform", "gauss+outliers", "constant", "zero"};
    return p < QK_PAT_COUNT ? n[p] : "?";
}

void qk_fill(float *x, size_t n, qk_pattern p, uint64_t seed) {
    qk_rng r;
    qk_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        switch (p) {
        case QK_PAT_UNIFORM: x[i] = qk_rng_uniform(&r, -1.0f, 1.0f); break;
        case QK_PAT_GAUSS_OUTLIERS:
            x[i] = qk_rng_normal(&r);
            if ((qk_rng_u64(&r) & 63) == 0) x[i] *= 20.0f;
            break;
        case QK_PAT_CONSTANT: x[i] = 0.75f; break;
        default: x[i] = 0.0f; break;
        }
    }
}

qk_guarded qk_guarded_alloc(size_t size) {
    qk_guarded g = {NULL, NULL, size};
    g.base = malloc(size + 2 * QK_GUARD);
    ck_assert_ptr_nonnull(g.base);
    memset(g.base, QK_SENTINEL, size + 2 * QK_GUARD);
    g.p = g.base + QK_GUARD;
    return g;
}

int qk_guard_ok(const qk_guarded *g) {
    if (!g->base) return 1;
    for (size_t i = 0; i < QK_GUARD; i++)
        if (g->base[i] != QK_SENTINEL || g->base[QK_GUARD + g->size + i] != QK_SENTINEL) return 0;
    return 1;
}

int qk_guarded_untouched(const qk_guarded *g) {
    if (!g->base) return 1;
    for (size_t i = 0; i < g->size; i++)
        if (g->base[QK_GUARD + i] != QK_SENTINEL) return 0;
    return 1;
}

void qk_guarded_free(qk_guarded *g) {
    free(g->base);
    g->base = NULL;
    g->p = NULL;
}

int qk_qbuf_alloc(qk_qbuf *b, qkern_quant_desc desc, int64_t rows, int64_t cols) {
    memset(b, 0, sizeof *b);
    size_t db, sb, zb;
    if (qkern_qtensor_sizes(&desc, rows, cols, &db, &sb, &zb) != QKERN_OK) return 0;
    b->data = qk_guarded_alloc(db);
    if (sb) b->scales = qk_guarded_alloc(sb);
    if (zb) b->zeros = qk_guarded_alloc(zb);
    b->t.desc = desc;
    b->t.rows = rows;
    b->t.cols = cols;
    b->t.data = b->data.p;
    b->t.data_bytes = db;
    b->t.scales = b->scales.p;
    b->t.scales_bytes = sb;
    b->t.zeros = b->zeros.p;
    b->t.zeros_bytes = zb;
    return 1;
}

int qk_qbuf_guards_ok(const qk_qbuf *b) {
    return qk_guard_ok(&b->data) && qk_guard_ok(&b->scales) && qk_guard_ok(&b->zeros);
}

void qk_qbuf_free(qk_qbuf *b) {
    qk_guarded_free(&b->data);
    qk_guarded_free(&b->scales);
    qk_guarded_free(&b->zeros);
}

qkern_context *qk_test_context(int threads) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.threads = threads;
    qkern_context *ctx = NULL;
    qkern_status s = qkern_context_create(&o, &ctx);
    ck_assert_msg(s == QKERN_OK, "qkern_context_create: %s: %s", qkern_status_name(s), qkern_last_error());
    const char *expect = getenv("QKERN_EXPECT_BACKEND");
    if (expect && *expect)
        ck_assert_msg(strcmp(expect, qkern_context_backend(ctx)) == 0, "QKERN_EXPECT_BACKEND=%s but the context chose %s",
                      expect, qkern_context_backend(ctx));
    return ctx;
}

int qk_test_run(Suite *s) {
    qkern_context *ctx = NULL;
    if (qkern_context_create(NULL, &ctx) == QKERN_OK) {
        char buf[8192];
        qkern_context_describe(ctx, buf, sizeof buf, NULL);
        /* The header of describe: features and backends (the op table is long). */
        char *ops = strstr(buf, "quantize:");
        if (ops) *ops = '\0';
        printf("%s", buf);
        qkern_context_destroy(ctx);
    } else {
        printf("context: %s\n", qkern_last_error());
    }
    fflush(stdout);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
