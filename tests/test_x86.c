/* The x86 AVX-512 VNNI backend against its own layout contract and against scalar:
 *   - probe: unavailable with the documented reason when the features are missing;
 *   - packing: every byte of the packed panels (codes, scales, zeros / mins, the +128
 *     compensation) against a naive reference of the layout in backends/x86/x86.h;
 *   - matmul: every integer mode on data whose f32 combination is exact (power-of-two
 *     scales, small sums), so y must equal scalar bit for bit, which holds only if every
 *     int32 group sum and every activation byte is identical; then random data within
 *     the conformance bound, for all modes, tails M, N ∈ {1,2,3,7,16,33}, 1 and 2 threads;
 *   - quantize bytes and dequantize floats identical to scalar.
 * On a CPU without AVX-512 VNNI (or with it masked by QKERN_DISABLE) the kernels cannot
 * run: the suite says so and checks only the probe. */
#define _POSIX_C_SOURCE 200809L /* setenv, strdup */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/format_ggml.h"
#include "kernels/format_half.h"
#include "support/qk_test.h"

#if !defined(QKERN_HAVE_X86)
/* Not an x86-64 build (or QKERN_X86=OFF): no backend to test; say so and pass. */
/* Where the backend is not built, asking for it by name fails cleanly (no crash, a message). */
START_TEST(test_not_built) {
    if (getenv("QKERN_BACKEND")) return; /* the environment overrides options by design */
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = "x86";
    qkern_context *ctx = NULL;
    qkern_status st = qkern_context_create(&o, &ctx);
    ck_assert_int_ne(st, QKERN_OK);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "x86"));
}
END_TEST
int main(void) {
    printf("x86: skipped, the x86 backend is not built for this target\n");
    Suite *s = suite_create("x86");
    TCase *t = tcase_create("probe");
    tcase_add_test(t, test_not_built);
    suite_add_tcase(s, t);
    return qk_test_run(s);
}
#else
#include "backends/x86/x86.h"

#define NEED (QKERN_CPU_AVX512F | QKERN_CPU_AVX512BW | QKERN_CPU_AVX512VL | QKERN_CPU_AVX512VNNI)

static int have_x86(void) { return (qkern_cpu_features() & NEED) == NEED; }

static qkern_context *ctx_named(const char *backend, int threads) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = backend;
    o.threads = threads;
    qkern_context *ctx = NULL;
    qkern_status s = qkern_context_create(&o, &ctx);
    ck_assert_msg(s == QKERN_OK, "context %s: %s", backend, qkern_last_error());
    ck_assert_str_eq(qkern_context_backend(ctx), backend);
    return ctx;
}

/* ---- probe ------------------------------------------------------------------------- */

START_TEST(test_probe) {
    char why[128] = "";
    ck_assert_int_eq(qk_backend_x86.probe(0, why, sizeof why), 0);
    ck_assert_str_eq(why, "no AVX-512 VNNI on this CPU");
    ck_assert_int_eq(qk_backend_x86.probe(NEED & ~QKERN_CPU_AVX512VNNI, why, sizeof why), 0);
    ck_assert_int_eq(qk_backend_x86.probe(NEED, why, sizeof why), 1);
    /* available: the note describe prints says which tunables this CPU kind gets */
    ck_assert_str_eq(why, qk_x86_cpu_is_amd_zen() ? "tunables: AMD Zen set" : "tunables: common set");
    /* The backend the library picks follows the masked features. */
    qkern_context *ctx = qk_test_context(1);
    if (!have_x86()) ck_assert_str_ne(qkern_context_backend(ctx), "x86");
    qkern_context_destroy(ctx);
}
END_TEST

/* ---- weights --------------------------------------------------------------------------- */

typedef struct wcase {
    qkern_format f;
    int64_t group;
    uint32_t flags;
    qkern_act_mode act;
} wcase;

/* Raw random weights in the format (any codes; scales as given by mode). exact: power-of-two
 * scales and small codes so every sum in the matmul is exact in f32. */
static void make_weights(qk_qbuf *b, const wcase *c, int64_t n, int64_t k, uint64_t seed, int exact) {
    qkern_quant_desc d = {c->f, c->group, c->flags};
    ck_assert(qk_qbuf_alloc(b, d, n, k));
    qk_rng r;
    qk_rng_seed(&r, seed);
    uint8_t *data = b->t.data;
    size_t nb = b->t.data_bytes;
    for (size_t i = 0; i < nb; i++) data[i] = (uint8_t)qk_rng_u64(&r);
    if (c->f == QKERN_I8)
        for (size_t i = 0; i < nb; i++) {
            int v = (int)(qk_rng_u64(&r) % (exact ? 31 : 255)) - (exact ? 15 : 127);
            data[i] = (uint8_t)(int8_t)v;
        }
    if (c->f == QKERN_FP8_E4M3 || c->f == QKERN_FP8_E5M2)
        for (size_t i = 0; i < nb; i++)
            if ((data[i] & 0x7F) >= (c->f == QKERN_FP8_E4M3 ? 0x7F : 0x7C)) data[i] &= 0xF0; /* no NaN / Inf */
    size_t ns = b->t.scales_bytes / (c->f == QKERN_I4 ? 2 : 4);
    for (size_t i = 0; i < ns; i++) {
        float s = exact ? ldexpf(1.0f, -(int)(qk_rng_u64(&r) % 4)) : qk_rng_uniform(&r, 0.001f, 0.05f);
        if (c->f == QKERN_I4) ((uint16_t *)b->t.scales)[i] = qk_f32_to_f16(s);
        else ((float *)b->t.scales)[i] = s;
    }
    for (size_t i = 0; i < b->t.zeros_bytes; i++) ((uint8_t *)b->t.zeros)[i] = (uint8_t)(qk_rng_u64(&r) % 16);
    /* ggml blocks: valid f16 d (and m) in place of the random bytes */
    if (c->f == QKERN_Q8_0 || c->f == QKERN_Q4_0 || c->f == QKERN_Q4_1 || c->f == QKERN_Q8_1) {
        size_t bs = c->f == QKERN_Q8_0 ? 34 : c->f == QKERN_Q8_1 ? 36 : c->f == QKERN_Q4_0 ? 18 : 20;
        for (size_t off = 0; off < nb; off += bs) {
            float dv = exact ? ldexpf(1.0f, -(int)(qk_rng_u64(&r) % 4)) : qk_rng_uniform(&r, 0.001f, 0.05f);
            uint16_t h = qk_f32_to_f16(dv), m = qk_f32_to_f16(exact ? -0.5f : qk_rng_uniform(&r, -0.2f, 0.0f));
            memcpy(data + off, &h, 2);
            if (c->f == QKERN_Q4_1) memcpy(data + off + 2, &m, 2);
            if (c->f == QKERN_Q8_0 && exact)
                for (int j = 0; j < 32; j++) data[off + 2 + j] = (uint8_t)(int8_t)((int)(qk_rng_u64(&r) % 31) - 15);
        }
    }
}

/* The code of W[n][k] as the format defines it (the value the packer must place). */
/* make_weights, then the x86 pack of them for the case's activation mode (no front end) */
static qk_x86_packed *pack_weights(qk_qbuf *b, const wcase *c, int64_t n, int64_t k, uint64_t seed, int exact) {
    make_weights(b, c, n, k, seed, exact);
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = c->act;
    qk_x86_packed *P = NULL;
    ck_assert_msg(qk_x86_pack(&b->t, &o, &P) == QKERN_OK, "pack: %s", qkern_last_error());
    return P;
}

