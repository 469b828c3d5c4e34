/* qkern_convert F32 <-> F16 <-> BF16: every f16 decodes to its IEEE value and survives
 * f16 -> f32 -> f16; every midpoint between adjacent f16 / bf16 values rounds to the even one
 * (subnormals, the 65520 overflow threshold, the bf16 top); NaN stays NaN; and the
 * conversions agree bit for bit with the CPU's own (x86 F16C vcvtps2ph / vcvtph2ps where
 * present, AArch64 FCVT) on all 65536 f16 inputs and on millions of f32 bit patterns.
 * bf16 is held to an independent nearest-value reference (no instruction here rounds
 * bf16 with IEEE subnormals). */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/qk_test.h"

/* Check's ck_assert_* report every passing check to the runner through a pipe (a write()
 * each), far too slow for loops over millions of values; these only call into Check on
 * failure. */
#define CHECK(c, ...) do { if (!(c)) ck_abort_msg(__VA_ARGS__); } while (0)
#define CHECK1(c) CHECK(c, "failed: %s", #c)
#define CHECK_EQ(a, b) do { uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b); \
    if (a_ != b_) ck_abort_msg("%s == %s: 0x%jx != 0x%jx", #a, #b, a_, b_); } while (0)
#define CHECK_IEQ(a, b) do { intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b); \
    if (a_ != b_) ck_abort_msg("%s == %s: %jd != %jd", #a, #b, a_, b_); } while (0)

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void to_f32(const uint16_t *h, qkern_format t, float *f, size_t n) {
    CHECK(qkern_convert(h, t, f, QKERN_F32, n) == QKERN_OK, "%s", qkern_last_error());
}
static void from_f32(const float *f, uint16_t *h, qkern_format t, size_t n) {
    CHECK(qkern_convert(f, QKERN_F32, h, t, n) == QKERN_OK, "%s", qkern_last_error());
}
static uint16_t f32_to(float f, qkern_format t) { uint16_t h; from_f32(&f, &h, t, 1); return h; }

/* IEEE binary16 from its fields. */
static double ref_f16(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static uint16_t *all_u16(void) {
    uint16_t *h = malloc(65536 * 2);
    for (unsigned i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    return h;
}

START_TEST(test_f16_decode_and_round_trip_all) {
    uint16_t *h = all_u16(), *back = malloc(65536 * 2);
    float *f = malloc(65536 * 4);
    to_f32(h, QKERN_F16, f, 65536);
    from_f32(f, back, QKERN_F16, 65536);
    for (unsigned i = 0; i < 65536; i++) {
        double want = ref_f16((uint16_t)i);
        if (isnan(want)) {
            CHECK(isnan(f[i]), "0x%04x -> %a", i, (double)f[i]);
            CHECK((bits_of(f[i]) & 0x80000000u) == ((i & 0x8000u) << 16), "0x%04x: NaN sign lost", i);
            /* Back: still NaN, quiet bit set, payload and sign kept. */
            CHECK(back[i] == (i | 0x200u), "NaN 0x%04x -> 0x%04x", i, back[i]);
            continue;
        }
        CHECK((double)f[i] == want && !signbit(f[i]) == !signbit(want), "0x%04x -> %a, want %a", i, (double)f[i], want);
        CHECK(back[i] == i, "0x%04x -> %a -> 0x%04x", i, (double)f[i], back[i]);
    }
    free(h); free(back); free(f);
}
END_TEST

/* Adjacent f16 magnitudes (h, h+1), h = 0 … 0x7BFE: the midpoint (exact in f32) rounds to the
 * even code, one f32 ulp either side to the nearer; both signs. Then the overflow edge. */
START_TEST(test_f16_ties) {
    for (unsigned h = 0; h < 0x7BFF; h++) {
        float lo = (float)ref_f16((uint16_t)h), hi = (float)ref_f16((uint16_t)(h + 1));
        float mid = 0.5f * (lo + hi);
        CHECK1((double)mid * 2 == (double)lo + hi);
        unsigned even = (h & 1) ? h + 1 : h;
        for (int neg = 0; neg < 2; neg++) {
            float s = neg ? -1.0f : 1.0f;
            unsigned sb = neg ? 0x8000u : 0;
            CHECK(f32_to(s * mid, QKERN_F16) == (even | sb), "mid 0x%04x/0x%04x", h, h + 1);
            CHECK_EQ(f32_to(s * nextafterf(mid, 0), QKERN_F16), h | sb);
            CHECK_EQ(f32_to(s * nextafterf(mid, INFINITY), QKERN_F16), (h + 1) | sb);
        }
    }
    /* 65504 = max; 65520 is the tie with 65536 (even, = overflow) → Inf; just below → max. */
    CHECK_EQ(f32_to(65504.0f, QKERN_F16), 0x7BFF);
    CHECK_EQ(f32_to(nextafterf(65520.0f, 0), QKERN_F16), 0x7BFF);
    CHECK_EQ(f32_to(65520.0f, QKERN_F16), 0x7C00);
    CHECK_EQ(f32_to(-65520.0f, QKERN_F16), 0xFC00);
    CHECK_EQ(f32_to(FLT_MAX, QKERN_F16), 0x7C00);
    CHECK_EQ(f32_to(INFINITY, QKERN_F16), 0x7C00);
    CHECK_EQ(f32_to(-INFINITY, QKERN_F16), 0xFC00);
    /* Subnormal edge: 2^-25 (half the minimum subnormal) → +0, above → 0x0001; -0 keeps its sign. */
    CHECK_EQ(f32_to(0x1p-25f, QKERN_F16), 0x0000);
    CHECK_EQ(f32_to(nextafterf(0x1p-25f, 1), QKERN_F16), 0x0001);
    CHECK_EQ(f32_to(-0.0f, QKERN_F16), 0x8000);
    CHECK_EQ(f32_to(0x1p-149f, QKERN_F16), 0x0000);
    /* Largest subnormal (1023·2^-24) | smallest normal (2^-14): the tie goes to 0x0400. */
    CHECK_EQ(f32_to(2047 * 0x1p-25f, QKERN_F16), 0x0400);
}
END_TEST

/* Adjacent bf16 magnitudes h = 0 … 0x7F7F (the last pair is max | Inf): midpoint → even, ±1 ulp → nearer. */
START_TEST(test_bf16_ties) {
    for (uint32_t h = 0; h <= 0x7F7F; h++) {
        uint32_t mid = (h << 16) | 0x8000u;
        uint32_t even = (h & 1) ? h + 1 : h;
        for (uint32_t sb = 0; sb <= 1; sb++) {
            uint32_t s = sb << 31;
            uint16_t hs = (uint16_t)(sb << 15);
            CHECK(f32_to(float_of(s | mid), QKERN_BF16) == (even | hs), "mid of bf16 0x%04x", h);
            CHECK_EQ(f32_to(float_of(s | (mid - 1)), QKERN_BF16), h | hs);
            CHECK_EQ(f32_to(float_of(s | (mid + 1)), QKERN_BF16), (h + 1) | hs);
        }
    }
    CHECK_EQ(f32_to(FLT_MAX, QKERN_BF16), 0x7F80); /* rounds past the top: Inf, as IEEE RNE */
    CHECK_EQ(f32_to(float_of(0x7F7F7FFFu), QKERN_BF16), 0x7F7F);
    CHECK_EQ(f32_to(INFINITY, QKERN_BF16), 0x7F80);
    CHECK_EQ(f32_to(-0.0f, QKERN_BF16), 0x8000);
    CHECK_EQ(f32_to(0x1p-149f, QKERN_BF16), 0x0000); /* below half a bf16 subnormal */
    CHECK_EQ(f32_to(0x1p-133f, QKERN_BF16), 0x0001); /* the smallest bf16 subnormal */
}
END_TEST

/* bf16 reference: the two candidates around |x|, compared in double (exact here). */
static uint16_t ref_bf16(uint32_t x) {
    uint32_t a = x & 0x7fffffffu;
    uint16_t s = (uint16_t)((x >> 16) & 0x8000u);
    if (a > 0x7f800000u) return 0xFFFF; /* marker: the caller checks NaN-ness */
    uint16_t lo = (uint16_t)(a >> 16);
    if ((a & 0xffffu) == 0) return s | lo;
    double v = float_of(a), dlo = v - float_of((uint32_t)lo << 16);
    double dhi = lo + 1 == 0x7F80 ? ldexp(1.0, 128) - v : (double)float_of((uint32_t)(lo + 1) << 16) - v;
    uint16_t r = dlo < dhi ? lo : dhi < dlo ? (uint16_t)(lo + 1) : (lo & 1) ? (uint16_t)(lo + 1) : lo;
    return s | r;
}

START_TEST(test_bf16_random_and_nan) {
    enum { N = 1 << 20 };
    float *f = malloc(N * 4), *g = malloc(N * 4);
    uint16_t *h = malloc(N * 2);
    qk_rng r;
    qk_rng_seed(&r, 16);
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < N; i++) f[i] = float_of((uint32_t)qk_rng_u64(&r));
        from_f32(f, h, QKERN_BF16, N);
        to_f32(h, QKERN_BF16, g, N);
        for (int i = 0; i < N; i++) {
            uint32_t x = bits_of(f[i]);
            if (isnan(f[i])) {
                CHECK((h[i] & 0x7fffu) > 0x7f80u && (h[i] & 0x40u), "NaN 0x%08x -> 0x%04x", x, h[i]);
                CHECK_EQ(h[i] & 0x8000u, (x >> 16) & 0x8000u);
                CHECK1(isnan(g[i]));
                continue;
            }
            if (h[i] != ref_bf16(x)) ck_abort_msg("0x%08x -> 0x%04x, want 0x%04x", x, h[i], ref_bf16(x));
            CHECK_EQ(bits_of(g[i]), (uint32_t)h[i] << 16); /* bf16 -> f32 is exact */
        }
    }
    /* NaNs whose payload lives only in the low bits must not round into Inf. */
    const uint32_t nans[] = {0x7f800001u, 0xff800001u, 0x7f80ffffu, 0x7fffffffu, 0x7fc00000u, 0x7f810000u};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t b = f32_to(float_of(nans[i]), QKERN_BF16), hh = f32_to(float_of(nans[i]), QKERN_F16);
        CHECK((b & 0x7fffu) > 0x7f80u, "bf16 of NaN 0x%08x is 0x%04x", nans[i], b);
        CHECK((hh & 0x7fffu) > 0x7c00u, "f16 of NaN 0x%08x is 0x%04x", nans[i], hh);
        CHECK_EQ(b >> 15, nans[i] >> 31);
        CHECK_EQ(hh >> 15, nans[i] >> 31);
    }
    free(f); free(g); free(h);
}
END_TEST

/* F16 <-> BF16 directly equals going through F32 (every f16 and bf16 is an f32). */
START_TEST(test_f16_bf16_direct) {
    uint16_t *h = all_u16(), *a = malloc(65536 * 2), *b = malloc(65536 * 2);
    float *f = malloc(65536 * 4);
    for (int dir = 0; dir < 2; dir++) {
        qkern_format s = dir ? QKERN_BF16 : QKERN_F16, d = dir ? QKERN_F16 : QKERN_BF16;
        CHECK_IEQ(qkern_convert(h, s, a, d, 65536), QKERN_OK);
        to_f32(h, s, f, 65536);
        from_f32(f, b, d, 65536);
        CHECK1(memcmp(a, b, 65536 * 2) == 0);
    }
    /* In-place identity conversion is a copy. */
    memcpy(a, h, 65536 * 2);
    CHECK_IEQ(qkern_convert(a, QKERN_F16, a, QKERN_F16, 65536), QKERN_OK);
    CHECK1(memcmp(a, h, 65536 * 2) == 0);
    free(h); free(a); free(b); free(f);
}
END_TEST

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QK_HAVE_F16C_TEST 1
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

static int have_f16c(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c") != 0;
}
#define QK_HW_NAME "F16C"
#elif defined(__aarch64__)
/* AArch64: FCVT between single and half precision (IEEE, RNE, subnormals kept while
 * FPCR.FZ16 is clear, as Linux leaves it) is part of the base ISA. */
#define QK_HAVE_F16C_TEST 1
static uint16_t hw_f32_to_f16(float f) {
    __fp16 h = (__fp16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}
static float hw_f16_to_f32(uint16_t u) {
    __fp16 h;
    memcpy(&h, &u, 2);
    return (float)h;
}
static int have_f16c(void) { return 1; }
#define QK_HW_NAME "FCVT"
#endif

#ifdef QK_HAVE_F16C_TEST

START_TEST(test_f16c_all_f16) {
    if (!have_f16c()) { printf("test_f16c_all_f16: no F16C on this CPU, skipped\n"); return; }
    uint16_t *h = all_u16();
    float *f = malloc(65536 * 4);
    to_f32(h, QKERN_F16, f, 65536);
    for (unsigned i = 0; i < 65536; i++) {
        float w = hw_f16_to_f32((uint16_t)i);
        CHECK(bits_of(f[i]) == bits_of(w), "f16 0x%04x: qkern 0x%08x, " QK_HW_NAME " 0x%08x", i, bits_of(f[i]),
              bits_of(w));
    }
    free(h); free(f);
}
END_TEST

/* 16M random f32 bit patterns, then every (sign, exponent, top-10-mantissa) prefix with the
 * 13 low bits at and around the rounding tie: against vcvtps2ph with RNE. */
START_TEST(test_f16c_f32_patterns) {
    if (!have_f16c()) { printf("test_f16c_f32_patterns: no F16C on this CPU, skipped\n"); return; }
    enum { N = 1 << 20 };
    float *f = malloc(N * 4);
    uint16_t *h = malloc(N * 2);
    qk_rng r;
    qk_rng_seed(&r, 0xF16C);
    long checked = 0;
    for (int round = 0; round < 16; round++) {
        for (int i = 0; i < N; i++) f[i] = float_of((uint32_t)qk_rng_u64(&r));
        from_f32(f, h, QKERN_F16, N);
        for (int i = 0; i < N; i++) {
            uint16_t w = hw_f32_to_f16(f[i]);
            if (h[i] != w) ck_abort_msg("f32 0x%08x: qkern 0x%04x, " QK_HW_NAME " 0x%04x", bits_of(f[i]), h[i], w);
        }
        checked += N;
    }
    static const uint32_t lows[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff};
    for (uint32_t prefix = 0; prefix < (1u << 19); prefix += N / 6) {
        int n = 0;
        for (uint32_t p = prefix; p < prefix + N / 6 && p < (1u << 19); p++)
            for (int l = 0; l < 6; l++) f[n++] = float_of((p << 13) | lows[l]);
        from_f32(f, h, QKERN_F16, (size_t)n);
        for (int i = 0; i < n; i++) {
            uint16_t w = hw_f32_to_f16(f[i]);
            if (h[i] != w) ck_abort_msg("f32 0x%08x: qkern 0x%04x, " QK_HW_NAME " 0x%04x", bits_of(f[i]), h[i], w);
        }
        checked += n;
    }
    ck_assert_int_gt(checked, 19000000);
    free(f); free(h);
}
END_TEST
#endif

START_TEST(test_convert_bad_arguments) {
    float f[4] = {0};
    uint16_t h[4];
    CHECK_IEQ(qkern_convert(f, QKERN_F32, h, QKERN_F16, 0), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "n=0"));
    CHECK_IEQ(qkern_convert(NULL, QKERN_F32, h, QKERN_F16, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "src"));
    CHECK_IEQ(qkern_convert(f, QKERN_F32, NULL, QKERN_F16, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "dst"));
    CHECK_IEQ(qkern_convert(f, QKERN_F32, h, QKERN_Q8_0, 4), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "Q8_0"));
    CHECK_IEQ(qkern_convert(f, (qkern_format)99, h, QKERN_F16, 4), QKERN_INVALID_ARGUMENT);
    CHECK_IEQ(qkern_convert(f, QKERN_F32, h, QKERN_F16, SIZE_MAX / 2), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "overflow"));
}
END_TEST

static Suite *half_suite(void) {
    Suite *s = suite_create("half");
    TCase *tc = tcase_create("convert");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_f16_decode_and_round_trip_all);
    tcase_add_test(tc, test_f16_ties);
    tcase_add_test(tc, test_bf16_ties);
    tcase_add_test(tc, test_bf16_random_and_nan);
    tcase_add_test(tc, test_f16_bf16_direct);
    tcase_add_test(tc, test_convert_bad_arguments);
    suite_add_tcase(s, tc);
#ifdef QK_HAVE_F16C_TEST
    TCase *hw = tcase_create("f16c");
    tcase_set_timeout(hw, 120);
    tcase_add_test(hw, test_f16c_all_f16);
    tcase_add_test(hw, test_f16c_f32_patterns);
    suite_add_tcase(s, hw);
#endif
    return s;
}

int main(void) { return qk_test_run(half_suite()); }
