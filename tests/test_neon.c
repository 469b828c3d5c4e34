/* The NEON backend against scalar, at every ISA level this CPU has (plain NEON, +dotprod,
 * +i8mm): packed panels bit-exact to the layout neon.h states; integer matmul modes on data
 * whose every product and scale is exact in f32, so Y must equal scalar's Y bit for bit
 * (any difference in an int32 group sum shows); activation-quantisation bytes equal to
 * qkern_quantize's on scalar (NaN, ±Inf, huge values included); quantise / dequantise bytes
 * equal to scalar's; tails of M, N and K; and the kernels describe reports per HWCAP.
 * On a non-AArch64 build it only says it was skipped (the backend is not compiled in). */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/qk_test.h"

#if !defined(QKERN_HAVE_NEON)

START_TEST(test_neon_absent) {
    qkern_context *ctx = qk_test_context(1);
    ck_assert_str_ne(qkern_context_backend(ctx), "neon");
    printf("neon: skipped, not an AArch64 build (the NEON backend is not compiled in)\n");
    qkern_context_destroy(ctx);
}
END_TEST

static Suite *neon_suite(void) {
    Suite *s = suite_create("neon");
    TCase *tc = tcase_create("neon");
    tcase_add_test(tc, test_neon_absent);
    suite_add_tcase(s, tc);
    return s;
}

#else

#include "backends/neon/neon.h"
#include "kernels/format_fp8.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"
#include "kernels/format_int.h"

static qkern_context *qk_ctx_named(const char *name) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = name;
    o.threads = 1;
    qkern_context *ctx = NULL;
    if (qkern_context_create(&o, &ctx) != QKERN_OK) return NULL;
    return ctx;
}

/* The neon context, or NULL (with a message) when NEON is masked (QKERN_DISABLE=all) or
 * another backend is forced: then there is nothing of this backend to test. */
static qkern_context *qk_neon_ctx(void) {
    const char *env = getenv("QKERN_BACKEND");
    if (env && *env && strcmp(env, "neon") != 0) {
        printf("neon: skipped, QKERN_BACKEND=%s\n", env);
        return NULL;
    }
    qkern_context *ctx = qk_ctx_named("neon");
    if (!ctx) printf("neon: skipped, %s\n", qkern_last_error());
    return ctx;
}

/* The ISA levels this CPU runs (after QKERN_DISABLE). */
static int qk_levels(qk_neon_isa out[3]) {
    uint64_t f = qkern_cpu_features();
    int n = 0;
    out[n++] = QK_NEON_PLAIN;
    if (f & QKERN_CPU_DOTPROD) out[n++] = QK_NEON_DOTPROD;
    if ((f & QKERN_CPU_DOTPROD) && (f & QKERN_CPU_I8MM)) out[n++] = QK_NEON_I8MM;
    return n;
}

static const char *qk_level_name(qk_neon_isa i) {
    return i == QK_NEON_I8MM ? "i8mm" : i == QK_NEON_DOTPROD ? "dotprod" : "plain";
}

/* ---- describe: which kernels this CPU gets -------------------------------------- */

START_TEST(test_describe_kernels) {
    qkern_context *ctx = qk_neon_ctx();
    if (!ctx) { ck_assert(1); return; }
    ck_assert_str_eq(qkern_context_backend(ctx), "neon");
    char *buf = malloc(65536);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(qkern_context_describe(ctx, buf, 65536, NULL), QKERN_OK);
    uint64_t f = qkern_cpu_features();
    const char *want = (f & QKERN_CPU_I8MM) && (f & QKERN_CPU_DOTPROD) ? "qk_gemm_q8_0_q4_0_4x8c8__i8mm"
                       : (f & QKERN_CPU_DOTPROD)                       ? "qk_gemm_q8_0_q4_0_4x8c4__dotprod"
                                                                       : "qk_gemm_q8_0_q4_0_4x8c4__neon";
    ck_assert_msg(strstr(buf, want) != NULL, "describe lacks %s:\n%s", want, buf);
    ck_assert_ptr_nonnull(strstr(buf, "qk_gemm_f32_nf4_4x8c4__neon"));
    ck_assert_ptr_nonnull(strstr(buf, "qk_quant_q4_0__neon"));
    /* Which kernels run in this process: the op tables of describe. */
    char *mm = strstr(buf, "quantize:");
    qk_neon_isa lv[3];
    printf("neon kernels on this CPU (best level: %s):\n%s", qk_level_name(lv[qk_levels(lv) - 1]), mm ? mm : buf);
    free(buf);
    qkern_context_destroy(ctx);
}
END_TEST

/* ---- packed layout ---------------------------------------------------------------- */

static qk_packed *qk_neon_pack_direct(const qkern_qtensor *w, qkern_act_mode act) {
    qk_packed *p = calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = act;
    p->act = act;
    p->desc = w->desc;
    p->n = w->rows;
    p->k = w->cols;
    qkern_status s = qk_matmul_ops__neon.pack(NULL, w, &o, p);
    ck_assert_msg(s == QKERN_OK, "neon pack: %s", qkern_last_error());
    return p;
}