static uint8_t ref_code(const qkern_qtensor *w, int64_t n, int64_t k) {
    const uint8_t *d = w->data;
    int64_t K = w->cols;
    switch (w->desc.format) {
    case QKERN_I8: case QKERN_FP8_E4M3: case QKERN_FP8_E5M2: return d[n * K + k];
    case QKERN_I4: return (uint8_t)((d[(n * K + k) / 2] >> (k % 2 ? 4 : 0)) & 0xF);
    case QKERN_NF4: return (uint8_t)((d[(n * K + k) / 2] >> (k % 2 ? 0 : 4)) & 0xF);
    case QKERN_Q8_0: return d[n * (K / 32) * 34 + (k / 32) * 34 + 2 + k % 32];
    case QKERN_Q4_0: case QKERN_Q4_1: {
        size_t bs = w->desc.format == QKERN_Q4_0 ? 18 : 20, ho = bs - 16;
        uint8_t byte = d[(size_t)(n * (K / 32) + k / 32) * bs + ho + (k % 32) % 16];
        return (uint8_t)((k % 32) < 16 ? byte & 0xF : byte >> 4);
    }
    default: return 0;
    }
}

static int ref_qw(const qkern_qtensor *w, int64_t n, int64_t k, int64_t g) {
    uint8_t c = ref_code(w, n, k);
    switch (w->desc.format) {
    case QKERN_I8: case QKERN_Q8_0: return (int8_t)c;
    case QKERN_Q4_0: return c - 8;
    case QKERN_I4:
        if (w->desc.flags & QKERN_QUANT_ASYMMETRIC) return c - ((const uint8_t *)w->zeros)[n * (w->cols / g) + k / g];
        return c - 8;
    default: return c;
    }
}

static const wcase pack_cases[] = {
    {QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I8, 64, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, 32, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, 128, QKERN_QUANT_ASYMMETRIC, QKERN_ACT_I8_DYNAMIC},
    {QKERN_Q4_0, 32, 0, QKERN_ACT_Q8_0},
    {QKERN_Q8_0, 32, 0, QKERN_ACT_Q8_0},
    {QKERN_Q4_1, 32, 0, QKERN_ACT_Q8_1},
    {QKERN_NF4, 64, 0, QKERN_ACT_FLOAT},
    {QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT},
    {QKERN_I4, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT},
};

/* Every byte of the packed layout from its definition in x86.h, padding included. */
START_TEST(test_pack_layout) {
    const wcase *c = &pack_cases[_i / 2];
    /* 256, and 160: five 32-blocks (an odd group count, the paired layout's lone last group) */
    const int64_t n = 37, k = _i % 2 && c->group == 32 ? 160 : 256;
    qk_qbuf b;
    qk_x86_packed *P = pack_weights(&b, c, n, k, 100 + (uint64_t)_i, 0);
    const int bits = (c->f == QKERN_I4 || c->f == QKERN_Q4_0 || c->f == QKERN_Q4_1 || c->f == QKERN_NF4) ? 4 : 8;
    const int64_t g = c->group > 0 ? c->group : k;
    ck_assert_int_eq(P->g, g);
    ck_assert_int_eq(P->groups, k / g);
    ck_assert_int_eq(P->panels, (n + 15) / 16);
    ck_assert_uint_eq(P->code_bytes, (size_t)(g * 16 * bits / 8));
    /* x86.h: with integer activations, nibbles with the constant zero point 8 are stored
     * as code ^ 8 and their sums (so comp) are 16× */
    const int nib_x8 = c->act != QKERN_ACT_FLOAT && (c->f == QKERN_Q4_0 ||
                                                     (c->f == QKERN_I4 && !(c->flags & QKERN_QUANT_ASYMMETRIC)));
    ck_assert_int_eq(P->nib_x8, nib_x8);
    /* x86.h: Q4_0 × Q8_0 packs (off AMX) pair their groups, [codes][scales][scales][codes],
     * so that every group's codes start on a cache line */
    const int paired = c->act == QKERN_ACT_Q8_0 && c->f == QKERN_Q4_0 && !P->amx;
    ck_assert_uint_eq(P->odd_shift, paired ? 32 : 0);
    if (paired) ck_assert_uint_eq(P->panel_bytes % 64, 0);
    const uint8_t x8 = nib_x8 ? 8 : 0;
    for (int64_t col = 0; col < P->panels * 16; col++) {
        int64_t p = col / 16, j = col % 16;
        for (int64_t G = 0; G < P->groups; G++) {
            const uint8_t *pan = P->w + (size_t)p * P->panel_bytes, *grp = pan + qk_x86_code_off(P, G);
            if (paired) {
                ck_assert_uint_eq(((uintptr_t)grp) % 64, 0);
                ck_assert_uint_eq(qk_x86_code_off(P, G), (size_t)G * P->group_bytes + (G % 2 ? 32 : 0));
                ck_assert_uint_eq(qk_x86_tail_off(P, G), (size_t)G * P->group_bytes + (G % 2 ? 0 : P->code_bytes));
            }
            int32_t sum = 0;
            for (int64_t kk = 0; kk < g; kk++) {
                uint8_t got;
                if (bits == 8) {
                    got = grp[(kk / 4) * 64 + j * 4 + kk % 4];
                } else {
                    uint8_t byte = grp[(kk / 8) * 64 + j * 4 + (kk % 8) % 4];
                    got = (uint8_t)(kk % 8 < 4 ? byte & 0xF : byte >> 4);
                }
                uint8_t want = col < n ? ref_code(&b.t, col, G * g + kk) ^ x8 : 0;
                ck_assert_msg(got == want, "case %d col %lld k %lld: code %u, want %u", _i, (long long)col,
                              (long long)(G * g + kk), got, want);
                if (col < n) sum += ref_qw(&b.t, col, G * g + kk, g);
            }
            const uint8_t *sc = pan + qk_x86_tail_off(P, G);
            if (col < n) {
                if (c->f == QKERN_I8 || c->f == QKERN_NF4 || c->f == QKERN_FP8_E4M3) {
                    float want = c->f == QKERN_FP8_E4M3 ? ((float *)b.t.scales)[col]
                                                        : ((float *)b.t.scales)[col * (k / g) + G];
                    ck_assert(memcmp(sc + j * 4, &want, 4) == 0);
                } else if (c->f == QKERN_I4) {
                    ck_assert(memcmp(sc + j * 2, (uint16_t *)b.t.scales + col * (k / g) + G, 2) == 0);
                    if (c->flags & QKERN_QUANT_ASYMMETRIC)
                        ck_assert_uint_eq(sc[32 + j], ((uint8_t *)b.t.zeros)[col * (k / g) + G]);
                } else {
                    size_t bs = c->f == QKERN_Q8_0 ? 34 : c->f == QKERN_Q4_0 ? 18 : 20;
                    const uint8_t *blk = (const uint8_t *)b.t.data + (size_t)(col * (k / 32) + G) * bs;
                    ck_assert(memcmp(sc + j * 2, blk, 2) == 0);
                    if (c->f == QKERN_Q4_1) ck_assert(memcmp(sc + 32 + j * 2, blk + 2, 2) == 0);
                }
            }
            if (P->comp && col < n) { /* padding columns are masked out of y; their comp is free */
                int32_t want = -128 * (nib_x8 ? 16 : 1) * sum;
                ck_assert_int_eq(P->comp[((size_t)p * (size_t)P->groups + (size_t)G) * 16 + (size_t)j], want);
            }
        }
    }
    qk_x86_packed_free(P);
    qk_qbuf_free(&b);
}
END_TEST

