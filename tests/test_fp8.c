/* FP8 E4M3FN / E5M2 (OCP OFP8 v1.0), exhaustively: every code decodes to the value its
 * sign / exponent / mantissa define; every midpoint between adjacent values rounds to the
 * even code; overflow, saturation, Inf and NaN in both modes; an independent nearest-value
 * oracle on millions of random inputs; all 65536 F16 (and BF16) inputs through the public
 * API; and the scaled quantiser (per tensor, per row, static) through qkern_quantize /
 * qkern_dequantize with sentinel-guarded buffers.
 *
 * The oracles here never call the encoder under test: decoding is ldexp() of the fields,
 * encoding is a binary search for the nearest value in a sorted table built from that
 * decoding, ties broken towards the even code. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/format_fp8.h"
#include "kernels/format_half.h"
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

typedef struct fp8_spec {
    const char *name;
    qkern_format f;
    int ebits, mbits, bias;
    uint8_t max_code;      /* largest finite magnitude code */
    uint8_t overflow_code; /* non-saturating overflow: NaN (E4M3) or Inf (E5M2) */
    double max;
} fp8_spec;

static const fp8_spec E4M3 = {"E4M3", QKERN_FP8_E4M3, 4, 3, 7, 0x7E, 0x7F, 448.0};
static const fp8_spec E5M2 = {"E5M2", QKERN_FP8_E5M2, 5, 2, 15, 0x7B, 0x7C, 57344.0};
static const fp8_spec *const SPECS[2] = {&E4M3, &E5M2};

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* The OCP definition, field by field. Returns NAN / ±INFINITY for the special codes. */
static double ref_decode(const fp8_spec *s, unsigned code) {
    unsigned sign = code >> 7, e = (code >> s->mbits) & ((1u << s->ebits) - 1), m = code & ((1u << s->mbits) - 1);
    unsigned emax_field = (1u << s->ebits) - 1;
    double v;
    if (s->f == QKERN_FP8_E4M3 && e == emax_field && m == (1u << s->mbits) - 1) return NAN;
    if (s->f == QKERN_FP8_E5M2 && e == emax_field) {
        if (m) return NAN;
        v = INFINITY;
    } else if (e == 0) {
        v = ldexp((double)m / (1 << s->mbits), 1 - s->bias);
    } else {
        v = ldexp(1.0 + (double)m / (1 << s->mbits), (int)e - s->bias);
    }
    return sign ? -v : v;
}

static int is_nan_code(const fp8_spec *s, unsigned c) { return isnan(ref_decode(s, c)); }

/* Magnitudes of codes 0..max_code, then the value one step past max (480 / 65536), which
 * stands for "overflow" in the nearest search. */
typedef struct fp8_table { double v[130]; int n; } fp8_table;

static void build_table(const fp8_spec *s, fp8_table *t) {
    for (int c = 0; c <= s->max_code; c++) t->v[c] = ref_decode(s, (unsigned)c);
    t->v[s->max_code + 1] = 2 * t->v[s->max_code] - t->v[s->max_code - 1]; /* one more step of the top binade */
    t->n = s->max_code + 2;
}

/* Independent encoder: nearest of the table (ties to the even code); past max is overflow. */
static uint8_t oracle_encode(const fp8_spec *s, const fp8_table *t, float x, int saturate) {
    if (isnan(x)) return 0x7F;
    uint8_t sign = signbit(x) ? 0x80 : 0;
    double a = fabs((double)x);
    unsigned code;
    if (a >= t->v[t->n - 1]) {
        code = t->n - 1;
    } else {
        int lo = 0, hi = t->n - 1; /* v[lo] <= a < v[hi] */
        while (hi - lo > 1) {
            int mid = (lo + hi) / 2;
            if (t->v[mid] <= a) lo = mid;
            else hi = mid;
        }
        double dl = a - t->v[lo], dh = t->v[hi] - a;
        code = dl < dh ? (unsigned)lo : dh < dl ? (unsigned)hi : ((lo & 1) ? (unsigned)hi : (unsigned)lo);
    }
    if (code > s->max_code) code = saturate ? s->max_code : s->overflow_code;
    return (uint8_t)(code | sign);
}