static void qk_neon_pack_free(qk_packed *p) {
    p->free_data(p->data, NULL);
    free(p);
}

/* I8 (ROW, K not a multiple of 16, N not a multiple of 8): every byte of every panel. */
START_TEST(test_pack_layout_i8) {
    const int64_t n = 11, k = 40;
    qk_qbuf w;
    ck_assert(qk_qbuf_alloc(&w, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, n, k));
    int8_t *q = w.t.data;
    float *sc = w.t.scales;
    for (int64_t i = 0; i < n * k; i++) q[i] = (int8_t)((i * 37 + 11) % 255 - 127);
    for (int64_t i = 0; i < n; i++) sc[i] = 0.5f + (float)i;
    qk_packed *p = qk_neon_pack_direct(&w.t, QKERN_ACT_I8_DYNAMIC);
    const qk_neon_pack *h = p->data;
    ck_assert_int_eq(h->panel, QK_PANEL_I8);
    ck_assert_int_eq(h->gp, 48);
    ck_assert_int_eq(h->panels, 2);
    ck_assert_uint_eq(h->data_bytes_group, 48 * 8);
    for (int64_t pn = 0; pn < h->panels; pn++) {
        const unsigned char *b = qk_neon_panel_ptr(h, pn);
        for (int col = 0; col < 8; col++) {
            int64_t nn = pn * 8 + col;
            for (int64_t kk = 0; kk < h->gp; kk++) {
                size_t off = (size_t)(kk / 16) * 128 + (size_t)(2 * ((kk % 16) / 4) + col / 4) * 16 +
                             (size_t)(col % 4) * 4 + (size_t)(kk % 4);
                int want = nn < n && kk < k ? q[nn * k + kk] : 0;
                ck_assert_msg((int8_t)b[off] == want, "panel %lld col %d k %lld: %d != %d", (long long)pn, col,
                              (long long)kk, (int8_t)b[off], want);
            }
            float s;
            memcpy(&s, b + h->data_bytes_group + 4 * (size_t)col, 4);
            ck_assert(s == (nn < n ? sc[nn] : 0.0f));
        }
    }
    qk_neon_pack_free(p);
    qk_qbuf_free(&w);
}
END_TEST

/* Q4_0: the 4-bit panel, two 16-k steps per byte, nibble − 8 as a two's-complement nibble. */
START_TEST(test_pack_layout_q4_0) {
    const int64_t n = 9, k = 64;
    qk_qbuf w;
    ck_assert(qk_qbuf_alloc(&w, (qkern_quant_desc){QKERN_Q4_0, 32, 0}, n, k));
    unsigned char *raw = w.t.data;
    for (size_t i = 0; i < w.t.data_bytes; i++) raw[i] = (unsigned char)(i * 73 + 5);
    for (int64_t r = 0; r < n; r++)
        for (int64_t b = 0; b < k / 32; b++) { /* finite f16 scales */
            uint16_t d = qk_f32_to_f16(0.25f * (float)(r + 1));
            memcpy(raw + (size_t)r * w.t.data_bytes / (size_t)n + (size_t)b * 18, &d, 2);
        }
    qk_packed *p = qk_neon_pack_direct(&w.t, QKERN_ACT_Q8_0);
    const qk_neon_pack *h = p->data;
    ck_assert_int_eq(h->panel, QK_PANEL_S4);
    ck_assert_int_eq(h->groups, 2);
    for (int64_t pn = 0; pn < h->panels; pn++) {
        for (int64_t G = 0; G < h->groups; G++) {
            const unsigned char *b = qk_neon_panel_ptr(h, pn) + (size_t)G * h->group_bytes;
            for (int col = 0; col < 8; col++) {
                int64_t nn = pn * 8 + col;
                const unsigned char *blk = raw + (size_t)nn * 18 * 2 + (size_t)G * 18;
                for (int kk = 0; kk < 32; kk++) {
                    size_t off = (size_t)(2 * ((kk % 16) / 4) + col / 4) * 16 + (size_t)(col % 4) * 4 + (size_t)(kk % 4);
                    int nib = kk < 16 ? b[off] & 15 : b[off] >> 4;
                    int got = nib >= 8 ? nib - 16 : nib;
                    int want = 0;
                    if (nn < n) want = (kk < 16 ? (blk[2 + kk] & 15) : (blk[2 + kk - 16] >> 4)) - 8;
                    ck_assert_msg(got == want, "panel %lld G %lld col %d k %d: %d != %d", (long long)pn, (long long)G,
                                  col, kk, got, want);
                }
                uint16_t d;
                memcpy(&d, b + h->data_bytes_group + 2 * (size_t)col, 2);
                uint16_t wd = 0;
                if (nn < n) memcpy(&wd, blk, 2);
                ck_assert_uint_eq(d, wd);
            }
        }
    }
    qk_neon_pack_free(p);
    qk_qbuf_free(&w);
}
END_TEST

/* ---- exact integer modes: Y bit-identical to scalar at every ISA level ------------- */

typedef struct qk_exact_mode {
    qkern_quant_desc d;
    qkern_act_mode act;
    int64_t k;
} qk_exact_mode;