/* ---- matmul against scalar --------------------------------------------------------------- */

static const wcase mm_cases[] = {
    {QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I8, 64, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, 32, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, 128, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, 64, QKERN_QUANT_ASYMMETRIC, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, QKERN_GROUP_ROW, 0, QKERN_ACT_I8_DYNAMIC}, /* one nib_x8 group of K */
    {QKERN_Q4_0, 32, 0, QKERN_ACT_Q8_0},
    {QKERN_Q8_0, 32, 0, QKERN_ACT_Q8_0},
    {QKERN_Q4_1, 32, 0, QKERN_ACT_Q8_1},
    {QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT},
    {QKERN_I8_ASYM, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT},
    {QKERN_I8_ASYM, QKERN_GROUP_TENSOR, 0, QKERN_ACT_FLOAT},
    {QKERN_I4, 128, 0, QKERN_ACT_FLOAT},
    {QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC, QKERN_ACT_FLOAT},
    {QKERN_Q4_0, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_Q4_1, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_Q8_0, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_Q8_1, 32, 0, QKERN_ACT_FLOAT},
    {QKERN_NF4, 64, 0, QKERN_ACT_FLOAT},
    {QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT},
    {QKERN_FP8_E5M2, QKERN_GROUP_TENSOR, 0, QKERN_ACT_FLOAT},
    {QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0, QKERN_ACT_FP8_E4M3},
    {QKERN_FP8_E5M2, QKERN_GROUP_ROW, 0, QKERN_ACT_FP8_E5M2},
    {QKERN_FP8_E4M3, QKERN_GROUP_TENSOR, 0, QKERN_ACT_FP8_E5M2},
    {QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_LLM_INT8},
};
#define N_MM_CASES ((int)(sizeof mm_cases / sizeof mm_cases[0]))

/* Activations: exact → multiples of 1/8 with every 32-block's amax = 127/8, so sx and the
 * Q8 d are exactly 1/8 and every product of the integer modes is exact. */
static void make_x(float *x, int64_t m, int64_t k, uint64_t seed, int exact) {
    qk_rng r;
    qk_rng_seed(&r, seed);
    for (int64_t i = 0; i < m * k; i++) {
        if (exact) x[i] = (float)((int)(qk_rng_u64(&r) % 255) - 127) / 8.0f;
        else x[i] = qk_rng_normal(&r) * (qk_rng_u64(&r) % 50 == 0 ? 8.0f : 1.0f);
    }
    if (exact)
        for (int64_t i = 0; i < m * k; i += 32) x[i + (int64_t)(qk_rng_u64(&r) % 32)] = (qk_rng_u64(&r) & 1) ? 127.0f / 8 : -127.0f / 8;
}

static char last_kernel[128]; /* the kernel name of run_mm's last packing */

static int run_mm(qkern_context *ctx, const qkern_qtensor *w, const wcase *c, const float *bias, int64_t m,
                  const float *x, float *y, const char *want_backend) {
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = c->act;
    o.bias = bias;
    qkern_packed_weights *pw = NULL;
    qkern_status s = qkern_pack_weights(ctx, w, &o, &pw);
    ck_assert_msg(s == QKERN_OK, "pack: %s", qkern_last_error());
    const char *be = NULL, *kn = NULL;
    qkern_packed_weights_info(pw, NULL, NULL, &be, &kn);
    ck_assert_msg(strcmp(be, want_backend) == 0, "packed by %s (%s), want %s", be, kn, want_backend);
    if (strcmp(want_backend, "x86") == 0) ck_assert_ptr_nonnull(strstr(kn, "__avx512"));
    snprintf(last_kernel, sizeof last_kernel, "%s", kn);
    s = qkern_matmul(ctx, pw, m, x, w->cols, y, w->rows);
    ck_assert_msg(s == QKERN_OK, "matmul: %s", qkern_last_error());
    qkern_packed_weights_destroy(pw);
    return 1;
}

/* 8: the M = 8 GEMV tile of the nib_x8 families; 14 = 6 + 6 + 2 and 16 = 6 + 6 + 4: the
 * remainder tiles of the Q4_0 GEMM; N = 24: a two-panel tile whose second panel is masked */
static const int64_t tail_mn[] = {1, 2, 3, 7, 8, 14, 16, 24, 33};
#define N_TAIL ((size_t)(sizeof tail_mn / sizeof tail_mn[0]))

/* Exact data: y bit-identical to scalar, i.e. identical int32 group sums and activation bytes. */
START_TEST(test_mm_exact) {
    if (!have_x86()) return;
    const wcase *c = &mm_cases[_i];
    if (c->act == QKERN_ACT_FLOAT || c->act == QKERN_ACT_FP8_E4M3 || c->act == QKERN_ACT_FP8_E5M2 ||
        c->act == QKERN_ACT_LLM_INT8)
        return; /* f32 accumulation (or an inlier amax that is not a power of two): the bound test */
    qkern_context *cx = ctx_named("x86", 2), *cs = ctx_named("scalar", 1);
    /* 160: five 32-blocks, the lone last group of the paired layout (x86.h) in every tile */
    const int64_t ks[] = {128, 256, 160};
    for (size_t ki = 0; ki < 3; ki++)
        for (size_t mi = 0; mi < N_TAIL; mi++)
            for (size_t ni = 0; ni < N_TAIL; ni++) {
                int64_t m = tail_mn[mi], n = tail_mn[ni], k = ks[ki];
                if (k == 160 && c->group != 32) continue;
                qk_qbuf b;
                make_weights(&b, c, n, k, 7 + mi * 31 + ni, 1);
                float *x = malloc(sizeof(float) * (size_t)(m * k));
                float *y1 = malloc(sizeof(float) * (size_t)(m * n)), *y2 = malloc(sizeof(float) * (size_t)(m * n));
                float *bias = malloc(sizeof(float) * (size_t)n);
                for (int64_t j = 0; j < n; j++) bias[j] = (float)j * 0.25f;
                make_x(x, m, k, 99 + mi, 1);
                run_mm(cx, &b.t, c, bias, m, x, y1, "x86");
                run_mm(cs, &b.t, c, bias, m, x, y2, "scalar");
                for (int64_t i = 0; i < m * n; i++)
                    ck_assert_msg(memcmp(&y1[i], &y2[i], 4) == 0, "case %d m=%lld n=%lld k=%lld [%lld]: x86 %.9g scalar %.9g",
                                  _i, (long long)m, (long long)n, (long long)k, (long long)i, (double)y1[i], (double)y2[i]);
                free(x); free(y1); free(y2); free(bias);
                qk_qbuf_free(&b);
            }
    qkern_context_destroy(cx);
    qkern_context_destroy(cs);
}
END_TEST

/* The tunables a CPU kind gets, and every (gemv_panels, prefetch) setting of the M ≤ 4
 * GEMV giving scalar's bytes on any machine: the kernel runs with each setting in turn
 * through the backend's own pack / prepare / compute, so the setting another CPU kind uses
 * is exercised here too. N = 2048, K = 4096 packs past 4 MiB for I8 and Q4_0 (the huge-page
 * allocation) and gives 128 panels. */