static uint8_t enc(const fp8_spec *s, float x, int saturate) { return qk_f32_to_fp8(x, s->f, saturate); }
static float dec(const fp8_spec *s, uint8_t c) { return qk_fp8_to_f32(c, s->f); }

START_TEST(test_decode_all_codes) {
    for (int k = 0; k < 2; k++) {
        const fp8_spec *s = SPECS[k];
        int nans = 0, infs = 0;
        float table[256];
        qk_fp8_decode_table(s->f, table);
        for (unsigned c = 0; c < 256; c++) {
            double want = ref_decode(s, c);
            float got = dec(s, (uint8_t)c);
            CHECK(bits_of(table[c]) == bits_of(got), "%s table[0x%02x] differs from the decoder", s->name, c);
            if (isnan(want)) {
                nans++;
                CHECK(isnan(got), "%s 0x%02x should be NaN, got %a", s->name, c, (double)got);
                CHECK((bits_of(got) & 0x00400000u) != 0, "%s 0x%02x: NaN not quiet", s->name, c);
                continue;
            }
            if (isinf(want)) infs++;
            CHECK((double)got == want && !signbit(got) == !signbit(want), "%s 0x%02x: got %a want %a", s->name, c,
                          (double)got, want);
        }
        CHECK_IEQ(nans, s->f == QKERN_FP8_E4M3 ? 2 : 6);
        CHECK_IEQ(infs, s->f == QKERN_FP8_E4M3 ? 0 : 2);
        CHECK1(dec(s, s->max_code) == (float)s->max);
        CHECK1(dec(s, 0x01) == (float)ldexp(1.0, 1 - s->bias - s->mbits)); /* min subnormal */
    }
    CHECK1(qk_e4m3_to_f32(0x7E) == 448.0f && qk_e4m3_to_f32(0x01) == 0x1p-9f);
    CHECK1(qk_e5m2_to_f32(0x7B) == 57344.0f && qk_e5m2_to_f32(0x01) == 0x1p-16f);
    CHECK1(isinf(qk_e5m2_to_f32(0x7C)) && qk_e5m2_to_f32(0xFC) < 0);
    CHECK1(isnan(qk_e4m3_to_f32(0x7F)) && isnan(qk_e4m3_to_f32(0xFF)));
}
END_TEST

/* Every representable value (both signs, both modes) encodes to its own code. */
START_TEST(test_representable_round_trip) {
    for (int k = 0; k < 2; k++) {
        const fp8_spec *s = SPECS[k];
        for (unsigned c = 0; c < 256; c++) {
            if (is_nan_code(s, c) || isinf(ref_decode(s, c))) continue;
            float v = dec(s, (uint8_t)c);
            for (int sat = 0; sat < 2; sat++)
                CHECK(enc(s, v, sat) == c, "%s %a (0x%02x) re-encodes to 0x%02x (sat=%d)", s->name, (double)v, c,
                              enc(s, v, sat), sat);
        }
    }
}
END_TEST

/* Between every two adjacent magnitudes (0 and the min subnormal, the subnormal range, the
 * largest subnormal and smallest normal, the normal range): the midpoint goes to the even
 * code, one f32 ulp either side goes to the nearer one. Both signs, both modes. */