static const qk_exact_mode qk_exact_modes[] = {
    {{QKERN_I8, QKERN_GROUP_ROW, 0}, QKERN_ACT_I8_DYNAMIC, 200},  /* K tail: 200 = 12·16 + 8 */
    {{QKERN_I8, 32, 0}, QKERN_ACT_I8_DYNAMIC, 96},
    {{QKERN_I8, 5, 0}, QKERN_ACT_I8_DYNAMIC, 40},                 /* groups padded 5 -> 16 */
    {{QKERN_I4, 32, 0}, QKERN_ACT_I8_DYNAMIC, 128},               /* 4-bit signed panel */
    {{QKERN_I4, 64, QKERN_QUANT_ASYMMETRIC}, QKERN_ACT_I8_DYNAMIC, 128}, /* unsigned panel − z·Σqx */
    {{QKERN_I4, 16, QKERN_QUANT_ASYMMETRIC}, QKERN_ACT_I8_DYNAMIC, 48},  /* int8 panel fallback */
    {{QKERN_I4, QKERN_GROUP_ROW, 0}, QKERN_ACT_I8_DYNAMIC, 96},
    {{QKERN_Q4_0, 32, 0}, QKERN_ACT_Q8_0, 128},
    {{QKERN_Q8_0, 32, 0}, QKERN_ACT_Q8_0, 96},
    {{QKERN_Q4_1, 32, 0}, QKERN_ACT_Q8_1, 96},
};
#define QK_N_EXACT ((int)(sizeof qk_exact_modes / sizeof qk_exact_modes[0]))

/* X: multiples of 1/16 in [−127/16, 127/16] with ±127/16 in every 32-block, so every
 * activation scale is exactly 1/16 and every code is x·16. */
static void qk_exact_x(float *x, int64_t m, int64_t k, int64_t ldx, uint64_t seed) {
    qk_rng r;
    qk_rng_seed(&r, seed);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldx; j++) {
            int v = (int)(qk_rng_u64(&r) % 255) - 127;
            if (j % 32 == 0) v = (qk_rng_u64(&r) & 1) ? 127 : -127;
            x[i * ldx + j] = j < k ? (float)v / 16.0f : NAN; /* padding must never be read */
        }
}

/* W: random codes with power-of-two scales (exact in f16 and f32) and small zeros / mins. */
static void qk_exact_w(qk_qbuf *w, uint64_t seed) {
    qk_rng r;
    qk_rng_seed(&r, seed);
    unsigned char *raw = w->t.data;
    for (size_t i = 0; i < w->t.data_bytes; i++) raw[i] = (unsigned char)qk_rng_u64(&r);
    qkern_format f = w->t.desc.format;
    if (f == QKERN_I8) {
        int8_t *q = w->t.data;
        for (size_t i = 0; i < w->t.data_bytes; i++)
            if (q[i] == -128) q[i] = -127; /* the I8 format's range */
        float *s = w->t.scales;
        for (size_t i = 0; i < w->t.scales_bytes / 4; i++) s[i] = (qk_rng_u64(&r) & 1) ? 0.5f : 0.25f;
    } else if (f == QKERN_I4) {
        uint16_t *s = w->t.scales;
        for (size_t i = 0; i < w->t.scales_bytes / 2; i++) s[i] = qk_f32_to_f16((qk_rng_u64(&r) & 1) ? 0.5f : 0.25f);
        uint8_t *z = w->t.zeros;
        for (size_t i = 0; i < w->t.zeros_bytes; i++) z[i] = (uint8_t)(qk_rng_u64(&r) % 16);
    } else {
        size_t bb = f == QKERN_Q4_0 ? 18 : f == QKERN_Q8_0 ? 34 : 20;
        for (size_t b = 0; b < w->t.data_bytes / bb; b++) {
            uint16_t d = qk_f32_to_f16((qk_rng_u64(&r) & 1) ? 0.5f : 0.25f);
            memcpy(raw + b * bb, &d, 2);
            if (f == QKERN_Q4_1) {
                uint16_t m = qk_f32_to_f16((qk_rng_u64(&r) & 1) ? -0.125f : 0.0625f);
                memcpy(raw + b * bb + 2, &m, 2);
            }
        }
    }
}

static qkern_packed_weights *qk_pack_ctx(qkern_context *ctx, const qkern_qtensor *w, qkern_act_mode act,
                                         const float *bias) {
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = act;
    o.bias = bias;
    qkern_packed_weights *p = NULL;
    qkern_status s = qkern_pack_weights(ctx, w, &o, &p);
    ck_assert_msg(s == QKERN_OK, "pack: %s", qkern_last_error());
    return p;
}

