/* Bad input to every public entry point of quantisation: the right status, a message
 * naming the offending value, and not one byte written to the caller's buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support/qk_test.h"

#define EXPECT_ERR(call, status, needle)                                                              \
    do {                                                                                              \
        qkern_status s_ = (call);                                                                     \
        ck_assert_msg(s_ == (status), "%s returned %s, expected %s (message: %s)", #call,             \
                      qkern_status_name(s_), qkern_status_name(status), qkern_last_error());          \
        ck_assert_msg(strstr(qkern_last_error(), (needle)) != NULL, "%s: message \"%s\" lacks \"%s\"", \
                      #call, qkern_last_error(), (needle));                                           \
    } while (0)

static void untouched(const qk_qbuf *b) {
    ck_assert_msg(qk_guarded_untouched(&b->data) && qk_guarded_untouched(&b->scales) &&
                      qk_guarded_untouched(&b->zeros),
                  "a failing call wrote into the destination");
    ck_assert(qk_qbuf_guards_ok(b));
}

START_TEST(test_sizes_bad_shapes) {
    size_t d, s, z;
    qkern_quant_desc q40 = {QKERN_Q4_0, QKERN_GROUP_DEFAULT, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&q40, 4, 100, &d, &s, &z), QKERN_INVALID_ARGUMENT,
               "K=100 is not a multiple of the Q4_0 block size 32");
    EXPECT_ERR(qkern_qtensor_sizes(&q40, 0, 32, &d, &s, &z), QKERN_INVALID_ARGUMENT, "rows=0");
    EXPECT_ERR(qkern_qtensor_sizes(&q40, 3, -32, &d, &s, &z), QKERN_INVALID_ARGUMENT, "cols=-32");
    EXPECT_ERR(qkern_qtensor_sizes(NULL, 3, 32, &d, &s, &z), QKERN_INVALID_ARGUMENT, "NULL");
    qkern_quant_desc bad = {(qkern_format)77, QKERN_GROUP_DEFAULT, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&bad, 3, 32, &d, &s, &z), QKERN_INVALID_ARGUMENT, "format=77");
    qkern_quant_desc f32 = {QKERN_F32, QKERN_GROUP_DEFAULT, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&f32, 3, 32, &d, &s, &z), QKERN_INVALID_ARGUMENT, "F32 is not a quantised");
    qkern_quant_desc i4g = {QKERN_I4, 48, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&i4g, 2, 64, &d, &s, &z), QKERN_INVALID_ARGUMENT, "K=64 is not a multiple of the I4 group size 48");
    qkern_quant_desc i4odd = {QKERN_I4, 7, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&i4odd, 2, 14, &d, &s, &z), QKERN_INVALID_ARGUMENT, "group=7");
    qkern_quant_desc q8g = {QKERN_Q8_0, 64, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&q8g, 2, 64, &d, &s, &z), QKERN_INVALID_ARGUMENT, "group=64 is not valid for Q8_0");
    qkern_quant_desc fp8g = {QKERN_FP8_E4M3, 32, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&fp8g, 2, 64, &d, &s, &z), QKERN_INVALID_ARGUMENT, "group=32");
    qkern_quant_desc flags = {QKERN_I8, QKERN_GROUP_ROW, 0x80};
    EXPECT_ERR(qkern_qtensor_sizes(&flags, 2, 64, &d, &s, &z), QKERN_INVALID_ARGUMENT, "flags=0x80");
    qkern_quant_desc asym8 = {QKERN_I8, QKERN_GROUP_ROW, QKERN_QUANT_ASYMMETRIC};
    EXPECT_ERR(qkern_qtensor_sizes(&asym8, 2, 64, &d, &s, &z), QKERN_INVALID_ARGUMENT, "I4 only");
    qkern_quant_desc nosat = {QKERN_Q8_0, QKERN_GROUP_DEFAULT, QKERN_QUANT_FP8_NO_SATURATE};
    EXPECT_ERR(qkern_qtensor_sizes(&nosat, 2, 64, &d, &s, &z), QKERN_INVALID_ARGUMENT, "FP8 only");
}
END_TEST

START_TEST(test_sizes_overflow) {
    size_t d, s, z;
    qkern_quant_desc i8 = {QKERN_I8, QKERN_GROUP_ROW, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&i8, INT64_C(1) << 40, INT64_C(1) << 40, &d, &s, &z), QKERN_INVALID_ARGUMENT,
               "overflows");
    qkern_quant_desc q80 = {QKERN_Q8_0, QKERN_GROUP_DEFAULT, 0};
    EXPECT_ERR(qkern_qtensor_sizes(&q80, INT64_C(1) << 30, INT64_C(1) << 35, &d, &s, &z), QKERN_INVALID_ARGUMENT,
               "overflows");
    /* Valid sizes still work and are exact. */
    ck_assert_int_eq(qkern_qtensor_sizes(&q80, 3, 64, &d, &s, &z), QKERN_OK);
    ck_assert_uint_eq(d, 3 * 2 * 34);
    ck_assert_uint_eq(s, 0);
    qkern_quant_desc i4 = {QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC};
    ck_assert_int_eq(qkern_qtensor_sizes(&i4, 3, 64, &d, &s, &z), QKERN_OK);
    ck_assert_uint_eq(d, 3 * 32);
    ck_assert_uint_eq(s, 3 * 2 * 2);
    ck_assert_uint_eq(z, 3 * 2);
}
END_TEST