START_TEST(test_midpoints_ties_to_even) {
    for (int k = 0; k < 2; k++) {
        const fp8_spec *s = SPECS[k];
        int checked = 0;
        for (unsigned c = 0; c < s->max_code; c++) {
            float lo = dec(s, (uint8_t)c), hi = dec(s, (uint8_t)(c + 1));
            float mid = (lo + hi) * 0.5f;
            CHECK((double)mid * 2 == (double)lo + (double)hi, "%s midpoint of 0x%02x not exact", s->name, c);
            unsigned even = (c & 1) ? c + 1 : c;
            for (int neg = 0; neg < 2; neg++) {
                float sg = neg ? -1.0f : 1.0f;
                uint8_t sb = neg ? 0x80 : 0;
                for (int sat = 0; sat < 2; sat++) {
                    CHECK(enc(s, sg * mid, sat) == (even | sb), "%s mid(0x%02x,0x%02x)=%a -> 0x%02x, want 0x%02x",
                                  s->name, c, c + 1, (double)(sg * mid), enc(s, sg * mid, sat), even | sb);
                    CHECK_EQ(enc(s, sg * nextafterf(mid, 0.0f), sat), c | sb);
                    CHECK_EQ(enc(s, sg * nextafterf(mid, INFINITY), sat), (c + 1) | sb);
                }
            }
            checked++;
        }
        CHECK_IEQ(checked, s->max_code);
    }
    /* The boundaries by name. E4M3: (7/8)·2^-6 | 2^-6: mid → 0x08 (even); 2^-10 → +0;
     * E5M2: (3/4)·2^-14 | 2^-14: mid → 0x04. */
    CHECK_EQ(qk_f32_to_e4m3(0x1.ep-7f, 1), 0x08);
    CHECK_EQ(qk_f32_to_e4m3(0x1p-10f, 1), 0x00);
    CHECK_EQ(qk_f32_to_e4m3(-0x1p-10f, 1), 0x80);
    CHECK_EQ(qk_f32_to_e4m3(0x1.000002p-10f, 1), 0x01);
    CHECK_EQ(qk_f32_to_e5m2(0x1.cp-15f, 1), 0x04);
    CHECK_EQ(qk_f32_to_e5m2(0x1p-17f, 1), 0x00);
    CHECK_EQ(qk_f32_to_e5m2(0x1.000002p-17f, 1), 0x01);
    /* 3·2^-10 lies between subnormals 0x01 (2^-9) and 0x02 (2^-8): the tie goes to 0x02. */
    CHECK_EQ(qk_f32_to_e4m3(3 * 0x1p-10f, 1), 0x02);
}
END_TEST

/* The max boundary, overflow, saturation, ±Inf and NaN, both modes. */
START_TEST(test_overflow_saturation_nan) {
    /* E4M3: 464 is the tie between 448 (mantissa 110) and the missing 480 (111): even → 448. */
    for (int sat = 0; sat < 2; sat++) {
        CHECK_EQ(qk_f32_to_e4m3(448.0f, sat), 0x7E);
        CHECK_EQ(qk_f32_to_e4m3(464.0f, sat), 0x7E);
        CHECK_EQ(qk_f32_to_e4m3(-464.0f, sat), 0xFE);
        CHECK_EQ(qk_f32_to_e5m2(57344.0f, sat), 0x7B);
        CHECK_EQ(qk_f32_to_e5m2(nextafterf(61440.0f, 0.0f), sat), 0x7B);
        CHECK_EQ(qk_f32_to_e4m3(NAN, sat), 0x7F);
        CHECK_EQ(qk_f32_to_e4m3(-NAN, sat), 0x7F);
        CHECK_EQ(qk_f32_to_e5m2(NAN, sat), 0x7F);
        CHECK_EQ(qk_f32_to_e5m2(-NAN, sat), 0x7F);
        CHECK_EQ(qk_f32_to_e4m3(float_of(0x7f800001u), sat), 0x7F); /* signalling NaN */
        CHECK_EQ(qk_f32_to_e4m3(-0.0f, sat), 0x80);
        CHECK_EQ(qk_f32_to_e4m3(0x1p-149f, sat), 0x00); /* f32 subnormal: underflow */
        CHECK_EQ(qk_f32_to_e5m2(-0x1p-149f, sat), 0x80);
    }
    const float over4[] = {nextafterf(464.0f, INFINITY), 480.0f, 1000.0f, 1e30f, FLT_MAX, INFINITY};
    for (size_t i = 0; i < sizeof over4 / sizeof over4[0]; i++) {
        CHECK(qk_f32_to_e4m3(over4[i], 1) == 0x7E, "E4M3 sat %a", (double)over4[i]);
        CHECK(qk_f32_to_e4m3(-over4[i], 1) == 0xFE, "E4M3 sat -%a", (double)over4[i]);
        CHECK(qk_f32_to_e4m3(over4[i], 0) == 0x7F, "E4M3 nosat %a", (double)over4[i]);
        CHECK(qk_f32_to_e4m3(-over4[i], 0) == 0xFF, "E4M3 nosat -%a", (double)over4[i]);
    }
    /* E5M2: 61440 is the tie between 57344 (mantissa 11) and 2^16 (the next binade, even):
     * it rounds to 2^16, out of range — overflow, as binary16 overflows at 65520. */
    const float over5[] = {61440.0f, 65536.0f, 1e6f, FLT_MAX, INFINITY};
    for (size_t i = 0; i < sizeof over5 / sizeof over5[0]; i++) {
        CHECK(qk_f32_to_e5m2(over5[i], 1) == 0x7B, "E5M2 sat %a", (double)over5[i]);
        CHECK(qk_f32_to_e5m2(-over5[i], 1) == 0xFB, "E5M2 sat -%a", (double)over5[i]);
        CHECK(qk_f32_to_e5m2(over5[i], 0) == 0x7C, "E5M2 nosat %a", (double)over5[i]);
        CHECK(qk_f32_to_e5m2(-over5[i], 0) == 0xFC, "E5M2 nosat -%a", (double)over5[i]);
    }
    CHECK1(isinf(qk_e5m2_to_f32(qk_f32_to_e5m2(INFINITY, 0))));
    CHECK1(isnan(qk_e4m3_to_f32(qk_f32_to_e4m3(INFINITY, 0))));
}
END_TEST