static const wcase gemv_cases[] = {
    {QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_I4, 128, 0, QKERN_ACT_I8_DYNAMIC},
    {QKERN_Q4_0, 32, 0, QKERN_ACT_Q8_0},
    {QKERN_Q8_0, 32, 0, QKERN_ACT_Q8_0},
    {QKERN_Q4_1, 32, 0, QKERN_ACT_Q8_1},
};

START_TEST(test_tunes_per_cpu) {
    if (!have_x86()) return;
    const qk_x86_tune *t = qk_x86_tune_for(QKERN_Q4_0, QKERN_ACT_Q8_0);
    ck_assert_str_eq(t->family, "q8_0_q4_0");
    if (qk_x86_cpu_is_amd_zen()) {
        ck_assert_int_eq(t->gemv_panels, 1);
        ck_assert_int_eq(t->prefetch, 0);
    } else {
        ck_assert_int_eq(t->gemv_panels, 2);
        ck_assert_int_eq(t->prefetch, 2048);
    }
    const qk_x86_tune *t8 = qk_x86_tune_for(QKERN_I8, QKERN_ACT_I8_DYNAMIC);
    ck_assert_str_eq(t8->family, "i8_i8");
    ck_assert_int_eq(t8->gemv8_prefetch, qk_x86_cpu_is_amd_zen() ? 1 : 0);
    ck_assert_int_eq(t8->gemv_panels, 2);
    const qk_x86_tune *tf = qk_x86_tune_for(QKERN_I4, QKERN_ACT_FLOAT);
    ck_assert_str_eq(tf->family, "f32");
    ck_assert_int_eq(tf->nr_panels, qk_x86_cpu_is_amd_zen() ? 1 : 2);
    ck_assert_int_eq(tf->mr, qk_x86_cpu_is_amd_zen() ? 8 : 4);
    ck_assert_int_eq(tf->gemv_panels, 2);
    const qkern_quant_desc nf4 = {QKERN_NF4, 64, 0};
    const char *want = qk_x86_cpu_is_amd_zen() ? "qk_gemm_f32_nf4_8x16c4__avx512vnni" : "qk_gemm_f32_nf4_4x32c4__avx512vnni";
    ck_assert_str_eq(qk_x86_matmul_kernel_name(&nf4, QKERN_ACT_FLOAT), want);
}
END_TEST

START_TEST(test_gemv_settings_identical) {
    if (!have_x86()) return;
    const wcase *c = &gemv_cases[_i];
    const int64_t n = 2048, k = 4096;
    qkern_context *cs = ctx_named("scalar", 1);
    qk_qbuf b;
    qk_x86_packed *P = pack_weights(&b, c, n, k, 1234 + (uint64_t)_i, 1);
    if (c->f == QKERN_I8 || c->f == QKERN_Q4_0)
        ck_assert_msg(((uintptr_t)P->w & ((2u << 20) - 1)) == 0, "packed weights past 4 MiB are 2 MiB aligned");
    const qk_x86_tune *t0 = P->tune;
    const int64_t ms[] = {1, 3, 8};
    for (size_t mi = 0; mi < 3; mi++) {
        const int64_t m = ms[mi];
        float *x = malloc(sizeof(float) * (size_t)(m * k)), *ys = malloc(sizeof(float) * (size_t)(m * n));
        float *y = malloc(sizeof(float) * (size_t)(m * n));
        uint8_t *scratch = aligned_alloc(64, qk_x86_act_row_bytes(P) * (size_t)m);
        make_x(x, m, k, 77 + (uint64_t)mi, 1);
        run_mm(cs, &b.t, c, NULL, m, x, ys, "scalar");
        qk_x86_prepare_act__avx512vnni(P, x, k, 0, m, scratch);
        /* M = 8 sweeps the M = 8 prefetch instead (bytes ahead for the nib_x8 asm tile, the
         * next panel pair or not for the I8 block) */
        for (int gp = 1; gp <= 2; gp++)
            for (int pf = 0; pf <= 2048; pf += 2048) {
                if (m == 8 && gp == 2) continue;
                qk_x86_tune v = *t0;
                v.gemv_panels = gp;
                v.prefetch = pf;
                if (m == 8) v.gemv8_prefetch = pf ? (c->f == QKERN_I8 ? 1 : 4096) : 0;
                P->tune = &v;
                memset(y, 0xFF, sizeof(float) * (size_t)(m * n));
                /* two calls, as the front end's column tasks split it */
                qk_x86_compute_int8__avx512vnni(P, scratch, 0, m, 0, 1024, y, n);
                qk_x86_compute_int8__avx512vnni(P, scratch, 0, m, 1024, n, y, n);
                P->tune = t0;
                for (int64_t i = 0; i < m * n; i++)
                    ck_assert_msg(memcmp(&y[i], &ys[i], 4) == 0,
                                  "case %d m=%lld gemv_panels=%d prefetch=%d (M = 8: gemv8_prefetch) [%lld]: x86 %.9g scalar %.9g", _i,
                                  (long long)m, gp, pf, (long long)i, (double)y[i], (double)ys[i]);
            }
        free(x); free(ys); free(y); free(scratch);
    }
    qk_x86_packed_free(P);
    qk_qbuf_free(&b);
    qkern_context_destroy(cs);
}
END_TEST

/* Random data, every mode, against scalar within the conformance bound
 * |y - y_ref| ≤ 1e-5·Σ|w·x| + 1e-6 (Σ from the scalar dequantised weights). */
START_TEST(test_mm_bound) {
    if (!have_x86()) return;
    const wcase *c = &mm_cases[_i];
    qkern_context *cs = ctx_named("scalar", 1);
    const int64_t ks[] = {128, 512};
    for (int threads = 1; threads <= 2; threads++) {
        qkern_context *cx = ctx_named("x86", threads);
        for (size_t ki = 0; ki < 2; ki++)
            for (size_t mi = 0; mi < N_TAIL; mi++)
                for (size_t ni = 0; ni < N_TAIL; ni++) {
                    int64_t m = tail_mn[mi], n = tail_mn[ni], k = ks[ki];
                    qk_qbuf b;
                    make_weights(&b, c, n, k, 1000 + mi * 7 + ni * 3 + ki, 0);
                    float *x = malloc(sizeof(float) * (size_t)(m * k)), *wd = malloc(sizeof(float) * (size_t)(n * k));
                    float *y1 = malloc(sizeof(float) * (size_t)(m * n)), *y2 = malloc(sizeof(float) * (size_t)(m * n));
                    make_x(x, m, k, 5 + mi + ni, 0);
                    ck_assert_int_eq(qkern_dequantize(cs, &b.t, wd, QKERN_F32, sizeof(float) * (size_t)(n * k)), QKERN_OK);
                    run_mm(cx, &b.t, c, NULL, m, x, y1, "x86");
                    run_mm(cs, &b.t, c, NULL, m, x, y2, "scalar");
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < n; j++) {
                            double mag = 0;
                            for (int64_t t = 0; t < k; t++) mag += fabs((double)x[i * k + t] * wd[j * k + t]);
                            double d = fabs((double)y1[i * n + j] - y2[i * n + j]);
                            /* integer modes add the activation quantisation to both sides alike */
                            ck_assert_msg(d <= 1e-5 * mag + 1e-6, "case %d t=%d m=%lld n=%lld k=%lld y[%lld][%lld]: x86 %.9g scalar %.9g",
                                          _i, threads, (long long)m, (long long)n, (long long)k, (long long)i, (long long)j,
                                          (double)y1[i * n + j], (double)y2[i * n + j]);
                        }
                    free(x); free(wd); free(y1); free(y2);
                    qk_qbuf_free(&b);
                }
        qkern_context_destroy(cx);
    }
    qkern_context_destroy(cs);
}
END_TEST

