/* Quantised data may sit at any byte address (a GGUF tensor inside an mmap'd file, a
 * sub-view of an engine's arena): quantize into, dequantize from and pack weights from a
 * `data` buffer at an odd address, on the context's backend, and require exactly the
 * bytes / floats of the aligned case. Under UBSan a misaligned access fails the test.
 * (Float arrays — F32 / F16 / BF16 elements, f32 / f16 scales — are aligned to their
 * element size, as C requires; docs/api.md.) */
#include <stdlib.h>
#include <string.h>

#include "support/qk_test.h"

typedef struct ua_case {
    qkern_quant_desc d;
    qkern_act_mode act;
} ua_case;

static const ua_case ua_cases[] = {
    {{QKERN_I8, QKERN_GROUP_ROW, 0}, QKERN_ACT_I8_DYNAMIC},
    {{QKERN_I8, 32, 0}, QKERN_ACT_FLOAT},
    {{QKERN_I8_ASYM, QKERN_GROUP_ROW, 0}, QKERN_ACT_FLOAT},
    {{QKERN_I4, 32, 0}, QKERN_ACT_I8_DYNAMIC},
    {{QKERN_I4, 64, QKERN_QUANT_ASYMMETRIC}, QKERN_ACT_FLOAT},
    {{QKERN_Q8_0, QKERN_GROUP_DEFAULT, 0}, QKERN_ACT_Q8_0},
    {{QKERN_Q4_0, QKERN_GROUP_DEFAULT, 0}, QKERN_ACT_Q8_0},
    {{QKERN_Q4_0, QKERN_GROUP_DEFAULT, 0}, QKERN_ACT_FLOAT},
    {{QKERN_Q4_1, QKERN_GROUP_DEFAULT, 0}, QKERN_ACT_Q8_1},
    {{QKERN_Q4_1, QKERN_GROUP_DEFAULT, 0}, QKERN_ACT_FLOAT},
    {{QKERN_Q8_1, QKERN_GROUP_DEFAULT, 0}, QKERN_ACT_FLOAT},
    {{QKERN_NF4, 64, 0}, QKERN_ACT_FLOAT},
    {{QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0}, QKERN_ACT_FP8_E4M3},
    {{QKERN_FP8_E5M2, QKERN_GROUP_TENSOR, 0}, QKERN_ACT_FLOAT},
    {{QKERN_I8, QKERN_GROUP_ROW, 0}, QKERN_ACT_LLM_INT8},
};
#define N_UA ((int)(sizeof ua_cases / sizeof ua_cases[0]))

enum { N = 19, K = 256, M = 3 };

/* The same tensor with its data moved to an odd address. */
static qkern_qtensor ua_shift(const qkern_qtensor *t, unsigned char **hold) {
    *hold = malloc(t->data_bytes + 1);
    ck_assert_ptr_nonnull(*hold);
    qkern_qtensor u = *t;
    u.data = *hold + 1;
    memcpy(u.data, t->data, t->data_bytes);
    return u;
}

static float *ua_matmul(qkern_context *ctx, const qkern_qtensor *w, qkern_act_mode act, const float *x) {
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = act;
    qkern_packed_weights *p = NULL;
    qkern_status s = qkern_pack_weights(ctx, w, &o, &p);
    ck_assert_msg(s == QKERN_OK, "pack: %s", qkern_last_error());
    float *y = malloc(sizeof(float) * M * N);
    s = qkern_matmul(ctx, p, M, x, K, y, N);
    ck_assert_msg(s == QKERN_OK, "matmul: %s", qkern_last_error());
    qkern_packed_weights_destroy(p);
    return y;
}

START_TEST(test_unaligned_data) {
    const ua_case *c = &ua_cases[_i];
    qkern_context *ctx = qk_test_context(2);
    float *w = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * M * K);
    qk_fill(w, (size_t)N * K, QK_PAT_GAUSS_OUTLIERS, 11 + (uint64_t)_i);
    qk_fill(x, (size_t)M * K, QK_PAT_GAUSS_OUTLIERS, 29 + (uint64_t)_i);
    qk_qbuf a;
    ck_assert(qk_qbuf_alloc(&a, c->d, N, K));
    ck_assert_int_eq(qkern_quantize(ctx, w, QKERN_F32, sizeof(float) * N * K, &a.t), QKERN_OK);

    /* quantize into an odd address: same bytes */
    unsigned char *hold;
    qkern_qtensor u = ua_shift(&a.t, &hold);
    memset(u.data, 0, u.data_bytes);
    ck_assert_int_eq(qkern_quantize(ctx, w, QKERN_F32, sizeof(float) * N * K, &u), QKERN_OK);
    ck_assert_msg(memcmp(u.data, a.t.data, a.t.data_bytes) == 0, "quantize at an odd address changed the bytes");

    /* dequantize from it: same floats */
    float *da = malloc(sizeof(float) * N * K), *du = malloc(sizeof(float) * N * K);
    ck_assert_int_eq(qkern_dequantize(ctx, &a.t, da, QKERN_F32, sizeof(float) * N * K), QKERN_OK);
    ck_assert_int_eq(qkern_dequantize(ctx, &u, du, QKERN_F32, sizeof(float) * N * K), QKERN_OK);
    ck_assert(memcmp(da, du, sizeof(float) * N * K) == 0);

    /* pack from it: the same outputs */
    float *ya = ua_matmul(ctx, &a.t, c->act, x), *yu = ua_matmul(ctx, &u, c->act, x);
    ck_assert_msg(memcmp(ya, yu, sizeof(float) * M * N) == 0, "packing from an odd address changed Y");

    free(ya); free(yu); free(da); free(du); free(hold); free(w); free(x);
    qk_qbuf_free(&a);
    qkern_context_destroy(ctx);
}
END_TEST

static Suite *unaligned_suite(void) {
    Suite *s = suite_create("unaligned");
    TCase *tc = tcase_create("unaligned");
    tcase_add_loop_test(tc, test_unaligned_data, 0, N_UA);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return qk_test_run(unaligned_suite()); }