/* The encoder against the oracle on 2 × 2^21 random inputs per format and mode: half random
 * f32 bit patterns (every class: NaN, Inf, subnormal, huge), half with exponents in and
 * around the FP8 range, where every rounding decision happens. */
START_TEST(test_random_vs_oracle) {
    qk_rng r;
    qk_rng_seed(&r, 0xF8);
    for (int k = 0; k < 2; k++) {
        const fp8_spec *s = SPECS[k];
        fp8_table t;
        build_table(s, &t);
        int emin = 1 - s->bias - s->mbits - 3, emax = (int)ceil(log2(s->max)) + 2;
        for (int i = 0; i < (1 << 22); i++) {
            uint64_t u = qk_rng_u64(&r);
            uint32_t b = (uint32_t)u;
            if (i & 1) {
                int e = emin + (int)((u >> 32) % (uint64_t)(emax - emin + 1));
                b = (b & 0x807fffffu) | ((uint32_t)(e + 127) << 23);
                /* A third of these sit on or next to a tie: clear the low mantissa bits. */
                if ((u >> 40) % 3 == 0) b &= ~((1u << (23 - s->mbits - 1)) - 1u) | ((u >> 48) & 1u);
            }
            float x = float_of(b);
            for (int sat = 0; sat < 2; sat++) {
                uint8_t want = oracle_encode(s, &t, x, sat), got = enc(s, x, sat);
                if (want != got)
                    ck_abort_msg("%s sat=%d x=%a (0x%08x): got 0x%02x want 0x%02x", s->name, sat, (double)x, b, got,
                                 want);
            }
        }
    }
}
END_TEST

/* Quantises n values of src_type through the public API with one static scale (1.0). */
static void quantize_static1(qkern_context *ctx, const fp8_spec *s, int sat, const void *src, qkern_format st,
                             int64_t rows, int64_t cols, uint8_t *out) {
    const uint32_t mode = sat ? 0u : QKERN_QUANT_FP8_NO_SATURATE;
    qkern_quant_desc d = {s->f, QKERN_GROUP_TENSOR, QKERN_QUANT_STATIC_SCALES | mode};
    qk_qbuf b;
    CHECK1(qk_qbuf_alloc(&b, d, rows, cols));
    const float one = 1.0f;
    memcpy(b.t.scales, &one, 4);
    size_t n = (size_t)(rows * cols), es = st == QKERN_F32 ? 4 : 2;
    qkern_status st_ = qkern_quantize(ctx, src, st, n * es, &b.t);
    CHECK(st_ == QKERN_OK, "%s", qkern_last_error());
    CHECK1(qk_qbuf_guards_ok(&b));
    CHECK1(memcmp(b.t.scales, &one, 4) == 0); /* a static scale is read, never written */
    memcpy(out, b.t.data, n);
    qk_qbuf_free(&b);
}

/* Every F16 bit pattern, as an F16 tensor, quantises exactly as its F32 value does, and both
 * agree with the oracle (scale 1, so the input itself is what rounds). */