/* The float-activation tiles in the geometries the tunable sets choose (common: 4x32 with
 * the c4 GEMV over two panels; AMD Zen: 8x16, that GEMV still over two) and two more, through
 * the backend's own prepare / compute on any machine: the bound against scalar. M = 13 runs
 * an 8-row tile and a 5-row tail; N = 70 ends in a 6-column panel. */
START_TEST(test_f32_tile_geometries) {
    if (!have_x86()) return;
    const wcase *c = &mm_cases[_i];
    if (c->act != QKERN_ACT_FLOAT) return;
    static const struct { int mr, nr_panels, gemv_panels; } geo[] = {{4, 2, 2}, {8, 1, 2}, {8, 1, 1}, {3, 1, 1}};
    const int64_t n = 70, k = 256, ms[] = {1, 5, 13};
    qkern_context *cs = ctx_named("scalar", 1);
    qk_qbuf b;
    qk_x86_packed *P = pack_weights(&b, c, n, k, 4321 + (uint64_t)_i, 0);
    float *wd = malloc(sizeof(float) * (size_t)(n * k));
    ck_assert_int_eq(qkern_dequantize(cs, &b.t, wd, QKERN_F32, sizeof(float) * (size_t)(n * k)), QKERN_OK);
    const qk_x86_tune *t0 = P->tune;
    for (size_t mi = 0; mi < 3; mi++) {
        const int64_t m = ms[mi];
        float *x = malloc(sizeof(float) * (size_t)(m * k)), *ys = malloc(sizeof(float) * (size_t)(m * n));
        float *y = malloc(sizeof(float) * (size_t)(m * n));
        const size_t rb = qk_x86_act_row_bytes(P);
        uint8_t *scratch = aligned_alloc(64, rb * (size_t)m);
        make_x(x, m, k, 91 + (uint64_t)mi, 0);
        run_mm(cs, &b.t, c, NULL, m, x, ys, "scalar");
        qk_x86_prepare_act__avx512vnni(P, x, k, 0, m, scratch);
        for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
            qk_x86_tune v = *t0;
            v.mr = geo[gi].mr;
            v.nr_panels = geo[gi].nr_panels;
            v.gemv_panels = geo[gi].gemv_panels;
            P->tune = &v;
            memset(y, 0xFF, sizeof(float) * (size_t)(m * n));
            qk_x86_compute_f32__avx512vnni(P, (const float *)scratch, (int64_t)(rb / 4), 0, m, 0, n, y, n);
            P->tune = t0;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double mag = 0;
                    for (int64_t t = 0; t < k; t++) mag += fabs((double)x[i * k + t] * wd[j * k + t]);
                    ck_assert_msg(fabs((double)y[i * n + j] - ys[i * n + j]) <= 1e-5 * mag + 1e-6,
                                  "case %d %dx%d panels (GEMV %d) m=%lld y[%lld][%lld]: x86 %.9g scalar %.9g", _i,
                                  geo[gi].mr, geo[gi].nr_panels, geo[gi].gemv_panels, (long long)m, (long long)i,
                                  (long long)j, (double)y[i * n + j], (double)ys[i * n + j]);
                }
        }
        free(x); free(ys); free(y); free(scratch);
    }
    free(wd);
    qk_x86_packed_free(P);
    qk_qbuf_free(&b);
    qkern_context_destroy(cs);
}
END_TEST

/* n × k FP8 codes (n ≥ 38, k ≥ 18): in every row the largest finite code (alternating sign)
 * and the smallest subnormals; with_nan: NaN in rows 5 and 37, E5M2 ±Inf in rows 20 / 21. */
static void fp8_special_codes(uint8_t *d, qkern_format f, int64_t n, int64_t k, int with_nan) {
    const uint8_t nan = f == QKERN_FP8_E4M3 ? 0x7F : 0x7E, big = f == QKERN_FP8_E4M3 ? 0x7E : 0x7B;
    for (int64_t j = 0; j < n; j++) {
        d[j * k + (j * 7) % k] = (uint8_t)(big | (j & 1) << 7);
        d[j * k + (j * 11 + 3) % k] = 0x01;
        d[j * k + (j * 13 + 5) % k] = 0x81;
    }
    if (with_nan) {
        d[5 * k + 17] = nan;
        d[37 * k + k * 3 / 4] = (uint8_t)(nan | 0x80);
        if (f == QKERN_FP8_E5M2) d[20 * k + 3] = 0x7C, d[21 * k + 9] = 0xFC;
    }
}

/* FP8 weights with special codes in float mode, M = 1 (the f16-decode GEMV; an E4M3 pack
 * holding a NaN code keeps the bitwise decode) and M = 3: NaN where scalar has NaN, the same
 * infinities, the f32 bound elsewhere. Columns 5 and 37 hold NaN, 20 (E5M2) ±Inf, and every
 * column the largest finite code and the smallest subnormals. */
START_TEST(test_fp8_float_specials) {
    if (!have_x86()) return;
    const qkern_format f = _i & 1 ? QKERN_FP8_E5M2 : QKERN_FP8_E4M3;
    const int with_nan = _i < 2;
    const wcase c = {f, QKERN_GROUP_ROW, 0, QKERN_ACT_FLOAT};
    const int64_t n = 40, k = 256;
    qkern_context *cx = ctx_named("x86", 1), *cs = ctx_named("scalar", 1);
    qk_qbuf b;
    make_weights(&b, &c, n, k, 4242 + (uint64_t)_i, 0);
    fp8_special_codes(b.t.data, f, n, k, with_nan);
    float *wd = malloc(sizeof(float) * (size_t)(n * k)), *x = malloc(sizeof(float) * 3 * (size_t)k);
    float *y1 = malloc(sizeof(float) * 3 * (size_t)n), *y2 = malloc(sizeof(float) * 3 * (size_t)n);
    ck_assert_int_eq(qkern_dequantize(cs, &b.t, wd, QKERN_F32, sizeof(float) * (size_t)(n * k)), QKERN_OK);
    make_x(x, 3, k, 77, 0);
    for (int64_t m = 1; m <= 3; m += 2) {
        run_mm(cx, &b.t, &c, NULL, m, x, y1, "x86");
        run_mm(cs, &b.t, &c, NULL, m, x, y2, "scalar");
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float v = y1[i * n + j], r = y2[i * n + j];
                double mag = 0;
                for (int64_t t = 0; t < k; t++) mag += fabs((double)x[i * k + t] * wd[j * k + t]);
                int ok = isnan(r) ? isnan(v) : isinf(r) ? v == r : fabs((double)v - r) <= 1e-5 * mag + 1e-6;
                ck_assert_msg(ok, "%s%s m=%lld y[%lld][%lld]: x86 %.9g scalar %.9g", f == QKERN_FP8_E4M3 ? "E4M3" : "E5M2",
                              with_nan ? " with NaN" : "", (long long)m, (long long)i, (long long)j, (double)v, (double)r);
            }
        if (with_nan) ck_assert(isnan(y2[5]) && isnan(y2[37])); /* the data does hold the specials */
    }
    free(wd); free(x); free(y1); free(y2);
    qk_qbuf_free(&b);
    qkern_context_destroy(cx);
    qkern_context_destroy(cs);
}
END_TEST