START_TEST(test_exact_modes) {
    const qk_exact_mode *md = &qk_exact_modes[_i];
    qkern_context *nc = qk_neon_ctx();
    if (!nc) { ck_assert(1); return; }
    qkern_context *sc = qk_ctx_named("scalar");
    ck_assert_ptr_nonnull(sc);
    static const int64_t ms[] = {1, 2, 3, 4, 5, 7, 9};
    static const int64_t ns[] = {1, 7, 8, 9, 17};
    qk_neon_isa levels[3];
    const int nl = qk_levels(levels);
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int64_t n = ns[ni], k = md->k;
        qk_qbuf w;
        ck_assert(qk_qbuf_alloc(&w, md->d, n, k));
        qk_exact_w(&w, 100 + (uint64_t)ni);
        float *bias = malloc((size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++) bias[j] = 0.25f * (float)(j % 5) - 0.5f;
        qkern_packed_weights *ps = qk_pack_ctx(sc, &w.t, md->act, bias);
        qkern_packed_weights *pn = qk_pack_ctx(nc, &w.t, md->act, bias);
        const char *be = NULL;
        qkern_packed_weights_info(pn, NULL, NULL, &be, NULL);
        ck_assert_str_eq(be, "neon");
        qk_neon_pack *h = pn->data;
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
            const int64_t m = ms[mi], ldx = k + 3, ldy = n + 1;
            float *x = malloc((size_t)(m * ldx) * sizeof(float));
            qk_exact_x(x, m, k, ldx, 7 + (uint64_t)mi);
            qk_guarded yr = qk_guarded_alloc((size_t)(m * ldy) * sizeof(float));
            qk_guarded yn = qk_guarded_alloc((size_t)(m * ldy) * sizeof(float));
            ck_assert_int_eq(qkern_matmul(sc, ps, m, x, ldx, yr.p, ldy), QKERN_OK);
            for (int l = 0; l < nl; l++) {
                h->isa = levels[l];
                memset(yn.p, 0xA5, yn.size);
                ck_assert_msg(qkern_matmul(nc, pn, m, x, ldx, yn.p, ldy) == QKERN_OK, "%s", qkern_last_error());
                ck_assert(qk_guard_ok(&yn));
                const float *a = yr.p, *b = yn.p;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++)
                        ck_assert_msg(memcmp(&a[i * ldy + j], &b[i * ldy + j], 4) == 0,
                                      "%s %s M=%lld N=%lld K=%lld y[%lld][%lld]: scalar %.9g, neon(%s) %.9g",
                                      pn->kernel, qk_level_name(levels[l]), (long long)m, (long long)n, (long long)k,
                                      (long long)i, (long long)j, (double)a[i * ldy + j], qk_level_name(levels[l]), (double)b[i * ldy + j]);
                /* ldy padding untouched */
                const unsigned char *yb = yn.p;
                for (int64_t i = 0; i + 1 < m; i++)
                    for (int t = 0; t < 4; t++) ck_assert_uint_eq(yb[(size_t)(i * ldy + n) * 4 + (size_t)t], 0xA5);
            }
            qk_guarded_free(&yr);
            qk_guarded_free(&yn);
            free(x);
        }
        qkern_packed_weights_destroy(ps);
        qkern_packed_weights_destroy(pn);
        free(bias);
        qk_qbuf_free(&w);
    }
    qkern_context_destroy(sc);
    qkern_context_destroy(nc);
}
END_TEST

/* ---- activation quantisation bytes -------------------------------------------------- */

static void qk_special_row(float *x, int64_t k, uint64_t seed) {
    qk_fill(x, (size_t)k, QK_PAT_GAUSS_OUTLIERS, seed);
    static const float sp[] = {NAN, INFINITY, -INFINITY, 1e30f, -3e38f, 1e-40f, -0.0f};
    for (int64_t i = 0; i < k; i += 13) x[i] = sp[(i / 13) % 7];
}