START_TEST(test_quantize_bad_args) {
    qkern_context *ctx = qk_test_context(1);
    float x[4 * 64];
    qk_fill(x, 4 * 64, QK_PAT_UNIFORM, 3);
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I4, 32, QKERN_QUANT_ASYMMETRIC}, 4, 64));
    qkern_qtensor t = b.t;

    EXPECT_ERR(qkern_quantize(NULL, x, QKERN_F32, sizeof x, &t), QKERN_INVALID_ARGUMENT, "ctx is NULL");
    EXPECT_ERR(qkern_quantize(ctx, NULL, QKERN_F32, sizeof x, &t), QKERN_INVALID_ARGUMENT, "src is NULL");
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, NULL), QKERN_INVALID_ARGUMENT, "tensor is NULL");
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_Q4_0, sizeof x, &t), QKERN_INVALID_ARGUMENT, "src_type=Q4_0");
    EXPECT_ERR(qkern_quantize(ctx, x, (qkern_format)99, sizeof x, &t), QKERN_INVALID_ARGUMENT, "(99)");
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x - 4, &t), QKERN_INVALID_ARGUMENT, "src_bytes=1020");
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, 0, &t), QKERN_INVALID_ARGUMENT, "src_bytes=0");

    qkern_qtensor u = t;
    u.data = NULL;
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &u), QKERN_INVALID_ARGUMENT, "data pointer is NULL");
    u = t;
    u.data_bytes = t.data_bytes - 1;
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &u), QKERN_INVALID_ARGUMENT, "data_bytes=127");
    u = t;
    u.scales = NULL;
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &u), QKERN_INVALID_ARGUMENT, "scales pointer is NULL");
    u = t;
    u.scales_bytes = 2;
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &u), QKERN_INVALID_ARGUMENT, "scales_bytes=2");
    u = t;
    u.zeros = NULL;
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &u), QKERN_INVALID_ARGUMENT, "zero points pointer is NULL");
    u = t;
    u.cols = 60;
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &u), QKERN_INVALID_ARGUMENT,
               "K=60 is not a multiple of the I4 group size 32");
    u = t;
    u.rows = 0;
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &u), QKERN_INVALID_ARGUMENT, "rows=0");
    u = t;
    u.rows = INT64_C(1) << 62;
    EXPECT_ERR(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &u), QKERN_INVALID_ARGUMENT, "overflows");
    untouched(&b);
    qk_qbuf_free(&b);
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_dequantize_bad_args) {
    qkern_context *ctx = qk_test_context(1);
    float x[4 * 64];
    qk_fill(x, 4 * 64, QK_PAT_UNIFORM, 4);
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_Q4_1, QKERN_GROUP_DEFAULT, 0}, 4, 64));
    ck_assert_int_eq(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &b.t), QKERN_OK);
    qk_guarded out = qk_guarded_alloc(sizeof x);

    EXPECT_ERR(qkern_dequantize(NULL, &b.t, out.p, QKERN_F32, out.size), QKERN_INVALID_ARGUMENT, "ctx is NULL");
    EXPECT_ERR(qkern_dequantize(ctx, NULL, out.p, QKERN_F32, out.size), QKERN_INVALID_ARGUMENT, "tensor is NULL");
    EXPECT_ERR(qkern_dequantize(ctx, &b.t, NULL, QKERN_F32, out.size), QKERN_INVALID_ARGUMENT, "dst is NULL");
    EXPECT_ERR(qkern_dequantize(ctx, &b.t, out.p, QKERN_NF4, out.size), QKERN_INVALID_ARGUMENT, "dst_type=NF4");
    EXPECT_ERR(qkern_dequantize(ctx, &b.t, out.p, QKERN_F32, out.size - 1), QKERN_INVALID_ARGUMENT, "dst_bytes=1023");
    EXPECT_ERR(qkern_dequantize(ctx, &b.t, out.p, QKERN_F16, 511), QKERN_INVALID_ARGUMENT, "dst_bytes=511");
    qkern_qtensor u = b.t;
    u.data_bytes = 10;
    EXPECT_ERR(qkern_dequantize(ctx, &u, out.p, QKERN_F32, out.size), QKERN_INVALID_ARGUMENT, "data_bytes=10");
    u = b.t;
    u.desc.format = (qkern_format)1234;
    EXPECT_ERR(qkern_dequantize(ctx, &u, out.p, QKERN_F32, out.size), QKERN_INVALID_ARGUMENT, "format=1234");
    ck_assert(qk_guarded_untouched(&out));
    ck_assert(qk_guard_ok(&out));
    qk_guarded_free(&out);
    qk_qbuf_free(&b);
    qkern_context_destroy(ctx);
}
END_TEST