/* FP8 × FP8 (weights packed as FP8 bytes, widened to BF16 in the tile at M ≤ 8 and into a
 * per-call buffer above): specials, largest codes and subnormals against scalar as in the
 * float-mode test, K = 256 and K = 45 (a padded last pair), and each of the 20 rows of the
 * buffered call identical to the same row run alone (the in-tile widening). Cases 4 and 5
 * hold normal codes and ±0 only, the packs that take the word decode. */
START_TEST(test_fp8_pairs) {
    if (!have_x86()) return;
    const qkern_format f = _i & 1 ? QKERN_FP8_E5M2 : QKERN_FP8_E4M3;
    const int with_nan = _i < 2, normal_only = _i >= 4; /* 6, 7: and a few subnormals */
    const wcase c = {f, QKERN_GROUP_ROW, 0, f == QKERN_FP8_E4M3 ? QKERN_ACT_FP8_E5M2 : QKERN_ACT_FP8_E4M3};
    const int64_t n = 40, m = 20;
    qkern_context *cx = ctx_named("x86", 1), *cs = ctx_named("scalar", 1);
    for (int64_t k = 45; k <= 256; k += 211) {
        qk_qbuf b;
        make_weights(&b, &c, n, k, 99 + (uint64_t)(_i + k), 0);
        fp8_special_codes(b.t.data, f, n, k, with_nan);
        if (normal_only) { /* the word decode's packs: subnormals → ±the smallest normal, and ±0 */
            uint8_t *d = b.t.data;
            const uint8_t emask = f == QKERN_FP8_E4M3 ? 0x78 : 0x7C, smallest = f == QKERN_FP8_E4M3 ? 0x08 : 0x04;
            for (int64_t i = 0; i < n * k; i++)
                if ((d[i] & emask) == 0 && (d[i] & 0x7F)) d[i] = (uint8_t)((d[i] & 0x80) | smallest);
            for (int64_t j = 0; j < n; j++) d[j * k + (j * 5 + 1) % k] = j & 1 ? 0x80 : 0x00;
        }
        if (_i >= 6) { /* a few subnormals among normal codes: only their chunks leave the word
                        * decode (fp8_sub); their columns hold nothing else, so a subnormal read
                        * as a normal (or a bit for the wrong chunk) moves y by tens of per cent */
            uint8_t *d = b.t.data;
            const uint8_t s1 = f == QKERN_FP8_E4M3 ? 0x03 : 0x01, s2 = f == QKERN_FP8_E4M3 ? 0x86 : 0x83;
            /* column 0 in the last chunk only, so that panel 1 alone marks the first run of 8 */
            const int64_t cols[3] = {0, 17, n - 1}, at[3][2] = {{k - 2, k - 1}, {9, 10}, {k / 2, k / 2 + 4}};
            for (int i = 0; i < 3; i++) {
                memset(d + cols[i] * k, 0, (size_t)k);
                d[cols[i] * k + at[i][0]] = s1;
                d[cols[i] * k + at[i][1]] = s2;
            }
        }
        float *x = malloc(sizeof(float) * (size_t)(m * k));
        float *y1 = malloc(sizeof(float) * (size_t)(m * n)), *y2 = malloc(sizeof(float) * (size_t)(m * n));
        float *y3 = malloc(sizeof(float) * (size_t)n), *wd = malloc(sizeof(float) * (size_t)(n * k));
        ck_assert_int_eq(qkern_dequantize(cs, &b.t, wd, QKERN_F32, sizeof(float) * (size_t)(n * k)), QKERN_OK);
        make_x(x, m, k, 31 + (uint64_t)k, 0);
        for (int64_t mm = 1; mm <= m; mm = mm == 1 ? 3 : mm == 3 ? 8 : m + (mm == m)) {
            run_mm(cx, &b.t, &c, NULL, mm, x, y1, "x86");
            run_mm(cs, &b.t, &c, NULL, mm, x, y2, "scalar");
            for (int64_t i = 0; i < mm * n; i++) {
                float v = y1[i], r = y2[i];
                double mag = 0; /* Σ|x·w|, 1.5 × for the FP8 activations' rounding */
                for (int64_t t = 0; t < k; t++) mag += 1.5 * fabs((double)x[(i / n) * k + t] * wd[(i % n) * k + t]);
                int ok = isnan(r) ? isnan(v) : isinf(r) ? v == r : fabs((double)v - r) <= 1e-5 * mag + 1e-6;
                ck_assert_msg(ok, "%s k=%lld m=%lld y[%lld]: x86 %.9g scalar %.9g", f == QKERN_FP8_E4M3 ? "E4M3" : "E5M2",
                              (long long)k, (long long)mm, (long long)i, (double)v, (double)r);
            }
            if (with_nan) ck_assert(isnan(y2[5]) && isnan(y2[37]));
        }
        /* y1 holds the 20-row (buffered) call */
        for (int64_t i = 0; i < m; i++) {
            run_mm(cx, &b.t, &c, NULL, 1, x + i * k, y3, "x86");
            ck_assert_msg(memcmp(y3, y1 + i * n, sizeof(float) * (size_t)n) == 0,
                          "k=%lld row %lld alone differs from the 20-row call", (long long)k, (long long)i);
        }
        free(x); free(y1); free(y2); free(y3); free(wd);
        qk_qbuf_free(&b);
    }
    qkern_context_destroy(cx);
    qkern_context_destroy(cs);
}
END_TEST

/* Results never depend on the thread count (the split depends only on the shape). The I4
 * case has 18 tasks, so with 24 threads more calls may hold an unpack buffer at once than
 * the pool has slots (QK_X86_UB_SLOTS) and take the fallback allocation (not guaranteed:
 * it depends on how the threads interleave). */
static const struct {
    wcase c;
    int64_t m, n, k;
} thread_cases[] = {
    {{QKERN_Q4_0, 32, 0, QKERN_ACT_Q8_0}, 70, 300, 1024},
    {{QKERN_I4, 128, 0, QKERN_ACT_I8_DYNAMIC}, 70, 2200, 256},
    {{QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_I8_DYNAMIC}, 70, 2200, 256},
};

START_TEST(test_mm_threads_identical) {
    if (!have_x86()) return;
    const wcase c = thread_cases[_i].c;
    const int64_t m = thread_cases[_i].m, n = thread_cases[_i].n, k = thread_cases[_i].k;
    qk_qbuf b;
    make_weights(&b, &c, n, k, 3, 0);
    float *x = malloc(sizeof(float) * m * k), *y1 = malloc(sizeof(float) * m * n), *y2 = malloc(sizeof(float) * m * n);
    make_x(x, m, k, 4, 0);
    qkern_context *c1 = ctx_named("x86", 1);
    run_mm(c1, &b.t, &c, NULL, m, x, y1, "x86");
    const int counts[] = {2, 7, 24};
    for (int t = 0; t < 3; t++) {
        qkern_context *cn = ctx_named("x86", counts[t]);
        run_mm(cn, &b.t, &c, NULL, m, x, y2, "x86");
        ck_assert_msg(memcmp(y1, y2, sizeof(float) * m * n) == 0, "case %d: %d threads differ from 1", _i, counts[t]);
        qkern_context_destroy(cn);
    }
    qkern_context_destroy(c1);
    free(x); free(y1); free(y2);
    qk_qbuf_free(&b);
}
END_TEST