START_TEST(test_all_f16_inputs) {
    qkern_context *ctx = qk_test_context(0);
    uint16_t *h = malloc(65536 * 2);
    float *f = malloc(65536 * 4);
    uint8_t *q16 = malloc(65536), *q32 = malloc(65536);
    for (unsigned i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    /* F16 as the brief's case; BF16 too, whose range runs far past both FP8 maxima. */
    for (int src = 0; src < 2; src++) {
        const qkern_format st = src ? QKERN_BF16 : QKERN_F16;
        CHECK_IEQ(qkern_convert(h, st, f, QKERN_F32, 65536), QKERN_OK);
        for (int k = 0; k < 2; k++) {
            const fp8_spec *s = SPECS[k];
            fp8_table t;
            build_table(s, &t);
            for (int sat = 0; sat < 2; sat++) {
                quantize_static1(ctx, s, sat, h, st, 256, 256, q16);
                quantize_static1(ctx, s, sat, f, QKERN_F32, 256, 256, q32);
                for (unsigned i = 0; i < 65536; i++) {
                    uint8_t want = oracle_encode(s, &t, f[i], sat);
                    if (q16[i] != q32[i] || q32[i] != want)
                        ck_abort_msg("%s sat=%d %s 0x%04x (%a): via %s 0x%02x, via F32 0x%02x, oracle 0x%02x",
                                     s->name, sat, src ? "bf16" : "f16", i, (double)f[i], src ? "BF16" : "F16", q16[i],
                                     q32[i], want);
                }
            }
        }
    }
    free(h); free(f); free(q16); free(q32);
    qkern_context_destroy(ctx);
}
END_TEST

static float ref_amax_finite(const float *x, size_t n) {
    float a = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && fabsf(x[i]) > a) a = fabsf(x[i]);
    return a;
}

/* The scaled quantiser end to end: computed per-tensor and per-row scales, static per-row
 * scales, both formats and modes, odd shapes; bytes against scale / oracle, dequantised
 * values against f32(q)·scale, the error bound, sentinels around every buffer. */