START_TEST(test_act_bytes_q8) {
    qkern_context *nc = qk_neon_ctx();
    if (!nc) { ck_assert(1); return; }
    qkern_context *sc = qk_ctx_named("scalar");
    const int64_t n = 3, k = 96, m = 5;
    for (int a = 0; a < 2; a++) {
        const qkern_act_mode act = a ? QKERN_ACT_Q8_1 : QKERN_ACT_Q8_0;
        const qkern_format wf = a ? QKERN_Q4_1 : QKERN_Q4_0, af = a ? QKERN_Q8_1 : QKERN_Q8_0;
        qk_qbuf w;
        ck_assert(qk_qbuf_alloc(&w, (qkern_quant_desc){wf, 32, 0}, n, k));
        memset(w.t.data, 0, w.t.data_bytes);
        qk_packed *p = qk_neon_pack_direct(&w.t, act);
        const qk_neon_pack *h = p->data;
        float x[5 * 96];
        for (int64_t i = 0; i < m; i++) qk_special_row(x + i * k, k, 30 + (uint64_t)i);
        /* one row ordinary, one all zero, one tiny (the reciprocal overflows) */
        for (int64_t j = 0; j < k; j++) { x[1 * k + j] = 0.0f; x[2 * k + j] = 1e-38f * (float)(j % 3); }
        size_t sb = qk_matmul_ops__neon.act_scratch_bytes(p, m);
        unsigned char *scr = malloc(sb);
        ck_assert_int_eq(qk_matmul_ops__neon.prepare_act(NULL, p, x, k, 0, m, scr), QKERN_OK);
        qk_qbuf q;
        ck_assert(qk_qbuf_alloc(&q, (qkern_quant_desc){af, 32, 0}, m, k));
        ck_assert_int_eq(qkern_quantize(sc, x, QKERN_F32, sizeof x, &q.t), QKERN_OK);
        const size_t bb = a ? sizeof(qk_block_q8_1) : sizeof(qk_block_q8_0), qs = a ? 4 : 2;
        for (int64_t i = 0; i < m; i++) {
            const unsigned char *row = scr + (size_t)i * h->act_row_bytes;
            const float *prm = (const float *)(const void *)(row + h->act_q_bytes);
            for (int64_t b = 0; b < k / 32; b++) {
                const unsigned char *blk = (const unsigned char *)q.t.data + (size_t)(i * (k / 32) + b) * bb;
                ck_assert_msg(memcmp(row + b * 32, blk + qs, 32) == 0, "%s row %lld block %lld codes differ",
                              a ? "Q8_1" : "Q8_0", (long long)i, (long long)b);
                uint16_t d;
                memcpy(&d, blk, 2);
                float df = qk_f16_to_f32(d);
                ck_assert(memcmp(&prm[2 * b], &df, 4) == 0);
                if (a) {
                    uint16_t s;
                    memcpy(&s, blk + 2, 2);
                    float sf = qk_f16_to_f32(s);
                    ck_assert_msg(memcmp(&prm[2 * b + 1], &sf, 4) == 0, "Q8_1 s differs row %lld block %lld",
                                  (long long)i, (long long)b);
                }
            }
        }
        qk_qbuf_free(&q);
        free(scr);
        qk_neon_pack_free(p);
        qk_qbuf_free(&w);
    }
    qkern_context_destroy(sc);
    qkern_context_destroy(nc);
}
END_TEST

START_TEST(test_act_bytes_i8) {
    qkern_context *nc = qk_neon_ctx();
    if (!nc) { ck_assert(1); return; }
    const int64_t n = 3, k = 83, m = 4; /* K tail and group padding: ROW groups pad 83 -> 96 */
    qk_qbuf w;
    ck_assert(qk_qbuf_alloc(&w, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, 0}, n, k));
    memset(w.t.data, 0, w.t.data_bytes);
    memset(w.t.scales, 0, w.t.scales_bytes);
    qk_packed *p = qk_neon_pack_direct(&w.t, QKERN_ACT_I8_DYNAMIC);
    const qk_neon_pack *h = p->data;
    float x[4 * 83];
    for (int64_t i = 0; i < m; i++) qk_special_row(x + i * k, k, 50 + (uint64_t)i);
    for (int64_t j = 0; j < k; j++) x[3 * k + j] = (j == 5) ? INFINITY : 0.0f; /* amax 0 with an Inf */
    unsigned char *scr = malloc(qk_matmul_ops__neon.act_scratch_bytes(p, m));
    ck_assert_int_eq(qk_matmul_ops__neon.prepare_act(NULL, p, x, k, 0, m, scr), QKERN_OK);
    for (int64_t i = 0; i < m; i++) {
        const unsigned char *row = scr + (size_t)i * h->act_row_bytes;
        float s, inv;
        qk_i8_params(qk_int_amax(x + i * k, k), &s, &inv);
        for (int64_t j = 0; j < h->gp; j++) {
            int want = j < k ? qk_i8_quant(x[i * k + j], inv) : 0;
            ck_assert_msg((int8_t)row[j] == want, "row %lld k %lld: %d != %d (x=%g)", (long long)i, (long long)j,
                          (int8_t)row[j], want, j < k ? (double)x[i * k + j] : 0.0);
        }
        const float *prm = (const float *)(const void *)(row + h->act_q_bytes);
        ck_assert(memcmp(&prm[0], &s, 4) == 0);
    }
    free(scr);
    qk_neon_pack_free(p);
    qk_qbuf_free(&w);
    qkern_context_destroy(nc);
}
END_TEST

/* ---- quantise / dequantise bytes -------------------------------------------------- */

static const qkern_quant_desc qk_quant_descs[] = {
    {QKERN_Q8_0, 32, 0},
    {QKERN_Q8_1, 32, 0},
    {QKERN_Q4_0, 32, 0},
    {QKERN_Q4_1, 32, 0},
    {QKERN_I8, QKERN_GROUP_ROW, 0},
    {QKERN_I8, 20, 0},                       /* groups not a multiple of 16: scalar tails */
    {QKERN_I8_ASYM, QKERN_GROUP_ROW, 0},
    {QKERN_I8_ASYM, QKERN_GROUP_TENSOR, 0},
    {QKERN_I4, 32, 0},
    {QKERN_I4, 40, QKERN_QUANT_ASYMMETRIC},
    {QKERN_I4, QKERN_GROUP_ROW, 0},
    {QKERN_NF4, 32, 0},
    {QKERN_NF4, 10, 0},
    {QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0},
    {QKERN_FP8_E4M3, QKERN_GROUP_TENSOR, QKERN_QUANT_FP8_NO_SATURATE},
    {QKERN_FP8_E5M2, QKERN_GROUP_ROW, 0},
    {QKERN_FP8_E5M2, QKERN_GROUP_ROW, QKERN_QUANT_FP8_NO_SATURATE},
};
#define QK_N_QUANT ((int)(sizeof qk_quant_descs / sizeof qk_quant_descs[0]))