/* AMX (gemm_int8__amx.c) against the vpdpbusd tiles: the same int32 sums and the same f32
 * fold order, so identical bytes; with M = 53 every call has 32- and 16-row AMX blocks and
 * rows left for the vpdpbusd tiles, N = 300 a masked pair and a last single panel. The
 * vpdpbusd run masks amx_int8 through QKERN_DISABLE while the weights are packed. */
static const struct {
    wcase c;
    int64_t k;
} amx_cases[] = {
    {{QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_I8_DYNAMIC}, 320},
    {{QKERN_I8, QKERN_GROUP_ROW, 0, QKERN_ACT_LLM_INT8}, 256},
    {{QKERN_I4, 128, 0, QKERN_ACT_I8_DYNAMIC}, 512},
    {{QKERN_I4, 32, 0, QKERN_ACT_I8_DYNAMIC}, 256},
    {{QKERN_I4, 64, 0, QKERN_ACT_I8_DYNAMIC}, 192},
    {{QKERN_Q4_0, 32, 0, QKERN_ACT_Q8_0}, 224},
};

static int have_amx(void) { return (qkern_cpu_features() & QKERN_CPU_AMX_INT8) != 0 && qk_x86_amx_usable(); }

START_TEST(test_mm_amx_identical) {
    if (!have_x86() || !have_amx()) return;
    const wcase c = amx_cases[_i].c;
    const int64_t m = 53, n = 300, k = amx_cases[_i].k;
    qk_qbuf b;
    make_weights(&b, &c, n, k, 5, 0);
    float *x = malloc(sizeof(float) * m * k), *y1 = malloc(sizeof(float) * m * n), *y2 = malloc(sizeof(float) * m * n);
    make_x(x, m, k, 6, 0);
    qkern_context *cx = ctx_named("x86", 2);
    const char *old = getenv("QKERN_DISABLE");
    char *saved = old ? strdup(old) : NULL;
    setenv("QKERN_DISABLE", "amx_int8", 1);
    run_mm(cx, &b.t, &c, NULL, m, x, y1, "x86"); /* packs and runs on the vpdpbusd tiles */
    ck_assert_msg(!strstr(last_kernel, "__amx"), "amx_int8 masked, yet packed for %s", last_kernel);
    if (saved) setenv("QKERN_DISABLE", saved, 1);
    else unsetenv("QKERN_DISABLE");
    free(saved);
    run_mm(cx, &b.t, &c, NULL, m, x, y2, "x86");
    ck_assert_msg(strstr(last_kernel, "__amx"), "case %d: packed for %s, not AMX", _i, last_kernel);
    ck_assert_msg(memcmp(y1, y2, sizeof(float) * m * n) == 0, "case %d: AMX differs from the vpdpbusd tiles", _i);
    qkern_context_destroy(cx);
    free(x); free(y1); free(y2);
    qk_qbuf_free(&b);
}
END_TEST

/* ---- quantize / dequantize --------------------------------------------------------------- */

static const wcase q_cases[] = {
    {QKERN_Q8_0, 32, 0, 0}, {QKERN_Q8_1, 32, 0, 0}, {QKERN_Q4_0, 32, 0, 0}, {QKERN_Q4_1, 32, 0, 0},
    {QKERN_I8, QKERN_GROUP_ROW, 0, 0}, {QKERN_I8, 64, 0, 0}, {QKERN_I8_ASYM, QKERN_GROUP_ROW, 0, 0},
    {QKERN_I4, 32, 0, 0}, {QKERN_I4, 128, 0, 0}, {QKERN_I4, 128, QKERN_QUANT_ASYMMETRIC, 0},
    {QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC, 0} /* ≥ 4 groups a row: the batched parameters */, {QKERN_NF4, 64, 0, 0},
    {QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0, 0}, {QKERN_FP8_E5M2, QKERN_GROUP_TENSOR, 0, 0},
    {QKERN_FP8_E4M3, QKERN_GROUP_TENSOR, QKERN_QUANT_FP8_NO_SATURATE, 0},
    {QKERN_FP8_E5M2, QKERN_GROUP_ROW, QKERN_QUANT_FP8_NO_SATURATE, 0},
};
#define N_Q_CASES ((int)(sizeof q_cases / sizeof q_cases[0]))

/* Quantise on both backends from every data pattern: identical bytes; then dequantise the
 * same bytes on both: identical floats. */
START_TEST(test_quant_dequant_identical) {
    if (!have_x86()) return;
    const wcase *c = &q_cases[_i];
    qkern_context *cx = ctx_named("x86", 2), *cs = ctx_named("scalar", 1);
    const int64_t rows = 19, cols = 256;
    float *x = malloc(sizeof(float) * rows * cols), *d1 = malloc(sizeof(float) * rows * cols),
          *d2 = malloc(sizeof(float) * rows * cols);
    const int ggml = c->f == QKERN_Q8_0 || c->f == QKERN_Q8_1 || c->f == QKERN_Q4_0 || c->f == QKERN_Q4_1;
    for (int pat = 0; pat <= QK_PAT_COUNT; pat++) {
        if (pat == QK_PAT_COUNT && ggml) break; /* ggml's *_ref leaves non-finite input undefined */
        qk_fill(x, (size_t)(rows * cols), pat == QK_PAT_COUNT ? QK_PAT_UNIFORM : (qk_pattern)pat, 11 + (uint64_t)pat);
        if (pat == QK_PAT_GAUSS_OUTLIERS) x[5] = 0.5f, x[6] = -0.5f, x[40] = 2.5f; /* ties */
        if (pat == QK_PAT_COUNT) { /* the special values format_int.h / format_nf4.h decide */
            x[3] = NAN; x[10] = INFINITY; x[300] = -INFINITY; x[301] = 1e-40f;
            for (int j = 512; j < 512 + 256; j++) x[j] = j % 2 ? NAN : 0.0f; /* a row with nothing finite but 0 */
            /* row 4, 64 columns each: scales that overflow f16 (I4: clamped to 65504), amax so
             * small that 1/scale overflows (scale 0), and FLT_MAX */
            for (int j = 0; j < 64; j++) {
                x[1024 + j] = (j % 3 ? 1e6f : -3e5f) * (float)(1 + j % 5);
                x[1088 + j] = (j % 2 ? 1e-39f : -3e-40f) * (float)(1 + j % 3);
                x[1152 + j] = j % 7 ? FLT_MAX / (float)(1 + j % 4) : -FLT_MAX;
                x[1216 + j] = j % 3 ? -0.0f : 0.0f; /* ±0 only: every scale +0, never −0 */
            }
        }
        qkern_quant_desc d = {c->f, c->group, c->flags};
        qk_qbuf a, b;
        ck_assert(qk_qbuf_alloc(&a, d, rows, cols));
        ck_assert(qk_qbuf_alloc(&b, d, rows, cols));
        ck_assert_int_eq(qkern_quantize(cx, x, QKERN_F32, sizeof(float) * rows * cols, &a.t), QKERN_OK);
        ck_assert_int_eq(qkern_quantize(cs, x, QKERN_F32, sizeof(float) * rows * cols, &b.t), QKERN_OK);
        ck_assert_msg(memcmp(a.t.data, b.t.data, a.t.data_bytes) == 0, "case %d pattern %d: data bytes differ", _i, pat);
        if (a.t.scales_bytes) ck_assert(memcmp(a.t.scales, b.t.scales, a.t.scales_bytes) == 0);
        if (a.t.zeros_bytes) ck_assert(memcmp(a.t.zeros, b.t.zeros, a.t.zeros_bytes) == 0);
        ck_assert_int_eq(qkern_dequantize(cx, &b.t, d1, QKERN_F32, sizeof(float) * rows * cols), QKERN_OK);
        ck_assert_int_eq(qkern_dequantize(cs, &b.t, d2, QKERN_F32, sizeof(float) * rows * cols), QKERN_OK);
        ck_assert_msg(memcmp(d1, d2, sizeof(float) * rows * cols) == 0, "case %d pattern %d: dequantised floats differ",
                      _i, pat);
        ck_assert(qk_qbuf_guards_ok(&a));
        qk_qbuf_free(&a);
        qk_qbuf_free(&b);
    }
    /* Every FP8 / nibble code, NaN and Inf included, dequantises identically. */
    if (c->f == QKERN_FP8_E4M3 || c->f == QKERN_FP8_E5M2 || c->f == QKERN_NF4 || c->f == QKERN_I4) {
        qkern_quant_desc d = {c->f, c->group, c->flags};
        qk_qbuf a;
        ck_assert(qk_qbuf_alloc(&a, d, rows, cols));
        for (size_t i = 0; i < a.t.data_bytes; i++) ((uint8_t *)a.t.data)[i] = (uint8_t)(i * 7 + 3);
        for (size_t i = 0; i < a.t.scales_bytes / 2; i++) ((uint16_t *)a.t.scales)[i] = 0x3C00; /* f16 1 / f32 tiny */
        for (size_t i = 0; i < a.t.zeros_bytes; i++) ((uint8_t *)a.t.zeros)[i] = (uint8_t)(i % 20); /* clamped >15 */
        ck_assert_int_eq(qkern_dequantize(cx, &a.t, d1, QKERN_F32, sizeof(float) * rows * cols), QKERN_OK);
        ck_assert_int_eq(qkern_dequantize(cs, &a.t, d2, QKERN_F32, sizeof(float) * rows * cols), QKERN_OK);
        ck_assert(memcmp(d1, d2, sizeof(float) * rows * cols) == 0);
        qk_qbuf_free(&a);
    }
    free(x); free(d1); free(d2);
    qkern_context_destroy(cx);
    qkern_context_destroy(cs);
}
END_TEST