START_TEST(test_convert_and_info_bad_args) {
    float f = 1.0f;
    uint16_t h = 0;
    EXPECT_ERR(qkern_convert(&f, QKERN_F32, &h, QKERN_I8, 1), QKERN_INVALID_ARGUMENT, "F32 -> I8");
    EXPECT_ERR(qkern_convert(&f, QKERN_F32, &h, QKERN_F16, 0), QKERN_INVALID_ARGUMENT, "n=0");
    EXPECT_ERR(qkern_convert(NULL, QKERN_F32, &h, QKERN_F16, 1), QKERN_INVALID_ARGUMENT, "src is NULL");
    EXPECT_ERR(qkern_convert(&f, QKERN_F32, NULL, QKERN_F16, 1), QKERN_INVALID_ARGUMENT, "dst is NULL");
    EXPECT_ERR(qkern_convert(&f, QKERN_F32, &h, QKERN_F16, SIZE_MAX / 2), QKERN_INVALID_ARGUMENT, "overflows");
    ck_assert_uint_eq(h, 0);
    qkern_format_info info;
    EXPECT_ERR(qkern_format_get_info((qkern_format)-5, &info), QKERN_INVALID_ARGUMENT, "format=-5");
    EXPECT_ERR(qkern_format_get_info(QKERN_Q4_0, NULL), QKERN_INVALID_ARGUMENT, "info is NULL");
    qkern_format f2;
    EXPECT_ERR(qkern_format_from_name("q5_9", &f2), QKERN_INVALID_ARGUMENT, "\"q5_9\"");
    ck_assert_int_eq(qkern_format_from_name("fp8_e4m3", &f2), QKERN_OK);
    ck_assert_int_eq(f2, QKERN_FP8_E4M3);
    ck_assert_str_eq(qkern_last_error(), "");
    ck_assert_str_eq(qkern_status_name(QKERN_CORRUPT), "QKERN_CORRUPT");
    ck_assert_str_eq(qkern_status_name((qkern_status)42), "QKERN_UNKNOWN_STATUS");
}
END_TEST

START_TEST(test_static_scales_required) {
    /* Static quantisation reads the caller's scales: a NULL scale buffer is an error, and a
     * given scale is used as is (not recomputed). */
    qkern_context *ctx = qk_test_context(1);
    float x[2 * 32];
    for (int i = 0; i < 64; i++) x[i] = (float)(i % 32) / 31.0f;
    qk_qbuf b;
    ck_assert(qk_qbuf_alloc(&b, (qkern_quant_desc){QKERN_I8, QKERN_GROUP_ROW, QKERN_QUANT_STATIC_SCALES}, 2, 32));
    float sc[2] = {1.0f / 64, 1.0f / 127};
    memcpy(b.t.scales, sc, sizeof sc);
    ck_assert_int_eq(qkern_quantize(ctx, x, QKERN_F32, sizeof x, &b.t), QKERN_OK);
    const int8_t *q = b.t.data;
    ck_assert_int_eq(q[31], 64);   /* 1.0 / (1/64) */
    ck_assert_int_eq(q[32 + 31], 127);
    ck_assert(memcmp(b.t.scales, sc, sizeof sc) == 0);
    qk_qbuf_free(&b);
    qkern_context_destroy(ctx);
}
END_TEST

static Suite *bad_input_suite(void) {
    Suite *s = suite_create("bad_input");
    TCase *tc = tcase_create("bad_input");
    tcase_add_test(tc, test_sizes_bad_shapes);
    tcase_add_test(tc, test_sizes_overflow);
    tcase_add_test(tc, test_quantize_bad_args);
    tcase_add_test(tc, test_dequantize_bad_args);
    tcase_add_test(tc, test_convert_and_info_bad_args);
    tcase_add_test(tc, test_static_scales_required);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return qk_test_run(bad_input_suite()); }