static int qk_buf_eq(const qk_guarded *a, const qk_guarded *b) {
    return a->size == b->size && (a->size == 0 || memcmp(a->p, b->p, a->size) == 0);
}

/* Every format: data, scales and zeros bytes equal to scalar's on ordinary data, special
 * values (NaN, ±Inf, huge, denormal, −0), tiny blocks, and with the caller's static scales
 * (huge ones too, so FP8 overflows); dequantised floats bit-identical. */
START_TEST(test_quant_bytes) {
    const qkern_quant_desc d0 = qk_quant_descs[_i];
    qkern_context *nc = qk_neon_ctx();
    if (!nc) { ck_assert(1); return; }
    qkern_context *sc = qk_ctx_named("scalar");
    const int64_t rows = 7, cols = 160;
    const size_t xb = (size_t)(rows * cols) * sizeof(float);
    float *x = malloc(xb), *ya = malloc(xb), *yb = malloc(xb);
    for (int pat = 0; pat < 4; pat++) {
        for (int64_t i = 0; i < rows; i++) {
            float *r = x + i * cols;
            if (pat == 0) qk_fill(r, (size_t)cols, QK_PAT_UNIFORM, 3 + (uint64_t)i);
            else if (pat == 1 || pat == 3) qk_special_row(r, cols, 9 + (uint64_t)i);
            else for (int64_t j = 0; j < cols; j++) r[j] = (j % 32 == 3) ? NAN : (float)(j % 7) * 1e-39f;
        }
        qkern_quant_desc d = d0;
        qk_qbuf a, b;
        ck_assert(qk_qbuf_alloc(&a, d, rows, cols));
        ck_assert(qk_qbuf_alloc(&b, d, rows, cols));
        if (pat == 3 && a.t.scales_bytes) { /* static scales: the caller's, some tiny, some huge */
            d.flags |= QKERN_QUANT_STATIC_SCALES;
            a.t.desc = b.t.desc = d;
            qk_rng r;
            qk_rng_seed(&r, 77);
            for (size_t i = 0; i < a.t.scales_bytes; i++) ((unsigned char *)a.scales.p)[i] = (unsigned char)qk_rng_u64(&r);
            if (d.format != QKERN_I4) {
                float *s = a.scales.p;
                for (size_t i = 0; i < a.t.scales_bytes / 4; i++) s[i] = (i % 3 == 0) ? 1e-3f : (i % 3 == 1) ? 0.02f : 3.0f;
            }
            memcpy(b.scales.p, a.scales.p, a.t.scales_bytes);
            if (a.t.zeros_bytes) {
                for (size_t i = 0; i < a.t.zeros_bytes; i++) ((unsigned char *)a.zeros.p)[i] = (unsigned char)(i * 5);
                memcpy(b.zeros.p, a.zeros.p, a.t.zeros_bytes);
            }
        }
        ck_assert_int_eq(qkern_quantize(sc, x, QKERN_F32, xb, &a.t), QKERN_OK);
        ck_assert_msg(qkern_quantize(nc, x, QKERN_F32, xb, &b.t) == QKERN_OK, "%s", qkern_last_error());
        const unsigned char *pa = a.t.data, *pb = b.t.data;
        for (size_t i = 0; i < a.t.data_bytes; i++)
            ck_assert_msg(pa[i] == pb[i], "format %d group %lld flags %u pattern %d byte %zu: scalar %02x neon %02x",
                          (int)d.format, (long long)d.group, d.flags, pat, i, pa[i], pb[i]);
        ck_assert_msg(qk_buf_eq(&a.scales, &b.scales), "format %d pattern %d: scales differ", (int)d.format, pat);
        ck_assert_msg(qk_buf_eq(&a.zeros, &b.zeros), "format %d pattern %d: zeros differ", (int)d.format, pat);
        ck_assert(qk_qbuf_guards_ok(&b));
        ck_assert_int_eq(qkern_dequantize(sc, &a.t, ya, QKERN_F32, xb), QKERN_OK);
        ck_assert_int_eq(qkern_dequantize(nc, &a.t, yb, QKERN_F32, xb), QKERN_OK);
        for (int64_t i = 0; i < rows * cols; i++)
            ck_assert_msg(memcmp(&ya[i], &yb[i], 4) == 0, "format %d pattern %d: dequantised [%lld] scalar %a neon %a (bits %08x %08x)",
                          (int)d.format, pat, (long long)i, (double)ya[i], (double)yb[i], qk_f32_bits(ya[i]), qk_f32_bits(yb[i]));
        qk_qbuf_free(&a);
        qk_qbuf_free(&b);
    }
    free(x);
    free(ya);
    free(yb);
    qkern_context_destroy(sc);
    qkern_context_destroy(nc);
}
END_TEST