START_TEST(test_scaled_public_api) {
    const int64_t rows = 7, cols = 33;
    const size_t n = (size_t)(rows * cols);
    float *x = malloc(n * 4), *y = malloc(n * 4);
    qk_fill(x, n, QK_PAT_GAUSS_OUTLIERS, 42);
    for (int64_t c = 0; c < cols; c++) x[2 * cols + c] = 0.0f; /* an all-zero row */
    x[3 * cols + 1] = NAN;
    x[3 * cols + 2] = INFINITY;
    x[3 * cols + 3] = -INFINITY;
    x[4 * cols + 0] = 1e-40f; /* a row with a subnormal amax: scale clamps at FLT_MIN */
    for (int64_t c = 1; c < cols; c++) x[4 * cols + c] = c % 2 ? -1e-41f : 0.0f;
    qkern_context *ctx = qk_test_context(0);
    for (int k = 0; k < 2; k++) {
        const fp8_spec *s = SPECS[k];
        fp8_table t;
        build_table(s, &t);
        for (int sat = 0; sat < 2; sat++) {
            for (int gran = 0; gran < 3; gran++) { /* tensor, row, static row */
                uint32_t fl = sat ? 0u : QKERN_QUANT_FP8_NO_SATURATE;
                if (gran == 2) fl |= QKERN_QUANT_STATIC_SCALES;
                qkern_quant_desc d = {s->f, gran == 0 ? QKERN_GROUP_TENSOR : QKERN_GROUP_ROW, fl};
                qk_qbuf b;
                CHECK1(qk_qbuf_alloc(&b, d, rows, cols));
                float *sc = b.t.scales;
                float stat[7];
                if (gran == 2)
                    for (int64_t r = 0; r < rows; r++) sc[r] = stat[r] = 0.01f * (float)(r + 1);
                CHECK(qkern_quantize(ctx, x, QKERN_F32, n * 4, &b.t) == QKERN_OK, "%s", qkern_last_error());
                CHECK1(qk_qbuf_guards_ok(&b));
                const uint8_t *q = b.t.data;
                for (int64_t r = 0; r < rows; r++) {
                    float want_scale;
                    if (gran == 2) want_scale = stat[r];
                    else {
                        float amax = gran == 0 ? ref_amax_finite(x, n) : ref_amax_finite(x + r * cols, (size_t)cols);
                        want_scale = amax == 0 ? 1.0f : fmaxf(amax / (float)s->max, FLT_MIN);
                    }
                    float got_scale = sc[gran == 0 ? 0 : r];
                    CHECK(bits_of(got_scale) == bits_of(want_scale), "%s gran=%d row %lld scale %a want %a", s->name,
                                  gran, (long long)r, (double)got_scale, (double)want_scale);
                    const float inv = 1.0f / want_scale;
                    for (int64_t c = 0; c < cols; c++) {
                        float xv = x[r * cols + c];
                        uint8_t want = oracle_encode(s, &t, xv * inv, sat);
                        CHECK(q[r * cols + c] == want, "%s gran=%d sat=%d [%lld,%lld] x=%a: 0x%02x want 0x%02x",
                              s->name, gran, sat, (long long)r, (long long)c, (double)xv, q[r * cols + c], want);
                        /* Computed scales never overflow a finite input: |x·inv| <= max. */
                        if (gran < 2 && isfinite(xv))
                            CHECK((q[r * cols + c] & 0x7Fu) <= s->max_code, "finite x=%a overflowed", (double)xv);
                    }
                }
                /* Dequantise into a guarded F32 buffer: exactly f32(q)·scale; then check the bound. */
                qk_guarded out = qk_guarded_alloc(n * 4);
                CHECK_IEQ(qkern_dequantize(ctx, &b.t, out.p, QKERN_F32, n * 4), QKERN_OK);
                CHECK1(qk_guard_ok(&out));
                memcpy(y, out.p, n * 4);
                for (int64_t r = 0; r < rows; r++) {
                    float scale = sc[gran == 0 ? 0 : r];
                    for (int64_t c = 0; c < cols; c++) {
                        size_t i = (size_t)(r * cols + c);
                        double dv = ref_decode(s, q[i]);
                        float want = (float)dv * scale;
                        CHECK(bits_of(y[i]) == bits_of(want) || (isnan(y[i]) && isnan(want)), "deq [%zu] %a want %a", i,
                                      (double)y[i], (double)want);
                        if (gran < 2 && isfinite(x[i]) && r != 4) {
                            /* Half an ulp relative (2^-(m+1)) in the normal range, half a
                             * minimum subnormal absolute below it, plus f32 rounding slack. */
                            double bound = ldexp(fabs(x[i]), -(s->mbits + 1)) + ldexp(scale, -s->bias - s->mbits) +
                                           1e-6 * fabs(x[i]);
                            CHECK(fabs((double)y[i] - x[i]) <= bound, "%s [%zu] x=%g y=%g", s->name, i, (double)x[i],
                                          (double)y[i]);
                        }
                    }
                }
                if (gran == 1) {
                    /* Row 2 is all zeros: scale 1, codes +0. Row 3: NaN → 0x7F; ±Inf → ±max or NaN/Inf. */
                    for (int64_t c = 0; c < cols; c++) CHECK_EQ(q[2 * cols + c], 0);
                    CHECK_EQ(q[3 * cols + 1], 0x7F);
                    CHECK_EQ(q[3 * cols + 2], sat ? s->max_code : s->overflow_code);
                    CHECK_EQ(q[3 * cols + 3], (sat ? s->max_code : s->overflow_code) | 0x80u);
                    CHECK1(bits_of(sc[4]) == bits_of(FLT_MIN));
                    CHECK1(y[4 * cols] > 0 && fabsf(y[4 * cols] - 1e-40f) <= 1e-40f / 8);
                }
                qk_guarded_free(&out);
                qk_qbuf_free(&b);
            }
        }
    }
    free(x); free(y);
    qkern_context_destroy(ctx);
}
END_TEST

/* F16 and BF16 destinations are the F32 result rounded once; results do not depend on the
 * thread count. */