/* The FP8 encoder on ~17M f32 bit patterns (every exponent, mantissas around each FP8
 * rounding boundary and tie, plus a stride through the rest), static scale 1, both formats
 * and saturation modes: bytes identical to scalar. */
START_TEST(test_fp8_encoder_sweep) {
    if (!have_x86()) return;
    const qkern_format f = _i & 1 ? QKERN_FP8_E5M2 : QKERN_FP8_E4M3;
    const uint32_t flags = QKERN_QUANT_STATIC_SCALES | (_i & 2 ? QKERN_QUANT_FP8_NO_SATURATE : 0);
    const int64_t rows = 256, cols = 65536;
    float *x = malloc(sizeof(float) * rows * cols);
    static const uint32_t tails[16] = {0, 1, 2, 0x7ff, 0x800, 0x801, 0xfff, 0x555, 0xaaa, 0x400, 0x3ff, 0x7fe, 0xffe, 0x100, 0x80, 0xc00};
    for (int64_t i = 0; i < rows * cols; i++) {
        uint32_t u;
        if (i < 64 * 2 * 65536) {
            /* exponents 2^-31 .. 2^32 (both formats' normal and subnormal ranges, overflow),
             * both signs, all top-12 mantissa bits (the kept bits and the tie bit) with low
             * bits that make exact ties and their neighbours */
            uint32_t j = (uint32_t)(i % 65536), e = 96 + (uint32_t)(i / 131072), sg = (uint32_t)(i / 65536) % 2;
            u = sg << 31 | e << 23 | (j >> 4) << 12 | tails[j & 15];
        } else {
            u = (uint32_t)i * 257u; /* a stride through all 2^32 patterns: NaN, Inf, denormals, huge */
        }
        memcpy(&x[i], &u, 4);
    }
    qkern_context *cx = ctx_named("x86", 2), *cs = ctx_named("scalar", 1);
    qkern_quant_desc d = {f, QKERN_GROUP_ROW, flags};
    qk_qbuf a, b;
    ck_assert(qk_qbuf_alloc(&a, d, rows, cols));
    ck_assert(qk_qbuf_alloc(&b, d, rows, cols));
    for (int64_t r = 0; r < rows; r++) ((float *)a.t.scales)[r] = ((float *)b.t.scales)[r] = 1.0f;
    ck_assert_int_eq(qkern_quantize(cx, x, QKERN_F32, sizeof(float) * rows * cols, &a.t), QKERN_OK);
    ck_assert_int_eq(qkern_quantize(cs, x, QKERN_F32, sizeof(float) * rows * cols, &b.t), QKERN_OK);
    ck_assert(memcmp(a.t.data, b.t.data, a.t.data_bytes) == 0);
    qk_qbuf_free(&a);
    qk_qbuf_free(&b);
    free(x);
    qkern_context_destroy(cx);
    qkern_context_destroy(cs);
}
END_TEST

static Suite *x86_suite(void) {
    Suite *s = suite_create("x86");
    TCase *t = tcase_create("probe");
    tcase_add_test(t, test_probe);
    suite_add_tcase(s, t);
    if (!have_x86()) {
        printf("x86: skipped, no AVX-512 VNNI on this CPU\n");
        return s;
    }
    t = tcase_create("pack");
    tcase_add_loop_test(t, test_pack_layout, 0, 2 * (int)(sizeof pack_cases / sizeof pack_cases[0]));
    suite_add_tcase(s, t);
    t = tcase_create("matmul");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, test_mm_exact, 0, N_MM_CASES);
    tcase_add_test(t, test_tunes_per_cpu);
    printf("x86 tunables: %s\n", qk_x86_cpu_is_amd_zen()
                                      ? "AMD Zen set (GEMV: one stream, no software prefetch; f32 tiles 8x16)"
                                      : "common set (GEMV: two streams, 2 KiB prefetch; f32 tiles 4x32)");
    tcase_add_loop_test(t, test_gemv_settings_identical, 0, (int)(sizeof gemv_cases / sizeof gemv_cases[0]));
    tcase_add_loop_test(t, test_mm_bound, 0, N_MM_CASES);
    tcase_add_loop_test(t, test_f32_tile_geometries, 0, N_MM_CASES);
    tcase_add_loop_test(t, test_fp8_float_specials, 0, 4);
    tcase_add_loop_test(t, test_fp8_pairs, 0, 8);
    tcase_add_loop_test(t, test_mm_threads_identical, 0, (int)(sizeof thread_cases / sizeof thread_cases[0]));
    if (have_amx()) printf("x86 AMX: exercised (AMX-INT8 present, tile state granted)\n");
    else printf("x86 AMX: skipped, %s\n", (qkern_cpu_features() & QKERN_CPU_AMX_INT8) ? "the OS did not grant the tile state"
                                                                                      : "no AMX-INT8 on this CPU (or masked)");
    tcase_add_loop_test(t, test_mm_amx_identical, 0, (int)(sizeof amx_cases / sizeof amx_cases[0]));
    suite_add_tcase(s, t);
    t = tcase_create("quant");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, test_quant_dequant_identical, 0, N_Q_CASES);
    tcase_add_loop_test(t, test_fp8_encoder_sweep, 0, 4);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    fflush(stdout);
    return qk_test_run(x86_suite());
}
#endif