/* ---- FP8 `tbl` decoder -------------------------------------------------------------- */

static const qkern_format qk_fp8_formats[2] = {QKERN_FP8_E4M3, QKERN_FP8_E5M2};

/* All 256 codes of both formats through qk_neon_fp8_decode16 (E4M3: tbl, E5M2: shift),
 * each code in every lane position: bit for bit the f32 of kernels/format_fp8.h (NaN
 * codes included). */
START_TEST(test_fp8_decode16_all_codes) {
    for (int fi = 0; fi < 2; fi++) {
        const qkern_format f = qk_fp8_formats[fi];
        qk_neon_fp8_tbl t;
        qk_neon_fp8_tbl_init(&t, f);
        int nan = 0;
        for (int rot = 0; rot < 16; rot++) {
            for (int base = 0; base < 256; base += 16) {
                uint8_t codes[16];
                for (int l = 0; l < 16; l++) codes[l] = (uint8_t)(base + (l + rot) % 16);
                float32x4_t v[4];
                qk_neon_fp8_decode16(&t, f == QKERN_FP8_E5M2, vld1q_u8(codes), v);
                float got[16];
                for (int i = 0; i < 4; i++) vst1q_f32(got + 4 * i, v[i]);
                for (int l = 0; l < 16; l++) {
                    const float want = qk_fp8_to_f32(codes[l], f);
                    nan += rot == 0 && want != want;
                    ck_assert_msg(qk_f32_bits(got[l]) == qk_f32_bits(want), "%s code 0x%02x lane %d: tbl %08x, scalar %08x",
                                  fi ? "E5M2" : "E4M3", codes[l], l, qk_f32_bits(got[l]), qk_f32_bits(want));
                }
            }
        }
        ck_assert_int_eq(nan, fi ? 6 : 2); /* the NaN codes were among them */
    }
}
END_TEST

/* Dequantise of every code (both formats, a scale that rounds, a 16-wide tail) bit for
 * bit as scalar's. */
START_TEST(test_fp8_dequant_all_codes) {
    qkern_context *nc = qk_neon_ctx();
    if (!nc) { ck_assert(1); return; }
    qkern_context *sc = qk_ctx_named("scalar");
    const int64_t rows = 3, cols = 264;
    float ya[3 * 264], yb[3 * 264];
    for (int fi = 0; fi < 2; fi++) {
        qk_qbuf w;
        ck_assert(qk_qbuf_alloc(&w, (qkern_quant_desc){qk_fp8_formats[fi], QKERN_GROUP_ROW, 0}, rows, cols));
        uint8_t *q = w.t.data;
        for (int64_t i = 0; i < rows * cols; i++) q[i] = (uint8_t)(i * 7 + i / cols);
        float *s = w.t.scales;
        s[0] = 0.5f; s[1] = 3.0f / 7.0f; s[2] = 1e30f; /* exact, rounding, overflowing */
        ck_assert_int_eq(qkern_dequantize(sc, &w.t, ya, QKERN_F32, sizeof ya), QKERN_OK);
        ck_assert_int_eq(qkern_dequantize(nc, &w.t, yb, QKERN_F32, sizeof yb), QKERN_OK);
        for (int64_t i = 0; i < rows * cols; i++)
            ck_assert_msg(qk_f32_bits(ya[i]) == qk_f32_bits(yb[i]), "%s [%lld] code 0x%02x: scalar %08x neon %08x",
                          fi ? "E5M2" : "E4M3", (long long)i, q[i], qk_f32_bits(ya[i]), qk_f32_bits(yb[i]));
        qk_qbuf_free(&w);
    }
    qkern_context_destroy(sc);
    qkern_context_destroy(nc);
}
END_TEST

/* The FP8×FP8 activation rows (SIMD encode + tbl decode) against the scalar rule, special
 * values, subnormal / overflowing products and a K tail included. */
START_TEST(test_fp8_round_row) {
    const int64_t k = 173;
    float x[173], got[173];
    for (int fi = 0; fi < 2; fi++) {
        const qkern_format f = qk_fp8_formats[fi];
        for (int pat = 0; pat < 3; pat++) {
            qk_special_row(x, k, 60 + (uint64_t)pat);
            const float inv = pat == 0 ? 1.0f : pat == 1 ? 3e4f : 1e-3f; /* saturation, underflow */
            qk_neon_fp8_round_row(x, k, inv, f, got);
            for (int64_t i = 0; i < k; i++) {
                const float want = qk_fp8_to_f32(qk_f32_to_fp8(x[i] * inv, f, 1), f);
                ck_assert_msg(qk_f32_bits(got[i]) == qk_f32_bits(want), "%s pat %d [%lld] x=%a: neon %08x scalar %08x",
                              fi ? "E5M2" : "E4M3", pat, (long long)i, (double)x[i], qk_f32_bits(got[i]),
                              qk_f32_bits(want));
            }
        }
    }
}
END_TEST

/* The float and FP8×FP8 matmul kernels on FP8 weights holding every finite code (rows
 * 0..7) and every Inf / NaN code (row 8, a second panel), with one-hot activation rows:
 * each y[m][n] is one exact product, so it must be decode(w[n][m])·scale exactly, NaN for
 * the row with special codes, and equal to scalar's. K = 40: the group padding too. */