START_TEST(test_dequant_half_dest_and_threads) {
    const int64_t rows = 37, cols = 4096;
    const size_t n = (size_t)(rows * cols);
    float *x = malloc(n * 4), *y = malloc(n * 4);
    uint16_t *h = malloc(n * 2);
    qk_fill(x, n, QK_PAT_UNIFORM, 7);
    qkern_context *c1 = qk_test_context(1), *c2 = qk_test_context(2);
    for (int k = 0; k < 2; k++) {
        qkern_quant_desc d = {SPECS[k]->f, QKERN_GROUP_ROW, 0};
        qk_qbuf a, b;
        CHECK1(qk_qbuf_alloc(&a, d, rows, cols) && qk_qbuf_alloc(&b, d, rows, cols));
        CHECK_IEQ(qkern_quantize(c1, x, QKERN_F32, n * 4, &a.t), QKERN_OK);
        CHECK_IEQ(qkern_quantize(c2, x, QKERN_F32, n * 4, &b.t), QKERN_OK);
        CHECK1(memcmp(a.t.data, b.t.data, n) == 0 && memcmp(a.t.scales, b.t.scales, (size_t)rows * 4) == 0);
        CHECK_IEQ(qkern_dequantize(c2, &a.t, y, QKERN_F32, n * 4), QKERN_OK);
        CHECK_IEQ(qkern_dequantize(c2, &a.t, h, QKERN_F16, n * 2), QKERN_OK);
        for (size_t i = 0; i < n; i++) CHECK_EQ(h[i], qk_f32_to_f16(y[i]));
        CHECK_IEQ(qkern_dequantize(c2, &a.t, h, QKERN_BF16, n * 2), QKERN_OK);
        for (size_t i = 0; i < n; i++) CHECK_EQ(h[i], qk_f32_to_bf16(y[i]));
        qk_qbuf_free(&a);
        qk_qbuf_free(&b);
    }
    free(x); free(y); free(h);
    qkern_context_destroy(c1);
    qkern_context_destroy(c2);
}
END_TEST

/* Shapes and flags the front end must refuse before any byte is written. */
START_TEST(test_bad_descriptors) {
    qkern_context *ctx = qk_test_context(1);
    float x[64] = {0};
    qkern_quant_desc d = {QKERN_FP8_E4M3, 32, 0}; /* groups are not an FP8 granularity */
    size_t db, sb, zb;
    CHECK_IEQ(qkern_qtensor_sizes(&d, 2, 32, &db, &sb, &zb), QKERN_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(qkern_last_error(), "group=32"));
    d.group = QKERN_GROUP_ROW;
    d.flags = QKERN_QUANT_ASYMMETRIC;
    CHECK_IEQ(qkern_qtensor_sizes(&d, 2, 32, &db, &sb, &zb), QKERN_INVALID_ARGUMENT);
    d.flags = 0;
    qk_qbuf b;
    CHECK1(qk_qbuf_alloc(&b, d, 2, 32));
    CHECK_IEQ(qkern_quantize(ctx, x, QKERN_F32, 63 * 4, &b.t), QKERN_INVALID_ARGUMENT);
    CHECK1(qk_guarded_untouched(&b.data) && qk_guarded_untouched(&b.scales));
    qk_qbuf_free(&b);
    qkern_context_destroy(ctx);
}
END_TEST

static Suite *fp8_suite(void) {
    Suite *s = suite_create("fp8");
    TCase *codes = tcase_create("codes");
    tcase_set_timeout(codes, 120);
    tcase_add_test(codes, test_decode_all_codes);
    tcase_add_test(codes, test_representable_round_trip);
    tcase_add_test(codes, test_midpoints_ties_to_even);
    tcase_add_test(codes, test_overflow_saturation_nan);
    tcase_add_test(codes, test_random_vs_oracle);
    suite_add_tcase(s, codes);
    TCase *api = tcase_create("api");
    tcase_set_timeout(api, 120);
    tcase_add_test(api, test_all_f16_inputs);
    tcase_add_test(api, test_scaled_public_api);
    tcase_add_test(api, test_dequant_half_dest_and_threads);
    tcase_add_test(api, test_bad_descriptors);
    suite_add_tcase(s, api);
    return s;
}

int main(void) { return qk_test_run(fp8_suite()); }