START_TEST(test_fp8_matmul_all_codes) {
    const int64_t n = 9, k = 40, m = 40, ldy = n;
    for (int fi = 0; fi < 2; fi++) {
        const qkern_format f = qk_fp8_formats[fi];
        uint8_t fin[256], spec[256];
        int nf = 0, ns = 0;
        for (int c = 0; c < 256; c++) {
            const float v = qk_fp8_to_f32((uint8_t)c, f);
            if (v - v == 0.0f) fin[nf++] = (uint8_t)c;
            else spec[ns++] = (uint8_t)c;
        }
        ck_assert_int_ge((n - 1) * k, nf);
        for (int a = 0; a < 2; a++) {
            const qkern_act_mode act = !a ? QKERN_ACT_FLOAT : fi ? QKERN_ACT_FP8_E5M2 : QKERN_ACT_FP8_E4M3;
            qkern_context *nc = qk_neon_ctx();
            if (!nc) { ck_assert(1); return; }
            qkern_context *sc = qk_ctx_named("scalar");
            qk_qbuf w;
            ck_assert(qk_qbuf_alloc(&w, (qkern_quant_desc){f, QKERN_GROUP_ROW, 0}, n, k));
            uint8_t *q = w.t.data;
            for (int64_t r = 0; r < n; r++)
                for (int64_t j = 0; j < k; j++)
                    q[r * k + j] = r < n - 1 ? fin[(r * k + j) % nf] : (j % 2 ? spec[j / 2 % ns] : fin[j]);
            /* FP8×FP8: weight scales 1 and activation amax = FMAX, so every scale is 1 and
             * Σ qx·qw is all there is; float mode: a power-of-two scale */
            float *sw = w.t.scales;
            for (int64_t r = 0; r < n; r++) sw[r] = a ? 1.0f : 0.5f;
            const float xv = a ? qk_fp8_max(f) : 1.0f;
            float *x = calloc((size_t)(m * k), sizeof(float));
            for (int64_t i = 0; i < m; i++) x[i * k + i] = xv;
            qkern_packed_weights *pn = qk_pack_ctx(nc, &w.t, act, NULL);
            qkern_packed_weights *ps = qk_pack_ctx(sc, &w.t, act, NULL);
            float *yn = malloc((size_t)(m * ldy) * sizeof(float)), *ys = malloc((size_t)(m * ldy) * sizeof(float));
            ck_assert_msg(qkern_matmul(nc, pn, m, x, k, yn, ldy) == QKERN_OK, "%s", qkern_last_error());
            ck_assert_int_eq(qkern_matmul(sc, ps, m, x, k, ys, ldy), QKERN_OK);
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    const float got = yn[i * ldy + j], ref = ys[i * ldy + j];
                    const float want = xv * (qk_fp8_to_f32(q[j * k + i], f) * sw[j]);
                    if (j == n - 1) {
                        ck_assert_msg(got != got && ref != ref, "%s: y[%lld][8] = %g (scalar %g), want NaN", pn->kernel,
                                      (long long)i, (double)got, (double)ref);
                        continue;
                    }
                    /* zeros by value: the sign of an exact-zero sum is the accumulator's */
                    const int ok = want == 0.0f ? got == 0.0f : qk_f32_bits(got) == qk_f32_bits(want);
                    ck_assert_msg(ok, "%s: y[%lld][%lld] (code 0x%02x) = %a, want %a", pn->kernel, (long long)i,
                                  (long long)j, q[j * k + i], (double)got, (double)want);
                    ck_assert_msg(got == ref, "%s: y[%lld][%lld] = %a, scalar %a", pn->kernel, (long long)i, (long long)j,
                                  (double)got, (double)ref);
                }
            free(yn);
            free(ys);
            free(x);
            qkern_packed_weights_destroy(pn);
            qkern_packed_weights_destroy(ps);
            qk_qbuf_free(&w);
            qkern_context_destroy(sc);
            qkern_context_destroy(nc);
        }
    }
}
END_TEST

static Suite *neon_suite(void) {
    Suite *s = suite_create("neon");
    TCase *tc = tcase_create("neon");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_fp8_decode16_all_codes);
    tcase_add_test(tc, test_fp8_dequant_all_codes);
    tcase_add_test(tc, test_fp8_round_row);
    tcase_add_test(tc, test_fp8_matmul_all_codes);
    tcase_add_test(tc, test_describe_kernels);
    tcase_add_test(tc, test_pack_layout_i8);
    tcase_add_test(tc, test_pack_layout_q4_0);
    tcase_add_loop_test(tc, test_exact_modes, 0, QK_N_EXACT);
    tcase_add_test(tc, test_act_bytes_q8);
    tcase_add_test(tc, test_act_bytes_i8);
    tcase_add_loop_test(tc, test_quant_bytes, 0, QK_N_QUANT);
    suite_add_tcase(s, tc);
    return s;
}

#endif

int main(void) { return qk_test_run(neon_suite()); }
